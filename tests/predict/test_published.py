"""Fits against published values and against lifetimes 0.11.3 (reference answers in tests/data)."""

import numpy as np
import pytest

from ecomcrm.predict import ShiftedBetaGeo


def sig3(value: float, expected: float) -> bool:
    return f"{value:.3g}" == f"{expected:.3g}"


@pytest.mark.parametrize(
    ("name", "published", "ll"),
    [
        # Fader, Hardie & Lee (2005) "Counting your customers the easy way", CDNOW 39 weeks
        ("BetaGeo", {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}, -9582.4),
        # Fader & Hardie (2005) Pareto/NBD note, same data
        ("ParetoNBD", {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}, -9595.0),
        # Fader, Hardie & Lee (2005) "RFM and CLV", Gamma-Gamma spend model
        ("GammaGamma", {"p": 6.25, "q": 3.74, "v": 15.44}, None),
        # Fader, Hardie & Shang (2010), donations data
        (
            "BetaGeoBetaBinom",
            {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783},
            -33225.6,
        ),
    ],
)
def test_published_parameters(fitted, name, published, ll):
    model = fitted[name]
    for key, value in published.items():
        assert sig3(model.params[key], value), (key, model.params[key], value)
    if ll is not None:
        assert model.log_likelihood == pytest.approx(ll, abs=0.05)
    assert model.convergence.converged
    assert all(np.isfinite(v) and v > 0 for v in model.standard_errors.values())


@pytest.mark.parametrize(
    ("survivors", "alpha", "beta"),
    [
        ([1000, 869, 743, 653, 593, 551, 517, 491], 0.668, 3.806),  # "high end"
        ([1000, 631, 468, 382, 326, 289, 262, 241], 0.704, 1.182),  # "regular"
    ],
)
def test_shifted_beta_geo_published(survivors, alpha, beta):
    # Fader & Hardie (2007) "How to project customer retention"
    m = ShiftedBetaGeo().fit_survival(survivors)
    assert sig3(m.params["alpha"], alpha)
    assert sig3(m.params["beta"], beta)


def test_shifted_beta_geo_derl_published():
    # Fader & Hardie (2010): DERL(d=0.1) after 7 renewals for the high-end segment is 7.53
    m = ShiftedBetaGeo(params={"alpha": 0.668, "beta": 3.806})
    assert m.discounted_expected_residual_lifetime(0.1, 7) == pytest.approx(7.53, abs=0.005)


@pytest.mark.parametrize(
    "name", ["BetaGeo", "ModifiedBetaGeo", "ParetoNBD", "GammaGamma", "BetaGeoBetaBinom"]
)
def test_parameters_agree_with_lifetimes(fitted, reference, name):
    for key, value in reference[name]["params"].items():
        assert fitted[name].params[key] == pytest.approx(value, rel=2e-4), key


@pytest.mark.parametrize("name", ["BetaGeo", "ModifiedBetaGeo", "ParetoNBD"])
def test_predictions_agree_with_lifetimes(fitted, reference, cdnow, name):
    ref = reference[name]
    m = fitted[name].__class__(params=ref["params"])  # same parameters: compare formulas only
    n = reference["subset_rows"]
    x, tx, T = (cdnow[k][:n] for k in ("frequency", "recency", "T"))
    np.testing.assert_allclose(
        m.conditional_expected_purchases(10, x, tx, T), ref["expected_10"], rtol=1e-7
    )
    np.testing.assert_allclose(m.conditional_probability_alive(x, tx, T), ref["p_alive"], rtol=1e-7)
    np.testing.assert_allclose(
        m.expected_purchases([1, 10, 39, 78]), ref["new_expected"], rtol=1e-7
    )
    if "p_n_39" in ref:
        np.testing.assert_allclose(
            m.probability_of_purchases(39, np.arange(8)), ref["p_n_39"], rtol=1e-7
        )
    if "cond_p_n_10" in ref:
        for n_, expected in enumerate(ref["cond_p_n_10"]):
            got = m.probability_of_purchases(10, n_, x[:10], tx[:10], T[:10])
            np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-12)


def test_gamma_gamma_and_clv_agree_with_lifetimes(reference, cdnow):
    from ecomcrm.predict import BetaGeo, GammaGamma

    ref = reference["GammaGamma"]
    gg = GammaGamma(params=ref["params"])
    bg = BetaGeo(params=reference["BetaGeo"]["params"])
    n = reference["subset_rows"]
    x, tx, T, m = (cdnow[k][:n] for k in ("frequency", "recency", "T", "monetary_value"))
    np.testing.assert_allclose(
        gg.conditional_expected_average_spend(x, m), ref["spend"], rtol=1e-10
    )
    # lifetimes' freq="W" means a month of 4.345 weeks; its discount rate is per month
    months = 4.345 * 7
    clv = gg.customer_lifetime_value(
        bg, x, tx, T, m, model_period="week", horizon=12, horizon_period=months, discount_rate=0.01
    )
    np.testing.assert_allclose(clv, ref["clv_W_12_001"], rtol=1e-7)
    clv = gg.customer_lifetime_value(
        bg, x, tx, T, m, model_period="W", horizon=3, horizon_period=months, discount_rate=0.1
    )
    np.testing.assert_allclose(clv, ref["clv_W_3_01"], rtol=1e-7)


def test_bgbb_predictions_agree_with_lifetimes(reference, donations):
    from ecomcrm.predict import BetaGeoBetaBinom

    ref = reference["BetaGeoBetaBinom"]
    m = BetaGeoBetaBinom(params=ref["params"])
    x, tx, n = donations["frequency"], donations["recency"], donations["periods"]
    np.testing.assert_allclose(
        m.conditional_expected_purchases(10, x, tx, n), ref["expected_10"], rtol=1e-6
    )
    np.testing.assert_allclose(
        m.conditional_probability_alive(0, x, tx, n), ref["p_alive_0"], rtol=1e-6
    )
    np.testing.assert_allclose(
        m.conditional_probability_alive(5, x, tx, n), ref["p_alive_5"], rtol=1e-6
    )
    total = donations["weights"].sum()
    np.testing.assert_allclose(
        m.probability_of_purchases(6, np.arange(7)) * total, ref["first_6"], rtol=1e-6
    )


@pytest.mark.parametrize("name", ["BetaGeo", "ModifiedBetaGeo", "GammaGamma", "BetaGeoBetaBinom"])
def test_standard_errors_agree_with_lifetimes(fitted, reference, name):
    # lifetimes takes the exact (autograd) Hessian; ours is a finite difference of the gradient
    for key, value in reference[name]["standard_errors"].items():
        assert fitted[name].standard_errors[key] == pytest.approx(value, rel=1e-3), key
