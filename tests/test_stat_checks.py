import math

import numpy as np
import pytest

from utils.checks import CheckError
from utils.stat_checks import (assert_mean, assert_normal_shape, assert_same_std, assert_std,
                               assert_uniform_bounds, excess_kurtosis, std_error_of_std)


def test_std_error_formula_matches_simulation():
    rng = np.random.default_rng(0)
    n, reps = 400, 2000
    s_norm = rng.normal(0, 2.0, size=(reps, n)).std(axis=1)
    s_unif = rng.uniform(-3.0, 3.0, size=(reps, n)).std(axis=1)
    assert std_error_of_std(2.0, n, "normal") == pytest.approx(2.0 / math.sqrt(2 * n))
    assert std_error_of_std(math.sqrt(3), n, "uniform") == pytest.approx(math.sqrt(3) / math.sqrt(5 * n))
    assert s_norm.std() == pytest.approx(std_error_of_std(2.0, n, "normal"), rel=0.1)
    assert s_unif.std() == pytest.approx(std_error_of_std(math.sqrt(3.0), n, "uniform"), rel=0.1)
    with pytest.raises(ValueError):
        std_error_of_std(1.0, 10, "cauchy")


def test_correct_draws_pass_for_many_seeds():
    for seed in range(30):
        rng = np.random.default_rng(seed)
        w = rng.normal(0, 0.05, size=(300, 200))
        assert_std(w, 0.05, kind="normal")
        assert_mean(w, 0.0, 0.05)
        assert_normal_shape(w)
        u = rng.uniform(-0.1, 0.1, size=(300, 200))
        assert_std(u, 0.1 / math.sqrt(3), kind="uniform")
        assert_uniform_bounds(u, 0.1)
        assert_same_std(w, rng.normal(0, 0.05, size=(200, 300)))


def test_wrong_draws_fail_with_messages():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.1, size=(300, 200))
    with pytest.raises(CheckError, match="expected 0.0816"):
        assert_std(w, math.sqrt(2 / 300), name="he", hints={0.1: "fan_out used"})
    with pytest.raises(CheckError, match="hint: fan_out used"):
        assert_std(w, math.sqrt(2 / 300), name="he", hints={0.1: "fan_out used", 0.2: "other"})
    with pytest.raises(CheckError, match="mean"):
        assert_mean(w + 0.01, 0.0, 0.1)
    with pytest.raises(CheckError, match="uniform distribution has -1.2"):
        assert_normal_shape(rng.uniform(-1, 1, size=50000))
    with pytest.raises(CheckError, match="too large"):
        assert_uniform_bounds(rng.uniform(-0.2, 0.2, size=10000), 0.1)
    with pytest.raises(CheckError, match="too small"):
        assert_uniform_bounds(rng.uniform(-0.09, 0.09, size=10000), 0.1)
    with pytest.raises(CheckError, match="reference draws std"):
        assert_same_std(w, rng.normal(0, 0.12, size=(300, 200)))
    with pytest.raises(CheckError, match="forget to `return`"):
        assert_std(None, 1.0)
    with pytest.raises(CheckError, match="NaN"):
        assert_std([1.0, float("nan")], 1.0)


def test_excess_kurtosis_values():
    rng = np.random.default_rng(2)
    assert excess_kurtosis(rng.normal(size=200000)) == pytest.approx(0.0, abs=0.05)
    assert excess_kurtosis(rng.uniform(size=200000)) == pytest.approx(-1.2, abs=0.02)
