"""Lecture 3, "Experiment 2": the ConvNetJS MNIST demo, offline, in torch.

The slide (seed 004) sends students to https://cs.stanford.edu/people/karpathy/convnetjs/demo/mnist.html
and asks them to replace the demo's conv/pool layers ("the red part") with one
``{type:'fc', num_neurons:32, activation:'relu'}`` layer. This module builds both networks the
way ConvNetJS builds them, trains them the way the demo trains, and writes a markdown table.

What was matched (read from karpathy/convnetjs: ``demo/mnist.html``, ``demo/mnist/mnist.html``,
``src/convnet_net.js``, ``src/convnet_vol.js``, ``src/convnet_vol_util.js``,
``src/convnet_layers_dotproducts.js``, ``src/convnet_layers_pool.js``, ``src/convnet_trainers.js``
and ``build/convnet.js``):

* layers: ``makeLayers`` "desugars" ``softmax`` into ``fc(num_classes)`` + softmax and
  ``activation:'relu'`` into a separate relu layer, so the demo net is
  conv5x5x8(pad 2) - relu - maxpool2/2 - conv5x5x16(pad 2) - relu - maxpool3/3 - fc10 - softmax
  and the slide's change is fc32 - relu - fc10 - softmax;
* weights: ``new Vol(sx, sy, depth)`` fills ``randn(0, sqrt(1 / (sx*sy*depth)))``, i.e. std
  ``sqrt(1 / fan_in)``; biases: ``bias_pref`` 0.1 for layers with ``activation:'relu'``, else 0.0
  (so the desugared fc10 in front of the softmax starts at 0);
* data: pixels ``/255`` (range [0, 1], no centring), one random 24x24 crop of each 28x28 image
  per step with ``convnetjs.augment``: offsets ``randi(0, 28-24)`` = 0, 1, 2 or 3 (``randi`` is
  ``floor(random*(b-a)+a)``, so offset 4 never occurs); prediction averages the softmax
  probabilities of 4 random crops (reported here as a second test column) -- the table's main
  test figure uses the deterministic centre crop (offset 2);
* trainer ``{method:'adadelta', batch_size:20, l2_decay:0.001}``: per-example gradients are
  summed over 20 examples, ``l2_decay * w`` is added to the sum (weights only: biases have
  ``l2_decay_mul`` 0), the total is divided by 20, then
  ``gsum = ro*gsum + (1-ro)*g^2; dx = -sqrt((xsum+eps)/(gsum+eps))*g; xsum = ro*xsum + (1-ro)*dx^2``
  with ro 0.95. That is exactly ``torch.optim.Adadelta(lr=1.0, rho=0.95, eps=eps)`` on the
  *mean* batch loss with ``weight_decay = l2_decay / batch_size`` = 5e-5 on the weights only
  (torch's defaults would differ: rho 0.9, weight decay on every parameter).
  eps: ``src/convnet_trainers.js`` has 1e-6, the later ``build/convnet.js`` the demo page loads
  has 1e-8; default here 1e-6 (``--eps`` to change).

Differences kept (also written under the table):

* Fashion-MNIST instead of MNIST (MNIST cannot be downloaded here; Debian's
  ``dataset-fashion-mnist`` via :mod:`utils.data`). Same 28x28x1 format, 60,000/10,000 images.
* epochs of shuffled minibatches over all 60,000 training images instead of the demo's endless
  random sampling with replacement that holds back every 10th image as a validation set; the
  test set is the 10,000 test images (the demo shows accuracy on random test images only);
* no dropout: the slide's layer list has none (an older ``demo/mnist.html`` put ``drop_prob 0.5``
  on the second pool layer and used SGD lr 0.1 momentum 0.9 batch 16 instead of Adadelta);
* float32 and batched torch kernels instead of float64 JavaScript loops (same maths).

Full run (not part of CI; see course/results/convnetjs.md for the figures and times)::

    python -m experiments.convnetjs --epochs 10 --out course/results/convnetjs.md

Smoke run (seconds; CI runs it in tests/test_convnetjs.py)::

    python -m experiments.convnetjs --smoke --out /tmp/convnetjs.md
"""
from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np

IMAGE = 28          # MNIST / Fashion-MNIST side
CROP = 24           # the demo's input layer: out_sx 24, out_sy 24, out_depth 1
N_CLASSES = 10
CONVNETJS_TRAINER = {"method": "adadelta", "batch_size": 20, "l2_decay": 0.001, "ro": 0.95, "eps": 1e-6}
TEST_CROPS = 4      # the demo averages the probabilities of 4 random crops at test time

# The slide's two layer lists, verbatim (the first is the demo's default network).
CONV_LAYER_DEFS = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
layer_defs.push({type:'conv', sx:5, filters:8, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:2, stride:2});
layer_defs.push({type:'conv', sx:5, filters:16, stride:1, pad:2, activation:'relu'});
layer_defs.push({type:'pool', sx:3, stride:3});
layer_defs.push({type:'softmax', num_classes:10});"""
FC32_LAYER_DEFS = """\
layer_defs = [];
layer_defs.push({type:'input', out_sx:24, out_sy:24, out_depth:1});
layer_defs.push({type:'fc', num_neurons:32, activation:'relu'});
layer_defs.push({type:'softmax', num_classes:10});"""

NETWORKS = ("conv", "fc32")
LABELS = {"conv": "demo conv net (slide's layer_defs)", "fc32": "slide's change: fc 32 relu"}

DIFFERENCES = [
    "Data: Fashion-MNIST (Debian's dataset-fashion-mnist, read by utils.data) instead of MNIST, "
    "which cannot be downloaded here; same 28x28x1 format and 60,000/10,000 split. Expect lower "
    "accuracies than the demo's ~99% on digits.",
    "Schedule: epochs of shuffled minibatches over all 60,000 training images; the demo samples "
    "random images forever and holds back every 10th one as a validation set.",
    "Test: the main test column uses the deterministic centre 24x24 crop; the demo averages 4 "
    "random crops, reported in its own column.",
    "No dropout (the slide's layer list has none; an older demo/mnist.html used drop_prob 0.5 on "
    "the last pool layer with SGD lr 0.1, momentum 0.9, batch 16).",
    "Adadelta eps: src/convnet_trainers.js uses 1e-6 (used here), the later build/convnet.js 1e-8.",
    "Arithmetic: float32 torch kernels on whole minibatches instead of ConvNetJS's float64 "
    "per-example JavaScript loops (same sums; order and precision differ).",
]
MATCHED = [
    "weights ~ N(0, 1/fan_in) as `new Vol(sx, sy, depth)`; biases 0.1 for relu layers (bias_pref), "
    "0 for the fc10 that `softmax` desugars into",
    "inputs x/255 in [0, 1]; a fresh random 24x24 crop (offsets 0..3, as convnetjs.augment with "
    "randi) of every training image at every step",
    "Adadelta as ConvNetJS's trainer: torch.optim.Adadelta(lr=1, rho=0.95, eps) on the mean loss "
    "of 20 examples with weight_decay = l2_decay/batch_size = 0.001/20 on weights only (biases "
    "have l2_decay_mul 0)",
]


# --------------------------------------------------------------------------- networks
def _check_seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int, got {type(seed).__name__}")
    return int(seed)


def convnetjs_init_(model, seed: int = 0):
    """Re-initialise every conv/linear layer of ``model`` the way ConvNetJS does, in place.

    Weights ~ N(0, 1/fan_in) (``new Vol(sx, sy, depth)`` with ``scale = sqrt(1/(sx*sy*depth))``);
    biases 0.1 when the layer is followed by a ReLU (``bias_pref`` for ``activation:'relu'``),
    else 0. Returns ``model``.
    """
    import torch
    import torch.nn as nn
    g = torch.Generator().manual_seed(_check_seed(seed))
    mods = list(model)
    with torch.no_grad():
        for k, m in enumerate(mods):
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                fan_in = m.weight[0].numel()
                m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.0 / fan_in) ** 0.5)
                relu_next = k + 1 < len(mods) and isinstance(mods[k + 1], nn.ReLU)
                m.bias.fill_(0.1 if relu_next else 0.0)
    return model


def build_network(name: str, seed: int = 0):
    """``nn.Sequential`` for ``"conv"`` (the demo's net) or ``"fc32"`` (the slide's change).

    Input: a batch of 1x24x24 images; output: 10 logits (softmax is in the loss, as ConvNetJS's
    softmax layer is the loss layer). Initialised as ConvNetJS does (:func:`convnetjs_init_`).
    """
    import torch.nn as nn
    if name == "conv":
        model = nn.Sequential(
            nn.Conv2d(1, 8, kernel_size=5, stride=1, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(8, 16, kernel_size=5, stride=1, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=3),
            nn.Flatten(),
            nn.Linear(16 * 4 * 4, N_CLASSES))
    elif name == "fc32":
        model = nn.Sequential(
            nn.Flatten(),
            nn.Linear(CROP * CROP, 32), nn.ReLU(),
            nn.Linear(32, N_CLASSES))
    else:
        raise ValueError(f"unknown network {name!r}; choose one of {NETWORKS}")
    return convnetjs_init_(model, seed=seed)


def count_parameters(model) -> int:
    return int(sum(p.numel() for p in model.parameters()))


def layer_table(model, input_shape=(1, CROP, CROP)):
    """Rows ``(layer, output shape (C, H, W) or (N,), parameters)`` from a forward pass of one image."""
    import torch
    rows = [("input", tuple(input_shape), 0)]
    x = torch.zeros((1, *input_shape))
    with torch.no_grad():
        for m in model:
            x = m(x)
            rows.append((repr(m), tuple(x.shape[1:]), count_parameters(m)))
    return rows


# ------------------------------------------------------------------------------- data
def load_data(train_n: int | None = None, test_n: int | None = None, seed: int = 0):
    """Fashion-MNIST as uint8 (N, 28, 28) images and int64 labels, optionally class-balanced subsets."""
    from utils import data as D
    x_tr, y_tr, x_te, y_te = D.load_fashion_mnist()
    x_tr, y_tr = D.subset(x_tr, y_tr, train_n, seed=seed)
    x_te, y_te = D.subset(x_te, y_te, test_n, seed=seed + 1)
    return x_tr, y_tr, x_te, y_te


def _as_images(images):
    import torch
    x = torch.as_tensor(np.asarray(images))
    if x.ndim != 3 or x.shape[1] < CROP or x.shape[2] < CROP:
        raise ValueError(f"images must have shape (N, H, W) with H, W >= {CROP}, got {tuple(x.shape)}")
    return x


def crop_at(images, dx, dy, size: int = CROP):
    """Crop ``images`` (N, H, W) at per-image offsets ``dx`` (columns), ``dy`` (rows): float (N, 1, size, size) in [0, 1].

    Pixels are divided by 255 as the demo does (``x.w[i] = p[ix]/255.0``).
    """
    import torch
    x = _as_images(images)
    n, h, w = x.shape
    dx = torch.as_tensor(dx, dtype=torch.long).expand(n)
    dy = torch.as_tensor(dy, dtype=torch.long).expand(n)
    if n and (dx.min() < 0 or dy.min() < 0 or dx.max() > w - size or dy.max() > h - size):
        raise ValueError(f"crop offsets must lie in 0..{w - size} (x) and 0..{h - size} (y)")
    r = torch.arange(size)
    rows = (dy[:, None] + r[None, :])[:, :, None].expand(n, size, size)
    cols = (dx[:, None] + r[None, :])[:, None, :].expand(n, size, size)
    out = x[torch.arange(n)[:, None, None], rows, cols].to(torch.float32) / 255.0
    return out[:, None]


def random_crops(images, generator, size: int = CROP):
    """One random ``size`` crop per image, offsets drawn like ConvNetJS's ``randi(0, H - size)``.

    ``randi(a, b) = floor(random*(b-a)+a)`` gives 0..H-size-1 (0..3 for 28 -> 24).
    """
    import torch
    x = _as_images(images)
    n, h, w = x.shape
    dx = torch.randint(0, max(w - size, 1), (n,), generator=generator)
    dy = torch.randint(0, max(h - size, 1), (n,), generator=generator)
    return crop_at(x, dx, dy, size)


def center_crop(images, size: int = CROP):
    x = _as_images(images)
    return crop_at(x, (x.shape[2] - size) // 2, (x.shape[1] - size) // 2, size)


# --------------------------------------------------------------------------- training
def make_optimizer(model, batch_size: int = 20, l2_decay: float = 0.001, ro: float = 0.95, eps: float = 1e-6):
    """ConvNetJS's ``{method:'adadelta', batch_size, l2_decay}`` trainer as ``torch.optim.Adadelta``.

    ConvNetJS adds ``l2_decay * w`` to the *sum* of the batch's gradients and divides by the batch
    size, so on the mean loss it is ``weight_decay = l2_decay / batch_size``, on weights only.
    """
    import torch
    weights = [p for p in model.parameters() if p.ndim > 1]
    biases = [p for p in model.parameters() if p.ndim <= 1]
    return torch.optim.Adadelta([{"params": weights, "weight_decay": l2_decay / batch_size},
                                 {"params": biases, "weight_decay": 0.0}], lr=1.0, rho=ro, eps=eps)


def predict_proba(model, images, crops: str = "center", n_crops: int = TEST_CROPS, seed: int = 0,
                  batch_size: int = 2000):
    """Softmax probabilities: centre crop (``crops="center"``) or the demo's mean over ``n_crops`` random crops."""
    import torch
    if crops not in ("center", "random"):
        raise ValueError(f"crops must be 'center' or 'random', got {crops!r}")
    x = _as_images(images)
    g = torch.Generator().manual_seed(_check_seed(seed))
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = x[i:i + batch_size]
            if crops == "center":
                out.append(torch.softmax(model(center_crop(xb)), 1))
            else:
                p = sum(torch.softmax(model(random_crops(xb, g)), 1) for _ in range(n_crops))
                out.append(p / n_crops)
    return torch.cat(out).numpy() if out else np.zeros((0, N_CLASSES), dtype=np.float32)


def accuracy(model, images, labels, **kw) -> float:
    """Percent of ``labels`` predicted by :func:`predict_proba` (same keyword arguments)."""
    labels = np.asarray(labels)
    if len(labels) != len(images):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    return 100.0 * float((predict_proba(model, images, **kw).argmax(1) == labels).mean())


def train(model, x_train, y_train, x_test=None, y_test=None, epochs: int = 1, batch_size: int = 20,
          l2_decay: float = 0.001, ro: float = 0.95, eps: float = 1e-6, seed: int = 0, log=None):
    """Train ``model`` on uint8 28x28 images with the demo's random crops and Adadelta trainer.

    Returns a history dict: per-epoch ``loss`` (mean cross-entropy of the epoch's batches),
    ``running_acc`` (accuracy on the augmented training batches as they were seen, what the demo
    calls training accuracy), ``test_acc`` (centre crop, if test data given) and ``seconds``
    (training time of each epoch, without the evaluation).
    """
    import torch
    import torch.nn.functional as F
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive int, got {epochs!r}")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    x = _as_images(x_train)
    y = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    if len(y) != len(x):
        raise ValueError(f"{len(x)} training images but {len(y)} labels")
    g = torch.Generator().manual_seed(_check_seed(seed))
    opt = make_optimizer(model, batch_size=batch_size, l2_decay=l2_decay, ro=ro, eps=eps)
    hist = {"loss": [], "running_acc": [], "test_acc": [], "seconds": []}
    n = len(y)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        model.train()
        perm = torch.randperm(n, generator=g)
        crops = random_crops(x[perm], g)       # a fresh random crop of every image, every epoch
        labels = y[perm]
        total, correct = 0.0, 0
        for i in range(0, n, batch_size):
            xb, yb = crops[i:i + batch_size], labels[i:i + batch_size]
            logits = model(xb)
            loss = F.cross_entropy(logits, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
        hist["seconds"].append(time.perf_counter() - t0)
        hist["loss"].append(total / n)
        hist["running_acc"].append(100.0 * correct / n)
        if x_test is not None:
            hist["test_acc"].append(accuracy(model, x_test, y_test))
        if log:
            log(f"  epoch {epoch + 1}/{epochs}: loss {hist['loss'][-1]:.4f}, running train "
                f"{hist['running_acc'][-1]:.2f}%, test {hist['test_acc'][-1] if hist['test_acc'] else float('nan'):.2f}%, "
                f"{hist['seconds'][-1]:.1f} s")
    return hist


def run(name: str, data, epochs: int, seed: int = 0, eps: float = 1e-6, batch_size: int = 20, log=None):
    """Build, train and evaluate one network; returns a result dict for :func:`markdown`."""
    x_tr, y_tr, x_te, y_te = data
    model = build_network(name, seed=seed)
    hist = train(model, x_tr, y_tr, x_te, y_te, epochs=epochs, batch_size=batch_size, eps=eps,
                 seed=seed, log=log)
    return {"name": name, "params": count_parameters(model), "epochs": epochs,
            "train_acc": accuracy(model, x_tr, y_tr),
            "test_acc": hist["test_acc"][-1],
            "test_acc_4crops": accuracy(model, x_te, y_te, crops="random", seed=seed + 1),
            "s_per_epoch": float(np.mean(hist["seconds"])), "history": hist, "model": model}


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = "load average %.1f/%.1f/%.1f at the start" % os.getloadavg()
    except OSError:
        load = "load average unknown"
    return f"{cpu}, {os.cpu_count()} cores, {load}"


def _seconds(s: float) -> str:
    return f"{s:.1f}" if s >= 1 else f"{s:.2f}"


def markdown(results, settings: str) -> str:
    lines = [settings, "",
             "| network | parameters | epochs | train % (centre crop) | test % (centre crop) | "
             "test % (mean of 4 random crops, as the demo) | seconds / epoch |",
             "|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {LABELS[r['name']]} | {r['params']:,} | {r['epochs']} | {r['train_acc']:.2f} | "
                     f"{r['test_acc']:.2f} | {r['test_acc_4crops']:.2f} | {_seconds(r['s_per_epoch'])} |")
    if results:
        n_ep = max(len(r["history"]["test_acc"]) for r in results)
        lines += ["", "Test accuracy (%, centre crop) after each epoch:", "",
                  "| network | " + " | ".join(str(e + 1) for e in range(n_ep)) + " |",
                  "|---|" + "---|" * n_ep]
        for r in results:
            accs = r["history"]["test_acc"]
            lines.append(f"| {r['name']} | " + " | ".join(f"{a:.2f}" for a in accs)
                         + " |" * (n_ep - len(accs) + 1))
    lines += ["", "Matched to ConvNetJS:", ""] + [f"- {m}" for m in MATCHED]
    lines += ["", "Differences from the ConvNetJS demo:", ""] + [f"- {d}" for d in DIFFERENCES]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    """The command line, checked: ``(args, epochs, network names)``."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=None, help="epochs per network (default 10; 1 with --smoke)")
    p.add_argument("--out", help="write the markdown table here")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run for CI: 1,000 train / 500 test images, 1 epoch")
    p.add_argument("--networks", default="conv,fc32", help="comma-separated subset of conv,fc32")
    p.add_argument("--train-n", type=int, default=None, help="class-balanced training subset (default all)")
    p.add_argument("--test-n", type=int, default=None, help="class-balanced test subset (default all)")
    p.add_argument("--eps", type=float, default=CONVNETJS_TRAINER["eps"], help="Adadelta eps (ConvNetJS: 1e-6; later builds 1e-8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.smoke:
        args.epochs = args.epochs or 1
        args.train_n = args.train_n or 1000
        args.test_n = args.test_n or 500
    epochs = 10 if args.epochs is None else args.epochs
    if epochs < 1:
        p.error(f"--epochs must be >= 1, got {epochs}")
    for opt in ("train_n", "test_n"):
        v = getattr(args, opt)
        if v is not None and v < N_CLASSES:
            p.error(f"--{opt.replace('_', '-')} must be >= {N_CLASSES} (one image per class), got {v}")
    if args.threads < 1:
        p.error(f"--threads must be >= 1, got {args.threads}")
    if not args.eps > 0:
        p.error(f"--eps must be > 0, got {args.eps}")
    names = [s.strip() for s in args.networks.split(",") if s.strip()]
    bad = [s for s in names if s not in NETWORKS]
    if bad or not names:
        p.error(f"--networks: unknown {bad or names}; choose from {', '.join(NETWORKS)}")
    return args, epochs, names


def main(argv=None):
    args, epochs, names = parse_args(argv)
    import torch
    torch.set_num_threads(args.threads)
    from utils.data import DatasetError
    try:
        data = load_data(args.train_n, args.test_n, seed=args.seed)
    except DatasetError as exc:
        raise SystemExit(f"convnetjs_experiment: {exc}") from None
    machine = _machine()
    settings = (
        f"Fashion-MNIST ({len(data[1]):,} train / {len(data[3]):,} test images{', smoke run' if args.smoke else ''}), "
        f"random 24x24 crops of the 28x28 images, pixels /255. Trainer as ConvNetJS "
        f"`{{method:'adadelta', batch_size:20, l2_decay:0.001}}` (ro 0.95, eps {args.eps:g}); "
        f"{epochs} epoch{'s' if epochs > 1 else ''} per network, seed {args.seed}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread{'s' if torch.get_num_threads() > 1 else ''}, {machine}. "
        f"Train % is measured after training on centre crops of the whole training set.")

    def log(msg):
        print(msg, flush=True)

    log(settings)
    results = []
    for name in names:
        log(f"{name}: training")
        results.append(run(name, data, epochs, seed=args.seed, eps=args.eps, log=log))
        if args.out:
            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(markdown(results, settings))
    text = markdown(results, settings)
    print(text, flush=True)
    if args.out:
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
