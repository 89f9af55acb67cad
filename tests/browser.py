"""Start JupyterLab on a throw-away copy of the course and drive it with Playwright + Chromium.

Used by ``tests/test_browser.py``. Chromium is Debian's (``apt-get install chromium``):
Playwright cannot download its own browsers on these machines.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import nbformat

from conftest import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def cleared_copy(src: Path, dest: Path) -> None:
    """Copy a notebook with its outputs removed, so what the browser shows was computed now."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    dest.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dest)


class Lab:
    """``jupyter lab`` on 127.0.0.1, a random free port and a token, in ``root``, with every
    Jupyter/IPython/matplotlib config and cache folder inside ``home``."""

    def __init__(self, root: Path, home: Path):
        self.root, self.home = root, home
        self.port, self.token = free_port(), uuid.uuid4().hex
        self.proc = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict:
        env = dict(os.environ)
        for var, sub in (("MPLCONFIGDIR", "mpl"), ("IPYTHONDIR", "ipython"), ("JUPYTER_CONFIG_DIR", "config"),
                         ("JUPYTER_DATA_DIR", "data"), ("JUPYTER_RUNTIME_DIR", "runtime"), ("HOME", "home")):
            (self.home / sub).mkdir(parents=True, exist_ok=True)
            env[var] = str(self.home / sub)
        env["TQDM_DISABLE"] = "1"
        return env

    def start(self, timeout: float = 120) -> "Lab":
        self.home.mkdir(parents=True, exist_ok=True)
        log = open(self.home / "jupyter-lab.log", "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--allow-root", "--ip=127.0.0.1",
             f"--port={self.port}", f"--IdentityProvider.token={self.token}",
             f"--ServerApp.root_dir={self.root}", "--ServerApp.port_retries=0",
             "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"],
            cwd=self.root, env=self.env(), stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited: {(self.home / 'jupyter-lab.log').read_text()[-3000:]}")
            try:
                urllib.request.urlopen(f"{self.url}/api/status?token={self.token}", timeout=2)
                return self
            except OSError:
                time.sleep(0.5)
        raise RuntimeError("jupyter lab did not answer in time")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def open(self, page, path: str = "", workspace: str | None = None) -> None:
        """Open ``path`` in a fresh workspace (no tabs restored from an earlier test)."""
        ws = workspace or uuid.uuid4().hex[:8]
        tree = f"/tree/{path}" if path else ""
        page.goto(f"{self.url}/lab/workspaces/{ws}{tree}?reset&token={self.token}")
        page.wait_for_selector("#jp-main-dock-panel", timeout=60_000)


ACTIVE = "document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)')"


def wait_kernel_idle(page, timeout_ms: int = 300_000) -> None:
    """Wait until every code cell of the visible notebook has run (no ``[*]`` prompt left,
    the last code cell numbered) and the kernel is idle."""
    page.wait_for_function(
        """(active) => {
            const panel = eval(active);
            if (!panel) return false;
            const prompts = [...panel.querySelectorAll('.jp-CodeCell .jp-InputPrompt')];
            const last = prompts[prompts.length - 1];
            return prompts.length > 0 && prompts.every(p => !p.textContent.includes('*'))
                && /\\[\\d+\\]/.test(last.textContent)
                && document.body.innerText.includes('| Idle');
        }""", arg=ACTIVE, timeout=timeout_ms)


def run_all(page) -> None:
    page.locator(".jp-Notebook").first.click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()


def run_all_without_errors(page) -> None:
    """Run every cell of the visible notebook, wait for the kernel, and fail with the first
    two tracebacks if any cell printed one."""
    import re
    run_all(page)
    time.sleep(1)
    wait_kernel_idle(page)
    errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    texts = [t for t in errors.all_text_contents() if re.search(r"Traceback|Error\b", t)]
    assert not texts, f"cells show errors: {texts[:2]}"
