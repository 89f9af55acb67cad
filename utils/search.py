"""Many small 2-layer nets trained at once: the engine of a fast hyperparameter search.

The babysitting lecture (``course/08_babysitting.ipynb``) searches learning rate and
regularization strength for the slides' 2-layer net (input -> 50 ReLU -> 10 scores,
softmax loss, L2 penalty ``0.5 * reg * (|W1|^2 + |W2|^2)``, weights initialised with
``weight_scale * randn``). Each trial is tiny, so a plain Python loop over trials spends
most of its time in per-operation overhead. Here the parameters of ``M`` models are
*stacked* and one training step updates all of them with a handful of large matrix
products:

* layer 1 shares the minibatch ``X`` across models, so ``[W1_1 | W1_2 | ... | W1_M]^T X^T``
  is ONE matrix product of shape ``(M*H, D) @ (D, B)`` (and so is its gradient ``dH X``);
* layer 2 is a batched matmul ``torch.bmm`` of ``(M, C, H) @ (M, H, B)``; activations are
  kept as ``(M, H, B)`` so that no product needs a transposed copy;
* every model has its own learning rate and regularization strength (vectors of length M).

Gradients are written out by hand (checked against ``torch.autograd`` in
``tests/test_search.py``) -- cheaper than autograd for such small pieces. The step is
that of the slides' ``ClassifierTrainer`` (CS231n 2015): minibatches drawn with
``rng.choice(N, batch_size)`` (with replacement) from ``np.random.default_rng(seed)``,
``'sgd'`` or ``'momentum'`` updates (``v = mu * v - lr * dW; W += v``), the learning rate
multiplied by ``lr_decay`` after every epoch, train/validation accuracy evaluated after
every epoch. Model ``m`` is initialised from ``np.random.default_rng(init_seeds[m])``
(``W1`` drawn first, then ``W2``), so a model trained alone (``M = 1``) and the same model
trained inside a stack see the same numbers -- :func:`train_loop` is exactly that plain
loop, used as the baseline of ``python -m benchmarks.search``.

The slides' explosion detector ("if the cost is ever > 3 * original cost, break out
early") is ``explode_factor=3``: a model whose minibatch cost exceeds ``explode_factor``
times its first cost, or is not finite, is frozen (no further updates) and its stop
iteration recorded; the run ends early when every model has stopped.

Nothing here answers a graded question (no log-uniform sampler, no search driver, no
update/weight ratio, no initial-loss check): those are the ``babysitting`` assignment.
"""
from __future__ import annotations

import math

import numpy as np

UPDATES = ("sgd", "momentum")


def search_data(n_train: int = 1000, seed: int = 0) -> dict:
    """The course's default data split for the search, zero-centred (slides' step 1).

    ``utils.data.load_default`` (digits, pixels in [0, 255]) gives 1347 training and 450
    test images; the training images are shuffled with ``seed`` and split into
    ``n_train`` for training and the rest for validation. Every split has the per-pixel
    mean of the *training* part subtracted (no scaling, as in the slides' CIFAR-10 code).
    Returns a dict with float64 ``X_train, y_train, X_val, y_val, X_test, y_test, mean``.
    """
    from utils.data import load_default
    x_tr, y_tr, x_te, y_te = load_default()
    if not 0 < n_train < len(x_tr):
        raise ValueError(f"n_train must be between 1 and {len(x_tr) - 1}, got {n_train}")
    perm = np.random.default_rng(seed).permutation(len(x_tr))
    tr, va = perm[:n_train], perm[n_train:]
    mean = x_tr[tr].mean(axis=0)
    return {"X_train": x_tr[tr] - mean, "y_train": y_tr[tr], "X_val": x_tr[va] - mean,
            "y_val": y_tr[va], "X_test": x_te - mean, "y_test": y_te, "mean": mean}


def init_stacked(init_seeds, sizes=(64, 50, 10), weight_scale: float = 1e-4, dtype=None) -> dict:
    """Stacked parameters of ``len(init_seeds)`` two-layer nets ``sizes = (D, H, C)``.

    Model ``m``: ``rng = np.random.default_rng(init_seeds[m])``,
    ``W1 = weight_scale * rng.standard_normal((D, H))`` then
    ``W2 = weight_scale * rng.standard_normal((H, C))``, zero biases -- the slides'
    ``init_two_layer_model``. Stored *transposed* (features last, so that every product
    below is contiguous): ``W1 (M, H, D)`` holds ``W1_m.T`` (and ``W1.view(M*H, D)`` is one
    tall matrix), ``b1 (M, H, 1)``, ``W2 (M, C, H)`` holds ``W2_m.T``, ``b2 (M, C, 1)``.
    """
    import torch
    dtype = dtype or torch.float32
    d, h, c = (int(s) for s in sizes)
    seeds = list(init_seeds)
    if not seeds:
        raise ValueError("init_seeds is empty: need at least one model")
    w1 = np.empty((len(seeds), h, d))
    w2 = np.empty((len(seeds), c, h))
    for m, s in enumerate(seeds):
        rng = np.random.default_rng(s)
        w1[m] = weight_scale * rng.standard_normal((d, h)).T
        w2[m] = weight_scale * rng.standard_normal((h, c)).T
    return {"W1": torch.tensor(w1, dtype=dtype), "b1": torch.zeros(len(seeds), h, 1, dtype=dtype),
            "W2": torch.tensor(w2, dtype=dtype), "b2": torch.zeros(len(seeds), c, 1, dtype=dtype)}


def unstack(params, m: int) -> dict:
    """Model ``m`` of a stack as numpy arrays ``W1 (D, H), b1 (H,), W2 (H, C), b2 (C,)``."""
    return {"W1": params["W1"][m].T.numpy().copy(), "b1": params["b1"][m, :, 0].numpy().copy(),
            "W2": params["W2"][m].T.numpy().copy(), "b2": params["b2"][m, :, 0].numpy().copy()}


def _hidden(params, X):
    """Pre-activations ``(M*H, N)`` of layer 1 for inputs ``X (N, D)``: ONE matrix product."""
    import torch
    W1 = params["W1"]
    m, h, d = W1.shape
    return torch.addmm(params["b1"].view(m * h, 1), W1.view(m * h, d), X.T)


def scores(params, X):
    """Class scores of every model for inputs ``X (N, D)``: a tensor ``(M, C, N)``."""
    import torch
    m, h, _ = params["W1"].shape
    hid = _hidden(params, X).clamp_min_(0).view(m, h, X.shape[0])
    return torch.baddbmm(params["b2"], params["W2"], hid)


def accuracy(params, X, y):
    """Accuracy of every model on ``(X, y)`` (tensors): a float64 numpy array ``(M,)``."""
    import torch
    m, h, _ = params["W1"].shape
    with torch.no_grad():
        hid = _hidden(params, X).clamp_min_(0).view(m, h, X.shape[0])
        # scores as (M, N, C) so that the arg-max runs over contiguous memory
        s = torch.baddbmm(params["b2"].transpose(1, 2), hid.transpose(1, 2), params["W2"].transpose(1, 2))
        return (s.argmax(dim=2) == y).double().mean(dim=1).numpy()


def loss_and_grads(params, X, y, regs):
    """Softmax loss + ``0.5 * reg_m * (|W1_m|^2 + |W2_m|^2)`` of every model and its gradients.

    ``X (B, D)``, ``y (B,)`` int64 tensors shared by all models; ``regs (M,)`` tensor.
    Returns ``(losses (M,), grads)`` with ``grads`` shaped like ``params``. Hand-written
    backward pass (``tests/test_search.py`` checks it against ``torch.autograd``); the
    activations are kept as ``(M, H, B)`` so that no product needs a transposed copy.
    """
    import torch
    W1, W2 = params["W1"], params["W2"]
    m, h, d = W1.shape
    bsz = X.shape[0]
    a = _hidden(params, X)                                           # (M*H, B)
    hid = a.clamp_min(0).view(m, h, bsz)
    s = torch.baddbmm(params["b2"], W2, hid)                         # (M, C, B)
    logp = torch.log_softmax(s, dim=1)
    target = y.view(1, 1, bsz).expand(m, 1, bsz)
    data_loss = logp.gather(1, target).mean(dim=(1, 2)).neg_()
    reg_loss = 0.5 * regs * (W1.square().sum(dim=(1, 2)) + W2.square().sum(dim=(1, 2)))
    ds = logp.exp_()
    ds.scatter_add_(1, target, torch.full((m, 1, bsz), -1.0, dtype=ds.dtype))
    ds /= bsz                                                        # d loss / d scores
    dW2 = torch.baddbmm(regs.view(m, 1, 1) * W2, ds, hid.transpose(1, 2))
    db2 = ds.sum(dim=2, keepdim=True)
    dh = torch.bmm(W2.transpose(1, 2), ds).view(m * h, bsz)
    dh = torch.ops.aten.threshold_backward(dh, a, 0)                 # ReLU gate
    dW1 = torch.addmm((regs.view(m, 1, 1) * W1).view(m * h, d), dh, X).view(m, h, d)
    db1 = dh.sum(dim=1).view(m, h, 1)
    return data_loss + reg_loss, {"W1": dW1, "b1": db1, "W2": dW2, "b2": db2}


def _per_model(values, m: int, name: str, dtype):
    import torch
    v = np.broadcast_to(np.asarray(values, dtype=np.float64), (m,)) if np.ndim(values) == 0 \
        else np.asarray(values, dtype=np.float64)
    if v.shape != (m,):
        raise ValueError(f"{name} must hold one value per model ({m}), got shape {v.shape}")
    if not np.isfinite(v).all() or (v < 0).any():
        raise ValueError(f"{name} must be finite and >= 0, got {v}")
    return torch.tensor(v, dtype=dtype)


def train_batched(lrs, regs, data: dict, *, hidden: int = 50, num_epochs: int = 5,
                  batch_size: int | None = 100, update: str = "momentum", momentum: float = 0.9,
                  lr_decay: float = 0.95, weight_scale: float = 1e-4, seed: int = 0,
                  init_seeds=None, explode_factor: float | None = 3.0, dtype=None,
                  record_loss: bool = True, history: bool = True, eval_train: bool = True, show_progress: bool = False, desc: str = "batched") -> dict:
    """Train ``M = len(lrs)`` two-layer nets at once, one (lr, reg) pair per model.

    ``data``: dict with ``X_train, y_train, X_val, y_val`` (numpy, as :func:`search_data`).
    ``batch_size=None`` means full-batch gradient descent (the slides' ``sample_batches=False``).
    ``init_seeds`` defaults to ``seed + m`` for model ``m``.

    Returns a dict of numpy arrays: ``lr, reg`` (inputs), ``val_acc`` and ``train_acc`` after
    the last epoch ``(M,)``, ``val_acc_history``/``train_acc_history`` ``(epochs_run, M)``,
    ``best_val_acc (M,)`` (with ``history=False`` the accuracies are evaluated only after
    the last epoch -- the search mode; ``eval_train=False`` skips the training accuracy,
    NaN then), ``loss`` (per-iteration minibatch cost, ``(iters_run, M)``, if
    ``record_loss``), ``stopped`` (iteration at which a model was frozen by the explosion
    check, -1 if never), and ``params`` (the final stacked torch tensors).
    """
    import torch
    if update not in UPDATES:
        raise ValueError(f"unknown update {update!r}; choose one of {UPDATES}")
    dtype = dtype or torch.float32
    lrs_np, lr, reg, seeds = _models(lrs, regs, seed, init_seeds, dtype)
    m = len(lrs_np)
    X, y, Xv, yv = _tensors(data, dtype)
    n, d = X.shape
    c = int(max(int(y.max()), int(yv.max())) + 1)
    params = init_stacked(seeds, (d, hidden, c), weight_scale, dtype)
    run = _BatchedRun(params, lr, reg, update, momentum, explode_factor, record_loss)
    rng = np.random.default_rng(seed)
    sample = batch_size is not None
    iters_per_epoch = max(n // batch_size, 1) if sample else 1
    tr_hist, va_hist = [], []
    from utils.train import progress
    with torch.no_grad():
        for epoch in progress(range(num_epochs), enabled=show_progress, desc=desc):
            for _ in range(iters_per_epoch):
                if sample:
                    idx = torch.from_numpy(rng.choice(n, batch_size))
                    run.step(X[idx], y[idx])
                else:
                    run.step(X, y)
            run.lr *= lr_decay
            last = epoch == num_epochs - 1 or not bool(run.active.any())
            if history or last:
                tr_hist.append(accuracy(params, X, y) if eval_train else np.full(m, np.nan))
                va_hist.append(accuracy(params, Xv, yv))
            if not bool(run.active.any()):
                break
    va = np.array(va_hist)
    out = {"lr": lrs_np, "reg": np.asarray(reg, dtype=np.float64), "val_acc": va[-1],
           "train_acc": tr_hist[-1], "val_acc_history": va, "train_acc_history": np.array(tr_hist),
           "best_val_acc": va.max(axis=0), "stopped": run.stopped, "params": params,
           "iterations": run.it}
    if record_loss:
        out["loss"] = torch.stack(run.losses).double().numpy() if run.losses else np.empty((0, m))
    return out


def _models(lrs, regs, seed, init_seeds, dtype):
    """The per-model inputs of :func:`train_batched`, checked: ``(lrs, lr, reg, seeds)``."""
    lrs_np = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    m = len(lrs_np)
    if m == 0:
        raise ValueError("lrs is empty: need at least one model")
    lr = _per_model(lrs_np, m, "lrs", dtype)
    reg = _per_model(regs, m, "regs", dtype)
    seeds = [seed + k for k in range(m)] if init_seeds is None else list(init_seeds)
    if len(seeds) != m:
        raise ValueError(f"init_seeds must hold one seed per model ({m}), got {len(seeds)}")
    return lrs_np, lr, reg, seeds


def _tensors(data: dict, dtype):
    import torch
    return (torch.as_tensor(np.asarray(data["X_train"]), dtype=dtype),
            torch.as_tensor(np.asarray(data["y_train"]), dtype=torch.long),
            torch.as_tensor(np.asarray(data["X_val"]), dtype=dtype),
            torch.as_tensor(np.asarray(data["y_val"]), dtype=torch.long))


class _BatchedRun:
    """The state of :func:`train_batched` between iterations: parameters, velocities, which
    models still train (the explosion check freezes the others), the recorded losses."""

    def __init__(self, params, lr, reg, update, momentum, explode_factor, record_loss):
        import torch
        m = len(lr)
        self.params, self.lr, self.reg = params, lr, reg
        self.update, self.momentum = update, momentum
        self.explode_factor, self.record_loss = explode_factor, record_loss
        self.shapes = {k: (m, 1, 1) for k in params}
        self.vel = {k: torch.zeros_like(v) for k, v in params.items()}
        self.active = torch.ones(m, dtype=torch.bool)
        self.first = None
        self.stopped = np.full(m, -1)
        self.all_active = True
        self.losses = []
        self.it = 0

    def step(self, xb, yb) -> None:
        """One update of every model on the minibatch ``(xb, yb)``."""
        import torch
        cost, grads = loss_and_grads(self.params, xb, yb, self.reg)
        if self.record_loss:
            self.losses.append(cost)
        if self.explode_factor is not None:
            if self.first is None:
                self.first = cost.clone()
            bad = self.active & (~torch.isfinite(cost) | (cost > self.explode_factor * self.first))
            if bool(bad.any()):
                self.stopped[bad.numpy()] = self.it
                self.active &= ~bad
        self.all_active = self.all_active and bool(self.active.all())
        for k, p in self.params.items():
            step_lr = self.lr.view(self.shapes[k])
            g = grads[k]
            keep = self.active.view(self.shapes[k])
            if not self.all_active:   # frozen models: no update (their numbers may be inf/NaN)
                g = torch.where(keep, g, 0.0)
            if self.update == "sgd":
                p.addcmul_(g, step_lr, value=-1.0)
            else:
                v = self.vel[k].mul_(self.momentum).addcmul_(g, step_lr, value=-1.0)
                if not self.all_active:
                    v.copy_(torch.where(keep, v, 0.0))
                p.add_(v)
        self.it += 1


def train_loop(lrs, regs, data: dict, *, seed: int = 0, init_seeds=None, show_progress: bool = False,
               desc: str = "plain loop", **kw) -> dict:
    """The plain loop: the same trials as :func:`train_batched`, one model at a time.

    Same total work and the same numbers (model ``m`` gets ``init_seeds[m]`` and the same
    minibatch sequence); results are stacked into the same dict layout (without ``params``).
    """
    from utils.train import progress
    lrs = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    regs = np.broadcast_to(np.asarray(regs, dtype=np.float64), lrs.shape)
    seeds = [seed + k for k in range(len(lrs))] if init_seeds is None else list(init_seeds)
    runs = [train_batched([lr], [rg], data, seed=seed, init_seeds=[s], **kw)
            for lr, rg, s in progress(list(zip(lrs, regs, seeds)), enabled=show_progress, desc=desc)]
    out = {"lr": lrs, "reg": np.array(regs)}
    for key in ("val_acc", "train_acc", "best_val_acc", "stopped"):
        out[key] = np.concatenate([r[key] for r in runs])
    out["iterations"] = sum(r["iterations"] for r in runs)
    return out


def train_module(lr: float, reg: float, data: dict, *, hidden: int = 50, num_epochs: int = 5,
                 batch_size: int = 100, momentum: float = 0.9, lr_decay: float = 0.95,
                 weight_scale: float = 1e-4, seed: int = 0, init_seed=None,
                 explode_factor: float | None = 3.0, eval_train: bool = True) -> dict:
    """One trial the idiomatic torch way: ``nn.Sequential`` + ``F.cross_entropy`` + autograd.

    The same model, loss (``0.5 * reg * (|W1|^2 + |W2|^2)`` added to the cross-entropy),
    init, minibatches, momentum update (``v = mu v - lr dW; W += v``, biases included),
    learning-rate decay and explosion check as :func:`train_batched` with
    ``update='momentum'``, so it returns the same accuracies up to float32 rounding.
    Accuracies are evaluated after the last epoch only. A second baseline for the benchmark.
    """
    import torch
    import torch.nn.functional as F
    X = torch.as_tensor(np.asarray(data["X_train"]), dtype=torch.float32)
    y = torch.as_tensor(np.asarray(data["y_train"]), dtype=torch.long)
    Xv = torch.as_tensor(np.asarray(data["X_val"]), dtype=torch.float32)
    yv = torch.as_tensor(np.asarray(data["y_val"]), dtype=torch.long)
    n, d = X.shape
    c = int(max(int(y.max()), int(yv.max())) + 1)
    p = init_stacked([seed if init_seed is None else init_seed], (d, hidden, c), weight_scale)
    net = torch.nn.Sequential(torch.nn.Linear(d, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, c))
    with torch.no_grad():
        net[0].weight.copy_(p["W1"][0])
        net[0].bias.zero_()
        net[2].weight.copy_(p["W2"][0])
        net[2].bias.zero_()
    params = list(net.parameters())
    vel = [torch.zeros_like(q) for q in params]
    rng = np.random.default_rng(seed)
    first, stopped, it = None, -1, 0
    for _epoch in range(num_epochs):
        for _ in range(max(n // batch_size, 1)):
            idx = torch.from_numpy(rng.choice(n, batch_size))
            loss = F.cross_entropy(net(X[idx]), y[idx]) + 0.5 * reg * (
                net[0].weight.square().sum() + net[2].weight.square().sum())
            cost = loss.item()
            first = cost if first is None else first
            if explode_factor is not None and (not math.isfinite(cost) or cost > explode_factor * first):
                stopped = it
                break
            net.zero_grad()
            loss.backward()
            with torch.no_grad():
                for q, v in zip(params, vel):
                    v.mul_(momentum).sub_(q.grad, alpha=lr)
                    q.add_(v)
            it += 1
        if stopped >= 0:
            break
        lr *= lr_decay
    with torch.no_grad():
        val_acc = float((net(Xv).argmax(1) == yv).double().mean())
        train_acc = float((net(X).argmax(1) == y).double().mean()) if eval_train else math.nan
    return {"val_acc": val_acc, "train_acc": train_acc, "stopped": stopped, "iterations": it}


def train_module_loop(lrs, regs, data: dict, *, seed: int = 0, init_seeds=None, **kw) -> dict:
    """:func:`train_module` over all trials, one after the other (stacked like :func:`train_loop`)."""
    lrs = np.atleast_1d(np.asarray(lrs, dtype=np.float64))
    regs = np.broadcast_to(np.asarray(regs, dtype=np.float64), lrs.shape)
    seeds = [seed + k for k in range(len(lrs))] if init_seeds is None else list(init_seeds)
    runs = [train_module(float(lr), float(rg), data, seed=seed, init_seed=s, **kw)
            for lr, rg, s in zip(lrs, regs, seeds)]
    out = {"lr": lrs, "reg": np.array(regs)}
    for key in ("val_acc", "train_acc", "stopped"):
        out[key] = np.array([r[key] for r in runs])
    out["iterations"] = sum(r["iterations"] for r in runs)
    return out
