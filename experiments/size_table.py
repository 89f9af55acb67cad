"""The lecture's "How many nodes? / how many layers?" tables, reproduced.

Slides (seed 000/001): Fashion-MNIST, inputs in [-1, 1], cross-entropy, SGD lr=0.01,
batch 1024, ReLU hidden layers. Reported train/test accuracy (%):

    one hidden layer of 64 / 256 / 1024 nodes -> 89/86, 90/87, 90/87
    1 / 2 / 3 / 4 hidden layers of 256        -> 90/87, 92/88, 91/88, 92/88

Full run (not part of CI; about 1.5 hours with one torch thread on this 2-core machine, see
course/results/network_size.md for each row's time):

    python -m experiments.size_table --data fashion-mnist --epochs 400 --out course/results/network_size.md

Smoke run on the embedded default data (seconds; CI runs it):

    python -m experiments.size_table --data default --epochs 3
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

SLIDE_ROWS = [  # (label, hidden sizes, slide train %, slide test %)
    ("1 layer x 64", (64,), 89, 86),
    ("1 layer x 256", (256,), 90, 87),
    ("1 layer x 1024", (1024,), 90, 87),
    ("2 layers x 256", (256, 256), 92, 88),
    ("3 layers x 256", (256, 256, 256), 91, 88),
    ("4 layers x 256", (256, 256, 256, 256), 92, 88),
]


def load(data: str):
    from utils import data as D
    if data == "fashion-mnist":
        x_tr, y_tr, x_te, y_te = D.load_fashion_mnist()
    elif data == "default":
        x_tr, y_tr, x_te, y_te = D.load_default()
    else:
        raise SystemExit(f"unknown --data {data!r}; choose fashion-mnist or default")
    flat = lambda x: D.normalize_images(x.reshape(len(x), -1), "symmetric")  # [-1, 1] as in the slides
    return flat(x_tr), y_tr, flat(x_te), y_te


def train_row(hidden, x_tr, y_tr, x_te, y_te, epochs, lr=0.01, batch=1024, seed=0, show=True):
    import torch
    import torch.nn.functional as F
    from utils.train import make_mlp, progress
    model = make_mlp([x_tr.shape[1], *hidden, 10], activation="relu", seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    xt, yt = torch.from_numpy(x_tr), torch.from_numpy(y_tr)
    g = torch.Generator().manual_seed(seed)
    t0 = time.perf_counter()
    for _ in progress(range(epochs), enabled=show, desc=f"{hidden}", leave=False):
        perm = torch.randperm(len(yt), generator=g)
        for i in range(0, len(yt), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    seconds = time.perf_counter() - t0
    with torch.no_grad():
        model.eval()
        acc = lambda x, y: float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
        return 100 * acc(x_tr, y_tr), 100 * acc(x_te, y_te), seconds


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", default="default", choices=["default", "fashion-mnist"])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--rows", default="all", help="comma-separated row numbers (1-6) or 'all'")
    p.add_argument("--out", help="write a markdown table here")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args(argv)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = SLIDE_ROWS if args.rows == "all" else [SLIDE_ROWS[int(k) - 1] for k in args.rows.split(",")]
    x_tr, y_tr, x_te, y_te = load(args.data)
    lines = [f"Data: {args.data} ({len(y_tr)} train / {len(y_te)} test), inputs in [-1, 1], ReLU, "
             f"cross-entropy, SGD lr 0.01, batch 1024, {args.epochs} epochs, seed 0, "
             f"torch {torch.__version__}, {torch.get_num_threads()} threads.", "",
             "| network | train % | test % | slide train % | slide test % | seconds | s/epoch |",
             "|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for label, hidden, s_tr, s_te in rows:
        tr, te, sec = train_row(hidden, x_tr, y_tr, x_te, y_te, args.epochs)
        line = f"| {label} | {tr:.1f} | {te:.1f} | {s_tr} | {s_te} | {sec:.0f} | {sec / args.epochs:.2f} |"
        lines.append(line)
        print(line, flush=True)
        if args.out:
            Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
