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


def draw_network(layers, title: str = "", ax=None, max_nodes: int = 6, note: str = "", dx: float = 1.6):
    """Draw a fully connected feed-forward network (a figure for a quiz or a slide).

    ``layers`` is a list of ``(n_nodes, caption)`` or ``(n_nodes, caption, node_labels)``;
    a layer with more than ``max_nodes`` nodes is drawn with ``max_nodes - 1`` circles and a
    vertical ellipsis. Consecutive layers are joined all-to-all. Returns the axis.
    """
    plt = _plt()
    if not layers:
        raise ValueError("draw_network: need at least one layer")
    if max_nodes < 2:
        raise ValueError(f"draw_network: max_nodes must be >= 2 (one circle and the ellipsis), got {max_nodes}")
    if ax is None:
        _, ax = plt.subplots(figsize=(max(3.0, 1.3 * dx * len(layers)), 3.4))
    cols = []
    for k, layer in enumerate(layers):
        n, caption = int(layer[0]), str(layer[1])
        labels = list(layer[2]) if len(layer) > 2 and layer[2] is not None else None
        if n < 1:
            raise ValueError(f"draw_network: layer {k} has {n} nodes")
        if labels is not None and len(labels) != n:
            raise ValueError(f"draw_network: layer {k} has {n} nodes but {len(labels)} labels")
        shown = n if n <= max_nodes else max_nodes - 1
        ys = np.linspace(1, -1, shown) if shown > 1 else np.zeros(1)
        if n > max_nodes:
            ys = np.linspace(1, -0.6, shown)
        cols.append((k * dx, ys, labels, n > max_nodes, caption))
    for (k0, y0, *_), (k1, y1, *_) in zip(cols, cols[1:]):
        for a in y0:
            for b in y1:
                ax.plot([k0, k1], [a, b], color="0.7", lw=0.6, zorder=1)
    for k, ys, labels, cut, caption in cols:
        for i, y in enumerate(ys):
            ax.add_patch(plt.Circle((k, y), 0.13, facecolor="white", edgecolor="C0", lw=1.5, zorder=2))
            if labels is not None and i < len(labels):
                ax.text(k, y, str(labels[i]), ha="center", va="center", fontsize=7, zorder=3)
        if cut:
            ax.text(k, -0.85, "⋮", ha="center", va="center", fontsize=12)
        ax.text(k, -1.35, caption, ha="center", va="top", fontsize=7.5)
    ax.set_xlim(-0.8, (len(layers) - 1) * dx + 0.8)
    ax.set_ylim(-2.0 if not note else -2.35, 1.4)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    if note:
        ax.text((len(layers) - 1) * dx / 2, -2.25, note, ha="center", va="bottom", fontsize=7.5, style="italic")
    return ax


def draw_pipeline(stages, title: str = "", ax=None, ncols: int = 4):
    """Draw numbered boxes (1), (2), ... joined by arrows, e.g. the steps of a training pipeline.

    ``stages`` is a list of captions; boxes run left to right in rows of ``ncols``. Returns the axis.
    """
    plt = _plt()
    stages = [str(s) for s in stages]
    if not stages:
        raise ValueError("draw_pipeline: need at least one stage")
    if ax is None:
        _, ax = plt.subplots(figsize=(2.3 * min(ncols, len(stages)), 1.3 * int(np.ceil(len(stages) / ncols)) + 0.4))
    pos = [(k % ncols, -(k // ncols)) for k in range(len(stages))]
    for k, ((x, y), text) in enumerate(zip(pos, stages)):
        ax.add_patch(plt.Rectangle((x - 0.42, y - 0.3), 0.84, 0.6, facecolor="#eef3fb", edgecolor="C0", lw=1.2))
        ax.text(x, y, f"({k + 1})\n{text}", ha="center", va="center", fontsize=8)
        if k + 1 < len(stages):
            (x1, y1) = pos[k + 1]
            if y1 == y:
                ax.annotate("", xy=(x1 - 0.43, y1), xytext=(x + 0.43, y),
                            arrowprops=dict(arrowstyle="->", color="0.3"))
            else:
                ax.annotate("", xy=(x1, y1 + 0.31), xytext=(x, y - 0.31),
                            arrowprops=dict(arrowstyle="->", color="0.3", connectionstyle="angle3"))
    ax.set_xlim(-0.55, min(ncols, len(stages)) - 0.45)
    ax.set_ylim(min(y for _, y in pos) - 0.45, 0.45)
    ax.axis("off")
    if title:
        ax.set_title(title, fontsize=9)
    return ax
