"""Warm grading kernels for the class command's workers (local pool and Dask): while one
submission is graded, the next sandboxed kernel is already starting. Design: docs/grading.md.

Each kernel still serves exactly one submission: it is a fresh process in its own fresh bwrap
sandbox, started before any student code exists, in its own empty folders (work, sockets).
"""
from __future__ import annotations

import atexit
import os
import shutil
import stat
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from grader import sandbox

ENV = "MLP_GRADER_WARM"
PREFIX = "mlp-grader-warm-"
# the options nbclient gives a kernel it starts itself (NotebookClient.ipython_hist_file)
KERNEL_ARGS = ["--HistoryManager.hist_file=:memory:"]

_ON = {"enabled": False}
_NEXT: list = []          # at most one started kernel, not yet given to a submission


@dataclass
class WarmKernel:
    km: object
    root: Path                  # holds work/ (the kernel's cwd)
    sock: Path                  # its unix sockets (root/sock unless that path is too long)
    torch: bool                 # started with torch preloaded
    key: tuple                  # what it was started with; a submission that differs goes cold
    extra: dict = field(default_factory=dict)

    @property
    def work(self) -> Path:
        return self.root / "work"


def base_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"{PREFIX}{os.getpid()}"


def socket_dir(root: Path) -> Path:
    """``root/sock``, or a folder of its own in /tmp where a unix socket path there would be
    longer than the system allows (108 bytes, with ``kernel-NNNNN`` appended)."""
    if len(str(root / "sock" / "kernel-00000")) < 100:
        (root / "sock").mkdir(mode=0o700)
        return root / "sock"
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-", dir="/tmp"))


def sweep_dead() -> None:
    """Remove the folders of worker processes that were killed (their kernels died with them)."""
    for where in {Path(tempfile.gettempdir()), Path("/tmp")}:
        for old in where.glob(PREFIX + "*"):
            pid = old.name[len(PREFIX):].split("-")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                shutil.rmtree(old, ignore_errors=True)


def enable() -> None:
    """Use warm kernels in this process (a class worker) unless MLP_GRADER_WARM=0."""
    if _ON["enabled"] or os.environ.get(ENV, "1") == "0":
        return
    sweep_dead()
    _ON["enabled"] = True
    atexit.register(shutdown)


def enabled() -> bool:
    return _ON["enabled"] and os.environ.get(ENV, "1") != "0"


def launch_key(kernel_name: str) -> tuple:
    # what the kernel's sandbox and limits are made of: a Dask worker serves many runs
    return kernel_name, tuple(sorted(sandbox.kernel_env().items()))


def start(kernel_name: str, config=None, torch: bool = False) -> WarmKernel:
    """Start one sandboxed kernel in fresh, empty, private folders; do not wait for it."""
    from jupyter_client.manager import AsyncKernelManager
    from jupyter_core.utils import run_sync
    base = base_dir()
    base.mkdir(mode=0o700, exist_ok=True)
    root = base / uuid.uuid4().hex[:12]
    for sub in ("", "work"):
        (root / sub).mkdir(mode=0o700)
    sock = socket_dir(root)
    km = AsyncKernelManager(kernel_name=kernel_name, config=config)
    # its own socket folder: the kernel being graded now must not reach the next one's sockets
    km.transport, km.ip = "ipc", str(sock / "kernel")
    env = dict(os.environ)
    if env.get("MLP_GRADER_PRELOAD", "auto") == "auto":
        env["MLP_GRADER_PRELOAD"] = "1" if torch else "auto"   # auto in an empty folder: numpy only
    kernel = WarmKernel(km, root, sock, torch, launch_key(kernel_name))
    try:
        run_sync(km.start_kernel)(cwd=str(kernel.work), env=env, extra_arguments=list(KERNEL_ARGS))
    except Exception:
        discard(kernel)
        raise
    return kernel


def prepare(kernel_name: str, config=None, torch: bool = False) -> None:
    """Have a kernel starting for the next submission (one at most)."""
    if not enabled() or _NEXT:
        return
    try:
        _NEXT.append(start(kernel_name, config, torch))
    except Exception:      # the next submission then starts its kernel as without warm kernels
        pass


def take(kernel_name: str) -> WarmKernel | None:
    """The started kernel for this submission, or None (none ready, or started differently)."""
    if not _NEXT:
        return None
    kernel = _NEXT.pop()
    if kernel.key != launch_key(kernel_name) or not kernel.km.has_kernel:
        discard(kernel)
        return None
    return kernel


def discard(kernel: WarmKernel) -> None:
    """Kill the kernel (and its sandbox) if it still runs, then remove its folders."""
    from jupyter_core.utils import ensure_async, run_sync
    km = kernel.km
    try:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)
    except Exception:
        proc = getattr(getattr(km, "provisioner", None), "process", None)
        if proc is not None:
            proc.kill()
            proc.wait()
    try:
        run_sync(ensure_async)(km.cleanup_resources())   # connection file (AsyncKernelManager: a coroutine)
    except Exception:
        pass
    shutil.rmtree(kernel.sock, ignore_errors=True)
    shutil.rmtree(kernel.root, ignore_errors=True)


def shutdown() -> None:
    """The worker is done: no kernel, sandbox or folder outlives it."""
    _ON["enabled"] = False
    while _NEXT:
        discard(_NEXT.pop())
    shutil.rmtree(base_dir(), ignore_errors=True)


def mirror(src: Path, dest: Path) -> None:
    """Make ``dest`` hold exactly what ``src`` holds: files, folders and symlinks (as links,
    never followed); anything else a submission made (fifos, sockets) is left out."""
    dest.mkdir(parents=True, exist_ok=True)
    for entry in os.scandir(dest):
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            shutil.rmtree(path)
        else:
            path.unlink()
    copy_tree(src, dest)


def copy_tree(src: Path, dest: Path) -> None:
    for entry in os.scandir(src):
        s, d = Path(entry.path), dest / entry.name
        try:
            mode = entry.stat(follow_symlinks=False).st_mode
            if stat.S_ISLNK(mode):
                os.symlink(os.readlink(s), d)
            elif stat.S_ISDIR(mode):
                d.mkdir()
                copy_tree(s, d)
                shutil.copystat(s, d, follow_symlinks=False)
            elif stat.S_ISREG(mode):
                shutil.copy2(s, d, follow_symlinks=False)
        except OSError:     # what a submission made unreadable stays behind, as its kernel left it
            continue
