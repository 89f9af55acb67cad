"""utils.search: the batched trainer of the babysitting lecture and its benchmark."""
import numpy as np
import pytest
import torch

from benchmarks import search as bench_search
from utils.search import (init_stacked, loss_and_grads, search_data, train_batched, train_loop,
                          train_module_loop, unstack)


@pytest.fixture(scope="module")
def data():
    return search_data()


@pytest.fixture(scope="module")
def small(data):
    # 200 training images keep every training run below a second
    return dict(data, X_train=data["X_train"][:200], y_train=data["y_train"][:200])


def test_search_data_split_and_centring(data):
    assert data["X_train"].shape == (1000, 64) and data["X_val"].shape == (347, 64)
    assert data["X_test"].shape == (450, 64)
    assert np.abs(data["X_train"].mean(axis=0)).max() < 1e-9
    assert set(np.unique(data["y_train"])) == set(range(10))
    with pytest.raises(ValueError, match="n_train"):
        search_data(n_train=5000)


def test_init_stacked_matches_the_slides_init_per_model():
    p = init_stacked([3, 7], (5, 4, 2), weight_scale=1e-2, dtype=torch.float64)
    assert p["W1"].shape == (2, 4, 5) and p["W2"].shape == (2, 2, 4)
    for m, seed in enumerate([3, 7]):
        rng = np.random.default_rng(seed)
        w1 = 1e-2 * rng.standard_normal((5, 4))      # W1 first, then W2, as init_two_layer_model
        w2 = 1e-2 * rng.standard_normal((4, 2))
        u = unstack(p, m)
        np.testing.assert_array_equal(u["W1"], w1)
        np.testing.assert_array_equal(u["W2"], w2)
        assert not u["b1"].any() and not u["b2"].any()


def test_loss_and_grads_match_autograd():
    p = init_stacked([0, 1, 2], (6, 5, 3), weight_scale=0.5, dtype=torch.float64)
    p["b1"] += 0.1
    p["b2"] -= 0.2
    g = torch.Generator().manual_seed(0)
    X = torch.randn(9, 6, generator=g, dtype=torch.float64)
    y = torch.randint(0, 3, (9,), generator=g)
    regs = torch.tensor([0.0, 0.1, 2.0], dtype=torch.float64)
    losses, grads = loss_and_grads(p, X, y, regs)
    leaf = {k: v.clone().requires_grad_(True) for k, v in p.items()}
    total = 0
    for m in range(3):
        h = torch.relu(X @ leaf["W1"][m].T + leaf["b1"][m, :, 0])
        s = h @ leaf["W2"][m].T + leaf["b2"][m, :, 0]
        lm = torch.nn.functional.cross_entropy(s, y) + 0.5 * regs[m] * (
            leaf["W1"][m].square().sum() + leaf["W2"][m].square().sum())
        assert abs(lm.item() - losses[m].item()) < 1e-12
        total = total + lm
    total.backward()
    for k in p:
        np.testing.assert_allclose(grads[k].numpy(), leaf[k].grad.numpy(), rtol=1e-10, atol=1e-13)


def _numpy_reference(lr, reg, data, epochs, seed, decay=0.9, mu=0.9, bs=100, explode=3.0):
    """The slides' ClassifierTrainer (momentum) for one model, written plainly in numpy."""
    rng_w = np.random.default_rng(seed)
    W1 = 1e-4 * rng_w.standard_normal((64, 50)); W2 = 1e-4 * rng_w.standard_normal((50, 10))
    P = {"W1": W1, "b1": np.zeros(50), "W2": W2, "b2": np.zeros(10)}
    V = {k: np.zeros_like(v) for k, v in P.items()}
    X, y = data["X_train"], data["y_train"]
    rng = np.random.default_rng(seed)
    costs, stopped = [], -1
    for _ in range(epochs):
        for _ in range(len(y) // bs):
            i = rng.choice(len(y), bs)
            a = X[i] @ P["W1"] + P["b1"]; h = np.maximum(a, 0); s = h @ P["W2"] + P["b2"]
            s = s - s.max(1, keepdims=True); lp = s - np.log(np.exp(s).sum(1, keepdims=True))
            cost = -lp[np.arange(bs), y[i]].mean() + 0.5 * reg * ((P["W1"] ** 2).sum() + (P["W2"] ** 2).sum())
            costs.append(cost)
            if stopped < 0 and not cost <= explode * costs[0]:
                stopped = len(costs) - 1
            if stopped >= 0:
                continue
            ds = np.exp(lp); ds[np.arange(bs), y[i]] -= 1; ds /= bs
            dh = ds @ P["W2"].T; dh[a <= 0] = 0
            G = {"W2": h.T @ ds + reg * P["W2"], "b2": ds.sum(0), "W1": X[i].T @ dh + reg * P["W1"], "b1": dh.sum(0)}
            for k in P:
                V[k] = mu * V[k] - lr * G[k]
                P[k] = P[k] + V[k]
        lr *= decay
    val = np.mean(np.argmax(np.maximum(data["X_val"] @ P["W1"] + P["b1"], 0) @ P["W2"] + P["b2"], 1) == data["y_val"])
    return np.array(costs), val, stopped


def test_batched_equals_the_numpy_trainer_and_the_plain_loop(small):
    lrs, regs = [3e-4, 3e-3, 5e-1], [1e-3, 0.3, 0.0]          # the last one explodes
    kw = dict(num_epochs=3, lr_decay=0.9, seed=0, init_seeds=[0, 0, 0], dtype=torch.float64)
    res = train_batched(lrs, regs, small, **kw)
    loop = train_loop(lrs, regs, small, **kw)
    for m in range(3):
        costs, val, stopped = _numpy_reference(lrs[m], regs[m], small, 3, 0)
        n = stopped + 1 if stopped >= 0 else len(costs)
        np.testing.assert_allclose(res["loss"][:n, m], costs[:n], rtol=1e-9)
        assert res["stopped"][m] == stopped == loop["stopped"][m]
        if stopped < 0:
            assert res["val_acc"][m] == pytest.approx(val) == loop["val_acc"][m]
    assert res["stopped"][2] >= 0 and res["stopped"][0] == res["stopped"][1] == -1


def test_an_exploding_model_does_not_disturb_the_others(small):
    kw = dict(num_epochs=2, seed=1, dtype=torch.float64, explode_factor=3.0)
    together = train_batched([1e-3, 1e6, 2e-3], [1e-4, 1e-4, 1e-2], small, init_seeds=[5, 6, 7], **kw)
    alone = train_batched([1e-3, 2e-3], [1e-4, 1e-2], small, init_seeds=[5, 7], **kw)
    assert together["stopped"][1] >= 0
    np.testing.assert_allclose(together["loss"][:, [0, 2]], alone["loss"], rtol=1e-12)
    np.testing.assert_array_equal(together["val_acc"][[0, 2]], alone["val_acc"])


def test_modes_and_errors(small):
    full = train_batched([1e-3], [0.0], small, batch_size=None, update="sgd", num_epochs=3, history=False)
    assert full["iterations"] == 3 and full["val_acc_history"].shape == (1, 1)
    assert full["loss"].shape == (3, 1)
    hist = train_batched([1e-3, 2e-3], 0.0, small, num_epochs=2, record_loss=False)
    assert hist["val_acc_history"].shape == (2, 2) and "loss" not in hist
    with pytest.raises(ValueError, match="one value per model"):
        train_batched([1e-3, 1e-2], [0.0, 0.1, 0.2], small)
    with pytest.raises(ValueError, match=">= 0"):
        train_batched([-1e-3], [0.0], small)
    with pytest.raises(ValueError, match="update"):
        train_batched([1e-3], [0.0], small, update="adam")
    with pytest.raises(ValueError, match="init_seeds"):
        train_batched([1e-3], [0.0], small, init_seeds=[1, 2])


def test_module_loop_gives_the_same_accuracies(small):
    lrs, regs = [5e-4, 3e-3], [1e-3, 1e-1]
    kw = dict(num_epochs=2, seed=0, init_seeds=[0, 1])
    mod = train_module_loop(lrs, regs, small, **kw)
    bat = train_batched(lrs, regs, small, history=False, **kw)
    np.testing.assert_allclose(mod["val_acc"], bat["val_acc"], atol=2.5 / len(small["y_val"]))


def test_bench_search_prints_rates_and_ratio():
    lines = []
    out = bench_search.run(trials=4, epochs=1, repeats=1, threads=1, threads_batched=1, module=True, printer=lines.append)
    text = "\n".join(lines)
    assert "trials/s" in text and "speed-up batched / plain loop" in text
    assert out["ratio"] > 0 and set(out["rate"]) == {"plain loop", "batched", "nn.Module loop"}
    assert out["agree"]["plain loop"] == 1.0
