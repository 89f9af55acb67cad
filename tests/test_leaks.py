"""What a submission prints, reads or displays stays with its own grade (issue 17).

The sample classes ``samples/normalization-leaks.json`` and ``layers-leaks.json`` (a written
answer) are graded through plain
``nbgrader autograde``, the class command and the Dask path, with canaries planted where a TA's
machine keeps secrets: the environment, a file and a unix socket in the grading user's home, an
abstract unix socket. The browser side (formgrader, feedback in Chromium) is in test_browser.py.
"""
import os
import re
import socket
import subprocess
import sys
import threading
from pathlib import Path

import nbformat
import pytest
from nbconvert import HTMLExporter

from grader import nbgrader_cmd, samples
from conftest import REPO, copy_course, run_in_grading_kernel
from html_checks import executable_bits

LEAKS = REPO / "samples" / "normalization-leaks.json"
WRITTEN_LEAKS = REPO / "samples" / "layers-leaks.json"
ASSIGNMENTS = ["layers", "normalization"]
CANARY = "mlp-canary"
LEAKED = re.compile(f"{CANARY}-(?:aws|pg|jupyter|file|socket)")     # the planted values, not the attack's text
SECRETS = {"AWS_SECRET_ACCESS_KEY": f"{CANARY}-aws", "PGPASSWORD": f"{CANARY}-pg", "JUPYTER_TOKEN": f"{CANARY}-jupyter"}


@pytest.fixture
def canaries(monkeypatch):
    """Secrets in the environment, a file and a listening socket in the home folder, an abstract socket."""
    home = Path.home()
    assert home == Path("/root") or home.parent == Path("/home"), \
        f"the attacks look for the grading user's home in /root or /home/*, not {home}"
    for k, v in SECRETS.items():
        monkeypatch.setenv(k, v)
    secret = home / ".mlp-grader-canary"
    secret.write_text(f"{CANARY}-file\n")
    servers = []
    for addr in (str(home / ".mlp-grader-canary.sock"), "\0mlp-grader-canary"):
        if not addr.startswith("\0") and os.path.exists(addr):
            os.unlink(addr)
        srv = socket.socket(socket.AF_UNIX)
        srv.bind(addr)
        srv.listen(8)
        servers.append(srv)

        def serve(s=srv):
            while True:
                try:
                    conn, _ = s.accept()
                except OSError:
                    return
                conn.sendall(f"{CANARY}-socket".encode())
                conn.close()
        threading.Thread(target=serve, daemon=True).start()
    yield
    for srv in servers:
        srv.shutdown(socket.SHUT_RDWR)      # wakes the accept() above; close alone would not
        srv.close()
    secret.unlink(missing_ok=True)
    (home / ".mlp-grader-canary.sock").unlink(missing_ok=True)


def _attack_code(student: str) -> str:
    """The code of one read attack, as the sample student submits it (a try block)."""
    spec = samples.load_spec(LEAKS)
    new = spec["students"][student]["patches"]["whiten"][0][1]
    return new[new.index("try:"):]


@pytest.mark.parametrize("student", ["x-leak-env", "x-leak-home", "x-leak-socket"])
def test_read_attacks_work_unconfined_and_are_blocked_in_the_sandbox(student, tmp_path, isolated_env, canaries):
    work = tmp_path / "work"
    work.mkdir()
    code = _attack_code(student)
    # the canaries are real: without the sandbox the same code finds them
    assert "ATTACK-RESULT: succeeded" in " ".join(run_in_grading_kernel(work, code, env={"MLP_GRADER_SANDBOX": "off"}))
    got = " ".join(run_in_grading_kernel(work, code))
    assert "ATTACK-RESULT: blocked" in got and not LEAKED.search(got), got


def _render(path: Path) -> str:
    return HTMLExporter(template_name="lab").from_filename(str(path))[0]


def _grade(how: str, course: Path) -> None:
    if how == "nbgrader":
        assert not nbgrader_cmd.autograde(course, ASSIGNMENTS)
        nbgrader_cmd.feedback(course, ASSIGNMENTS)
        return
    extra = ["--scheduler", "dask"] if how == "dask" else []
    proc = subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(course), *extra],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("how", ["nbgrader", "class", "dask"])
def test_a_hostile_class_keeps_its_outputs_and_reads_to_itself(how, tmp_path, isolated_env, canaries):
    course = copy_course(tmp_path / "course", ASSIGNMENTS)
    nbgrader_cmd.release(course, ASSIGNMENTS)
    correct = []
    for a in ASSIGNMENTS:
        spec = samples.load_spec(REPO / "samples" / f"{a}.json")
        spec["students"] = {"correct": spec["students"]["correct"]}
        correct.append(spec)
    expected = samples.write_class(course, [*correct, LEAKS, WRITTEN_LEAKS])
    _grade(how, course)
    rows = {(r[0], r[1]): r for r in nbgrader_cmd.grade_rows(course)}
    for key, want in expected.items():
        assert rows[key][2] == want, f"{key}: score {rows[key][2]}, expected {want}"

    def paths(student, a="normalization"):
        return (course / "autograded" / student / a / f"{a}.ipynb", course / "feedback" / student / a / f"{a}.html")
    clean = {a: (executable_bits(_render(paths("correct", a)[0])), executable_bits(paths("correct", a)[1].read_text()))
             for a in ASSIGNMENTS}
    for spec in map(samples.load_spec, (LEAKS, WRITTEN_LEAKS)):
        a = spec["assignment"]
        for student, info in spec["students"].items():
            nb_path, fb_path = paths(student, a)
            nb = nbformat.read(nb_path, 4)
            text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
            if "expected_output" in info:
                lines = [ln for ln in text.splitlines() if "ATTACK-RESULT" in ln]
                assert lines and all(info["expected_output"] in ln for ln in lines), (how, student, lines)
            feedback = fb_path.read_text()
            assert not LEAKED.search(nb_path.read_text()) and not LEAKED.search(feedback), (how, student)
            if info.get("expected_inert"):
                assert executable_bits(_render(nb_path)) == clean[a][0], (how, student)
                assert executable_bits(feedback) == clean[a][1], (how, student)
    spec = samples.load_spec(LEAKS)
    outputs = {s: [o for c in nbformat.read(paths(s)[0], 4).cells if c.cell_type == "code" for o in c.outputs]
               for s in spec["students"]}
    html_of = {s: "".join(o.get("data", {}).get("text/html", "") for o in outs) for s, outs in outputs.items()}
    assert "<b>student-bold-text</b>" in html_of["x-leak-script-html"]
    assert any("output removed by the grader" in o.get("data", {}).get("text/plain", "")
               for o in outputs["x-leak-script-html"])
    assert any("<circle" in o.get("data", {}).get("image/svg+xml", "") for o in outputs["x-leak-svg"])
    assert any("image/png" in o.get("data", {}) for o in outputs["x-show-plot-table"])
    assert '<table class="student-table">' in html_of["x-show-plot-table"]
    written = [c.source for c in nbformat.read(paths("x-leak-markdown", "layers")[0], 4).cells
               if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == "written_relu_output"]
    assert written and written[0].startswith("Centring first makes the covariance the second moment.")
