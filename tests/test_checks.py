import numpy as np
import pytest

from utils import checks
from utils.checks import (CheckError, assert_close, assert_raises, check_choice, check_gradient, numeric_gradient,
                          rel_error)


def test_rel_error_known_values():
    assert rel_error([1.0], [1.0]) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)       # |1-3| / (1+3)
    assert rel_error([0.0, 2.0], [0.0, 2.2]) == pytest.approx(0.2 / 4.2)


def test_assert_close_names_the_worst_entry():
    with pytest.raises(CheckError) as err:
        assert_close([[1.0, 2.0], [3.0, 4.5]], [[1.0, 2.0], [3.0, 4.0]], name="zscore(test)")
    msg = str(err.value)
    assert "zscore(test)" in msg and "(1, 1)" in msg and "expected 4" in msg and "got 4.5" in msg
    assert "1 of 4 entries" in msg


def test_assert_close_shape_none_nan_and_pass():
    with pytest.raises(CheckError, match="expected shape"):
        assert_close(np.zeros(3), np.zeros((3, 1)))
    with pytest.raises(CheckError, match="forget to `return`"):
        assert_close(None, [1.0])
    with pytest.raises(CheckError, match="NaN"):
        assert_close([np.nan, 1.0], [0.0, 1.0])
    assert_close([np.nan, 1.0 + 1e-9], [np.nan, 1.0])   # NaN where NaN is expected is fine
    with pytest.raises(CheckError, match="dtype"):
        assert_close(np.zeros(2, np.float64), np.zeros(2), check_dtype=np.float32)


def test_checks_survive_a_student_rebinding_numpy(monkeypatch):
    # what a student cell could do after the test helpers were imported
    monkeypatch.setattr(np, "abs", lambda x: np.zeros_like(x))
    monkeypatch.setattr(np, "allclose", lambda *a, **k: True)
    monkeypatch.setattr(np, "max", lambda *a, **k: 0.0)
    with pytest.raises(CheckError):
        assert_close([1.0], [2.0])
    assert rel_error([1.0], [3.0]) == 0.5


def test_numeric_gradient_of_known_functions():
    x = np.array([[1.0, -2.0], [0.5, 3.0]])
    g = numeric_gradient(lambda v: (v ** 2).sum(), x)
    np.testing.assert_allclose(g, 2 * x, rtol=1e-8)
    dout = np.array([[1.0, 0.0], [2.0, -1.0]])
    g = numeric_gradient(lambda v: np.sin(v), x, dout=dout)
    np.testing.assert_allclose(g, np.cos(x) * dout, rtol=1e-8)
    with pytest.raises(CheckError, match="float64"):
        numeric_gradient(lambda v: v.sum(), x.astype(np.float32))


def test_check_gradient_accepts_right_and_rejects_wrong():
    x = np.random.default_rng(0).normal(size=(3, 4))
    assert check_gradient(lambda v: np.tanh(v).sum(), x, 1 - np.tanh(x) ** 2) < 1e-8
    with pytest.raises(CheckError, match="relative error"):
        check_gradient(lambda v: np.tanh(v).sum(), x, 1 - np.tanh(x))


def test_assert_raises():
    assert_raises(ValueError, int, "x")
    with pytest.raises(CheckError, match="returned normally"):
        assert_raises(ValueError, int, "3")
    with pytest.raises(CheckError, match="got TypeError"):
        assert_raises(ValueError, int, None)
    with pytest.raises(CheckError, match="does not mention"):
        assert_raises(ValueError, int, "x", match="NaN")


def test_assert_no_warnings():
    checks.assert_no_warnings(np.exp, np.array([1.0]))
    with pytest.raises(CheckError, match="numerically stable"):
        checks.assert_no_warnings(np.exp, np.array([1000.0]))


def test_assert_close_scalars_and_underflow():
    assert_close(1.2731, 1.2731, name="loss")
    assert_close(np.float64(2.0), 2.0)
    with pytest.raises(CheckError, match="expected 1.273"):
        assert_close(1.269, 1.273, name="loss", rtol=1e-4)
    # a stable softmax underflows exp(-2000) to 0: that is not a numerical problem
    checks.assert_no_warnings(lambda: np.exp(np.array([-2000.0, 0.0])))


# --- check_choice (multiple-choice quiz answers) -------------------------------------------
def test_check_choice_accepts_sets_and_returns_frozenset():
    assert check_choice({"b", "d"}, "abcd", "answer_q1") == frozenset({"b", "d"})
    assert check_choice(frozenset({"a"}), "abcd", n=1) == frozenset({"a"})
    assert check_choice({"c", "d"}, "abcd", n=2, expected={"d", "c"}) == frozenset({"c", "d"})


@pytest.mark.parametrize("bad, match", [
    (None, "got None"),
    ("bd", "got the string 'bd'"),
    (["b", "d"], "expected a set of option letters"),
    (("b",), "expected a set of option letters"),
    ("b", "curly braces"),
    (set(), "the set is empty"),
    ({"e"}, "'e' is not an option"),
    ({"B"}, "use lowercase"),
    ({"ab"}, "'ab' is not an option"),
    ({1}, "1 is not an option letter"),
])
def test_check_choice_format_errors_say_what_to_fix(bad, match):
    with pytest.raises(CheckError, match=match) as err:
        check_choice(bad, "abcd", name="answer_q1")
    assert "answer_q1" in str(err.value)


def test_check_choice_counts_and_wrong_answers():
    with pytest.raises(CheckError, match="exactly 1 option, you chose 2"):
        check_choice({"a", "b"}, "abcd", n=1)
    with pytest.raises(CheckError, match="not the right answer") as err:
        check_choice({"a", "b"}, "abcd", name="q", expected={"a"})
    assert "'b'" in str(err.value)   # names the student's own choice ...
    with pytest.raises(CheckError) as err:
        check_choice({"b"}, "abcd", name="q", expected={"a", "c"})
    assert "'a'" not in str(err.value) and "'c'" not in str(err.value)   # ... never the right one
    with pytest.raises(ValueError, match="not a set of options"):
        check_choice({"a"}, "abcd", expected={"z"})


def test_check_choice_is_not_fooled_by_set_subclasses():
    class AlwaysEqual(set):
        def __eq__(self, other):
            return True
        __hash__ = None
    with pytest.raises(CheckError, match="expected a set"):
        check_choice(AlwaysEqual({"a"}), "abcd", expected={"b"})
    with pytest.raises(AttributeError, match="read-only"):
        checks.check_choice = lambda *a, **k: None
