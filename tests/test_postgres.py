"""The gradebook on a real PostgreSQL server (``MLP_GRADEBOOK_URL``), written by concurrent workers.

The test starts its own server: ``initdb`` into a temporary folder and ``pg_ctl start`` on a
free port of 127.0.0.1 (no unix socket), as Debian's ``postgres`` user when the tests run as
root (PostgreSQL refuses to run as root). It releases the normalization assignment into that
gradebook, grades the sample class with two worker processes writing at once, checks every
row, then stops the server and deletes its folder.
"""
import subprocess
import sys

import pytest

from conftest import REPO, copy_course, free_port
from grader import samples
from grader.gradebook import dump_rows
from benchmarks.local_services import TempPostgres, postgres_bin

pytestmark = pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries (initdb, pg_ctl) "
                                "are not installed: apt-get install postgresql")
SPEC = REPO / "samples" / "normalization.json"


@pytest.fixture
def postgres():
    """``postgresql+psycopg2://...`` of a fresh server and database; everything removed after."""
    pytest.importorskip("psycopg2")
    try:
        server = TempPostgres()
    except LookupError as exc:          # root without a `postgres` user
        pytest.skip(str(exc))
    try:
        yield server.database("mlp_gradebook")
    finally:
        server.close()
    assert not server.base.exists(), f"{server.base} was left behind"


def _grader(course, *args, env=None, timeout=900):
    return subprocess.run([sys.executable, "-m", "grader", *args, "--course", str(course)],
                          capture_output=True, text=True, timeout=timeout, env=env)


@pytest.mark.slow
def test_class_graded_into_postgresql(tmp_path, isolated_env, postgres, monkeypatch):
    monkeypatch.setenv("MLP_GRADEBOOK_URL", postgres)
    course = copy_course(tmp_path / "course", ["normalization"])
    rel = _grader(course, "release")
    assert rel.returncode == 0, rel.stderr
    assert not (course / "gradebook.db").exists(), "the release went to SQLite, not PostgreSQL"
    expected = samples.write_class(course, [SPEC])

    proc = _grader(course, "class", "--workers", "2")       # two processes writing at once
    assert proc.returncode == 0, proc.stdout + proc.stderr[-5000:]
    n = len(expected)
    assert f"{n} submissions: {n} graded, 0 timed out, 0 flagged, 0 failed" in proc.stdout, proc.stdout
    assert not (course / "gradebook.db").exists()

    rows = dump_rows(postgres)                      # raises on a duplicate submission or grade row
    assert rows["students"] == {s for s, _ in expected}
    assert {(s, a): sc for (a, s), (sc, _mx, _fl) in rows["submissions"].items()} == \
        {k: float(v) for k, v in expected.items()}
    maxes = {mx for _sc, mx, _fl in rows["submissions"].values()}
    assert len(maxes) == 1 and max(maxes) >= max(float(v) for v in expected.values()), maxes
    cells = sorted({k[3] for k in rows["grades"]})
    assert len(cells) >= 2 and len(rows["grades"]) == len(cells) * n, "a grade row is missing"
    # cell by cell: the correct solution earns every autograded point, the blank one none
    for cell in cells:
        auto, manual, _needs = rows["grades"][("normalization", "correct", "normalization", cell)]
        blank = rows["grades"][("normalization", "blank", "normalization", cell)]
        assert manual is None and blank[1] is None
        if auto is not None:
            assert auto > 0 and blank[0] == 0, f"{cell}: correct {auto}, blank {blank[0]}"
    for (a, s, nb, cell), auto in rows["grades"].items():
        assert auto[0] is None or auto[0] >= 0
    # the table and grades.csv read the same server
    import csv
    with open(course / "grades.csv") as fh:
        table = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    assert table == {k: float(v) for k, v in expected.items()}
    shown = _grader(course, "table")                # `python -m grader table` reads PostgreSQL too
    assert shown.returncode == 0, shown.stderr[-3000:]
    for (student, _a), score in expected.items():
        assert any(line.split()[:3] == ["normalization", student, f"{float(score):.2f}"]
                   for line in shown.stdout.splitlines()), (student, score, shown.stdout)

    # grading again (idempotent) adds no row and changes no score
    again = _grader(course, "class", "--workers", "2")
    assert again.returncode == 0, again.stderr[-3000:]
    assert dump_rows(postgres) == rows


def test_unreachable_postgresql_is_a_clear_error(tmp_path, monkeypatch):
    pytest.importorskip("psycopg2")
    monkeypatch.setenv("MLP_GRADEBOOK_URL", f"postgresql+psycopg2://nobody:secret@127.0.0.1:{free_port()}/x")
    course = copy_course(tmp_path / "course", ["normalization"])
    samples_dir = course / "submitted" / "s1" / "normalization"
    samples_dir.mkdir(parents=True)
    (samples_dir / "normalization.ipynb").write_text("{}")
    proc = _grader(course, "class", "--workers", "1", timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "cannot open the gradebook postgresql+psycopg2://nobody:***@127.0.0.1:" in proc.stderr
    assert "secret" not in proc.stderr
