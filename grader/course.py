"""A course directory: where things are, its nbgrader configuration, how nbgrader is run."""
from __future__ import annotations

import copy
import os
import re
import sys
from pathlib import Path

from grader.errors import PipelineError

REPO_ROOT = Path(__file__).resolve().parent.parent
GRADEBOOK_FILE = "gradebook.db"
# the most specific line of an nbgrader log: "ValueError: ...", "MissingEntry", ...
ERROR_LINE = re.compile(r"^[\w.]+(Error|Exception|Missing\w*)\b:?")

_CONFIGS: dict = {}


def load_config(course_root: Path):
    """nbgrader_config.py as nbgrader loads it, once per file version, but failing loudly:
    nbgrader logs a broken config and goes on with its defaults (no timeout, hidden tests
    in feedback). Each caller gets its own copy (callers adjust it)."""
    from traitlets.config.loader import PyFileConfigLoader
    path = Path(course_root) / "nbgrader_config.py"
    try:
        # the file reads the environment (timeouts, MLP_GRADEBOOK_URL): part of the key
        key = (str(path.resolve()), path.stat().st_mtime_ns, tuple(sorted(os.environ.items())))
    except OSError:
        raise PipelineError(f"{path} does not exist: is {course_root} the course root?") from None
    if key not in _CONFIGS:
        try:
            _CONFIGS[key] = PyFileConfigLoader("nbgrader_config.py", str(course_root)).load_config()
        except Exception as exc:
            raise PipelineError(f"{path} does not load: {type(exc).__name__}: {exc}") from None
    return copy.deepcopy(_CONFIGS[key])


def assignments(course_root: Path) -> list[str]:
    src = Path(course_root) / "source"
    if not src.is_dir():
        raise PipelineError(f"{src} does not exist: is {course_root} the course root?")
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def default_db_url(course_root: Path) -> str:
    return f"sqlite:///{Path(course_root) / GRADEBOOK_FILE}"


def nbgrader_env(base=None) -> dict:
    """The environment nbgrader runs in: no progress bars, and this venv's ``bin`` first on
    PATH (nbgrader runs ``alembic`` from PATH when it creates or upgrades a gradebook), so
    ``.venv/bin/python -m grader`` works without activating the venv."""
    env = dict(os.environ if base is None else base)
    env.setdefault("TQDM_DISABLE", "1")
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    return env


def use_nbgrader_env() -> None:
    """``nbgrader_env`` for nbgrader's Python API in this process."""
    os.environ.update(nbgrader_env())


def missing_notebooks(course_root: Path, assignment: str, folder: Path) -> str | None:
    """Why ``folder`` (a submission) lacks one of the assignment's notebooks, or None."""
    expected = {p.name for p in (Path(course_root) / "source" / assignment).glob("*.ipynb")}
    missing = sorted(expected - {p.name for p in Path(folder).glob("*.ipynb")})
    if not missing:
        return None
    found = sorted(p.name for p in Path(folder).iterdir()) if Path(folder).is_dir() else []
    return f"missing notebook {', '.join(missing)} (found: {', '.join(found or ['nothing'])})"


def error_line(log: str, default: str = "see nbgrader's log") -> str:
    """The most specific error line of an nbgrader log (not its closing "see the above")."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    errs = [ln for ln in lines if ERROR_LINE.match(ln)
            and "see the the above traceback" not in ln and "see the above traceback" not in ln]
    return errs[-1][:300] if errs else default
