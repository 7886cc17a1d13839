"""Predictions: properties, extremes, CLV against a brute-force sum, intervals, labels."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
    churn_risk_labels,
    customer_lifetime_value,
    prediction_interval,
)

BG = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
MBG = ModifiedBetaGeo(params={"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614})
PNBD = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
MODELS = [BG, MBG, PNBD]


@st.composite
def histories(draw):
    T = draw(st.floats(0.5, 500.0))
    x = draw(st.integers(0, 300))
    tx = 0.0 if x == 0 else draw(st.floats(0.01, 1.0)) * T
    return float(x), tx, T


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
@given(h=histories(), t=st.floats(0.1, 200.0))
@settings(max_examples=60)
def test_prediction_properties(model, h, t):
    x, tx, T = h
    p = model.conditional_probability_alive([x], [tx], [T])[0]
    assert 0.0 <= p <= 1.0
    e1 = model.conditional_expected_purchases(t, [x], [tx], [T])[0]
    e2 = model.conditional_expected_purchases(2 * t, [x], [tx], [T])[0]
    assert np.isfinite(e1) and 0 <= e1 <= e2 * (1 + 1e-9) + 1e-12
    # a later last purchase means more likely alive
    if x > 0 and tx < T:
        later = model.conditional_probability_alive([x], [min(T, tx + (T - tx) / 2)], [T])[0]
        assert later >= p - 1e-9


@pytest.mark.parametrize("model", MODELS, ids=lambda m: type(m).__name__)
def test_extremes_stay_finite(model):
    x = np.array([0, 1, 500, 300, 250, 0, 1])
    tx = np.array([0, 1e-6, 1e6 - 1, 50.0, 1e5, 0, 9.99e5])
    T = np.array([1e-6, 1e6, 1e6, 1e6, 1e5, 1e7, 1e6])
    with np.errstate(all="raise"):
        p = model.conditional_probability_alive(x, tx, T)
        e = model.conditional_expected_purchases(52.0, x, tx, T)
        ll = model.customer_log_likelihood(x, tx, T)
    assert np.all(np.isfinite(p)) and np.all((p >= 0) & (p <= 1))
    assert np.all(np.isfinite(e)) and np.all(e >= 0)
    assert np.all(np.isfinite(ll))
    # a frequent buyer who has been silent for ages is gone; a customer active to the end is not
    assert p[3] < 1e-6 and p[2] > 0.5


@pytest.mark.parametrize(
    "cls", [BetaGeo, ModifiedBetaGeo, pytest.param(ParetoNBD, marks=pytest.mark.slow)]
)
def test_fits_on_awkward_shapes(cls):
    rng = np.random.default_rng(0)
    n = 5_000
    # 85% one-time buyers, very long tenures (days over 20 years), some heavy buyers
    T = rng.integers(1, 7300, n).astype(float)
    x = np.where(rng.random(n) < 0.85, 0, rng.negative_binomial(0.5, 0.02, n)).astype(float)
    tx = np.where(x > 0, np.ceil(rng.random(n) * T), 0.0)
    m = cls().fit(x, tx, T)
    assert m.convergence.converged
    assert np.isfinite(m.log_likelihood)
    assert all(np.isfinite(v) for v in m.standard_errors.values())


def test_clv_equals_brute_force_sum():
    rng = np.random.default_rng(1)
    T = rng.uniform(1, 60, 300)
    x = rng.integers(0, 8, 300).astype(float)
    tx = np.where(x > 0, rng.uniform(0.01, 1, 300) * T, 0.0)
    spend = rng.uniform(5, 50, 300)
    for model in MODELS:
        clv = customer_lifetime_value(
            model, x, tx, T, spend, model_period="week", horizon=6, discount_rate=0.02
        )
        step = (365.25 / 12) / 7
        expected = np.zeros(300)
        for k in range(1, 7):
            inc = model.conditional_expected_purchases(
                k * step, x, tx, T
            ) - model.conditional_expected_purchases((k - 1) * step, x, tx, T)
            expected += spend * inc / 1.02**k
        np.testing.assert_allclose(clv, expected, rtol=1e-10)


def test_clv_grouped_path_equals_direct_path():
    # >= 100,000 integer-aged customers take the grouped (x, T) path
    rng = np.random.default_rng(2)
    n = 120_000
    T = rng.integers(1, 365, n).astype(float)
    x = rng.integers(0, 6, n).astype(float)
    tx = np.where(x > 0, np.ceil(rng.random(n) * T), 0.0)
    grouped = BG.conditional_expected_purchases(30.0, x, tx, T)
    direct = np.concatenate(
        [
            BG.conditional_expected_purchases(
                30.0, x[i : i + 50_000], tx[i : i + 50_000], T[i : i + 50_000]
            )
            for i in range(0, n, 50_000)
        ]
    )
    np.testing.assert_allclose(grouped, direct, rtol=1e-12)
    clv = customer_lifetime_value(BG, x, tx, T, 10.0, model_period="day")
    clv_small = customer_lifetime_value(BG, x[:1000], tx[:1000], T[:1000], 10.0, model_period="day")
    np.testing.assert_allclose(clv[:1000], clv_small, rtol=1e-12)


def test_time_units_are_explicit():
    x, tx, T = [2.0], [30.43], [38.86]
    weekly = customer_lifetime_value(BG, x, tx, T, 20.0, model_period="week", horizon=12)
    # the same model with its rate in days, fed days, gives the same money
    daily_model = BetaGeo(params={**BG.params, "alpha": BG.params["alpha"] * 7})
    daily = customer_lifetime_value(
        daily_model, x, [30.43 * 7], [38.86 * 7], 20.0, model_period="day", horizon=12
    )
    np.testing.assert_allclose(weekly, daily, rtol=1e-10)
    yearly = customer_lifetime_value(
        BG, x, tx, T, 20.0, model_period="week", horizon=1, horizon_period="year", discount_rate=0.0
    )
    monthly = customer_lifetime_value(
        BG, x, tx, T, 20.0, model_period="week", horizon=12, discount_rate=0.0
    )
    np.testing.assert_allclose(yearly, monthly, rtol=1e-10)
    assert yearly[0] == pytest.approx(
        20.0 * BG.conditional_expected_purchases(365.25 / 7, x, tx, T)[0]
    )


def test_new_customer_and_pmf_consistency():
    for model in MODELS:
        n = np.arange(400)
        p = model.probability_of_purchases(20.0, n)
        assert p.sum() == pytest.approx(1.0, abs=1e-6)
        assert (n * p).sum() == pytest.approx(model.expected_purchases(20.0)[0], rel=1e-5)


def test_bgbb_and_sbg_predictions():
    bb = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
    p = bb.probability_of_purchases(6, np.arange(7))
    assert p.sum() == pytest.approx(1.0)
    assert (np.arange(7) * p).sum() == pytest.approx(bb.expected_purchases(6)[0])
    alive_now = bb.conditional_probability_alive(0, [2], [3], [6])
    alive_later = bb.conditional_probability_alive(5, [2], [3], [6])
    assert alive_later < alive_now <= 1
    sbg = ShiftedBetaGeo(params={"alpha": 0.704, "beta": 1.182})
    k = np.arange(1, 30)
    s = sbg.survival_function(k)
    np.testing.assert_allclose(s[1:] / s[:-1], sbg.retention_rate(k[1:]))
    np.testing.assert_allclose(sbg.survival_function(k - 1) - s, sbg.churn_probability(k))
    # DERL closed form equals the defining sum
    big = sbg.survival_function(np.arange(20000))
    direct = sum(big[3 + j + 1] / big[3] / 1.1**j for j in range(5000))
    assert sbg.discounted_expected_residual_lifetime(0.1, 3) == pytest.approx(direct, rel=1e-8)


def test_gamma_gamma_spend_shrinks_to_population_mean():
    gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
    mean = gg.expected_average_spend()
    e = gg.conditional_expected_average_spend([0, 1, 10, 1000], [0, 100.0, 100.0, 100.0])
    assert e[0] == pytest.approx(mean)
    assert mean < e[1] < e[2] < e[3] < 100.0


def test_parameter_intervals_and_draws(fitted):
    m = fitted["BetaGeo"]
    draws = m.sample_params(4000, seed=0)
    assert set(draws) == {"r", "alpha", "a", "b"}
    assert all(v.shape == (4000,) and np.all(v > 0) for v in draws.values())
    for name, (lo, hi) in m.confidence_intervals(0.95).items():
        assert lo < m.params[name] < hi
        se = m.standard_errors[name]
        assert np.std(draws[name]) == pytest.approx(se, rel=0.15)


def test_prediction_intervals_are_vectorized_and_chunked(fitted, cdnow):
    m = fitted["BetaGeo"]
    x, tx, T = cdnow["frequency"][:500], cdnow["recency"][:500], cdnow["T"][:500]
    point = m.conditional_probability_alive(x, tx, T)
    lo, hi = prediction_interval(m, "conditional_probability_alive", x, tx, T, n_draws=100, seed=1)
    lo2, hi2 = prediction_interval(
        m, "conditional_probability_alive", x, tx, T, n_draws=100, seed=1, max_cells=1000
    )
    np.testing.assert_allclose(lo, lo2)
    np.testing.assert_allclose(hi, hi2)
    assert np.all(lo <= point + 1e-9) and np.all(point <= hi + 1e-9)
    assert np.mean(hi - lo) > 0
    clo, chi = prediction_interval(
        m, customer_lifetime_value, x, tx, T, 25.0, model_period="week", n_draws=50, seed=2
    )
    clv = customer_lifetime_value(m, x, tx, T, 25.0, model_period="week")
    assert np.mean((clo <= clv) & (clv <= chi)) > 0.95
    for name in ("ParetoNBD", "GammaGamma", "BetaGeoBetaBinom"):
        assert fitted[name].sample_params(3, seed=0)


def test_churn_risk_labels():
    labels = churn_risk_labels([0.0, 0.29, 0.3, 0.69, 0.7, 1.0])
    assert labels.tolist() == ["high", "high", "medium", "medium", "low", "low"]
    custom = churn_risk_labels([0.1, 0.9], thresholds=[0.5], labels=["at risk", "ok"])
    assert custom.tolist() == ["at risk", "ok"]


def test_discrete_and_spend_extremes_stay_finite():
    bb = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
    x = np.array([0.0, 1, 400, 250, 499])
    tx = np.array([0.0, 1, 400, 260, 500])
    n = np.full(5, 500.0)
    with np.errstate(all="raise"):
        ll = bb.customer_log_likelihood(x, tx, n)
        p = bb.conditional_probability_alive(0, x, tx, n)
        e = bb.conditional_expected_purchases(10, x, tx, n)
    assert np.all(np.isfinite(ll)) and np.all((p >= 0) & (p <= 1)) and np.all(np.isfinite(e))
    gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
    with np.errstate(all="raise"):
        ll = gg.customer_log_likelihood([1, 1000, 5], [1e-3, 1e6, 1e9])
    assert np.all(np.isfinite(ll))
