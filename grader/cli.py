"""``python -m grader``: the course's nbgrader pipeline in one command.

    python -m grader all        # release -> sample class -> class (parallel autograde, feedback, export) -> table
    python -m grader release    # nbgrader generate_assignment for every folder of source/
    python -m grader samples    # write the sample class into submitted/ (from tests/samples/*.json)
    python -m grader autograde  # nbgrader autograde every assignment (all students)
    python -m grader feedback   # nbgrader generate_feedback (hidden tests cleared)
    python -m grader export     # nbgrader export --to grades.csv
    python -m grader table      # print the grade table from the gradebook
    python -m grader class      # autograde the whole class on every core, then feedback + export
    python -m grader class --scheduler tcp://HOST:8786   # ... on a Dask cluster (grader/distributed.py)
    python -m grader synth -n 40  # a synthetic class of 40 students (tests, benchmarks)
    python -m grader report [--out report/]  # static HTML class report (grader/report.py, docs/report.md)

Every step calls nbgrader's own command line in the course root (the folder
holding nbgrader_config.py), so what runs here is what a TA runs by hand.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from grader import samples as _samples

REPO_ROOT = Path(__file__).resolve().parent.parent


class PipelineError(RuntimeError):
    pass


def load_config(course_root: Path):
    """Load nbgrader_config.py the way nbgrader does, but fail loudly: nbgrader logs a broken
    config file and goes on with its defaults (no timeout, hidden tests in feedback)."""
    from traitlets.config.loader import PyFileConfigLoader
    try:
        return PyFileConfigLoader("nbgrader_config.py", str(course_root)).load_config()
    except Exception as exc:
        raise PipelineError(f"{course_root / 'nbgrader_config.py'} does not load: "
                            f"{type(exc).__name__}: {exc}") from None


def assignments(course_root: Path) -> list[str]:
    src = course_root / "source"
    if not src.is_dir():
        raise PipelineError(f"{src} does not exist: is {course_root} the course root?")
    return sorted(p.name for p in src.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def nbgrader(course_root: Path, *args: str, check: bool = True, quiet: bool = True):
    """Run ``nbgrader ARGS`` in the course root; raise with its log on failure."""
    cmd = [sys.executable, "-m", "nbgrader", *args]
    env = dict(os.environ)
    env.setdefault("TQDM_DISABLE", "1")
    # nbgrader runs `alembic` (the gradebook's migrations) from PATH: put this venv's bin first,
    # so `.venv/bin/python -m grader` works without activating the venv
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    proc = subprocess.run(cmd, cwd=course_root, capture_output=True, text=True, env=env)
    if check and proc.returncode != 0:
        raise PipelineError(f"`nbgrader {' '.join(args)}` failed (exit {proc.returncode}):\n"
                            f"{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
    if not quiet:
        sys.stdout.write(proc.stdout)
    return proc


def release(course_root: Path, names=None) -> None:
    for a in names or assignments(course_root):
        nbgrader(course_root, "generate_assignment", a, "--force", "--create")
        # nbgrader copies everything; drop notebook checkpoints if an editor left any
        shutil.rmtree(course_root / "release" / a / ".ipynb_checkpoints", ignore_errors=True)


def sample_specs(course_root: Path, names=None) -> list[Path]:
    folder = course_root / "tests" / "samples"
    specs = sorted(folder.glob("*.json"))
    if names:
        specs = [s for s in specs if _samples.load_spec(s)["assignment"] in names]
    return specs


def build_samples(course_root: Path, names=None, fresh: bool = True, where=None) -> dict:
    """Write the sample class; ``where(spec) -> bool`` selects specs (default: all)."""
    sub = course_root / "submitted"
    if fresh and sub.exists():
        shutil.rmtree(sub)
    specs = [_samples.load_spec(p) for p in sample_specs(course_root, names)]
    return _samples.write_class(course_root, [s for s in specs if where is None or where(s)])


def autograde(course_root: Path, names=None) -> dict:
    """Autograde every submission; one broken submission never stops the class.

    Returns ``{(student, assignment): reason}`` for submissions nbgrader could not grade
    (malformed notebook, missing file, ...); they are reported, the rest is graded.
    """
    failed = {}
    for a in names or assignments(course_root):
        if not any((course_root / "submitted").glob(f"*/{a}")):
            continue
        proc = nbgrader(course_root, "autograde", a, "--force", "--create", check=False)
        log = proc.stdout + proc.stderr
        for student in re.findall(rf"error processing assignment '{re.escape(a)}' for student '([^']+)'", log):
            reason = _failure_reason(log, course_root / "submitted" / student / a)
            failed[(student, a)] = reason
            print(f"warning: {a}/{student} could not be graded: {reason}", file=sys.stderr)
        expected_nbs = {p.name for p in (course_root / "source" / a).glob("*.ipynb")}
        for folder in sorted((course_root / "submitted").glob(f"*/{a}")):
            student = folder.parent.name
            missing = sorted(expected_nbs - {p.name for p in folder.glob("*.ipynb")})
            if missing:     # more useful than nbgrader's "No notebooks found"
                found = sorted(p.name for p in folder.iterdir()) or ["nothing"]
                failed[(student, a)] = f"missing notebook {', '.join(missing)} (found: {', '.join(found)})"
                print(f"warning: {a}/{student} could not be fully graded: {failed[(student, a)]}",
                      file=sys.stderr)
        if proc.returncode != 0 and not failed:
            raise PipelineError(f"`nbgrader autograde {a}` failed (exit {proc.returncode}):\n{log[-4000:]}")
    return failed


def _failure_reason(log: str, folder: Path) -> str:
    marker = f"There was an error processing assignment: {folder}"
    i = log.find(marker)
    if i < 0:
        return "see nbgrader's log"
    tail = [ln.strip() for ln in log[i:].splitlines()[1:40]]
    errs = [ln for ln in tail if re.match(r"^[\w.]+(Error|Exception|Missing\w*)\b:?", ln)]
    return errs[-1][:300] if errs else "see nbgrader's log"


def feedback(course_root: Path, names=None) -> None:
    for a in names or assignments(course_root):
        if any((course_root / "autograded").glob(f"*/{a}")):
            nbgrader(course_root, "generate_feedback", a, "--force")


def export(course_root: Path, to: str = "grades.csv") -> Path:
    nbgrader(course_root, "export", "--to", to)
    return course_root / to


def grade_rows(course_root: Path):
    """``[(student, assignment, score, max_score, needs_manual, flagged)]`` from the gradebook."""
    from nbgrader.api import Gradebook, MissingEntry
    from grader import gradebook
    url = gradebook.db_url(course_root)     # SQLite by default, PostgreSQL with MLP_GRADEBOOK_URL
    db = gradebook.sqlite_path(url)
    if db is not None and not db.exists():
        raise PipelineError(f"{db} does not exist: autograde first")
    gradebook.check_reachable(url)
    rows = []
    with Gradebook(url) as gb:
        for a in gb.assignments:
            for s in gb.students:
                try:
                    sub = gb.find_submission(a.name, s.id)
                except MissingEntry:
                    continue
                rows.append((s.id, a.name, float(sub.score), float(sub.max_score),
                             bool(sub.needs_manual_grade),
                             any(nb.flagged for nb in sub.notebooks)))
    return sorted(rows, key=lambda r: (r[1], r[0]))


def print_table(rows) -> str:
    head = f"{'assignment':<16} {'student':<28} {'score':>7} {'max':>6}  note"
    lines = [head, "-" * len(head)]
    for student, a, score, mx, manual, flagged in rows:
        note = ", ".join(n for n, on in (("needs manual grading", manual), ("flagged", flagged)) if on)
        lines.append(f"{a:<16} {student:<28} {score:>7.2f} {mx:>6.2f}  {note}")
    text = "\n".join(lines)
    print(text)
    return text


def grade_class_step(root: Path, names, workers: int, resume: bool, scheduler: str = "local"):
    """Autograde every submission in parallel, print the summary, then feedback and export."""
    from grader import classgrade
    outcomes = classgrade.grade_class(root, names, workers=workers, resume=resume, scheduler=scheduler)
    if not outcomes:
        raise PipelineError(f"nothing to grade: {root / 'submitted'} holds no submissions"
                            + (f" for {names}" if names else ""))
    print(classgrade.summary(outcomes))
    graded = sorted({o.assignment for o in outcomes if (root / "autograded" / o.student / o.assignment).is_dir()})
    feedback(root, graded)
    print(f"wrote {export(root)}")
    return outcomes


def synth(root: Path, n: int, names=None, fresh: bool = True) -> dict:
    """A synthetic class: n students per assignment, cycling through each spec's variants."""
    sub = root / "submitted"
    if fresh and sub.exists():
        shutil.rmtree(sub)
    return _samples.synthetic_class(root, sample_specs(root, names), n)


def _report(root: Path, names, out):
    from grader import report
    return report.build(root, names, Path(out).resolve() if out else None)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["all", "release", "samples", "autograde", "feedback",
                                    "export", "table", "class", "synth", "report"])
    p.add_argument("--course", default=str(REPO_ROOT),
                   help="course root holding nbgrader_config.py (default: this repository)")
    p.add_argument("-a", "--assignment", action="append",
                   help="limit to this assignment (repeatable)")
    p.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1,
                   help="class: worker processes (default: one per core)")
    p.add_argument("--resume", action="store_true",
                   help="class: skip submissions already graded and unchanged since (after a killed run)")
    p.add_argument("--scheduler", default="local",
                   help="class: 'local' (default: --workers processes on this machine), 'dask' (a Dask "
                        "LocalCluster of --workers processes) or the address of a Dask scheduler, "
                        "tcp://HOST:PORT (workers get the submissions as bytes; see grader/distributed.py)")
    p.add_argument("-n", "--students", type=int, default=40, help="synth: number of students")
    p.add_argument("--out", default=None,
                   help="report: folder for index.html (default: COURSE/report)")
    p.add_argument("--unsafe", action="store_true",
                   help="grade without the bubblewrap sandbox: student code runs with your permissions")
    args = p.parse_args(argv)
    if args.workers < 1:
        print(f"error: --workers must be at least 1, got {args.workers}", file=sys.stderr)
        return 2
    if args.students < 1:
        print(f"error: --students must be at least 1, got {args.students}", file=sys.stderr)
        return 2
    from grader.distributed import SCHEMES, is_scheduler_address
    if args.scheduler not in ("local", "dask") and not is_scheduler_address(args.scheduler):
        print(f"error: --scheduler must be 'local', 'dask' or a Dask scheduler address "
              f"({', '.join(s + '://HOST:PORT' for s in SCHEMES)}), got {args.scheduler!r}", file=sys.stderr)
        return 2
    root = Path(args.course).resolve()
    if not (root / "nbgrader_config.py").is_file():
        print(f"error: {root} has no nbgrader_config.py; pass --course", file=sys.stderr)
        return 2
    names = args.assignment
    from grader import sandbox
    if args.unsafe:
        os.environ["MLP_GRADER_SANDBOX"] = "off"
        print("warning: --unsafe: student code runs unconfined, with your permissions", file=sys.stderr)
    try:
        if args.step in ("all", "autograde", "class") and sandbox.mode() != "off":
            sandbox.check_available()
    except sandbox.SandboxError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        load_config(root)
        if names:
            unknown = sorted(set(names) - set(assignments(root)))
            if unknown:
                raise PipelineError(f"unknown assignment(s) {unknown}; source/ has {assignments(root)}")
        steps = {
            "release": lambda: release(root, names),
            "samples": lambda: build_samples(root, names),
            "autograde": lambda: autograde(root, names),
            "feedback": lambda: feedback(root, names),
            "export": lambda: print(f"wrote {export(root)}"),
            "table": lambda: print_table(grade_rows(root)),
        }
        steps["class"] = lambda: grade_class_step(root, names, args.workers, args.resume, args.scheduler)
        steps["synth"] = lambda: print(f"wrote {len(synth(root, args.students, names))} submissions "
                                       f"to {root / 'submitted'}")
        steps["report"] = lambda: print(f"wrote {_report(root, names, args.out)}")
        # the main job grades the class in parallel (class = autograde + feedback + export)
        order = ["release", "samples", "class", "table"] if args.step == "all" else [args.step]
        for step in order:
            t0 = time.perf_counter()
            steps[step]()
            print(f"[{step}] done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    except (PipelineError, _samples.SpecError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
