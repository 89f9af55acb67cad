"""The Dask worker's side of ``--scheduler``: grade one submission in a private temporary
course (see grader/distributed.py for the whole design).

A worker unpickles a task by importing this module, so it imports nothing that needs nbgrader:
a worker whose nbgrader is broken must still run the task, and report the ImportError.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

SKIP = {".ipynb_checkpoints", "__pycache__"}
_LOCK = threading.Lock()        # one grading per worker process (cwd and environment are global)


def files_under(folder: Path) -> dict:
    """``{relative posix path: bytes}`` of every file below ``folder``."""
    out = {}
    if not folder.is_dir():
        return out
    for p in sorted(folder.rglob("*")):
        rel = p.relative_to(folder)
        if p.is_file() and not SKIP & set(rel.parts):
            out[rel.as_posix()] = p.read_bytes()
    return out


def write_files(folder: Path, files: dict) -> None:
    for rel, data in files.items():
        dest = (folder / rel).resolve()
        if not str(dest).startswith(str(folder.resolve()) + os.sep):
            raise ValueError(f"refusing to write outside {folder}: {rel}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(data)


def grade_remote(bundle: dict, student: str, submitted: dict, attempts: int = 3) -> dict:
    """A Dask task: autograde one submission in a private temporary course on this worker."""
    with _LOCK:
        return _grade_in_tempdir(bundle, student, submitted, attempts)


def _sweep_dead_tempdirs() -> None:
    """Remove the temporary courses of worker processes that were killed mid-task."""
    for old in Path(tempfile.gettempdir()).glob("mlp-grade-*-*"):
        pid = old.name.split("-")[2]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(old, ignore_errors=True)


def _grade_in_tempdir(bundle, student, submitted, attempts):
    from grader import course, gradebook, outcome, pool, warm   # here, not above: see the module docstring
    t0 = time.perf_counter()
    a = bundle["assignment"]
    _sweep_dead_tempdirs()
    tmp = Path(tempfile.mkdtemp(prefix=f"mlp-grade-{os.getpid()}-"))
    saved_cwd = os.getcwd()
    keys = set(bundle["env"]) | {"MLP_GRADEBOOK_URL", "MLP_GRADER_COURSE_ROOT", "PATH", "TQDM_DISABLE"}
    saved_env = {k: os.environ.get(k) for k in keys}
    try:
        (tmp / "nbgrader_config.py").write_bytes(bundle["config"])
        (tmp / "gradebook.db").write_bytes(bundle["gradebook"])
        write_files(tmp / "source" / a, bundle["source"])
        write_files(tmp / "submitted" / student / a, submitted)
        os.environ.update(bundle["env"])
        os.environ.pop("MLP_GRADEBOOK_URL", None)
        os.environ["TQDM_DISABLE"] = "1"
        os.environ["PATH"] = course.nbgrader_env()["PATH"]
        gradebook.patient_sqlite()
        warm.enable()   # kernels outlive a task's temporary course, never a worker process
        pool.check_schemas_once()
        cfg = course.load_config(tmp)
        cfg.CourseDirectory.db_url = f"sqlite:///{tmp / 'gradebook.db'}"
        cfg.CourseDirectory.root = str(tmp)
        os.chdir(tmp)
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
        api = NbGraderAPI(coursedir=CourseDirectory(config=cfg), config=cfg)
        res, log = pool.autograde_with_retries(api, a, student, attempts)
        return {"success": bool(res.get("success")), "log": log[-6000:],
                "reason": "" if res.get("success") else outcome.failure_reason(log),
                "files": files_under(tmp / "autograded" / student / a),
                "seconds": round(time.perf_counter() - t0, 2), "worker": f"{os.uname().nodename}:{os.getpid()}"}
    finally:
        os.chdir(saved_cwd)
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        shutil.rmtree(tmp, ignore_errors=True)


def identity(x):
    """The task that holds an assignment's bundle on the cluster (its dependants' input)."""
    return x
