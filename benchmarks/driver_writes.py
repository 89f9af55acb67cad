"""The Dask driver's throughput without workers: pre-graded results fed to it as workers return them.

The results are the autograded folders of a class graded once (each synthetic student gets the
folder of its variant), so the driver does all its real work: parse and sanitize the notebooks,
write ``autograded/``, the gradebook rows, the state records. Used by ``benchmarks.grading_scale``.
"""
from __future__ import annotations

import re
import time
from pathlib import Path

from grader import distributed, gradebook, samples
from grader.outcome import submission_digest

VARIANT = re.compile(r"^[a-z]*\d+-(.+)$")    # s004-blank, ds00004-blank -> blank


def pregraded(course: Path, assignment: str, n: int, prefix: str = "drv") -> tuple[list, dict]:
    """``n`` students (``submitted/`` written), each with its variant's autograded files:
    ``([(assignment, student, res, digest)], {student: designed score})``."""
    folders = {}
    for p in sorted((course / "autograded").glob(f"*/{assignment}")):
        m = VARIANT.match(p.parent.name)
        folders.setdefault(m.group(1) if m else p.parent.name, p)
    spec = samples.synthetic_spec(samples.load_spec(course / "samples" / f"{assignment}.json"), n)
    spec["students"] = {f"{prefix}{k[1:]}": v for k, v in spec["students"].items()}
    expected = samples.write_class(course, [spec])
    files = {v: distributed.files_under(p) for v, p in folders.items()}
    results = []
    for student, a in sorted(expected):
        res = {"success": True, "log": "", "reason": "", "seconds": 0.0,
               "files": dict(files[VARIANT.match(student).group(1)])}
        results.append((a, student, res, submission_digest(course, a, student)))
    return results, {s: float(v) for (s, _a), v in expected.items()}


def results_per_min(course: Path, url: str, config, results: list, batched: bool) -> float:
    """Results per minute the driver records (files, rows, state) one by one or in batches."""
    gradebook.prepare(course, [(a, s) for a, s, _, _ in results], url)
    fresh = [(a, s, dict(r, files=dict(r["files"])), d) for a, s, r, d in results]
    pool = distributed.file_pool() if batched else None
    if pool is not None:        # started (spawned) before the clock, as the driver does
        list(pool.map(distributed.is_scheduler_address, ["tcp://x"] * 8 * distributed.FILE_PROCESSES))
    t0 = time.perf_counter()
    if batched:
        for k in range(0, len(fresh), distributed.BATCH):
            distributed.record_results(course, url, config, fresh[k:k + distributed.BATCH], pool)
        if pool is not None:
            pool.shutdown()
    else:
        for a, s, res, digest in fresh:
            distributed.record_result(course, url, config, a, s, res, digest)
    return 60 * len(results) / (time.perf_counter() - t0)


def check_scores(url: str, want: dict) -> None:
    from grader.gradebook import dump_rows
    got = {s: sc for (_a, s), (sc, _mx, _fl) in dump_rows(url)["submissions"].items() if s in want}
    if got != want:
        bad = sorted(s for s in want if got.get(s) != want[s])[:5]
        raise SystemExit(f"driver benchmark: scores differ from the designed ones ({bad})")


def projection(submissions: int, workers: int, per_worker_min: float, driver_min: float) -> tuple[float, str]:
    """Minutes for ``submissions`` on ``workers`` single-core workers, and what limits it."""
    grading = submissions / (workers * per_worker_min)
    driver = submissions / driver_min
    return max(grading, driver), ("grading" if grading >= driver else "the driver")
