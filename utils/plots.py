"""Small plotting helpers shared by the lecture notebooks."""
from __future__ import annotations

import numpy as np


def _plt():
    import matplotlib.pyplot as plt
    return plt


def plot_curves(curves: dict, title: str = "", xlabel: str = "epoch", ylabel: str = "loss",
                ax=None, logy: bool = False):
    """Plot several named 1-D series on one axis; returns the axis."""
    plt = _plt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for name, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        ax.plot(np.arange(1, len(ys) + 1), ys, label=str(name))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if logy:
        ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return ax


def hist_grid(arrays, titles=None, bins: int = 50, range_=None, suptitle: str = "",
              ncols: int | None = None, figsize_per=(1.8, 1.6), sharey: bool = False):
    """A row (or grid) of histograms, one per array -- e.g. one per layer."""
    plt = _plt()
    n = len(arrays)
    ncols = ncols or n
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(figsize_per[0] * ncols, figsize_per[1] * nrows),
                             squeeze=False, sharey=sharey)
    for k, ax in enumerate(axes.flat):
        if k >= n:
            ax.axis("off")
            continue
        ax.hist(np.ravel(arrays[k]), bins=bins, range=range_, color="C0")
        if titles is not None:
            ax.set_title(titles[k], fontsize=8)
        ax.tick_params(labelsize=6)
    if suptitle:
        fig.suptitle(suptitle, fontsize=10)
    fig.tight_layout()
    return fig


def scatter_pairs(pairs, titles=None, suptitle: str = "", equal: bool = True, c=None):
    """Side-by-side 2-D scatter plots (e.g. data before/after whitening)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(pairs), figsize=(3.2 * len(pairs), 3.2), squeeze=False)
    for k, (ax, xy) in enumerate(zip(axes.flat, pairs)):
        xy = np.asarray(xy)
        ax.scatter(xy[:, 0], xy[:, 1], s=6, c=c, cmap="viridis")
        ax.axhline(0, color="k", lw=0.5)
        ax.axvline(0, color="k", lw=0.5)
        if equal:
            ax.set_aspect("equal", adjustable="datalim")
        if titles is not None:
            ax.set_title(titles[k], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def print_table(rows, headers, floatfmt: str = ".3f") -> str:
    """Format rows as a plain-text table (returned and printed)."""
    def cell(v):
        if isinstance(v, (float, np.floating)):
            return format(float(v), floatfmt)
        return str(v)
    body = [[cell(v) for v in r] for r in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in body)) if body else len(str(h))
              for i, h in enumerate(headers)]
    line = lambda vals: "  ".join(str(v).rjust(w) for v, w in zip(vals, widths))
    text = "\n".join([line(headers), line(["-" * w for w in widths])] + [line(r) for r in body])
    print(text)
    return text
