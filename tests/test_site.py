"""The course website (grader/site.py): built once for this module into a temporary folder, then
checked as files (every lecture, assignment and docs page is there, every internal link lands,
no CDN is referenced, no line that only source/ holds is anywhere in it) and in Chromium with
the network blocked (figures, rendered maths, saved widgets, a link between lectures, no console
error, no request leaving the machine).

Screenshots land in ``test-artifacts/`` (git-ignored), like the other browser tests'.
"""
import functools
import html
import http.server
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import nbformat
import pytest

from browser import ARTIFACTS, CHROMIUM
from conftest import REPO
from grader import site

pytestmark = pytest.mark.slow

BUDGET_S = 120          # the budget for the build on 2 cores


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    return site.build(REPO, out=out)


def _doc(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# --- the files ------------------------------------------------------------------------------------

def test_build_time_and_pages(built):
    assert built.seconds < BUDGET_S, f"the site took {built.seconds:.0f}s to build (budget {BUDGET_S}s)"
    html_dir = built.html
    lectures = sorted(p.stem for p in (REPO / "course").glob("*.ipynb"))
    assignments = sorted(p.parent.name for p in (REPO / "release").glob("*/*.ipynb"))
    docs = sorted(p.stem for p in (REPO / "docs").glob("*.md"))
    assert len(lectures) >= 13 and len(assignments) >= 12 and "site" in docs
    missing = [f"lectures/{n}.html" for n in lectures if not (html_dir / "lectures" / f"{n}.html").is_file()]
    missing += [f"assignments/{n}.html" for n in assignments
                if not (html_dir / "assignments" / f"{n}.html").is_file()]
    missing += [f"docs/{n}.html" for n in docs if not (html_dir / "docs" / f"{n}.html").is_file()]
    # the errata page: README's section, or a docs/*errata*.md page that replaces it
    errata = [] if any("errata" in d.lower() for d in docs) else ["errata.html"]
    missing += [n for n in ["index.html", *errata] if not (html_dir / n).is_file()]
    assert not missing, f"pages missing from the site: {missing}"
    assert built.pages == len(lectures) + len(assignments) + len(docs) + 1 + len(errata), \
        f"{built.pages} pages, expected one per lecture, assignment and docs page + index + errata"


def test_landing_page_links_every_lecture_and_assignment(built):
    index = _doc(built.html / "index.html")
    hrefs = set(re.findall(r'href="([^"#]+)', index))
    for nb in (REPO / "course").glob("*.ipynb"):
        assert f"lectures/{nb.stem}.html" in hrefs, f"the landing page does not link lecture {nb.stem}"
    for nb in (REPO / "release").glob("*/*.ipynb"):
        assert f"assignments/{nb.parent.name}.html" in hrefs, \
            f"the landing page does not link assignment {nb.parent.name}"
    readme = (REPO / "README.md").read_text()
    if "| auto + manual points |" in readme:        # the table is README's: its points column came along
        assert "auto + manual points" in index


def test_lecture_pages_keep_committed_outputs(built):
    """A lecture page shows the figures the notebook was committed with, and its widgets' state."""
    for name in ("02_activations", "09_training_techniques"):
        nb = nbformat.read(REPO / "course" / f"{name}.ipynb", as_version=4)
        pngs = sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code"
                   for o in c.outputs)
        page = _doc(built.html / "lectures" / f"{name}.html")
        imgs = re.findall(r'<img[^>]+src="(\.\./_images/[^"]+)"', page)
        assert len(imgs) >= pngs > 0, f"{name}: {len(imgs)} images on the page, {pngs} PNG outputs in the notebook"
        for src in imgs:
            assert (built.html / "lectures" / src).resolve().is_file(), f"{name}: {src} is missing"
        assert "application/vnd.jupyter.widget-state+json" in page, f"{name}: the widgets' saved state is not on the page"


def test_internal_links_land(built):
    """Every link between pages points at a page of the site and, with a #fragment, at an id on
    it (README's and the lectures' Jupyter-style anchors were rewritten to the sections' ids)."""
    ids, broken = {}, []
    for page in built.html.rglob("*.html"):
        text = _doc(page)
        for href in re.findall(r'<a [^>]*href="([^"]+)"', text):
            href = html.unescape(href)
            if re.match(r"^[a-z]+:", href) or href.startswith("#") and len(href) == 1:
                continue
            path, _, frag = href.partition("#")
            target = (page.parent / path).resolve() if path else page
            if not target.is_file():
                broken.append(f"{page.relative_to(built.html)}: {href}")
                continue
            if frag and target.suffix == ".html":
                if target not in ids:
                    ids[target] = set(re.findall(r'\bid="([^"]+)"', _doc(target)))
                if frag not in ids[target]:
                    broken.append(f"{page.relative_to(built.html)}: {href} (no such id)")
    assert not broken, f"{len(broken)} broken links, first: {broken[:10]}"
    errata = [p for p in [built.html / "errata.html", *built.html.glob("docs/*errata*.html")] if p.is_file()]
    assert errata and re.search(r'href="(\.\./)?lectures/01_normalization\.html#[a-z]', _doc(errata[0])), \
        "the errata page does not link into lecture 1's sections"


def test_nothing_is_loaded_from_a_cdn(built):
    """No page refers to a script, style sheet or font elsewhere than the site itself."""
    remote = []
    for page in [*built.html.rglob("*.html"), *built.html.glob("_static/*.css")]:
        text = _doc(page)
        remote += [f"{page.name}: {u}" for u in
                   re.findall(r'<(?:script|link|img|iframe)[^>]+(?:src|href)="((?:https?:)?//[^"]+)"', text)]
        remote += [f"{page.name}: {u}" for u in re.findall(r'url\(["\']?((?:https?:)?//[^)"\']+)', text)]
    assert not remote, f"remote resources: {remote[:5]}"
    mathjax = built.html / "_static" / "mathjax"
    assert (mathjax / "MathJax.js").is_file() and (mathjax / "config" / "TeX-AMS_CHTML.js").is_file()
    assert "_static/mathjax/MathJax.js?config=TeX-AMS_CHTML" in _doc(built.html / "lectures" / "02_activations.html")


def test_no_solution_or_hidden_test_line_on_the_site(built):
    secrets = site.secret_lines(REPO)
    assert len(secrets) > 500, f"only {len(secrets)} source/-only lines found: is the check reading source/?"
    leaks = site.leaked_lines(built.html, REPO)
    assert not leaks, f"{len(leaks)} source/-only lines on the site, first: {leaks[:5]}"


def test_leak_check_catches_a_source_notebook(tmp_path):
    """The check can fail: a source/ notebook rendered to HTML (nbconvert, highlighted code) or
    copied as a download is caught, and so is one hidden-test line pasted into a page."""
    from nbconvert import HTMLExporter
    src = REPO / "source" / "normalization" / "normalization.ipynb"
    (tmp_path / "a").mkdir()
    body, _ = HTMLExporter().from_filename(str(src))
    (tmp_path / "a" / "normalization.html").write_text(body, encoding="utf-8")
    shutil.copy(src, tmp_path / "a" / "normalization.ipynb")
    leaks = site.leaked_lines(tmp_path / "a", REPO)
    assert {n for _, n in leaks} == {"normalization.html", "normalization.ipynb"}
    assert len(leaks) > 20
    hidden = next(w for w in site.secret_lines(REPO).values() if "normalization" in w)
    line = hidden.split(": ", 1)[1]
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "page.html").write_text(f"<p>fine</p>\n<pre><span>{html.escape(line)}</span></pre>\n")
    assert [n for _, n in site.leaked_lines(tmp_path / "b", REPO)] == ["page.html"]


def test_link_rewriting():
    staged = site.Staged(pages={"course/01_normalization.ipynb": "lectures/01_normalization.ipynb",
                                "release/normalization/normalization.ipynb": "assignments/normalization.ipynb",
                                "README.md": "index.md"},
                         anchors={"lectures/01_normalization.ipynb":
                                  site.anchor_map("## 9. Errata and summary\n```\n# not a heading\n```")})
    md = ("[a](../course/01_normalization.ipynb#9.-Errata-and-summary) [b](../source/normalization) "
          "[c](../README.md) [d](../tests/test_errata.py) [e](https://example.org/x) ![f](pic.png)")
    out = site.rewrite_links(md, "docs", "docs/x.md", staged)
    assert out == ("[a](../lectures/01_normalization.ipynb#9-errata-and-summary) "
                   "[b](../assignments/normalization.ipynb) [c](../index.md) d [e](https://example.org/x) "
                   "![f](pic.png)")
    assert site.anchor_map("# A `code` **b**") == {"A-code-b": "a-code-b"}


# --- in Chromium, the network blocked ----------------------------------------------------------

@pytest.fixture(scope="module")
def served(built):
    """The built folder over HTTP on 127.0.0.1 (a file:// page works too; see docs/site.md)."""
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                          functools.partial(Quiet, directory=str(built.html)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def offline_page(request):
    from playwright.sync_api import sync_playwright
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        ctx = browser.new_context(viewport={"width": 1400, "height": 900})
        events = {"blocked": [], "errors": [], "requests": []}

        def route(r):
            host = urlparse(r.request.url)
            if host.scheme in ("file", "data", "blob") or host.hostname in ("127.0.0.1", "localhost"):
                r.continue_()
            else:
                events["blocked"].append(r.request.url)
                r.abort()
        ctx.route("**/*", route)
        page = ctx.new_page()
        page.on("request", lambda r: events["requests"].append(r.url))
        page.on("console", lambda m: m.type == "error" and events["errors"].append(f"console: {m.text}"))
        page.on("pageerror", lambda e: events["errors"].append(f"page error: {e}"))
        page.on("requestfailed", lambda r: events["errors"].append(f"request failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and events["errors"].append(f"HTTP {r.status}: {r.url}"))
        page.events = events
        yield page
        failed = getattr(request.node, "rep_call", None) is None or request.node.rep_call.failed
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}{'-FAILED' if failed else ''}.png"))
        browser.close()


def _settle(page):
    """Let the page finish loading, MathJax's typesetting included (leaving a page while MathJax still
    loads a font table aborts that request, which would read as a failed request)."""
    page.wait_for_load_state("networkidle")
    if page.evaluate("() => !!document.querySelector('script[src*=\"mathjax/MathJax.js\"]')"):
        _wait_mathjax(page)


def _open(page, url):
    page.goto(url)
    _settle(page)


def _wait_mathjax(page):
    """Wait for MathJax 2's first typesetting pass to end (its startup hook "End")."""
    page.wait_for_function("() => window.MathJax && MathJax.Hub && MathJax.Hub.Register", timeout=30_000)
    page.evaluate("() => new Promise(done => MathJax.Hub.Register.StartupHook('End', () => done(true)))")


def test_site_in_chromium_offline(served, offline_page):
    page = offline_page
    _open(page, f"{served}/index.html")
    assert page.locator("table a[href='lectures/02_activations.html']").count() == 1
    page.screenshot(path=str(ARTIFACTS / "site-landing.png"))

    # two lecture pages: their figures are drawn, their maths typeset, their widgets rendered
    for name, title in (("02_activations", "Activation functions"), ("09_training_techniques", "Training techniques")):
        _open(page, f"{served}/lectures/{name}.html")
        assert title in page.locator("h1").first.inner_text()
        figures = page.locator("article .cell_output img")
        assert figures.count() >= 5
        sizes = page.evaluate("() => [...document.querySelectorAll('article .cell_output img')]"
                              ".map(i => [i.complete, i.naturalWidth])")
        assert all(done and w > 100 for done, w in sizes), f"{name}: figures not drawn: {sizes}"
        _wait_mathjax(page)
        typeset = page.locator("article .MathJax_CHTML").count()
        assert typeset >= 20, f"{name}: {typeset} formulas typeset"
        raw = page.evaluate("() => [...document.querySelectorAll('article span.math')]"
                            ".filter(e => !e.querySelector('.MathJax_CHTML')).length")
        assert raw == 0, f"{name}: {raw} formulas left as TeX"
        page.wait_for_selector("article .widget-slider, article .widget-dropdown", timeout=30_000)
        assert page.locator("article .jupyter-widgets").count() >= 2, f"{name}: the saved widgets are not rendered"

    # a link between lectures, in lecture 9's text, then lecture 13's link into a section of 9
    link = page.locator("article a.reference.internal[href='06_xavier_he_initialization.html']").first
    link.click()
    page.wait_for_url("**/lectures/06_xavier_he_initialization.html")
    _settle(page)
    assert "Xavier" in page.locator("h1").first.inner_text()
    _open(page, f"{served}/lectures/13_lecture3_derivations.html")
    page.locator("article a.reference.internal[href^='09_training_techniques.html#']").first.click()
    page.wait_for_url(re.compile(r".*/lectures/09_training_techniques\.html#.+"))
    _settle(page)
    frag = urlparse(page.url).fragment
    assert page.locator(f"[id='{frag}']").count() == 1 and "momentum" in frag

    ev = page.events
    assert not ev["blocked"], f"requests tried to leave the machine: {ev['blocked'][:5]}"
    assert all(urlparse(u).hostname == "127.0.0.1" or u.startswith("data:") for u in ev["requests"]), \
        [u for u in ev["requests"] if urlparse(u).hostname != "127.0.0.1"][:5]
    assert not ev["errors"], f"console errors: {ev['errors'][:5]}"
