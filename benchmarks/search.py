"""Benchmark: a hyperparameter search as one batched computation vs the plain loop.

    python -m benchmarks.search                          # 100 trials, 1 torch thread, 3 repeats
    python -m benchmarks.search --threads-batched 2      # batched run on both cores of an idle 2-core machine
    python -m benchmarks.search --trials 200 --repeats 5 --no-module

Each trial trains the babysitting lecture's 2-layer net (64 -> 50 ReLU -> 10, softmax +
L2, weights 1e-4 * randn) on the course's default data (``utils.search.search_data``: 1000
training / 347 validation digits) for 5 epochs of minibatch SGD with momentum (batch 100, the
slides' coarse-search settings), each trial with its own learning rate and regularization
strength. The contenders do the same total work on the same trials and give the same
validation accuracies:

* plain loop     -- ``utils.search.train_loop``: one model after the other, with the same
  hand-written kernels as the batched run (so the ratio measures batching alone);
* batched        -- ``utils.search.train_batched``: all models stacked, one step = a few big
  matrix products (``[W1_1 | ... | W1_M]^T X^T`` as ONE product, ``torch.bmm`` for layer 2);
* nn.Module loop -- ``utils.search.train_module_loop``: the idiomatic torch way, one
  ``nn.Sequential`` + autograd per trial (skip with ``--no-module``).

They are timed side by side in one process, alternating, ``--repeats`` times; the median
trials/second (wall clock, and per second of CPU time, which is steadier on a shared
machine) and the ratios are printed. The explosion check is off so that every trial does
exactly the same number of steps; only the validation accuracy is evaluated (search mode).

Threads: ``--threads`` (default 1) applies to every contender. On a machine whose cores are
busy with other work, more torch threads than free cores make every run many times slower
(OpenMP threads spin while they wait), so 1 is the safe default. ``--threads-batched 2``
lets only the batched run use a second core (the plain loops are made of operations too
small to use one).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np


def trial_grid(n: int, seed: int = 0):
    """``n`` (lr, reg) pairs on log-spaced grids, shuffled -- safe values (nothing explodes)."""
    rng = np.random.default_rng(seed)
    lrs = rng.permutation(np.geomspace(1e-5, 2e-3, n))
    regs = rng.permutation(np.geomspace(1e-4, 1.0, n))
    return lrs, regs


def _timed(fn):
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def run(trials: int = 100, epochs: int = 5, hidden: int = 50, batch_size: int = 100,
        threads: int = 1, threads_batched: int | None = None, repeats: int = 3, module: bool = True,
        seed: int = 0, printer=print) -> dict:
    """Time the contenders side by side (alternating); returns rates (trials/s) and ratios.

    ``threads``: torch threads of every contender; ``threads_batched``: a different count for
    the batched run only (the one-model-at-a-time loops are made of operations too small to
    gain from a second thread -- they get slower).
    """
    import torch
    from utils.search import search_data, train_batched, train_loop, train_module_loop
    torch.set_num_threads(threads)
    tb = threads if threads_batched is None else threads_batched
    data = search_data()
    lrs, regs = trial_grid(trials, seed)
    kw = dict(hidden=hidden, num_epochs=epochs, batch_size=batch_size, seed=seed, explode_factor=None,
              eval_train=False)
    iters = epochs * max(len(data["y_train"]) // batch_size, 1)
    printer(f"batched search benchmark: {trials} trials of a {data['X_train'].shape[1]}-{hidden}-10 net, "
            f"{epochs} epochs x {iters // epochs} iterations (batch {batch_size}, momentum SGD), "
            f"validation accuracy after the last epoch; torch threads {threads}"
            + (f" (batched: {tb})" if tb != threads else "") + ", "
            f"os.cpu_count() {os.cpu_count()}, {repeats} alternating repeats")
    def batched():
        torch.set_num_threads(tb)
        try:
            return train_batched(lrs, regs, data, history=False, record_loss=False, **kw)
        finally:
            torch.set_num_threads(threads)

    contenders = {
        "plain loop": lambda: train_loop(lrs, regs, data, history=False, record_loss=False, **kw),
        "batched": batched,
    }
    if module:
        contenders["nn.Module loop"] = lambda: train_module_loop(lrs, regs, data, **kw)
    # warm-up: first calls allocate and load kernels
    train_batched(lrs[:4], regs[:4], data, **{**kw, "num_epochs": 1})
    train_loop(lrs[:2], regs[:2], data, **{**kw, "num_epochs": 1})
    results, wall, cpu = _race(contenders, repeats)
    return _report(trials, contenders, results, wall, cpu, data, module, printer)


def _race(contenders: dict, repeats: int):
    """Each contender ``repeats`` times, alternating: results, wall and CPU seconds."""
    wall = {k: [] for k in contenders}
    cpu = {k: [] for k in contenders}
    results = {}
    for _ in range(repeats):
        for name, fn in contenders.items():
            results[name], w, c = _timed(fn)
            wall[name].append(w)
            cpu[name].append(c)
    return results, wall, cpu


def _report(trials, contenders, results, wall, cpu, data, module, printer) -> dict:
    """Print the rates, the agreement with the batched run and the speed-ups."""
    rate = {k: trials / statistics.median(v) for k, v in wall.items()}
    cpu_rate = {k: trials / statistics.median(v) for k, v in cpu.items()}
    label = {"plain loop": "plain loop (same kernels, one model at a time)",
             "batched": f"batched ({trials} models stacked)",
             "nn.Module loop": "nn.Module + autograd, one model at a time"}
    for k in contenders:
        printer(f"{label[k]:<48} {rate[k]:8.1f} trials/s wall  {cpu_rate[k]:8.1f} trials/s of CPU time"
                f"   (wall runs: " + ", ".join(f"{t:.2f}s" for t in wall[k]) + ")")
    same = {k: float(np.mean(np.abs(results[k]["val_acc"] - results["batched"]["val_acc"])
                             <= 2.0 / len(data["y_val"]))) for k in contenders if k != "batched"}
    printer("same validation accuracies as the batched run (within 2 samples): "
            + ", ".join(f"{k} {v:.0%}" for k, v in same.items()))
    out = {"rate": rate, "cpu_rate": cpu_rate, "wall": wall, "cpu": cpu, "agree": same,
           "ratio": rate["batched"] / rate["plain loop"]}
    printer(f"speed-up batched / plain loop: {out['ratio']:.1f}x wall "
            f"({cpu_rate['batched'] / cpu_rate['plain loop']:.1f}x in CPU time)   (goal: >= 10x on 2 CPU cores)")
    if module:
        out["ratio_module"] = rate["batched"] / rate["nn.Module loop"]
        printer(f"speed-up batched / nn.Module loop: {out['ratio_module']:.1f}x wall "
                f"({cpu_rate['batched'] / cpu_rate['nn.Module loop']:.1f}x in CPU time)")
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--hidden", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads for every contender (default 1: safe on a shared machine)")
    ap.add_argument("--threads-batched", type=int, default=None,
                    help="torch threads for the batched run only, e.g. 2 on an idle 2-core machine")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-module", action="store_true", help="skip the nn.Module + autograd loop")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    run(a.trials, a.epochs, a.hidden, a.batch_size, a.threads, a.threads_batched, a.repeats, not a.no_module, a.seed)


if __name__ == "__main__":
    main()
