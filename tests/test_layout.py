"""The project's shape: imports run one way (no cycle between modules of grader/ and utils/),
no module uses another's private names, and nothing imports the CLI."""
import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("grader", "utils", "experiments")


def _module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules(root: Path = REPO) -> dict:
    return {_module_name(p, root): p for pkg in PACKAGES for p in sorted((root / pkg).rglob("*.py"))}


def _imports(path: Path, known: set, root: Path = REPO) -> list[tuple[str, str, int]]:
    """``(imported module, name or '', line)`` for every import of a project module, anywhere
    in the file (function bodies included)."""
    out = []
    tree = ast.parse(path.read_text())
    here = _module_name(path, root)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, "", node.lineno) for a in node.names if a.name.split(".")[0] in PACKAGES]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:      # relative: from . import x / from .x import y
                pkg = here.split(".")[:-node.level + (1 if path.name == "__init__.py" else 0)] or [here]
                base = ".".join(pkg + ([node.module] if node.module else []))
            if base.split(".")[0] not in PACKAGES:
                continue
            for a in node.names:
                sub = f"{base}.{a.name}"
                out.append((sub, "", node.lineno) if sub in known else (base, a.name, node.lineno))
    return out


def _graph() -> dict:
    mods = _modules()
    known = set(mods)
    graph = {m: set() for m in mods}
    for m, path in mods.items():
        for target, _, _ in _imports(path, known):
            while target not in known and "." in target:
                target = target.rsplit(".", 1)[0]
            # a module importing its own package's __init__ (``from grader import x``) is not an edge
            if target in known and target != m and not m.startswith(target + "."):
                graph[m].add(target)
    return graph


def find_cycle(graph: dict):
    """One import cycle as a list of modules, or None."""
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                return stack[stack.index(n):] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None
    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_find_cycle_finds_one():
    # the check itself: a two-module circle and a three-module one are found, a chain is not
    assert find_cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_between_project_modules():
    graph = _graph()
    assert len(graph) > 10 and graph["grader.cli"], "the walk found no modules or no imports"
    cycle = find_cycle(graph)
    assert cycle is None, f"import cycle: {' -> '.join(cycle)}"


def test_nothing_imports_the_cli():
    importers = sorted(m for m, deps in _graph().items() if "grader.cli" in deps and m != "grader.__main__")
    assert not importers, f"{importers} import grader.cli: move what they need out of it"


def private_uses(root: Path = REPO) -> list[str]:
    mods = _modules(root)
    known = set(mods)
    bad = []
    for m, path in mods.items():
        tree = ast.parse(path.read_text())
        aliases = {}
        for target, name, line in _imports(path, known, root):
            if name.startswith("_") and not name.startswith("__"):
                bad.append(f"{path.relative_to(root)}:{line} imports {target}.{name}")
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in PACKAGES:
                for a in node.names:
                    if f"{node.module}.{a.name}" in known:
                        aliases[a.asname or a.name] = f"{node.module}.{a.name}"
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name in known and a.asname:
                        aliases[a.asname] = a.name
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in aliases and aliases[node.value.id] != m
                    and node.attr.startswith("_") and not node.attr.startswith("__")):
                bad.append(f"{path.relative_to(root)}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return bad


def test_no_private_name_used_across_modules():
    bad = private_uses()
    assert not bad, "private names used outside their module:\n" + "\n".join(bad)


@pytest.mark.parametrize("source, found", [
    ("from grader.pool import _API\n", True),
    ("from grader import pool as p\nx = p._ROOT\n", True),
    ("from grader.pool import grade_one\n", False),
])
def test_private_name_check_sees_both_spellings(tmp_path, source, found):
    for pkg in PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "__init__.py").write_text("")
    (tmp_path / "grader" / "pool.py").write_text("_API = _ROOT = None\n\ndef grade_one():\n    return _API\n")
    (tmp_path / "grader" / "probe.py").write_text(source)
    assert bool(private_uses(tmp_path)) == found


MAX_FUNCTION_LINES = 60


def long_functions(root: Path = REPO, limit: int = MAX_FUNCTION_LINES) -> list[str]:
    """Every function or method of grader/, utils/ and benchmarks/ longer than ``limit`` lines
    (decorators excluded, docstring included)."""
    out = []
    for pkg in PACKAGES + ("benchmarks",):
        for path in sorted((root / pkg).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    n = node.end_lineno - node.lineno + 1
                    if n > limit:
                        out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({n} lines)")
    return out


def test_no_function_over_60_lines():
    bad = long_functions()
    assert not bad, f"functions over {MAX_FUNCTION_LINES} lines (split them):\n" + "\n".join(bad)


def test_function_length_check_counts_lines(tmp_path):
    for pkg in PACKAGES + ("benchmarks",):
        (tmp_path / pkg).mkdir()
    body = "".join(f"    x{k} = {k}\n" for k in range(60))
    (tmp_path / "utils" / "long.py").write_text("def exactly_61():\n" + body + "\n\ndef short():\n    return 1\n")
    (tmp_path / "grader" / "ok.py").write_text("def exactly_60():\n" + body[: -len("    x59 = 59\n")])
    found = long_functions(tmp_path)
    assert found == ["utils/long.py:1 exactly_61 (61 lines)"], found
