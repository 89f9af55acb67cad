"""The course's gradebook: SQLite by default, PostgreSQL (or any SQLAlchemy URL) for several graders.

``nbgrader_config.py`` sets ``CourseDirectory.db_url`` from ``MLP_GRADEBOOK_URL`` when it is set
(e.g. ``postgresql+psycopg2://grader@db.example:5432/mlp``), else ``sqlite:///<course>/gradebook.db``.
nbgrader's own commands, ``python -m grader class`` and its workers all read it from there.

Concurrency: SQLite serializes writers with one whole-file lock; every connection made here
(and in ``grader.classgrade``'s workers) waits up to ``BUSY_TIMEOUT_S`` for it. PostgreSQL locks
rows; nbgrader's unique constraints (one submission per (assignment, student), one grade per
(cell, submitted notebook)) make a duplicate row impossible on both, and a writer that loses a
race (a serialization failure, a unique violation from a concurrent create) retries its whole
write (``save_autograded`` is idempotent: it updates the rows it finds).
"""
from __future__ import annotations

import time
from pathlib import Path

from grader.course import default_db_url, load_config
from grader.errors import PipelineError

BUSY_TIMEOUT_S = 300


def db_url(course_root: Path, config=None) -> str:
    """The gradebook URL the course's nbgrader_config.py sets (SQLite next to it by default)."""
    if config is None:
        config = load_config(Path(course_root))
    url = config.CourseDirectory.get("db_url") if "CourseDirectory" in config else None
    return str(url or default_db_url(course_root))


def is_sqlite(url: str) -> bool:
    return str(url).startswith("sqlite")


def sqlite_path(url: str) -> Path | None:
    return Path(str(url)[len("sqlite:///"):]) if str(url).startswith("sqlite:///") else None


def shown(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "<unparseable gradebook URL>"


def patient_sqlite() -> None:
    """Make every nbgrader gradebook connection in this process wait for SQLite's write lock
    instead of failing after 5 s; PostgreSQL connections get a connect timeout."""
    import nbgrader.api as nbapi
    if getattr(nbapi.create_engine, "_patient", False):
        return
    original = nbapi.create_engine

    def create_engine(url, *args, **kwargs):
        if str(url).startswith("sqlite"):
            kwargs.setdefault("connect_args", {}).setdefault("timeout", BUSY_TIMEOUT_S)
        elif str(url).startswith("postgresql"):
            kwargs.setdefault("connect_args", {}).setdefault("connect_timeout", 10)
        return original(url, *args, **kwargs)

    create_engine._patient = True
    nbapi.create_engine = create_engine


def check_reachable(url: str) -> None:
    """Raise PipelineError saying what to do when the gradebook cannot be opened."""
    if is_sqlite(url):
        path = sqlite_path(url)
        if path is not None and not path.exists():
            raise PipelineError(f"{path} does not exist: run `python -m grader release` first "
                                "(it records the assignments' source cells in the gradebook)")
        return
    import sqlalchemy
    try:
        engine = sqlalchemy.create_engine(url, connect_args={"connect_timeout": 10}
                                          if url.startswith("postgresql") else {})
        with engine.connect() as con:
            con.execute(sqlalchemy.text("SELECT 1"))
        engine.dispose()
    except ModuleNotFoundError as exc:
        raise PipelineError(f"the gradebook {shown(url)} needs the driver `{exc.name}` "
                            "(pip install -r requirements.txt installs psycopg2-binary)") from None
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise PipelineError(f"cannot open the gradebook {shown(url)} (MLP_GRADEBOOK_URL): {first}") from None


def prepare(course_root: Path, todo, url: str | None = None) -> str:
    """Check the assignments of ``todo`` ([(assignment, student)]) and create every student once,
    before workers race to do so. Returns the gradebook's URL."""
    from nbgrader.api import Gradebook, Student
    url = url or db_url(course_root)
    check_reachable(url)
    patient_sqlite()
    with Gradebook(url) as gb:
        known = {a.name for a in gb.assignments}
        missing = sorted({a for a, _ in todo} - known)
        if missing:
            raise PipelineError(f"assignment(s) {missing} are not in the gradebook {shown(url)}: "
                                f"run `python -m grader release -a {missing[0]}` first")

        def add_students():     # one transaction, not one per student (18,000 took minutes)
            try:
                have = {row[0] for row in gb.db.query(Student.id)}
                gb.db.add_all([Student(id=s) for s in sorted({s for _, s in todo} - have)])
                gb.db.commit()
            except BaseException:
                gb.db.rollback()
                raise
        retrying(add_students)
    return url


def retrying(fn, attempts: int = 5):
    """Run ``fn()`` again when a concurrent writer made it fail (locked, serialization, unique race)."""
    from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
    for attempt in range(attempts):
        try:
            return fn()
        except (OperationalError, IntegrityError, DBAPIError) as exc:
            text = str(exc).lower()
            transient = any(m in text for m in ("database is locked", "could not serialize", "deadlock",
                                                "duplicate key", "unique constraint", "server closed"))
            if not transient or attempt == attempts - 1:
                raise
            time.sleep(0.2 * (attempt + 1))


def save_autograded(url: str, config, assignment: str, student: str, notebooks: dict,
                    timestamp=None, flagged=()) -> None:
    """Write one autograded submission into the gradebook, as ``nbgrader autograde`` does.

    ``notebooks`` maps notebook name (no ``.ipynb``) to the autograded NotebookNode. The rows
    come from nbgrader's own ``SaveAutoGrades`` and ``AssignLatePenalties`` run on those
    notebooks (the same code autograde runs), so they equal a local run's; a notebook the
    student did not submit gets zero, as nbgrader's autograde gives it.
    """
    from unittest import mock

    import nbgrader.preprocessors.latesubmissions as late_mod
    import nbgrader.preprocessors.saveautogrades as save_mod
    from nbgrader.api import Gradebook, MissingEntry
    from nbgrader.preprocessors import AssignLatePenalties, SaveAutoGrades

    def write():
        with Gradebook(url) as gb:
            # nbgrader's preprocessors open their own connection and commit once per cell; here
            # they share this one and its single transaction (commit -> flush until the end):
            # the same rows, written all at once or not at all, ~5x faster on PostgreSQL
            shared = _Shared(gb)
            commit, gb.db.commit = gb.db.commit, gb.db.flush
            try:
                gb.update_or_create_student(student)
                if timestamp is not None:
                    gb.update_or_create_submission(assignment, student, timestamp=timestamp)
                else:
                    gb.update_or_create_submission(assignment, student)
                for nb in gb.find_assignment(assignment).notebooks:
                    sub_nb = gb.find_submission_notebook(nb.name, assignment, student)
                    sub_nb.flagged = nb.name in flagged
                    if nb.name not in notebooks:            # not submitted: zero, as autograde does
                        for grade in sub_nb.grades:
                            grade.auto_score = 0
                            grade.needs_manual_grade = False
                with mock.patch.object(save_mod, "Gradebook", lambda *a, **k: shared), \
                        mock.patch.object(late_mod, "Gradebook", lambda *a, **k: shared):
                    for name, nb in notebooks.items():
                        resources = {"nbgrader": {"db_url": url, "assignment": assignment,
                                                  "student": student, "notebook": name}}
                        try:
                            SaveAutoGrades(config=config).preprocess(nb, resources)
                            AssignLatePenalties(config=config).preprocess(nb, resources)
                        except MissingEntry:
                            pass    # a notebook the assignment does not have: nbgrader skips it too
            except BaseException:
                gb.db.rollback()
                raise
            finally:
                gb.db.commit = commit
            gb.db.commit()

    import warnings
    from sqlalchemy.exc import SAWarning
    with warnings.catch_warnings():
        # nbgrader's update_or_create_submission trips SQLAlchemy's autoflush warning (harmless:
        # the submission is added explicitly right after); nbgrader's own autograde logs it away
        warnings.simplefilter("ignore", SAWarning)
        retrying(write)


class _Shared:
    """An open Gradebook that nbgrader's preprocessors may enter and leave without closing it."""

    def __init__(self, gb):
        self._gb = gb

    def __enter__(self):
        return self._gb

    def __exit__(self, *exc):
        return False

    def __getattr__(self, name):
        return getattr(self._gb, name)


def writes_per_second(url: str, assignment: str, notebooks: dict, n: int = 50, config=None,
                      prefix: str = "bench-w") -> float:
    """Gradebook writes (one submission's rows each) per second, for the benchmark."""
    from traitlets.config import Config
    config = config or Config()
    t0 = time.perf_counter()
    for k in range(n):
        save_autograded(url, config, assignment, f"{prefix}{k:05d}", notebooks)
    return n / (time.perf_counter() - t0)


def dump_rows(url: str) -> dict:
    """Every autograding row of the gradebook, keyed for comparison (tests, migrations):
    ``students``, ``submissions`` {(assignment, student): (score, max, flagged notebooks)},
    ``grades`` {(assignment, student, notebook, cell): (auto, manual, needs_manual)},
    ``comments`` {(assignment, student, notebook, cell): auto_comment},
    ``timestamps`` {(assignment, student): (timestamp, extension)},
    ``notebooks`` {(assignment, student, notebook): (flagged, late penalty, extra credits)}."""
    from nbgrader.api import Gradebook
    out = {"students": set(), "submissions": {}, "grades": {}, "comments": {}, "timestamps": {},
           "notebooks": {}}
    with Gradebook(url) as gb:
        out["students"] = {s.id for s in gb.students}
        for a in gb.assignments:
            for sub in a.submissions:
                key = (a.name, sub.student.id)
                if key in out["submissions"]:
                    raise AssertionError(f"two submission rows for {key}")
                out["submissions"][key] = (float(sub.score), float(sub.max_score),
                                           tuple(sorted(nb.name for nb in sub.notebooks if nb.flagged)))
                out["timestamps"][key] = (sub.timestamp, sub.extension)
                for nb in sub.notebooks:
                    out["notebooks"][key + (nb.name,)] = (
                        bool(nb.flagged), nb.late_submission_penalty,
                        tuple(sorted((g.name, g.extra_credit) for g in nb.grades if g.extra_credit is not None)))
                    for g in nb.grades:
                        k = key + (nb.name, g.name)
                        if k in out["grades"]:
                            raise AssertionError(f"two grade rows for {k}")
                        out["grades"][k] = (g.auto_score, g.manual_score, bool(g.needs_manual_grade))
                    for c in nb.comments:
                        k = key + (nb.name, c.name)
                        if k in out["comments"]:
                            raise AssertionError(f"two comment rows for {k}")
                        out["comments"][k] = c.auto_comment
    return out
