"""The roster CSV that maps nbgrader student ids to LMS identities, and the grade table both
LMS exporters write from.

Roster columns (header row required): ``nbgrader_id`` and any of ``name``, ``canvas_id``,
``sis_user_id``, ``sis_login_id``, ``section``, ``email``, ``idnumber``, ``username``.
"""
from __future__ import annotations

import csv
from pathlib import Path


class RosterError(ValueError):
    pass


def load_roster(path) -> dict[str, dict]:
    if not path:
        raise RosterError("no roster: pass --<Plugin>.roster=roster.csv (columns: nbgrader_id, ...)")
    with open(Path(path), newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "nbgrader_id" not in rows[0]:
        raise RosterError(f"{path}: needs a header row with an nbgrader_id column")
    return {r["nbgrader_id"].strip(): {k: (v or "").strip() for k, v in r.items()} for r in rows}


def grade_table(gradebook, students=(), assignments=()):
    """``(assignments [(name, max_score)], {student id: {assignment: score or None}})``."""
    from nbgrader.api import MissingEntry
    names = [(a.name, float(a.max_score)) for a in gradebook.assignments
             if not assignments or a.name in assignments]
    table = {}
    for s in gradebook.students:
        if students and s.id not in students:
            continue
        row = {}
        for a, _ in names:
            try:
                row[a] = float(gradebook.find_submission(a, s.id).score)
            except MissingEntry:
                row[a] = None       # no submission: left empty, not 0
        table[s.id] = row
    return names, table


def mapped(roster: dict, student_ids) -> None:
    missing = sorted(set(student_ids) - set(roster))
    if missing:
        raise RosterError(f"students not in the roster (their grades would be lost): {missing}")


def fmt(score) -> str:
    return "" if score is None else f"{score:g}"
