"""Assertion helpers shared by visible and hidden tests.

Every check fails with a message a student can act on: which value, which
entry, what was expected, what came back, and the tolerance used.

The functions bind the numpy routines they use at import time (``_np_*``), so a
student cell that rebinds ``np.allclose`` or ``np.abs`` after import does not
change what the grader computes.
"""
from __future__ import annotations

import numpy as _np

_np_asarray = _np.asarray
_np_abs = _np.abs
_np_max = _np.max
_np_maximum = _np.maximum
_np_isfinite = _np.isfinite
_np_argmax = _np.argmax
_np_unravel_index = _np.unravel_index
_np_zeros_like = _np.zeros_like
_np_nditer = _np.nditer
_np_array2string = _np.array2string


class CheckError(AssertionError):
    """An AssertionError whose message tells the student what to fix."""


def _fmt(a) -> str:
    a = _np_asarray(a)
    if a.ndim == 0:
        return repr(a.item())
    return _np_array2string(a, precision=6, threshold=30, max_line_width=100)


def rel_error(x, y, eps: float = 1e-12) -> float:
    """Maximum relative error max |x - y| / max(eps, |x| + |y|), as in CS231n."""
    x = _np_asarray(x, dtype=float)
    y = _np_asarray(y, dtype=float)
    if x.shape != y.shape:
        raise CheckError(f"rel_error: shapes differ, {x.shape} vs {y.shape}")
    if x.size == 0:
        return 0.0
    return float(_np_max(_np_abs(x - y) / _np_maximum(eps, _np_abs(x) + _np_abs(y))))


def assert_shape(actual, shape, name: str = "value") -> None:
    a = _np_asarray(actual)
    if tuple(a.shape) != tuple(shape):
        raise CheckError(f"{name}: expected shape {tuple(shape)}, got {tuple(a.shape)}")


def assert_close(actual, expected, name: str = "value", rtol: float = 1e-6,
                 atol: float = 1e-8, check_dtype=None) -> None:
    """Assert ``actual`` matches ``expected`` element-wise within rtol/atol.

    On failure the message names the worst entry (index, expected, got), the
    shapes, and the tolerance, e.g.::

        zscore(test): entry (2, 1) expected 0.5, got 0.4166667 (|diff| 0.083 > tol 5e-07)
    """
    if actual is None:
        raise CheckError(f"{name}: got None -- did you forget to `return` the result?")
    try:
        a = _np_asarray(actual)
    except Exception as exc:  # pragma: no cover - exotic objects
        raise CheckError(f"{name}: could not convert the result to an array ({exc})") from None
    e = _np_asarray(expected)
    if a.shape != e.shape:
        raise CheckError(f"{name}: expected shape {e.shape}, got {a.shape}")
    if check_dtype is not None and a.dtype != _np.dtype(check_dtype):
        raise CheckError(f"{name}: expected dtype {_np.dtype(check_dtype)}, got {a.dtype}")
    if a.dtype == object or e.dtype == object:
        raise CheckError(f"{name}: expected numbers, got an array of dtype object")
    a64 = a.astype(float)
    e64 = e.astype(float)
    finite_a, finite_e = _np_isfinite(a64), _np_isfinite(e64)
    if (finite_a != finite_e).any():
        idx = _np_unravel_index(_np_argmax(finite_a != finite_e), a.shape) if a.ndim else ()
        raise CheckError(f"{name}: entry {idx} expected {e64[idx]!r}, got {a64[idx]!r} "
                         "(a NaN/inf where a finite number was expected, or the reverse)")
    diff = _np_asarray(_np_abs(a64 - e64)).reshape(a.shape)
    tol = _np_asarray(atol + rtol * _np_abs(e64)).reshape(a.shape)
    if a.ndim:
        diff[~finite_e] = 0.0
        tol[~finite_e] = 0.0
    elif not finite_e:
        diff, tol = _np_asarray(0.0), _np_asarray(0.0)
    bad = diff > tol
    if bad.any():
        i = _np_unravel_index(_np_argmax(diff - tol), a.shape) if a.ndim else ()
        n_bad = int(bad.sum())
        raise CheckError(
            f"{name}: entry {tuple(int(k) for k in i)} expected {e64[i]:.7g}, got {a64[i]:.7g} "
            f"(|diff| {diff[i]:.3g} > tol {tol[i]:.3g}); {n_bad} of {a.size} entries off.\n"
            f"expected:\n{_fmt(e)}\ngot:\n{_fmt(a)}")


def assert_rel_error(actual, expected, name: str = "value", max_rel: float = 1e-7) -> None:
    """Assert the CS231n-style relative error is below ``max_rel``."""
    if actual is None:
        raise CheckError(f"{name}: got None -- did you forget to `return` the result?")
    a, e = _np_asarray(actual), _np_asarray(expected)
    if a.shape != e.shape:
        raise CheckError(f"{name}: expected shape {e.shape}, got {a.shape}")
    err = rel_error(a, e)
    if not err < max_rel:
        raise CheckError(f"{name}: relative error {err:.3e} is above {max_rel:.0e}.\n"
                         f"expected:\n{_fmt(e)}\ngot:\n{_fmt(a)}")


def numeric_gradient(f, x, dout=None, h: float = 1e-5):
    """Centered-difference gradient of ``sum(f(x) * dout)`` w.r.t. ``x``.

    ``f`` takes the array ``x`` (modified in place and restored) and returns a
    scalar or an array; ``dout`` is the upstream gradient (ones if omitted).
    Works in float64: pass float64 arrays for a tight check.
    """
    x = _np_asarray(x)
    if x.dtype != _np.float64:
        raise CheckError("numeric_gradient needs a float64 array (float32 is too coarse for h=1e-5)")
    grad = _np_zeros_like(x)
    it = _np_nditer(x, flags=["multi_index"], op_flags=["readwrite"])
    while not it.finished:
        ix = it.multi_index
        old = x[ix]
        x[ix] = old + h
        fp = _np_asarray(f(x), dtype=float).copy()
        x[ix] = old - h
        fm = _np_asarray(f(x), dtype=float).copy()
        x[ix] = old
        d = 1.0 if dout is None else _np_asarray(dout, dtype=float)
        grad[ix] = float(((fp - fm) * d).sum()) / (2 * h)
        it.iternext()
    return grad


def check_gradient(f, x, analytic, dout=None, name: str = "gradient",
                   max_rel: float = 1e-7, h: float = 1e-5) -> float:
    """Compare an analytic gradient with a centered-difference one; returns the rel. error."""
    num = numeric_gradient(f, x, dout=dout, h=h)
    if analytic is None:
        raise CheckError(f"{name}: got None -- did you forget to `return` the gradient?")
    analytic = _np_asarray(analytic)
    if analytic.shape != num.shape:
        raise CheckError(f"{name}: gradient has shape {analytic.shape}, expected {num.shape}")
    err = rel_error(analytic, num)
    if not err < max_rel:
        raise CheckError(f"{name}: relative error {err:.3e} against a numeric gradient check "
                         f"(centered differences, h={h}) is above {max_rel:.0e}.\n"
                         f"numeric:\n{_fmt(num)}\nyours:\n{_fmt(analytic)}")
    return err


def assert_raises(exc_type, fn, *args, name: str = "call", match: str | None = None, **kwargs):
    """Assert ``fn(*args, **kwargs)`` raises ``exc_type`` (optionally with ``match`` in the message)."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        if match is not None and match.lower() not in str(exc).lower():
            raise CheckError(f"{name}: raised {exc_type.__name__} as expected, but its message "
                             f"{str(exc)!r} does not mention {match!r}") from None
        return exc
    except Exception as exc:
        raise CheckError(f"{name}: expected {exc_type.__name__}, but got "
                         f"{type(exc).__name__}: {exc}") from None
    raise CheckError(f"{name}: expected {exc_type.__name__} to be raised, but it returned normally")


def assert_no_warnings(fn, *args, name: str = "call", **kwargs):
    """Run ``fn`` with numpy floating-point warnings turned into errors; return its result."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        # underflow to 0 is what a stable formula does (exp(-2000)); over/divide/invalid are not
        with _np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            try:
                return fn(*args, **kwargs)
            except (FloatingPointError, RuntimeWarning) as exc:
                raise CheckError(f"{name}: numerical problem ({exc}); use a numerically "
                                 "stable formulation") from None


# --- multiple-choice quiz answers ---------------------------------------------------------
# The checks below only know the FORMAT of an answer (a set of option letters). The right
# answer is written in a hidden test and passed as ``expected``: utils never holds it.
_set_types = (set, frozenset)
_frozenset = frozenset
_sorted = sorted


def _letters(s) -> str:
    return ", ".join(repr(c) for c in _sorted(s))


def check_choice(answer, options, name: str = "answer", n: int | None = None, expected=None):
    """Check a multiple-choice answer: a ``set`` of option letters such as ``{"b", "d"}``.

    ``options`` is the string of valid letters (``"abcd"``); ``n`` the number of options the
    question asks for (``None``: one or more). Raises ``CheckError`` with a message saying what
    to fix. With ``expected`` (the right set; hidden tests only) a well-formed but wrong answer
    also raises, without saying which options are right. Returns the answer as a frozenset.
    """
    opts = str(options)
    # placeholders, not letters: an example set must never look like a hint
    example = '{"x"} or {"x", "y"} (x, y: option letters)'
    if answer is None:
        raise CheckError(f"{name}: got None -- set it to a set of option letters, e.g. {name} = {example}")
    if type(answer) not in _set_types:
        if type(answer) is str:
            raise CheckError(f"{name}: got the string {answer!r}; write a set of letters in curly braces, "
                             f"e.g. {name} = {example}")
        raise CheckError(f"{name}: expected a set of option letters such as {example}, got "
                         f"{type(answer).__name__} {answer!r}")
    for item in answer:
        if type(item) is not str:
            raise CheckError(f"{name}: {item!r} is not an option letter; the options are {_letters(opts)}")
        if len(item) != 1 or item not in opts:
            hint = " (use lowercase letters)" if item.lower() in opts and len(item) == 1 else ""
            raise CheckError(f"{name}: {item!r} is not an option; the options are {_letters(opts)}{hint}")
    got = _frozenset(answer)
    if not got:
        raise CheckError(f"{name}: the set is empty; choose at least one of {_letters(opts)}")
    if n is not None and len(got) != n:
        raise CheckError(f"{name}: this question asks for exactly {n} option{'s' if n != 1 else ''}, "
                         f"you chose {len(got)}: {_letters(got)}")
    if expected is not None:
        want = _frozenset(expected)
        if not want or any(type(c) is not str or c not in opts for c in want):
            raise ValueError(f"check_choice: expected {expected!r} is not a set of options from {opts!r}")
        if got != want:
            raise CheckError(f"{name}: {_letters(got)} is not the right answer (0 points for this question)")
    return got


# A student cell could swap a check for one that always passes
# (``utils.checks.assert_close = lambda *a, **k: None``); test cells import the checks
# afresh, so the module object itself refuses new values for its names.
import sys as _sys  # noqa: E402
import types as _types  # noqa: E402


class ReadOnlyModule(_types.ModuleType):
    """A module whose public names cannot be rebound or deleted (dunder names still can,
    so ``importlib.reload`` works)."""

    def __setattr__(self, name, value):
        if name.startswith("__"):
            return super().__setattr__(name, value)
        raise AttributeError(f"{self.__name__}.{name} is read-only: the autograder's tests use it, "
                             "so it cannot be replaced")

    def __delattr__(self, name):
        raise AttributeError(f"{self.__name__}.{name} is read-only: the autograder's tests use it")


def freeze_module(name: str) -> None:
    mod = _sys.modules[name]
    if not isinstance(mod, ReadOnlyModule):
        mod.__class__ = ReadOnlyModule


freeze_module(__name__)
