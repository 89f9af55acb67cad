"""Flag submissions that changed what they must not, or that try to fool the tests.

``FlagTampering`` runs first among Autograde's sanitize preprocessors, before
nbgrader's ``OverwriteCells`` puts the locked cells back from the gradebook. It
compares every cell with the gradebook's copy of the source notebook and looks
for:

* a read-only (locked) cell whose text changed -- a visible or hidden test, or
  the instructions: nbgrader restores it, the score comes from the real tests;
* changed points, cell type or ``locked`` metadata (restored by OverwriteCells);
* a grade cell that was deleted (``OverwriteCells.add_missing_cells`` adds it back,
  so it is graded instead of waiting forever for manual grading, nbgrader #1682);
* a grade id that appears twice (a copied test cell);
* answer code that rebinds library or check functions the tests rely on
  (``np.allclose = ...``, ``utils.checks.assert_close = ...``, ``setattr(np, ...)``,
  ``sys.modules``, ``builtins``), or that reads the course's files (the gradebook,
  ``source/``, other notebooks) where the hidden tests live.

Each finding becomes one line in a "Flagged for review" markdown cell at the top
of the autograded notebook (the TA sees it in formgrader, the student in the
feedback), and the notebook is marked ``flagged`` in the gradebook so that
``python -m grader table`` and the class summary list it. Flagging changes no
score: the tests decide the score, a person decides what the flag means.
"""
from __future__ import annotations

import re
from collections import Counter

from nbformat import NotebookNode
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.preprocessors import NbGraderPreprocessor

FLAG_HEADER = "**Flagged for review by the autograder.**"

CHECK_NAMES = ("assert_close", "assert_shape", "assert_rel_error", "check_gradient", "numeric_gradient",
               "assert_raises", "assert_no_warnings", "rel_error", "CheckError", "assert_std",
               "assert_mean", "assert_same_std", "assert_uniform_bounds", "assert_normal_shape")
_MODULES = r"(?:np|numpy|torch|F|nn|math|scipy|sklearn|utils|checks|stat_checks|builtins|random)"
_CHECK_DEFS = re.compile(rf"^\s*(?:def\s+(?:{'|'.join(CHECK_NAMES)})\s*\(|(?:{'|'.join(CHECK_NAMES)})\s*=(?!=))", re.M)
SUSPICIOUS = [
    (re.compile(rf"^\s*{_MODULES}(?:\.\w+)+\s*=(?!=)", re.M), "rebinds a library function the tests use"),
    (re.compile(rf"\bsetattr\s*\(\s*{_MODULES}\b"), "rebinds a library function the tests use"),
    (re.compile(r"\bsys\.modules\b|\b__builtins__\b|\bimport\s+builtins\b|\bfrom\s+builtins\b"),
     "changes the interpreter's modules or builtins"),
    (re.compile(r"\.__dict__\s*\[|\bModuleType\.__setattr__|\bobject\.__setattr__"),
     "writes into a module behind its back"),
    (_CHECK_DEFS, "redefines a check function the tests use"),
    (re.compile(r"gradebook|nbgrader|\.ipynb\b|['\"/]source/|autograded/|submitted/|BEGIN HIDDEN"),
     "reads the course's files (where the hidden tests live)"),
]


SHADOWABLE = ("utils", "grader", "numpy", "torch", "nbgrader", "sklearn", "matplotlib", "scipy",
              "ipykernel", "IPython", "sitecustomize", "usercustomize")


def shadowing_files(folder) -> list[str]:
    """Files of a submission named like a module the tests import (``utils/``, ``numpy.py``):
    Python would import them instead of the real one from the notebook's folder."""
    import os
    if not folder or not os.path.isdir(folder):
        return []
    found = []
    for name in sorted(os.listdir(folder)):
        stem = name[:-3] if name.endswith(".py") else name
        if stem in SHADOWABLE and (name.endswith(".py") or os.path.isdir(os.path.join(folder, name))):
            found.append(f"ships `{name}`, which would shadow the module `{stem}` the tests import "
                         "(the grading kernel imports the real one)")
    return found


_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?^[ \t]*### END HIDDEN TESTS[^\n]*$", re.M | re.S)


def released_text(source: str) -> str:
    """A locked cell's text as students receive it: hidden tests cut out (nbgrader's
    ClearHiddenTests), blank lines and trailing spaces ignored. Comparing with the raw
    source would flag every hidden-test cell (the checksum warning of nbgrader #1961)."""
    return "\n".join(ln.rstrip() for ln in _HIDDEN.sub("", source).splitlines() if ln.strip())


_DEFINES = re.compile(rf"^\s*(?:def\s+({'|'.join(CHECK_NAMES)})\s*\(|({'|'.join(CHECK_NAMES)})\s*=(?!=))", re.M)


def defined_check_names(text: str) -> set[str]:
    """The check names a cell defines (``def rel_error(`` or ``rel_error = ...``)."""
    return {a or b for a, b in _DEFINES.findall(text)}


def scan_source(text: str, allowed_defs=()) -> list[str]:
    """Reasons (with the offending line) why answer code looks like an attack on the tests.

    ``allowed_defs``: check names this answer cell is *asked* to define (the reference solution
    defines them, e.g. an assignment where students write their own ``numeric_gradient``);
    defining those is the assignment, not an attack."""
    found = []
    allowed = set(allowed_defs)
    for pattern, why in SUSPICIOUS:
        if pattern is _CHECK_DEFS and allowed:
            m = next((m for m in _DEFINES.finditer(text) if (m.group(1) or m.group(2)) not in allowed), None)
        else:
            m = pattern.search(text)
        if m:
            at = max(m.start(), m.end() - 1)     # ^\s* may begin the match on a blank line above
            line = text[text.rfind("\n", 0, at) + 1:].split("\n", 1)[0].strip()
            found.append(f"{why}: `{line[:120]}`")
    return found


class FlagTampering(NbGraderPreprocessor):

    def preprocess(self, nb, resources):
        info = resources["nbgrader"]
        notebook, assignment, student = info["notebook"], info["assignment"], info["student"]
        flags = shadowing_files(resources.get("metadata", {}).get("path"))
        with Gradebook(info["db_url"]) as gb:
            try:
                source_nb = gb.find_notebook(notebook, assignment)
            except MissingEntry:
                return nb, resources      # nbgrader reports an unknown notebook itself
            source_cells = {c.name: c for c in source_nb.source_cells}
            max_points = {c.name: float(c.max_score) for c in source_nb.grade_cells}
            ids = [c.metadata.get("nbgrader", {}).get("grade_id") for c in nb.cells]
            for gid, n in Counter(i for i in ids if i).items():
                if n > 1:
                    flags.append(f"cell `{gid}` appears {n} times (copies are not graded)")
            for gid in sorted(set(max_points) - set(ids)):
                flags.append(f"grade cell `{gid}` was deleted (added back and graded)")
            for k, cell in enumerate(nb.cells):
                meta = cell.metadata.get("nbgrader", {})
                gid = meta.get("grade_id")
                src = source_cells.get(gid)
                if src is not None:
                    if cell.cell_type != src.cell_type:
                        flags.append(f"cell `{gid}`: type changed to {cell.cell_type} (restored)")
                    if bool(meta.get("locked")) != bool(src.locked):
                        flags.append(f"cell `{gid}`: read-only setting changed (restored)")
                    if gid in max_points and meta.get("grade") and \
                            float(meta.get("points", -1)) != max_points[gid]:
                        flags.append(f"cell `{gid}`: points changed from {max_points[gid]:g} to "
                                     f"{meta.get('points')} (restored)")
                    if src.locked and released_text(cell.source) != released_text(src.source):
                        what = "test cell" if meta.get("grade") else "read-only cell"
                        flags.append(f"{what} `{gid}` was edited (restored from the source)")
                    if src.locked:
                        continue        # restored by OverwriteCells: its text is not the student's
                if cell.cell_type == "code":
                    where = f"cell `{gid}`" if gid else f"cell {k}"
                    # an answer cell whose reference solution defines a check name (the student
                    # writes their own rel_error) may define that name, and only that one
                    allowed = defined_check_names(src.source) if src is not None else ()
                    flags += [f"{where} {why}" for why in scan_source(cell.source, allowed)]
            if flags:
                try:
                    sub_nb = gb.find_submission_notebook(notebook, assignment, student)
                    sub_nb.flagged = True
                    gb.db.commit()
                except MissingEntry:
                    pass
        if flags:
            self.log.warning("%s/%s/%s flagged: %s", assignment, student, notebook, "; ".join(flags))
            text = FLAG_HEADER + " Scores come from the course's own tests; a person will look at:\n\n" + \
                "\n".join(f"- {f}" for f in flags)
            nb.cells.insert(0, NotebookNode(cell_type="markdown", metadata={}, source=text,
                                            id="mlp-grader-flags"))
        return nb, resources


def flags_in(nb) -> list[str]:
    """The flag lines of an autograded notebook (empty if it was not flagged)."""
    for cell in nb.cells[:1]:
        if cell.cell_type == "markdown" and cell.source.startswith(FLAG_HEADER):
            return [ln[2:] for ln in cell.source.splitlines() if ln.startswith("- ")]
    return []
