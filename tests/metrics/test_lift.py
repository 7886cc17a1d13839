"""Lift statistics against scipy.stats, published values and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special, stats

from ecomcrm.errors import ValidationError
from ecomcrm.metrics import newcombe_interval, prob_best, welch_interval, wilson_interval


@pytest.mark.parametrize(("x", "n"), [(0, 10), (1, 10), (56, 70), (48, 80), (10, 10), (3, 1000)])
def test_wilson_equals_scipy(x: int, n: int) -> None:
    low, high = wilson_interval([x], [n])
    ci = stats.binomtest(x, n).proportion_ci(confidence_level=0.95, method="wilson")
    assert (low[0], high[0]) == pytest.approx((ci.low, ci.high), abs=1e-12)


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_newcombe_matches_the_published_table(
    counts: tuple[int, ...], expected: tuple[float, float]
) -> None:
    d = newcombe_interval(*counts)
    assert (round(d.low, 4), round(d.high, 4)) == expected
    assert d.difference == pytest.approx(counts[0] / counts[1] - counts[2] / counts[3])


def test_newcombe_empty_group_is_nan() -> None:
    d = newcombe_interval(0, 0, 3, 10)
    assert math.isnan(d.difference) and math.isnan(d.low) and not d.excludes_zero


def test_welch_equals_scipy_ttest_interval() -> None:
    rng = np.random.default_rng(3)
    a = rng.gamma(2.0, 20.0, 120)
    b = rng.gamma(2.0, 15.0, 80)
    ci = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    d = welch_interval(a.mean(), a.var(ddof=1), len(a), b.mean(), b.var(ddof=1), len(b))
    assert (d.low, d.high) == pytest.approx((ci.low, ci.high), rel=1e-10)
    assert d.excludes_zero == (ci.low > 0 or ci.high < 0)


def test_welch_needs_two_per_group() -> None:
    d = welch_interval(1.0, 0.0, 1, 2.0, 1.0, 5)
    assert d.difference == -1.0 and math.isnan(d.low)


def _miller(a_a: float, b_a: float, a_b: float, b_b: float) -> float:
    """P(p_B > p_A), Evan Miller's closed form for integer a_B."""
    total = 0.0
    for i in range(int(a_b)):
        total += math.exp(
            special.betaln(a_a + i, b_a + b_b)
            - math.log(b_b + i)
            - special.betaln(1 + i, b_b)
            - special.betaln(a_a, b_a)
        )
    return total


@pytest.mark.parametrize(
    ("xa", "na", "xb", "nb"), [(50, 1000, 65, 1000), (3, 20, 7, 25), (120, 500, 118, 500)]
)
def test_prob_best_two_variants_equals_the_closed_form(xa: int, na: int, xb: int, nb: int) -> None:
    p = prob_best([xa, xb], [na, nb])
    exact = _miller(1 + xa, 1 + na - xa, 1 + xb, 1 + nb - xb)
    assert p[1] == pytest.approx(exact, abs=2e-4)
    assert p.sum() == pytest.approx(1.0, abs=2e-4)


def test_prob_best_three_variants_against_seeded_monte_carlo() -> None:
    x, n = np.array([40, 55, 52]), np.array([800, 800, 790])
    rng = np.random.default_rng(11)
    draws = rng.beta(1 + x, 1 + n - x, size=(400_000, 3))
    mc = np.bincount(draws.argmax(axis=1), minlength=3) / len(draws)
    assert prob_best(x, n) == pytest.approx(mc, abs=3e-3)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 300), st.integers(0, 300)), min_size=2, max_size=4))
def test_prob_best_sums_to_one_and_orders_like_the_posterior_means(pairs) -> None:  # type: ignore[no-untyped-def]
    x = [min(a, b) for a, b in pairs]
    n = [max(a, b) for a, b in pairs]
    p = prob_best(x, n)
    assert p.sum() == pytest.approx(1.0, abs=1e-3)
    assert ((p >= -1e-12) & (p <= 1 + 1e-12)).all()


def test_bad_counts_raise() -> None:
    with pytest.raises(ValidationError, match="successes"):
        prob_best([5, 2], [4, 10])
    with pytest.raises(ValidationError, match="confidence"):
        wilson_interval([1], [2], confidence=1.5)
    with pytest.raises(ValidationError, match="prior"):
        prob_best([1, 2], [4, 10], prior=(0.0, 1.0))
