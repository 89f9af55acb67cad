"""The class command: many submissions, worker processes, one SQLite gradebook.

Runs the real command line (``python -m grader class``) in a throw-away course and
checks every gradebook row against the synthetic class's known scores.
"""
import csv
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from grader import classgrade, outcome, samples
from conftest import REPO, copy_course

ASSIGNMENTS = ["normalization", "mlp_backprop"]


def _run_class(course, *extra, timeout=900):
    return subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(course), *extra],
                          capture_output=True, text=True, timeout=timeout)


def _db_rows(course):
    con = sqlite3.connect(course / "gradebook.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        subs = con.execute(
            "SELECT s.student_id, a.name FROM submitted_assignment s JOIN assignment a "
            "ON s.assignment_id = a.id").fetchall()
        dup_grades = con.execute(
            "SELECT notebook_id, cell_id, COUNT(*) FROM grade GROUP BY notebook_id, cell_id "
            "HAVING COUNT(*) > 1").fetchall()
        return subs, dup_grades
    finally:
        con.close()


def _scores(course):
    from grader.nbgrader_cmd import grade_rows
    return {(r[0], r[1]): r[2] for r in grade_rows(course)}


def _class(tmp_path, n):
    course = copy_course(tmp_path / "course", ASSIGNMENTS)
    subprocess.run([sys.executable, "-m", "grader", "release", "--course", str(course)],
                   check=True, capture_output=True)
    specs = [REPO / "samples" / f"{a}.json" for a in ASSIGNMENTS]
    expected = samples.synthetic_class(course, specs, n)
    return course, expected


@pytest.mark.slow
def test_class_command_grades_every_submission_concurrently(tmp_path, isolated_env, monkeypatch):
    course, expected = _class(tmp_path, 6)
    # the tampered and broken samples too: the summary must sort them into their groups
    tampered = samples.load_spec(REPO / "samples" / "normalization-tampered.json")
    tampered["students"] = {k: v for k, v in tampered["students"].items()
                            if k in ("tamper-edit-tests", "wrong-file-name")}
    samples.write_class(course, [tampered])
    loop = samples.load_spec(REPO / "samples" / "normalization-hostile.json")
    loop["students"] = {"hostile-infinite-loop": loop["students"]["hostile-infinite-loop"]}
    samples.write_class(course, [loop])
    monkeypatch.setenv("MLP_GRADER_CELL_TIMEOUT", "10")

    proc = _run_class(course, "--workers", "3")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    n = len(expected) + 3
    assert f"{n} submissions: {n - 1} graded, 1 timed out, 1 flagged, 1 failed" in out, out
    assert "normalization/hostile-infinite-loop: normalization.ipynb:cell" in out
    assert "normalization/tamper-edit-tests: normalization.ipynb: test cell `test_zscore_visible` was edited" in out
    assert "normalization/wrong-file-name: missing notebook normalization.ipynb" in out
    assert "To connect another client" not in out + proc.stderr, "grading kernels print their banner"

    subs, dups = _db_rows(course)
    assert len(subs) == len(set(subs)) == n, "one submission row per (student, assignment)"
    assert not dups, f"duplicate grade rows: {dups[:5]}"
    scores = _scores(course)
    for key, want in expected.items():
        assert scores[key] == pytest.approx(want), f"{key}: {scores[key]} != {want}"
    assert scores[("tamper-edit-tests", "normalization")] == 10   # 12 - the 2 points of the buggy zscore
    assert scores[("hostile-infinite-loop", "normalization")] == 10   # 12 - the 2 points of whiten

    with open(course / "grades.csv") as fh:
        table = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    for key, want in expected.items():
        assert table[key] == pytest.approx(want), f"grades.csv {key}: {table[key]} != {want}"
    for student, a in expected:
        assert list((course / "feedback" / student / a).glob("*.html")), f"no feedback for {a}/{student}"

    # idempotent: grading the class again changes nothing and adds no rows
    again = _run_class(course, "--workers", "2")
    assert again.returncode == 0, again.stderr
    assert _scores(course) == scores
    subs2, dups2 = _db_rows(course)
    assert sorted(subs2) == sorted(subs) and not dups2


@pytest.mark.slow
def test_killed_class_run_resumes_without_losing_rows(tmp_path, isolated_env):
    course, expected = _class(tmp_path, 5)
    state = course / outcome.STATE_DIR
    proc = subprocess.Popen([sys.executable, "-m", "grader", "class", "--course", str(course), "-w", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.time() + 600
    while time.time() < deadline and len(list(state.glob("*/*.json"))) < 3:
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)          # the TA's laptop dies mid-run
    proc.communicate()
    finished_before = {p: p.stat().st_mtime_ns for p in state.glob("*/*.json")}
    assert 3 <= len(finished_before) < len(expected), "the kill must land mid-way"
    _db_rows(course)                              # integrity_check after the kill

    resumed = _run_class(course, "--resume", "-w", "2")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert f"{len(expected)} submissions: {len(expected)} graded" in resumed.stdout
    scores = _scores(course)
    for key, want in expected.items():
        assert scores[key] == pytest.approx(want), f"{key}: {scores[key]} != {want}"
    subs, dups = _db_rows(course)
    assert len(subs) == len(set(subs)) == len(expected) and not dups
    # submissions finished before the kill were not graded again
    regraded = [p.name for p, mtime in finished_before.items() if p.stat().st_mtime_ns != mtime]
    assert not regraded, f"--resume graded these again: {regraded}"
    assert all(json.loads(p.read_text())["status"] == "graded" for p in state.glob("*/*.json"))


def test_synthetic_spec_cycles_through_well_formed_variants():
    spec = {"assignment": "x", "students": {
        "correct": {"expected_score": 10}, "blank": {"expected_score": 0, "blank": True},
        "bug-a": {"expected_score": 7, "patches": {}}, "broken": {"raw": "{", "expected_failure": "JSON"},
        "gone": {"missing": True, "expected_score": 0}}}
    out = samples.synthetic_spec(spec, 7)
    assert list(out["students"]) == ["s000-correct", "s001-blank", "s002-bug-a", "s003-correct",
                                     "s004-blank", "s005-bug-a", "s006-correct"]
    assert out["students"]["s005-bug-a"]["expected_score"] == 7
    with pytest.raises(samples.SpecError, match="no well-formed variant"):
        samples.synthetic_spec({"assignment": "x", "students": {"broken": {"raw": "{"}}}, 3)


def test_summary_sorts_outcomes_into_groups():
    O = outcome.Outcome
    text = outcome.summary([
        O("a", "s1", seconds=2.0), O("a", "s2", seconds=4.0, timed_out=["nb.ipynb:cell 3"]),
        O("a", "s3", seconds=1.0, flags=["nb.ipynb: test cell `t` was edited"]),
        O("a", "s4", status="failed", reason="JSONDecodeError: Expecting value")])
    assert text.splitlines()[0] == "4 submissions: 3 graded, 1 timed out, 1 flagged, 1 failed"
    assert "  a/s2: nb.ipynb:cell 3" in text and "  a/s4: JSONDecodeError: Expecting value" in text
    assert "median 2.0, max 4.0" in text


def test_class_command_rejects_bad_arguments(tmp_path):
    r = subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(tmp_path), "-w", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "--workers must be at least 1" in r.stderr
    course = copy_course(tmp_path / "c", ["normalization"])
    r = subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(course)],
                       capture_output=True, text=True)
    assert r.returncode == 1 and "nothing to grade" in r.stderr


def test_schema_checked_once_raises_what_jsonschema_raises():
    import jsonschema
    from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
    from grader.pool import SchemaCheckedOnce
    schema, fast = MetadataValidatorV3().schema, SchemaCheckedOnce()
    good = {"grade": True, "grade_id": "t", "locked": True, "points": 2, "schema_version": 3,
            "solution": False, "task": False}
    for meta in (good, dict(good, points="two"), {k: v for k, v in good.items() if k != "grade_id"},
                 dict(good, solution=3)):
        errors = []
        for validate in (jsonschema.validate, fast.validate):
            try:
                validate(meta, schema)
                errors.append(None)
            except jsonschema.ValidationError as exc:
                errors.append((exc.message, list(exc.path)))
        assert errors[0] == errors[1], meta
    assert errors[0] is not None and len(fast.validators) == 1
    bad_schema = {"type": "object", "properties": {"a": {"type": "no-such-type"}}}
    with pytest.raises(jsonschema.SchemaError):
        fast.validate({}, bad_schema)
