"""Helpers to write nbgrader notebooks from Python (for course authors).

    from grader.authoring import md, code, answer, tests, written, save
    save("source/topic/topic.ipynb", [md("# Title"), answer("f", "def f(x):\\n ..."),
                                       tests("test_f", "assert f(1) == 1", points=1)])

Cell metadata follows nbgrader's schema version 3.
"""
from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook


def _meta(grade_id, grade, solution, locked, points=None):
    m = {"grade": grade, "grade_id": grade_id, "locked": locked, "schema_version": 3,
         "solution": solution, "task": False}
    if points is not None:
        m["points"] = points
    return {"nbgrader": m}


def md(text: str, grade_id: str | None = None):
    """Markdown; locked (read-only) when given a grade_id."""
    cell = new_markdown_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, False, False, True))
    return cell


def code(text: str, grade_id: str | None = None):
    """Plain code; locked (read-only) when given a grade_id."""
    cell = new_code_cell(text.strip("\n"))
    if grade_id:
        cell.metadata.update(_meta(grade_id, False, False, True))
    return cell


def answer(grade_id: str, text: str):
    """An autograded answer cell: the solution goes between ### BEGIN/END SOLUTION."""
    cell = new_code_cell(text.strip("\n"))
    cell.metadata.update(_meta(grade_id, False, True, False))
    return cell


def tests(grade_id: str, text: str, points: float):
    """A locked test cell worth ``points``; hidden parts go between ### BEGIN/END HIDDEN TESTS."""
    cell = new_code_cell(text.strip("\n"))
    cell.metadata.update(_meta(grade_id, True, False, True, points))
    return cell


def written(grade_id: str, text: str, points: float):
    """A manually graded markdown answer."""
    cell = new_markdown_cell(text.strip("\n"))
    cell.metadata.update(_meta(grade_id, True, True, False, points))
    return cell


def save(path, cells, title: str | None = None):
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python",
                                 "name": "python3"}
    nb.metadata["language_info"] = {"name": "python"}
    if title:
        nb.metadata["title"] = title
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.validate(nb)
    nbformat.write(nb, path)
    return path
