"""What in an HTML page can run code or fetch from elsewhere (tests of grader/sanitize.py)."""
import html.parser


def executable_bits(page: str, marker: str = "evil.example") -> list:
    """Script-like elements, event handlers, ``javascript:`` URLs and ``src``es naming ``marker``."""
    found = []

    class Parser(html.parser.HTMLParser):
        def handle_starttag(self, tag, attrs):
            if tag in ("script", "iframe", "object", "embed", "form", "frame", "base", "style"):
                found.append((tag, dict(attrs).get("src", "")))
            for k, v in attrs:
                v = (v or "").replace("\t", "").replace("\n", "").lower()
                # a link a grader clicks is no fetch; a src is
                if k.startswith("on") or v.startswith("javascript:") or (k != "href" and marker.lower() in v):
                    found.append((tag, k, v))
    Parser().feed(page)
    return found
