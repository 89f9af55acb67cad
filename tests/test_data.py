import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from utils import data


def _write_fashion_like(folder: Path, n_train=60, n_test=10, seed=0):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": (np.arange(n_test) % 10).astype(np.uint8),
    }
    for key, arr in arrays.items():
        data.write_idx(folder / data.FASHION_MNIST_FILES[key], arr)
    return arrays


def test_idx_round_trip_by_hand(tmp_path):
    # a hand-made IDX file: magic 0x00000803 (uint8, 3 dims), dims 2x2x3, then 12 bytes
    raw = bytes([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 2, 0, 0, 0, 3]) + bytes(range(12))
    p = tmp_path / "tiny-idx3-ubyte"
    p.write_bytes(raw)
    arr = data.read_idx(p)
    assert arr.shape == (2, 2, 3) and arr.dtype == np.uint8
    assert arr[1, 1, 2] == 11
    gz = tmp_path / "tiny.gz"
    gz.write_bytes(gzip.compress(raw))
    np.testing.assert_array_equal(data.read_idx(gz), arr)


def test_idx_int32_big_endian(tmp_path):
    raw = bytes([0, 0, 0x0C, 1, 0, 0, 0, 2]) + (258).to_bytes(4, "big") + (-1).to_bytes(4, "big", signed=True)
    p = tmp_path / "ints"
    p.write_bytes(raw)
    assert data.read_idx(p).tolist() == [258, -1]


@pytest.mark.parametrize("raw, message", [
    (bytes([1, 2, 8, 1, 0, 0, 0, 1, 7]), "bad IDX magic"),
    (bytes([0, 0, 0x42, 1, 0, 0, 0, 1, 7]), "bad IDX magic"),
    (bytes([0, 0, 8, 2, 0, 0, 0, 3]), "truncated IDX header"),
    (bytes([0, 0, 8, 1, 0, 0, 0, 5, 1, 2]), "truncated or corrupt"),
    (bytes([0, 0]), "too short"),
])
def test_idx_corrupt_files_give_clear_errors(tmp_path, raw, message):
    p = tmp_path / "bad"
    p.write_bytes(raw)
    with pytest.raises(data.DatasetError, match=message) as err:
        data.read_idx(p)
    assert str(p) in str(err.value)


def test_truncated_gzip(tmp_path):
    p = tmp_path / "cut.gz"
    p.write_bytes(gzip.compress(bytes([0, 0, 8, 1, 0, 0, 0, 100]) + bytes(100))[:30])
    with pytest.raises(data.DatasetError, match="corrupt or truncated"):
        data.read_idx(p)


def test_search_order_argument_then_env(tmp_path, monkeypatch):
    a, b = tmp_path / "a", tmp_path / "b"
    _write_fashion_like(a, seed=1)
    arrs_b = _write_fashion_like(b, seed=2)
    monkeypatch.setenv(data.ENV_VAR, str(b))
    assert data.fashion_mnist_dir() == b
    assert data.fashion_mnist_dir(root=a) == a
    x_tr, y_tr, _, _ = data.load_fashion_mnist(verify=False)
    np.testing.assert_array_equal(x_tr, arrs_b["train_images"])
    # the tiny files are not the real dataset: verification says so
    with pytest.raises(data.DatasetError, match="not the real Fashion-MNIST"):
        data.load_fashion_mnist(root=a)


def test_missing_files_error_names_three_ways(tmp_path, monkeypatch):
    monkeypatch.delenv(data.ENV_VAR, raising=False)
    monkeypatch.setattr(data, "PROJECT_DATA_DIR", tmp_path / "nothing")
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "nothing2")
    with pytest.raises(data.DatasetError) as err:
        data.fashion_mnist_dir()
    msg = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in msg and data.ENV_VAR in msg and "download=True" in msg
    with pytest.raises(data.DatasetError, match="lacks"):
        data.fashion_mnist_dir(root=tmp_path)


def test_real_fashion_mnist_from_debian_package():
    """CI installs Debian's dataset-fashion-mnist; this checks the real files load and verify."""
    x_tr, y_tr, x_te, y_te = data.load_fashion_mnist()
    assert x_tr.shape == (60000, 28, 28) and x_te.shape == (10000, 28, 28) and x_tr.dtype == np.uint8
    assert np.bincount(y_tr).tolist() == [6000] * 10
    assert abs(x_tr.mean() / 255 - 0.2860) < 5e-4 and abs((x_tr / 255).std() - 0.3530) < 5e-4


def test_subset_is_seeded_and_balanced():
    y = np.repeat(np.arange(10), 50)
    x = np.arange(500)
    xs, ys = data.subset(x, y, 100, seed=3)
    assert np.bincount(ys).tolist() == [10] * 10
    xs2, _ = data.subset(x, y, 100, seed=3)
    np.testing.assert_array_equal(xs, xs2)
    assert (y[xs] == ys).all()


def test_split_and_default_data():
    x_tr, y_tr, x_te, y_te = data.load_default()
    assert x_tr.shape[1] == 64 and len(x_tr) + len(x_te) == 1797
    assert x_tr.min() == 0 and x_tr.max() == 255
    assert set(np.unique(y_te)) == set(range(10))
    a = data.load_default(seed=1)[0]
    assert not np.array_equal(a, x_tr)
    np.testing.assert_array_equal(data.load_default()[0], x_tr)
    with pytest.raises(ValueError, match="test_fraction"):
        data.train_test_split(x_tr, y_tr, test_fraction=1.5)


def test_iris_petals_match_slide_rows():
    x, y = data.load_iris_petals()
    # the slides' rows (1.5, 0.2, class 0), (4.7, 1.6, class 1), (5.6, 2.2, class 2) are in iris
    for row, label in (((1.5, 0.2), 0), ((4.7, 1.6), 1), ((5.6, 2.2), 2)):
        assert any(np.allclose(x[i], row) and y[i] == label for i in range(len(y)))


def test_normalize_images_formulas():
    px = np.array([0, 127.5, 255])
    np.testing.assert_allclose(data.normalize_images(px, "unit"), [0, 0.5, 1])
    np.testing.assert_allclose(data.normalize_images(px, "symmetric"), [-1, 0, 1])
    np.testing.assert_allclose(data.normalize_images(px, "zscore", stats=(0.5, 0.5)), [-1, 0, 1])
    with pytest.raises(ValueError, match="train"):
        data.normalize_images(px, "zscore")
    with pytest.raises(ValueError, match="unknown mode"):
        data.normalize_images(px, "minmax")
    mean, std = data.pixel_stats(np.array([0, 255]))
    assert (mean, std) == (0.5, 0.5)
