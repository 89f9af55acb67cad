import os
from pathlib import Path

import pytest

from benchmarks.local_services import free_port  # noqa: F401  (a port for the servers the tests start)

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def isolated_env(tmp_path, monkeypatch):
    """Keep Jupyter/IPython/matplotlib config and caches out of HOME for tests that start kernels."""
    for var, sub in (("MPLCONFIGDIR", "mpl"), ("IPYTHONDIR", "ipython"),
                     ("JUPYTER_CONFIG_DIR", "jupyter_config"), ("JUPYTER_DATA_DIR", "jupyter_data"),
                     ("JUPYTER_RUNTIME_DIR", "jupyter_runtime")):
        d = tmp_path / "_env" / sub
        d.mkdir(parents=True, exist_ok=True)
        monkeypatch.setenv(var, str(d))
    monkeypatch.setenv("TQDM_DISABLE", "1")
    # shorter than the course default (60 s) so the infinite-loop sample is quick, yet long
    # enough for `import torch` on a loaded 2-core machine (a timeout mid-import breaks torch)
    monkeypatch.setenv("MLP_GRADER_CELL_TIMEOUT", "30")
    return tmp_path


def copy_course(dest: Path, assignments=None) -> Path:
    """A throw-away course directory: config, source/, release/, the sample specs."""
    from grader.samples import copy_course as _copy
    return _copy(REPO, dest, assignments)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item: fixtures (the browser tests' screenshots) read
    ``item.rep_call`` to know whether the test failed."""
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def run_in_grading_kernel(folder: Path, code: str, env: dict | None = None, timeout: int = 60) -> list[str]:
    """Start the sandboxed ``mlp-grader`` kernel in ``folder`` (over unix sockets, as
    nbgrader_config.py sets up), run ``code``, return its printed words."""
    from jupyter_client.manager import KernelManager
    from grader import course as grader_course
    grader_course.load_config(REPO)          # puts grader/share on JUPYTER_PATH, as nbgrader does
    sock = Path(folder).parent / f"sock-{Path(folder).name}"
    sock.mkdir(exist_ok=True)
    km = KernelManager(kernel_name="mlp-grader", transport="ipc", ip=str(sock / "k"))
    km.start_kernel(cwd=str(folder), env=dict(os.environ, **(env or {})))
    kc = km.client()
    kc.start_channels()
    out = []
    try:
        kc.wait_for_ready(timeout=120)
        kc.execute_interactive(code, timeout=timeout, output_hook=lambda m: out.append(
            m["content"].get("text", "")) if m["msg_type"] == "stream" else None)
        assert km.is_alive()
        return "".join(out).split()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
