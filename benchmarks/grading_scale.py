"""Benchmark: how far the class command scales (Dask scheduler, SQLite and PostgreSQL gradebooks).

    python -m benchmarks.grading_scale              # 200 synthetic submissions of normalization
    python -m benchmarks.grading_scale -n 40        # a quicker run

In a throw-away copy of the course, ``-n`` synthetic submissions (known scores) are graded,
side by side in one run, each from the same starting state:

1. plain sequential ``nbgrader autograde`` (one CLI process, one submission after the other);
2. ``python -m grader class`` with its local default (``--workers`` processes on this machine);
3. the same through a Dask scheduler with ``--workers`` worker processes (``dask scheduler`` and
   ``dask worker`` started here on 127.0.0.1, as on a cluster: workers get the submissions
   as bytes, the driver writes ``autograded/`` and the gradebook).

Then the parts that bound scaling: the scheduler's overhead per task (tasks carrying a
submission-sized payload and doing nothing), the driver's cost per submission (writing the
autograded folder and the gradebook rows), and gradebook writes per second (one submission's rows
each) on SQLite and on a PostgreSQL server started here (where its binaries exist). Every way must
give the designed scores, or the benchmark fails.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader import course as grader_course, nbgrader_cmd, samples
from benchmarks.grading import check_args, ways_table
from benchmarks.driver_writes import projection
from benchmarks.local_services import DaskProcesses, TempPostgres
from grader.distributed import BATCH

REPO = Path(__file__).resolve().parent.parent
PROJECT_N, PROJECT_WORKERS = 18_000, 64


def _reset(course: Path) -> None:
    for name in ("autograded", "feedback", ".grader_state"):
        shutil.rmtree(course / name, ignore_errors=True)


def _scores(url: str) -> dict:
    from grader.gradebook import dump_rows
    return {s: sc for (_a, s), (sc, _mx, _fl) in dump_rows(url)["submissions"].items()}


def _noop(payload):
    return len(payload)


def scheduler_overhead(address: str, payload_bytes: int, n_tasks: int = 400) -> float:
    """Seconds per task for tasks that carry ``payload_bytes`` and do nothing (round trip included)."""
    import uuid
    from distributed import Client, wait
    payload = os.urandom(payload_bytes)
    with Client(address, timeout="10s") as c:
        c.submit(_noop, payload, pure=False).result()          # warm up
        t0 = time.perf_counter()
        futs = c.map(_noop, [payload] * n_tasks, pure=False, key=[f"bench-noop-{uuid.uuid4().hex}"
                                                                   for _ in range(n_tasks)])
        wait(futs)
        return (time.perf_counter() - t0) / n_tasks


def gradebook_writes(course: Path, assignment: str, urls: dict, n: int = 60, n_batched: int = 1000) -> dict:
    """Per gradebook: ``(one by one, batched)`` submissions' rows written per second, from an
    autograded notebook of the run (the rows alone: no files, no state records)."""
    import nbformat
    from grader import batchgrades, gradebook
    config = grader_course.load_config(course)
    folder = next((course / "autograded").glob(f"*/{assignment}"))
    notebooks = {p.stem: nbformat.read(p, as_version=4) for p in folder.glob("*.ipynb")}
    out = {}
    for name, url in urls.items():
        one = gradebook.writes_per_second(url, assignment, notebooks, n=n, config=config)
        items = [batchgrades.Autograded(assignment, f"bench-b{k:05d}", notebooks) for k in range(n_batched)]
        t0 = time.perf_counter()
        for k in range(0, n_batched, BATCH):
            batchgrades.save_autograded_many(url, config, items[k:k + BATCH])
        out[name] = (one, n_batched / (time.perf_counter() - t0))
    return out


def _release_into(course: Path, assignment: str, url: str | None) -> None:
    env = dict(os.environ)
    if url:
        env["MLP_GRADEBOOK_URL"] = url
    subprocess.run([sys.executable, "-m", "grader", "release", "-a", assignment, "--course", str(course)],
                   check=True, capture_output=True, env=env)


def _setup(tmp: Path, assignment: str, n: int):
    course = samples.copy_course(REPO, tmp / "course", [assignment])
    grader_course.load_config(course)
    nbgrader_cmd.release(course, [assignment])
    spec = samples.load_spec(course / "samples" / f"{assignment}.json")
    expected = samples.write_class(course, [samples.synthetic_spec(spec, n)] if n else [spec])
    return course, {s: float(v) for (s, _), v in expected.items()}


def _ways(course: Path, tmp: Path, assignment: str, workers: int, want: dict, figures: dict) -> dict:
    """Seconds of each way of grading the class, every way from the same starting state."""
    from grader import classgrade
    url, seconds = f"sqlite:///{course / 'gradebook.db'}", {}

    def timed(name, fn):
        _reset(course)
        t0 = time.perf_counter()
        fn()
        seconds[name] = time.perf_counter() - t0
        if _scores(url) != want:
            raise SystemExit(f"{name}: scores differ from the designed ones")
        print(f"  {name}: {seconds[name]:.1f} s", file=sys.stderr, flush=True)

    timed("sequential nbgrader autograde", lambda: nbgrader_cmd.autograde(course, [assignment]))
    timed(f"class, local default ({workers} processes)",
          lambda: classgrade.grade_class(course, [assignment], workers=workers, show_progress=False))
    cluster = DaskProcesses(workers, tmp / "dask-logs")
    try:
        figures["cluster start-up (scheduler + workers), s"] = cluster.startup_s
        timed(f"class, Dask scheduler ({workers} worker processes)",
              lambda: classgrade.grade_class(course, [assignment], workers=workers, show_progress=False,
                                             scheduler=cluster.address))
        sub = next((course / "submitted").glob(f"*/{assignment}"))
        payload = sum(p.stat().st_size for p in sub.rglob("*") if p.is_file())
        figures["task payload (one submission), bytes"] = payload
        figures["scheduler overhead per task (no-op, same payload), ms"] = \
            1000 * scheduler_overhead(cluster.address, payload)
    finally:
        cluster.close()
    return seconds


def _bundle(course: Path, assignment: str, figures: dict) -> None:
    from grader.distributed import assignment_bundle
    t0 = time.perf_counter()
    bundle = assignment_bundle(course, assignment)
    figures["assignment bundle build (once per assignment per run), s"] = time.perf_counter() - t0
    figures["assignment bundle size, bytes"] = len(bundle["gradebook"]) + len(bundle["config"]) + \
        sum(len(v) for v in bundle["source"].values())


def _gradebooks(tmp: Path, course: Path, assignment: str):
    """``({name: url}, server)``: the course's SQLite file and, where it can run here, a fresh
    PostgreSQL database with the assignment released into it."""
    urls, pg = {"SQLite": f"sqlite:///{course / 'gradebook.db'}"}, None
    try:
        pg = TempPostgres(prefix="mlp-pg-bench-")
        pg_course = samples.copy_course(REPO, tmp / "pg-course", [assignment])
        urls["PostgreSQL"] = pg.database("bench")
        _release_into(pg_course, assignment, urls["PostgreSQL"])
    except Exception as exc:      # no server binaries, no psycopg2: say so, measure SQLite
        print(f"  PostgreSQL not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
        urls.pop("PostgreSQL", None)
    return urls, pg


def _driver(course: Path, assignment: str, urls: dict, n_driver: int, figures: dict) -> dict:
    """The driver's results/min per gradebook: per result (nbgrader's code path, as before) and
    batched, in the same run, on disjoint students."""
    from benchmarks import driver_writes
    from grader import gradebook
    config = grader_course.load_config(course)
    gradebook.patient_sqlite()
    rates, n_old = {}, max(6, min(100, n_driver // 10))
    for name, url in urls.items():
        old, want_old = driver_writes.pregraded(course, assignment, n_old, prefix=f"o{name[0].lower()}")
        batch, want = driver_writes.pregraded(course, assignment, n_driver, prefix=f"d{name[0].lower()}")
        rates[name] = (driver_writes.results_per_min(course, url, config, old, batched=False),
                       driver_writes.results_per_min(course, url, config, batch, batched=True))
        driver_writes.check_scores(url, dict(want, **want_old))
        figures[f"driver results/min, {name}: one by one ({n_old}), as before"] = rates[name][0]
        figures[f"driver results/min, {name}: batched ({n_driver}, <= {BATCH} per transaction)"] = rates[name][1]
        print(f"  driver on {name}: {rates[name][0]:.0f} -> {rates[name][1]:.0f} results/min",
              file=sys.stderr, flush=True)
    return rates


def run(n: int = 200, assignment: str = "normalization", workers: int = 2, keep: str | None = None,
        driver_only: bool = False, n_driver: int = 2000) -> dict:
    os.environ.setdefault("TQDM_DISABLE", "1")
    os.environ.pop("MLP_GRADEBOOK_URL", None)
    tmp = Path(keep or tempfile.mkdtemp(prefix="grader-bench-scale-"))
    course, want = _setup(tmp, assignment, 0 if driver_only else n)
    figures = {}
    if driver_only:     # grade the sample class once: its folders are the pre-graded results
        t0 = time.perf_counter()
        nbgrader_cmd.autograde(course, [assignment])
        seconds = {"sequential nbgrader autograde": time.perf_counter() - t0}
        n = len(want)
    else:
        seconds = _ways(course, tmp, assignment, workers, want, figures)
        _bundle(course, assignment, figures)
    urls, pg = _gradebooks(tmp, course, assignment)
    try:
        rates = _driver(course, assignment, urls, n_driver, figures)
        writes = gradebook_writes(course, assignment, urls)
    finally:
        if pg is not None:
            pg.close()
    for name, (one, batched) in writes.items():
        figures[f"gradebook rows alone, {name}: results/min one by one"] = 60 * one
        figures[f"gradebook rows alone, {name}: results/min batched ({BATCH} per transaction)"] = 60 * batched
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"n": n, "assignment": assignment, "workers": workers, "cores": os.cpu_count(),
            "seconds": seconds, "figures": figures, "rates": rates,
            "per_worker_min": 60 * n / seconds["sequential nbgrader autograde"]}


def report(res: dict) -> str:
    n = res["n"]
    lines = [f"grade {n} submissions of {res['assignment']} on {res['cores']} cores",
             *ways_table(n, res["seconds"], res["seconds"]["sequential nbgrader autograde"], 46)]
    lines += [f"  {k:<72} {v:10.2f}" for k, v in res["figures"].items()]
    per = res.get("per_worker_given") or res["per_worker_min"]
    source = "given" if res.get("per_worker_given") else "as sequential nbgrader here"
    lines.append(f"projection for {PROJECT_N:,} submissions on {PROJECT_WORKERS} workers "
                 f"({per:.0f} submissions/min per single-core worker, {source}):")
    for name, (old, new) in res["rates"].items():
        for label, rate in (("one by one", old), ("batched", new)):
            minutes, limit = projection(PROJECT_N, PROJECT_WORKERS, per, rate)
            lines.append(f"  {name:<10} driver {label:<10} {rate:8.0f} results/min: {minutes:6.1f} min, "
                         f"limited by {limit}")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grading_scale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--submissions", type=int, default=200)
    p.add_argument("-a", "--assignment", default="normalization")
    p.add_argument("-w", "--workers", type=int, default=2)
    p.add_argument("--keep", help="build the course in this folder and keep it")
    p.add_argument("--driver-only", action="store_true",
                   help="only the driver: grade the sample class once, feed its results to the driver")
    p.add_argument("--driver-results", type=int, default=2000, metavar="N",
                   help="pre-graded results fed to the driver per gradebook (default 2000)")
    p.add_argument("--per-worker-min", type=float, metavar="RATE",
                   help="submissions/min one worker grades, for the projection (default: measured here; "
                        "with --driver-only that is 6 submissions, start-up included)")
    args = p.parse_args(argv)
    check_args(p, args)
    res = run(args.submissions, args.assignment, args.workers, args.keep, args.driver_only, args.driver_results)
    res["per_worker_given"] = args.per_worker_min
    print(report(res))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
