"""The class command on a real Dask cluster: ``python -m grader class --scheduler tcp://...``.

A scheduler and two workers are started here as separate processes with the ``dask`` command
line, on 127.0.0.1 only. The workers get the submissions as bytes and grade them in their own
temporary courses; the driver writes ``autograded/`` and the gradebook. The scores must be the
sample class's designed scores; faults (a killed worker, a crashing submission, no scheduler)
must leave every gradebook row present exactly once, or nothing written at all.
"""
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from conftest import REPO, copy_course, free_port
from grader import classgrade, gradebook, outcome, samples
from grader.gradebook import dump_rows
from benchmarks.local_services import DaskProcesses

pytest.importorskip("distributed")
SPEC = REPO / "samples" / "normalization.json"
WORKER_MEMORY = "450MB"          # a grading worker process stays near 200 MB
CRASH_MB = 160                   # the crashing submission: larger than a worker may hold twice


# a task whose worker died twice is given up (KilledWorker); one task per worker thread at a time,
# so a crashing task takes no innocent one with it
CLUSTER_ENV = {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "1",
               "DASK_DISTRIBUTED__SCHEDULER__WORKER_SATURATION": "1.0"}


def start_cluster(tmp: Path, n_workers: int = 2, worker_env: dict | None = None) -> DaskProcesses:
    return DaskProcesses(n_workers, tmp / "dask-logs", env=CLUSTER_ENV, worker_env=worker_env,
                         memory_limit=WORKER_MEMORY)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.close()


def _run_class(course, *extra, timeout=900):
    return subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(course), *extra],
                          capture_output=True, text=True, timeout=timeout)


def _course(tmp_path, n_synthetic=None):
    course = copy_course(tmp_path / "course", ["normalization"])
    subprocess.run([sys.executable, "-m", "grader", "release", "--course", str(course)],
                   check=True, capture_output=True)
    if n_synthetic:
        expected = samples.synthetic_class(course, [SPEC], n_synthetic)
    else:
        expected = samples.write_class(course, [SPEC])
    return course, expected


def _check_rows(course, expected):
    rows = dump_rows(f"sqlite:///{course / 'gradebook.db'}")       # raises on a duplicate row
    got = {(s, a): score for (a, s), (score, _mx, _fl) in rows["submissions"].items()}
    assert got == {k: float(v) for k, v in expected.items()}, "scores differ from the designed ones"
    n_cells = len({k[3] for k in rows["grades"]})
    assert n_cells >= 2 and len(rows["grades"]) == n_cells * len(expected), "a grade row is missing"
    return rows


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_scheduler_grades_class_and_survives_a_crashing_submission(tmp_path, isolated_env, cluster):
    course, expected = _course(tmp_path)
    # a submission that kills whichever worker process grades it (it outgrows the worker's memory
    # limit; the nanny kills the process), on both workers: recorded failed, the class goes on
    crash = course / "submitted" / "crash-huge" / "normalization"
    crash.mkdir(parents=True)
    nb = nbformat.read(course / "submitted" / "correct" / "normalization" / "normalization.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_markdown_cell("x" * (CRASH_MB * 2**20)))
    nbformat.write(nb, crash / "normalization.ipynb")

    proc = _run_class(course, "--scheduler", cluster.address)
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    n = len(expected) + 1
    assert f"{n} submissions: {n - 1} graded, 0 timed out, 0 flagged, 1 failed" in proc.stdout, proc.stdout
    assert "normalization/crash-huge: its grading worker died every time" in proc.stdout

    rows = _check_rows(course, expected)            # the crasher left no row; the rest are exact
    assert rows["students"] == {s for s, _ in expected} | {"crash-huge"}
    assert not rows["submissions"].get(("normalization", "correct"))[2], "nothing was flagged"
    for student, a in expected:
        assert (course / "autograded" / student / a / "normalization.ipynb").is_file()
        assert list((course / "feedback" / student / a).glob("*.html")), f"no feedback for {student}"
    assert not (course / "autograded" / "crash-huge").exists()
    state = json.loads((course / outcome.STATE_DIR / "normalization" / "crash-huge.json").read_text())
    assert state["status"] == "failed"

    # --resume: everything is recorded, nothing is sent to the cluster again
    records = {p: p.stat().st_mtime_ns for p in (course / outcome.STATE_DIR).glob("*/*.json")}
    again = _run_class(course, "--scheduler", cluster.address, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{n} submissions: {n - 1} graded, 0 timed out, 0 flagged, 1 failed" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in records} == records, "--resume graded a submission again"


@pytest.mark.slow
def test_worker_killed_mid_run_tasks_run_elsewhere(tmp_path, isolated_env, cluster):
    course, expected = _course(tmp_path, n_synthetic=6)
    proc = subprocess.Popen([sys.executable, "-m", "grader", "class", "--course", str(course),
                             "--scheduler", cluster.address], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    # wait until worker 1 is grading (its grading kernel runs), then kill its process outright
    deadline, killed = time.time() + 600, None
    while time.time() < deadline and proc.poll() is None:
        try:
            w = cluster.worker_process(1)
            grading = w is not None and bool(w.children())      # its grading kernel runs
        except Exception:       # a process that just exited
            w, grading = None, False
        if grading:
            killed = w.pid
            os.kill(w.pid, signal.SIGKILL)
            break
        time.sleep(0.2)
    out, err = proc.communicate(timeout=900)
    assert killed, "the kill must land while worker 1 grades"
    assert proc.returncode == 0, out + err[-5000:]
    assert f"{len(expected)} submissions: {len(expected)} graded" in out, out
    _check_rows(course, expected)                    # every row once, scores exact
    # the nanny restarted worker 1; the cluster is whole again for whatever runs next
    cluster.wait_for_workers(2)


@pytest.mark.slow
def test_a_task_that_raises_on_a_broken_worker_is_reported_not_recorded_and_resume_retries(
        tmp_path, isolated_env, cluster):
    # A worker whose Python cannot import nbgrader (a broken install: an ordinary error, not a crash):
    # every task raises there. The class reports each one failed "on the worker", records nothing,
    # and --resume on a healthy cluster grades them all.
    shadow = tmp_path / "broken-site" / "nbgrader"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("nbgrader is not installed on this worker")\n')
    broken = start_cluster(tmp_path / "broken", n_workers=1, worker_env={"PYTHONPATH": str(shadow.parent)})
    try:
        course, expected = _course(tmp_path)
        proc = _run_class(course, "--scheduler", broken.address)
    finally:
        broken.close()
    n = len(expected)
    assert f"{n} submissions: 0 graded, 0 timed out, 0 flagged, {n} failed" in proc.stdout, proc.stdout + proc.stderr
    assert "normalization/correct: on the worker: ImportError: nbgrader is not installed on this worker" in proc.stdout
    assert not list((course / outcome.STATE_DIR).glob("*/*.json")), "a worker error must not be recorded"
    rows = dump_rows(f"sqlite:///{course / 'gradebook.db'}")
    assert not rows["submissions"] and not rows["grades"], "nothing may reach the gradebook"
    assert not (course / "autograded").exists()

    again = _run_class(course, "--scheduler", cluster.address, "--resume")
    assert again.returncode == 0, again.stdout + again.stderr[-3000:]
    assert f"{n} submissions: {n} graded" in again.stdout, again.stdout
    _check_rows(course, expected)


def test_unreachable_scheduler_fails_fast_and_writes_nothing(tmp_path):
    course = copy_course(tmp_path / "course", ["normalization"])
    subprocess.run([sys.executable, "-m", "grader", "release", "--course", str(course)],
                   check=True, capture_output=True)
    samples.write_class(course, [SPEC])
    before = _sha(course / "gradebook.db")
    t0 = time.time()
    proc = _run_class(course, "--scheduler", f"tcp://127.0.0.1:{free_port()}", timeout=120)
    took = time.time() - t0
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:" in proc.stderr
    assert "Nothing was graded or written" in proc.stderr
    assert took < 60, f"took {took:.0f} s to give up"      # 5 s connect timeout + interpreter start-up
    assert _sha(course / "gradebook.db") == before
    assert not (course / "autograded").exists() and not (course / outcome.STATE_DIR).exists()


def test_scheduler_option_rejects_a_bad_address(tmp_path):
    course = copy_course(tmp_path / "course", ["normalization"])
    for bad in ("localhost:8786", "http://localhost:8786"):   # no scheme; not one of Dask's transports
        proc = _run_class(course, "--scheduler", bad, timeout=60)
        assert proc.returncode == 2, proc.stderr
        assert "--scheduler must be 'local', 'dask' or a Dask scheduler address (tcp://HOST:PORT" in proc.stderr
        assert f"got {bad!r}" in proc.stderr


def _fake_results(course):
    """Workers' results for the sample class, without workers: each submitted notebook as if
    autograded (a failed test in some, a timed-out cell in one), one failed grading, and one
    result for an assignment the gradebook does not have (its rows cannot be written)."""
    results = []
    for k, folder in enumerate(sorted((course / "submitted").glob("*/normalization"))):
        nb = nbformat.read(folder / "normalization.ipynb", as_version=4)
        tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
        for cell in tests[:k % 3]:
            cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError", evalue="", traceback=[])]
        if k == 1:
            tests[-1].outputs = [nbformat.v4.new_output("error", ename="CellTimeoutError", evalue="", traceback=[])]
        res = {"success": k != 2, "log": "nbgrader: boom" if k == 2 else "", "reason": "boom" if k == 2 else "",
               "seconds": float(k), "files": {"normalization.ipynb": nbformat.writes(nb).encode()}}
        results.append(("normalization", folder.parent.name, res,
                        outcome.submission_digest(course, "normalization", folder.parent.name)))
    ghost = course / "submitted" / "ghost" / "unreleased"
    ghost.mkdir(parents=True)
    (ghost / "unreleased.ipynb").write_bytes(results[0][2]["files"]["normalization.ipynb"])
    results.append(("unreleased", "ghost", dict(results[0][2], files={"unreleased.ipynb": b"{}"}),
                    outcome.submission_digest(course, "unreleased", "ghost")))
    # a result that would write outside its folder: refused, that submission alone fails
    a, s, res, digest = results[0]
    results.append((a, "evil", dict(res, files=dict(res["files"], **{"../x.txt": b"x"})), digest))
    return results


def test_batched_driver_writes_what_the_per_result_driver_writes(tmp_path):
    import copy
    import shutil
    from dataclasses import asdict
    from grader import course as grader_course, distributed
    course, _expected = _course(tmp_path)
    ref, pooled = tmp_path / "ref", tmp_path / "pooled"
    shutil.copytree(course, ref)
    shutil.copytree(course, pooled)
    config = grader_course.load_config(course)
    results = _fake_results(course)
    urls = {c: f"sqlite:///{c / 'gradebook.db'}" for c in (course, ref, pooled)}
    for c in (course, ref, pooled):         # as grade_with_dask does before anything is sent
        gradebook.prepare(c, [(a, s) for a, s, _, _ in results[:-2]])
    old = []
    for a, s, res, digest in results[:-2]:
        old.append(distributed.record_result(ref, urls[ref], config, a, s, copy.deepcopy(res), digest))
    new = distributed.record_results(course, urls[course], config, copy.deepcopy(results))
    pool = distributed.file_pool(2)         # the file work in other processes, as on a multi-core driver
    try:
        in_pool = distributed.record_results(pooled, urls[pooled], config, copy.deepcopy(results), pool)
    finally:
        pool.shutdown()
    assert [asdict(o) for o in in_pool[:-1]] == [asdict(o) for o in new[:-1]]
    assert in_pool[-1].status == "failed" and "refusing to write outside" in in_pool[-1].reason
    assert dump_rows(urls[pooled]) == dump_rows(urls[ref])

    assert [asdict(o) for o in new[:-2]] == [asdict(o) for o in old]
    ghost, evil = new[-2:]
    assert evil.status == "failed" and "its autograded files could not be written: ValueError: refusing" in evil.reason
    assert not (course / "x.txt").exists() and not (course / "autograded" / "x.txt").exists()
    assert not list((course / "autograded").glob("*/.*part*")), "a half-written folder was left"
    assert (ghost.student, ghost.status) == ("ghost", "failed")
    assert "its gradebook rows could not be written: MissingEntry" in ghost.reason
    assert not outcome.state_path(course, "unreleased", "ghost").exists(), "--resume must redo it"
    assert dump_rows(urls[course]) == dump_rows(urls[ref])
    assert {o.status for o in old} == {"graded", "failed"} and any(o.timed_out for o in old)
    assert len({o.score for o in old}) > 1, "the results should not all score the same"
    for o in new[:-2]:
        assert json.loads(outcome.state_path(course, o.assignment, o.student).read_text())["score"] == o.score
        for c in (course, pooled):
            assert _sha(c / "autograded" / o.student / o.assignment / "normalization.ipynb") == \
                _sha(ref / "autograded" / o.student / o.assignment / "normalization.ipynb")


def test_driver_writes_notebooks_jupyter_reads_back_sanitized(tmp_path):
    """The driver's fast reader and compact writer: what it writes is valid nbformat 4, equal
    (after sanitizing) to what the worker sent, non-ASCII intact, hostile output gone."""
    import copy
    from grader import distributed
    from grader.sanitize import sanitize_notebook
    nb = nbformat.read(REPO / "source" / "normalization" / "normalization.ipynb", as_version=4)
    code = next(c for c in nb.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/html": "<b>ok</b><script>alert(1)</script>",
                                                                 "text/plain": "ok"}),
                    nbformat.v4.new_output("stream", name="stdout", text="học máy ✓\nline 2\n")]
    nb.metadata["note"] = "Tiếng Việt"
    sent = nbformat.writes(nb).encode()         # indented, sources split in lines, as nbgrader writes
    res = {"files": {"normalization.ipynb": sent, "extra/inner.ipynb": sent, "broken.ipynb": b"{not json"}}
    parsed = distributed.unpack_result(tmp_path, "normalization", "s1", res)
    want = copy.deepcopy(nb)
    sanitize_notebook(want)
    folder = tmp_path / "autograded" / "s1" / "normalization"
    for rel in ("normalization.ipynb", "extra/inner.ipynb"):
        back = nbformat.read(folder / rel, as_version=4)
        nbformat.validate(back)                 # raises on an invalid notebook
        assert back == want, rel
        assert "<script" not in (folder / rel).read_text(encoding="utf-8")
    assert parsed == {"normalization": want}, "top-level notebooks only, parsed as written"
    assert (folder / "broken.ipynb").read_bytes() == b"{not json", "a broken file is kept as sent"
    assert "Tiếng Việt" in (folder / "normalization.ipynb").read_text(encoding="utf-8")
    v3 = nbformat.writes(nbformat.convert(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1")]), 3))
    assert distributed.read_notebook(v3.encode()).nbformat == 4, "an nbformat 3 file is converted"
