"""Benchmark: plain sequential ``nbgrader autograde`` against ``python -m grader class``.

    python -m benchmarks.grading                      # 40 submissions of normalization, 2 workers
    python -m benchmarks.grading -n 40 -a mlp_backprop --per-student

In a throw-away copy of the course, a synthetic class of ``-n`` submissions (the
sample spec's variants, known scores) is autograded three ways, side by side in
one run, each from the same starting state:

1. ``nbgrader autograde A --force --create``: one CLI process grades the class,
   one submission after the other (nbgrader's own way);
2. with ``--per-student``: one ``nbgrader autograde A --student S`` call per
   student, as a TA's shell loop does (pays nbgrader's start-up every time);
3. ``python -m grader class --workers W`` with cold kernels (``MLP_GRADER_WARM=0``: each
   submission waits for its kernel to start, as before warm kernels);
4. the same with warm kernels (the default: a worker's next kernel starts while it grades);
5. the same with the sandbox off (``MLP_GRADER_SANDBOX=off``), to price the sandbox.

It prints submissions per minute, the ratios, and where the time of one
submission goes (kernel start with and without the numpy/torch preload, nbgrader
start-up). Every way must give the same scores, or the benchmark fails.
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

REPO = Path(__file__).resolve().parent.parent


def _reset(course: Path) -> None:
    for name in ("autograded", "feedback", ".grader_state"):
        shutil.rmtree(course / name, ignore_errors=True)


def _timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def kernel_start_seconds(preload: bool, sandboxed: bool = True, repeats: int = 3) -> float:
    """Median seconds from starting the grading kernel (over unix sockets, as nbgrader_config.py
    sets up) to its first reply."""
    from jupyter_client.manager import KernelManager
    env = dict(os.environ, MLP_GRADER_PRELOAD="1" if preload else "0",
               MLP_GRADER_SANDBOX="bwrap" if sandboxed else "off")
    times = []
    with tempfile.TemporaryDirectory(prefix="grader-bench-kernel-") as tmp:
        for _ in range(repeats):
            t0 = time.perf_counter()
            km = KernelManager(kernel_name="mlp-grader", transport="ipc", ip=os.path.join(tmp, "k"))
            km.start_kernel(cwd=tmp, env=env)
            kc = km.client()
            kc.start_channels()
            kc.wait_for_ready(timeout=120)
            kc.execute_interactive("1 + 1", timeout=60, output_hook=lambda msg: None)
            times.append(time.perf_counter() - t0)
            kc.stop_channels()
            km.shutdown_kernel(now=True)
    return sorted(times)[len(times) // 2]


def _with_env(name: str, value: str, fn):
    old = os.environ.get(name)
    os.environ[name] = value
    try:
        return fn()
    finally:
        os.environ.pop(name) if old is None else os.environ.update({name: old})


def _class_run(course: Path, assignment: str, workers: int, outcomes: list) -> float:
    from grader import classgrade
    _reset(course)
    return _timed(lambda: outcomes.extend(classgrade.grade_class(course, [assignment], workers=workers,
                                                                 show_progress=False)))


def _scores(course: Path) -> dict:
    return {r[0]: r[2] for r in nbgrader_cmd.grade_rows(course)}


def nbgrader_startup_seconds() -> float:
    return _timed(lambda: subprocess.run([sys.executable, "-m", "nbgrader", "--version"],
                                         check=True, capture_output=True))


def run(n: int = 40, assignment: str = "normalization", workers: int = 2,
        per_student: bool = False, keep: str | None = None, sandbox_compare: bool = True) -> dict:
    os.environ.setdefault("TQDM_DISABLE", "1")
    tmp = Path(keep or tempfile.mkdtemp(prefix="grader-bench-"))
    course = samples.copy_course(REPO, tmp / "course", [assignment])
    grader_course.load_config(course)          # puts the grading kernel on JUPYTER_PATH
    nbgrader_cmd.release(course, [assignment])
    spec = samples.load_spec(course / "samples" / f"{assignment}.json")
    expected = samples.write_class(course, [samples.synthetic_spec(spec, n)])
    results = {}

    _reset(course)
    results["sequential"] = _timed(lambda: nbgrader_cmd.autograde(course, [assignment]))
    scores = _scores(course)
    if per_student:
        _reset(course)
        students = sorted(s for s, _ in expected)
        results["per-student CLI"] = _timed(lambda: [
            nbgrader_cmd.nbgrader(course, "autograde", assignment, "--student", s, "--force", "--create")
            for s in students])
    cold, outcomes = [], []
    results[f"class, {workers} workers, cold kernels"] = _with_env(
        "MLP_GRADER_WARM", "0", lambda: _class_run(course, assignment, workers, cold))
    cold_scores = _scores(course)
    results[f"class, {workers} workers, warm kernels"] = _with_env(
        "MLP_GRADER_WARM", "1", lambda: _class_run(course, assignment, workers, outcomes))
    parallel_scores = _scores(course)
    if cold_scores != parallel_scores:
        raise SystemExit("scores differ between cold and warm kernels")
    if sandbox_compare:
        results[f"class, {workers} workers, warm kernels, NO sandbox"] = _with_env(
            "MLP_GRADER_SANDBOX", "off", lambda: _class_run(course, assignment, workers, []))
        if _scores(course) != parallel_scores:
            raise SystemExit("scores differ with and without the sandbox")
    want = {s: v for (s, _), v in expected.items()}
    if not (scores == parallel_scores == want):
        bad = sorted(s for s in want if not (scores.get(s) == parallel_scores.get(s) == want[s]))
        raise SystemExit(f"scores differ between the ways of grading: {bad[:5]}")
    per_sub = sorted(o.seconds for o in outcomes)
    per_cold = sorted(o.seconds for o in cold)
    print(report({"n": n, "assignment": assignment, "cores": os.cpu_count(), "seconds": results,
                  "parts": {}}), flush=True)      # the main figures first, whatever follows
    parts = {"kernel start, sandboxed, numpy+torch preloaded": kernel_start_seconds(True),
             "kernel start, sandboxed, no preload": kernel_start_seconds(False),
             "kernel start, NOT sandboxed, no preload": kernel_start_seconds(False, sandboxed=False),
             "nbgrader CLI start-up (nbgrader --version)": nbgrader_startup_seconds(),
             "one submission in a class worker, cold kernel (median)": per_cold[len(per_cold) // 2],
             "one submission in a class worker, warm kernel (median)": per_sub[len(per_sub) // 2]}
    if not keep:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"n": n, "assignment": assignment, "workers": workers, "cores": os.cpu_count(),
            "seconds": results, "parts": parts}


def ways_table(n: int, seconds: dict, base: float, width: int) -> list:
    """Lines of the table: each way's seconds, submissions per minute and speed-up over ``base``."""
    lines = [f"{'way':<{width}} {'seconds':>8} {'subs/min':>9} {'vs sequential':>14}"]
    for way, sec in seconds.items():
        lines.append(f"{way:<{width}} {sec:>8.1f} {60 * n / sec:>9.1f} {base / sec:>13.2f}x")
    return lines


def check_args(p: argparse.ArgumentParser, args) -> None:
    """Exit with argparse's usage error on a count below 1 or an unknown assignment."""
    if args.submissions < 1 or args.workers < 1:
        p.error("--submissions and --workers must be at least 1")
    if not (REPO / "source" / args.assignment).is_dir():
        known = sorted(d.name for d in (REPO / "source").iterdir() if d.is_dir())
        p.error(f"unknown assignment {args.assignment!r}; source/ has: {', '.join(known)}")


def report(res: dict) -> str:
    n = res["n"]
    lines = [f"autograde {n} submissions of {res['assignment']} on {res['cores']} cores",
             *ways_table(n, res["seconds"], res["seconds"]["sequential"], 44)]
    sb = [k for k in res["seconds"] if "NO sandbox" in k and k.replace(", NO sandbox", "") in res["seconds"]]
    if sb:
        confined = res["seconds"][sb[0].replace(", NO sandbox", "")]
        lines.append(f"sandbox cost (class, same workers): {100 * (confined / res['seconds'][sb[0]] - 1):+.0f}% time")
    warm = [k for k in res["seconds"] if k.endswith(", warm kernels")]
    if warm and warm[0].replace("warm", "cold") in res["seconds"]:
        gain = res["seconds"][warm[0].replace("warm", "cold")] / res["seconds"][warm[0]]
        lines.append(f"warm kernels (class, same workers): {gain:.2f}x the cold-kernel throughput")
    if res["parts"]:
        lines.append("where the time of one submission goes:")
        lines += [f"  {k:<56} {v:6.2f} s" for k, v in res["parts"].items()]
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.grading", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--submissions", type=int, default=40)
    p.add_argument("-a", "--assignment", default="normalization")
    p.add_argument("-w", "--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--per-student", action="store_true",
                   help="also time one nbgrader call per student (slow)")
    p.add_argument("--keep", help="build the course in this folder and keep it")
    args = p.parse_args(argv)
    check_args(p, args)
    print(report(run(args.submissions, args.assignment, args.workers, args.per_student, args.keep)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
