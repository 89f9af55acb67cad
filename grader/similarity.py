"""Similar submissions: answer cells compared with identifiers renamed away.

Each answer cell is parsed (``ast``); docstrings and comments go, every function gets the
same name, and arguments and local names become ``v0, v1, ...`` in order of first use
(names the code only reads and never binds -- ``np``, ``len``, globals of the template --
stay, they say what the code calls). Each top-level statement is then cut into k-grams of
tokens and hashed, so that renaming variables and reordering functions change nothing, while
two students who wrote the same function independently share only short idioms.
Fingerprints that also occur in the released template's cell are removed (the signature,
the ``raise NotImplementedError`` stub, the given helper lines).

The similarity of two students is the Jaccard index of their fingerprint sets over all
answer cells (cells without fingerprints for either are skipped). It flags a pair for a
person to look at; it proves nothing.
"""
from __future__ import annotations

import ast
import builtins
import hashlib
import io
import itertools
import tokenize

K = 5       # tokens per fingerprint


class _Rename(ast.NodeTransformer):
    def __init__(self, bound: set):
        self.bound = bound
        self.map: dict[str, str] = {}

    def _name(self, n: str) -> str:
        if n not in self.map:
            self.map[n] = f"v{len(self.map)}"
        return self.map[n]

    def visit_FunctionDef(self, node):
        node.name = "F"
        if node.body and isinstance(node.body[0], ast.Expr) and isinstance(
                getattr(node.body[0], "value", None), ast.Constant) and isinstance(node.body[0].value.value, str):
            node.body = node.body[1:] or [ast.Pass()]
        node.decorator_list = []
        node.returns = None
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_arg(self, node):
        node.arg = self._name(node.arg)
        node.annotation = None
        return node

    def visit_Name(self, node):
        if node.id in self.bound:
            node.id = self._name(node.id)
        return node


def _bound_names(tree) -> set:
    """Names the code binds (assigned, arguments, loop targets, functions, imports as)."""
    out = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.Name) and isinstance(n.ctx, (ast.Store, ast.Del)):
            out.add(n.id)
        elif isinstance(n, ast.arg):
            out.add(n.arg)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
    return out - set(dir(builtins))


def _tokens(code: str) -> list[str]:
    toks = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(code).readline):
            if t.type in (tokenize.COMMENT, tokenize.NL, tokenize.ENDMARKER):
                continue
            toks.append(t.string if t.type not in (tokenize.NEWLINE,) else ";")
    except (tokenize.TokenError, IndentationError, SyntaxError):
        toks = code.split()
    return toks


def units(code: str) -> list[list[str]]:
    """The normalized token lists of the cell's top-level statements."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return [_tokens(ln) for ln in code.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    bound = _bound_names(tree)
    out = []
    for stmt in tree.body:
        if isinstance(stmt, ast.Expr) and isinstance(getattr(stmt, "value", None), ast.Constant):
            continue    # a bare string / docstring
        node = _Rename(bound).visit(stmt)     # a fresh map per statement: reordering changes nothing
        out.append(_tokens(ast.unparse(ast.fix_missing_locations(node))))
    return out


def fingerprints(code: str, k: int = K) -> set[str]:
    fps = set()
    for toks in units(code):
        if len(toks) < k:
            fps.add(_h(toks))
        for i in range(len(toks) - k + 1):
            fps.add(_h(toks[i:i + k]))
    return fps


def _h(toks) -> str:
    return hashlib.blake2b("\x1f".join(toks).encode(), digest_size=8).hexdigest()


def cell_prints(answers: dict, template: dict) -> dict:
    """``{cell: fingerprints minus the template's}`` for one student."""
    out = {}
    for cell, src in answers.items():
        fp = fingerprints(src) - fingerprints(template.get(cell, ""))
        if fp:
            out[cell] = fp
    return out


def _jac(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 0.0


def rank_pairs(students: dict, template: dict, top: int | None = None) -> list[dict]:
    """``students``: ``{student: {answer cell id: source}}``; returns pairs, most similar first:
    ``{"a", "b", "similarity", "cells": [{"cell", "similarity", "left", "right"}]}``."""
    prints = {s: cell_prints(ans, template) for s, ans in students.items()}
    pairs = []
    for a, b in itertools.combinations(sorted(prints), 2):
        pa, pb = prints[a], prints[b]
        cells = sorted(set(pa) | set(pb))
        if not cells:
            continue
        inter = sum(len(pa.get(c, set()) & pb.get(c, set())) for c in cells)
        union = sum(len(pa.get(c, set()) | pb.get(c, set())) for c in cells)
        per = [{"cell": c, "similarity": _jac(pa.get(c, set()), pb.get(c, set())),
                "left": students[a].get(c, ""), "right": students[b].get(c, "")} for c in cells]
        per.sort(key=lambda d: -d["similarity"])
        pairs.append({"a": a, "b": b, "similarity": inter / union if union else 0.0, "cells": per})
    pairs.sort(key=lambda p: (-p["similarity"], p["a"], p["b"]))
    return pairs[:top] if top else pairs
