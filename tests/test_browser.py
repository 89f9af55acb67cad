"""End to end in a real browser: JupyterLab 4 + nbgrader's extensions, driven by Playwright
with Debian's Chromium, on a throw-away copy of the course (no network).

Screenshots land in ``test-artifacts/`` (git-ignored): ``<test>.png`` on success and
``<test>-FAILED.png`` on failure.
"""
import re
import shutil
import time

import nbformat
import pytest
from playwright.sync_api import expect

from browser import ARTIFACTS, CHROMIUM, Lab, cleared_copy, run_all, run_all_without_errors, wait_kernel_idle
from conftest import REPO, copy_course
from grader import nbgrader_cmd, samples

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    course = copy_course(tmp / "course", ["normalization", "layers"])
    nbgrader_cmd.release(course, ["normalization", "layers"])
    spec = samples.load_spec(REPO / "samples" / "normalization.json")
    leaks = samples.load_spec(REPO / "samples" / "normalization-leaks.json")
    leaks["students"] = {k: v for k, v in leaks["students"].items() if v.get("expected_inert")}
    written = samples.load_spec(REPO / "samples" / "layers-leaks.json")   # a written answer with HTML
    expected = samples.write_class(course, [spec, leaks, written])
    nbgrader_cmd.autograde(course, ["normalization", "layers"])   # the TA's formgrader has a class to show
    nbgrader_cmd.feedback(course, ["normalization", "layers"])
    for name in ("01_normalization.ipynb", "02_activations.ipynb"):
        cleared_copy(REPO / "course" / name, course / "course" / name)
    (course / "student").mkdir()
    shutil.copy(course / "release" / "normalization" / "normalization.ipynb", course / "student")
    server = Lab(course, tmp / "home").start()
    server.expected = expected
    yield server
    server.stop()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser, request):
    ARTIFACTS.mkdir(exist_ok=True)
    pg = browser.new_page(viewport={"width": 1400, "height": 900})
    yield pg
    failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
    pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}{'-FAILED' if failed else ''}.png"))
    pg.close()


def _open_notebook(lab, page, path):
    lab.open(page, path)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator, .jp-KernelStatus", timeout=60_000)
    page.wait_for_function("() => document.body.innerText.includes('Idle')", timeout=120_000)


def test_lecture_notebook_runs_with_plots_and_no_errors(lab, page):
    _open_notebook(lab, page, "course/01_normalization.ipynb")
    assert page.locator(".jp-OutputArea-output img").count() == 0      # outputs were cleared
    run_all_without_errors(page)
    assert page.locator(".jp-OutputArea-output img").count() >= 5, "plots did not render"


def test_activation_explorer_slider_redraws_the_plot(lab, page):
    _open_notebook(lab, page, "course/02_activations.ipynb")
    run_all(page)
    time.sleep(1)
    wait_kernel_idle(page)
    box = page.locator(".widget-vbox").filter(has=page.locator(".widget-dropdown")).first
    box.scroll_into_view_if_needed()
    img = box.locator(".widget-output img").first
    before = img.get_attribute("src")
    alpha = box.locator(".widget-slider").filter(has_text="alpha")
    readout = alpha.locator(".widget-readout")
    expect(readout).to_have_text("1.00", timeout=60_000)     # the widget has rendered
    readout.click()
    page.keyboard.press("Control+A")
    page.keyboard.type("2.5")
    page.keyboard.press("Enter")
    # the Output widget is cleared and redrawn: a new <img> replaces the old one
    deadline = time.time() + 60
    while time.time() < deadline and img.get_attribute("src") == before:
        time.sleep(0.5)
    expect(readout).to_have_text("2.50")
    assert img.get_attribute("src") != before, "moving the alpha slider did not redraw the plot"


def _fill_answers(page, notebook, answers):
    cells = page.locator(".jp-Notebook .jp-Cell")
    for i, cell in enumerate(notebook.cells):
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid not in answers:
            continue
        target = cells.nth(i)
        target.scroll_into_view_if_needed()
        if cell.cell_type == "markdown":
            target.dblclick()                         # rendered markdown -> editor
        editor = target.locator(".cm-content")
        editor.click()
        page.keyboard.press("Control+A")
        page.keyboard.insert_text(answers[gid])       # no auto-indent or auto-closing brackets
    page.keyboard.press("Escape")


def _validate(page, screenshot: str | None = None) -> str:
    page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) [data-command='docmanager:save']").click()
    page.wait_for_function("() => !document.querySelector('.lm-TabBar-tab.lm-mod-current.jp-mod-dirty')",
                           timeout=30_000)
    page.get_by_role("button", name="Validate", exact=True).click()
    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=120_000)
    page.wait_for_function("() => /Success|failed|error/i.test(document.querySelector('.jp-Dialog').innerText)",
                           timeout=300_000)
    text = dialog.inner_text()
    if screenshot:
        page.screenshot(path=str(ARTIFACTS / screenshot))
    page.get_by_role("button", name="Ok", exact=True).click()
    return text


def test_student_answers_runs_visible_test_and_validates(lab, page):
    src = nbformat.read(lab.root / "source" / "normalization" / "normalization.ipynb", 4)
    answers = {c.metadata["nbgrader"]["grade_id"]: samples.strip_solution_markers(c.source)
               for c in src.cells if c.metadata.get("nbgrader", {}).get("solution")}
    student = nbformat.read(lab.root / "student" / "normalization.ipynb", 4)
    _open_notebook(lab, page, "student/normalization.ipynb")
    # nbgrader's notebook extensions: the Validate button and the Create Assignment panel
    assert page.get_by_role("button", name="Validate", exact=True).count() == 1
    assert page.get_by_text("Create Assignment").count() >= 1
    _fill_answers(page, student, answers)
    # run the imports, the answer and its visible test: the student sees it pass
    cells = page.locator(".jp-Notebook .jp-Cell")
    visible = next(i for i, c in enumerate(student.cells)
                   if c.metadata.get("nbgrader", {}).get("grade_id") == "test_minmax_visible")
    for i in range(visible + 1):
        cells.nth(i).click()
        page.keyboard.press("Escape")
        page.keyboard.press("Control+Enter")
    page.wait_for_function(f"() => document.querySelectorAll('.jp-Notebook .jp-Cell')[{visible}]"
                           ".innerText.includes('visible tests passed')", timeout=120_000)
    assert "Success! Your notebook passes all the tests." in _validate(page, "validate-success.png")

    # a wrong answer: Validate names the failing cell
    _fill_answers(page, student, {"minmax_scale": "def minmax_scale(X):\n    return X\n"})
    text = _validate(page)
    assert "Success" not in text and "failed" in text.lower(), text


def test_formgrader_lists_the_assignment_and_the_class(lab, page):
    lab.open(page, "")
    page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
    labels = page.locator(".lm-Menu-itemLabel").all_inner_texts()
    for item in ("Assignment List", "Formgrader", "Course List"):
        assert any(item in t for t in labels), f"Nbgrader menu lacks {item!r}: {labels}"
    page.keyboard.press("Escape")
    page.goto(f"{lab.url}/formgrader?token={lab.token}")
    page.wait_for_selector("text=normalization", timeout=60_000)
    row = page.locator("tr", has_text="normalization")
    n = len({s for s, a in lab.expected if a == "normalization"})
    assert re.search(rf"\b{n}\b", row.inner_text()), f"expected {n} submissions: {row.inner_text()}"
    page.goto(f"{lab.url}/formgrader/manage_submissions/normalization?token={lab.token}")
    for student in ("correct", "blank", "bug-zscore-test-stats"):
        page.wait_for_selector(f"text={student}", timeout=60_000)


PWNED = "() => window.mlpPwned === undefined ? null : String(window.mlpPwned)"


def _submission_id(course, student, assignment="normalization"):
    from nbgrader.api import Gradebook
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gb:
        return gb.find_submission_notebook(assignment, assignment, student).id


def _watch(page):
    """Requests the page makes to the Jupyter server's API (what a student script would call)."""
    seen = []
    page.on("request", lambda r: seen.append(r.url) if "/api/" in r.url else None)
    page.on("dialog", lambda d: (seen.append("dialog: " + d.message), d.dismiss()))
    return seen


def test_the_probe_sees_a_script_that_runs(page):
    # what the tests below rely on: in this Chromium, an event handler that runs sets window.mlpPwned
    page.set_content('<img src="x" onerror="window.mlpPwned = \'probe\'">')
    page.wait_for_function("() => window.mlpPwned !== undefined", timeout=10_000)
    assert page.evaluate(PWNED) == "probe"


def test_formgrader_and_feedback_run_no_student_script(lab, page):
    course = lab.root
    hostile = (("x-leak-script-html", "normalization"), ("x-leak-svg", "normalization"), ("x-leak-markdown", "layers"))
    for student, assignment in hostile + (("x-show-plot-table", "normalization"),):
        seen = _watch(page)
        page.goto(f"{lab.url}/formgrader/submissions/{_submission_id(course, student, assignment)}/?token={lab.token}")
        page.wait_for_selector("#notebook, .cell, .jp-Cell", timeout=60_000)
        page.wait_for_timeout(500)
        assert page.evaluate(PWNED) is None, f"{student}: a student script ran in the formgrader"
        for a in page.locator("a[href]").all():             # a javascript: link would run when clicked
            assert not (a.get_attribute("href") or "").strip().lower().startswith("javascript:"), student
        assert not [u for u in seen if "terminals" in u or u.startswith("dialog")], (student, seen)
        if student == "x-leak-markdown":    # the written answer's text stays
            assert page.get_by_text("Centring first makes the covariance", exact=False).count() >= 1
        if student == "x-leak-svg":         # the drawing stays (nbconvert shows an SVG as an <img>)
            assert page.locator("img[src^='data:image/svg+xml'], svg circle[fill='teal']").count() == 1
        feedback = course / "feedback" / student / assignment / f"{assignment}.html"
        page.goto(feedback.as_uri())
        page.wait_for_timeout(500)
        assert page.evaluate(PWNED) is None, f"{student}: a student script ran in the feedback"
        if student == "x-leak-script-html":
            assert page.locator("b", has_text="student-bold-text").count() == 1
        if student == "x-show-plot-table":
            # the legitimate plot and table still show, in the feedback and in the formgrader
            for where in (feedback.as_uri(),
                          f"{lab.url}/formgrader/submissions/{_submission_id(course, student)}/?token={lab.token}"):
                page.goto(where)
                page.wait_for_selector("table.student-table", timeout=60_000)
                plots = page.locator("img[src^='data:image/png']")
                assert plots.count() >= 1 and plots.first.bounding_box()["width"] > 50, where
                assert page.locator("table.student-table td", has_text="0.25").count() == 1, where
            page.screenshot(path=str(ARTIFACTS / "formgrader-legitimate-plot-and-table.png"))
