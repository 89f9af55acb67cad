"""nbgrader preprocessors of this course."""
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Integer

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
        return cell, resources


class LimitOutputChars(NbGraderPreprocessor):
    """Cap each cell's text output at ``max_chars`` characters (nbgrader's LimitOutput
    counts lines, so one 100 MB line would pass through into the feedback)."""

    max_chars = Integer(20000, help="characters kept per cell output").tag(config=True)

    def _cut(self, text: str) -> str:
        if len(text) <= self.max_chars:
            return text
        return (text[: self.max_chars] + f"\n... [output truncated: {len(text):,} characters, "
                f"showing the first {self.max_chars:,}]\n")

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type != "code":
            return cell, resources
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                out["text"] = self._cut("".join(out.get("text", "")))
            elif out.get("output_type") in ("execute_result", "display_data"):
                data = out.get("data", {})
                if "text/plain" in data:
                    data["text/plain"] = self._cut("".join(data["text/plain"]))
            elif out.get("output_type") == "error":
                out["evalue"] = self._cut(str(out.get("evalue", "")))
        return cell, resources
