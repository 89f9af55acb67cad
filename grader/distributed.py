"""The class command on Dask: ``python -m grader class --scheduler tcp://HOST:PORT``.

One Dask task grades one submission. Workers need the course's Python environment (this
repository installed, as on the TA's machine: nbgrader, the ``mlp-grader`` kernel, bubblewrap)
but not the course's files:

* the driver (the machine running ``python -m grader class``, holding the course) sends each
  assignment's *bundle* once -- ``nbgrader_config.py``, ``source/<assignment>/`` (the source
  notebook with its hidden tests, any extra files), a template SQLite gradebook holding the
  assignment's cells (``nbgrader generate_assignment`` run in a scratch copy) and the
  ``MLP_GRADER_*`` limits -- as a Dask future every task of that assignment depends on
  (recomputed by the scheduler if the worker holding it dies);
* each task carries one submitted folder as bytes; the worker writes a private temporary
  course (its own temporary gradebook), runs nbgrader's ``autograde`` there through
  ``NbGraderAPI`` (the same preprocessors, the same sandboxed grading kernel as a local run)
  and returns the autograded folder's files and nbgrader's log; the temporary course is deleted;
* the driver alone writes ``autograded/<student>/<assignment>/`` and the real gradebook (SQLite
  or PostgreSQL), the results that arrived together in one transaction (``record_results``,
  ``grader.batchgrades``: the rows nbgrader's own ``SaveAutoGrades``/``AssignLatePenalties``
  write, so they equal a local run's); state records only after that commit.

Hidden tests therefore travel in the task payload, to workers the TA runs (never to students'
machines). On a worker they sit in the temporary course under ``/tmp``, which the grading
kernel's bubblewrap sandbox replaces by an empty private ``/tmp`` (only the submission's own
folder is mounted back), so student code cannot read them -- exactly as on the TA's machine,
where ``source/`` is hidden the same way. Run the scheduler and workers on a network the TA
controls: Dask's TCP transport is neither authenticated nor encrypted (use ``tls://`` with
certificates across untrusted networks).

Faults: a worker that dies (killed, out of memory, a crashing submission) takes its task with
it; the scheduler runs the task again on another worker, and gives up after its
``distributed.scheduler.allowed-failures`` deaths (``ALLOWED_FAILURES`` for ``--scheduler dask``;
the cluster's own setting, default 3, otherwise): that submission is recorded failed and the
class goes on. Nothing reaches the gradebook before a task's result is back, and the driver's
write is idempotent (update-or-create), so a task that ran twice leaves one set of rows.
An unreachable scheduler fails within ``CONNECT_TIMEOUT_S`` before anything is written.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections import deque
from pathlib import Path

from grader import batchgrades, gradebook
from grader.course import load_config, nbgrader_env
from grader.errors import PipelineError
from grader.outcome import (CRASHED, Outcome, inspect_autograded, inspect_notebooks, submission_digest,
                            write_state)
from grader.remote import files_under, grade_remote, identity, write_files
from grader.sanitize import sanitize_notebook
from grader.tamper import flags_in

CONNECT_TIMEOUT_S = 5
SCHEMES = ("tcp", "tls", "ws", "wss", "inproc")   # Dask's transports


def is_scheduler_address(address: str) -> bool:
    """``tcp://HOST:PORT`` and the other addresses a Dask client can connect to."""
    return "://" in address and address.split("://", 1)[0] in SCHEMES

WORKER_WAIT_S = 60
ALLOWED_FAILURES = 2            # --scheduler dask: a task runs at most 3 times
BATCH = 100                     # results per gradebook transaction (docs/grading.md)
FILE_PROCESSES = 4              # at most, for the driver's file work


def stop_process_groups(procs, timeout: float = 30) -> None:
    """Stop processes started with ``start_new_session=True`` (a Dask scheduler, its workers and
    their children): SIGTERM to each group, newest first, then SIGKILL what still runs."""
    import signal
    for p in reversed(procs):
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _grading_env() -> dict:
    return {k: v for k, v in os.environ.items()
            if k.startswith("MLP_GRADER_") and k not in ("MLP_GRADER_COURSE_ROOT", "MLP_GRADER_INSIDE_SANDBOX")}


def assignment_bundle(course_root: Path, assignment: str) -> dict:
    """What a worker needs to grade ``assignment``, as bytes (built once per run, on the driver)."""
    config = (course_root / "nbgrader_config.py").read_bytes()
    source = files_under(course_root / "source" / assignment)
    with tempfile.TemporaryDirectory(prefix="mlp-bundle-") as tmp:
        tmp = Path(tmp)
        (tmp / "nbgrader_config.py").write_bytes(config)
        write_files(tmp / "source" / assignment, source)
        env = nbgrader_env(dict(os.environ, TQDM_DISABLE="1"))
        env.pop("MLP_GRADEBOOK_URL", None)      # the template is a private SQLite file
        proc = subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", assignment,
                               "--force", "--create"], cwd=tmp, env=env, capture_output=True, text=True)
        if proc.returncode != 0 or not (tmp / "gradebook.db").exists():
            raise PipelineError(f"could not record {assignment}'s cells for the workers "
                                f"(nbgrader generate_assignment):\n{(proc.stdout + proc.stderr)[-3000:]}")
        gradebook = (tmp / "gradebook.db").read_bytes()
    h = hashlib.sha256(config)
    for rel, data in source.items():
        h.update(rel.encode() + b"\0" + data + b"\0")
    return {"assignment": assignment, "config": config, "source": source, "gradebook": gradebook,
            "env": _grading_env(), "digest": h.hexdigest()}


def connect(scheduler: str, workers: int):
    """``(client, cluster)``; raises PipelineError quickly when the scheduler cannot be reached."""
    try:
        import dask
        from dask.distributed import Client, LocalCluster
    except ModuleNotFoundError as exc:
        raise PipelineError(f"--scheduler needs `{exc.name}`: pip install -r requirements.txt") from None
    if scheduler == "dask":
        dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES})
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, host="127.0.0.1")
        return Client(cluster), cluster
    if not is_scheduler_address(scheduler):
        raise PipelineError(f"--scheduler must be 'local', 'dask' or a Dask scheduler address such as "
                            f"tcp://HOST:8786, got {scheduler!r}")
    try:
        client = Client(scheduler, timeout=f"{CONNECT_TIMEOUT_S}s", set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise PipelineError(f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S} s "
                            f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                            "Start one (`dask scheduler`, then `dask worker ADDRESS --nthreads 1` on each "
                            "machine), check the address, or drop --scheduler to grade on this machine. "
                            "Nothing was graded or written.") from None
    try:
        client.wait_for_workers(1, timeout=WORKER_WAIT_S)
    except Exception:
        client.close()
        raise PipelineError(f"the Dask scheduler at {scheduler} has no workers (waited {WORKER_WAIT_S} s): "
                            f"start some with `dask worker {scheduler} --nthreads 1`. Nothing was written.") from None
    return client, None


def _timestamp(course_root: Path, assignment: str, student: str):
    path = course_root / "submitted" / student / assignment / "timestamp.txt"
    if not path.is_file() or not path.read_text().strip():
        return None
    from nbgrader.utils import parse_utc
    return parse_utc(path.read_text().strip())


def unpack_result(course_root: Path, assignment: str, student: str, res: dict) -> dict:
    """Write a worker's ``autograded/<student>/<assignment>/`` (notebooks sanitized again);
    returns its top-level notebooks, parsed: {name without .ipynb: NotebookNode}."""
    dest = course_root / "autograded" / student / assignment
    # the worker's nbgrader cleaned the outputs already; a worker is another machine, so the
    # driver cleans them again before a TA's formgrader can open them
    notebooks = {}
    for rel, data in list(res["files"].items()):
        if rel.endswith(".ipynb"):
            try:
                nb = read_notebook(data)
            except Exception:       # a broken extra file: nothing renders it, keep it as sent
                continue
            sanitize_notebook(nb)
            res["files"][rel] = notebook_bytes(nb)
            if "/" not in rel:
                notebooks[rel[:-len(".ipynb")]] = nb
    if dest.exists():
        shutil.rmtree(dest)         # autograde --force replaces the folder
    if res["files"]:
        part = dest.with_name(f".{assignment}.part-{uuid.uuid4().hex[:8]}")
        try:
            write_files(part, res["files"])
        except BaseException:
            shutil.rmtree(part, ignore_errors=True)
            raise
        os.replace(part, dest)
    return notebooks


def read_notebook(data: bytes):
    """A notebook file as nbformat 4 (``nbformat.reads`` + ``convert``), without the schema
    validation, which only logs, and with ``NotebookNode``s made as the JSON is parsed: the
    two took 2/3 of the driver's time per result."""
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines, strip_transient
    nb = json.loads(data, object_hook=nbformat.NotebookNode)
    if nb.get("nbformat") != 4:
        return nbformat.convert(nbformat.reader.reads(data.decode()), 4)
    return strip_transient(rejoin_lines(nb))


def notebook_bytes(nb) -> bytes:
    """``nb`` as compact JSON: valid nbformat 4 (sources stay strings, which the format allows)
    that Jupyter and nbgrader read as they read their own files. ``nbformat.writes`` indents
    through json's pure-Python encoder after a deep copy, 3/5 of the driver's time per result."""
    return json.dumps(nb, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def record_result(course_root: Path, url: str, config, assignment: str, student: str, res: dict,
                  digest: str):
    """Write one worker's result alone, through nbgrader's own code path (the reference the
    batched ``record_results`` is measured and tested against)."""
    notebooks = unpack_result(course_root, assignment, student, res)
    if res["success"]:
        flagged = {name for name, nb in notebooks.items() if flags_in(nb)}
        gradebook.save_autograded(url, config, assignment, student, notebooks,
                                  _timestamp(course_root, assignment, student), flagged)
    else:       # as nbgrader's autograde: the submission row exists, without grades
        from nbgrader.api import Gradebook

        def touch():
            with Gradebook(url) as gb:
                gb.update_or_create_submission(assignment, student)
        gradebook.retrying(touch)
    out = Outcome(assignment, student)
    inspect_autograded(course_root, out, url)
    if not res["success"] and out.status != "failed":
        out.status, out.reason, out.log = "failed", res["reason"], res["log"]
    out.seconds = res["seconds"]
    write_state(course_root, out, digest)
    return out


def file_pool(processes: int | None = None):
    """Processes for the driver's file work (parsing, sanitizing and writing notebooks: 4/5 of
    its time per result, measured), or None on one core. Spawned, not forked: the driver runs
    Dask's threads."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor
    processes = processes or min(FILE_PROCESSES, os.cpu_count() or 1)
    if processes < 2:
        return None
    return ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("spawn"))


def _unpack_or_why(course_root: Path, assignment: str, student: str, res: dict):
    """``unpack_result``, or why it failed (a string): one bad result must not stop the class."""
    try:
        return unpack_result(course_root, assignment, student, res)
    except Exception as exc:
        return f"its autograded files could not be written: {type(exc).__name__}: {str(exc)[:300]}"


def _unpack_all(course_root: Path, results: list, pool) -> list:
    if pool is None or len(results) < 4:
        return [_unpack_or_why(course_root, a, s, res) for a, s, res, _d in results]
    n = len(results)
    return list(pool.map(_unpack_or_why, [course_root] * n, [r[0] for r in results], [r[1] for r in results],
                         [r[2] for r in results], chunksize=4))


def record_results(course_root: Path, url: str, config, results: list, pool=None) -> list:
    """Write many workers' results ``[(assignment, student, res, digest)]``: their folders (in
    ``pool``'s processes, see ``file_pool``), then their gradebook rows in one transaction, then
    (only once those are committed) their state records. A result whose files or rows cannot be
    written becomes a failed Outcome without a record (``--resume`` grades it again)."""
    items, parsed, errors = [], {}, {}
    for (a, s, res, _digest), notebooks in zip(results, _unpack_all(course_root, results, pool)):
        if isinstance(notebooks, str):
            errors[(a, s)] = notebooks
            continue
        parsed[(a, s)] = {f"{name}.ipynb": nb for name, nb in notebooks.items()}
        flagged = frozenset(name for name, nb in notebooks.items() if flags_in(nb))
        items.append(batchgrades.Autograded(a, s, notebooks if res["success"] else None,
                                            _timestamp(course_root, a, s), flagged))
    written, failed = _write_batch(url, config, items) if items else ({}, {})
    errors.update({k: f"its gradebook rows could not be written: {why}" for k, why in failed.items()})
    outs = []
    for a, s, res, digest in results:
        if (a, s) in errors:
            outs.append(Outcome(a, s, status="failed", seconds=res["seconds"], reason=errors[(a, s)]))
            continue
        out = Outcome(a, s, seconds=res["seconds"])
        inspect_notebooks(course_root, out, parsed[(a, s)])
        w = written[(a, s)]
        out.score, out.max_score = w.score, w.max_score
        if w.flagged and not out.flags:
            out.flags.append("flagged in the gradebook")
        if not res["success"] and out.status != "failed":
            out.status, out.reason, out.log = "failed", res["reason"], res["log"]
        write_state(course_root, out, digest)
        outs.append(out)
    return outs


def _write_batch(url: str, config, items: list) -> tuple[dict, dict]:
    """``(written, errors)``: the batch in one transaction (retried whole on a transient
    failure); if it still fails, each submission alone, so one bad result fails only itself."""
    try:
        return batchgrades.save_autograded_many(url, config, items), {}
    except Exception as exc:
        if len(items) == 1:
            first = (str(exc).strip().splitlines() or [""])[0][:300]
            return {}, {(items[0].assignment, items[0].student): f"{type(exc).__name__}: {first}"}
    written, errors = {}, {}
    for item in items:
        w, e = _write_batch(url, config, [item])
        written.update(w)
        errors.update(e)
    return written, errors


def grade_with_dask(course_root: Path, todo, scheduler: str, workers: int = 2,
                    show_progress: bool = True) -> list:
    """Grade ``todo`` [(assignment, student)] on a Dask cluster; returns one Outcome each."""
    from distributed import as_completed
    client, cluster = connect(scheduler, workers)       # before anything is written
    done, pool = [], None
    try:
        url = gradebook.prepare(course_root, todo)
        config = load_config(course_root)
        bundles = {}
        for a in sorted({a for a, _ in todo}):
            b = assignment_bundle(course_root, a)
            bundles[a] = client.submit(identity, b, key=f"mlp-bundle-{a}-{b['digest'][:16]}")
        window = max(8, 4 * max(1, sum(client.nthreads().values())))
        pool = file_pool()
        pending, active, ac = deque(todo), {}, as_completed(loop=client.loop)

        def submit(k):
            """Send the next ``k`` submissions in one batch (one graph update)."""
            batch = [pending.popleft() for _ in range(min(k, len(pending)))]
            if not batch:
                return
            digests = [submission_digest(course_root, a, s) for a, s in batch]
            files = [files_under(course_root / "submitted" / s / a) for a, s in batch]
            # one key prefix for every grading task and the first window sent at once: Dask then
            # treats them as one large group of root-ish tasks and queues them on the scheduler
            # (worker-saturation) instead of piling them onto workers, where a crashing one would
            # take the others down with it
            futs = client.map(grade_remote, [bundles[a] for a, _ in batch], [s for _, s in batch], files,
                              pure=False, key=[f"mlp-grade-{uuid.uuid4().hex}" for _ in batch])
            for fut, (a, s), digest in zip(futs, batch, digests):
                active[fut] = (a, s, digest)
                ac.add(fut)

        submit(window)
        from tqdm.auto import tqdm
        bar = tqdm(total=len(todo), desc="autograde", unit="sub",
                   disable=not show_progress or bool(os.environ.get("TQDM_DISABLE")))
        for arrived in ac.batches():
            # what arrived while the last batch was written goes to the gradebook together
            for k in range(0, len(arrived), BATCH):
                chunk = arrived[k:k + BATCH]
                if pending:
                    submit(len(chunk))      # the workers go on while this chunk is written
                done += _record_arrived(chunk, active, course_root, url, config, scheduler, pool)
                bar.update(len(chunk))
        bar.close()
        return done
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        client.close()
        if cluster is not None:
            cluster.close()


def _record_arrived(futs, active: dict, course_root: Path, url: str, config, scheduler: str, pool) -> list:
    """Finished grading tasks as Outcomes, their results recorded in one batch (or why they failed)."""
    outs, results, lost = [], [], None
    for fut in futs:
        a, s, digest = active.pop(fut)
        try:
            got = _result_of(fut, course_root, a, s, digest, scheduler)
        except PipelineError as exc:
            lost = exc              # record what did arrive first: --resume then skips it
            continue
        finally:
            fut.release()
        if isinstance(got, Outcome):
            outs.append(got)
        else:
            results.append((a, s, got, digest))
    if results:
        outs += record_results(course_root, url, config, results, pool)
    if lost is not None:
        raise lost
    return outs


def _result_of(fut, course_root: Path, a: str, s: str, digest: str, scheduler: str):
    """A finished grading task's result, or the failed Outcome it is (recorded when final)."""
    from distributed.client import FutureCancelledError
    from distributed.comm.core import CommClosedError
    from distributed.scheduler import KilledWorker
    try:
        res = fut.result()
    except KilledWorker:
        out = Outcome(a, s, status="failed", reason=f"{CRASHED} (a crash or the worker's memory "
                                                    "limit); not retried further, nor by --resume")
        write_state(course_root, out, digest)
        return out
    except (FutureCancelledError, CommClosedError) as exc:
        raise PipelineError(f"lost the Dask scheduler at {scheduler} ({type(exc).__name__}: {exc}); "
                            "what finished is saved: rerun with --resume") from None
    except Exception as exc:        # the task itself raised (a worker without bwrap, ...)
        return Outcome(a, s, status="failed", reason=f"on the worker: {type(exc).__name__}: {str(exc)[:300]}")
    return res
