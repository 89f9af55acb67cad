"""Benchmark of the offline playground: ``python -m benchmarks.playground``.

Prints
* steps/s: the playground's steps (one pass over the 250 training points, batch size 10) of the numpy network
  in ``utils.playground``, and of the same computation written with torch tensors (to justify numpy);
* frames/s: what one tick of the widget's play button costs, ``PlaygroundWidget.frame(k)``: k steps, the losses,
  the 100 x 100 decision grid of every unit, both PNGs encoded and assigned to the ipywidgets ``Image``s
  (without a frontend the assignment only stores the bytes; sending them is the kernel's I/O thread's job).
Goal: >= 10 frames/s on 2 cores while playing.
"""
from __future__ import annotations

import argparse
import os
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

from utils import playground as pg  # noqa: E402


def _rate(fn, min_time=1.0):
    fn()  # warm up
    n, start = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        el = time.perf_counter() - start
        if el >= min_time:
            return n / el


def torch_steps_per_s(config, min_time=1.0):
    """The same step (batches of the training points in order, tanh units, squared error on a tanh output,
    w -= lr * mean gradient) with torch tensors and hand-written backward."""
    import torch
    torch.set_num_threads(1)
    net = pg.Playground(config)
    F = torch.tensor(net.F_train)
    y = torch.tensor(net.y_train)[:, None]
    Ws = [torch.tensor(w) for w in net.weights]
    Bs = [torch.tensor(b) for b in net.biases]
    bs, lr = net.config["batch_size"], net.config["learning_rate"]

    def step():
        for s in range(0, len(y) - bs + 1, bs):
            a = [F[s:s + bs]]
            for W, B in zip(Ws, Bs):
                a.append(torch.tanh(a[-1] @ W + B))
            d = (a[-1] - y[s:s + bs]) * (1 - a[-1] * a[-1])
            for l in range(len(Ws) - 1, -1, -1):
                gw, gb = a[l].T @ d, d.sum(0)
                if l:
                    d = (d @ Ws[l].T) * (1 - a[l] * a[l])
                Ws[l] -= lr / bs * gw
                Bs[l] -= lr / bs * gb
    return _rate(step, min_time)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps-per-frame", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=1.5, help="time per measurement")
    args = ap.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    print(f"numpy {np.__version__}, torch {torch.__version__}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.2f}")
    cfgs = {"default [4, 2], x1 x2": {},
            "spiral [8, 8, 8], 7 features": {"dataset": "spiral", "hidden_layers": [8, 8, 8],
                                              "features": list(pg.FEATURES)}}
    for name, cfg in cfgs.items():
        net = pg.Playground(cfg)
        np_rate = _rate(lambda: net.step(1), args.seconds)
        th_rate = torch_steps_per_s(cfg, args.seconds)
        print(f"{name:32s} steps/s: numpy {np_rate:7.1f}   torch {th_rate:7.1f}   (numpy {np_rate / th_rate:.1f}x)")
    for name, cfg in cfgs.items():
        w = pg.PlaygroundWidget(cfg, steps_per_frame=args.steps_per_frame)
        for k in (1, args.steps_per_frame):
            fps = _rate(lambda: w.frame(k), args.seconds)
            print(f"{name:32s} frames/s with {k} step(s) per frame: {fps:6.1f}  ({fps * k:.0f} steps/s)")
        grid = pg.decision_grid(w.net)
        t_grid = 1 / _rate(lambda: pg.decision_grid(w.net), args.seconds / 2)
        t_png = 1 / _rate(lambda: (pg.render_boundary(w.net, w.history, grid=grid),
                                   pg.render_units(w.net, grid=grid)), args.seconds / 2)
        print(f"{'':32s} of a frame: grid {t_grid * 1e3:.1f} ms, two PNGs {t_png * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
