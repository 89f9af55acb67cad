"""Build sample submissions from an assignment's source notebook and a spec.

A spec (``samples/<assignment>.json``) names students and how each one's
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
Tampering and housekeeping: ``"delete": [grade_id, ...]`` removes cells,
``"metadata": {grade_id: {key: value}}`` overwrites nbgrader metadata (points),
``"filename": "..."`` saves the notebook under another name, ``"nbformat": 3``
saves it in the old format, ``"extra_files": {path: text}`` adds files.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import nbformat

from grader.errors import SpecError  # noqa: F401  (raised here; samples.SpecError stays valid)

MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")




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
    for gid, meta in student.get("metadata", {}).items():
        cells = [c for c in nb.cells if _grade_id(c) == gid]
        if not cells:
            raise SpecError(f"student {student_id}: no cell with grade_id {gid!r} for 'metadata'")
        cells[0].metadata["nbgrader"].update(meta)
    delete = set(student.get("delete", []))
    unknown = delete - {_grade_id(c) for c in nb.cells}
    if unknown:
        raise SpecError(f"student {student_id}: cannot delete unknown cells {sorted(unknown)}")
    nb.cells = [c for c in nb.cells if _grade_id(c) not in delete]
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
        spec = spec_path if isinstance(spec_path, dict) else load_spec(spec_path)
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
                    nb = build_submission(src, rel, student, student_id)
                    version = int(student.get("nbformat", 4))
                    if version != 4:
                        nb = nbformat.convert(nb, version)
                    nbformat.write(nb, out / student.get("filename", nb_name), version=version)
                for extra_name, text in student.get("extra_files", {}).items():
                    (out / extra_name).parent.mkdir(parents=True, exist_ok=True)
                    (out / extra_name).write_text(text)
                expected[(student_id, assignment)] = student.get("expected_score")
                if student.get("expected_failure"):
                    expected[(student_id, assignment)] = ("failure", student["expected_failure"])
    return expected


def synthetic_spec(spec: dict, n: int) -> dict:
    """``n`` students who cycle through the spec's well-formed variants (correct, blank, bugs).

    Student ``i`` submits variant ``i % len(variants)`` (in the spec's order) and is
    named after it: with variants ``[correct, blank, bug-a]``, ``s004-blank`` is the
    fifth student and expects the blank score. Malformed, missing and hostile variants are left out: a synthetic
    class is for tests and benchmarks that need many ordinary submissions.
    """
    variants = [(k, v) for k, v in spec["students"].items()
                if not ({"raw", "missing", "expected_failure"} & set(v)) and v.get("expected_score") is not None]
    if not variants:
        raise SpecError(f"spec for {spec['assignment']!r} has no well-formed variant to copy")
    width = max(3, len(str(n - 1)))
    students = {}
    for i in range(n):
        name, variant = variants[i % len(variants)]
        students[f"s{i:0{width}d}-{name}"] = variant
    return {"assignment": spec["assignment"], "students": students}


def synthetic_class(course_root, spec_paths, n: int, submitted_dir=None) -> dict:
    """Write ``n`` synthetic students for every spec that allows it (``"synthetic": false``
    opts a spec out, e.g. the hostile samples); returns ``{(student, assignment): score}``."""
    specs = [load_spec(p) for p in spec_paths]
    specs = [synthetic_spec(s, n) for s in specs if s.get("synthetic", True)]
    return write_class(course_root, specs, submitted_dir)


def copy_course(src_root, dest, assignments=None) -> Path:
    """A throw-away course directory: config, source/, release/ and the sample specs of
    ``src_root`` (for tests and benchmarks; no gradebook, no submissions)."""
    src_root, dest = Path(src_root), Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src_root / "nbgrader_config.py", dest / "nbgrader_config.py")
    for folder in ("source", "release"):
        for a in sorted((src_root / folder).iterdir()):
            if a.is_dir() and (assignments is None or a.name in assignments):
                shutil.copytree(a, dest / folder / a.name,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "samples").mkdir(parents=True, exist_ok=True)
    for spec in (src_root / "samples").glob("*.json"):
        shutil.copy2(spec, dest / "samples" / spec.name)
    return dest


def sample_specs(course_root: Path, names=None) -> list[Path]:
    folder = course_root / "samples"
    specs = sorted(folder.glob("*.json"))
    if names:
        specs = [s for s in specs if load_spec(s)["assignment"] in names]
    return specs


def build_samples(course_root: Path, names=None, fresh: bool = True, where=None) -> dict:
    """Write the sample class; ``where(spec) -> bool`` selects specs (default: all)."""
    sub = course_root / "submitted"
    if fresh and sub.exists():
        shutil.rmtree(sub)
    specs = [load_spec(p) for p in sample_specs(course_root, names)]
    return write_class(course_root, [s for s in specs if where is None or where(s)])


def synth(root: Path, n: int, names=None, fresh: bool = True) -> dict:
    """A synthetic class: n students per assignment, cycling through each spec's variants."""
    sub = root / "submitted"
    if fresh and sub.exists():
        shutil.rmtree(sub)
    return synthetic_class(root, sample_specs(root, names), n)
