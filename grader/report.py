"""A class report: ``python -m grader report [-a A ...] [--out report/]``.

Reads the gradebook and the autograded notebooks of a graded class and writes one static
HTML page (``report/index.html``, plots embedded as base64 PNG: it opens with a double click,
offline) with, per assignment:

* a summary: submissions, mean/median score, how many blank, timed out, flagged, failed,
  seconds per submission (from ``.grader_state``), and a score histogram;
* item analysis: per test cell the share of students passing it and its discrimination
  (correlation of passing this cell with the rest of the score), plotted so that too-easy,
  too-hard and badly discriminating tests stand out;
* common failures: per test cell the error messages grouped with their numbers masked
  (``entry (#, #) expected #, got #``), how many students hit each, one example;
* similar submissions (``grader/similarity.py``);
* flagged-for-review findings (``grader/tamper.py``) with links to the autograded notebooks.

Everything students wrote is HTML-escaped before it goes into the page.
See docs/report.md.
"""
from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from grader.errors import PipelineError

TIMEOUT_MARKERS = ("CellTimeoutError", "Cell execution timed out", "TimeoutError")
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|\b(?:nan|inf)\b")


def mask_numbers(message: str) -> str:
    """The message's first line with every number replaced by ``#`` (so that failures
    differing only in the values group together)."""
    first = next((ln.strip() for ln in str(message).splitlines() if ln.strip()), "")
    return _NUMBER.sub("#", first)[:300]


@dataclass
class Submission:
    student: str
    assignment: str
    score: float = 0.0
    max_score: float = 0.0
    cells: dict = field(default_factory=dict)       # test cell -> (score, max_score)
    failures: dict = field(default_factory=dict)    # test cell -> raw error message
    flags: list = field(default_factory=list)
    notebooks: list = field(default_factory=list)   # autograded notebook paths
    answers: dict = field(default_factory=dict)     # answer cell grade id -> source
    timed_out: bool = False
    failed: str = ""
    blank: bool = False
    seconds: float | None = None


# ---------------------------------------------------------------- collecting

def _answer_cells(nb) -> dict:
    out = {}
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("solution") and cell.cell_type == "code":
            out[meta.get("grade_id", "?")] = cell.source
    return out


def released_answers(course_root: Path, assignment: str) -> dict:
    """Answer cells of the released notebooks (the template students start from)."""
    import nbformat
    out = {}
    for p in sorted((course_root / "release" / assignment).glob("*.ipynb")):
        out.update(_answer_cells(nbformat.read(p, as_version=4)))
    return out


def collect(course_root: Path, names=None) -> dict[str, list[Submission]]:
    """``{assignment: [Submission]}`` from the gradebook, autograded/, submitted/, .grader_state/."""
    from nbgrader.api import Gradebook
    from grader import gradebook
    course_root = Path(course_root).resolve()
    url = gradebook.db_url(course_root)
    db = gradebook.sqlite_path(url)
    if db is not None and not db.exists():
        raise PipelineError(f"{db} does not exist: grade the class first (python -m grader class)")
    gradebook.check_reachable(url)
    out: dict[str, list[Submission]] = {}
    with Gradebook(url) as gb:
        for a in gb.assignments:
            if names and a.name not in names:
                continue
            template = released_answers(course_root, a.name)
            expected = sorted(p.name for p in (course_root / "source" / a.name).glob("*.ipynb"))
            subs = []
            students = sorted({p.parent.name for p in (course_root / "submitted").glob(f"*/{a.name}")})
            for student in students:
                s = Submission(student, a.name)
                _read_gradebook(gb, s, template)
                _read_state(course_root, s)
                for name in expected:
                    _read_notebook(course_root / "autograded" / student / a.name / name, s)
                if s.answers and template:
                    s.blank = all(_norm(s.answers.get(k, "")) == _norm(v) for k, v in template.items())
                subs.append(s)
            if subs:
                out[a.name] = subs
    return out


def _read_gradebook(gb, s: Submission, template: dict) -> None:
    """Score, per-cell points of the autograded cells and the gradebook's flag."""
    from nbgrader.api import MissingEntry
    try:
        sub = gb.find_submission(s.assignment, s.student)
    except MissingEntry:
        s.failed = "not graded (no gradebook entry)"
        return
    s.score, s.max_score = float(sub.score), float(sub.max_score)
    for nb in sub.notebooks:
        for g in nb.grades:
            if g.cell_type == "code" and g.name not in template:
                s.cells[g.name] = (float(g.score), float(g.max_score))
        if nb.flagged and not s.flags:
            s.flags.append("flagged in the gradebook")


def _read_state(course_root: Path, s: Submission) -> None:
    """Grading seconds and failure reason from the grading run's record."""
    state = course_root / ".grader_state" / s.assignment / f"{s.student}.json"
    if state.exists():
        try:
            rec = json.loads(state.read_text())
            s.seconds = rec.get("seconds")
            if rec.get("status") == "failed":
                s.failed = rec.get("reason") or "failed"
        except ValueError:
            pass


def _read_notebook(path: Path, s: Submission) -> None:
    """Tamper flags, written answers, timed-out cells and each failing cell's error."""
    import nbformat
    from grader.tamper import flags_in
    if not path.exists():
        s.failed = s.failed or f"no autograded {path.name}"
        return
    s.notebooks.append(path)
    nb = nbformat.read(path, as_version=4)
    flags = flags_in(nb)
    if flags:
        s.flags = [f for f in s.flags if f != "flagged in the gradebook"] + flags
    s.answers.update(_answer_cells(nb))
    for cell in nb.cells:
        gid = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        for o in cell.get("outputs", []):
            if o.get("output_type") != "error":
                continue
            if o.get("ename") in TIMEOUT_MARKERS or any(
                    m in (o.get("evalue") or "") for m in TIMEOUT_MARKERS):
                s.timed_out = True
            if gid and gid in s.cells and gid not in s.failures:
                s.failures[gid] = f"{o.get('ename', 'Error')}: {o.get('evalue', '')}"


def _norm(text: str) -> str:
    return "\n".join(ln.rstrip() for ln in (text or "").strip().splitlines())


# ---------------------------------------------------------------- analysis

def summary(subs: list[Submission]) -> dict:
    scores = [s.score for s in subs if not s.failed]
    secs = sorted(s.seconds for s in subs if s.seconds is not None)
    return {
        "submissions": len(subs),
        "max_score": max((s.max_score for s in subs), default=0.0),
        "mean": statistics.mean(scores) if scores else float("nan"),
        "median": statistics.median(scores) if scores else float("nan"),
        "blank": sum(s.blank for s in subs),
        "timed_out": sum(s.timed_out for s in subs),
        "flagged": sum(bool(s.flags) for s in subs),
        "failed": sum(bool(s.failed) for s in subs),
        "seconds_median": statistics.median(secs) if secs else None,
        "seconds_max": secs[-1] if secs else None,
    }


def _corr(x, y) -> float:
    n = len(x)
    if n < 2:
        return float("nan")
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx > 0 and syy > 0 else float("nan")


def item_analysis(subs: list[Submission]) -> list[dict]:
    """Per test cell: pass share (full points) and discrimination (Pearson correlation of
    passing it with the score on the other cells; NaN when everybody or nobody passes)."""
    graded = [s for s in subs if not s.failed and s.cells]
    cells = sorted({c for s in graded for c in s.cells})
    rows = []
    for c in cells:
        have = [s for s in graded if c in s.cells]
        passed = [1.0 if s.cells[c][0] >= s.cells[c][1] > 0 or (s.cells[c][1] == 0) else 0.0 for s in have]
        rest = [s.score - s.cells[c][0] for s in have]
        p = sum(passed) / len(passed) if passed else float("nan")
        d = _corr(passed, rest)
        verdict = []
        if p >= 0.95:
            verdict.append("too easy")
        if p <= 0.2:
            verdict.append("too hard")
        if not math.isnan(d) and d < 0.2:
            verdict.append("discriminates badly")
        rows.append({"cell": c, "n": len(have), "max_score": have[0].cells[c][1] if have else 0,
                     "pass_share": p, "discrimination": d, "verdict": ", ".join(verdict)})
    return rows


def common_failures(subs: list[Submission]) -> dict[str, list[dict]]:
    """``{test cell: [{"message", "count", "students", "example"}]}``, most common first."""
    groups: dict[tuple, list] = defaultdict(list)
    for s in subs:
        for cell, msg in s.failures.items():
            groups[(cell, mask_numbers(msg))].append((s.student, msg))
    out: dict[str, list[dict]] = defaultdict(list)
    for (cell, key), hits in groups.items():
        out[cell].append({"message": key, "count": len(hits), "students": sorted(h[0] for h in hits),
                          "example": hits[0][1][:1500]})
    for cell in out:
        out[cell].sort(key=lambda g: (-g["count"], g["message"]))
    return dict(sorted(out.items()))


# ---------------------------------------------------------------- plots

def _png(fig) -> str:
    import matplotlib.pyplot as plt
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def histogram_png(subs: list[Submission], assignment: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    scores = [s.score for s in subs if not s.failed]
    mx = max((s.max_score for s in subs), default=1.0) or 1.0
    fig, ax = plt.subplots(figsize=(5, 2.6))
    ax.hist(scores, bins=min(20, max(5, int(mx) + 1)), range=(0, mx), color="#4c78a8", edgecolor="white")
    ax.set_xlabel(f"score (out of {mx:g})")
    ax.set_ylabel("students")
    ax.set_title(f"{assignment}: score histogram")
    return _png(fig)


def items_png(items: list[dict], assignment: str) -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.axvspan(0.95, 1.02, color="#f2cf5b", alpha=0.3, label="too easy (pass share >= 0.95)")
    ax.axvspan(-0.02, 0.2, color="#e45756", alpha=0.2, label="too hard (pass share <= 0.2)")
    ax.axhspan(-1.05, 0.2, color="#bab0ac", alpha=0.25, label="discriminates badly (< 0.2)")
    for it in items:
        d = it["discrimination"]
        y = 0.0 if math.isnan(d) else d
        ax.scatter([it["pass_share"]], [y], color="#4c78a8", marker="o" if not math.isnan(d) else "x")
        ax.annotate(it["cell"], (it["pass_share"], y), fontsize=7, xytext=(3, 3), textcoords="offset points")
    ax.set_xlim(-0.02, 1.02)
    ax.set_ylim(-1.05, 1.05)
    ax.set_xlabel("share of students passing the test cell")
    ax.set_ylabel("discrimination (corr. with rest of score)")
    ax.set_title(f"{assignment}: item analysis (x: undefined, all pass or all fail)")
    ax.legend(fontsize=7, loc="lower left")
    return _png(fig)


# ---------------------------------------------------------------- HTML

def esc(x) -> str:
    return html.escape(str(x), quote=True)


def _fmt(x, spec=".2f") -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "&ndash;"
    return format(x, spec)


CSS = """body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:.5em 0}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:left;vertical-align:top}th{background:#eee}
pre{background:#f7f7f7;padding:4px;margin:0;white-space:pre-wrap;max-width:560px;overflow:auto;font-size:12px}
.bad{color:#b00}.note{color:#555;font-size:90%}h2{border-bottom:2px solid #4c78a8;margin-top:2em}"""


def _rel(path: Path, out_dir: Path) -> str:
    return os.path.relpath(path, out_dir).replace(os.sep, "/")


def render(course_root: Path, data: dict, out_dir: Path, similar: dict, seconds: float | None = None) -> str:
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'><title>Class report</title>",
             f"<style>{CSS}</style></head><body><h1>Class report</h1>",
             f"<p class='note'>Course {esc(course_root.name)}; generated {esc(time.strftime('%Y-%m-%d %H:%M'))}. "
             "Similarity flags pairs for a person to look at; it accuses nobody.</p>"]
    parts.append("<ul>" + "".join(f"<li><a href='#{esc(a)}'>{esc(a)}</a></li>" for a in data) + "</ul>")
    for a, subs in data.items():
        sm = summary(subs)
        parts.append(f"<h2 id='{esc(a)}'>{esc(a)}</h2><h3>Summary</h3><table><tr>" + "".join(
            f"<th>{h}</th>" for h in ("submissions", "max", "mean", "median", "blank", "timed out", "flagged",
                                      "failed", "s/submission (median, max)")) + "</tr><tr>" + "".join(
            f"<td>{v}</td>" for v in (sm["submissions"], _fmt(sm["max_score"], "g"), _fmt(sm["mean"]),
                                      _fmt(sm["median"]), sm["blank"], sm["timed_out"], sm["flagged"], sm["failed"],
                                      f"{_fmt(sm['seconds_median'], '.1f')}, {_fmt(sm['seconds_max'], '.1f')}"))
            + "</tr></table>")
        parts.append(f"<img alt='{esc(a)} score histogram' src='{histogram_png(subs, a)}'>")
        items = item_analysis(subs)
        parts.append("<h3>Item analysis</h3>")
        if items:
            parts.append(f"<img alt='{esc(a)} item analysis' src='{items_png(items, a)}'>")
            parts.append("<table><tr><th>test cell</th><th>points</th><th>students</th><th>pass share</th>"
                         "<th>discrimination</th><th>note</th></tr>" + "".join(
                f"<tr><td>{esc(it['cell'])}</td><td>{_fmt(it['max_score'], 'g')}</td><td>{it['n']}</td>"
                f"<td>{_fmt(it['pass_share'])}</td><td>{_fmt(it['discrimination'])}</td>"
                f"<td class='bad'>{esc(it['verdict'])}</td></tr>" for it in items) + "</table>")
        fails = common_failures(subs)
        parts.append("<h3>Common failures</h3>")
        if not fails:
            parts.append("<p>No test cell failed.</p>")
        else:
            parts.append("<table><tr><th>test cell</th><th>message (numbers masked)</th><th>students</th>"
                         "<th>one example</th></tr>")
            for cell, groups in fails.items():
                for g in groups:
                    parts.append(f"<tr><td>{esc(cell)}</td><td><pre>{esc(g['message'])}</pre></td>"
                                 f"<td title='{esc(', '.join(g['students']))}'>{g['count']}</td>"
                                 f"<td><pre>{esc(g['example'])}</pre></td></tr>")
            parts.append("</table>")
        parts.append(_similar_html(similar.get(a, [])))
        flagged = [s for s in subs if s.flags or s.failed or s.timed_out]
        parts.append("<h3>Flagged for review</h3>")
        if not flagged:
            parts.append("<p>Nothing flagged.</p>")
        else:
            parts.append("<table><tr><th>student</th><th>findings</th><th>notebooks</th></tr>")
            for s in flagged:
                what = list(s.flags) + ([f"failed: {s.failed}"] if s.failed else []) + \
                    (["a cell timed out"] if s.timed_out else [])
                links = " ".join(f"<a href='{esc(_rel(p, out_dir))}'>{esc(p.name)}</a>" for p in s.notebooks)
                fb = course_root / "feedback" / s.student / a
                links += " ".join(f" <a href='{esc(_rel(p, out_dir))}'>feedback</a>" for p in sorted(fb.glob("*.html")))
                parts.append(f"<tr><td>{esc(s.student)}</td><td><ul>" + "".join(
                    f"<li>{esc(w)}</li>" for w in what) + f"</ul></td><td>{links}</td></tr>")
            parts.append("</table>")
    if seconds is not None:
        parts.append(f"<p class='note'>Report built in {seconds:.1f} s.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _similar_html(pairs) -> str:
    out = ["<h3>Similar submissions</h3>",
           "<p class='note'>Answer cells compared with identifiers renamed away and the released template "
           "removed; a high score is a reason to look, not a verdict.</p>"]
    if not pairs:
        return "\n".join(out + ["<p>Fewer than two submissions with answers.</p>"])
    out.append("<table><tr><th>rank</th><th>pair</th><th>similarity</th></tr>")
    for k, p in enumerate(pairs[:15], 1):
        out.append(f"<tr><td>{k}</td><td><a href='#sim-{esc(p['a'])}-{esc(p['b'])}-{esc(p['assignment'])}'>"
                   f"{esc(p['a'])} &amp; {esc(p['b'])}</a></td><td>{p['similarity']:.2f}</td></tr>")
    out.append("</table>")
    for p in pairs[:5]:
        out.append(f"<details id='sim-{esc(p['a'])}-{esc(p['b'])}-{esc(p['assignment'])}'><summary>"
                   f"{esc(p['a'])} &amp; {esc(p['b'])}: {p['similarity']:.2f}</summary><table>"
                   f"<tr><th>cell</th><th>{esc(p['a'])}</th><th>{esc(p['b'])}</th></tr>")
        for c in p["cells"]:
            out.append(f"<tr><td>{esc(c['cell'])}<br>{c['similarity']:.2f}</td><td><pre>{esc(c['left'])}</pre></td>"
                       f"<td><pre>{esc(c['right'])}</pre></td></tr>")
        out.append("</table></details>")
    return "\n".join(out)


def build(course_root: Path, names=None, out_dir: Path | None = None) -> Path:
    """Write ``out_dir/index.html`` (default ``COURSE/report/``); returns its path."""
    from grader import similarity
    t0 = time.perf_counter()
    course_root = Path(course_root).resolve()
    out_dir = Path(out_dir or course_root / "report").resolve()
    data = collect(course_root, names)
    if not data:
            raise PipelineError(f"nothing to report: no graded submissions in {course_root}"
                            + (f" for {names}" if names else ""))
    similar = {}
    for a, subs in data.items():
        template = released_answers(course_root, a)
        similar[a] = [dict(p, assignment=a) for p in similarity.rank_pairs(
            {s.student: s.answers for s in subs if s.answers and not s.blank}, template)]
    out_dir.mkdir(parents=True, exist_ok=True)
    page = render(course_root, data, out_dir, similar, seconds=time.perf_counter() - t0)
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path
