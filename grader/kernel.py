"""The grading kernel: an ipykernel started under resource limits.

nbgrader runs student code with the TA's permissions and no limits (nbgrader
issue #1429). ``nbgrader_config.py`` points ``Execute.kernel_name`` at the
``mlp-grader`` kernelspec, which starts this module. Limits (environment
variables, read when the kernel starts):

* ``MLP_GRADER_MEM_GB`` (default 4): address space. A 50 GB allocation fails
  with ``MemoryError`` in that cell; the kernel lives on.
* ``MLP_GRADER_FILE_MB`` (default 512): largest file the kernel may write.
* ``MLP_GRADER_CPU_S`` (default 600): CPU seconds for the whole kernel.
* ``MLP_GRADER_MAX_PIDS`` (default 128): processes and threads, through the ``pids``
  cgroup (root ignores RLIMIT_NPROC).
* ``MLP_GRADER_SANDBOX`` (default ``bwrap``): the kernel re-starts itself inside
  bubblewrap (``grader/sandbox.py``, docs/sandbox.md: only what a kernel needs is visible,
  a clean environment, no network, processes die with the kernel); ``off`` runs it
  unconfined, with a warning.

Wall time per cell is nbgrader's ``Execute.timeout``.
"""
from __future__ import annotations

import os
import re
import resource


def apply_limits() -> dict:
    limits = {
        resource.RLIMIT_AS: int(float(os.environ.get("MLP_GRADER_MEM_GB", "4")) * 2**30),
        resource.RLIMIT_FSIZE: int(float(os.environ.get("MLP_GRADER_FILE_MB", "512")) * 2**20),
        resource.RLIMIT_CPU: int(os.environ.get("MLP_GRADER_CPU_S", "600")),
    }
    for what, value in limits.items():
        soft, hard = resource.getrlimit(what)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(what, (value, value))
    return limits


def preload_checks() -> None:
    """Import the course's test helpers from the installed course, never from the
    submission's folder: the kernel starts there with that folder first on ``sys.path``,
    so a submitted ``utils/checks.py`` would otherwise replace the checks the tests use.
    Once imported, ``sys.modules`` serves every later ``from utils.checks import ...``."""
    import sys
    saved = sys.path[:]
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != here]
    try:
        import utils.checks  # noqa: F401
        import utils.stat_checks  # noqa: F401
    except Exception:  # a missing package shows up in the cell that needs it
        pass
    finally:
        sys.path[:] = saved


# imports that pull in torch: the notebook imports torch itself, or a course module that does
TORCH_USERS = re.compile(r"\b(?:import|from)\s+(?:torch|utils\.(?:train|search))\b|"
                         r"\bfrom\s+utils\s+import\s+[^\n]*\b(?:train|search)\b")


def notebooks_need_torch(folder: str = ".") -> bool:
    """Does any notebook in the kernel's folder (the submission being graded, its hidden
    tests already restored by nbgrader) import torch, directly or through ``utils``?"""
    for name in os.listdir(folder):
        if name.endswith(".ipynb"):
            try:
                with open(os.path.join(folder, name), encoding="utf-8", errors="replace") as fh:
                    if TORCH_USERS.search(fh.read()):
                        return True
            except OSError:
                continue
    return False


def preload() -> None:
    """Import numpy (and torch where the notebook uses it) before the kernel answers: an
    ``import torch`` in a test cell that hits the per-cell timeout on a loaded machine leaves
    torch half-initialised, and every later test fails. Kernel start-up has its own timeout
    (Execute.startup_timeout). ``MLP_GRADER_PRELOAD``: ``auto`` (default) imports torch only
    for notebooks that import it -- it costs 1-2 s of CPU per submission --, ``1`` always,
    ``0`` never (nor numpy)."""
    mode = os.environ.get("MLP_GRADER_PRELOAD", "auto")
    if mode == "0":
        return
    try:
        import numpy  # noqa: F401
        if mode == "1" or notebooks_need_torch():
            import torch  # noqa: F401
    except Exception:  # a missing package shows up in the cell that needs it
        pass


def connection_file(argv) -> str:
    for i, arg in enumerate(argv):
        if arg == "-f" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--f=") or arg.startswith("-f="):
            return arg.split("=", 1)[1]
    raise SystemExit("mlp-grader kernel: no connection file (-f) given")


def enter_sandbox(argv) -> None:
    """Re-start this kernel inside bubblewrap (grader/sandbox.py); returns only when
    MLP_GRADER_SANDBOX=off. Refuses to run student code unconfined otherwise."""
    import sys
    from grader import sandbox
    try:
        if sandbox.mode() == "off":
            print("mlp-grader kernel: WARNING: MLP_GRADER_SANDBOX=off, student code runs unconfined "
                  "with your permissions", file=sys.stderr)
            return
        sandbox.check_available()
        args = sandbox.bwrap_args(connection_file(argv), os.getcwd())
    except sandbox.SandboxError as exc:
        raise SystemExit(f"mlp-grader kernel: refusing to run student code: {exc}")
    sandbox.join_pids_cgroup(int(os.environ.get("MLP_GRADER_MAX_PIDS", "128")))
    cmd = args + [sys.executable, "-P", "-m", "grader.kernel", *argv]
    os.execvp(cmd[0], cmd)


def main() -> None:
    import sys
    apply_limits()
    if os.environ.get("MLP_GRADER_INSIDE_SANDBOX") != "1":
        enter_sandbox(sys.argv[1:])
    preload_checks()
    preload()
    if not os.environ.get("JPY_PARENT_PID"):
        # The sandbox drops JPY_PARENT_PID (its pid means nothing in the kernel's own pid
        # namespace). ipykernel would then print its "To connect another client to this kernel"
        # banner into the TA's terminal for every submission; parent handle 1 means "no parent
        # to poll", exactly as now, and keeps the terminal clean.
        sys.argv.append("--IPKernelApp.parent_handle=1")
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
