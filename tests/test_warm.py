"""Warm grading kernels (grader/warm.py): one worker grades submission after submission, each
in a kernel started while the one before was graded. Nothing may carry over between them."""
import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import nbgrader_cmd, samples, warm
from conftest import REPO, copy_course

A = "normalization"
ANCHOR = "def whiten(X, eps=1e-5):"
# each student looks for every trace another could leave (a file in its folder, one in /tmp,
# a global, a module attribute, an environment variable), reports it, then leaves its own
PROBE = """import os, glob, sys
_seen = sorted(glob.glob("mark-*") + glob.glob("/tmp/mark-*"))
_seen += [n for n in ("MARK_GLOBAL",) if n in globals()]
_seen += ["sys.mark"] if hasattr(sys, "mark") else []
_seen += ["env"] if "MARK_ENV" in os.environ else []
print("SEEN:" + ",".join(_seen) + ":END", "CWD:" + os.getcwd(), flush=True)
MARK_GLOBAL = sys.mark = os.environ["MARK_ENV"] = "{who}"
open("mark-{who}.txt", "w").write("{who}")
open("/tmp/mark-{who}", "w").write("{who}")
"""
WORKER = """
import json, sys
from grader import gradebook, pool, warm
course, todo = sys.argv[1], json.loads(sys.argv[2])
gradebook.prepare(__import__("pathlib").Path(course), [tuple(t) for t in todo])
pool.init_worker(course)
out = [pool.grade_one(a, s) for a, s in todo]
print("BASE=" + str(warm.base_dir()))
print("OUTCOMES=" + json.dumps([[o.student, o.status, o.reason] for o in out]))
"""


def _spec(students: dict) -> dict:
    return {"assignment": A, "students": students}


def _one_worker(course: Path, todo, tmp: Path, **env):
    """Grade ``todo`` one after the other in one class worker (a child process, its own TMPDIR)."""
    env = dict(os.environ, TMPDIR=str(tmp), **env)
    proc = subprocess.run([sys.executable, "-c", WORKER, str(course), json.dumps(todo)], capture_output=True,
                          text=True, timeout=900, env=env, cwd=str(REPO))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    lines = dict(ln.split("=", 1) for ln in proc.stdout.splitlines() if ln.startswith(("BASE=", "OUTCOMES=")))
    return Path(lines["BASE"]), json.loads(lines["OUTCOMES"])


def _outputs(course: Path, student: str) -> str:
    nb = nbformat.read(course / "autograded" / student / A / f"{A}.ipynb", as_version=4)
    return "\n".join(o.get("text", "") + " ".join(o.get("traceback", [])) + o.get("evalue", "")
                     for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))


def _processes_mentioning(text: str) -> list:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(f"{pid}: {cmd[:200]}")
    return found


@pytest.fixture
def course(tmp_path):
    c = copy_course(tmp_path / "course", [A])
    nbgrader_cmd.release(c, [A])
    return c


@pytest.mark.slow
def test_each_warm_kernel_serves_one_submission_and_nothing_carries_over(course, tmp_path, isolated_env):
    who = ["w1", "w2", "w3"]
    samples.write_class(course, [_spec({w: {"patches": {"whiten": [[ANCHOR, PROBE.format(who=w) + ANCHOR]]}}
                                        for w in who})])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    base, outcomes = _one_worker(course, [[A, w] for w in who], tmp)
    assert [o[1] for o in outcomes] == ["graded"] * 3, outcomes
    for w in who:
        out = _outputs(course, w)
        assert "SEEN::END" in out, f"{w} saw another submission's traces: {out[-500:]}"
        assert f"CWD:{base}" in out, f"{w} was not graded in a warm kernel: {out[-300:]}"
        # what the notebook wrote in its folder is there afterwards, as without warm kernels
        assert (course / "autograded" / w / A / f"mark-{w}.txt").read_text() == w
        others = [p.name for p in (course / "autograded" / w / A).glob("mark-*") if p.name != f"mark-{w}.txt"]
        assert not others, f"{w}'s folder holds {others}"
    assert not list(tmp.glob("mark-*")), "a submission's /tmp reached the host's"
    # no kernel, sandbox or folder outlives the worker
    assert not base.exists(), sorted(p.name for p in base.rglob("*"))[:10]
    # this TMPDIR is too long for unix socket paths: the sockets went to a folder in /tmp
    assert not list(Path("/tmp").glob(base.name + "-*")), "a socket folder outlived its worker"
    assert not _processes_mentioning(str(tmp)), _processes_mentioning(str(tmp))


@pytest.mark.slow
def test_a_warm_kernel_that_dies_gets_a_cold_one_in_the_submission_folder(course, tmp_path, isolated_env):
    spec = samples.load_spec(REPO / "samples" / "normalization-hostile.json")
    killer = spec["students"]["hostile-os-exit"]
    # before dying it writes a file; the replacement kernel must find it in its own folder
    old, new = killer["patches"]["scale_to_symmetric"][0]
    killer["patches"] = {"scale_to_symmetric": [[old, new.replace("os._exit(1)", "open('before.txt', 'w').write('1')\n"
                                                                        "os._exit(1)")]],
                         "minmax_scale": [["def minmax_scale(X):", "import os\nprint('START-CWD:', os.getcwd())\n"
                                                                   "def minmax_scale(X):"]],
                         "whiten": [[ANCHOR, "import os\nprint('CWD-HAS:', os.getcwd(), sorted(os.listdir('.')))\n" + ANCHOR]]}
    correct = samples.load_spec(REPO / "samples" / f"{A}.json")["students"]["correct"]
    expected = samples.write_class(course, [_spec({"a-correct": correct, "b-killer": killer, "c-correct": correct})])
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    base, outcomes = _one_worker(course, [[A, s] for s in ("a-correct", "b-killer", "c-correct")], tmp)
    assert [o[1] for o in outcomes] == ["graded"] * 3, outcomes
    scores = {(r[0], r[1]): r[2] for r in nbgrader_cmd.grade_rows(course)}
    for key, want in expected.items():
        assert scores[key] == want, f"{key}: {scores[key]} != {want}"
    out = _outputs(course, "b-killer")
    assert "DeadKernelError" in out and "'before.txt'" in out, out[-800:]
    assert f"CWD-HAS: {course / 'autograded' / 'b-killer' / A} " in out, out[-800:]   # cold, in its folder
    assert f"START-CWD: {base}" in out, "it did not start in a warm kernel"
    assert (course / "autograded" / "b-killer" / A / "before.txt").exists()
    assert not base.exists() and not _processes_mentioning(str(tmp))


def test_mirror_copies_files_and_links_as_links_never_their_targets(tmp_path):
    src, dest = tmp_path / "src", tmp_path / "dest"
    (src / "sub").mkdir(parents=True)
    (src / "a.txt").write_text("a")
    (src / "sub" / "b.txt").write_text("b")
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    (src / "link").symlink_to(secret)
    os.mkfifo(src / "fifo")                       # would block a plain copy
    dest.mkdir()
    (dest / "stale.txt").write_text("deleted by the notebook")
    warm.mirror(src, dest)
    assert sorted(p.name for p in dest.rglob("*")) == ["a.txt", "b.txt", "link", "sub"]
    assert (dest / "sub" / "b.txt").read_text() == "b"
    assert (dest / "link").is_symlink() and os.readlink(dest / "link") == str(secret)


def test_warm_kernels_are_off_with_the_switch(monkeypatch):
    monkeypatch.setenv(warm.ENV, "0")
    warm.enable()
    assert not warm.enabled()
    warm.prepare("mlp-grader")
    assert warm.take("mlp-grader") is None
