"""Confine the grading kernel with bubblewrap (``bwrap``).

nbgrader runs every submission with the TA's own permissions: a student cell can
``UPDATE`` the gradebook, read the hidden tests in ``source/``, rewrite ``utils``,
delete other students' work, open sockets and leave processes behind. The grading
kernel (``grader/kernel.py``) therefore re-starts itself inside ``bwrap``:

* the whole filesystem is mounted read-only; the only writable place is the
  submission's own folder (``autograded/<student>/<assignment>/``, where nbgrader
  runs the notebook) plus a private, empty ``/tmp`` and ``$HOME``;
* in the course root and in this repository, ``gradebook.db`` and the folders
  ``source/ submitted/ autograded/ feedback/ release/ tests/ .git/ .grader_state/``
  are replaced by empty ones (the submission's own folder is mounted back);
* no network (``--unshare-net``), its own PID namespace: every process the
  submission starts dies with the kernel (``--die-with-parent``), no capabilities;
* rlimits (address space, CPU seconds, file size) from ``grader/kernel.py`` and a
  cap on the number of processes through the ``pids`` cgroup where one is mounted
  (root's RLIMIT_NPROC is not enforced by Linux).

The client reaches the kernel through unix sockets (jupyter_client's
``transport = "ipc"``, set in ``nbgrader_config.py``) in a directory private to the
grading process, which is mounted into the sandbox; TCP would need the network.

``MLP_GRADER_SANDBOX=off`` (what ``python -m grader --unsafe`` sets) runs the
kernel unconfined; without bwrap, grading refuses to start otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

HIDDEN_DIRS = ("source", "submitted", "autograded", "feedback", "release", "tests", ".git",
               ".grader_state", "downloaded", "exchange", "outbound", "inbound")
HIDDEN_FILES = ("gradebook.db", "gradebook.db-journal", "grades.csv")
PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
PRIVATE_MOUNTS = ("/tmp", "/var/tmp", "/dev/shm", "/run")     # empty, private, writable
REPO_ROOT = Path(__file__).resolve().parent.parent


class SandboxError(RuntimeError):
    pass


def mode() -> str:
    value = os.environ.get("MLP_GRADER_SANDBOX", "bwrap")
    if value not in ("bwrap", "off"):
        raise SandboxError(f"MLP_GRADER_SANDBOX must be 'bwrap' or 'off', got {value!r}")
    return value


def check_available() -> None:
    """Raise SandboxError saying what to do when bwrap cannot confine a process here."""
    exe = shutil.which("bwrap")
    if exe is None:
        raise SandboxError("bubblewrap is not installed: `apt-get install bubblewrap`, or grade "
                           "unconfined with `python -m grader --unsafe ...` / MLP_GRADER_SANDBOX=off "
                           "(student code then runs with your permissions)")
    probe = subprocess.run([exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-net",
                            "--unshare-pid", "--die-with-parent", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise SandboxError(f"bubblewrap cannot create a sandbox here ({probe.stderr.strip()[:200]}); "
                           "user namespaces may be disabled. Grade unconfined only on purpose: "
                           "`python -m grader --unsafe ...` / MLP_GRADER_SANDBOX=off")


def course_roots() -> list[Path]:
    roots = [REPO_ROOT]
    extra = os.environ.get("MLP_GRADER_COURSE_ROOT")
    if extra and Path(extra).resolve() != REPO_ROOT:
        roots.append(Path(extra).resolve())
    return roots


def _inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
        return True
    except ValueError:
        return False


def bwrap_args(connection_file: str, workdir: str) -> list[str]:
    """The bwrap command line (without the program to run) for one grading kernel."""
    conn = Path(connection_file).resolve()
    info = json.loads(conn.read_text())
    if info.get("transport") != "ipc":
        raise SandboxError("the sandboxed grading kernel has no network, so the client must reach it "
                           "over unix sockets: set c.KernelManager.transport = 'ipc' (nbgrader_config.py "
                           "does) or grade unconfined with MLP_GRADER_SANDBOX=off")
    sockets = Path(info["ip"]).resolve().parent
    work = Path(workdir).resolve()
    private = [Path(p) for p in PRIVATE_MOUNTS]
    args = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    for p in private:
        args += ["--tmpfs", str(p)]
    # the interpreter, its packages and this repository stay visible (read-only) even when
    # they live under /tmp (a CI clone, a throw-away venv)
    needed = {REPO_ROOT, Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
              Path(os.path.realpath(sys.executable)).parent}
    rebound = [p for p in sorted(needed) if any(_inside(p, q) for q in private)]
    for p in rebound:
        args += ["--ro-bind", str(p), str(p)]
    for root in course_roots():
        if any(_inside(root, q) for q in private) and not any(_inside(root, r) for r in rebound):
            continue        # already hidden: it lies under an emptied /tmp
        for name in HIDDEN_DIRS:
            p = root / name
            if p.is_dir() and not p.is_symlink():
                args += ["--tmpfs", str(p)]
        for name in HIDDEN_FILES:
            p = root / name
            if p.is_file():
                args += ["--ro-bind", "/dev/null", str(p)]
    # writable: the submission's folder (mounted back inside an emptied folder if need be)
    # and the socket folder; the connection file read-only
    args += ["--bind", str(work), str(work), "--bind", str(sockets), str(sockets),
             "--ro-bind", str(conn), str(conn)]
    args += ["--chdir", str(work), "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             # inside its own PID namespace the kernel's parent is bwrap (pid 1): ipykernel's
             # parent poller would take that for a dead parent; --die-with-parent covers it
             "--unsetenv", "JPY_PARENT_PID",
             "--dir", "/tmp/home", "--setenv", "HOME", "/tmp/home", "--setenv", "IPYTHONDIR", "/tmp/home/.ipython",
             "--setenv", "MPLCONFIGDIR", "/tmp/home/.matplotlib", "--setenv", "TMPDIR", "/tmp",
             "--setenv", "MLP_GRADER_INSIDE_SANDBOX", "1"]
    return args


def join_pids_cgroup(max_pids: int) -> str | None:
    """Put this process (and so all its descendants) in a fresh ``pids`` cgroup capped at
    ``max_pids``. Returns the cgroup's path, or None where no writable pids cgroup exists."""
    base = PIDS_CGROUP / "mlp-grader"
    try:
        base.mkdir(exist_ok=True)
        for old in base.iterdir():          # groups of kernels that have exited
            if old.is_dir():
                try:
                    old.rmdir()
                except OSError:
                    pass
        group = base / uuid.uuid4().hex[:12]
        group.mkdir()
        (group / "pids.max").write_text(str(max_pids))
        (group / "cgroup.procs").write_text(str(os.getpid()))
        return str(group)
    except OSError:
        return None
