"""The grading kernel: an ipykernel started under resource limits.

nbgrader runs student code with the TA's permissions and no limits (nbgrader
issue #1429). ``nbgrader_config.py`` points ``Execute.kernel_name`` at the
``mlp-grader`` kernelspec, which starts this module. Limits (environment
variables, read when the kernel starts):

* ``MLP_GRADER_MEM_GB`` (default 4): address space. A 50 GB allocation fails
  with ``MemoryError`` in that cell; the kernel lives on.
* ``MLP_GRADER_FILE_MB`` (default 512): largest file the kernel may write.
* ``MLP_GRADER_CPU_S`` (default 600): CPU seconds for the whole kernel.

Wall time per cell is nbgrader's ``Execute.timeout``.
"""
from __future__ import annotations

import os
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


def preload() -> None:
    """Import numpy and torch before the kernel answers: an ``import torch`` in a test cell
    that hits the per-cell timeout on a loaded machine leaves torch half-initialised, and
    every later test fails. Kernel start-up has its own timeout (Execute.startup_timeout)."""
    if os.environ.get("MLP_GRADER_PRELOAD", "1") == "0":
        return
    try:
        import numpy  # noqa: F401
        import torch  # noqa: F401
    except Exception:  # a missing package shows up in the cell that needs it
        pass


def main() -> None:
    apply_limits()
    preload()
    from ipykernel import kernelapp
    kernelapp.launch_new_instance()


if __name__ == "__main__":
    main()
