"""Statistical checks for random arrays (weight initializers and the like).

A random draw cannot be compared entry by entry with a reference; these
helpers compare its *statistics* with the value the distribution should have,
with a tolerance derived from the sample size: ``z`` standard errors of the
estimate (5 by default, so a correct draw fails with probability below 1e-6).

* :func:`std_error_of_std` -- standard error of a sample std,
  ``sigma * sqrt((kurtosis - 1) / (4 n))``: ``sigma / sqrt(2n)`` for a normal,
  ``sigma / sqrt(5n)`` for a uniform.
* :func:`assert_std`, :func:`assert_mean`, :func:`assert_same_std` (two draws,
  e.g. numpy against ``torch.nn.init``), :func:`assert_uniform_bounds`,
  :func:`assert_normal_shape` (excess kurtosis 0, not -1.2 as a uniform's).

They know no initialization formula: the caller passes the expected value.
Failures raise :class:`utils.checks.CheckError` with what was expected, what
came back and the tolerance.
"""
from __future__ import annotations

import math

import numpy as _np

from utils.checks import CheckError

_np_asarray = _np.asarray
_np_abs = _np.abs

KURTOSIS = {"normal": 3.0, "uniform": 9.0 / 5.0}


def _sample(values, name):
    if values is None:
        raise CheckError(f"{name}: got None -- did you forget to `return` the array?")
    try:
        a = _np_asarray(values, dtype=float).ravel()
    except (TypeError, ValueError) as exc:
        raise CheckError(f"{name}: could not read the result as numbers ({exc})") from None
    if a.size < 2:
        raise CheckError(f"{name}: need at least 2 values for a statistical check, got {a.size}")
    if not _np.isfinite(a).all():
        raise CheckError(f"{name}: contains NaN or inf")
    return a


def std_error_of_std(sigma: float, n: int, kind: str = "normal") -> float:
    """Standard error of the (population) sample std of ``n`` draws with std ``sigma``."""
    if kind not in KURTOSIS:
        raise ValueError(f"kind must be one of {sorted(KURTOSIS)}, got {kind!r}")
    return sigma * math.sqrt((KURTOSIS[kind] - 1.0) / (4.0 * n))


def assert_std(values, sigma: float, name: str = "sample", kind: str = "normal", z: float = 5.0,
               hints: dict | None = None) -> float:
    """The sample std of ``values`` is within ``z`` standard errors of ``sigma``; returns it.

    ``hints`` maps a wrong std that a common mistake produces to a sentence; the
    failure message names the closest one.
    """
    a = _sample(values, name)
    s = float(a.std())
    se = std_error_of_std(sigma, a.size, kind)
    if abs(s - sigma) > z * se:
        msg = (f"{name}: std {s:.6g} over {a.size} values, expected {sigma:.6g} "
               f"(tolerance {z:g} standard errors = {z * se:.3g}; off by {abs(s - sigma) / se:.1f} SE)")
        if hints:
            wrong, text = min(hints.items(), key=lambda kv: abs(kv[0] - s))
            if abs(wrong - s) <= z * std_error_of_std(wrong, a.size, kind):
                msg += f"\nhint: {text}"
        raise CheckError(msg)
    return s


def assert_mean(values, mean: float, sigma: float, name: str = "sample", z: float = 5.0) -> float:
    """The sample mean is within ``z * sigma / sqrt(n)`` of ``mean``; returns it."""
    a = _sample(values, name)
    m = float(a.mean())
    tol = z * sigma / math.sqrt(a.size)
    if abs(m - mean) > tol:
        raise CheckError(f"{name}: mean {m:.6g} over {a.size} values, expected {mean:.6g} "
                         f"(tolerance {z:g} standard errors = {tol:.3g})")
    return m


def assert_same_std(values, reference, name: str = "sample", kind: str = "normal", z: float = 5.0,
                    ref_name: str = "reference") -> tuple[float, float]:
    """Two independent draws have the same std up to sampling noise."""
    a, b = _sample(values, name), _sample(reference, ref_name)
    sa, sb = float(a.std()), float(b.std())
    sigma = (sa + sb) / 2
    se = math.sqrt(std_error_of_std(sigma, a.size, kind) ** 2 + std_error_of_std(sigma, b.size, kind) ** 2)
    if abs(sa - sb) > z * se:
        raise CheckError(f"{name}: std {sa:.6g}, but {ref_name} draws std {sb:.6g} for the same shape "
                         f"(difference {abs(sa - sb):.3g} > {z:g} standard errors = {z * se:.3g})")
    return sa, sb


def assert_uniform_bounds(values, limit: float, name: str = "sample", slack: float = 30.0) -> None:
    """All values lie in [-limit, limit], and both ends are reached up to sampling noise.

    For ``n`` draws of U(-a, a) the largest one falls below ``a (1 - slack/n)``
    with probability about ``exp(-slack/2)`` (3e-7 for the default), and the same
    for the smallest.
    """
    a = _sample(values, name)
    lo, hi = float(a.min()), float(a.max())
    bound = limit * (1 + 1e-12)
    if hi > bound or lo < -bound:
        raise CheckError(f"{name}: values must lie in [-{limit:.6g}, {limit:.6g}], but range over "
                         f"[{lo:.6g}, {hi:.6g}]; the limit is too large (or the draw is not uniform)")
    reach = limit * (1 - slack / a.size)
    if hi < reach or lo > -reach:
        raise CheckError(f"{name}: {a.size} uniform draws on [-{limit:.6g}, {limit:.6g}] should come "
                         f"within {limit * slack / a.size:.3g} of both ends, but range over "
                         f"[{lo:.6g}, {hi:.6g}]; the limit is too small (or the draw is not uniform)")


def excess_kurtosis(values) -> float:
    a = _np_asarray(values, dtype=float).ravel()
    c = a - a.mean()
    return float((c ** 4).mean() / (c ** 2).mean() ** 2 - 3.0)


def assert_normal_shape(values, name: str = "sample", z: float = 5.0) -> float:
    """Excess kurtosis within ``z * sqrt(24/n)`` of 0 (a normal's); a uniform's is -1.2."""
    a = _sample(values, name)
    k = excess_kurtosis(a)
    tol = z * math.sqrt(24.0 / a.size)
    if abs(k) > tol:
        shape = " (a uniform distribution has -1.2)" if k < 0 else ""
        raise CheckError(f"{name}: excess kurtosis {k:.4f} over {a.size} values, a normal "
                         f"distribution has 0 (tolerance {tol:.3g}){shape}; draw from a Gaussian")
    return k


from utils.checks import freeze_module  # noqa: E402

freeze_module(__name__)  # a student cell cannot swap these checks (see utils.checks)
