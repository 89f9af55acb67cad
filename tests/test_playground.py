"""Tests for utils.playground: the data generators as dataset.ts defines them, the gradient against torch
autograd, one training step against a point-by-point port of nn.ts, config validation, determinism, XOR."""
import math

import numpy as np
import pytest
import torch

from utils import playground as pg

ALL = list(pg.FEATURES)


# ------------------------------------------------------------------------------------------ data

@pytest.mark.parametrize("dataset", pg.DATASETS)
def test_shapes_labels_split(dataset):
    for pct, n_train in ((50, 250), (10, 50), (90, 450), (33, 165)):
        Xtr, ytr, Xte, yte = pg.make_data({"dataset": dataset, "train_percent": pct})
        assert Xtr.shape == (n_train, 2) and ytr.shape == (n_train,)
        assert Xte.shape == (500 - n_train, 2) and yte.shape == (500 - n_train,)
        assert set(np.unique(np.concatenate([ytr, yte]))) <= {-1.0, 1.0}


def _all(dataset, noise=0, seed=0):
    Xtr, ytr, Xte, yte = pg.make_data({"dataset": dataset, "noise": noise, "seed": seed})
    return np.concatenate([Xtr, Xte]), np.concatenate([ytr, yte])


def test_circle_without_noise():
    X, y = _all("circle")
    r = np.hypot(X[:, 0], X[:, 1])
    assert (y == 1).sum() == 250 and (y == -1).sum() == 250
    assert r[y == 1].max() < 2.5  # positives: r uniform in [0, 2.5)
    assert r[y == -1].min() >= 3.5 and r[y == -1].max() <= 5  # negatives: r in [3.5, 5]


def test_circle_noise_moves_labels_not_points():
    X, y = _all("circle", noise=50)
    r = np.hypot(X[:, 0], X[:, 1])
    assert r.max() <= 5 and not (r >= 3.5).all()  # positions are unchanged by noise ...
    assert ((r < 2.5) & (y == -1)).any() and ((r >= 3.5) & (y == 1)).any()  # ... labels flip


def test_xor_without_noise():
    X, y = _all("xor")
    assert np.abs(X).min() >= 0.3 and np.abs(X).max() <= 5.3  # padded 0.3 away from the axes
    np.testing.assert_array_equal(y, np.where(X[:, 0] * X[:, 1] >= 0, 1.0, -1.0))


def test_gauss_centres_and_variance():
    X, y = _all("gauss")
    assert (y == 1).sum() == 250
    np.testing.assert_allclose(X[y == 1].mean(0), [2, 2], atol=0.2)
    np.testing.assert_allclose(X[y == -1].mean(0), [-2, -2], atol=0.2)
    # variance 0.5 at noise 0, 0.5 + 7 * 0.5 = 4 at noise 50 (d3 scale [0, .5] -> [0.5, 4])
    assert 0.4 < X[y == 1].var(0).mean() < 0.6
    X, y = _all("gauss", noise=50)
    assert 3.3 < X[y == 1].var(0).mean() < 4.7


def test_spiral_without_noise():
    X, y = _all("spiral")
    pos = X[y == 1]
    neg = X[y == -1]
    # arm i: r = i / 250 * 5, t = 1.75 * 2 pi i / 250; the negative arm is the positive one turned by pi
    i = np.arange(250)
    expected = np.stack([i / 250 * 5 * np.sin(1.75 * i / 250 * 2 * np.pi),
                         i / 250 * 5 * np.cos(1.75 * i / 250 * 2 * np.pi)], axis=1)
    order = lambda a: a[np.lexsort((a[:, 1].round(9), a[:, 0].round(9)))]  # noqa: E731
    np.testing.assert_allclose(order(pos), order(expected), atol=1e-12)
    np.testing.assert_allclose(order(neg), order(-expected), atol=1e-12)
    Xn, _ = _all("spiral", noise=50)  # uniform noise in [-1, 1] * 0.5 per coordinate
    assert np.hypot(Xn[:, 0], Xn[:, 1]).max() <= 5 + math.sqrt(2) * 0.5


def test_features_in_playground_order():
    X = np.array([[1.0, 2.0], [-0.5, 3.0]])
    F = pg.feature_matrix(X, ["sin x2", "x1", "x1*x2"])
    np.testing.assert_allclose(F, [[1.0, 2.0, math.sin(2.0)], [-0.5, -1.5, math.sin(3.0)]])
    F = pg.feature_matrix(X, ALL)
    np.testing.assert_allclose(F[0], [1, 2, 1, 4, 2, math.sin(1), math.sin(2)])


# ------------------------------------------------------------------------------------------ network

def test_init_as_nn_ts():
    net = pg.Playground({"hidden_layers": [8, 8, 8], "features": ALL})
    assert [w.shape for w in net.weights] == [(7, 8), (8, 8), (8, 8), (8, 1)]
    for w, b in zip(net.weights, net.biases):
        assert w.min() >= -0.5 and w.max() < 0.5
        np.testing.assert_array_equal(b, 0.1)


@pytest.mark.parametrize("activation", pg.ACTIVATIONS)
def test_gradient_vs_torch_autograd(activation):
    net = pg.Playground({"hidden_layers": [3, 2], "activation": activation, "features": ["x1", "x2", "x1*x2"]})
    F, y = net.F_train[:7], net.y_train[:7]
    gw, gb = net.gradients(F, y)
    ws = [torch.tensor(w, requires_grad=True) for w in net.weights]
    bs = [torch.tensor(b, requires_grad=True) for b in net.biases]
    f = {"relu": torch.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "linear": lambda z: z}[activation]
    a = torch.tensor(F)
    for l, (w, b) in enumerate(zip(ws, bs)):
        a = a @ w + b
        a = torch.tanh(a) if l == len(ws) - 1 else f(a)
    loss = (0.5 * (a[:, 0] - torch.tensor(y)) ** 2).sum()
    loss.backward()
    for l in range(len(ws)):
        np.testing.assert_allclose(gw[l], ws[l].grad.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gb[l], bs[l].grad.numpy(), rtol=1e-10, atol=1e-12)


def test_gradient_by_hand_one_unit():
    """x1 only, one hidden tanh unit: out = tanh(w2 tanh(w1 x + b1) + b2), by hand."""
    net = pg.Playground({"hidden_layers": [1], "features": ["x1"]})
    net.weights = [np.array([[0.3]]), np.array([[-0.4]])]
    net.biases = [np.array([0.1]), np.array([0.1])]
    x, t = 2.0, 1.0
    h = math.tanh(0.3 * 2.0 + 0.1)
    out = math.tanh(-0.4 * h + 0.1)
    d_out = (out - t) * (1 - out ** 2)
    d_h = d_out * -0.4 * (1 - h ** 2)
    gw, gb = net.gradients(np.array([[x]]), np.array([t]))
    np.testing.assert_allclose([gw[0][0, 0], gb[0][0], gw[1][0, 0], gb[1][0]], [d_h * x, d_h, d_out * h, d_out])


class _NnTs:
    """A point-by-point port of nn.ts (forwardProp, backProp, updateWeights) and oneStep, for reference."""

    def __init__(self, net, act):
        self.W = [w.copy() for w in net.weights]
        self.B = [b.copy() for b in net.biases]
        self.accW = [np.zeros_like(w) for w in self.W]
        self.accB = [np.zeros_like(b) for b in self.B]
        self.nW = [np.zeros(w.shape, int) for w in self.W]
        self.nB = [np.zeros(b.shape, int) for b in self.B]
        self.dead = [np.zeros(w.shape, bool) for w in self.W]
        self.f = {"tanh": (math.tanh, lambda x: 1 - math.tanh(x) ** 2),
                  "relu": (lambda x: max(0.0, x), lambda x: 0.0 if x <= 0 else 1.0)}[act]

    def one_point(self, x, label):
        outs, tot = [list(x)], []
        for l in range(len(self.W)):
            last = l == len(self.W) - 1
            t = [self.B[l][j] + sum(self.W[l][i, j] * outs[-1][i] for i in range(len(outs[-1])))
                 for j in range(self.W[l].shape[1])]
            tot.append(t)
            outs.append([math.tanh(v) if last else self.f[0](v) for v in t])
        out_der = [outs[-1][0] - label]
        for l in range(len(self.W) - 1, -1, -1):
            last = l == len(self.W) - 1
            in_der = [out_der[j] * ((1 - math.tanh(tot[l][j]) ** 2) if last else self.f[1](tot[l][j]))
                      for j in range(len(out_der))]
            for j, d in enumerate(in_der):
                self.accB[l][j] += d
                self.nB[l][j] += 1
                for i in range(self.W[l].shape[0]):
                    if not self.dead[l][i, j]:
                        self.accW[l][i, j] += d * outs[l][i]
                        self.nW[l][i, j] += 1
            out_der = [sum(self.W[l][i, j] * in_der[j] for j in range(len(in_der)))
                       for i in range(self.W[l].shape[0])]

    def update(self, lr, rate, reg):
        for l in range(len(self.W)):
            for j in range(len(self.B[l])):
                if self.nB[l][j]:
                    self.B[l][j] -= lr * self.accB[l][j] / self.nB[l][j]
                    self.accB[l][j], self.nB[l][j] = 0, 0
                for i in range(self.W[l].shape[0]):
                    if self.dead[l][i, j] or not self.nW[l][i, j]:
                        continue
                    w = self.W[l][i, j]
                    # nn.ts: L1.der = w < 0 ? -1 : (w > 0 ? 1 : 0), L2.der = w; taken before the update
                    l1 = -1.0 if w < 0 else (1.0 if w > 0 else 0.0)
                    rder = 0.0 if reg == "none" else (w if reg == "L2" else l1)
                    w = w - lr / self.nW[l][i, j] * self.accW[l][i, j]
                    new = w - lr * rate * rder
                    if reg == "L1" and w * new < 0:
                        self.W[l][i, j], self.dead[l][i, j] = 0.0, True
                    else:
                        self.W[l][i, j] = new
                    self.accW[l][i, j], self.nW[l][i, j] = 0, 0

    def one_step(self, F, y, bs, lr, rate, reg):
        for i in range(len(y)):
            self.one_point(F[i], y[i])
            if (i + 1) % bs == 0:
                self.update(lr, rate, reg)


@pytest.mark.parametrize("reg,rate,act,bs", [("none", 0.0, "tanh", 10), ("L2", 0.1, "relu", 7),
                                             ("L1", 0.03, "tanh", 3)])
def test_steps_match_point_by_point_nn_ts(reg, rate, act, bs):
    cfg = {"dataset": "xor", "hidden_layers": [3, 2], "features": ["x1", "x2", "x1*x2"], "activation": act,
           "regularization": reg, "regularization_rate": rate, "batch_size": bs, "learning_rate": 0.3,
           "train_percent": 10}  # 50 training points; 50 % 7 = 1 and 50 % 3 = 2 carry into the next step
    net = pg.Playground(cfg)
    net.weights[1][0, 0] = 0.0  # a live weight at exactly 0: L1's derivative there is 0, not +1 or -1
    ref = _NnTs(net, act)
    for _ in range(3):
        net.step(1)
        ref.one_step(net.F_train, net.y_train, bs, 0.3, rate, reg)
        for l in range(len(ref.W)):
            np.testing.assert_allclose(net.weights[l], ref.W[l], rtol=1e-9, atol=1e-12)
            np.testing.assert_allclose(net.biases[l], ref.B[l], rtol=1e-9, atol=1e-12)
    if reg == "L1":
        assert any(d.any() for d in net.dead)  # rate 0.03 * lr 0.3 kills some links


def test_loss_is_half_mean_squared_error():
    net = pg.Playground({})
    out = net.predict(net.X_train)
    assert out.min() >= -1 and out.max() <= 1
    np.testing.assert_allclose(net.losses()[0], np.mean(0.5 * (out - net.y_train) ** 2))


def test_decision_grid_orientation_and_hidden_units():
    net = pg.Playground({"hidden_layers": [3, 2]})
    g = pg.decision_grid(net, density=5)
    assert g["output"].shape == (5, 5) and [h.shape for h in g["hidden"]] == [(3, 5, 5), (2, 5, 5)]
    np.testing.assert_allclose(g["x"], [-6, -3, 0, 3, 6])
    np.testing.assert_allclose(g["y"], [6, 3, 0, -3, -6])  # row 0 is the top
    np.testing.assert_allclose(g["output"][0, 4], net.predict(np.array([[6.0, 6.0]]))[0])
    np.testing.assert_allclose(g["hidden"][0][:, 4, 0],
                               np.tanh(np.array([-6.0, -6.0]) @ net.weights[0] + net.biases[0]))


# ------------------------------------------------------------------------------------------ config

def test_defaults_are_the_playgrounds():
    c = pg.validate_config({})
    assert c == {"dataset": "circle", "noise": 0, "train_percent": 50, "features": ["x1", "x2"],
                 "hidden_layers": [4, 2], "activation": "tanh", "learning_rate": 0.03, "regularization": "none",
                 "regularization_rate": 0.0, "batch_size": 10, "seed": 0}


@pytest.mark.parametrize("config,words", [
    ({"learning_rat": 0.1}, ["unknown config key", "'learning_rat'", "learning_rate"]),
    ({"dataset": "spirals"}, ["config['dataset']", "'spirals'", "'spiral'", "'circle'"]),
    ({"activation": "ReLU"}, ["config['activation']", "'relu'", "'tanh'"]),
    ({"hidden_layers": [9]}, ["config['hidden_layers']", "(9 units)", "1 to 8"]),
    ({"hidden_layers": [4, 2.0]}, ["config['hidden_layers']", "(2.0 units)", "integers"]),
    ({"hidden_layers": [2] * 7}, ["config['hidden_layers']", "(7 layers)", "0 to 6"]),
    ({"hidden_layers": 4}, ["config['hidden_layers']", "list"]),
    ({"features": ["x", "y"]}, ["config['features']", "unknown: ['x', 'y']", "'x1'", "'sin x2'"]),
    ({"features": ["x1", "X2"]}, ["config['features']", "unknown: ['X2']", "'x2'"]),
    ({"features": ["x1", "x2", "x1"]}, ["config['features']", "repeated: ['x1']", "distinct"]),
    ({"features": "x1"}, ["config['features']", "list"]),
    ({"features": []}, ["config['features']", "non-empty"]),
    ({"learning_rate": 0}, ["config['learning_rate']", "positive"]),
    ({"learning_rate": "0.1"}, ["config['learning_rate']", "positive"]),
    ({"regularization": "l2"}, ["config['regularization']", "'L2'"]),
    ({"regularization_rate": -1}, ["config['regularization_rate']", ">= 0"]),
    ({"batch_size": 0}, ["config['batch_size']", "1 to 30"]),
    ({"batch_size": 2.5}, ["config['batch_size']", "integer"]),
    ({"noise": 60}, ["config['noise']", "0 to 50"]),
    ({"train_percent": 95}, ["config['train_percent']", "10 to 90"]),
    ({"seed": -1}, ["config['seed']", "non-negative integer"]),
    ({"noise": float("nan")}, ["config['noise']"]),
])
def test_validation_messages(config, words):
    with pytest.raises(ValueError) as err:
        pg.train(config, 1)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


@pytest.mark.parametrize("config,words", [
    ({"learning_rate": "fast"}, ["spiral_config['learning_rate'] = 'fast'", "positive"]),
    ({"hidden_layers": [9]}, ["spiral_config['hidden_layers']", "(9 units)"]),
    ({"hiden_layers": [8]}, ["unknown spiral_config key(s) ['hiden_layers']"]),
])
def test_messages_name_the_students_variable(config, words):
    # the playground assignment passes name="spiral_config": the student reads their own variable's name
    with pytest.raises(ValueError) as err:
        pg.validate_config(config, name="spiral_config")
    for w in words:
        assert w in str(err.value), (w, str(err.value))
    assert "config[" not in str(err.value).replace("spiral_config[", "")
    with pytest.raises(TypeError, match="spiral_config must be a dict"):
        pg.validate_config(["x1"], name="spiral_config")


def test_not_a_dict_and_bad_steps():
    with pytest.raises(TypeError, match="config must be a dict"):
        pg.train([("dataset", "xor")], 1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        pg.train({}, -1)
    with pytest.raises(ValueError, match="steps must be an integer >= 0"):
        pg.train({}, 1.5)


def test_config_not_modified_and_regularization_none():
    cfg = {"regularization": None, "features": ["x2", "x1"]}
    full = pg.validate_config(cfg)
    assert cfg == {"regularization": None, "features": ["x2", "x1"]}
    assert full["regularization"] == "none" and full["features"] == ["x1", "x2"]


def test_module_is_read_only():
    with pytest.raises(AttributeError, match="read-only"):
        pg.train = lambda *a, **k: None


# ------------------------------------------------------------------------------------------ training

def test_deterministic_with_a_seed():
    cfg = {"dataset": "spiral", "noise": 20, "hidden_layers": [5, 3], "seed": 7}
    a, b = pg.train(cfg, 20), pg.train(cfg, 20)
    assert a["train_loss"] == b["train_loss"] and a["test_loss"] == b["test_loss"]
    for wa, wb in zip(a["net"].weights, b["net"].weights):
        np.testing.assert_array_equal(wa, wb)
    c = pg.train(dict(cfg, seed=8), 20)
    assert c["train_loss"] != a["train_loss"]
    # the data depend on the seed and the dataset options only, not on the network
    d = pg.Playground(dict(cfg, hidden_layers=[1]))
    np.testing.assert_array_equal(d.X_train, a["net"].X_train)


def test_history_layout():
    h = pg.train({}, 10, record_every=4)
    assert h["epoch"] == [0, 4, 8, 10]
    assert len(h["train_loss"]) == len(h["test_accuracy"]) == 4


def test_xor_solved_with_x1x2_not_linear_model_without():
    lin = {"dataset": "xor", "hidden_layers": [], "learning_rate": 0.03}
    solved = pg.train(dict(lin, features=["x1*x2"]), 100)
    assert solved["test_accuracy"][-1] >= 0.99 and solved["test_loss"][-1] < 0.1
    unsolved = pg.train(dict(lin, features=["x1", "x2"]), 100)  # a linear boundary cannot separate XOR
    assert unsolved["test_accuracy"][-1] < 0.7



# ------------------------------------------------------------------------------------------ drawing, widget

def test_colorize_is_the_playgrounds_scale():
    np.testing.assert_array_equal(pg.colorize([-1, 0, 1, -5, 5]),
                                  [[0xF5, 0x93, 0x22], [0xE8, 0xEA, 0xEB], [0x08, 0x77, 0xBD],
                                   [0xF5, 0x93, 0x22], [0x08, 0x77, 0xBD]])
    # halfway, by hand: (#e8eaeb + #0877bd) / 2 = (120, 176.5, 212) and (#e8eaeb + #f59322) / 2 =
    # (238.5, 190.5, 134.5), rounded half up as d3's interpolateRgb (Math.round) does
    np.testing.assert_array_equal(pg.colorize([0.5, -0.5]), [[120, 177, 212], [239, 191, 135]])


def test_render_pngs():
    from io import BytesIO
    from PIL import Image
    net = pg.Playground({"hidden_layers": [3, 2]})
    png = pg.render_boundary(net, {"train_loss": [0.5, 0.3], "test_loss": [0.5, 0.4]})
    im = Image.open(BytesIO(png))
    assert im.size == (300, 370)
    units = Image.open(BytesIO(pg.render_units(net)))
    # a label margin of 46, then columns: 2 inputs, 3 units, 2 units, the output
    assert units.size == (46 + 4 * (40 + 12) + 12, 3 * (40 + 6) + 6)


def test_input_thumbnails_show_the_features():
    from io import BytesIO
    from PIL import Image
    net = pg.Playground({"features": ["x1", "x2", "x1*x2"], "hidden_layers": [2]})
    g = pg.decision_grid(net, density=5)
    assert g["inputs"].shape == (3, 5, 5)
    np.testing.assert_allclose(g["inputs"][0][0], [-6, -3, 0, 3, 6])        # x1 grows to the right
    np.testing.assert_allclose(g["inputs"][1][:, 0], [6, 3, 0, -3, -6])     # x2 grows upwards
    np.testing.assert_allclose(g["inputs"][2][0, 0], -36)                   # x1*x2 at (-6, 6)
    units = np.asarray(Image.open(BytesIO(pg.render_units(net))).convert("RGB"))
    # the x1 thumbnail (first column, first row: x 58..98, y 6..46) is orange on the left, blue on the
    # right, the playground's colours for -1 and +1 (clamped)
    assert tuple(units[26, 60]) == (0xF5, 0x93, 0x22) and tuple(units[26, 96]) == (0x08, 0x77, 0xBD)
    # the x2 thumbnail (second row) is blue at the top, orange at the bottom
    assert tuple(units[54, 78]) == (0x08, 0x77, 0xBD) and tuple(units[90, 78]) == (0xF5, 0x93, 0x22)


def test_widget_headless_frame_lr_and_reset():
    w = pg.PlaygroundWidget({"hidden_layers": [4]})
    assert w.net.epoch == 0 and "epoch <b>000000</b>" in w.w_status.value
    first = w.w_boundary.value
    w.frame(3)
    assert w.net.epoch == 3 and len(w.history["train_loss"]) == 4 and w.w_boundary.value != first
    net = w.net
    w.w_lr.value = 1.0                      # as on the page: same network, new learning rate
    assert w.net is net and net.learning_rate == 1.0 and net.epoch == 3
    w.w_dataset.value = "xor"               # anything else: a new network
    assert w.net is not net and w.net.epoch == 0 and w.net.config["dataset"] == "xor"
    w.w_layers.value = "4, nine"
    assert "hidden layers" in w.w_status.value and "'4, nine'" in w.w_status.value
    w.w_layers.value = "9"
    assert "config['hidden_layers']" in w.w_status.value
    w.w_layers.value = "3, 3"
    assert [x.shape[1] for x in w.net.weights] == [3, 3, 1]
