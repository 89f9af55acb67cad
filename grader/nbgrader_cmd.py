"""nbgrader's own commands, run in a course root: release, sequential autograde, feedback,
export, and the gradebook's table of scores. What runs here is what a TA runs by hand."""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from grader import gradebook
from grader.course import assignments, error_line, missing_notebooks, nbgrader_env
from grader.errors import PipelineError


def nbgrader(course_root: Path, *args: str, check: bool = True, quiet: bool = True):
    """Run ``nbgrader ARGS`` in the course root; raise with its log on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    proc = subprocess.run(cmd, cwd=course_root, capture_output=True, text=True, env=nbgrader_env())
    if check and proc.returncode != 0:
        raise PipelineError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    if not quiet:
        sys.stdout.write(proc.stdout)
    return proc


def release(course_root: Path, names=None) -> None:
    for a in names or assignments(course_root):
        nbgrader(course_root, "generate_assignment", a, "--force", "--create")
        # nbgrader copies everything; drop notebook checkpoints if an editor left any
        shutil.rmtree(course_root / "release" / a / ".ipynb_checkpoints", ignore_errors=True)


def autograde(course_root: Path, names=None) -> dict:
    """Autograde every submission; one broken submission never stops the class.

    Returns ``{(student, assignment): reason}`` for submissions nbgrader could not grade
    (malformed notebook, missing file, ...); they are reported, the rest is graded.
    """
    failed = {}
    for a in names or assignments(course_root):
        if not any((course_root / "submitted").glob(f"*/{a}")):
            continue
        proc = nbgrader(course_root, "autograde", a, "--force", "--create", check=False)
        log = proc.stdout + proc.stderr
        for student in re.findall(rf"error processing assignment '{re.escape(a)}' for student '([^']+)'", log):
            reason = _failure_reason(log, course_root / "submitted" / student / a)
            failed[(student, a)] = reason
            print(f"warning: {a}/{student} could not be graded: {reason}", file=sys.stderr)
        for folder in sorted((course_root / "submitted").glob(f"*/{a}")):
            student = folder.parent.name
            missing = missing_notebooks(course_root, a, folder)
            if missing:     # more useful than nbgrader's "No notebooks found"
                failed[(student, a)] = missing
                print(f"warning: {a}/{student} could not be fully graded: {failed[(student, a)]}",
                      file=sys.stderr)
        if proc.returncode != 0 and not failed:
            raise PipelineError(f"`nbgrader autograde {a}` failed (exit {proc.returncode}):\n{log[-4000:]}")
    return failed


def _failure_reason(log: str, folder: Path) -> str:
    marker = f"There was an error processing assignment: {folder}"
    i = log.find(marker)
    if i < 0:
        return "see nbgrader's log"
    return error_line("\n".join(log[i:].splitlines()[1:40]))


def feedback(course_root: Path, names=None) -> None:
    for a in names or assignments(course_root):
        if any((course_root / "autograded").glob(f"*/{a}")):
            nbgrader(course_root, "generate_feedback", a, "--force")


def export(course_root: Path, to: str = "grades.csv") -> Path:
    nbgrader(course_root, "export", "--to", to)
    return course_root / to


def grade_rows(course_root: Path):
    """``[(student, assignment, score, max_score, needs_manual, flagged)]`` from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry
    url = gradebook.db_url(course_root)     # SQLite by default, PostgreSQL with MLP_GRADEBOOK_URL
    db = gradebook.sqlite_path(url)
    if db is not None and not db.exists():
        raise PipelineError(f"{db} does not exist: autograde first")
    gradebook.check_reachable(url)
    rows = []
    with Gradebook(url) as gb:
        for a in gb.assignments:
            for s in gb.students:
                try:
                    sub = gb.find_submission(a.name, s.id)
                except MissingEntry:
                    continue
                rows.append((s.id, a.name, float(sub.score), float(sub.max_score),
                             bool(sub.needs_manual_grade),
                             any(nb.flagged for nb in sub.notebooks)))
    return sorted(rows, key=lambda r: (r[1], r[0]))
