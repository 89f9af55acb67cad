"""Build sample submissions from an assignment's source notebook and a spec.

A spec (``tests/samples/<assignment>.json``) names students and how each one's
answers differ from the reference solution::

    {"assignment": "normalization",
     "students": {
        "correct": {"expected_score": 10},
        "blank":   {"expected_score": 0, "blank": true},
        "bug-zscore-test-stats": {"expected_score": 8,
            "patches": {"zscore": [["X_train.mean(axis=0)", "X_test.mean(axis=0)"]]}}}}

A student starts from the *released* notebook (what students receive). For
every answer cell (nbgrader ``solution: true``) the solution text from
``source/`` is filled in, with the ``### BEGIN/END SOLUTION`` marker lines
removed; then the student's patches (``[old, new]`` replacements, each of which
must match) are applied. ``"blank": true`` submits the release untouched;
``"cells": {grade_id: source}`` replaces a cell's text wholesale, and
``"raw": "..."`` writes the notebook file verbatim (malformed submissions).
"""
from __future__ import annotations

import copy
import json
from pathlib import Path

import nbformat

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


class SpecError(ValueError):
    pass


def _grade_id(cell):
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _is_answer(cell):
    return bool(cell.get("metadata", {}).get("nbgrader", {}).get("solution"))


def strip_solution_markers(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip() not in MARKERS]
    return "\n".join(lines)


def load_spec(path) -> dict:
    path = Path(path)
    try:
        spec = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise SpecError(f"{path}: invalid JSON ({exc})") from None
    for key in ("assignment", "students"):
        if key not in spec:
            raise SpecError(f"{path}: missing key {key!r}")
    return spec


def build_submission(source_nb, release_nb, student: dict, student_id: str = "?"):
    """Return the submitted notebook for one student of the spec."""
    nb = copy.deepcopy(release_nb)
    if student.get("blank"):
        return nb
    solutions = {_grade_id(c): c.source for c in source_nb.cells if _is_answer(c) and _grade_id(c)}
    patches = {k: list(v) for k, v in student.get("patches", {}).items()}
    whole = dict(student.get("cells", {}))
    known = set(solutions) | {_grade_id(c) for c in nb.cells if _grade_id(c)}
    for gid in list(patches) + list(whole):
        if gid not in known:
            raise SpecError(f"student {student_id}: no cell with grade_id {gid!r}")
    for cell in nb.cells:
        gid = _grade_id(cell)
        if gid in whole:
            cell.source = whole.pop(gid)
            continue
        if _is_answer(cell) and gid in solutions:
            text = strip_solution_markers(solutions[gid])
            for old, new in patches.pop(gid, []):
                if old not in text:
                    raise SpecError(f"student {student_id}: patch for {gid!r} does not match the "
                                    f"solution text: {old!r}")
                text = text.replace(old, new)
            cell.source = text
    if patches:
        raise SpecError(f"student {student_id}: patches for non-answer cells {sorted(patches)}; "
                        "use 'cells' to replace a locked cell")
    return nb


def notebook_names(course_root: Path, assignment: str):
    folder = course_root / "source" / assignment
    names = sorted(p.name for p in folder.glob("*.ipynb"))
    if not names:
        raise SpecError(f"source/{assignment}/ holds no notebook")
    return names


def write_class(course_root, spec_paths, submitted_dir=None) -> dict:
    """Write ``submitted/<student>/<assignment>/<notebook>.ipynb`` for every spec.

    Returns ``{(student, assignment): expected_score}``.
    """
    course_root = Path(course_root)
    submitted_dir = Path(submitted_dir or course_root / "submitted")
    expected = {}
    for spec_path in spec_paths:
        spec = load_spec(spec_path)
        assignment = spec["assignment"]
        for nb_name in notebook_names(course_root, assignment):
            src = nbformat.read(course_root / "source" / assignment / nb_name, as_version=4)
            rel_path = course_root / "release" / assignment / nb_name
            if not rel_path.exists():
                raise SpecError(f"{rel_path} missing: run `python -m grader release` first")
            rel = nbformat.read(rel_path, as_version=4)
            for student_id, student in spec["students"].items():
                out = submitted_dir / student_id / assignment
                out.mkdir(parents=True, exist_ok=True)
                if "raw" in student:
                    (out / nb_name).write_text(student["raw"])
                elif not student.get("missing"):
                    nbformat.write(build_submission(src, rel, student, student_id), out / nb_name)
                for extra_name, text in student.get("extra_files", {}).items():
                    (out / extra_name).write_text(text)
                expected[(student_id, assignment)] = student.get("expected_score")
                if student.get("expected_failure"):
                    expected[(student_id, assignment)] = ("failure", student["expected_failure"])
    return expected
