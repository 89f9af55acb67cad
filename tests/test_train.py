import numpy as np

from utils.train import make_mlp, train_classifier


def test_hidden_bias_is_applied_with_every_init():
    for init in ("default", "he_normal"):
        model = make_mlp([4, 3, 2], init=init, hidden_bias=-1.0)
        assert np.allclose(model[0].bias.detach().numpy(), -1.0), init
        assert not np.allclose(model[2].bias.detach().numpy(), -1.0)   # output layer untouched


def test_train_classifier_learns_a_separable_problem():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 2)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    hist = train_classifier(make_mlp([2, 8, 2], seed=0), x, y, epochs=20, lr=0.1, batch_size=20,
                            show_progress=False)
    assert hist["loss"][-1] < hist["loss"][0] and hist["train_acc"][-1] > 0.9
