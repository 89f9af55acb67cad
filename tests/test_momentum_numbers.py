"""The hand-computed numbers in the `momentum` assignment's tests, checked against torch.

The assignment's visible and hidden tests compare a student's `momentum_update` with
sequences worked out by hand in comments. These tests recompute those sequences with
`torch.optim.SGD` (where the two conventions agree: a constant learning rate) and show
where they must disagree (a learning rate changed mid-sequence), so a slip in a
hand-computed number cannot hide behind a matching reference solution. They also keep
the lecture from defining the graded functions.
"""
import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parent.parent


def torch_sequence(w0, grad_fn, lrs, mus):
    """Weights after each step of torch.optim.SGD with the given per-step lr and momentum."""
    p = torch.tensor(np.asarray(w0, dtype=float), requires_grad=True)
    opt = torch.optim.SGD([p], lr=lrs[0], momentum=mus[0])
    out = []
    for lr, mu in zip(lrs, mus):
        opt.param_groups[0]["lr"], opt.param_groups[0]["momentum"] = lr, mu
        p.grad = torch.as_tensor(grad_fn(p.detach().numpy().copy()), dtype=torch.float64)
        opt.step()
        out.append(p.detach().numpy().copy())
    return np.array(out)


def slide_sequence(w0, grad_fn, lrs, mus):
    w, v, out = np.asarray(w0, dtype=float), 0.0, []
    for lr, mu in zip(lrs, mus):
        v = mu * v - lr * grad_fn(w)
        w = w + v
        out.append(w.copy())
    return np.array(out)


def test_visible_sequence_matches_torch():
    # J = |w|^2 / 2 from (1, -2), lr 0.1, momentum 0.9 (test_momentum_visible)
    got = torch_sequence([1.0, -2.0], lambda w: w, [0.1] * 3, [0.9] * 3)
    np.testing.assert_allclose(got, [[0.9, -1.8], [0.72, -1.44], [0.486, -0.972]], rtol=1e-12)


def test_gamma_switch_sequence_matches_torch():
    # dw = -2, lr 0.5, momentum 0.5, 0.5, 0.9, 0.9 from 0 (test_momentum_hidden): with a constant lr
    # torch's buffer is -v / lr, so the weights agree even when the momentum changes
    got = torch_sequence([0.0], lambda w: np.array([-2.0]), [0.5] * 4, [0.5, 0.5, 0.9, 0.9])
    np.testing.assert_allclose(got.ravel(), [1.0, 2.5, 4.85, 7.965], rtol=1e-12)
    np.testing.assert_allclose(np.diff(np.concatenate([[0.0], got.ravel()])), [1.0, 1.5, 2.35, 3.115], rtol=1e-12)


def test_lr_change_separates_the_conventions():
    # dw = 1, momentum 0.9, lr 0.1, 0.1, 0.01 from 2 (test_momentum_lr_change_hidden)
    lrs, mus = [0.1, 0.1, 0.01], [0.9] * 3
    torch_w = torch_sequence([2.0], lambda w: np.ones(1), lrs, mus).ravel()
    slide_w = slide_sequence([2.0], lambda w: np.ones(1), lrs, mus).ravel()
    np.testing.assert_allclose(torch_w, [1.9, 1.71, 1.6829], rtol=1e-12)
    np.testing.assert_allclose(slide_w, [1.9, 1.71, 1.529], rtol=1e-12)


@pytest.mark.parametrize("lr", [0.01, 0.3])
def test_constant_lr_conventions_agree_on_random_gradients(lr):
    rng = np.random.default_rng(0)
    grads = rng.normal(size=(20, 3))
    it = iter(grads)
    a = torch_sequence(np.zeros(3), lambda w: next(it), [lr] * 20, [0.9] * 20)
    it = iter(grads)
    b = slide_sequence(np.zeros(3), lambda w: next(it), [lr] * 20, [0.9] * 20)
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13)


def test_lecture_does_not_define_the_graded_functions():
    nb = json.loads((REPO / "course" / "09_training_techniques.ipynb").read_text())
    code = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    for name in ("momentum_update", "anneal_lr", "plateau_lr"):
        pattern = rf"^\s*(def\s+{name}\b|{name}\s*=)"     # a definition, as in tests/test_derivations.py
        assert not re.search(pattern, code, re.MULTILINE), f"the lecture defines the graded {name}"

