"""Datasets for the course, as numpy arrays with fixed seeds.

* Fashion-MNIST (the lecture's dataset), read from the four standard IDX ``.gz``
  files -- no torchvision needed. Files are looked for, in order, in an explicit
  ``root`` argument, ``$FASHION_MNIST_DIR``, the project's ``data/fashion-mnist/``
  folder and ``/usr/share/datasets/fashion-mnist/`` (Debian's
  ``dataset-fashion-mnist`` package).
* Small bundled data for worked examples and fast tests: scikit-learn's iris
  (the petal-length / petal-width example of the slides) and digits (8x8
  images, 10 classes -- the course's *embedded default data*).
"""
from __future__ import annotations

import gzip
import os
import struct
import urllib.request
from pathlib import Path

import numpy as np

FASHION_MNIST_FILES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}
FASHION_MNIST_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
# Known statistics of the training images scaled to [0, 1].
FASHION_MNIST_MEAN = 0.2860
FASHION_MNIST_STD = 0.3530
FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
DEBIAN_FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
PROJECT_DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "fashion-mnist"
ENV_VAR = "FASHION_MNIST_DIR"

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: np.dtype(">i2"),
               0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


class DatasetError(RuntimeError):
    """A dataset is missing or its files are not what they should be."""


# --------------------------------------------------------------------------- IDX
def read_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzip-compressed) into a numpy array.

    The IDX format: two zero bytes, a dtype code, the number of dimensions, then
    one big-endian uint32 per dimension, then the data. Raises
    :class:`DatasetError` naming the file for a bad magic number, an unknown
    dtype, or a file shorter than its header says.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"{path}: cannot read ({exc}); the file is corrupt or truncated") from None
    if len(raw) < 4:
        raise DatasetError(f"{path}: file is {len(raw)} bytes, too short for an IDX header")
    zero, code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or code not in _IDX_DTYPES or ndim == 0:
        raise DatasetError(f"{path}: bad IDX magic number 0x{raw[:4].hex()} "
                           "(expected 0x0000 then a dtype code such as 0x08 and the number of dims)")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{path}: truncated IDX header ({len(raw)} of {header} bytes)")
    shape = struct.unpack(">" + "I" * ndim, raw[4:header])
    dtype = np.dtype(_IDX_DTYPES[code])
    expected = int(np.prod(shape)) * dtype.itemsize
    body = len(raw) - header
    if body != expected:
        raise DatasetError(f"{path}: IDX header says shape {shape} ({expected} bytes of data) "
                           f"but the file holds {body} bytes; the file is truncated or corrupt")
    arr = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path, array) -> None:
    """Write ``array`` as an IDX file (gzip if the name ends in .gz); used by tests."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder(">").str: k for k, v in _IDX_DTYPES.items()}
    codes[np.dtype(np.uint8).str] = 0x08
    codes[np.dtype(np.int8).str] = 0x09
    be = array.astype(array.dtype.newbyteorder(">")) if array.dtype.itemsize > 1 else array
    code = codes[be.dtype.str]
    payload = struct.pack(">HBB", 0, code, array.ndim) + struct.pack(">" + "I" * array.ndim, *array.shape) + be.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)


# ----------------------------------------------------------------- Fashion-MNIST
def fashion_mnist_dir(root=None, download: bool = False) -> Path:
    """Find the folder holding the four Fashion-MNIST IDX files.

    Search order: ``root``, ``$FASHION_MNIST_DIR``, ``data/fashion-mnist/`` in the
    project, ``/usr/share/datasets/fashion-mnist/``. With ``download=True`` and
    nothing found, fetch the files into the project folder from the official
    source; otherwise raise a :class:`DatasetError` saying how to get them.
    """
    candidates = []
    if root is not None:
        candidates.append(("the root argument", Path(root)))
    if os.environ.get(ENV_VAR):
        candidates.append((f"${ENV_VAR}", Path(os.environ[ENV_VAR])))
    candidates.append(("the project data folder", PROJECT_DATA_DIR))
    candidates.append(("Debian's dataset-fashion-mnist", DEBIAN_FASHION_MNIST_DIR))
    for _, folder in candidates:
        if all((folder / f).is_file() for f in FASHION_MNIST_FILES.values()):
            return folder
    if root is not None:
        missing = [f for f in FASHION_MNIST_FILES.values() if not (Path(root) / f).is_file()]
        raise DatasetError(f"Fashion-MNIST: {root} lacks {', '.join(missing)}")
    if download:
        try:
            PROJECT_DATA_DIR.mkdir(parents=True, exist_ok=True)
            for name in FASHION_MNIST_FILES.values():
                urllib.request.urlretrieve(FASHION_MNIST_URL + name, PROJECT_DATA_DIR / name)
            return PROJECT_DATA_DIR
        except OSError as exc:
            reason = f"download failed ({exc})"
    else:
        reason = "download=False"
    looked = "; ".join(f"{what}: {p}" for what, p in candidates)
    raise DatasetError(
        "Fashion-MNIST IDX files not found (looked in " + looked + f"; {reason}). Get them one of three ways:\n"
        "  1. sudo apt-get install dataset-fashion-mnist   (Debian; files land in /usr/share/datasets/fashion-mnist/)\n"
        f"  2. put the four files {', '.join(FASHION_MNIST_FILES.values())} in a folder and set {ENV_VAR} to it\n"
        f"  3. load_fashion_mnist(download=True) to fetch them into {PROJECT_DATA_DIR} (needs network)")


def load_fashion_mnist(root=None, download: bool = False, verify: bool = True):
    """Return ``(x_train, y_train, x_test, y_test)`` as uint8 images (N, 28, 28) and int64 labels."""
    folder = fashion_mnist_dir(root, download=download)
    f = FASHION_MNIST_FILES
    x_tr = read_idx(folder / f["train_images"])
    y_tr = read_idx(folder / f["train_labels"]).astype(np.int64)
    x_te = read_idx(folder / f["test_images"])
    y_te = read_idx(folder / f["test_labels"]).astype(np.int64)
    if verify:
        verify_fashion_mnist(x_tr, y_tr, x_te, y_te, source=folder)
    return x_tr, y_tr, x_te, y_te


def verify_fashion_mnist(x_tr, y_tr, x_te, y_te, source="Fashion-MNIST") -> None:
    """Check shapes, dtype, class balance and the known pixel mean/std."""
    problems = []
    if x_tr.shape != (60000, 28, 28) or x_te.shape != (10000, 28, 28):
        problems.append(f"image shapes {x_tr.shape}/{x_te.shape}, expected (60000, 28, 28)/(10000, 28, 28)")
    if x_tr.dtype != np.uint8:
        problems.append(f"dtype {x_tr.dtype}, expected uint8")
    if y_tr.shape != (60000,) or y_te.shape != (10000,):
        problems.append(f"label shapes {y_tr.shape}/{y_te.shape}")
    elif not (np.bincount(y_tr, minlength=10) == 6000).all():
        problems.append(f"train labels per class {np.bincount(y_tr).tolist()}, expected 6000 each")
    if not problems:
        scaled = x_tr.astype(np.float64) / 255.0
        mean, std = scaled.mean(), scaled.std()
        if abs(mean - FASHION_MNIST_MEAN) > 5e-4 or abs(std - FASHION_MNIST_STD) > 5e-4:
            problems.append(f"pixel mean/std {mean:.4f}/{std:.4f}, expected "
                            f"{FASHION_MNIST_MEAN}/{FASHION_MNIST_STD}")
    if problems:
        raise DatasetError(f"{source}: not the real Fashion-MNIST: " + "; ".join(problems))


def subset(x, y, n: int | None, seed: int = 0, stratified: bool = True):
    """A seeded subset of ``n`` samples (``None`` = everything), class-balanced by default."""
    if n is None or n >= len(y):
        return x, y
    rng = np.random.default_rng(seed)
    if not stratified:
        idx = rng.permutation(len(y))[:n]
    else:
        classes = np.unique(y)
        per = [np.flatnonzero(y == c) for c in classes]
        take = [rng.permutation(p)[: n // len(classes) + (1 if k < n % len(classes) else 0)]
                for k, p in enumerate(per)]
        idx = rng.permutation(np.concatenate(take))
    return x[idx], y[idx]


# ------------------------------------------------------------------ bundled data
def train_test_split(x, y, test_fraction: float = 0.25, seed: int = 0, stratified: bool = True):
    """Seeded split into ``(x_train, y_train, x_test, y_test)``."""
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    if stratified:
        test_idx = []
        for c in np.unique(y):
            members = rng.permutation(np.flatnonzero(y == c))
            test_idx.append(members[: int(round(len(members) * test_fraction))])
        test_idx = np.concatenate(test_idx)
    else:
        test_idx = rng.permutation(len(y))[: int(round(len(y) * test_fraction))]
    mask = np.zeros(len(y), dtype=bool)
    mask[test_idx] = True
    tr, te = np.flatnonzero(~mask), np.flatnonzero(mask)
    tr, te = rng.permutation(tr), rng.permutation(te)
    return x[tr], y[tr], x[te], y[te]


def load_iris_petals():
    """Iris petal length and width (cm) and labels: the slides' MLP example data."""
    from sklearn.datasets import load_iris
    iris = load_iris()
    return iris.data[:, 2:4].astype(np.float64), iris.target.astype(np.int64)


def load_digits_split(test_fraction: float = 0.25, seed: int = 0):
    """scikit-learn's 8x8 digits as uint8-like pixel values 0..16, split with a seed.

    Returns ``(x_train, y_train, x_test, y_test)`` with x of shape (N, 64), float64.
    """
    from sklearn.datasets import load_digits
    d = load_digits()
    return train_test_split(d.data.astype(np.float64), d.target.astype(np.int64),
                            test_fraction=test_fraction, seed=seed)


def load_default(test_fraction: float = 0.25, seed: int = 0):
    """The course's embedded default data: digits rescaled to pixel range [0, 255].

    1797 images of 8x8 = 64 features, 10 classes, bundled with scikit-learn (no
    download). Pixels are rescaled from 0..16 to 0..255 so that the lecture's
    image formulas (``x / 255``, ``x / 127.5 - 1``) apply unchanged.
    """
    x_tr, y_tr, x_te, y_te = load_digits_split(test_fraction=test_fraction, seed=seed)
    return x_tr * (255.0 / 16.0), y_tr, x_te * (255.0 / 16.0), y_te


# ----------------------------------------------------- image normalization demos
def pixel_stats(images) -> tuple[float, float]:
    """Mean and std of all pixels of ``images`` scaled to [0, 1] (what torchvision's
    ``Normalize((mean,), (std,))`` is given in the slides). Compute on the train split only."""
    x = np.asarray(images, dtype=np.float64) / 255.0
    return float(x.mean()), float(x.std())


def normalize_images(images, mode: str = "symmetric", stats: tuple[float, float] | None = None):
    """The slides' three image normalizations of pixels in [0, 255], as float32.

    ``mode``: ``"unit"`` -> x/255 in [0, 1]; ``"symmetric"`` -> x/127.5 - 1 in [-1, 1];
    ``"zscore"`` -> (x/255 - mean)/std with one scalar ``stats=(mean, std)`` computed
    on the training images (:func:`pixel_stats`); ``"none"`` -> raw pixel values.
    """
    x = np.asarray(images, dtype=np.float32)
    if mode == "none":
        return x
    if mode == "unit":
        return x / np.float32(255.0)
    if mode == "symmetric":
        return x / np.float32(127.5) - np.float32(1.0)
    if mode == "zscore":
        if stats is None:
            raise ValueError("mode='zscore' needs stats=(mean, std) computed on the training split "
                             "(see pixel_stats); never compute them on the test split")
        mean, std = stats
        return (x / np.float32(255.0) - np.float32(mean)) / np.float32(std)
    raise ValueError(f"unknown mode {mode!r}; choose 'none', 'unit', 'symmetric' or 'zscore'")
