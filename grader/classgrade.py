"""Autograde a whole class on every core: ``python -m grader class``.

Plain ``nbgrader autograde`` grades one submission after the other in one process
(nbgrader issue #174), and a TA who calls it once per student pays nbgrader's
start-up (~2 s) every time. Here ``--workers`` processes each load nbgrader once
and then autograde one (student, assignment) submission after another through
nbgrader's own Python API (``NbGraderAPI.autograde``: the same preprocessors,
the same grading kernel, the same gradebook as the CLI).

The SQLite gradebook is shared. SQLite itself serializes writers (one write
transaction at a time, whole-file lock); each worker's connections wait up to
``grader.gradebook.BUSY_TIMEOUT_S`` for that lock instead of failing after SQLite's default 5 s,
and a submission whose grading still hits "database is locked" is graded again
(autograde with ``force`` is idempotent). ``tests/test_classgrade.py`` runs
workers concurrently and checks every row.

After each submission a small record is written under ``.grader_state/``
(assignment, student, the submitted notebooks' SHA-256, outcome). ``--resume``
skips submissions whose record matches the files now in ``submitted/``, so a run
that was killed half-way goes on where it stopped; a submission caught mid-way
has no record and is graded again. SQLite's journal rolls back a write the kill
interrupted, so the gradebook stays consistent.

At the end: a summary (graded, timed out, flagged, failed), then feedback for the
graded assignments and ``grades.csv``.

The gradebook is the one ``nbgrader_config.py`` names (``MLP_GRADEBOOK_URL``: PostgreSQL for
several graders, ``grader/gradebook.py``); SQLite next to the config by default.

``--scheduler`` (``grader/distributed.py``): ``local`` (default) is the process pool above;
``dask`` a Dask LocalCluster of ``--workers`` processes on this machine; ``tcp://HOST:PORT`` an
existing Dask cluster whose workers need no access to the course's files.
"""
from __future__ import annotations

from pathlib import Path

from grader import distributed, pool
from grader.outcome import Outcome, already_done


def submissions(course_root: Path, names=None) -> list[tuple[str, str]]:
    """Every ``(assignment, student)`` with a folder in ``submitted/``, sorted."""
    sub = course_root / "submitted"
    if not sub.is_dir():
        return []
    found = []
    for student_dir in sorted(p for p in sub.iterdir() if p.is_dir() and not p.name.startswith(".")):
        for a_dir in sorted(p for p in student_dir.iterdir() if p.is_dir()):
            if names is None or a_dir.name in names:
                found.append((a_dir.name, student_dir.name))
    return found


def grade_class(course_root: Path, names=None, workers: int = 2, resume: bool = False,
                show_progress: bool = True, scheduler: str = "local") -> list[Outcome]:
    """Autograde every submission with ``workers`` processes (or on the Dask cluster at
    ``scheduler``); returns one Outcome each, sorted."""
    course_root = Path(course_root).resolve()
    todo = submissions(course_root, names)
    done: list[Outcome] = []
    if resume:
        left = []
        for a, s in todo:
            rec = already_done(course_root, a, s)
            (done if rec else left).append(rec or (a, s))
        todo = left
    if todo and scheduler != "local":
        done += distributed.grade_with_dask(course_root, todo, scheduler, workers=workers,
                                            show_progress=show_progress)
    elif todo:
        done += pool.grade_locally(course_root, todo, workers=workers, show_progress=show_progress)
    return sorted(done, key=lambda o: (o.assignment, o.student))
