"""nbgrader preprocessors of this course."""
from nbgrader.preprocessors import NbGraderPreprocessor

HIDDEN_BEGIN = "### BEGIN HIDDEN TESTS"


class ClearHiddenTracebacks(NbGraderPreprocessor):
    """Feedback: keep only ``ErrorName: message`` for errors raised in hidden-test cells.

    A traceback prints the source lines of the test that failed, so a hidden test
    would leak through it even after ``ClearHiddenTests`` removed its code. The
    message itself (written by ``utils.checks`` to say which case failed) stays.
    Must run before ``ClearHiddenTests``, which removes the markers.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and HIDDEN_BEGIN in cell.source:
            for out in cell.get("outputs", []):
                if out.get("output_type") == "error":
                    out["traceback"] = [f"{out.get('ename', 'Error')}: {out.get('evalue', '')}",
                                        "(hidden test: traceback removed)"]
                elif out.get("output_type") == "stream":
                    pass
        return cell, resources
