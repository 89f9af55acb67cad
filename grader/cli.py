"""``python -m grader``: the course's nbgrader pipeline in one command.

    python -m grader all        # release -> sample class -> class (parallel autograde, feedback, export) -> table
    python -m grader release    # nbgrader generate_assignment for every folder of source/
    python -m grader samples    # write the sample class into submitted/ (from the sample specs)
    python -m grader autograde  # nbgrader autograde every assignment (all students)
    python -m grader feedback   # nbgrader generate_feedback (hidden tests cleared)
    python -m grader export     # nbgrader export --to grades.csv
    python -m grader table      # print the grade table from the gradebook
    python -m grader class      # autograde the whole class on every core, then feedback + export
    python -m grader class --scheduler tcp://HOST:8786   # ... on a Dask cluster (grader/distributed.py)
    python -m grader synth -n 40  # a synthetic class of 40 students (tests, benchmarks)
    python -m grader report [--out report/]  # static HTML class report (grader/report.py, docs/report.md)
    python -m grader site       # the course website in _build/html (grader/site.py, docs/site.md)

Every step calls nbgrader's own command line in the course root (the folder
holding nbgrader_config.py), so what runs here is what a TA runs by hand.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from grader import classgrade, report, sandbox, site
from grader.course import REPO_ROOT, assignments, load_config
from grader.distributed import SCHEMES, is_scheduler_address
from grader.errors import PipelineError, SandboxError, SiteError, SpecError
from grader.nbgrader_cmd import autograde, export, feedback, grade_rows, release
from grader.outcome import summary
from grader.samples import build_samples, synth

STEPS = ["all", "release", "samples", "autograde", "feedback", "export", "table", "class", "synth", "site", "report"]


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
    outcomes = classgrade.grade_class(root, names, workers=workers, resume=resume, scheduler=scheduler)
    if not outcomes:
        raise PipelineError(f"nothing to grade: {root / 'submitted'} holds no submissions"
                            + (f" for {names}" if names else ""))
    print(summary(outcomes))
    graded = sorted({o.assignment for o in outcomes if (root / "autograded" / o.student / o.assignment).is_dir()})
    feedback(root, graded)
    print(f"wrote {export(root)}")
    return outcomes


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m grader", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=STEPS)
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
    return p


def usage_error(args) -> str | None:
    """What is wrong with the arguments themselves (exit 2), or None."""
    if args.workers < 1:
        return f"--workers must be at least 1, got {args.workers}"
    if args.students < 1:
        return f"--students must be at least 1, got {args.students}"
    if args.scheduler not in ("local", "dask") and not is_scheduler_address(args.scheduler):
        return (f"--scheduler must be 'local', 'dask' or a Dask scheduler address "
                f"({', '.join(s + '://HOST:PORT' for s in SCHEMES)}), got {args.scheduler!r}")
    if not (Path(args.course).resolve() / "nbgrader_config.py").is_file():
        return f"{Path(args.course).resolve()} has no nbgrader_config.py; pass --course"
    return None


def run(args) -> None:
    """The steps ``args.step`` names, in order; raises the project's errors."""
    root, names = Path(args.course).resolve(), args.assignment
    if args.step in ("all", "autograde", "class") and sandbox.mode() != "off":
        sandbox.check_available()
    load_config(root)
    if names and set(names) - set(assignments(root)):
        raise PipelineError(f"unknown assignment(s) {sorted(set(names) - set(assignments(root)))}; "
                            f"source/ has {assignments(root)}")
    steps = {
        "release": lambda: release(root, names),
        "samples": lambda: build_samples(root, names),
        "autograde": lambda: autograde(root, names),
        "feedback": lambda: feedback(root, names),
        "export": lambda: print(f"wrote {export(root)}"),
        "table": lambda: print_table(grade_rows(root)),
        "class": lambda: grade_class_step(root, names, args.workers, args.resume, args.scheduler),
        "site": lambda: site.main(root),
        "report": lambda: print(f"wrote {report.build(root, names, Path(args.out).resolve() if args.out else None)}"),
        "synth": lambda: print(f"wrote {len(synth(root, args.students, names))} submissions to {root / 'submitted'}"),
    }
    # the main job grades the class in parallel (class = autograde + feedback + export)
    for step in ["release", "samples", "class", "table"] if args.step == "all" else [args.step]:
        t0 = time.perf_counter()
        steps[step]()
        print(f"[{step}] done in {time.perf_counter() - t0:.1f}s", file=sys.stderr)


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    problem = usage_error(args)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if args.unsafe:
        os.environ["MLP_GRADER_SANDBOX"] = "off"
        print("warning: --unsafe: student code runs unconfined, with your permissions", file=sys.stderr)
    try:
        run(args)
    except (PipelineError, SandboxError, SpecError, SiteError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0
