"""The batch writer (grader/batchgrades.py) against the reference (grader/gradebook.save_autograded:
nbgrader's own SaveAutoGrades and AssignLatePenalties): the same submissions written both ways
into two identical gradebooks must leave identical rows, cell by cell, on SQLite and PostgreSQL.

The assignment is built here with nbgrader's API so that every kind of cell is present: an
autograded code test, a manually graded written answer (grade + solution), an ungraded answer,
a task, and a second notebook. The submissions cover an on-time, a late (penalty "zero"), a
failed test, partial credit, a flagged notebook, a missing notebook, a blank one, an unknown
notebook and cell, an extension, a failed grading (submission row only), then a regrade of all
of them after a TA's manual grade and extra credit.
"""
import datetime
import shutil

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output
from traitlets.config import Config

from grader import batchgrades
from grader.gradebook import dump_rows, save_autograded

DUE = datetime.datetime(2024, 3, 1, 12, 0, 0)
# (notebook, grade_id, kind, cell_type, points, source students receive)
CELLS = [
    ("one", "ans", "solution", "code", None, "# YOUR CODE HERE"),
    ("one", "t1", "grade", "code", 2.0, "assert f() == 1"),
    ("one", "t_partial", "grade", "code", 4.0, "score()"),
    ("one", "written", "grade+solution", "markdown", 3.0, "YOUR ANSWER HERE"),
    ("one", "task1", "task", "markdown", 1.0, "Describe the plot."),
    ("two", "ans2", "solution", "code", None, "# YOUR CODE HERE"),
    ("two", "t2", "grade", "code", 1.0, "assert g() == 2"),
]


@pytest.fixture(autouse=True)
def nbgrader_path(monkeypatch):
    """nbgrader runs ``alembic`` from PATH when it creates a gradebook."""
    import os
    from grader.course import nbgrader_env
    monkeypatch.setenv("PATH", nbgrader_env(dict(os.environ))["PATH"])


def _meta(kind, grade_id, points):
    m = {"grade": "grade" in kind, "solution": "solution" in kind, "task": kind == "task",
         "locked": kind in ("grade", "task"), "grade_id": grade_id, "schema_version": 3}
    if points is not None:
        m["points"] = points
    return m


def _cell(nb_name, grade_id, kind, cell_type, points, source):
    new = new_code_cell if cell_type == "code" else new_markdown_cell
    cell = new(source, metadata={"nbgrader": _meta(kind, grade_id, points)})
    from nbgrader.utils import compute_checksum
    cell.metadata.nbgrader["checksum"] = compute_checksum(cell)
    return cell


def _release(url):
    """The assignment in a fresh gradebook, as ``nbgrader generate_assignment`` records it."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        gb.add_assignment("hw", duedate=DUE)
        for nb in ("one", "two"):
            gb.add_notebook(nb, "hw")
        for nb, gid, kind, ctype, points, source in CELLS:
            if "grade" in kind:
                gb.add_grade_cell(gid, nb, "hw", max_score=points, cell_type=ctype)
            if "solution" in kind:
                gb.add_solution_cell(gid, nb, "hw")
            if kind == "task":
                gb.add_task_cell(gid, nb, "hw", max_score=points, cell_type=ctype)
            gb.add_source_cell(gid, nb, "hw", cell_type=ctype, locked=kind in ("grade", "task"),
                               source=source)
        for s in ("extended",):
            gb.add_student(s)
            gb.add_submission("hw", s)
            gb.grant_extension("hw", s, days=2)


def _notebook(name, answered=True, fail=(), partial=None, unknown_cell=False):
    cells = []
    for nb, gid, kind, ctype, points, source in CELLS:
        if nb != name:
            continue
        cell = _cell(nb, gid, kind, ctype, points, source)
        if answered and "solution" in kind:
            cell.source = "def f():\n    return 1" if ctype == "code" else "Because of the variance."
        if ctype == "code" and "grade" in kind:
            if gid in fail:
                cell.outputs = [new_output("error", ename="AssertionError", evalue="", traceback=[])]
            elif gid == "t_partial" and partial is not None:
                cell.outputs = [new_output("execute_result", data={"text/plain": str(partial)},
                                           execution_count=1)]
        cells.append(cell)
    if unknown_cell:        # a grade cell the gradebook does not know: nbgrader stops there
        cells.insert(1, _cell(name, "not-released", "grade", "code", 1.0, "pass"))
    return nbformat.from_dict(new_notebook(cells=cells))


def _first_round():
    A = batchgrades.Autograded
    both = lambda **kw: {"one": _notebook("one", **kw), "two": _notebook("two")}    # noqa: E731
    return [
        A("hw", "ontime", both(partial=1.5), timestamp="2024-03-01 11:00:00 UTC"),
        A("hw", "late", both(), timestamp=datetime.datetime(2024, 3, 2, 9, 30)),
        A("hw", "failed", both(fail=("t1",)), timestamp="2024-03-01 10:00:00"),
        A("hw", "flagged", both(), flagged=frozenset({"one"})),
        A("hw", "missing", {"one": _notebook("one")}, timestamp="2024-03-05 10:00:00"),
        A("hw", "blank", {"one": _notebook("one", answered=False), "two": _notebook("two", answered=False)}),
        A("hw", "extra", {"one": _notebook("one"), "two": _notebook("two", unknown_cell=True),
                          "three": _notebook("one")}, timestamp="2024-03-02 10:00:00"),
        A("hw", "extended", both(), timestamp="2024-03-02 10:00:00"),
        A("hw", "crashed", None, timestamp="2024-03-01 09:00:00"),   # failed: no timestamp kept
    ]


def _second_round():
    A = batchgrades.Autograded
    return [
        A("hw", "ontime", {"one": _notebook("one", fail=("t1", "t_partial")), "two": _notebook("two")},
          timestamp="2024-03-01 11:30:00"),
        A("hw", "late", {"one": _notebook("one", partial=0.25), "two": _notebook("two")}),
        A("hw", "failed", {"one": _notebook("one"), "two": _notebook("two", fail=("t2",))}),
        A("hw", "flagged", {"one": _notebook("one"), "two": _notebook("two")}, flagged=frozenset({"two"})),
        A("hw", "missing", {"one": _notebook("one"), "two": _notebook("two")}),
        A("hw", "crashed", {"one": _notebook("one", answered=False)}, timestamp="2024-03-04 00:00:00"),
        A("hw", "newcomer", {"two": _notebook("two")}),
    ]


def _ta_grades(url):
    """A TA grades by hand between the rounds: a manual score and extra credit."""
    from nbgrader.api import Gradebook
    with Gradebook(url) as gb:
        g = gb.find_grade("written", "one", "hw", "ontime")
        g.manual_score, g.extra_credit = 2.5, 0.5
        gb.find_grade("t1", "one", "hw", "late").extra_credit = 1.0
        gb.db.commit()


def _reference(url, config, item):
    """What the driver wrote per result before the batch writer (nbgrader's own code path)."""
    if item.notebooks is None:
        from nbgrader.api import Gradebook
        with Gradebook(url) as gb:
            gb.update_or_create_student(item.student)
            gb.update_or_create_submission(item.assignment, item.student)
        return
    save_autograded(url, config, item.assignment, item.student, item.notebooks, item.timestamp, item.flagged)


def _config():
    c = Config()
    c.LateSubmissionPlugin.penalty_method = "zero"
    return c


def _compare(ref_url, batch_url):
    config, rounds = _config(), []
    for round_, between in ((_first_round, None), (_second_round, _ta_grades)):
        if between:
            between(ref_url)
            between(batch_url)
        items = round_()
        for item in items:
            _reference(ref_url, config, item)
        written = batchgrades.save_autograded_many(batch_url, config, round_())
        want, got = dump_rows(ref_url), dump_rows(batch_url)
        for part in want:
            assert got[part] == want[part], f"{round_.__name__}: {part} differ"
        assert set(written) == {(i.assignment, i.student) for i in items}
        for (a, s), w in written.items():
            score, mx, flagged = got["submissions"][(a, s)]
            assert (w.score, w.max_score, w.flagged) == (score, mx, bool(flagged)), (a, s)
        rounds.append(want)
    return rounds


def _check_cases(rounds):
    """The cases are what they claim to be (else the comparison would prove little)."""
    first, rows = rounds
    before, sub = first["submissions"], rows["submissions"]
    assert first["grades"][("hw", "failed", "one", "t1")][0] == 0 < first["grades"][("hw", "flagged", "one", "t1")][0]
    assert sub[("hw", "failed")][0] > sub[("hw", "ontime")][0] > 0, "the regrade changed no score"
    assert first["comments"][("hw", "blank", "two", "ans2")] == "No response."
    assert first["grades"][("hw", "ontime", "one", "t_partial")][0] == 1.5
    assert first["grades"][("hw", "missing", "two", "t2")][:3:2] == (0, False)
    assert first["notebooks"][("hw", "flagged", "one")][0]
    assert first["grades"][("hw", "crashed", "one", "t1")][0] is None, "a failed grading wrote grades"
    assert first["grades"][("hw", "extra", "two", "t2")][0] is None, "the cells after an unknown one count"
    assert rows["notebooks"][("hw", "late", "one")][1] is not None, "no late penalty was given"
    assert rows["notebooks"][("hw", "extended", "one")][1] is None, "the extension was ignored"
    assert rows["grades"][("hw", "ontime", "one", "written")][1] == 2.5
    assert rows["grades"][("hw", "newcomer", "one", "t1")][0] == 0, "a missing notebook scores 0"
    assert rows["comments"][("hw", "crashed", "one", "ans")] == "No response."
    assert sub[("hw", "flagged")][2] == ("two",)


def test_batch_rows_equal_nbgrader_rows_on_sqlite(tmp_path):
    ref = tmp_path / "ref.db"
    _release(f"sqlite:///{ref}")
    shutil.copy(ref, tmp_path / "batch.db")
    _check_cases(_compare(f"sqlite:///{ref}", f"sqlite:///{tmp_path / 'batch.db'}"))


def test_a_failing_batch_writes_nothing(tmp_path):
    url = f"sqlite:///{tmp_path / 'gb.db'}"
    _release(url)
    before = dump_rows(url)
    items = _first_round()[:3] + [batchgrades.Autograded("no-such-assignment", "x", {})]
    with pytest.raises(Exception, match="no-such-assignment"):
        batchgrades.save_autograded_many(url, _config(), items)
    assert dump_rows(url) == before


@pytest.mark.slow
def test_batch_rows_equal_nbgrader_rows_on_postgresql():
    pytest.importorskip("psycopg2")
    from benchmarks.local_services import TempPostgres, postgres_bin
    if postgres_bin() is None:
        pytest.skip("no PostgreSQL server binaries")
    try:
        server = TempPostgres()
    except LookupError as exc:
        pytest.skip(str(exc))
    try:
        urls = [server.database("ref"), server.database("batch")]
        for url in urls:
            _release(url)
        _check_cases(_compare(*urls))
        for url in urls:
            batchgrades.engine(url).dispose()
    finally:
        server.close()
