"""Confine the grading kernel with bubblewrap (``bwrap``): a filesystem allowlist, a clean
environment, no network, its own PID namespace. What it shows and why: docs/sandbox.md.

``MLP_GRADER_SANDBOX=off`` (what ``python -m grader --unsafe`` sets) runs the kernel
unconfined; without bwrap, grading refuses to start otherwise.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from grader.errors import SandboxError  # noqa: F401  (raised here; sandbox.SandboxError stays valid)

PIDS_CGROUP = Path("/sys/fs/cgroup/pids")
REPO_ROOT = Path(__file__).resolve().parent.parent
# What a grading kernel sees (docs/sandbox.md explains each entry); everything else of the
# machine -- home folders, /root, /run, /var, /srv, /mnt, other courses, host sockets -- is absent.
SYSTEM_DIRS = ("/usr",)                                   # programs, libraries, /usr/share/datasets
TOP_LINKS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")   # merged-/usr links (or dirs)
ETC_FILES = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "alternatives", "localtime", "mime.types",
             "nsswitch.conf", "fonts", f"python3.{sys.version_info.minor}", "python3")
SYS_DIRS = ("/sys/devices/system/cpu",)                   # CPU count and topology for BLAS and torch
COURSE_PACKAGE_FILES = ("grader/__init__.py", "grader/kernel.py")     # what `-m grader.kernel` runs
COURSE_DIRS = ("utils", "data")                           # what notebooks import, the dataset cache
# The environment a kernel starts from: nothing else of the TA's shell reaches student code.
ENV_NAMES = ("PATH", "LANG", "LANGUAGE", "TZ", "MPLBACKEND", "FASHION_MNIST_DIR", "PYTHONHASHSEED",
             "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "VECLIB_MAXIMUM_THREADS", "TORCH_NUM_THREADS")
ENV_PREFIXES = ("LC_", "MLP_GRADER_")
DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin"


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


def kernel_env(environ=None) -> dict:
    """The allowlisted part of ``environ`` (default: this process's) a grading kernel keeps."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in ENV_NAMES or k.startswith(ENV_PREFIXES)}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(HOME="/tmp/home", USER="grader", LOGNAME="grader", IPYTHONDIR="/tmp/home/.ipython",
               MPLCONFIGDIR="/tmp/home/.matplotlib", TMPDIR="/tmp", MLP_GRADER_INSIDE_SANDBOX="1")
    return env


def python_dirs() -> list[Path]:
    """The interpreter, its standard library and the venv's packages."""
    dirs = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(),
            Path(os.path.realpath(sys.executable)).parent}
    return sorted(d for d in dirs if not any(d != o and d.is_relative_to(o) for o in dirs))


def _ro(path, args) -> None:
    if os.path.exists(path):
        args += ["--ro-bind", str(path), str(path)]


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
    args = ["bwrap", "--clearenv"]
    for name, value in sorted(kernel_env().items()):
        args += ["--setenv", name, value]
    for d in SYSTEM_DIRS:
        _ro(d, args)
    for link in TOP_LINKS:
        if os.path.islink(link):
            args += ["--symlink", os.readlink(link), link]
        else:
            _ro(link, args)
    for name in ETC_FILES:
        _ro(Path("/etc") / name, args)
    args += ["--dev", "/dev", "--tmpfs", "/dev/shm", "--proc", "/proc"]
    for d in SYS_DIRS:
        _ro(d, args)
    # a private, empty /tmp first: the binds below may lie under /tmp (a CI clone, pytest's folders)
    args += ["--tmpfs", "/tmp", "--dir", "/tmp/home"]
    for d in python_dirs():
        _ro(d, args)
    for rel in COURSE_PACKAGE_FILES + COURSE_DIRS:
        _ro(REPO_ROOT / rel, args)
    if os.environ.get("FASHION_MNIST_DIR"):
        _ro(Path(os.environ["FASHION_MNIST_DIR"]).resolve(), args)
    # writable: the submission's folder and the socket folder; the connection file read-only
    args += ["--bind", str(work), str(work), "--bind", str(sockets), str(sockets),
             "--ro-bind", str(conn), str(conn)]
    args += ["--chdir", str(work), "--unshare-net", "--unshare-pid", "--unshare-ipc", "--unshare-uts",
             "--unshare-cgroup-try", "--die-with-parent", "--new-session", "--cap-drop", "ALL",
             # the folders bwrap made for the mounts above live in a tmpfs root: read-only too
             "--remount-ro", "/"]
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
