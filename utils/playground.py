"""An offline TensorFlow Playground (playground.tensorflow.org), headless, in numpy.

Lecture 3 (seed 004), "Experiment 1: classification of 2D points", sends students to the playground.
This module re-implements what its sources do (github.com/tensorflow/playground, ``src/dataset.ts``,
``src/state.ts``, ``src/nn.ts``, ``src/playground.ts``) so the experiment runs offline, in JupyterLab,
in tests and in an autograded assignment -- all through one function, :func:`train`.

What is the same as the playground
----------------------------------
* Data (``dataset.ts``): 500 points; ``circle`` (radius 5, positives r < 2.5, negatives 3.5 <= r < 5, the
  label taken from the point moved by uniform noise in [-5, 5] * noise), ``xor`` (uniform in [-5, 5], padded
  0.3 away from the axes, label sign(x*y) of the noisy point, ``>= 0`` counts as +1), ``gauss`` (two normals
  at (2, 2) and (-2, -2), variance 0.5 + 7 * noise, Marsaglia's polar method), ``spiral`` (two arms,
  r = 5 i / n, t = 1.75 * 2 pi i / n (+ pi), uniform noise in [-1, 1] * noise). Labels are +1 / -1.
  ``noise`` is the slider's percent (0..50), divided by 100 as the playground does; the points are shuffled
  with the playground's Fisher-Yates loop and split at ``floor(500 * train_percent / 100)``.
* Features (``playground.ts`` INPUTS, in its order): x1, x2, x1^2, x2^2, x1*x2, sin x1, sin x2.
* Network (``nn.ts``): fully connected, every hidden unit uses ``activation``, the single output unit
  uses tanh (output in [-1, 1]); weights uniform in [-0.5, 0.5), every bias starts at 0.1.
* Loss: squared error 0.5 * (output - label)^2; the reported train/test loss is its mean over the split.
* One step (``oneStep``) = one pass over the training points **in their fixed order** (no reshuffle);
  derivatives are accumulated point by point and the weights are updated after every ``batch_size`` points
  with the accumulated sum divided by the number of accumulated points. A last partial batch is not dropped:
  its derivatives stay accumulated and join the first batch of the next step, as in ``nn.ts``.
* Regularization (``updateWeights``, current version): only weights, never biases. After the gradient
  update ``w -= lr / n * sum(dE/dw)`` comes ``w -= lr * rate * R'(w_old)`` (**not** divided by the batch
  size) with R'(w) = w for L2 and sign(w) (0 at 0) for L1; with L1 a weight that the penalty pushes across
  0 is set to 0 and is "dead" from then on (never updated again), as in the playground.
* Defaults (``state.ts``): circle, noise 0, 50 % training data, batch size 10, learning rate 0.03,
  tanh, no regularization (rate 0), hidden layers [4, 2], inputs x1 and x2. Limits of the GUI: at most 6
  hidden layers of at most 8 units, batch size 1..30, noise 0..50, training ratio 10..90.
* The decision boundary is the output on a 100 x 100 grid over [-6, 6]^2 (``DENSITY = 100``).

Differences kept (on purpose)
-----------------------------
* Random numbers come from ``numpy.random.default_rng(seed)`` with an integer seed, not from seedrandom's
  ARC4 stream with a string seed, so the same seed gives other points and weights than the web page (the
  distributions are the same). The data and the weights use two independent streams of the seed
  (``SeedSequence(seed).spawn``), so changing the network does not change the data.
* Derivatives of one batch are computed with matrix products (all points of the batch at once, with the
  weights of the batch's start). This is exactly what the playground computes, since it never updates
  inside a batch; only the summation order (floating point rounding) differs.
* Accuracy (not shown by the playground) counts output >= 0 as class +1.
* The heat maps use the colour scale continuously and opaque; the page (``heatmap.ts``) quantizes it to 31
  shades and draws them with alpha 160 over white, so its colours are a little paler and banded.
* The widget always shows the test points (black rim; the page hides them unless "Show test data" is on),
  draws the loss curves under the heat map and the unit pictures in a separate panel, and a tick of play
  trains ``steps_per_frame`` steps (default 5) where the page trains one step per animation frame.
* The regression problems and the cos features of ``state.ts`` are left out (the slide uses
  classification; the playground's GUI has no cos inputs either).

numpy, not torch: the matrices are tiny (batch 10, at most 8 units), so each operation's fixed cost
dominates; ``python -m benchmarks.playground`` measures both and numpy is 2-4x faster here
(1,250 vs 555 steps/s for the default network on the idle 2-core machine).
"""
from __future__ import annotations

import math
import numbers

import numpy as np

__all__ = ["DATASETS", "FEATURES", "ACTIVATIONS", "REGULARIZATIONS", "LEARNING_RATES", "REGULARIZATION_RATES",
           "DEFAULTS", "NUM_SAMPLES", "DENSITY", "DOMAIN", "validate_config", "make_data", "feature_matrix",
           "Playground", "train", "decision_grid", "accuracy", "colorize",
           "render_boundary", "render_units", "PlaygroundWidget"]

DATASETS = ("circle", "xor", "gauss", "spiral")
FEATURES = ("x1", "x2", "x1^2", "x2^2", "x1*x2", "sin x1", "sin x2")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "linear")
REGULARIZATIONS = ("none", "L1", "L2")
# the values of the playground's drop-down menus (index.html)
LEARNING_RATES = (0.00001, 0.0001, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
REGULARIZATION_RATES = (0.0, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)
NUM_SAMPLES = 500
DENSITY = 100
DOMAIN = (-6.0, 6.0)
MAX_LAYERS = 6
MAX_UNITS = 8

DEFAULTS = {
    "dataset": "circle",
    "noise": 0,
    "train_percent": 50,
    "features": ["x1", "x2"],
    "hidden_layers": [4, 2],
    "activation": "tanh",
    "learning_rate": 0.03,
    "regularization": "none",
    "regularization_rate": 0.0,
    "batch_size": 10,
    "seed": 0,
}

_ALLOWED = {
    "dataset": f"one of {list(DATASETS)}",
    "noise": "a number from 0 to 50 (percent, the playground's slider)",
    "train_percent": "a number from 10 to 90 (percent of the 500 points used for training)",
    "features": f"a non-empty list of distinct names from {list(FEATURES)}",
    "hidden_layers": f"a list of 0 to {MAX_LAYERS} integers, each from 1 to {MAX_UNITS} (units per hidden layer)",
    "activation": f"one of {list(ACTIVATIONS)}",
    "learning_rate": f"a positive number (the playground offers {list(LEARNING_RATES)})",
    "regularization": f"one of {list(REGULARIZATIONS)} (or None for 'none')",
    "regularization_rate": f"a number >= 0 (the playground offers {list(REGULARIZATION_RATES)})",
    "batch_size": "an integer from 1 to 30",
    "seed": "a non-negative integer",
}


def _bad(key, value, why="", name="config"):
    why = f" ({why})" if why else ""
    return ValueError(f"{name}[{key!r}] = {value!r} is not allowed{why}: {key} must be {_ALLOWED[key]}")


def _number(key, value, lo, hi, integer=False, lo_open=False, name="config"):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise _bad(key, value, name=name)
    v = float(value)
    if not math.isfinite(v) or v < lo or v > hi or (lo_open and v <= lo):
        raise _bad(key, value, name=name)
    if integer:
        if v != int(v):
            raise _bad(key, value, name=name)
        return int(v)
    return int(v) if isinstance(value, numbers.Integral) else v


def validate_config(config=None, name: str = "config") -> dict:
    """Return a complete config: ``DEFAULTS`` updated with ``config``, every value checked.

    An unknown key or a bad value raises ``ValueError`` naming the key and the allowed values;
    ``config`` itself is not modified. ``name`` is what the messages call the dict (an assignment
    passes ``"spiral_config"``, so the student reads the name of their own variable)."""
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise TypeError(f"{name} must be a dict (e.g. {{'dataset': 'spiral', 'hidden_layers': [8, 8]}}), "
                        f"got {type(config).__name__}")
    unknown = [k for k in config if k not in DEFAULTS]
    if unknown:
        raise ValueError(f"unknown {name} key(s) {unknown}: the allowed keys are {list(DEFAULTS)}")
    c = dict(DEFAULTS)
    c.update(config)
    out = {}
    for key in ("dataset", "activation"):
        allowed = DATASETS if key == "dataset" else ACTIVATIONS
        if not isinstance(c[key], str) or c[key] not in allowed:
            raise _bad(key, c[key], name=name)
        out[key] = c[key]
    reg = "none" if c["regularization"] is None else c["regularization"]
    if not isinstance(reg, str) or reg not in REGULARIZATIONS:
        raise _bad("regularization", c["regularization"], name=name)
    out["regularization"] = reg
    out["noise"] = _number("noise", c["noise"], 0, 50, name=name)
    out["train_percent"] = _number("train_percent", c["train_percent"], 10, 90, name=name)
    out["learning_rate"] = _number("learning_rate", c["learning_rate"], 0, math.inf, lo_open=True, name=name)
    out["regularization_rate"] = _number("regularization_rate", c["regularization_rate"], 0, math.inf, name=name)
    out["batch_size"] = _number("batch_size", c["batch_size"], 1, 30, integer=True, name=name)
    out["seed"] = _number("seed", c["seed"], 0, 2 ** 63 - 1, integer=True, name=name)
    feats = c["features"]
    if not isinstance(feats, (list, tuple)) or not feats:
        raise _bad("features", feats, name=name)
    unknown = [f for f in feats if not isinstance(f, str) or f not in FEATURES]
    if unknown:
        raise _bad("features", feats, f"unknown: {unknown}", name=name)
    repeated = sorted({f for f in feats if feats.count(f) > 1})
    if repeated:
        raise _bad("features", feats, f"repeated: {repeated}", name=name)
    out["features"] = [f for f in FEATURES if f in feats]  # the playground's order
    layers = c["hidden_layers"]
    if not isinstance(layers, (list, tuple)):
        raise _bad("hidden_layers", layers, name=name)
    if len(layers) > MAX_LAYERS:
        raise _bad("hidden_layers", layers, f"{len(layers)} layers", name=name)
    for n in layers:
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or not 1 <= n <= MAX_UNITS:
            raise _bad("hidden_layers", layers, f"{n!r} units", name=name)
    out["hidden_layers"] = [int(n) for n in layers]
    return {k: out[k] for k in DEFAULTS}


# ----------------------------------------------------------------------------------------------- data

def _circle(n, noise, rand):
    radius = 5.0
    pts = []
    for lo, hi in ((0.0, radius * 0.5), (radius * 0.7, radius)):
        for _ in range(math.ceil(n / 2)):  # for (i = 0; i < numSamples / 2; i++)
            r = rand(lo, hi)
            angle = rand(0.0, 2 * math.pi)
            x, y = r * math.sin(angle), r * math.cos(angle)
            nx, ny = rand(-radius, radius) * noise, rand(-radius, radius) * noise
            label = 1 if math.hypot(x + nx, y + ny) < radius * 0.5 else -1
            pts.append((x, y, label))
    return pts


def _xor(n, noise, rand):
    pts = []
    for _ in range(n):
        x = rand(-5.0, 5.0)
        x += 0.3 if x > 0 else -0.3
        y = rand(-5.0, 5.0)
        y += 0.3 if y > 0 else -0.3
        nx, ny = rand(-5.0, 5.0) * noise, rand(-5.0, 5.0) * noise
        pts.append((x, y, 1 if (x + nx) * (y + ny) >= 0 else -1))
    return pts


def _gauss(n, noise, rand):
    variance = 0.5 + (4 - 0.5) * noise / 0.5  # d3.scale.linear().domain([0, .5]).range([0.5, 4])

    def normal(mean):
        while True:  # Marsaglia's polar method, as normalRandom in dataset.ts
            v1, v2 = 2 * rand(0.0, 1.0) - 1, 2 * rand(0.0, 1.0) - 1
            s = v1 * v1 + v2 * v2
            if s <= 1 and s > 0:
                break
        return mean + math.sqrt(variance) * math.sqrt(-2 * math.log(s) / s) * v1

    pts = []
    for cx, label in ((2.0, 1), (-2.0, -1)):
        for _ in range(math.ceil(n / 2)):
            x = normal(cx)
            y = normal(cx)
            pts.append((x, y, label))
    return pts


def _spiral(n, noise, rand):
    half = n / 2
    pts = []
    for delta, label in ((0.0, 1), (math.pi, -1)):
        for i in range(math.ceil(half)):
            r = i / half * 5
            t = 1.75 * i / half * 2 * math.pi + delta
            x = r * math.sin(t) + rand(-1.0, 1.0) * noise
            y = r * math.cos(t) + rand(-1.0, 1.0) * noise
            pts.append((x, y, label))
    return pts


_GENERATORS = {"circle": _circle, "xor": _xor, "gauss": _gauss, "spiral": _spiral}


def _streams(seed):
    data_ss, net_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(data_ss), np.random.default_rng(net_ss)


def make_data(config=None, num_samples: int = NUM_SAMPLES):
    """The playground's ``generateData``: (X_train, y_train, X_test, y_test), X of shape (n, 2) holding
    (x1, x2), y of shape (n,) in {-1.0, +1.0}. Same seed, same points."""
    cfg = validate_config(config)
    data_rng, _ = _streams(cfg["seed"])
    u = data_rng.random

    def rand(a, b):  # randUniform(a, b) = Math.random() * (b - a) + a
        return u() * (b - a) + a

    pts = _GENERATORS[cfg["dataset"]](num_samples, cfg["noise"] / 100.0, rand)
    # shuffle(): Fisher-Yates from the end, as dataset.ts
    counter = len(pts)
    while counter > 0:
        index = int(math.floor(u() * counter))
        counter -= 1
        pts[counter], pts[index] = pts[index], pts[counter]
    arr = np.array(pts, dtype=float)
    split = int(math.floor(len(arr) * cfg["train_percent"] / 100))
    return arr[:split, :2].copy(), arr[:split, 2].copy(), arr[split:, :2].copy(), arr[split:, 2].copy()


_FEATURE_FUNCS = {
    "x1": lambda x, y: x,
    "x2": lambda x, y: y,
    "x1^2": lambda x, y: x * x,
    "x2^2": lambda x, y: y * y,
    "x1*x2": lambda x, y: x * y,
    "sin x1": lambda x, y: np.sin(x),
    "sin x2": lambda x, y: np.sin(y),
}


def feature_matrix(X, features) -> np.ndarray:
    """The network's input for points X (n, 2): one column per feature, in the playground's order."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != 2:
        raise ValueError(f"X must have shape (n, 2) (columns x1, x2), got {X.shape}")
    feats = validate_config({"features": list(features)})["features"]
    return np.stack([_FEATURE_FUNCS[f](X[:, 0], X[:, 1]) for f in feats], axis=1)


# ----------------------------------------------------------------------------------------------- network

def _act(name, z):
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "sigmoid":
        return 1.0 / (1.0 + np.exp(-z))
    return z


def _act_der(name, z, a):
    """Derivative at z, given a = f(z) (nn.ts: relu'(0) = 0)."""
    if name == "tanh":
        return 1.0 - a * a
    if name == "relu":
        return (z > 0).astype(z.dtype)
    if name == "sigmoid":
        return a * (1.0 - a)
    return np.ones_like(z)


def accuracy(output, labels) -> float:
    """Fraction of points whose output has the label's sign (output >= 0 counts as +1)."""
    pred = np.where(np.asarray(output) >= 0, 1.0, -1.0)
    return float(np.mean(pred == np.asarray(labels)))


class Playground:
    """One network on one dataset: the state behind the playground's page.

    ``step(n)`` runs n of the playground's steps (epochs); ``learning_rate`` may be changed between steps
    (as on the page, where that does not reset the network); anything else needs a new ``Playground``.
    ``weights[l]`` has shape (inputs, units) -- ``weights[l][i, j]`` is the link from unit i of layer l
    to unit j of layer l + 1 -- and ``biases[l]`` shape (units,)."""

    def __init__(self, config=None):
        self.config = validate_config(config)
        cfg = self.config
        self.X_train, self.y_train, self.X_test, self.y_test = make_data(cfg)
        self.F_train = feature_matrix(self.X_train, cfg["features"])
        self.F_test = feature_matrix(self.X_test, cfg["features"])
        _, net_rng = _streams(cfg["seed"])
        sizes = [len(cfg["features"])] + cfg["hidden_layers"] + [1]
        self.weights, self.biases = [], []
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            # nn.ts builds node by node, link by link: weight = Math.random() - 0.5; bias = 0.1
            w = net_rng.random((fan_out, fan_in)).T - 0.5
            self.weights.append(np.ascontiguousarray(w))
            self.biases.append(np.full(fan_out, 0.1))
        self.dead = [np.zeros(w.shape, dtype=bool) for w in self.weights]
        self.learning_rate = cfg["learning_rate"]
        self.epoch = 0
        self._carry = np.zeros(0, dtype=np.intp)  # indices of a partial batch waiting for the next step

    # forward pass on any points' features; returns the list of activations (inputs first)
    def _forward(self, F):
        act = self.config["activation"]
        acts, zs = [F], []
        a = F
        last = len(self.weights) - 1
        for l, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w + b
            a = np.tanh(z) if l == last else _act(act, z)
            zs.append(z)
            acts.append(a)
        return acts, zs

    def predict(self, X) -> np.ndarray:
        """Network output in [-1, 1] for raw points X (n, 2)."""
        return self._forward(feature_matrix(X, self.config["features"]))[0][-1][:, 0]

    def gradients(self, F, y):
        """Sums over the points of d(0.5 (out - y)^2)/dw and /db: lists like weights and biases."""
        act = self.config["activation"]
        acts, zs = self._forward(F)
        out = acts[-1]
        delta = (out - y[:, None]) * (1.0 - out * out)  # output unit: tanh
        gw, gb = [None] * len(self.weights), [None] * len(self.weights)
        for l in range(len(self.weights) - 1, -1, -1):
            gw[l] = acts[l].T @ delta
            gb[l] = delta.sum(axis=0)
            if l:
                delta = (delta @ self.weights[l].T) * _act_der(act, zs[l - 1], acts[l])
        return gw, gb

    def _update(self, idx):
        cfg = self.config
        gw, gb = self.gradients(self.F_train[idx], self.y_train[idx])
        n = len(idx)
        lr, rate, reg = self.learning_rate, cfg["regularization_rate"], cfg["regularization"]
        for l, w in enumerate(self.weights):
            self.biases[l] -= lr * gb[l] / n
            if reg == "none":
                new = w - (lr / n) * gw[l]
            else:
                reg_der = w if reg == "L2" else np.sign(w)  # nn.ts L1.der: w < 0 ? -1 : (w > 0 ? 1 : 0)
                stepped = w - (lr / n) * gw[l]
                new = stepped - (lr * rate) * reg_der
                if reg == "L1":
                    crossed = stepped * new < 0
                    new[crossed] = 0.0
                    self.dead[l] |= crossed
            if self.dead[l].any():
                new[self.dead[l]] = 0.0
            self.weights[l] = new

    def step(self, n: int = 1):
        """n of the playground's ``oneStep``: each one pass over the training points in order."""
        bs = self.config["batch_size"]
        m = len(self.y_train)
        order = np.arange(m)
        for _ in range(int(n)):
            cuts = list(range(bs, m + 1, bs))  # update after point i when (i + 1) % bs == 0
            start = 0
            for k, end in enumerate(cuts):
                idx = order[start:end]
                if k == 0 and len(self._carry):
                    idx = np.concatenate([self._carry, idx])
                    self._carry = np.zeros(0, dtype=np.intp)
                self._update(idx)
                start = end
            if start < m:
                rest = order[start:]
                self._carry = np.concatenate([self._carry, rest]) if len(self._carry) else rest
            self.epoch += 1
        return self

    def losses(self):
        """(train loss, test loss): mean of 0.5 (output - label)^2, the numbers the playground shows."""
        m = self.metrics()
        return m["train_loss"], m["test_loss"]

    def metrics(self) -> dict:
        tr = self._forward(self.F_train)[0][-1][:, 0]
        te = self._forward(self.F_test)[0][-1][:, 0]
        return {"epoch": self.epoch,
                "train_loss": float(np.mean(0.5 * (tr - self.y_train) ** 2)),
                "test_loss": float(np.mean(0.5 * (te - self.y_test) ** 2)),
                "train_accuracy": accuracy(tr, self.y_train),
                "test_accuracy": accuracy(te, self.y_test)}


def decision_grid(net: Playground, density: int = DENSITY, domain=DOMAIN) -> dict:
    """The playground's ``updateDecisionBoundary``: every unit's output on a density x density grid.

    Returns ``{"x": (density,), "y": (density,), "output": (density, density),
    "hidden": [array (units, density, density) per hidden layer],
    "inputs": array (features, density, density), the chosen input features' values}``; row 0 is the
    top (y = domain[1]), column 0 the left (x = domain[0]), so an array can be shown as an image directly."""
    if not isinstance(density, numbers.Integral) or density < 2:
        raise ValueError(f"density must be an integer >= 2, got {density!r}")
    xs = np.linspace(domain[0], domain[1], int(density))
    ys = xs[::-1].copy()
    gx, gy = np.meshgrid(xs, ys)
    pts = np.stack([gx.ravel(), gy.ravel()], axis=1)
    acts, _ = net._forward(feature_matrix(pts, net.config["features"]))
    d = int(density)
    hidden = [a.T.reshape(a.shape[1], d, d) for a in acts[1:-1]]
    return {"x": xs, "y": ys, "output": acts[-1][:, 0].reshape(d, d), "hidden": hidden,
            "inputs": acts[0].T.reshape(acts[0].shape[1], d, d)}


def train(config=None, steps: int = 100, record_every: int = 1) -> dict:
    """Train a fresh network with ``config`` for ``steps`` playground steps (epochs), headless.

    Returns the history: ``{"config": full config, "epoch": [...], "train_loss": [...], "test_loss": [...],
    "train_accuracy": [...], "test_accuracy": [...], "net": the trained Playground}``; the lists start at
    epoch 0 (before training) and hold every ``record_every``-th epoch and the last one."""
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 0:
        raise ValueError(f"steps must be an integer >= 0 (number of passes over the training data), got {steps!r}")
    if isinstance(record_every, bool) or not isinstance(record_every, numbers.Integral) or record_every < 1:
        raise ValueError(f"record_every must be an integer >= 1, got {record_every!r}")
    net = Playground(config)
    hist = {"config": net.config, "epoch": [], "train_loss": [], "test_loss": [],
            "train_accuracy": [], "test_accuracy": []}

    def record():
        for k, v in net.metrics().items():
            hist[k].append(v)

    record()
    for e in range(1, int(steps) + 1):
        net.step(1)
        if e % record_every == 0 or e == steps:
            record()
    hist["net"] = net
    return hist



# ----------------------------------------------------------------------------------------------- drawing
# The playground's colour scale (playground.ts): -1 orange #f59322, 0 grey #e8eaeb, +1 blue #0877bd, clamped.
_C_NEG = np.array([0xF5, 0x93, 0x22], dtype=float)
_C_MID = np.array([0xE8, 0xEA, 0xEB], dtype=float)
_C_POS = np.array([0x08, 0x77, 0xBD], dtype=float)


def colorize(values) -> np.ndarray:
    """Map values in [-1, 1] (clamped) to RGB uint8 with the playground's colour scale."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=float)), -1.0, 1.0)[..., None]
    rgb = np.where(v < 0, _C_MID + (_C_MID - _C_NEG) * v, _C_MID + (_C_POS - _C_MID) * v)
    return np.floor(rgb + 0.5).astype(np.uint8)  # d3's interpolateRgb rounds with Math.round (half up)


def _png(img) -> bytes:
    import io
    buf = io.BytesIO()
    img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def render_boundary(net: Playground, history=None, size: int = 300, show_test: bool = True,
                    density: int = DENSITY, grid=None) -> bytes:
    """PNG bytes: the output heat map over [-6, 6]^2 with the training points (white rim) and the test
    points (black rim), and below it the train (grey) and test (black) loss curves of ``history``
    (a dict with lists "train_loss", "test_loss")."""
    from PIL import Image, ImageDraw
    if grid is None:
        grid = decision_grid(net, density)
    scale = max(1, size // density)
    rgb = np.repeat(np.repeat(colorize(grid["output"]), scale, axis=0), scale, axis=1)
    side = rgb.shape[0]
    chart_h = 70 if history else 0
    img = Image.new("RGB", (side, side + chart_h), (255, 255, 255))
    img.paste(Image.fromarray(rgb), (0, 0))
    # the points do not move while training: draw them once per network, then paste with their mask
    key = (side, bool(show_test))
    cache = getattr(net, "_points_overlay", None)
    if cache is None or cache[0] != key:
        overlay = Image.new("RGBA", (side, side), (0, 0, 0, 0))
        odraw = ImageDraw.Draw(overlay)
        lo, hi = DOMAIN
        sets = [(net.X_train, net.y_train, (255, 255, 255, 255))]
        if show_test:
            sets.append((net.X_test, net.y_test, (0, 0, 0, 255)))
        for X, y, rim in sets:
            px = (X[:, 0] - lo) / (hi - lo) * side
            py = (hi - X[:, 1]) / (hi - lo) * side
            for xx, yy, c in zip(px.tolist(), py.tolist(), colorize(y).tolist()):
                odraw.ellipse((xx - 3, yy - 3, xx + 3, yy + 3), fill=tuple(c) + (255,), outline=rim)
        net._points_overlay = cache = (key, overlay)
    img.paste(cache[1], (0, 0), cache[1])
    draw = ImageDraw.Draw(img)
    if history and history.get("train_loss"):
        top = side + 5
        h = chart_h - 10
        vals = [v for k in ("train_loss", "test_loss") for v in history[k] if math.isfinite(v)]
        vmax = max(vals) if vals else 1.0
        vmax = vmax if vmax > 0 else 1.0
        for key, col in (("train_loss", (119, 119, 119)), ("test_loss", (0, 0, 0))):
            ys = history[key]
            n = len(ys)
            if n < 2:
                continue
            pts = [(i / (n - 1) * (side - 1), top + h - min(v, vmax) / vmax * h if math.isfinite(v) else top)
                   for i, v in enumerate(ys)]
            draw.line(pts, fill=col, width=1)
    return _png(img)


def render_units(net: Playground, thumb: int = 40, grid=None, density: int = DENSITY) -> bytes:
    """PNG bytes: one thumbnail per node, as the playground's node pictures: the input features (their
    values, named on the left; the colour scale is clamped to [-1, 1] as the playground's), then a
    column per hidden layer (each unit's output), and the output unit in the last column."""
    from PIL import Image, ImageDraw
    if grid is None:
        grid = decision_grid(net, density)
    inputs = grid.get("inputs")
    if inputs is None:       # a grid from an older caller: recompute the inputs
        inputs = decision_grid(net, density)["inputs"]
    cols = [inputs] + [h for h in grid["hidden"]] + [grid["output"][None]]
    d = grid["output"].shape[0]
    k = max(1, d // (thumb // 2)) if d >= thumb // 2 else 1
    gap, label = 12, 46      # label: room left of the input column for the feature names
    rows = max(c.shape[0] for c in cols)
    width = label + len(cols) * (thumb + gap) + gap
    height = rows * (thumb + 6) + 6
    img = Image.new("RGB", (width, height), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for ci, layer in enumerate(cols):
        for ui in range(layer.shape[0]):
            g = layer[ui]
            m = (d // k) * k
            small = g[:m, :m].reshape(m // k, k, m // k, k).mean(axis=(1, 3))  # reduceMatrix in heatmap.ts
            rep = max(1, thumb // small.shape[0])
            tile = np.repeat(np.repeat(colorize(small), rep, axis=0), rep, axis=1)
            x0, y0 = label + gap + ci * (thumb + gap), 6 + ui * (thumb + 6)
            img.paste(Image.fromarray(tile), (x0, y0))
            if ci == 0:
                draw.text((4, y0 + thumb // 2 - 5), net.config["features"][ui], fill=(60, 60, 60))
    return _png(img)


class PlaygroundWidget:
    """The playground's page as ipywidgets: controls, play/pause (an ipywidgets ``Play`` whose ticks come
    from the browser, so nothing runs without a frontend), step, reset, the boundary with train/test points
    and loss curves, every node's thumbnail (inputs, hidden units, output). ``widget.box`` is what to display. As on the page, changing the
    learning rate keeps training the same network; any other control starts a new one."""

    def __init__(self, config=None, steps_per_frame: int = 5, interval_ms: int = 100):
        import ipywidgets as W
        cfg = validate_config(config)
        self.steps_per_frame = steps_per_frame
        lay = W.Layout(width="260px")
        st = {"description_width": "110px"}
        self.w_dataset = W.Dropdown(options=list(DATASETS), value=cfg["dataset"], description="dataset",
                                    layout=lay, style=st)
        self.w_noise = W.IntSlider(value=int(cfg["noise"]), min=0, max=50, step=5, description="noise",
                                   continuous_update=False, layout=lay, style=st)
        self.w_ratio = W.IntSlider(value=int(cfg["train_percent"]), min=10, max=90, step=10,
                                   description="train %", continuous_update=False, layout=lay, style=st)
        self.w_features = [W.Checkbox(value=f in cfg["features"], description=f, indent=False,
                                      layout=W.Layout(width="80px")) for f in FEATURES]
        self.w_layers = W.Text(value=", ".join(map(str, cfg["hidden_layers"])), description="hidden layers",
                               continuous_update=False, layout=lay, style=st)
        self.w_act = W.Dropdown(options=list(ACTIVATIONS), value=cfg["activation"], description="activation",
                                layout=lay, style=st)
        lrs = list(LEARNING_RATES) if cfg["learning_rate"] in LEARNING_RATES else \
            sorted(set(LEARNING_RATES) | {cfg["learning_rate"]})
        self.w_lr = W.Dropdown(options=lrs, value=cfg["learning_rate"], description="learning rate",
                               layout=lay, style=st)
        self.w_reg = W.Dropdown(options=list(REGULARIZATIONS), value=cfg["regularization"],
                                description="regularization", layout=lay, style=st)
        rates = list(REGULARIZATION_RATES) if cfg["regularization_rate"] in REGULARIZATION_RATES else \
            sorted(set(REGULARIZATION_RATES) | {cfg["regularization_rate"]})
        self.w_rate = W.Dropdown(options=rates, value=cfg["regularization_rate"], description="reg. rate",
                                 layout=lay, style=st)
        self.w_batch = W.IntSlider(value=cfg["batch_size"], min=1, max=30, description="batch size",
                                   continuous_update=False, layout=lay, style=st)
        self.w_seed = W.IntText(value=cfg["seed"], description="seed", layout=lay, style=st)
        self.w_play = W.Play(value=0, min=0, max=10 ** 9, interval=interval_ms, description="play",
                             show_repeat=False)
        self.w_step = W.Button(description="step", layout=W.Layout(width="70px"))
        self.w_reset = W.Button(description="reset", layout=W.Layout(width="70px"))
        self.w_status = W.HTML()
        self.w_boundary = W.Image(format="png", layout=W.Layout(width="300px"))
        self.w_units = W.Image(format="png")
        for w in (self.w_dataset, self.w_noise, self.w_ratio, self.w_layers, self.w_act, self.w_reg,
                  self.w_rate, self.w_batch, self.w_seed, *self.w_features):
            w.observe(lambda _change: self.reset(), "value")
        self.w_lr.observe(self._on_lr, "value")
        self.w_play.observe(self._on_tick, "value")
        self.w_step.on_click(lambda _b: self.frame(1))
        self.w_reset.on_click(lambda _b: self.reset())
        self._last = 0.0
        self._interval = interval_ms / 1000.0
        controls = W.VBox([self.w_dataset, self.w_noise, self.w_ratio,
                           W.HBox(self.w_features[:4]), W.HBox(self.w_features[4:]), self.w_layers,
                           self.w_act, self.w_lr, self.w_reg, self.w_rate, self.w_batch, self.w_seed])
        view = W.VBox([W.HBox([self.w_play, self.w_step, self.w_reset]), self.w_status, self.w_boundary])
        self.box = W.HBox([controls, view, W.VBox([W.HTML("<b>hidden units → output</b>"), self.w_units])])
        self.reset()

    def config(self) -> dict:
        try:
            layers = [int(t) for t in self.w_layers.value.replace(",", " ").split()]
        except ValueError:
            raise ValueError(f"hidden layers: write integers separated by commas, e.g. '4, 2' "
                             f"(got {self.w_layers.value!r})") from None
        return validate_config({
            "dataset": self.w_dataset.value, "noise": self.w_noise.value, "train_percent": self.w_ratio.value,
            "features": [f for f, w in zip(FEATURES, self.w_features) if w.value],
            "hidden_layers": layers, "activation": self.w_act.value, "learning_rate": self.w_lr.value,
            "regularization": self.w_reg.value, "regularization_rate": self.w_rate.value,
            "batch_size": self.w_batch.value, "seed": self.w_seed.value})

    def reset(self):
        try:
            cfg = self.config()
        except ValueError as exc:
            self.w_status.value = f"<span style='color:#c00'>{exc}</span>"
            return
        self.net = Playground(cfg)
        self.history = {"train_loss": [], "test_loss": []}
        self._record()
        self.redraw()

    def _record(self):
        tr, te = self.net.losses()
        self.history["train_loss"].append(tr)
        self.history["test_loss"].append(te)

    def _on_lr(self, change):
        if hasattr(self, "net"):
            self.net.learning_rate = float(change["new"])
            self.net.config["learning_rate"] = float(change["new"])

    def _on_tick(self, change):
        import time
        if change["new"] == change["owner"].min:
            return  # the Play widget's stop button rewinds it: not a tick
        # A tick that queued up while the kernel was drawing the previous frame reaches us at once after it;
        # a fresh tick comes interval - (frame time) later. Drop the queued ones, so pause acts at once and
        # a slow kernel does not build a backlog.
        if time.monotonic() - self._last < 0.15 * self._interval:
            return
        self.frame(self.steps_per_frame)
        self._last = time.monotonic()

    def frame(self, steps: int = 1):
        """Train ``steps`` playground steps and redraw: what one tick of play does."""
        for _ in range(steps):
            self.net.step(1)
            self._record()
        self.redraw()

    def redraw(self):
        grid = decision_grid(self.net)
        self.w_boundary.value = render_boundary(self.net, self.history, grid=grid)
        self.w_units.value = render_units(self.net, grid=grid)
        tr, te = self.history["train_loss"][-1], self.history["test_loss"][-1]
        self.w_status.value = (f"epoch <b>{self.net.epoch:06d}</b> &nbsp; train loss <b>{tr:.3f}</b> &nbsp; "
                               f"test loss <b>{te:.3f}</b>")

from utils.checks import freeze_module  # noqa: E402

freeze_module(__name__)  # the assignment's hidden test calls train(); a student cell cannot replace it
