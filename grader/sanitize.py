"""Make a graded notebook inert before anyone opens it (docs/sandbox.md, "Outputs").

A submission's outputs, markdown and raw cells are written by student code. nbconvert (the
formgrader and the feedback HTML) inserts them into the page as they are, on the Jupyter
server's origin. ``sanitize_notebook`` keeps what a lecture or an answer legitimately shows
(text, tables, matplotlib PNGs, LaTeX, formatting) and drops what runs or fetches.
"""
from __future__ import annotations

import base64
import binascii
import copy
import html
import os
import re
import uuid

import nh3
from nbformat import NotebookNode
from nbgrader.preprocessors import NbGraderPreprocessor

# MIME types an output keeps (text/html, text/markdown and SVG after cleaning); anything else
# (application/javascript, widget views, vendor renderers) becomes a text note.
KEPT_MIME = ("text/plain", "text/html", "text/markdown", "text/latex",
             "image/png", "image/jpeg", "image/gif", "image/svg+xml")
RASTER = ("image/png", "image/jpeg", "image/gif")
OUTPUT_TYPES = ("stream", "display_data", "execute_result", "error")

HTML_TAGS = set(nh3.ALLOWED_TAGS) | {"tfoot"}
GENERIC_ATTRIBUTES = {"class", "style", "title", "align", "lang", "dir"}
HTML_ATTRIBUTES = {tag: set(attrs) for tag, attrs in copy.deepcopy(nh3.ALLOWED_ATTRIBUTES).items()}
HTML_ATTRIBUTES.setdefault("th", set()).update({"halign", "valign"})
HTML_ATTRIBUTES.setdefault("td", set()).update({"valign"})
HTML_ATTRIBUTES.setdefault("table", set()).update({"border"})
HTML_ATTRIBUTES.setdefault("img", set()).update({"title"})
HTML_ATTRIBUTES["*"] = GENERIC_ATTRIBUTES
# no position, no url(): a style may colour and lay out a table, not cover the page or fetch
STYLE_PROPERTIES = {"color", "background-color", "text-align", "vertical-align", "font-weight",
                    "font-style", "font-size", "font-family", "text-decoration", "white-space",
                    "border", "border-collapse", "border-color", "border-style", "border-width",
                    "border-top", "border-bottom", "border-left", "border-right", "border-spacing",
                    "padding", "padding-top", "padding-bottom", "padding-left", "padding-right",
                    "margin", "margin-top", "margin-bottom", "margin-left", "margin-right",
                    "width", "height", "max-width", "min-width", "line-height", "display"}

SVG_TAGS = {"svg", "g", "defs", "path", "rect", "circle", "ellipse", "line", "polyline", "polygon",
            "text", "tspan", "title", "desc", "clipPath", "clippath", "use", "linearGradient",
            "lineargradient", "radialGradient", "radialgradient", "stop", "symbol", "marker", "mask",
            "pattern"}
SVG_ATTRIBUTES = {"*": {"id", "class", "transform", "fill", "fill-opacity", "fill-rule", "stroke",
                        "stroke-width", "stroke-opacity", "stroke-linecap", "stroke-linejoin",
                        "stroke-dasharray", "stroke-dashoffset", "stroke-miterlimit", "opacity",
                        "clip-path", "clip-rule", "mask", "marker-start", "marker-mid", "marker-end",
                        "font-family", "font-size", "font-weight", "font-style", "text-anchor",
                        "dominant-baseline", "x", "y", "x1", "y1", "x2", "y2", "cx", "cy", "r", "rx", "ry",
                        "width", "height", "d", "points", "dx", "dy", "viewBox", "viewbox",
                        "preserveAspectRatio", "xmlns", "xmlns:xlink", "version", "offset",
                        "stop-color", "stop-opacity", "gradientUnits", "gradientTransform",
                        "patternUnits", "clipPathUnits", "markerWidth", "markerHeight", "refX", "refY",
                        "orient", "style"},
                  "use": {"href", "xlink:href"}}

RASTER_DATA_URL = re.compile(r"^data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/=\s]*$", re.I)
# no relative links: the formgrader serves the submission's own files (which student code may have
# written) on the Jupyter server's origin, so a link into the folder would open them there
SAFE_LINK = re.compile(r"^(?:https?://|mailto:|#)", re.I)
# files the formgrader would serve as pages (``/formgrader/submissions/<id>/<file>``): renamed
ACTIVE_SUFFIXES = {".html", ".htm", ".xhtml", ".xht", ".shtml", ".svg", ".svgz", ".xml", ".xsl", ".xslt",
                   ".js", ".mjs", ".mht", ".mhtml"}
CELL_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
STREAM_NAMES = ("stdout", "stderr")
# javascript:/vbscript:/data:text URLs in markdown syntax or LaTeX (\href), even when split by
# whitespace or entities the way browsers still accept them
SCRIPT_URL = re.compile(r"(?:j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:|data\s*:\s*text/", re.I)
MD_LINK = re.compile(r"(!?)(\[[^\]]*\]\(\s*<?)([^)\s>]+)")
MD_REFERENCE = re.compile(r"^( {0,3}\[[^\]]+\]:\s*<?)(\S+?)(?=>|\s|$)", re.M)
TAG_START = re.compile(r"<[A-Za-z/!?]")
STRICT_TAG = re.compile(r"</?([A-Za-z][A-Za-z0-9]*)((?:\s+[A-Za-z][-A-Za-z0-9_:]*"
                        r"(?:\s*=\s*(?:\"[^\"<>]*\"|'[^'<>]*'|[^\s\"'=<>`]+))?)*)\s*/?>")
ATTRIBUTE = re.compile(r"([A-Za-z][-A-Za-z0-9_:]*)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s\"'=<>`]+))?")
DANGEROUS_ELEMENTS = {"script", "style", "iframe", "frame", "frameset", "object", "embed", "applet",
                      "form", "input", "button", "textarea", "select", "link", "meta", "base", "svg",
                      "math", "template", "noscript", "xmp", "plaintext", "noembed", "noframes",
                      "portal", "video", "audio", "source", "image", "isindex", "param", "dialog"}

REMOVED_NOTE = ("[output removed by the grader: {kinds} can run code in a grader's browser, "
                "so graded notebooks do not keep it]")


def _url_allowed(value: str, *, images: str) -> bool:
    value = re.sub(r"[\x00-\x20]", "", html.unescape(value))     # browsers drop these in URLs
    if images == "raster":
        return bool(RASTER_DATA_URL.match(value))
    if images == "attachment":
        return bool(RASTER_DATA_URL.match(value)) or value.lower().startswith("attachment:")
    return bool(SAFE_LINK.match(value))


def _html_filter(images: str):
    def keep(tag, attr, value):
        if attr in ("src", "srcset") or (tag == "img" and attr == "href"):
            return value if tag == "img" and attr == "src" and _url_allowed(value, images=images) else None
        if attr == "href":
            return value if _url_allowed(value, images="link") else None
        return value
    return keep


def clean_html(text: str, *, images: str = "raster") -> str:
    """``text`` as HTML with formatting, tables and inline images kept; scripts, event handlers,
    ``javascript:`` links, iframes, objects, forms and fetches from other hosts dropped."""
    return nh3.clean(text, tags=HTML_TAGS, attributes=HTML_ATTRIBUTES,
                     attribute_filter=_html_filter(images), url_schemes={"http", "https", "mailto", "data",
                                                                          "attachment"},
                     filter_style_properties=STYLE_PROPERTIES, link_rel="noopener noreferrer nofollow")


def clean_svg(text: str) -> str:
    def keep(tag, attr, value):
        if attr in ("href", "xlink:href"):
            return value if value.strip().startswith("#") else None     # only this SVG's own parts
        if attr == "style" and re.search(r"url\s*\(\s*['\"]?\s*[^#'\"\s]", value, re.I):
            return None
        return value
    return nh3.clean(text, tags=SVG_TAGS, attributes=SVG_ATTRIBUTES, attribute_filter=keep,
                     clean_content_tags={"script", "style"}, link_rel=None)


def _tag_extent(text: str, i: int) -> int:
    """Where the tag a browser starts at ``text[i] == '<'`` ends (after its ``>``, or the end):
    a quote opens an attribute value only right after ``=``, as in the HTML tokenizer."""
    quote, after_eq = None, False
    for j in range(i + 1, len(text)):
        ch = text[j]
        if quote:
            if ch == quote:
                quote = None
        elif ch == ">":
            return j + 1
        elif ch in "\"'" and after_eq:
            quote = ch
        if not ch.isspace():
            after_eq = ch == "="
    return len(text)


def _tag_allowed(tag: str) -> bool:
    m = STRICT_TAG.fullmatch(tag)
    if not m:
        # not a tag a person writes; harmless only if it has no attribute values at all (math
        # such as "$x<y$ ... $a>b$" reads like that) and is no element that runs or restyles
        name = re.match(r"</?([^\s/>]*)", tag).group(1).lower()
        return "=" not in tag and name not in DANGEROUS_ELEMENTS and not SCRIPT_URL.search(tag)
    name = m.group(1).lower()
    if name not in HTML_TAGS:
        return False
    allowed = GENERIC_ATTRIBUTES | HTML_ATTRIBUTES.get(name, set())
    for attr, value in ATTRIBUTE.findall(m.group(2) or ""):
        attr = attr.lower()
        value = html.unescape(value.strip("\"'"))
        if attr not in allowed:
            return False
        if attr == "href" and not _url_allowed(value, images="link"):
            return False
        if attr == "src" and not _url_allowed(value, images="attachment"):
            return False
        if attr == "style" and re.search(r"url\s*\(|expression|@import|\\|position", value, re.I):
            return False
    return True


def _escape_unsafe_tags(text: str) -> str:
    out, i = [], 0
    for m in TAG_START.finditer(text):
        if m.start() < i:
            continue            # inside a tag kept already
        end = _tag_extent(text, m.start())
        tag = text[m.start():end]
        out.append(text[i:m.start()])
        out.append(tag if _tag_allowed(tag) else "&lt;" + tag[1:])
        i = end
    out.append(text[i:])
    return "".join(out)


def clean_markdown(text: str, *, attachments: bool = False) -> str:
    """Markdown (or a raw cell's HTML) with every tag that could run, fetch or restyle shown as
    text instead (``&lt;``), script URLs and images from other hosts removed; the rest as written."""
    images = "attachment" if attachments else "raster"
    out = _escape_unsafe_tags(text)

    def link(m):
        return m.group(0) if _url_allowed(m.group(3), images=images if m.group(1) else "link") \
            else m.group(1) + m.group(2) + "#removed"
    out = MD_LINK.sub(link, out)
    out = MD_REFERENCE.sub(lambda m: m.group(0) if _url_allowed(m.group(2), images="link")
                           else m.group(1) + "#removed", out)
    return SCRIPT_URL.sub("removed:", out)


def _valid_base64(data) -> bool:
    text = "".join(data) if isinstance(data, list) else data
    if not isinstance(text, str):
        return False
    try:
        base64.b64decode(re.sub(r"\s", "", text), validate=True)
        return True
    except (binascii.Error, ValueError):
        return False


def _joined(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def _clean_output(out) -> dict | None:
    kind = out.get("output_type")
    if kind not in OUTPUT_TYPES:
        return None
    if kind == "stream":
        out["name"] = out.get("name") if out.get("name") in STREAM_NAMES else "stdout"
        out["text"] = _joined(out.get("text", ""))
        return out
    if kind == "error":
        out["ename"], out["evalue"] = str(out.get("ename", "")), str(out.get("evalue", ""))
        out["traceback"] = [str(t) for t in out.get("traceback", [])]
        return out
    data, removed = {}, []
    for mime, value in dict(out.get("data", {})).items():
        if mime not in KEPT_MIME:
            removed.append(mime)
        elif mime in RASTER:
            if _valid_base64(value):
                data[mime] = _joined(value)
            else:
                removed.append(mime + " (not base64)")
        elif mime == "text/html":
            data[mime] = clean_html(_joined(value))
        elif mime == "image/svg+xml":
            data[mime] = clean_svg(_joined(value))
        elif mime == "text/markdown":
            data[mime] = clean_markdown(_joined(value))
        elif mime == "text/latex":
            data[mime] = SCRIPT_URL.sub("removed:", _joined(value))
        else:
            data[mime] = _joined(value)
    if removed:
        note = REMOVED_NOTE.format(kinds=", ".join(sorted(removed)))
        data["text/plain"] = note + ("\n" + data["text/plain"] if "text/plain" in data else "")
    out["data"] = NotebookNode(data)
    # nbconvert writes width/height into the <img> tag: numbers only
    meta = {}
    for mime, m in dict(out.get("metadata", {})).items():
        if mime in data and isinstance(m, dict):
            sizes = {k: m[k] for k in ("width", "height") if isinstance(m.get(k), (int, float))
                     and not isinstance(m.get(k), bool)}
            if sizes:
                meta[mime] = NotebookNode(sizes)
    out["metadata"] = NotebookNode(meta)
    if kind == "execute_result" and not isinstance(out.get("execution_count"), int):
        out["execution_count"] = None
    return out


def sanitize_notebook(nb) -> None:
    """Clean every output, markdown and raw cell of ``nb`` in place (see the module docstring)."""
    nb.metadata.pop("widgets", None)             # widget state re-renders student HTML
    lang = nb.metadata.get("language_info", {})
    if isinstance(lang, dict) and not re.fullmatch(r"[A-Za-z0-9_+-]{0,40}", str(lang.get("name", ""))):
        lang["name"] = "python"
    for cell in nb.cells:
        if "id" in cell and not CELL_ID.match(str(cell.get("id", ""))):
            cell["id"] = uuid.uuid4().hex[:8]
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in (_clean_output(o) for o in cell.get("outputs", [])) if o is not None]
        elif cell.get("cell_type") in ("markdown", "raw"):
            cell["source"] = clean_markdown(_joined(cell.get("source", "")), attachments=True)
            if "attachments" in cell:
                cell["attachments"] = NotebookNode(
                    {name: NotebookNode({m: _joined(v) for m, v in att.items() if m in RASTER and _valid_base64(v)})
                     for name, att in dict(cell["attachments"]).items() if isinstance(att, dict)})
    return None


def neutralize_files(folder) -> list[str]:
    """In a graded submission's folder, rename files a browser would run (``x.html`` ->
    ``x.html.txt``) and replace symlinks by a note naming their target. Returns what changed."""
    changed = []
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                target = os.readlink(path)
                os.unlink(path)
                with open(path + ".symlink.txt", "w") as fh:
                    fh.write(f"a symlink to {target} was here; the grader removed it\n")
                changed.append(path)
            elif name in filenames and os.path.splitext(name)[1].lower() in ACTIVE_SUFFIXES:
                os.replace(path, path + ".txt")
                changed.append(path)
    return changed


class SanitizeOutputs(NbGraderPreprocessor):
    """nbgrader preprocessor: ``sanitize_notebook`` on the executed submission, before it is
    saved (``autograded/``, gradebook) and before feedback is rendered from it."""

    def preprocess(self, nb, resources):
        sanitize_notebook(nb)
        folder = (resources or {}).get("metadata", {}).get("path")
        # only a submission's folder under autograded/ (nbgrader's default name), never a course's own
        if folder and os.path.isdir(folder) and "autograded" in os.path.normpath(folder).split(os.sep)[:-1]:
            for path in neutralize_files(folder):
                self.log.warning("renamed %s: the formgrader would serve it as a page", path)
        return nb, resources
