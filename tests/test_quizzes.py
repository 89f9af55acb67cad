"""The multiple-choice quizzes of the slides (issue 8) in the assignments.

Naming convention: a quiz question ``quiz-<seed>-<name>`` (e.g. ``quiz-000-q1``) is three cells of an
assignment in ``source/``: the question (markdown, grade_id ``quiz-<...>-text``), the answer cell
(solution, grade_id ``quiz-<...>``, setting ``answer_<seed>_<name> = {...}``) and the grade cell
(grade_id ``quiz-<...>-test``, 1 point): its visible part checks only the format with
``utils.checks.check_choice``; its hidden part passes the right set as ``expected=``.

Seed 000's Q3 is the exception (issue 18): its key rests on a reconstructed figure, so it is a hand-graded markdown
answer ``written-000-q3`` with a rubric in its solution. No lecture may state a quiz key before its "Quiz answers
(read after the deadline)" heading (``quiz_key_leaks``).
"""
from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import nbformat
import pytest

from utils.checks import CheckError, check_choice

REPO = Path(__file__).resolve().parents[1]
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS(.*?)### END HIDDEN TESTS", re.S)
SOLUTION = re.compile(r"### BEGIN SOLUTION(.*?)### END SOLUTION", re.S)
SEED_000 = [f"quiz-000-q{k}" for k in (1, 2, 4, 5, 6)]
# seed 000's Q3 is graded by hand (issue 18): its key rests on a pipeline figure that the course reconstructed
MANUAL = {"written-000-q3": "babysitting"}


def _gid(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _quizzes():
    """[(assignment, grade_id, variable, answer set, answer cell, test cell)] over source/."""
    out = []
    for path in sorted((REPO / "source").glob("*/*.ipynb")):
        nb = nbformat.read(path, 4)
        cells = {_gid(c): c for c in nb.cells if _gid(c)}
        for gid, cell in cells.items():
            if not (gid.startswith("quiz-") and cell.metadata["nbgrader"].get("solution")):
                continue
            body = SOLUTION.search(cell.source)
            assert body, f"{path.name}: answer cell {gid} has no solution region"
            tree = ast.parse(body.group(1))
            (assign,) = [n for n in tree.body if isinstance(n, ast.Assign)]
            answer = ast.literal_eval(assign.value)
            out.append((path.parent.name, gid, assign.targets[0].id, answer, cell, cells.get(gid + "-test")))
    return out


QUIZZES = _quizzes()


def _literals(answer):
    """Ways the answer set could be written in a notebook: every order, quote style and spacing."""
    forms = set()
    for perm in itertools.permutations(sorted(answer)):
        for q in ('"', "'"):
            for sep in (", ", ","):
                body = sep.join(f"{q}{c}{q}" for c in perm)
                forms |= {"{" + body + "}", "{ " + body + " }", "[" + body + "]"}
    return forms


def test_quizzes_are_found():
    assert len(QUIZZES) >= 6
    ids = [gid for _, gid, *_ in QUIZZES]
    assert len(ids) == len(set(ids)), "a quiz grade_id is used twice across source/"


@pytest.mark.parametrize("qid", SEED_000)
def test_every_seed_000_question_has_a_graded_cell(qid):
    found = [(a, test) for a, gid, _, _, _, test in QUIZZES if gid == qid]
    assert len(found) == 1, f"{qid}: expected exactly one answer cell in source/, found {len(found)}"
    assignment, test = found[0]
    assert test is not None, f"{assignment}: {qid} has no grade cell {qid}-test"
    meta = test.metadata["nbgrader"]
    assert meta["grade"] and meta["locked"] and meta["points"] == 1
    assert "### BEGIN HIDDEN TESTS" in test.source
    release = nbformat.read(REPO / "release" / assignment / f"{assignment}.ipynb", 4)
    assert any(_gid(c) == qid + "-test" for c in release.cells), f"release/{assignment} lacks {qid}-test"
    assert any(_gid(c) == qid + "-text" for c in release.cells), f"release/{assignment} lacks the question"


# each seed-000 question sits in the assignment of its topic (issue 8), and that assignment's lecture explains it
TOPIC = {"quiz-000-q1": "normalization", "quiz-000-q2": "normalization", "written-000-q3": "babysitting",
         "quiz-000-q4": "activations", "quiz-000-q5": "zero_init", "quiz-000-q6": "zero_init"}


def _lecture_of(assignment):
    intro = nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", 4).cells[0].source
    (lecture,) = set(re.findall(r"course/\d\d_\w+\.ipynb", intro))
    return lecture


@pytest.mark.parametrize("qid", SEED_000 + sorted(MANUAL))
def test_seed_000_question_is_in_the_assignment_of_its_topic(qid):
    if qid in MANUAL:
        (assignment,) = [p.parent.name for p in sorted((REPO / "source").glob("*/*.ipynb"))
                         if any(_gid(c) == qid for c in nbformat.read(p, 4).cells)]
    else:
        (assignment,) = [a for a, gid, *_ in QUIZZES if gid == qid]
    assert assignment == TOPIC[qid], f"{qid} is in source/{assignment}, its topic is {TOPIC[qid]}"
    lecture = _lecture_of(assignment)
    cells = nbformat.read(REPO / lecture, 4).cells
    start = [k for k, c in enumerate(cells) if c.cell_type == "markdown"
             and c.source.startswith("## Quiz answers (read after the deadline)")]
    assert start, f"{lecture} has no 'Quiz answers (read after the deadline)' section"
    title = "### Quiz " + qid.split("-", 1)[1].replace("-q", "-Q")
    assert any(c.source.startswith(title) for c in cells[start[0]:]), f"{lecture}: no '{title}' in its quiz answers"
    others = [str(p) for p in sorted((REPO / "course").glob("*.ipynb")) if p != REPO / lecture
              and any(title + ":" in c.source for c in nbformat.read(p, 4).cells if c.cell_type == "markdown")]
    assert not others, f"{title} is answered in another lecture too: {others}"


@pytest.mark.parametrize("assignment, gid, var, answer", [q[:4] for q in QUIZZES], ids=[q[1] for q in QUIZZES])
def test_release_does_not_contain_the_answer(assignment, gid, var, answer):
    release = nbformat.read(REPO / "release" / assignment / f"{assignment}.ipynb", 4)
    forms = _literals(answer)
    for cell in release.cells:
        src = cell.source
        leaked = [f for f in forms if f in src]
        assert not leaked, f"release/{assignment} cell {_gid(cell) or cell.get('id')} shows {leaked[0]} ({gid})"
        assert "expected=" not in src, f"release/{assignment}: a hidden quiz check survived in {_gid(cell)}"
        if cell.cell_type == "code":
            try:
                tree = ast.parse(src)
            except SyntaxError:        # IPython magics
                continue
            for node in ast.walk(tree):
                if isinstance(node, (ast.Set, ast.List, ast.Tuple)) and node.elts and all(
                        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts):
                    assert {e.value for e in node.elts} != set(answer), (
                        f"release/{assignment} cell {_gid(cell)} builds the answer of {gid}")
    answer_cell = next(c for c in release.cells if _gid(c) == gid)
    code_lines = [ln for ln in answer_cell.source.splitlines() if not ln.lstrip().startswith("#")]
    assert "raise NotImplementedError()" in code_lines and not any(var in ln for ln in code_lines)


@pytest.mark.parametrize("assignment, gid, var, answer, cell, test", QUIZZES, ids=[q[1] for q in QUIZZES])
def test_grade_cell_checks_format_visibly_and_answer_hidden(assignment, gid, var, answer, cell, test):
    assert test is not None, f"{assignment}: no grade cell {gid}-test"
    hidden = HIDDEN.search(test.source)
    visible = HIDDEN.sub("", test.source)
    assert hidden and "check_choice(" in visible and "expected=" not in visible
    assert "expected=" in hidden.group(1)
    # run the cell as the grader does: the right answer passes, every other well-formed answer fails
    code = compile(test.source, f"{gid}-test", "exec")
    ns = {var: set(answer)}
    exec(code, ns)
    n_match = re.search(r"n=(\d)", visible)
    sizes = [int(n_match.group(1))] if n_match else range(1, 5)
    for k in sizes:
        for wrong in itertools.combinations("abcd", k):
            if set(wrong) == set(answer):
                continue
            with pytest.raises(CheckError, match="not the right answer"):
                exec(code, {var: set(wrong)})
    with pytest.raises(CheckError, match="got the string"):      # the visible part alone catches format errors
        exec(compile(visible, "visible", "exec"), {var: "".join(sorted(answer))})
    with pytest.raises(NameError):                                  # blank release: the variable is undefined
        exec(code, {})


def test_check_choice_shows_no_answer_in_its_format_messages():
    with pytest.raises(CheckError) as err:
        check_choice("a", "abcd", name="answer_x")
    assert "{'a'}" not in str(err.value) and '{"a"}' not in str(err.value)


# --- the drawing helpers used for the quiz figures -----------------------------------------
def test_draw_network_draws_one_circle_per_shown_node():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle
    from utils.plots import draw_network
    ax = draw_network([(2, "in", ["x1", "x2"]), (784, "big"), (3, "out")], max_nodes=6)
    circles = [p for p in ax.patches if isinstance(p, Circle)]
    assert len(circles) == 2 + 5 + 3           # 784 nodes are drawn as 5 and an ellipsis
    assert any(t.get_text() == "⋮" for t in ax.texts)
    assert {"x1", "x2", "in", "big", "out"} <= {t.get_text() for t in ax.texts}
    assert len(ax.lines) == 2 * 5 + 5 * 3      # all-to-all edges between consecutive layers
    with pytest.raises(ValueError, match="labels"):
        draw_network([(2, "in", ["only one"])])
    with pytest.raises(ValueError, match="at least one layer"):
        draw_network([])
    with pytest.raises(ValueError, match="max_nodes"):
        draw_network([(3, "in")], max_nodes=1)
    plt.close("all")


def test_draw_pipeline_numbers_the_stages():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle
    from utils.plots import draw_pipeline
    ax = draw_pipeline(["A", "B", "C", "D", "E"], ncols=4)
    assert len([p for p in ax.patches if isinstance(p, Rectangle)]) == 5
    assert [t.get_text() for t in ax.texts if t.get_text()] == [f"({k})\n{s}" for k, s in enumerate("ABCDE", 1)]
    with pytest.raises(ValueError):
        draw_pipeline([])
    plt.close("all")


# --- seed 000's Q3, graded by hand (issue 18) -------------------------------------------------
def test_q3_is_a_hand_graded_answer_with_a_rubric_that_release_strips():
    source = nbformat.read(REPO / "source" / "babysitting" / "babysitting.ipynb", 4).cells
    release = nbformat.read(REPO / "release" / "babysitting" / "babysitting.ipynb", 4).cells
    (answer,) = [c for c in source if _gid(c) == "written-000-q3"]
    meta = answer.metadata["nbgrader"]
    assert answer.cell_type == "markdown" and meta["solution"] and meta["grade"] and meta["points"] == 1
    assert "Rubric" in answer.source
    (question,) = [c for c in source if _gid(c) == "written-000-q3-text"]
    assert "Scoring (1 point, graded by hand)" in question.source, "the question must say how it is scored"
    (released,) = [c for c in release if _gid(c) == "written-000-q3"]
    assert "Rubric" not in released.source and "Model answer" not in released.source
    assert any(_gid(c) == "written-000-q3-text" for c in release)
    assert not any((_gid(c) or "").startswith("quiz-000-q3") for c in source), "Q3 is no longer autograded"


def test_q1_follows_the_seed_several_answers_and_says_the_scoring():
    (q1,) = [q for q in QUIZZES if q[1] == "quiz-000-q1"]
    assert len(q1[3]) >= 2, "seed 000 Q1 says 'chọn nhiều đáp án' (choose several answers)"
    text = next(c.source for c in nbformat.read(REPO / "source" / "normalization" / "normalization.ipynb", 4).cells
                if _gid(c) == "quiz-000-q1-text")
    assert "chọn nhiều đáp án" in text and "exactly the right set" in text
    others = [c for c in nbformat.read(REPO / "source" / "normalization" / "normalization.ipynb", 4).cells
              if c.cell_type == "markdown" and "Chuẩn hóa dữ liệu ảnh nào" in c.source]
    assert len(others) == 1, "seed 000 Q1 is asked once in the normalization assignment"


# --- no quiz key before the lecture's "Quiz answers" heading (issue 18) ------------------------
OPTION = re.compile(r"^\* \*\*([a-d])\)\*\*\s*(.+)$", re.M)
REFERS = re.compile(r"\bquiz\b|\bquestion\b|\bcâu hỏi\b", re.I)
STATES = re.compile(r"\banswers?\b[^.\n]{0,40}?(?:\(|\*\*|\b)([a-d])\)", re.I)


def _plain(text):
    """Lowercase text without markdown emphasis, code ticks, math and punctuation runs."""
    text = re.sub(r"\$[^$]*\$", " ", text)
    text = re.sub(r"[*`_>#\"'“”(),;:.!?]", " ", text)
    return " ".join(text.lower().split())


def _option_phrase(option):
    """The words of an option that name it: the part before a colon (``Sigmoid: 1/(1+e^-x)``), without math."""
    head = option.split(":", 1)[0] if ":" in option.split("$", 1)[0] else option
    return _plain(head)


def quiz_key_leaks(cells, questions):
    """Markdown cells before '## Quiz answers' that state a key: [(cell index, question id, why)].

    ``questions``: [(question id, key letters, {letter: option text}, original seed text)]. A cell leaks a key when it
    refers to a quiz question (the word quiz / question, or the seed's original wording) and either states an answer
    letter ("answer d)", "**Answer: (d)**") or contains the option text of a key letter.
    """
    found = []
    for k, cell in enumerate(cells):
        if cell.cell_type != "markdown":
            continue
        if cell.source.startswith("## Quiz answers"):
            break
        for para in [cell.source]:          # "next to": in the same markdown cell
            plain = _plain(para)
            for qid, key, options, original in questions:
                refers = REFERS.search(para) or (original and _plain(original)[:40] in plain)
                if not refers:
                    continue
                stated = {m.group(1).lower() for m in STATES.finditer(para)} & set(key)
                if stated:
                    found.append((k, qid, f"states answer {sorted(stated)}"))
                    continue
                texts = [_option_phrase(options[c]) for c in key if c in options]
                hit = [t for t in texts if len(t) >= 4 and re.search(r"(?<!\w)" + re.escape(t) + r"(?!\w)", plain)]
                if hit:
                    found.append((k, qid, f"names the key {hit}"))
    return found


def _questions_of(assignment):
    cells = {_gid(c): c for c in nbformat.read(REPO / "source" / assignment / f"{assignment}.ipynb", 4).cells if _gid(c)}
    out = []
    for a, gid, _, answer, _, _ in QUIZZES:
        if a != assignment:
            continue
        text = cells[gid + "-text"].source
        options = {m.group(1): m.group(2) for m in OPTION.finditer(text)}
        assert set(answer) <= set(options), f"{gid}: the key {sorted(answer)} is not among the options {sorted(options)}"
        orig = re.search(r"\*Original[^*]*\*:?\s*(?:\([^)]*\)\s*)?(.+)", text)
        out.append((gid, set(answer), options, orig.group(1).strip(' "') if orig else ""))
    return out


RELEASED = sorted({a for a, *_ in QUIZZES if (REPO / "release" / a / f"{a}.ipynb").exists()})


@pytest.mark.parametrize("assignment", RELEASED)
def test_lecture_states_no_quiz_key_before_its_quiz_answers(assignment):
    lecture = _lecture_of(assignment)
    leaks = quiz_key_leaks(nbformat.read(REPO / lecture, 4).cells, _questions_of(assignment))
    assert not leaks, f"{lecture} gives away quiz keys before 'Quiz answers (read after the deadline)': {leaks}"


def test_quiz_key_leak_detector_finds_the_leaks_of_issue_18():
    """The paragraphs that gave keys away before issue 18 (lectures 01 and 02), and harmless ones."""
    questions = _questions_of("activations") + _questions_of("normalization")
    md = nbformat.v4.new_markdown_cell
    leaking = [
        md("**Quiz (Insight slides, question 4).** *\"Activation nào không nên dùng cho mô hình sau?\"* — which\n"
           "activation should **not** be used? For a deep MLP the evidence above points to **sigmoid**."),
        md("This also answers the lecture's **quiz 2** (\"which code normalizes the data into [0, 255]?\"): none of\n"
           "them (answer d)."),
        md("## 8. Quiz 1: which normalizations give zero-mean data?\n\n**Answer: (c) and (d).**"),
    ]
    for cell in leaking:
        assert quiz_key_leaks([cell], questions), cell.source
    harmless = [md("* **Don't use sigmoid.** With 5 hidden layers the sigmoid network does not learn."),
                md("The slides end with two quiz questions; their answers are in the section *Quiz answers*.")]
    assert not quiz_key_leaks(harmless, questions)
    after = [md("## Quiz answers (read after the deadline)"), leaking[0]]
    assert not quiz_key_leaks(after, questions), "a key after the heading is where it belongs"
