"""nbgrader_config.py loads (nbgrader silently ignores a broken one) and says what the README says."""
import shutil

from grader import cli, course as grader_course
from conftest import REPO


def test_config_loads_with_course_settings(monkeypatch):
    monkeypatch.delenv("MLP_GRADER_CELL_TIMEOUT", raising=False)
    c = grader_course.load_config(REPO)
    assert c.CourseDirectory.course_id == "mlp-insight"
    assert c.CourseDirectory.root == str(REPO)
    assert c.Execute.timeout == 60          # the README promises 60 s per cell
    assert "Per-cell timeout 60 s" in (REPO / "README.md").read_text()
    monkeypatch.setenv("MLP_GRADER_CELL_TIMEOUT", "7")
    assert grader_course.load_config(REPO).Execute.timeout == 7
    assert "nbgrader.preprocessors.ClearHiddenTests" in c.GenerateFeedback.preprocessors
    pre = c.GenerateFeedback.preprocessors
    assert pre.index("grader.preprocessors.ClearHiddenTracebacks") < pre.index("nbgrader.preprocessors.ClearHiddenTests")
    assert c.Autograde.autograde_preprocessors[0] == "grader.execute.ResilientExecute"
    assert c.Execute.kernel_name == "mlp-grader"
    from jupyter_client.kernelspec import KernelSpecManager
    assert "mlp-grader" in KernelSpecManager().find_kernel_specs()


def test_broken_config_is_reported(tmp_path, capsys):
    (tmp_path / "source").mkdir()
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.Execute.timeout = undefined_name\n")
    assert cli.main(["table", "--course", str(tmp_path)]) == 1
    assert "does not load" in capsys.readouterr().err


def test_cli_bad_inputs(tmp_path, capsys):
    assert cli.main(["table", "--course", str(tmp_path)]) == 2
    assert "no nbgrader_config.py" in capsys.readouterr().err
    shutil.copy2(REPO / "nbgrader_config.py", tmp_path)
    (tmp_path / "source" / "x").mkdir(parents=True)
    assert cli.main(["release", "--course", str(tmp_path), "-a", "nope"]) == 1
    assert "unknown assignment" in capsys.readouterr().err


def test_ci_runs_the_readme_test_command_verbatim():
    readme = (REPO / "README.md").read_text()
    section = readme.split("2. Run the tests", 1)[1]
    command = section.split("```bash", 1)[1].split("```", 1)[0].strip()
    assert command.startswith(".venv/bin/python -m pytest"), command[:80]
    ci = (REPO / ".ci" / "run").read_text()
    assert command + " || {" in ci, "README's test command and .ci/run's differ: keep them the same"
