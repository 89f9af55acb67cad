"""Canvas gradebook CSV (Grades > Import). Canvas's layout: the columns ``Student``, ``ID``,
``SIS User ID``, ``SIS Login ID``, ``Section``, then one column per assignment; a second row
``Points Possible`` gives each assignment's maximum. Canvas matches students by ``ID`` (or the
SIS ids), so every nbgrader student must be in the roster."""
from __future__ import annotations

import csv

from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from grader.exports.roster import fmt, grade_table, load_roster, mapped

COLUMNS = ["Student", "ID", "SIS User ID", "SIS Login ID", "Section"]


class CanvasExportPlugin(ExportPlugin):
    roster = Unicode("", help="roster CSV: nbgrader_id, name, canvas_id, sis_user_id, sis_login_id, section"
                     ).tag(config=True)

    def export(self, gradebook) -> None:
        dest = self.to or "canvas.csv"
        roster = load_roster(self.roster)
        names, table = grade_table(gradebook, self.student, self.assignment)
        mapped(roster, table)
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS + [a for a, _ in names])
            w.writerow(["Points Possible", "", "", "", ""] + [fmt(m) for _, m in names])
            for sid in sorted(table, key=lambda s: roster[s].get("name") or s):
                r = roster[sid]
                w.writerow([r.get("name") or sid, r.get("canvas_id", ""), r.get("sis_user_id", ""),
                            r.get("sis_login_id", ""), r.get("section", "")]
                           + [fmt(table[sid][a]) for a, _ in names])
        self.log.info("wrote %s (%d students, %d assignments)", dest, len(table), len(names))
