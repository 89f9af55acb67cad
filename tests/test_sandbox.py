"""The grading kernel runs student code inside bubblewrap (grader/sandbox.py)."""
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import nbgrader_cmd, samples, sandbox
from conftest import REPO, copy_course, run_in_grading_kernel

ATTACKS = REPO / "samples" / "normalization-attacks.json"


def _ipc_connection(tmp_path, transport="ipc"):
    conn = tmp_path / "kernel.json"
    conn.write_text(json.dumps({"transport": transport, "ip": str(tmp_path / "sock" / "k"),
                                "shell_port": 1}))
    (tmp_path / "sock").mkdir(exist_ok=True)
    return conn


def test_bwrap_arguments_bind_an_allowlist_and_a_clean_environment(tmp_path, monkeypatch):
    course = tmp_path / "course"
    work = course / "autograded" / "alice" / "a1"
    work.mkdir(parents=True)
    monkeypatch.setenv("MLP_GRADER_COURSE_ROOT", str(course))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "ta-secret")
    monkeypatch.setenv("MLP_GRADEBOOK_URL", "postgresql://ta:password@db/course")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    args = sandbox.bwrap_args(str(_ipc_connection(tmp_path)), str(work))
    pairs = list(zip(args, args[1:]))
    binds = {b for flag, b in pairs if flag in ("--ro-bind", "--bind")}
    assert "/" not in binds and args[1] == "--clearenv"
    for private in ("/home", "/root", "/run", "/var", "/etc", str(REPO), str(REPO / "tests"), str(course)):
        assert private not in binds, private
    assert str(REPO / "utils") in binds and str(REPO / "grader" / "kernel.py") in binds
    assert ("--bind", str(work)) in pairs and ("--chdir", str(work)) in pairs
    assert args.index("--bind") > args.index("/tmp")       # under /tmp: bound after the empty /tmp
    env = {args[i + 1]: args[i + 2] for i, a in enumerate(args) if a == "--setenv"}
    assert "AWS_SECRET_ACCESS_KEY" not in env and "MLP_GRADEBOOK_URL" not in env
    assert env["OMP_NUM_THREADS"] == "1" and env["HOME"] == "/tmp/home" and env["PATH"]
    assert "ta-secret" not in args and not any("password" in a for a in args)
    for flag in ("--unshare-net", "--unshare-pid", "--die-with-parent"):
        assert flag in args


def test_sandbox_refuses_tcp_and_unknown_modes(tmp_path, monkeypatch):
    with pytest.raises(sandbox.SandboxError, match="transport = 'ipc'"):
        sandbox.bwrap_args(str(_ipc_connection(tmp_path, "tcp")), str(tmp_path))
    monkeypatch.setenv("MLP_GRADER_SANDBOX", "maybe")
    with pytest.raises(sandbox.SandboxError, match="'bwrap' or 'off'"):
        sandbox.mode()


def test_grading_refuses_to_run_unconfined_without_bwrap(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))        # no bwrap on PATH
    with pytest.raises(sandbox.SandboxError, match="apt-get install bubblewrap"):
        sandbox.check_available()
    course = copy_course(tmp_path / "c", ["normalization"])
    env = dict(os.environ, PATH=str(tmp_path))
    r = subprocess.run([sys.executable, "-m", "grader", "autograde", "--course", str(course)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 1 and "bubblewrap is not installed" in r.stderr and "--unsafe" in r.stderr


def test_sandboxed_kernel_confines_student_code(tmp_path, isolated_env, monkeypatch):
    course = tmp_path / "course"
    work = course / "autograded" / "bob" / "a1"
    work.mkdir(parents=True)
    (course / "source" / "a1").mkdir(parents=True)
    (course / "source" / "a1" / "a1.ipynb").write_text("hidden tests")
    (course / "gradebook.db").write_text("grades")
    monkeypatch.setenv("MLP_GRADER_COURSE_ROOT", str(course))
    code = """
import os, socket
def attempt(label, fn):
    try:
        fn()
        print(label + ':open')
    except Exception:
        print(label + ':blocked')
attempt('write-cwd', lambda: open('mine.txt', 'w').write('ok'))
attempt('write-utils', lambda: open(__import__('utils').checks.__file__, 'a'))
attempt('read-source', lambda: open('../../../source/a1/a1.ipynb').read())
attempt('read-gradebook', lambda: open('../../../gradebook.db').read() or 1 / 0)  # missing or empty
attempt('network', lambda: socket.create_connection(('pypi.org', 443), timeout=3))
attempt('write-root', lambda: open('/planted.txt', 'w'))
# under /tmp (pytest's folders) the course's path lies in the sandbox's private /tmp: such a
# write may succeed there, and must not reach the real course
try:
    open('../../../planted.txt', 'w').write('x')
except OSError:
    pass
attempt('write-tmp', lambda: open('/tmp/scratch.txt', 'w').write('ok'))
print('pid:' + str(os.getpid() < 10))
"""
    got = run_in_grading_kernel(work, code)
    assert got == ["write-cwd:open", "write-utils:blocked", "read-source:blocked", "read-gradebook:blocked",
                   "network:blocked", "write-root:blocked", "write-tmp:open", "pid:True"], got
    assert (work / "mine.txt").read_text() == "ok"
    assert (course / "gradebook.db").read_text() == "grades"
    assert not (course / "planted.txt").exists() and not Path("/planted.txt").exists()


def _tree_digest(*roots):
    h = hashlib.sha256()
    for root in roots:
        for p in sorted(Path(root).rglob("*")):
            if p.is_file() and "__pycache__" not in p.parts:
                h.update(str(p).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


@pytest.mark.slow
def test_attacks_change_nothing_outside_their_folder(tmp_path, isolated_env):
    course = copy_course(tmp_path / "course", ["normalization"])
    nbgrader_cmd.release(course, ["normalization"])
    main = samples.load_spec(REPO / "samples" / "normalization.json")
    main["students"] = {k: main["students"][k] for k in ("correct", "bug-zscore-test-stats")}
    expected = samples.write_class(course, [main, ATTACKS])
    watched = [course / "source", course / "release", course / "submitted", course / "tests",
               course / "nbgrader_config.py", REPO / "utils", REPO / "grader"]
    before = _tree_digest(*watched)
    failures = nbgrader_cmd.autograde(course, ["normalization"])
    assert not failures, failures
    rows = {r[0]: r for r in nbgrader_cmd.grade_rows(course)}
    for (student, _), want in expected.items():
        assert rows[student][2] == want, f"{student}: score {rows[student][2]}, expected {want}"
    spec = samples.load_spec(ATTACKS)
    from grader import tamper
    for student, info in spec["students"].items():
        nb = nbformat.read(course / "autograded" / student / "normalization" / "normalization.ipynb", 4)
        text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
        lines = [ln for ln in text.splitlines() if "ATTACK-RESULT" in ln]
        assert lines and all(info["expected_output"] in ln for ln in lines), (student, lines)
        flags = tamper.flags_in(nb)
        for w in info.get("expected_flags", []):
            assert any(w in f for f in flags), (student, flags)
    assert _tree_digest(*watched) == before, "an attack changed files outside its own folder"
    left = subprocess.run(["pgrep", "-f", "sleep 997"], capture_output=True, text=True).stdout.split()
    assert not left, f"a process started by a submission outlived its kernel: {left}"
