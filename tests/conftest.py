import os
import shutil
import sys
from pathlib import Path

import pytest

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
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(REPO / "nbgrader_config.py", dest / "nbgrader_config.py")
    for folder in ("source", "release"):
        for a in sorted((REPO / folder).iterdir()):
            if a.is_dir() and (assignments is None or a.name in assignments):
                shutil.copytree(a, dest / folder / a.name,
                                ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (dest / "tests" / "samples").mkdir(parents=True)
    for spec in (REPO / "tests" / "samples").glob("*.json"):
        shutil.copy2(spec, dest / "tests" / "samples" / spec.name)
    return dest
