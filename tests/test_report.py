"""The class report (grader/report.py), the similarity ranking (grader/similarity.py) and the
Canvas/Moodle exports (grader/exports/), on a small graded class of known bugs."""
import csv
import os
import re
import subprocess
import sys

import pytest

from grader import report, samples, similarity
from conftest import REPO, copy_course

ASSIGNMENT = "dying_relu"

# which test cells each variant of samples/dying_relu.json fails (from its notes); the
# fixture checks these against the spec's expected scores, so the table cannot drift from the spec
FAILS = {
    "correct": set(),
    "blank": {"test_backward_visible", "test_backward_hidden", "test_dead_visible", "test_dead_hidden",
              "test_experiment_visible", "test_experiment_hidden"},
    "bug-relu-derivative-at-zero": {"test_backward_hidden"},
    "bug-dw-uses-preactivation": {"test_backward_visible", "test_backward_hidden"},
    "bug-dead-counts-entries": {"test_dead_visible", "test_dead_hidden", "test_experiment_visible",
                                "test_experiment_hidden"},
}
HOSTILE = ("import numpy as np\nnp.allclose = lambda *a, **k: True\n\n"
           "def dead_unit_fraction(activations):\n"
           "    raise ValueError(\"<img src=x onerror=alert(1)> 3 of 4\")\n")
HOSTILE_FAILS = {"test_dead_visible", "test_dead_hidden", "test_experiment_visible", "test_experiment_hidden"}


def _variant(student):
    return student.split("-", 1)[1] if re.match(r"s\d+-", student) else student


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    env = dict(os.environ, TQDM_DISABLE="1", MLP_GRADER_CELL_TIMEOUT="30", MPLCONFIGDIR=str(tmp / "mpl"),
               IPYTHONDIR=str(tmp / "ipy"), JUPYTER_CONFIG_DIR=str(tmp / "jc"), JUPYTER_DATA_DIR=str(tmp / "jd"),
               JUPYTER_RUNTIME_DIR=str(tmp / "jr"))
    course = copy_course(tmp / "course", [ASSIGNMENT])
    subprocess.run([sys.executable, "-m", "grader", "release", "--course", str(course)],
                   check=True, capture_output=True, env=env)
    expected = samples.synthetic_class(course, [REPO / "samples" / f"{ASSIGNMENT}.json"], 8)
    expected.update(samples.write_class(course, [{"assignment": ASSIGNMENT, "students": {
        "hostile-html": {"expected_score": None, "cells": {"dead_unit_fraction": HOSTILE}}}}]))
    proc = subprocess.run([sys.executable, "-m", "grader", "class", "--course", str(course), "--workers", "2"],
                          capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = tmp / "out"
    proc = subprocess.run([sys.executable, "-m", "grader", "report", "--course", str(course), "--out", str(out)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return course, out / "index.html", expected, env


def test_mask_numbers_groups_messages_that_differ_only_in_values():
    a = "CheckError: zscore(test): entry (2, 1) expected 0.5, got 0.4166667 (|diff| 0.083 > tol 5e-07)\nexpected:"
    b = "CheckError: zscore(test): entry (0, 3) expected -1.25, got 2e+03 (|diff| 1e3 > tol 1e-06)"
    assert report.mask_numbers(a) == report.mask_numbers(b) == \
        "CheckError: zscore(test): entry (#, #) expected #, got # (|diff| # > tol #)"
    assert report.mask_numbers("x_1 of layer2 failed") == "x_1 of layer2 failed"   # names keep their digits
    assert report.mask_numbers(a) != report.mask_numbers("CheckError: zscore(train): entry (2, 1) expected 0.5")


@pytest.mark.slow
def test_failure_groups_are_the_ones_the_spec_implies(graded):
    course, _, expected, _ = graded
    data = report.collect(course, [ASSIGNMENT])[ASSIGNMENT]
    by_student = {s.student: s for s in data}
    assert set(by_student) == {s for s, _ in expected}
    # the table above agrees with the spec: the points of the failed cells are the lost points
    for s in data:
        if s.student == "hostile-html":
            continue
        lost = sum(s.cells[c][1] for c in FAILS[_variant(s.student)])
        full = sum(m for _, m in s.cells.values())
        assert s.score == pytest.approx(expected[(s.student, ASSIGNMENT)]), s.student
        assert full - lost == pytest.approx(s.score), (s.student, s.cells)
    groups = report.common_failures(data)
    got = {(cell, frozenset(g["students"])) for cell, gs in groups.items() for g in gs}
    want = {}
    for s in data:
        fails = HOSTILE_FAILS if s.student == "hostile-html" else FAILS[_variant(s.student)]
        for cell in fails:
            # students of the same variant share one group (same masked message)
            want.setdefault((cell, "hostile" if s.student == "hostile-html" else _variant(s.student)),
                            set()).add(s.student)
    assert got == {(cell, frozenset(v)) for (cell, _), v in want.items()}
    blank = groups["test_dead_visible"]
    assert [g["count"] for g in blank][0] == 2 and blank[0]["message"].startswith("NotImplementedError")
    sm = report.summary(data)
    assert (sm["submissions"], sm["blank"], sm["failed"], sm["timed_out"]) == (9, 2, 0, 0)
    assert sm["flagged"] == 1          # the hostile one rebinds np.allclose
    items = {it["cell"]: it for it in report.item_analysis(data)}
    assert items["test_backward_hidden"]["pass_share"] == pytest.approx(4 / 9)   # 2 correct + 2 dead-counts
    assert items["test_backward_visible"]["pass_share"] == pytest.approx(6 / 9)


@pytest.mark.slow
def test_report_page_is_offline_escaped_and_links_the_flagged_notebook(graded):
    course, page, _, _ = graded
    text = page.read_text()
    assert "<img src=x" not in text and "&lt;img src=x onerror=alert(1)&gt;" in text
    assert "<script" not in text
    srcs = re.findall(r"""(?:src|href)=['"]([^'"#]+)""", text)
    assert srcs and all(s.startswith("data:image/png;base64,") or not re.match(r"\w+://", s) for s in srcs), srcs
    link = f"../course/autograded/hostile-html/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"
    assert f"href='{link}'" in text and (page.parent / link).is_file()
    for section in ("Summary", "Item analysis", "Common failures", "Similar submissions", "Flagged for review"):
        assert f"<h3>{section}</h3>" in text
    assert text.count("data:image/png;base64,") == 2      # histogram + item analysis


def _roster(course, path):
    ids = sorted(p.name for p in (course / "submitted").iterdir())
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["nbgrader_id", "name", "canvas_id", "sis_user_id", "sis_login_id", "section", "email", "idnumber"])
        for i, s in enumerate(ids):
            w.writerow([s, f"Student {i}", 1000 + i, f"S{i:04d}", f"{s}@uni", "A", f"{s}@uni.edu", f"N{i}"])
    return {s: i for i, s in enumerate(ids)}


@pytest.mark.slow
def test_canvas_and_moodle_exports_parse_back(graded, tmp_path):
    course, _, expected, env = graded
    index = _roster(course, tmp_path / "roster.csv")
    env = dict(env, PATH=os.pathsep.join([os.path.dirname(sys.executable), env["PATH"]]))
    for plugin, dest in (("canvas.CanvasExportPlugin", "canvas.csv"), ("moodle.MoodleExportPlugin", "moodle.csv")):
        cls = plugin.split(".")[1]
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "export", f"--exporter=grader.exports.{plugin}",
                               f"--{cls}.roster={tmp_path / 'roster.csv'}", "--to", str(tmp_path / dest)],
                              cwd=course, capture_output=True, text=True, env=env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(tmp_path / "canvas.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:5] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]
    assert rows[0]["Student"] == "Points Possible" and float(rows[0][ASSIGNMENT]) > 0
    canvas = {r["ID"]: float(r[ASSIGNMENT]) for r in rows[1:]}
    with open(tmp_path / "moodle.csv", newline="") as fh:
        moodle_rows = list(csv.DictReader(fh))
    assert list(moodle_rows[0])[:2] == ["ID number", "Email address"]
    moodle = {r["ID number"]: float(r[ASSIGNMENT]) for r in moodle_rows}
    for (student, a), score in expected.items():
        if score is None:
            continue
        i = index[student]
        assert canvas[str(1000 + i)] == pytest.approx(score), student
        assert moodle[f"N{i}"] == pytest.approx(score), student
    assert len(canvas) == len(moodle) == len(index)
    # a student missing from the roster is an error, not a silently dropped grade
    lines = (tmp_path / "roster.csv").read_text().splitlines()
    (tmp_path / "short.csv").write_text("\n".join(lines[:-1]) + "\n")
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "export",
                           "--exporter=grader.exports.moodle.MoodleExportPlugin",
                           f"--MoodleExportPlugin.roster={tmp_path / 'short.csv'}", "--to", str(tmp_path / "x.csv")],
                          cwd=course, capture_output=True, text=True, env=env)
    assert proc.returncode != 0 and "not in the roster" in proc.stdout + proc.stderr


# ---------------------------------------------------------------- similarity (no grading)

TEMPLATE = {"net": "def forward(x, w):\n    \"\"\"Affine then ReLU.\"\"\"\n    # YOUR CODE HERE\n"
                   "    raise NotImplementedError()\n\ndef loss(scores, y):\n    # YOUR CODE HERE\n"
                   "    raise NotImplementedError()\n"}
ORIGINAL = '''def forward(x, w):
    """Affine then ReLU."""
    hidden = x @ w
    hidden = np.maximum(hidden, 0.0)
    return hidden

def loss(scores, y):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    picked = log_probs[np.arange(len(y)), y]
    return -picked.mean()
'''
COPY = '''def loss(s, labels):
    # numerically stable
    z = s - s.max(axis=1, keepdims=True)
    lp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    chosen = lp[np.arange(len(labels)), labels]
    return -chosen.mean()

def forward(inp, weights):
    """Affine then ReLU."""
    out = inp @ weights
    out = np.maximum(out, 0.0)
    return out
'''
HONEST_1 = '''def forward(x, w):
    z = np.dot(x, w)
    return z * (z > 0)

def loss(scores, y):
    m = np.max(scores, axis=1, keepdims=True)
    p = np.exp(scores - m)
    p /= np.sum(p, axis=1, keepdims=True)
    return float(np.mean(-np.log(p[range(len(y)), y])))
'''
HONEST_2 = '''def forward(x, w):
    a = x.dot(w)
    a[a < 0] = 0
    return a

def loss(scores, y):
    total = 0.0
    for row, label in zip(scores, y):
        row = row - row.max()
        total += np.log(np.exp(row).sum()) - row[label]
    return total / len(y)
'''


def test_renamed_reordered_copy_ranks_first_above_honest_variants():
    students = {"ana": {"net": ORIGINAL}, "bob": {"net": COPY}, "cai": {"net": HONEST_1},
                "dee": {"net": HONEST_2}}
    pairs = similarity.rank_pairs(students, TEMPLATE)
    assert len(pairs) == 6
    assert (pairs[0]["a"], pairs[0]["b"]) == ("ana", "bob"), [(p["a"], p["b"], p["similarity"]) for p in pairs]
    assert pairs[0]["similarity"] > 0.9
    assert max(p["similarity"] for p in pairs[1:]) < 0.5 * pairs[0]["similarity"]
    assert pairs[0]["cells"][0]["left"] == ORIGINAL and pairs[0]["cells"][0]["right"] == COPY


def test_template_code_alone_makes_nobody_similar():
    students = {"ana": {"net": TEMPLATE["net"]}, "bob": {"net": TEMPLATE["net"] + "\n# I tried\n"}}
    assert similarity.rank_pairs(students, TEMPLATE) == []
    # and a real answer is not found similar to an untouched template
    pairs = similarity.rank_pairs({"ana": {"net": ORIGINAL}, "bob": TEMPLATE}, TEMPLATE)
    assert pairs[0]["similarity"] == 0.0


@pytest.mark.slow
def test_report_renders_offline_in_chromium(graded):
    """Chromium opens the page from disk with every network request refused; both plots
    decode; the screenshot is what docs/report.png shows (copy it from test-artifacts/)."""
    from playwright.sync_api import sync_playwright
    from browser import ARTIFACTS, CHROMIUM
    _, page_path, _, _ = graded
    ARTIFACTS.mkdir(exist_ok=True)
    requests = []
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            pg = b.new_page(viewport={"width": 1250, "height": 1100})
            pg.route(re.compile(r"^(?!file:|data:)"), lambda route: (requests.append(route.request.url), route.abort()))
            pg.goto(page_path.as_uri())
            widths = pg.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)")
            assert len(widths) == 2 and all(w > 100 for w in widths), widths
            assert pg.inner_text("h1") == "Class report"
            pg.screenshot(path=str(ARTIFACTS / "report.png"))
        finally:
            b.close()
    assert requests == [], requests


def test_report_before_grading_says_so_and_creates_no_gradebook(tmp_path):
    course = copy_course(tmp_path / "course", [ASSIGNMENT])
    proc = subprocess.run([sys.executable, "-m", "grader", "report", "--course", str(course)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1 and "grade the class first" in proc.stderr, proc.stderr
    assert not (course / "gradebook.db").exists() and not (course / "report").exists()
