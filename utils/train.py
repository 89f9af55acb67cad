"""Training loops shared by the lecture notebooks.

* :func:`make_mlp` / :func:`train_classifier` -- torch MLPs with a chosen
  activation, initialisation and optional batch norm, trained with minibatch SGD
  on numpy data; per-epoch history for plotting.
* :class:`Solver` -- a CS231n-style loop for any numpy model with ``params``
  (dict of arrays) and ``loss(X, y) -> (loss, grads)``.

Everything takes an explicit seed so notebooks are deterministic.
"""
from __future__ import annotations

import math
import os

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "elu", "sigmoid", "tanh", "gelu", "selu", "identity")
INITS = ("default", "zeros", "small", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform")


def seed_everything(seed: int = 0) -> None:
    import torch
    np.random.seed(seed)
    torch.manual_seed(seed)


def progress(iterable, enabled: bool = True, **kw):
    """tqdm progress bar (disabled with enabled=False or TQDM_DISABLE=1)."""
    from tqdm.auto import tqdm
    return tqdm(iterable, disable=not enabled or bool(os.environ.get("TQDM_DISABLE")), **kw)


def _activation(name: str):
    import torch.nn as nn
    table = {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.01), "elu": nn.ELU,
             "sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "gelu": nn.GELU, "selu": nn.SELU,
             "identity": nn.Identity}
    if name not in table:
        raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
    return table[name]()


def init_linear_(layer, scheme: str, activation: str = "relu", bias: float = 0.0) -> None:
    """Initialise one ``nn.Linear`` in place with ``torch.nn.init`` (``default`` keeps torch's)."""
    import torch.nn as nn
    if scheme not in INITS:
        raise ValueError(f"unknown init {scheme!r}; choose one of {INITS}")
    if scheme == "default":
        if bias != 0.0:  # keep torch's default weights but honour an explicit bias
            nn.init.constant_(layer.bias, bias)
        return
    w = layer.weight
    gain_name = {"leaky_relu": "leaky_relu", "tanh": "tanh", "sigmoid": "sigmoid",
                 "selu": "selu"}.get(activation, "relu")
    if scheme == "zeros":
        nn.init.zeros_(w)
    elif scheme == "small":
        nn.init.normal_(w, std=0.01)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w)
    elif scheme == "he_normal":
        nn.init.kaiming_normal_(w, nonlinearity=gain_name if gain_name in ("relu", "leaky_relu") else "relu")
    elif scheme == "he_uniform":
        nn.init.kaiming_uniform_(w, nonlinearity=gain_name if gain_name in ("relu", "leaky_relu") else "relu")
    nn.init.constant_(layer.bias, bias)


def make_mlp(sizes, activation: str = "relu", init: str = "default", batchnorm: bool = False,
             seed: int = 0, hidden_bias: float = 0.0):
    """``nn.Sequential`` MLP for layer sizes ``[in, h1, ..., out]``: Linear -> (BN) -> act per hidden layer."""
    import torch
    import torch.nn as nn
    if len(sizes) < 2:
        raise ValueError("sizes needs at least [in, out]")
    torch.manual_seed(seed)
    layers = []
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        lin = nn.Linear(a, b)
        last = k == len(sizes) - 2
        init_linear_(lin, init, activation, bias=0.0 if last else hidden_bias)
        layers.append(lin)
        if not last:
            if batchnorm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(_activation(activation))
    return nn.Sequential(*layers)


def accuracy(model, x, y, batch_size: int = 4096) -> float:
    import torch
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb = torch.as_tensor(x[i:i + batch_size], dtype=torch.float32)
            correct += (model(xb).argmax(1).numpy() == np.asarray(y[i:i + batch_size])).sum()
    return float(correct) / len(x)


def train_classifier(model, x_train, y_train, x_test=None, y_test=None, epochs: int = 10,
                     lr: float = 0.01, batch_size: int = 64, seed: int = 0, optimizer: str = "sgd",
                     momentum: float = 0.0, weight_decay: float = 0.0, show_progress: bool = True,
                     callback=None, desc: str = "training"):
    """Minibatch training with cross-entropy; returns a history dict of per-epoch lists.

    ``history`` keys: ``loss`` (mean train loss over the epoch's batches), ``train_acc``,
    ``test_acc`` (if test data is given). A loss that becomes NaN/inf stops the run and sets
    ``history['diverged'] = epoch`` instead of crashing. ``callback(model, epoch, history)`` runs
    after each epoch (e.g. to record dead units or activation statistics).
    """
    import torch
    import torch.nn.functional as F
    g = torch.Generator().manual_seed(seed)
    xt = torch.as_tensor(np.asarray(x_train), dtype=torch.float32)
    yt = torch.as_tensor(np.asarray(y_train), dtype=torch.long)
    params = [p for p in model.parameters() if p.requires_grad]
    if optimizer == "sgd":
        opt = torch.optim.SGD(params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"unknown optimizer {optimizer!r}; choose 'sgd' or 'adam'")
    hist = {"loss": [], "train_acc": [], "test_acc": [], "diverged": None}
    n = len(yt)
    for epoch in progress(range(epochs), enabled=show_progress, desc=desc):
        model.train()
        perm = torch.randperm(n, generator=g)
        total, batches = 0.0, 0
        for i in range(0, n, batch_size):
            idx = perm[i:i + batch_size]
            if len(idx) < 2 and any(isinstance(m, torch.nn.BatchNorm1d) for m in model.modules()):
                continue  # BatchNorm cannot train on a batch of one
            loss = F.cross_entropy(model(xt[idx]), yt[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item()
            batches += 1
        mean_loss = total / max(batches, 1)
        hist["loss"].append(mean_loss)
        if not math.isfinite(mean_loss):
            hist["diverged"] = epoch
            break
        hist["train_acc"].append(accuracy(model, x_train, y_train))
        if x_test is not None:
            hist["test_acc"].append(accuracy(model, x_test, y_test))
        if callback is not None:
            callback(model, epoch, hist)
    return hist


class Solver:
    """Minibatch SGD for a numpy model with ``model.params`` and ``model.loss(X, y)``.

    ``model.loss(X, None)`` must return class scores (test mode); ``model.loss(X, y)``
    returns ``(loss, grads)`` with ``grads`` keyed like ``params``. The update rule is a
    function ``update(w, dw, config) -> (next_w, config)``; plain SGD by default.
    """

    def __init__(self, model, data: dict, update_rule=None, lr: float = 1e-2,
                 lr_decay: float = 1.0, batch_size: int = 100, num_epochs: int = 10,
                 seed: int = 0, verbose: bool = False, show_progress: bool = True):
        for key in ("X_train", "y_train", "X_val", "y_val"):
            if key not in data:
                raise ValueError(f"data needs the key {key!r}")
        self.model, self.data = model, data
        self.update_rule = update_rule or (lambda w, dw, c: (w - c["learning_rate"] * dw, c))
        self.lr, self.lr_decay = lr, lr_decay
        self.batch_size, self.num_epochs = batch_size, num_epochs
        self.rng = np.random.default_rng(seed)
        self.verbose, self.show_progress = verbose, show_progress
        self.configs = {p: {"learning_rate": lr} for p in model.params}
        self.loss_history, self.train_acc_history, self.val_acc_history = [], [], []

    def check_accuracy(self, X, y, batch_size: int = 1000) -> float:
        preds = [np.argmax(self.model.loss(X[i:i + batch_size], None), axis=1)
                 for i in range(0, len(X), batch_size)]
        return float(np.mean(np.concatenate(preds) == y))

    def _step(self):
        n = len(self.data["y_train"])
        idx = self.rng.choice(n, self.batch_size, replace=n < self.batch_size)
        loss, grads = self.model.loss(self.data["X_train"][idx], self.data["y_train"][idx])
        self.loss_history.append(float(loss))
        for p, w in self.model.params.items():
            self.model.params[p], self.configs[p] = self.update_rule(w, grads[p], self.configs[p])

    def train(self):
        n = len(self.data["y_train"])
        per_epoch = max(n // self.batch_size, 1)
        for epoch in progress(range(self.num_epochs), enabled=self.show_progress, desc="Solver"):
            for _ in range(per_epoch):
                self._step()
                if not math.isfinite(self.loss_history[-1]):
                    return self
            for c in self.configs.values():
                c["learning_rate"] *= self.lr_decay
            self.train_acc_history.append(self.check_accuracy(self.data["X_train"], self.data["y_train"]))
            self.val_acc_history.append(self.check_accuracy(self.data["X_val"], self.data["y_val"]))
            if self.verbose:
                print(f"epoch {epoch + 1}: loss {self.loss_history[-1]:.4f} "
                      f"train {self.train_acc_history[-1]:.3f} val {self.val_acc_history[-1]:.3f}")
        return self
