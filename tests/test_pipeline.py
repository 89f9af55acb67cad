"""The nbgrader round trip for every assignment, in a temporary course directory.

source/ -> release (must equal the committed release/) -> sample class from
samples/<assignment>.json -> nbgrader autograde -> exact expected scores ->
feedback without hidden tests -> grades.csv. Also: source notebooks pass
nbgrader's validator, blank releases fail it.
"""
import csv
import json
from pathlib import Path

import nbformat
import pytest

from grader import nbgrader_cmd, samples, tamper
from conftest import REPO, copy_course

SPECS = sorted((REPO / "samples").glob("*.json"))
ASSIGNMENTS = sorted(p.name for p in (REPO / "source").iterdir() if p.is_dir())


def _spec(assignment):
    main = REPO / "samples" / f"{assignment}.json"
    if main.exists():
        return samples.load_spec(main)
    for s in SPECS:
        spec = samples.load_spec(s)
        if spec["assignment"] == assignment:
            return spec
    return None


def test_every_assignment_has_a_sample_class():
    specs = {samples.load_spec(s)["assignment"] for s in SPECS}
    assert set(ASSIGNMENTS) <= specs, f"assignments without samples/<name>.json: {set(ASSIGNMENTS) - specs}"
    for a in ASSIGNMENTS:
        studs = _spec(a)["students"]
        assert studs["correct"]["expected_score"] > 0 and studs["blank"]["expected_score"] == 0
        bugs = [k for k in studs if k.startswith("bug")]
        assert len(bugs) >= 2, f"{a}: needs at least two buggy sample submissions"
        for b in bugs:
            assert 0 < studs[b]["expected_score"] < studs["correct"]["expected_score"], (a, b)


def _strip(nb):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    return [(c.cell_type, c.source, c.metadata.get("nbgrader")) for c in nb.cells]


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_round_trip(assignment, tmp_path, isolated_env):
    course = copy_course(tmp_path / "course", [assignment])
    committed = {p.name: nbformat.read(p, 4) for p in (REPO / "release" / assignment).glob("*.ipynb")}
    nbgrader_cmd.release(course, [assignment])
    fresh = {p.name: nbformat.read(p, 4) for p in (course / "release" / assignment).glob("*.ipynb")}
    assert committed.keys() == fresh.keys(), "release/ lists other notebooks than source/ generates"
    for name in fresh:
        assert _strip(committed[name]) == _strip(fresh[name]), (
            f"release/{assignment}/{name} is stale: run `python -m grader release -a {assignment}`")

    expected = samples.build_samples(course, [assignment], where=lambda spec: spec.get("round_trip", True))
    failures = nbgrader_cmd.autograde(course, [assignment])
    rows = {(r[0], r[1]): r for r in nbgrader_cmd.grade_rows(course)}
    for (student, a), want in expected.items():
        if isinstance(want, tuple):      # a submission nbgrader cannot grade: reported, not fatal
            assert want[1] in failures.get((student, a), ""), (student, failures)
            continue
        if want is None:
            continue
        got = rows[(student, a)][2]
        assert got == pytest.approx(want), f"{a}/{student}: autograded score {got}, expected {want}"

    # tampering is flagged (a line in the notebook, `flagged` in the gradebook), nothing else is
    for spec_path in SPECS:
        spec = samples.load_spec(spec_path)
        if spec["assignment"] != assignment or not spec.get("round_trip", True):
            continue
        for student, info in spec["students"].items():
            nbs = sorted((course / "autograded" / student / assignment).glob("*.ipynb"))
            if not nbs or "expected_failure" in info:
                continue
            got = [f for p in nbs for f in tamper.flags_in(nbformat.read(p, 4))]
            want = info.get("expected_flags", [])
            for w in want:
                assert any(w in g for g in got), f"{assignment}/{student}: no flag saying {w!r}; flags: {got}"
            assert bool(got) == bool(want), f"{assignment}/{student}: unexpected flags {got}"
            assert rows[(student, assignment)][5] == bool(want), f"{assignment}/{student}: gradebook flag"
            if "expected_output" in info:      # e.g. the sandbox's "ATTACK-RESULT: blocked"
                text = "".join(o.get("text", "") for p in nbs for c in nbformat.read(p, 4).cells
                               if c.cell_type == "code" for o in c.outputs)
                assert info["expected_output"] in text and "succeeded" not in text, (
                    f"{assignment}/{student}: expected {info['expected_output']!r} in the output, got "
                    f"{[ln for ln in text.splitlines() if 'ATTACK' in ln]}")

    # feedback never shows hidden tests
    nbgrader_cmd.feedback(course, [assignment])
    src = nbformat.read(next((course / "source" / assignment).glob("*.ipynb")), 4)
    hidden = [ln.strip() for c in src.cells for ln in c.source.split("### BEGIN HIDDEN TESTS")[1:]
              for ln in ln.split("### END HIDDEN TESTS")[0].splitlines() if len(ln.strip()) > 25]
    assert hidden, "expected hidden tests in the source notebook"
    for html in (course / "feedback").glob(f"*/{assignment}/*.html"):
        text = html.read_text()
        leaked = [h for h in hidden if h in text]
        assert not leaked, f"{html} shows hidden test code: {leaked[:2]}"
        assert "BEGIN HIDDEN TESTS" not in text
        assert html.stat().st_size < 2_000_000, f"{html}: feedback is {html.stat().st_size:,} bytes (output not truncated)"

    out = nbgrader_cmd.export(course)
    with open(out) as fh:
        table = {(r["student_id"], r["assignment"]): float(r["score"]) for r in csv.DictReader(fh)}
    for key, want in expected.items():
        if want is not None and not isinstance(want, tuple):
            assert table[key] == pytest.approx(want)


@pytest.mark.slow
@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_validator_source_passes_release_fails(assignment, isolated_env):
    from nbgrader.validator import Validator
    for nb in (REPO / "source" / assignment).glob("*.ipynb"):
        result = Validator().validate(str(nb))
        assert result == {}, f"{nb} fails nbgrader validate: {json.dumps(result)[:2000]}"
    for nb in (REPO / "release" / assignment).glob("*.ipynb"):
        result = Validator(invert=True).validate(str(nb))
        # hidden-test cells are empty in the release and pass trivially; any test with code must fail
        passed = [c["source"] for c in result.pop("passed", [])
                  if any(ln.strip() and not ln.strip().startswith("#") for ln in c["source"].splitlines())]
        assert result == {} and not passed, f"{nb}: the blank release passes tests: {passed} {result}"
