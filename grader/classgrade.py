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

import hashlib
import json
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path

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


# ---------------------------------------------------------------- what to grade

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


def submission_digest(course_root: Path, assignment: str, student: str) -> str:
    """SHA-256 over the submitted folder's notebooks (names and bytes)."""
    h = hashlib.sha256()
    for p in sorted((course_root / "submitted" / student / assignment).glob("*.ipynb")):
        h.update(p.name.encode() + b"\0" + p.read_bytes() + b"\0")
    return h.hexdigest()


def _state_path(course_root: Path, assignment: str, student: str) -> Path:
    return course_root / STATE_DIR / assignment / f"{student}.json"


def already_done(course_root: Path, assignment: str, student: str) -> Outcome | None:
    path = _state_path(course_root, assignment, student)
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


def _write_state(course_root: Path, outcome: Outcome, digest: str) -> None:
    path = _state_path(course_root, outcome.assignment, outcome.student)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(asdict(outcome), digest=digest), indent=1))
    os.replace(tmp, path)       # atomic: a kill never leaves half a record


# ---------------------------------------------------------------- worker side

_API = None
_ROOT: Path | None = None


def _init_worker(course_root: str) -> None:
    global _API, _ROOT
    os.environ.setdefault("TQDM_DISABLE", "1")
    # nbgrader runs `alembic` from PATH when it creates or upgrades the gradebook
    os.environ["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    _ROOT = Path(course_root)
    os.chdir(_ROOT)
    from grader.gradebook import patient_sqlite
    patient_sqlite()        # wait for SQLite's write lock instead of failing after 5 s
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from grader.cli import load_config
    cfg = load_config(_ROOT)
    _API = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


def autograde_with_retries(api, assignment: str, student: str, attempts: int = 3):
    """``NbGraderAPI.autograde`` of one submission, tried again when it may pass next time.

    The gradebook busy beyond its timeout, or a kernel that failed to start on a loaded
    machine, is worth another try; a broken notebook fails the same way again (cheaply).
    Returns ``(nbgrader's result dict, its log and error text)``."""
    for attempt in range(attempts):
        res = api.autograde(assignment, student, force=True, create=True)
        log = (res.get("log") or "") + (res.get("error") or "")
        transient = "database is locked" in log or attempt == 0
        if res.get("success") or not transient or attempt == attempts - 1:
            break
        time.sleep(1 + attempt)
    return res, log


def grade_one(assignment: str, student: str, attempts: int = 3) -> Outcome:
    """Autograde one submission in this worker (``_init_worker`` ran first)."""
    t0 = time.perf_counter()
    digest = submission_digest(_ROOT, assignment, student)
    out = Outcome(assignment, student)
    res, log = autograde_with_retries(_API, assignment, student, attempts)
    inspect_autograded(_ROOT, out, _API.coursedir.db_url)   # a missing notebook says more than nbgrader's error
    if not res.get("success") and out.status != "failed":
        out.status, out.reason, out.log = "failed", failure_reason(log), log[-6000:]
    out.seconds = round(time.perf_counter() - t0, 2)
    _write_state(_ROOT, out, digest)
    return out


def failure_reason(log: str) -> str:
    """The most specific error line of nbgrader's log (not its closing "see the above")."""
    import re
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errs = [ln for ln in lines if re.match(r"^[\w.]+(Error|Exception|Missing\w*)\b:?", ln)
            and "see the the above traceback" not in ln and "see the above traceback" not in ln]
    return errs[-1][:300] if errs else (lines[-1][:300] if lines else "unknown error (empty log)")


def inspect_autograded(course_root: Path, out: Outcome, db_url: str | None = None) -> None:
    """Fill in missing notebooks, timed-out cells, flags and the score (from the gradebook at
    ``db_url``, default: the course's SQLite file)."""
    import nbformat
    from grader.tamper import flags_in
    sub = course_root / "submitted" / out.student / out.assignment
    expected = sorted(p.name for p in (course_root / "source" / out.assignment).glob("*.ipynb"))
    missing = sorted(set(expected) - {p.name for p in sub.glob("*.ipynb")})
    if missing:
        found = sorted(p.name for p in sub.iterdir()) or ["nothing"]
        out.status = "failed"
        out.reason = f"missing notebook {', '.join(missing)} (found: {', '.join(found)})"
    for name in expected:
        path = course_root / "autograded" / out.student / out.assignment / name
        if not path.exists():
            continue
        nb = nbformat.read(path, as_version=4)
        out.flags += [f"{name}: {f}" for f in flags_in(nb)]
        for k, cell in enumerate(nb.cells):
            for o in cell.get("outputs", []):
                if o.get("output_type") == "error" and (
                        o.get("ename") in TIMEOUT_MARKERS or any(m in (o.get("evalue") or "") for m in TIMEOUT_MARKERS)):
                    out.timed_out.append(f"{name}:cell {k}")
    from nbgrader.api import Gradebook, MissingEntry
    with Gradebook(db_url or f"sqlite:///{course_root / 'gradebook.db'}") as gb:
        try:
            s = gb.find_submission(out.assignment, out.student)
            out.score, out.max_score = float(s.score), float(s.max_score)
            if any(nb.flagged for nb in s.notebooks) and not out.flags:
                out.flags.append("flagged in the gradebook")
        except MissingEntry:
            pass


# ---------------------------------------------------------------- driver

def grade_class(course_root: Path, names=None, workers: int = 2, resume: bool = False,
                show_progress: bool = True, scheduler: str = "local") -> list[Outcome]:
    """Autograde every submission with ``workers`` processes (or on the Dask cluster at
    ``scheduler``); returns one Outcome each."""
    from utils.train import progress
    course_root = Path(course_root).resolve()
    todo = submissions(course_root, names)
    done: list[Outcome] = []
    if resume:
        left = []
        for a, s in todo:
            rec = already_done(course_root, a, s)
            (done if rec else left).append(rec or (a, s))
        todo = left
    if not todo:
        return done
    if scheduler != "local":
        from grader import distributed
        done += distributed.grade_with_dask(course_root, todo, scheduler, workers=workers,
                                            show_progress=show_progress)
        return sorted(done, key=lambda o: (o.assignment, o.student))
    _prepare_gradebook(course_root, todo)
    ctx = multiprocessing.get_context("spawn")     # fresh interpreters: no forked zmq/sqlite state
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx,
                             initializer=_init_worker, initargs=(str(course_root),)) as pool:
        futures = {pool.submit(grade_one, a, s): (a, s) for a, s in todo}
        bar = progress(as_completed(futures), enabled=show_progress, total=len(futures),
                       desc="autograde", unit="sub")
        for fut in bar:
            a, s = futures[fut]
            try:
                done.append(fut.result())
            except Exception as exc:      # a worker that died: report, never lose the rest
                done.append(Outcome(a, s, status="failed", reason=f"worker crashed: {type(exc).__name__}: {exc}"))
    return sorted(done, key=lambda o: (o.assignment, o.student))


def _prepare_gradebook(course_root: Path, todo, url: str | None = None) -> str:
    """Check the assignments and create every student once, before workers race to do so.
    Returns the gradebook's URL."""
    from grader import gradebook
    from grader.cli import PipelineError
    from nbgrader.api import Gradebook
    url = url or gradebook.db_url(course_root)
    gradebook.check_reachable(url)
    gradebook.patient_sqlite()
    with Gradebook(url) as gb:
        known = {a.name for a in gb.assignments}
        missing = sorted({a for a, _ in todo} - known)
        if missing:
            raise PipelineError(f"assignment(s) {missing} are not in the gradebook {gradebook.shown(url)}: "
                                f"run `python -m grader release -a {missing[0]}` first")
        for s in sorted({s for _, s in todo}):
            gradebook.retrying(lambda: gb.update_or_create_student(s))
    return url


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
