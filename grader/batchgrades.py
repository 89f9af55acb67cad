"""Many autograded submissions written into the gradebook in one transaction (the Dask driver).

``save_autograded_many`` writes the rows ``grader.gradebook.save_autograded`` (nbgrader's own
``SaveAutoGrades`` and ``AssignLatePenalties``) writes, for a whole batch at once: the
assignment's notebooks and cells are read once, the batch's existing submission, notebook,
grade and comment rows with a few IN-queries, and the new or changed rows go back as bulk
inserts and updates. Why and how: docs/grading.md ("Batched gradebook writes").
"""
from __future__ import annotations

from dataclasses import dataclass, field

from grader.gradebook import BUSY_TIMEOUT_S, is_sqlite, retrying

CHUNK = 400                 # ids per IN (...): well under SQLite's and PostgreSQL's bind limits
_ENGINES: dict = {}


@dataclass
class Autograded:
    """One submission to write. ``notebooks``: notebook name (no ``.ipynb``) -> autograded
    NotebookNode; None when grading failed (the submission row only, as nbgrader leaves it)."""
    assignment: str
    student: str
    notebooks: dict | None
    timestamp: object = None            # datetime or string, as nbgrader's timestamp.txt holds
    flagged: frozenset = frozenset()    # notebook names to flag for a TA


@dataclass
class Written:
    """What the gradebook now says about a submission (no second read needed)."""
    score: float
    max_score: float
    flagged: bool


def engine(url: str):
    """One SQLAlchemy engine per gradebook URL and process (nbgrader's Gradebook builds a new
    one, inspects the schema and checks the course on every open)."""
    if url not in _ENGINES:
        import sqlalchemy
        kwargs = {}
        if is_sqlite(url):
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S}
        elif url.startswith("postgresql+psycopg2") or url.startswith("postgresql:"):
            # UPDATEs go to the server in pages, not one round trip each; a connection the server
            # closed since the last batch (a restart) is replaced, not failed on
            kwargs = {"connect_args": {"connect_timeout": 10}, "executemany_mode": "values_plus_batch",
                      "pool_pre_ping": True}
        _ENGINES[url] = sqlalchemy.create_engine(url, future=True, **kwargs)
    return _ENGINES[url]


def save_autograded_many(url: str, config, items: list) -> dict:
    """Write ``items`` (Autograded) in one transaction; ``{(assignment, student): Written}``.

    A transient failure (a lock, a serialization failure, a concurrent create) retries the
    whole batch; anything else raises and nothing of the batch is written."""
    import warnings

    from sqlalchemy.exc import SAWarning
    late = _late_plugin(config)

    def write():
        with engine(url).begin() as con:
            batch = _Batch(con, late)
            batch.preload(items)
            for item in items:
                batch.apply(item)
            batch.flush()
            return batch.written()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SAWarning)
        return retrying(write)


def _late_plugin(config):
    from nbgrader.preprocessors import AssignLatePenalties
    pre = AssignLatePenalties(config=config)
    pre.init_plugin()
    return pre.plugin_inst


def _tables():
    from nbgrader.api import Base
    return Base.metadata.tables


def _chunks(ids):
    ids = list(ids)
    for k in range(0, len(ids), CHUNK):
        yield ids[k:k + CHUNK]


def _grade_score(g) -> float:
    """Grade.score as nbgrader's SQL computes it: manual, else auto, plus extra credit."""
    extra = g["extra_credit"] if g["extra_credit"] is not None else 0.0
    if g["manual_score"] is not None:
        return g["manual_score"] + extra
    if g["auto_score"] is not None:
        return g["auto_score"] + extra
    return 0.0


@dataclass
class _Assignment:
    """An assignment's notebooks and cells, read once per batch."""
    id: str
    duedate: object
    notebooks: dict                                     # name -> notebook id
    grade_cells: dict = field(default_factory=dict)     # notebook id -> [cell id]
    comment_cells: dict = field(default_factory=dict)   # notebook id -> [cell id]
    by_name: dict = field(default_factory=dict)         # (notebook id, type, name) -> cell id


class _Batch:
    """The rows of one batch in memory: read in bulk, changed as nbgrader would, written in bulk."""

    def __init__(self, con, late_plugin):
        self.con, self.late = con, late_plugin
        self.t = _tables()
        self.assignments, self.students = {}, set()
        self.subs = {}          # (assignment id, student) -> submitted_assignment row
        self.sub_nbs = {}       # submission id -> {notebook id: submitted_notebook row}
        self.grades = {}        # submitted notebook id -> {cell id: grade row}
        self.comments = {}      # submitted notebook id -> {cell id: comment row}
        self.new = {name: [] for name in ("student", "submitted_assignment", "submitted_notebook",
                                          "grade", "comment")}
        self.dirty = {name: {} for name in ("submitted_assignment", "submitted_notebook", "grade", "comment")}
        self.keys = {}          # (assignment name, student) -> submission id
        self.loaded = set()     # (assignment id, student) whose rows were read
        self.created = set()    # ids of the rows in self.new

    # -- reading ---------------------------------------------------------------------------
    def assignment(self, name: str) -> _Assignment:
        if name not in self.assignments:
            from nbgrader.api import MissingEntry
            t, con = self.t, self.con
            row = con.execute(t["assignment"].select().where(t["assignment"].c.name == name)).first()
            if row is None:
                raise MissingEntry(f"No such assignment: {name}")
            nbs = {r.name: r.id for r in con.execute(
                t["notebook"].select().where(t["notebook"].c.assignment_id == row.id))}
            a = _Assignment(row.id, row.duedate, nbs)
            self._read_cells(a)
            self.assignments[name] = a
        return self.assignments[name]

    def _read_cells(self, a: _Assignment) -> None:
        bc = self.t["base_cell"]
        for nb_id in a.notebooks.values():
            a.grade_cells[nb_id], a.comment_cells[nb_id] = [], []
        for chunk in _chunks(a.notebooks.values()):
            for r in self.con.execute(bc.select().where(bc.c.notebook_id.in_(chunk))):
                a.by_name[(r.notebook_id, r.type, r.name)] = r.id
                # add_submission: a grade per grade and task cell, a comment per solution and task cell
                if r.type in ("GradeCell", "TaskCell"):
                    a.grade_cells[r.notebook_id].append(r.id)
                if r.type in ("SolutionCell", "TaskCell"):
                    a.comment_cells[r.notebook_id].append(r.id)

    def preload(self, items) -> None:
        """Read the existing rows of every submission in ``items`` with a few IN-queries."""
        by_assignment = {}
        for item in items:
            a = self.assignment(item.assignment)
            by_assignment.setdefault(a.id, set()).add(item.student)
        st = self.t["student"]
        for chunk in _chunks({i.student for i in items} - self.students):
            self.students |= {r.id for r in self.con.execute(st.select().where(st.c.id.in_(chunk)))}
        for a_id, students in by_assignment.items():
            self._read_submissions(a_id, students - {s for (x, s) in self.loaded if x == a_id})

    def _read_submissions(self, a_id: str, students: set) -> None:
        t, con = self.t, self.con
        sa, sn = t["submitted_assignment"], t["submitted_notebook"]
        for chunk in _chunks(students):
            rows = con.execute(sa.select().where(sa.c.assignment_id == a_id, sa.c.student_id.in_(chunk)))
            for r in rows:
                self.subs[(a_id, r.student_id)] = dict(r._mapping)
                self.sub_nbs[r.id] = {}
        self.loaded |= {(a_id, s) for s in students}
        sub_ids = [self.subs[(a_id, s)]["id"] for s in students if (a_id, s) in self.subs]
        nb_ids = []
        for chunk in _chunks(sub_ids):
            for r in con.execute(sn.select().where(sn.c.assignment_id.in_(chunk))):
                self.sub_nbs[r.assignment_id][r.notebook_id] = dict(r._mapping)
                self.grades[r.id], self.comments[r.id] = {}, {}
                nb_ids.append(r.id)
        for name, into in (("grade", self.grades), ("comment", self.comments)):
            table = t[name]
            for chunk in _chunks(nb_ids):
                for r in con.execute(table.select().where(table.c.notebook_id.in_(chunk))):
                    into[r.notebook_id][r.cell_id] = dict(r._mapping)

    # -- changing, as nbgrader's calls in save_autograded do --------------------------------
    def apply(self, item: Autograded) -> None:
        from nbgrader.api import MissingEntry
        from nbgrader.utils import parse_utc
        a = self.assignment(item.assignment)
        if (a.id, item.student) not in self.loaded:
            self.preload([item])
        if item.student not in self.students:               # update_or_create_student
            self.students.add(item.student)
            self._add("student", {"id": item.student})
        sub = self._submission(a, item.student)
        self.keys[(item.assignment, item.student)] = sub["id"]
        if item.timestamp is not None and item.notebooks is not None:
            self._set("submitted_assignment", sub, timestamp=parse_utc(item.timestamp))
        if item.notebooks is None:          # grading failed: the submission row, no grades
            return
        nbs = self.sub_nbs[sub["id"]]
        for name, nb_id in a.notebooks.items():
            if nb_id not in nbs:
                raise MissingEntry(f"No such submitted notebook: {item.assignment}/{name} for {item.student}")
            self._set("submitted_notebook", nbs[nb_id], flagged=name in item.flagged)
            if name not in item.notebooks:      # not submitted: zero, as autograde does
                for g in self.grades[nbs[nb_id]["id"]].values():
                    self._set("grade", g, auto_score=0, needs_manual_grade=False)
        for name, nb in item.notebooks.items():
            if name in a.notebooks and a.notebooks[name] in nbs:
                self._notebook(a, sub, nbs[a.notebooks[name]], nb, item.student)

    def _submission(self, a: _Assignment, student: str) -> dict:
        """The submission row, created with its notebooks, grades and comments (add_submission)."""
        from nbgrader.api import new_uuid
        key = (a.id, student)
        if key in self.subs:
            return self.subs[key]
        sub = {"id": new_uuid(), "assignment_id": a.id, "student_id": student, "timestamp": None,
               "extension": None}
        self.subs[key], self.sub_nbs[sub["id"]] = sub, {}
        self._add("submitted_assignment", sub)
        for nb_id in a.notebooks.values():
            sn = {"id": new_uuid(), "assignment_id": sub["id"], "notebook_id": nb_id, "flagged": False,
                  "late_submission_penalty": None}
            self.sub_nbs[sub["id"]][nb_id] = sn
            self._add("submitted_notebook", sn)
            self.grades[sn["id"]], self.comments[sn["id"]] = {}, {}
            for cell_id in a.grade_cells[nb_id]:
                g = {"id": new_uuid(), "notebook_id": sn["id"], "cell_id": cell_id, "auto_score": None,
                     "manual_score": None, "extra_credit": None, "needs_manual_grade": True}
                self.grades[sn["id"]][cell_id] = g
                self._add("grade", g)
            for cell_id in a.comment_cells[nb_id]:
                c = {"id": new_uuid(), "notebook_id": sn["id"], "cell_id": cell_id, "auto_comment": None,
                     "manual_comment": None}
                self.comments[sn["id"]][cell_id] = c
                self._add("comment", c)
        return sub

    def _add(self, table: str, row: dict) -> None:
        self.new[table].append(row)
        self.created.add(row["id"])

    def _set(self, table: str, row: dict, **values) -> None:
        changed = {k: v for k, v in values.items() if row.get(k) != v or (row.get(k) is None) != (v is None)}
        if changed:
            row.update(changed)
            if row["id"] not in self.created:
                self.dirty[table][row["id"]] = row

    def _find(self, a, sn, rows: dict, name: str, types) -> dict | None:
        """find_grade / find_comment: the cell of that name, the first type that has a row."""
        for kind in types:
            cell_id = a.by_name.get((sn["notebook_id"], kind, name))
            if cell_id is not None and cell_id in rows:
                return rows[cell_id]
        return None

    def _notebook(self, a, sub, sn, nb, student) -> None:
        """SaveAutoGrades, then AssignLatePenalties, on one submitted notebook."""
        from nbgrader import utils
        grades, comments = self.grades[sn["id"]], self.comments[sn["id"]]
        for cell in nb.cells:
            if utils.is_grade(cell):
                g = self._find(a, sn, grades, cell.metadata["nbgrader"]["grade_id"], ("GradeCell", "TaskCell"))
                if g is None:
                    return      # nbgrader's MissingEntry: the rest of this notebook is skipped
                auto, _ = utils.determine_grade(cell, self.late.log)     # nbgrader's own logger
                self._set("grade", g, auto_score=auto,
                          needs_manual_grade=g["manual_score"] is not None or auto is None)
            for is_kind in (utils.is_solution, utils.is_task):
                if not is_kind(cell):
                    continue
                c = self._find(a, sn, comments, cell.metadata["nbgrader"]["grade_id"], ("SolutionCell", "TaskCell"))
                if c is None:
                    return
                blank = cell.metadata.nbgrader.get("checksum", None) == utils.compute_checksum(cell) \
                    and not utils.is_task(cell)
                self._set("comment", c, auto_comment="No response." if blank else None)
        self._set("submitted_notebook", sn, late_submission_penalty=self._penalty(a, sub, sn, student))

    def _penalty(self, a, sub, sn, student):
        """AssignLatePenalties: the plugin's penalty, clamped to [0, the notebook's score]."""
        duedate = a.duedate
        if duedate is not None and sub["extension"] is not None:
            duedate = duedate + sub["extension"]
        if sub["timestamp"] is None or duedate is None:
            return None
        late = max(0, (sub["timestamp"] - duedate).total_seconds())
        if late <= 0:
            return None
        score = sum(_grade_score(g) for g in self.grades[sn["id"]].values())
        penalty = self.late.late_submission_penalty(student, score, late)
        if penalty is None:
            return None
        return 0 if penalty < 0 else min(penalty, score)

    # -- writing -----------------------------------------------------------------------------
    def flush(self) -> None:
        from sqlalchemy import bindparam
        for name, rows in self.new.items():         # in foreign-key order
            if rows:
                self.con.execute(self.t[name].insert(), rows)
        for name, rows in self.dirty.items():
            if not rows:
                continue
            table = self.t[name]
            cols = [c.name for c in table.columns if c.name != "id"]
            stmt = table.update().where(table.c.id == bindparam("_id")).values(
                {c: bindparam(c) for c in cols})
            self.con.execute(stmt, [dict({c: r[c] for c in cols}, _id=r["id"]) for r in rows.values()])

    def written(self) -> dict:
        """Score and max score of each submission as the gradebook computes them (one query)."""
        from sqlalchemy import select
        from sqlalchemy.orm import Session

        from nbgrader.api import SubmittedAssignment as SA
        ids = {v: k for k, v in self.keys.items()}
        out = {}
        with Session(bind=self.con) as session:
            for chunk in _chunks(ids):
                for sid, score, mx in session.execute(select(SA.id, SA.score, SA.max_score).where(SA.id.in_(chunk))):
                    key = ids[sid]
                    flagged = any(n["flagged"] for n in self.sub_nbs[sid].values())
                    out[key] = Written(float(score), float(mx), flagged)
        return out
