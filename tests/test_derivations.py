"""The facts lecture 13 (course/13_lecture3_derivations.ipynb) shows, pinned with hand-computed values.

Seed 004 regularizes the weights only (J = E + lambda/2 ||W||^2, biases left alone);
``torch.optim.SGD(weight_decay=...)`` decays every parameter it is given, biases included,
unless a parameter group says otherwise. The other tests pin the derivations the lecture
checks: cross-entropy = entropy + KL, the softmax Jacobian, the averaged gradient
(F - T)^T X / N, the Euclidean loss normalization. The slide's momentum rule against
torch.optim.SGD (0.9, 0.72, 0.486) is pinned in tests/test_momentum_numbers.py.
"""
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.autograd.functional import jacobian

REPO = Path(__file__).resolve().parent.parent
LN2 = math.log(2.0)


def _layer(weight, bias):
    layer = nn.Linear(len(weight[0]), len(weight)).double()
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weight, dtype=torch.float64))
        layer.bias.copy_(torch.tensor(bias, dtype=torch.float64))
    return layer


def _step(layer, opt, loss_fn):
    opt.zero_grad()
    loss_fn(layer).backward()
    opt.step()
    return layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()


# ---------------------------------------------------------------- weight decay
def test_plain_sgd_weight_decay_shrinks_the_bias_too():
    """With a zero gradient, one step of SGD(lr=0.1, weight_decay=0.5) multiplies every parameter by 0.95."""
    zero_loss = lambda layer: 0.0 * (layer.weight.sum() + layer.bias.sum())
    layer = _layer([[1.0, -2.0]], [2.0])
    w, b = _step(layer, torch.optim.SGD(layer.parameters(), lr=0.1, weight_decay=0.5), zero_loss)
    np.testing.assert_allclose(w, [[0.95, -1.9]], rtol=1e-12)
    np.testing.assert_allclose(b, [1.9], rtol=1e-12)          # the bias decays as well

    layer = _layer([[1.0, -2.0]], [2.0])
    groups = [{"params": [layer.weight], "weight_decay": 0.5}, {"params": [layer.bias], "weight_decay": 0.0}]
    w, b = _step(layer, torch.optim.SGD(groups, lr=0.1), zero_loss)
    np.testing.assert_allclose(w, [[0.95, -1.9]], rtol=1e-12)
    np.testing.assert_allclose(b, [2.0], rtol=1e-12)          # parameter group: bias untouched


def test_grouped_sgd_step_is_the_slides_rule():
    """u = w.x + b = -1.25 for x = (1, 2), w = (0.5, -1), b = 0.25; E = (u - 1)^2 / 2, so dE/du = -2.25,
    dE/dw = (-2.25, -4.5), dE/db = -2.25. alpha = 0.1, lambda = 0.5:
    w <- w - alpha (dE/dw + lambda w) = (0.7, -0.5); b <- b - alpha dE/db = 0.475 (plain weight_decay: 0.4625)."""
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    loss = lambda layer: 0.5 * ((layer(x) - 1.0) ** 2).sum()

    layer = _layer([[0.5, -1.0]], [0.25])
    groups = [{"params": [layer.weight], "weight_decay": 0.5}, {"params": [layer.bias], "weight_decay": 0.0}]
    w, b = _step(layer, torch.optim.SGD(groups, lr=0.1), loss)
    np.testing.assert_allclose(w, [[0.7, -0.5]], rtol=1e-12)
    np.testing.assert_allclose(b, [0.475], rtol=1e-12)

    layer = _layer([[0.5, -1.0]], [0.25])
    w_all, b_all = _step(layer, torch.optim.SGD(layer.parameters(), lr=0.1, weight_decay=0.5), loss)
    np.testing.assert_allclose(w_all, [[0.7, -0.5]], rtol=1e-12)
    np.testing.assert_allclose(b_all, [0.4625], rtol=1e-12)   # 0.475 - alpha * lambda * b0 = 0.475 - 0.0125

    layer = _layer([[0.5, -1.0]], [0.25])                     # the penalty in the loss instead
    w_pen, b_pen = _step(layer, torch.optim.SGD(layer.parameters(), lr=0.1),
                         lambda l: loss(l) + 0.5 / 2 * (l.weight ** 2).sum())
    np.testing.assert_allclose(w_pen, [[0.7, -0.5]], rtol=1e-12)
    np.testing.assert_allclose(b_pen, [0.475], rtol=1e-12)


# ---------------------------------------------------------------- derivations
def test_cross_entropy_is_entropy_plus_kl():
    """p = (1/2, 1/4, 1/8, 1/8), q uniform: H(p) = 1.75 ln 2, H(p, q) = ln 4, KL(p || q) = 0.25 ln 2."""
    from torch.distributions import Categorical
    p = torch.tensor([0.5, 0.25, 0.125, 0.125], dtype=torch.float64)
    q = torch.full((4,), 0.25, dtype=torch.float64)
    entropy = Categorical(probs=p).entropy().item()
    kl = F.kl_div(q.log(), p, reduction="sum").item()         # input = log q, target = p
    ce = F.cross_entropy(q.log()[None], p[None]).item()       # soft targets: -sum p log softmax(log q)
    assert entropy == pytest.approx(1.75 * LN2, rel=1e-12)
    assert kl == pytest.approx(0.25 * LN2, rel=1e-12)
    assert ce == pytest.approx(2 * LN2, rel=1e-12)
    assert ce == pytest.approx(entropy + kl, rel=1e-12)
    t = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64)    # one-hot: H(t) = 0, CE = KL = -ln q_2
    assert abs(Categorical(probs=t).entropy().item()) < 1e-12
    assert F.kl_div(q.log(), t, reduction="sum").item() == pytest.approx(math.log(4), rel=1e-12)


def test_softmax_jacobian_is_h_i_times_delta_minus_h_k():
    u0 = torch.zeros(3, dtype=torch.float64)                  # h = 1/3: diagonal 2/9, off-diagonal -1/9
    expected = np.full((3, 3), -1 / 9) + np.eye(3) / 3
    np.testing.assert_allclose(jacobian(lambda v: torch.softmax(v, 0), u0).numpy(), expected, rtol=1e-12)
    u = torch.tensor([1.0, -0.5, 2.0, 0.3], dtype=torch.float64)
    h = torch.softmax(u, 0)
    slide = torch.diag(h) - torch.outer(h, h)
    np.testing.assert_allclose(jacobian(lambda v: torch.softmax(v, 0), u).numpy(), slide.numpy(),
                               rtol=1e-12, atol=1e-15)


def test_softmax_cross_entropy_weight_gradient_is_the_mean_outer_product():
    """W = 0 gives h = (1/2, 1/2); X = [[1, 2], [3, -1]], y = (0, 1): F - T = [[-1/2, 1/2], [1/2, -1/2]],
    (F - T)^T X / 2 = [[0.5, -0.75], [-0.5, 0.75]]; db = mean(F - T) = (0, 0)."""
    X = torch.tensor([[1.0, 2.0], [3.0, -1.0]], dtype=torch.float64)
    W = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(X @ W.T + b, torch.tensor([0, 1])).backward()
    np.testing.assert_allclose(W.grad.numpy(), [[0.5, -0.75], [-0.5, 0.75]], rtol=1e-12)
    np.testing.assert_allclose(b.grad.numpy(), [0.0, 0.0], atol=1e-15)


def test_euclidean_loss_is_not_torchs_default_mse():
    """y = (1, 2, 2), t = 0, N = 1: the slides' E = 1/2 ||y - t||^2 = 4.5; MSELoss() averages the K = 3
    entries without the 1/2: 3.0."""
    y = torch.tensor([[1.0, 2.0, 2.0]], dtype=torch.float64, requires_grad=True)
    t = torch.zeros(1, 3, dtype=torch.float64)
    E = 0.5 * F.mse_loss(y, t, reduction="sum") / y.shape[0]
    assert E.item() == pytest.approx(4.5)
    assert F.mse_loss(y, t).item() == pytest.approx(3.0)
    E.backward()
    np.testing.assert_allclose(y.grad.numpy(), [[1.0, 2.0, 2.0]])     # delta = y - t


# ---------------------------------------------------------------- the lecture notebook
def test_lecture_does_not_define_the_graded_functions():
    """The assignment source/layers grades sigmoid_forward, sigmoid_backward, mse_loss, sigmoid_mse; the lecture
    explains the formulas but must not hand out functions under those names."""
    nb = json.loads((REPO / "course" / "13_lecture3_derivations.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for name in ("sigmoid_forward", "sigmoid_backward", "mse_loss", "sigmoid_mse"):
        pattern = rf"^\s*(def\s+{name}\b|{name}\s*=)"     # a definition; calling F.mse_loss is fine
        assert not re.search(pattern, code, re.MULTILINE), f"the lecture defines the graded name {name}"
