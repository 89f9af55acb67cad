"""Graded notebooks are inert: grader/sanitize.py on hostile and on legitimate outputs."""
import base64
import io

import nbformat
import pytest
from nbconvert import HTMLExporter
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output, new_raw_cell

from grader.sanitize import clean_html, clean_markdown, clean_svg, sanitize_notebook
from html_checks import executable_bits as _executable_bits

MARK = "mlpPwned"       # every hostile payload below mentions it in the code it tries to run


def _png() -> str:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(1, 1))
    ax.plot([0, 1], [0, 1])
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


HOSTILE_HTML = [
    f"<script>window.{MARK}=1</script>",
    f"<img src=x onerror=\"window.{MARK}=1\">",
    f"<iframe src=\"/api/terminals\" onload=\"{MARK}()\"></iframe>",
    f"<a href=\"javascript:{MARK}()\">click</a>",
    f"<a href=\"jav&#x61;script:{MARK}()\">click</a>",
    f"<form action=\"/api/terminals\"><button formaction=\"javascript:{MARK}()\">go</button></form>",
    f"<object data=\"javascript:{MARK}()\"></object><embed src=\"x.swf\">",
    f"<div style=\"background:url(https://evil.example/{MARK}.png)\">x</div>",
    f"<img src=\"https://evil.example/{MARK}.png\">",
    f"<svg onload=\"{MARK}()\"><script>{MARK}()</script></svg>",
    f"<style>@import url(https://evil.example/{MARK}.css);</style>",
    f"<img alt=\">\" src=x onerror={MARK}()>",
]


def _render(nb) -> str:
    return HTMLExporter(template_name="lab").from_notebook_node(nb)[0]


def _notebook(outputs, markdown=(), raw=()):
    nb = new_notebook()
    nb.cells.append(new_code_cell("", outputs=outputs))
    nb.cells += [new_markdown_cell(m) for m in markdown] + [new_raw_cell(r) for r in raw]
    return nb


@pytest.mark.parametrize("payload", HOSTILE_HTML)
def test_clean_html_drops_what_runs_or_fetches(payload):
    out = clean_html(payload)
    assert "<script" not in out and "onerror" not in out and "onload" not in out, out
    assert "javascript:" not in out and "evil.example" not in out and "<iframe" not in out, out
    assert "<form" not in out and "<object" not in out and "<embed" not in out, out


def test_legitimate_outputs_keep_their_content():
    # what pandas' DataFrame._repr_html_ writes (pandas is not a course dependency)
    table = ('<div>\n<style scoped>\n    .dataframe tbody tr th {\n        vertical-align: top;\n    }\n</style>\n'
             '<table border="1" class="dataframe">\n  <thead>\n    <tr style="text-align: right;">\n      <th></th>\n'
             '      <th>epoch</th>\n      <th>loss</th>\n    </tr>\n  </thead>\n  <tbody>\n    <tr>\n'
             '      <th>0</th>\n      <td>1</td>\n      <td>0.5</td>\n    </tr>\n    <tr>\n      <th>1</th>\n'
             '      <td>2</td>\n      <td>0.25</td>\n    </tr>\n  </tbody>\n</table>\n</div>')
    kept = clean_html(table)
    assert '<table border="1" class="dataframe">' in kept and "<td>0.25</td>" in kept and "<th>epoch</th>" in kept
    assert '<tr style="text-align:right">' in kept and "<style" not in kept
    png = _png()
    assert clean_html(f'<img src="data:image/png;base64,{png}">').count(png) == 1
    assert clean_html('<b>bold</b> <a href="https://pytorch.org">docs</a>').startswith("<b>bold</b>")
    svg = clean_svg('<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><defs><path id="m" d="M0 0"/>'
                    '</defs><use href="#m" x="1"/><circle cx="5" cy="5" r="4" fill="red"/></svg>')
    assert 'r="4"' in svg and 'href="#m"' in svg and "<circle" in svg


@pytest.mark.parametrize("markdown", [
    "The loss falls when $x<y$ and `a < b`, and $a>b$ otherwise.",
    "**bold**, a [link](https://d2l.ai), a table:\n\n| a | b |\n|---|---|\n| 1 | 2 |",
    "<details><summary>Why</summary>Because <b>dead</b> units get no gradient.</details>",
    "$$\\frac{\\partial L}{\\partial w} = x^\\top \\delta$$ and ![plot](attachment:plot.png)",
])
def test_markdown_answers_stay_as_written(markdown):
    assert clean_markdown(markdown, attachments=True) == markdown


@pytest.mark.parametrize("markdown", HOSTILE_HTML + [
    f"[notes](javascript:{MARK}())", f"[notes](JaVa\tScRiPt:{MARK}())", f"[n](jav&#97;script:{MARK}())",
    f"![x](https://evil.example/{MARK}.png)", f"[r]: javascript:{MARK}()\n\nsee [r]",
    f"<div\nonclick=\"{MARK}()\">text</div>", f"<b title=it's onmouseover={MARK}()>x</b>",
])
def test_hostile_markdown_renders_inert(markdown):
    cleaned = clean_markdown(markdown, attachments=True)
    page = _render(_notebook([], markdown=[cleaned], raw=[cleaned]))
    base = _executable_bits(_render(_notebook([], markdown=["plain"], raw=["plain"])))
    assert _executable_bits(page) == base, (markdown, cleaned)


def test_sanitize_notebook_outputs():
    png = _png()
    outputs = [new_output("display_data", data={"text/html": h, "text/plain": "<HTML>"}) for h in HOSTILE_HTML]
    outputs += [
        new_output("display_data", data={"application/javascript": f"window.{MARK}=1", "text/plain": "<JS>"}),
        new_output("display_data", data={"application/vnd.jupyter.widget-view+json":
                                         {"model_id": "abc", "version_major": 2, "version_minor": 0},
                                         "text/plain": "IntSlider(value=3)"}),
        new_output("display_data", data={"image/svg+xml": f"<svg onload='{MARK}()'><script>{MARK}()</script>"
                                                          "<circle r='2'/></svg>"}),
        new_output("display_data", data={"image/png": f'x" onerror="{MARK}()'}),
        new_output("display_data", data={"image/png": png},
                   metadata={"image/png": {"width": f'1 onerror="{MARK}()"', "height": 50}}),
        new_output("display_data", data={"text/markdown": f"<img src=x onerror={MARK}()> **kept**"}),
        new_output("display_data", data={"text/latex": f"$\\href{{javascript:{MARK}()}}{{x}}$ $\\alpha$"}),
        new_output("stream", name=f'stdout"><script>{MARK}()</script>', text="printed\n"),
        new_output("execute_result", data={"text/plain": "3"}, execution_count=1),
    ]
    nb = _notebook(outputs, markdown=[f"<img src=x onerror={MARK}()>"])
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    base = _executable_bits(_render(_notebook([new_output("stream", name="stdout", text="x")])))
    assert _executable_bits(_render(nb)) != base            # the hostile notebook does run script
    sanitize_notebook(nb)
    nbformat.validate(nb)
    page = _render(nb)
    assert _executable_bits(page) == base
    assert "widgets" not in nb.metadata
    outs = nb.cells[0].outputs
    js, widget, svg, bad_png, good_png, md, latex, stream, result = outs[len(HOSTILE_HTML):]
    assert "application/javascript" not in js.data and "output removed by the grader" in js.data["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" not in widget.data and "IntSlider(value=3)" in widget.data["text/plain"]
    assert "<circle" in svg.data["image/svg+xml"] and "script" not in svg.data["image/svg+xml"]
    assert "image/png" not in bad_png.data and "not base64" in bad_png.data["text/plain"]
    assert good_png.data["image/png"] == png and good_png.metadata == {"image/png": {"height": 50}}
    assert "**kept**" in md.data["text/markdown"] and "onerror" not in md.data["text/markdown"].split("&lt;")[0]
    assert "javascript:" not in latex.data["text/latex"] and "\\alpha" in latex.data["text/latex"]
    assert stream.name == "stdout" and stream.text == "printed\n"
    assert result.data["text/plain"] == "3"
    assert f'src="data:image/png;base64,{png}"' in page


def test_cleaning_twice_changes_nothing():
    nb = _notebook([new_output("display_data", data={"text/html": h}) for h in HOSTILE_HTML],
                   markdown=HOSTILE_HTML)
    sanitize_notebook(nb)
    once = nbformat.writes(nb)
    sanitize_notebook(nb)
    assert nbformat.writes(nb) == once


def test_relative_links_go_and_served_files_are_renamed(tmp_path):
    # the formgrader serves a submission's files on the server's origin: no link may lead there
    assert 'href' not in clean_html('<a href="page.html">open</a>')
    assert "page.html" not in clean_markdown("[open](page.html)")
    from grader.sanitize import SanitizeOutputs
    folder = tmp_path / "autograded" / "alice" / "a1"
    (folder / "sub").mkdir(parents=True)
    (folder / "page.html").write_text("<script>x()</script>")
    (folder / "sub" / "pic.SVG").write_text("<svg onload='x()'/>")
    (folder / "data.npy").write_bytes(b"\x93NUMPY")
    (folder / "key").symlink_to("/etc/hostname")
    SanitizeOutputs().preprocess(new_notebook(), {"metadata": {"path": str(folder)}})
    names = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert names == ["data.npy", "key.symlink.txt", "page.html.txt", "sub/pic.SVG.txt"], names
    assert (folder / "page.html.txt").read_text() == "<script>x()</script>"       # renamed, not lost
    assert "/etc/hostname" in (folder / "key.symlink.txt").read_text()
    # a folder that is not a submission's is left alone
    other = tmp_path / "course"
    other.mkdir()
    (other / "index.html").write_text("x")
    SanitizeOutputs().preprocess(new_notebook(), {"metadata": {"path": str(other)}})
    assert (other / "index.html").exists()
