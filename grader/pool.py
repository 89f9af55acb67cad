"""Grade submissions in a pool of local worker processes, each holding nbgrader's API.

Each worker loads nbgrader once, then autogrades one (student, assignment) after another
through ``NbGraderAPI.autograde`` (the same preprocessors, sandboxed kernel and gradebook as
the CLI); how the class is shared out: grader/classgrade.py.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

from grader import gradebook, warm
from grader.course import load_config, use_nbgrader_env
from grader.outcome import Outcome, failure_reason, inspect_autograded, submission_digest, write_state

_API = None
_ROOT: Path | None = None


def init_worker(course_root: str) -> None:
    """Pool initializer: nbgrader's API on the course, in this worker process."""
    global _API, _ROOT
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    use_nbgrader_env()
    _ROOT = Path(course_root)
    os.chdir(_ROOT)
    gradebook.patient_sqlite()        # wait for SQLite's write lock instead of failing after 5 s
    cfg = load_config(_ROOT)
    check_schemas_once()
    warm.enable()       # this worker's next grading kernel starts while it grades (grader/warm.py)
    warm.prepare(cfg.Execute.kernel_name or "mlp-grader", cfg)
    _API = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)


class SchemaCheckedOnce:
    """``jsonschema`` for nbgrader's cell-metadata check, whose ``validate`` checks each schema
    against its meta-schema once, not on every call: nbgrader validates every cell twice per
    submission (~5 ms each, most of it re-checking the same schema). The same errors are raised."""

    def __init__(self):
        import jsonschema
        self.module, self.validators = jsonschema, {}

    def __getattr__(self, name):
        return getattr(self.module, name)

    def validate(self, instance, schema):
        import json
        key = json.dumps(schema, sort_keys=True)
        validator = self.validators.get(key)
        if validator is None:
            cls = self.module.validators.validator_for(schema)
            cls.check_schema(schema)
            validator = self.validators[key] = cls(schema)
        error = self.module.exceptions.best_match(validator.iter_errors(instance))
        if error is not None:
            raise error


def check_schemas_once() -> None:
    """In a class worker: nbgrader's metadata check through ``SchemaCheckedOnce``."""
    from nbgrader.nbgraderformat import common
    if not isinstance(common.jsonschema, SchemaCheckedOnce):
        common.jsonschema = SchemaCheckedOnce()


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
    """Autograde one submission in this worker (``init_worker`` ran first)."""
    t0 = time.perf_counter()
    digest = submission_digest(_ROOT, assignment, student)
    out = Outcome(assignment, student)
    res, log = autograde_with_retries(_API, assignment, student, attempts)
    inspect_autograded(_ROOT, out, _API.coursedir.db_url)   # a missing notebook says more than nbgrader's error
    if not res.get("success") and out.status != "failed":
        out.status, out.reason, out.log = "failed", failure_reason(log), log[-6000:]
    out.seconds = round(time.perf_counter() - t0, 2)
    write_state(_ROOT, out, digest)
    return out


def grade_locally(course_root: Path, todo, workers: int = 2, show_progress: bool = True) -> list[Outcome]:
    """Grade ``todo`` ([(assignment, student)]) with ``workers`` processes; one Outcome each."""
    from utils.train import progress
    gradebook.prepare(course_root, todo)
    done = []
    ctx = multiprocessing.get_context("spawn")     # fresh interpreters: no forked zmq/sqlite state
    with ProcessPoolExecutor(max_workers=max(1, workers), mp_context=ctx,
                             initializer=init_worker, initargs=(str(course_root),)) as pool:
        # in assignment order: a worker's warm kernel is started for the assignment it just graded
        futures = {pool.submit(grade_one, a, s): (a, s) for a, s in sorted(todo)}
        bar = progress(as_completed(futures), enabled=show_progress, total=len(futures),
                       desc="autograde", unit="sub")
        for fut in bar:
            a, s = futures[fut]
            try:
                done.append(fut.result())
            except Exception as exc:      # a worker that died: report, never lose the rest
                done.append(Outcome(a, s, status="failed", reason=f"worker crashed: {type(exc).__name__}: {exc}"))
    return done
