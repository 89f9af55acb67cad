"""Moodle grade import CSV (Grades > Import > CSV file). Moodle needs one column that
identifies the user -- mapped on import to ``ID number``, ``Username`` or ``Email address`` --
and one column per grade item; here ``ID number`` and ``Email address`` come from the roster,
then one column per assignment (the score; an empty cell leaves the grade unchanged)."""
from __future__ import annotations

import csv

from nbgrader.plugins import ExportPlugin
from traitlets import Unicode

from grader.exports.roster import fmt, grade_table, load_roster, mapped

COLUMNS = ["ID number", "Email address"]


class MoodleExportPlugin(ExportPlugin):
    roster = Unicode("", help="roster CSV: nbgrader_id, idnumber, email").tag(config=True)

    def export(self, gradebook) -> None:
        dest = self.to or "moodle.csv"
        roster = load_roster(self.roster)
        names, table = grade_table(gradebook, self.student, self.assignment)
        mapped(roster, table)
        with open(dest, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(COLUMNS + [a for a, _ in names])
            for sid in sorted(table):
                r = roster[sid]
                w.writerow([r.get("idnumber", ""), r.get("email", "")] + [fmt(table[sid][a]) for a, _ in names])
        self.log.info("wrote %s (%d students, %d assignments)", dest, len(table), len(names))
