"""The course as a static website: ``python -m grader site`` writes ``_build/html``.

Sphinx + MyST-NB + sphinx-book-theme, configured in ``site/conf.py``; nothing reaches the network,
at build time or when a page is opened (see docs/site.md):

* one page per lecture, ``course/*.ipynb`` with its committed outputs (notebooks are not run),
  figures, maths and the widgets' saved state;
* one page per assignment, the student version from ``release/`` (never ``source/``: the build
  ends with :func:`leaked_lines`, and fails if a solution or hidden-test line of ``source/`` is
  anywhere in the site);
* the landing page (README's lecture/assignment table, links to the pages), the errata page
  (README's *Errata* section, unless docs/ has an errata page of its own) and every ``docs/*.md``.

The pages are staged into ``<out>/site-src`` (links rewritten: ``course/X.ipynb#Jupyter-anchor``
-> the lecture page's section, ``release/``/``source/`` -> the assignment page, ``README.md`` -> the
landing page; a link to a repository file the site does not carry becomes its text), then Sphinx
builds ``<out>/html``. MathJax is copied from Debian's libjs-mathjax into ``html/_static/mathjax``.
"""
from __future__ import annotations

import html as _html
import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

from grader.errors import SiteError  # noqa: F401  (raised here; site.SiteError stays valid)

REPO_ROOT = Path(__file__).resolve().parent.parent
MATHJAX_DIR = Path(os.environ.get("MLP_MATHJAX_DIR", "/usr/share/javascript/mathjax"))
# the parts of MathJax 2 that config TeX-AMS_CHTML loads (1.4 MB of Debian's 54 MB)
MATHJAX_PARTS = ["MathJax.js", "config/TeX-AMS_CHTML.js", "jax/input/TeX", "jax/element",
                 "jax/output/CommonHTML", "jax/output/PreviewHTML", "jax/output/NativeMML",
                 "extensions", "fonts/HTML-CSS/TeX/woff", "localization/en"]


# --- headings, anchors and links ----------------------------------------------------------------

_FENCE = re.compile(r"^\s*(```|~~~)")
_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# [text](target) with at most one level of parentheses inside the target
_LINK = re.compile(r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(((?:[^()\s]|\([^()\s]*\))+)\)")


def _plain(text: str) -> str:
    """A heading as it reads: links, code and emphasis markers removed."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    return re.sub(r"[`*]", "", text).strip()


def headings(markdown: str) -> list[str]:
    """The ATX headings of a markdown text (not the ``#`` lines of a fenced code block)."""
    out, fenced = [], False
    for line in markdown.splitlines():
        if _FENCE.match(line):
            fenced = not fenced
        elif not fenced and (m := _HEADING.match(line)):
            out.append(_plain(m.group(2)))
    return out


def slug(heading: str) -> str:
    """The anchor MyST gives a heading (myst_heading_anchors)."""
    from myst_parser.slugs import github_slugify
    return github_slugify(heading)


def anchor_map(markdown: str) -> dict[str, str]:
    """Jupyter's anchor of each heading (its text, spaces -> '-') -> MyST's slug of it."""
    return {h.replace(" ", "-"): slug(h) for h in headings(markdown)}


@dataclass
class Staged:
    """What a repository path becomes on the site (paths relative to the staging folder)."""
    pages: dict[str, str] = field(default_factory=dict)      # repo path -> staged document
    anchors: dict[str, dict[str, str]] = field(default_factory=dict)   # staged doc -> anchor map

    def target(self, repo_path: str) -> str | None:
        repo_path = repo_path.rstrip("/")
        if repo_path in self.pages:
            return self.pages[repo_path]
        parts = repo_path.split("/")
        if parts[0] in ("release", "source") and len(parts) >= 2:
            # an assignment's folder, or any file in it: its page (the student version)
            hits = [v for k, v in self.pages.items() if k.startswith(f"release/{parts[1]}/")]
            return hits[0] if hits else None
        return None


def rewrite_links(markdown: str, repo_dir: str, staged_doc: str, staged: Staged) -> str:
    """Point the links of a markdown text (written at ``repo_dir``, staged as ``staged_doc``)
    at the site's pages; a link to a repository file the site does not carry becomes its text."""
    here = posixpath.dirname(staged_doc)

    def fix(m: re.Match) -> str:
        bang, text, target = m.groups()
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):       # http:, mailto:, ...
            return m.group(0)
        path, _, frag = target.partition("#")
        if not path:                                              # a section of this page
            return f"{bang}[{text}](#{staged.anchors.get(staged_doc, {}).get(frag, frag)})"
        repo_path = posixpath.normpath(posixpath.join(repo_dir, path))
        doc = staged.target(repo_path)
        if doc is None:
            return m.group(0) if bang else text                   # an image stays (copied alongside)
        new = posixpath.relpath(doc, here or ".")
        if frag:
            new += "#" + staged.anchors.get(doc, {}).get(frag, frag)
        return f"{bang}[{text}]({new})"

    out, fenced = [], False
    for line in markdown.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        out.append(line if fenced else _LINK.sub(fix, line))
    return "\n".join(out)


def _nb_markdown(nb) -> str:
    return "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")


# --- README sections ------------------------------------------------------------------------------

def readme_sections(readme: str) -> list[tuple[str, str]]:
    """(title, body) of each ``## `` section of README (fenced code respected)."""
    sections, title, body, fenced = [], None, [], False
    for line in readme.split("\n"):
        if _FENCE.match(line):
            fenced = not fenced
        if not fenced and line.startswith("## "):
            if title is not None:
                sections.append((title, "\n".join(body).strip("\n")))
            title, body = line[3:].strip(), []
        elif title is not None:
            body.append(line)
    if title is not None:
        sections.append((title, "\n".join(body).strip("\n")))
    return sections


def _link_names(table: str, staged: Staged) -> str:
    """`01_normalization` -> a link to its lecture page, `normalization` -> its assignment page."""
    def fix(m: re.Match) -> str:
        name = m.group(1)
        doc = staged.pages.get(f"course/{name}.ipynb") or staged.target(f"release/{name}")
        return f"[`{name}`]({doc})" if doc else m.group(0)
    return re.sub(r"(?<!\[)`([A-Za-z0-9_]+)`(?!\])", fix, table)


def landing_page(root: Path, staged: Staged, lectures: list[str], assignments: list[str],
                 extra: list[str]) -> str:
    readme = (root / "README.md").read_text(encoding="utf-8") if (root / "README.md").is_file() else ""
    title = next((l[2:].strip() for l in readme.splitlines() if l.startswith("# ")),
                 "Insight into Multi-layer Perceptrons")
    intro = ""
    m = re.search(r"^# .*?\n\n(.*?)(?:\n\n|\n\|)", readme, re.S | re.M)
    if m:
        intro = m.group(1).strip()
    table = ""
    for name, body in readme_sections(readme):
        if re.search(r"lecture", name, re.I) and re.search(r"assignment", name, re.I):
            rows = [l for l in body.split("\n") if l.startswith("|")]
            table = _link_names("\n".join(rows), staged)
            break
    if not table:                        # README lost its table: list the pages themselves
        rows = max(len(lectures), len(assignments))
        cell = lambda docs, i: f"[`{Path(docs[i]).stem}`]({docs[i]})" if i < len(docs) else ""
        table = "\n".join(["| lecture | assignment |", "|---|---|"] +
                          [f"| {cell(lectures, i)} | {cell(assignments, i)} |" for i in range(rows)])
    toc = []
    for caption, docs in (("Lectures", lectures), ("Assignments (student versions)", assignments),
                          ("Course notes", extra)):
        if docs:
            toc += [f"```{{toctree}}\n:caption: {caption}\n:hidden:\n:maxdepth: 1\n"]
            toc[-1] += "\n".join(posixpath.splitext(d)[0] for d in docs) + "\n```\n"
    return (f"# {title}\n\n{intro}\n\n"
            "The lectures below show the outputs they were committed with (the ones the tests check);\n"
            "the assignments are the student versions (no solutions, no hidden tests): download one\n"
            "with the button at the top of its page, or open it in JupyterLab.\n\n"
            f"## Lectures and assignments\n\n{table}\n\n"
            + "".join(toc))


# --- staging --------------------------------------------------------------------------------------

def _title_of(markdown: str, fallback: str) -> str:
    hs = [l for l in markdown.splitlines() if l.startswith("# ")]
    return hs[0][2:].strip() if hs else fallback


def stage(root: Path, src: Path) -> dict:
    """Write the Sphinx source tree of the site into ``src``; return what went where."""
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    lectures = sorted((root / "course").glob("*.ipynb"))
    if not lectures:
        raise SiteError(f"no lecture notebooks in {root / 'course'}")
    docs = sorted((root / "docs").glob("*.md"))
    staged = _plan_pages(root, lectures, docs)
    readme = (root / "README.md").read_text(encoding="utf-8") if (root / "README.md").is_file() else ""
    errata = [(t, b) for t, b in readme_sections(readme) if t.lower().startswith("errata")]
    if errata and not any("errata" in p.stem.lower() for p in docs):
        staged.pages["README.md#errata"] = "errata.md"
    _write_notebooks(root, src, staged)
    extra = []
    if "README.md#errata" in staged.pages:
        title, body = errata[0]
        text = f"# {title}\n\n" + rewrite_links(body, "", "errata.md", staged) + "\n"
        (src / "errata.md").write_text(text, encoding="utf-8")
        extra.append("errata.md")
    extra += _write_docs(root, src, docs, staged)
    lecture_docs = [staged.pages[f"course/{p.name}"] for p in lectures]
    assignment_docs = sorted(v for k, v in staged.pages.items() if k.startswith("release/"))
    (src / "index.md").write_text(landing_page(root, staged, lecture_docs, assignment_docs, extra),
                                  encoding="utf-8")
    return {"lectures": lecture_docs, "assignments": assignment_docs, "notes": extra}


def _plan_pages(root: Path, lectures: list, docs: list) -> Staged:
    """Which repository file becomes which page of the site."""
    staged = Staged()
    for p in lectures:
        staged.pages[f"course/{p.name}"] = f"lectures/{p.name}"
    releases = sorted(p for p in (root / "release").glob("*/*.ipynb")
                      if ".ipynb_checkpoints" not in p.parts)
    by_assignment: dict[str, list[Path]] = {}
    for p in releases:
        by_assignment.setdefault(p.parent.name, []).append(p)
    for name, paths in by_assignment.items():
        for p in paths:
            doc = f"assignments/{name}.ipynb" if len(paths) == 1 else f"assignments/{name}-{p.name}"
            staged.pages[f"release/{name}/{p.name}"] = doc
    for p in docs:
        staged.pages[f"docs/{p.name}"] = f"docs/{p.name}"
    staged.pages["README.md"] = "index.md"
    return staged


def _write_notebooks(root: Path, src: Path, staged: Staged) -> None:
    """Every page's anchors first (so `X.ipynb#Jupyter-anchor` links land on the section), then
    the notebooks with their links rewritten."""
    nbs = {}
    for repo_path, doc in staged.pages.items():
        if repo_path.endswith(".ipynb"):
            nb = nbformat.read(root / repo_path, as_version=4)
            nbs[repo_path] = nb
            staged.anchors[doc] = anchor_map(_nb_markdown(nb))
        elif repo_path.startswith("docs/"):
            staged.anchors[doc] = anchor_map((root / repo_path).read_text(encoding="utf-8"))
    for repo_path, nb in nbs.items():
        doc = staged.pages[repo_path]
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = rewrite_links(cell.source, posixpath.dirname(repo_path), doc, staged)
        (src / doc).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, src / doc)


def _write_docs(root: Path, src: Path, docs: list, staged: Staged) -> list:
    """docs/*.md as pages (a title added where a note has none) and the pictures they show."""
    (src / "docs").mkdir(exist_ok=True)
    for p in sorted((root / "docs").glob("*")):
        if p.is_file() and p.suffix != ".md":
            shutil.copy2(p, src / "docs" / p.name)
    written = []
    for p in docs:
        text = p.read_text(encoding="utf-8")
        if not headings(text) or not text.lstrip().startswith("# "):
            text = f"# {p.stem.replace('-', ' ').replace('_', ' ').capitalize()}\n\n" + text
        (src / "docs" / p.name).write_text(rewrite_links(text, "docs", f"docs/{p.name}", staged),
                                           encoding="utf-8")
        written.append(f"docs/{p.name}")
    return written


# --- MathJax from Debian ------------------------------------------------------------------------

def check_mathjax(mathjax_dir: Path = MATHJAX_DIR) -> None:
    if not (mathjax_dir / "MathJax.js").is_file():
        raise SiteError(f"MathJax is not installed at {mathjax_dir}: apt-get install libjs-mathjax "
                        "(the site serves it locally; nothing is fetched from a CDN)")


def copy_mathjax(static: Path, mathjax_dir: Path = MATHJAX_DIR) -> None:
    check_mathjax(mathjax_dir)
    dest = static / "mathjax"
    if dest.exists():
        shutil.rmtree(dest)
    for part in MATHJAX_PARTS:
        s, d = mathjax_dir / part, dest / part
        d.parent.mkdir(parents=True, exist_ok=True)
        if s.is_dir():
            shutil.copytree(s, d)            # follows Debian's symlinks into /usr/share/fonts
        else:
            shutil.copy2(s, d)


# --- no solution on the site ----------------------------------------------------------------------

_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)
MIN_SECRET_CHARS = 8


def _key(line: str) -> str:
    """A line compared by its letters and digits only: the same in a notebook cell, in the page's
    highlighted code and in its rendered markdown (no backticks, no $, no entities)."""
    return " ".join(re.findall(r"[0-9A-Za-z]+", line))


def public_lines(root: Path) -> set[str]:
    """Every line students get anyway: the student versions (release/), the lectures (course/,
    sources and outputs), README and docs/."""
    lines = set()
    for p in [*(root / "release").glob("*/*.ipynb"), *(root / "course").glob("*.ipynb")]:
        for cell in nbformat.read(p, as_version=4).cells:
            texts = [cell.source]
            for o in cell.get("outputs", []):
                texts += [o.get("text", ""), o.get("data", {}).get("text/plain", "")]
            for t in texts:
                lines |= {_key(l) for l in ("".join(t) if isinstance(t, list) else t).splitlines()}
    for p in [root / "README.md", *(root / "docs").glob("*.md")]:
        if p.is_file():
            lines |= {_key(l) for l in p.read_text(encoding="utf-8").splitlines()}
    return lines


def secret_lines(root: Path) -> dict[str, str]:
    """Every line that only ``source/`` holds -> where it is: the lines between
    ``### BEGIN SOLUTION``/``### BEGIN HIDDEN TESTS`` and their ``### END``, and the whole text of
    a markdown answer cell without such markers, less the lines students get anyway
    (:func:`public_lines`: the student version's ``def f(x):``, a lecture that computes the same
    ``s = sigmoid(x)``) and lines under MIN_SECRET_CHARS characters."""
    released = public_lines(root)
    secrets = {}
    for p in sorted((root / "source").glob("*/*.ipynb")):
        for i, cell in enumerate(nbformat.read(p, as_version=4).cells):
            text = cell.source.replace("\r\n", "\n")
            regions = [m.group(2) for m in _REGION.finditer(text)]
            meta = cell.metadata.get("nbgrader", {})
            if not regions and cell.cell_type == "markdown" and meta.get("solution"):
                regions = [text]
            for region in regions:
                for line in region.splitlines():
                    n = _key(line)
                    if len(n) >= MIN_SECRET_CHARS and n not in released:
                        secrets.setdefault(n, f"{p.relative_to(root)} cell {i}: {line.strip()}")
    return secrets


def site_lines(html_dir: Path) -> dict[str, set[str]]:
    """The lines a reader (or a script) gets from each file of the built site, as :func:`_key`s:
    HTML without its tags, notebooks' cell sources and outputs, other text files as they are.
    ``_static/`` is skipped: the theme's, the html-manager's and MathJax's own files."""
    out = {}
    for p in sorted(html_dir.rglob("*")):
        rel = p.relative_to(html_dir)
        if not p.is_file() or rel.parts[0] == "_static" or p.suffix.lower() in (
                ".png", ".jpg", ".jpeg", ".gif", ".woff", ".woff2", ".ttf", ".eot", ".ico", ".svg"):
            continue
        raw = p.read_text(encoding="utf-8", errors="replace")
        if p.suffix == ".html":
            raw = _html.unescape(re.sub(r"<[^>]+>", "", raw))
        elif p.suffix == ".ipynb":
            try:
                cells = json.loads(raw).get("cells", [])
            except ValueError:
                cells = []
            parts = []
            for c in cells:
                parts.append("".join(c.get("source", "")))
                for o in c.get("outputs", []):
                    parts += ["".join(o.get("text", "")), "".join(o.get("data", {}).get("text/plain", ""))]
            raw += "\n" + "\n".join(parts)
        out[str(rel)] = {_key(l) for l in raw.splitlines()}
    return out


def leaked_lines(html_dir: Path, root: Path = REPO_ROOT) -> list[tuple[str, str]]:
    """(where in source/ and the line, site file) for every secret line found in the site."""
    secrets = secret_lines(root)
    return [(where, name) for name, lines in site_lines(html_dir).items()
            for key, where in secrets.items() if key in lines]


# --- the build ------------------------------------------------------------------------------------

@dataclass
class SiteBuild:
    html: Path
    seconds: float
    pages: int
    bytes: int
    warnings: list[str]


def build(root: Path = REPO_ROOT, out: Path | None = None, quiet: bool = True) -> SiteBuild:
    """Stage the pages, run Sphinx, copy MathJax, refuse a site that leaks a solution."""
    t0 = time.perf_counter()
    root = Path(root).resolve()
    out = Path(out).resolve() if out else root / "_build"
    src, html_dir, doctrees = out / "site-src", out / "html", out / "doctrees"
    check_mathjax()                  # fail with the apt-get line before the minute Sphinx takes
    stage(root, src)
    for d in (html_dir, doctrees):
        if d.exists():
            shutil.rmtree(d)
    warn_file = out / "sphinx-warnings.txt"
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-E", "-q", "-c", str(REPO_ROOT / "site"),
           "-d", str(doctrees), "-w", str(warn_file), str(src), str(html_dir)]
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise SiteError(f"sphinx-build failed (exit {proc.returncode}):\n{proc.stdout[-3000:]}\n"
                        f"{proc.stderr[-3000:]}")
    copy_mathjax(html_dir / "_static")
    leaks = leaked_lines(html_dir, root)
    if leaks:
        shutil.rmtree(html_dir)
        raise SiteError("the site would show lines that only source/ holds (solutions or hidden "
                        "tests); nothing was written:\n" +
                        "\n".join(f"  {w}  (in {n})" for w, n in leaks[:20]))
    warnings = [w for w in warn_file.read_text().splitlines() if w.strip()] if warn_file.exists() else []
    pages = sum(1 for p in html_dir.rglob("*.html") if p.relative_to(html_dir).parts[0] != "_static"
                and p.name not in ("genindex.html", "search.html"))
    size = sum(p.stat().st_size for p in html_dir.rglob("*") if p.is_file())
    result = SiteBuild(html_dir, time.perf_counter() - t0, pages, size, warnings)
    if not quiet:
        for w in warnings:
            print(w, file=sys.stderr)
    return result


def main(root: Path = REPO_ROOT) -> SiteBuild:
    """``python -m grader site``."""
    b = build(root, quiet=False)
    print(f"wrote {b.html} ({b.pages} pages, {b.bytes / 1e6:.1f} MB, {len(b.warnings)} Sphinx "
          f"warnings) in {b.seconds:.0f}s; open {b.html / 'index.html'}")
    return b
