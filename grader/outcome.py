"""One submission's outcome: the record a grading run keeps per submission, how it is read
back (``--resume``) and summed up for the TA."""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook, MissingEntry

from grader.course import default_db_url, error_line, missing_notebooks
from grader.tamper import flags_in

STATE_DIR = ".grader_state"
TIMEOUT_MARKERS = ("CellTimeoutError", "Cell execution timed out", "TimeoutError")
CRASHED = "its grading worker died every time it ran it"    # grader/distributed.py: KilledWorker


@dataclass
class Outcome:
    assignment: str
    student: str
    status: str = "graded"          # graded | failed
    reason: str = ""
    seconds: float = 0.0
    score: float | None = None
    max_score: float | None = None
    timed_out: list = field(default_factory=list)   # notebook:cell index of timed-out cells
    flags: list = field(default_factory=list)       # why the submission is flagged for a TA
    log: str = ""                                   # nbgrader's log, kept when grading failed


def submission_digest(course_root: Path, assignment: str, student: str) -> str:
    """SHA-256 over the submitted folder's notebooks (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted((course_root / "submitted" / student / assignment).glob("*.ipynb")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def state_path(course_root: Path, assignment: str, student: str) -> Path:
    return course_root / STATE_DIR / assignment / f"{student}.json"


def already_done(course_root: Path, assignment: str, student: str) -> Outcome | None:
    path = state_path(course_root, assignment, student)
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if rec.get("digest") != submission_digest(course_root, assignment, student):
        return None     # re-submitted since: grade again
    crashed = rec.get("status") == "failed" and str(rec.get("reason", "")).startswith(CRASHED)
    if not crashed and not (course_root / "autograded" / student / assignment).is_dir():
        return None     # (a submission that killed its workers would only kill them again)
    rec.pop("digest", None)
    return Outcome(**rec)


def write_state(course_root: Path, outcome: Outcome, digest: str) -> None:
    path = state_path(course_root, outcome.assignment, outcome.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(asdict(outcome), digest=digest), indent=1))
    os.replace(tmp, path)       # atomic: a kill never leaves half a record


def failure_reason(log: str) -> str:
    """The most specific error line of nbgrader's log, else its last line."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    return error_line(log, default=lines[-1][:300] if lines else "unknown error (empty log)")


def inspect_autograded(course_root: Path, out: Outcome, db_url: str | None = None) -> None:
    """Fill in missing notebooks, timed-out cells, flags and the score (from the gradebook at
    ``db_url``, default: the course's SQLite file)."""
    inspect_notebooks(course_root, out)
    with Gradebook(db_url or default_db_url(course_root)) as gb:
        try:
            s = gb.find_submission(out.assignment, out.student)
            out.score, out.max_score = float(s.score), float(s.max_score)
            if any(nb.flagged for nb in s.notebooks) and not out.flags:
                out.flags.append("flagged in the gradebook")
        except MissingEntry:
            pass


def inspect_notebooks(course_root: Path, out: Outcome, notebooks: dict | None = None) -> None:
    """Fill in missing notebooks, timed-out cells and flags. ``notebooks`` maps file name to the
    autograded notebook already in memory (the Dask driver's); default: read ``autograded/``."""
    sub = course_root / "submitted" / out.student / out.assignment
    expected = sorted(p.name for p in (course_root / "source" / out.assignment).glob("*.ipynb"))
    missing = missing_notebooks(course_root, out.assignment, sub)
    if missing:
        out.status, out.reason = "failed", missing
    for name in expected:
        if notebooks is not None:
            nb = notebooks.get(name)
        else:
            path = course_root / "autograded" / out.student / out.assignment / name
            nb = nbformat.read(path, as_version=4) if path.exists() else None
        if nb is None:
            continue
        out.flags += [f"{name}: {f}" for f in flags_in(nb)]
        for k, cell in enumerate(nb.cells):
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error" and (
                        o.get("ename") in TIMEOUT_MARKERS or any(m in (o.get("evalue") or "") for m in TIMEOUT_MARKERS)):
                    out.timed_out.append(f"{name}:cell {k}")


def summary(outcomes: list[Outcome]) -> str:
    graded = [o for o in outcomes if o.status == "graded"]
    failed = [o for o in outcomes if o.status == "failed"]
    timed = [o for o in outcomes if o.timed_out]
    flagged = [o for o in outcomes if o.flags]
    lines = [f"{len(outcomes)} submissions: {len(graded)} graded, {len(timed)} timed out, "
             f"{len(flagged)} flagged, {len(failed)} failed"]
    if outcomes:
        secs = sorted(o.seconds for o in outcomes)
        lines.append(f"seconds per submission: median {secs[len(secs) // 2]:.1f}, max {secs[-1]:.1f}")
    for title, group, what in (("timed out", timed, lambda o: "; ".join(o.timed_out)),
                               ("flagged", flagged, lambda o: "; ".join(o.flags)),
                               ("failed", failed, lambda o: o.reason)):
        if group:
            lines.append(f"{title}:")
            lines += [f"  {o.assignment}/{o.student}: {what(o)}" for o in group]
    return "\n".join(lines)
