"""Likelihood mechanics: vectorized == per-customer sums, weights == repeated rows, gradients."""

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
)
from ecomcrm.predict._base import FitData, compress, numeric_gradient

RFM_MODELS = [BetaGeo, ModifiedBetaGeo, ParetoNBD]


@pytest.mark.parametrize("name", ["BetaGeo", "ModifiedBetaGeo", "ParetoNBD"])
def test_total_is_sum_of_customer_log_likelihoods(fitted, cdnow, name):
    m = fitted[name]
    per = m.customer_log_likelihood(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    assert per.shape == (2357,)
    assert per.sum() == pytest.approx(m.log_likelihood, rel=1e-9)
    # one at a time gives the same numbers
    for i in (0, 1, 2, 100, 2356):
        one = m.customer_log_likelihood(cdnow["frequency"][i], cdnow["recency"][i], cdnow["T"][i])
        assert one[0] == pytest.approx(per[i], rel=1e-12)


def test_gamma_gamma_and_bgbb_sums(fitted, cdnow, donations):
    gg = fitted["GammaGamma"]
    rep = cdnow["frequency"] > 0
    per = gg.customer_log_likelihood(cdnow["frequency"][rep], cdnow["monetary_value"][rep])
    assert per.sum() == pytest.approx(gg.log_likelihood, rel=1e-9)
    bb = fitted["BetaGeoBetaBinom"]
    per = bb.customer_log_likelihood(
        donations["frequency"], donations["recency"], donations["periods"]
    )
    assert per @ donations["weights"] == pytest.approx(bb.log_likelihood, rel=1e-9)


def test_hand_computed_bgnbd_likelihood():
    # x = 0: L = (alpha / (alpha + T))^r ; x > 0 from FHL (2005) eq. 6 written out by hand
    r, alpha, a, b = 0.243, 4.414, 0.793, 2.426
    m = BetaGeo(params={"r": r, "alpha": alpha, "a": a, "b": b})
    assert m.customer_log_likelihood([0], [0], [10.0])[0] == pytest.approx(
        r * np.log(alpha / (alpha + 10))
    )
    from math import gamma

    x, tx, T = 2, 5.0, 10.0
    B = lambda p, q: gamma(p) * gamma(q) / gamma(p + q)  # noqa: E731
    lead = B(a, b + x) / B(a, b) * gamma(r + x) * alpha**r / gamma(r)
    ll = lead * (
        1 / (alpha + T) ** (r + x) + a / (b + x - 1) / (alpha + tx) ** (r + x) * B(a, b + x) ** 0
    )
    # the second term carries B(a + 1, b + x - 1)/B(a, b + x) = a / (b + x - 1)
    assert m.customer_log_likelihood([x], [tx], [T])[0] == pytest.approx(np.log(ll), rel=1e-12)


def test_weights_equal_repeated_rows(cdnow):
    rng = np.random.default_rng(3)
    x, tx, T = (cdnow[k][:400] for k in ("frequency", "recency", "T"))
    w = rng.integers(1, 5, 400)
    for cls in RFM_MODELS:
        a = cls().fit(x, tx, T, weights=w)
        b = cls().fit(np.repeat(x, w), np.repeat(tx, w), np.repeat(T, w))
        for k, v in a.params.items():
            assert b.params[k] == pytest.approx(v, rel=1e-5), (cls.__name__, k)
        assert a.log_likelihood == pytest.approx(b.log_likelihood, rel=1e-9)
        assert a.convergence.n_unique_rows == b.convergence.n_unique_rows


def test_unidentified_parameters_raise_convergence_error():
    from ecomcrm.errors import ConvergenceError

    # five patterns with no heterogeneity in dropout: a and b run off to infinity
    x = np.array([0, 1, 3, 2, 0])
    tx = np.array([0, 4.0, 20.0, 10.0, 0])
    T = np.array([30.0, 30.0, 30.0, 25.0, 10.0])
    with pytest.raises(ConvergenceError, match=r"did not converge.*drift to the boundary.*a="):
        BetaGeo().fit(x, tx, T, weights=[50, 20, 7, 12, 30])


def test_compress_merges_identical_rows_and_drops_zero_weights():
    cols, w = compress(
        [np.array([2.0, 1, 2, 1]), np.array([5.0, 3, 5, 4])], np.array([1.0, 2, 3, 0])
    )
    assert [c.tolist() for c in cols] == [[1.0, 2.0], [3.0, 5.0]]
    assert w.tolist() == [2.0, 4.0]


@given(
    st.lists(
        st.tuples(st.integers(0, 5), st.integers(1, 3), st.floats(0.5, 3.0)),
        min_size=1,
        max_size=30,
    )
)
@settings(max_examples=40)
def test_compress_preserves_weighted_sums(rows):
    a = np.array([r[0] for r in rows], dtype=float)
    b = np.array([r[1] for r in rows], dtype=float)
    w = np.array([r[2] for r in rows])
    (ca, cb), cw = compress([a, b], w)
    assert cw.sum() == pytest.approx(w.sum())
    assert (cw * ca).sum() == pytest.approx((w * a).sum())
    assert len(set(zip(ca, cb, strict=True))) == len(ca)


def _data(model, x, tx, T):
    return model._prepare(
        FitData({"frequency": x, "recency": tx, "T": T}, np.ones(len(x)), len(x), 1.0)
    )


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo])
def test_analytic_gradient_matches_finite_differences(cls, cdnow):
    m = cls()
    data = _data(m, cdnow["frequency"], cdnow["recency"], cdnow["T"])
    theta = np.log([0.3, 5.0, 0.9, 2.0])
    _, grads = m._loglik(tuple(np.exp(theta)), data, True)
    numeric = numeric_gradient(m._loglik, theta, data, step=1e-6)
    for g, n in zip(grads, numeric, strict=True):
        np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-7)


def test_other_analytic_gradients(cdnow, donations):
    gg = GammaGamma()
    rep = cdnow["frequency"] > 0
    data = gg._prepare(
        FitData(
            {
                "frequency": cdnow["frequency"][rep],
                "monetary_value": cdnow["monetary_value"][rep] / 30,
            },
            np.ones(rep.sum()),
            int(rep.sum()),
            1.0,
        )
    )
    bb = BetaGeoBetaBinom()
    bdata = FitData(
        {
            "frequency": donations["frequency"],
            "recency": donations["recency"],
            "n_periods": donations["periods"],
        },
        donations["weights"],
        22,
        1.0,
    )
    sbg = ShiftedBetaGeo()
    sdata = FitData(
        {"periods": np.array([1.0, 2, 3, 3]), "churned": np.array([1.0, 1, 1, 0])},
        np.ones(4),
        4,
        1.0,
    )
    for model, d, theta in (
        (gg, data, np.log([5.0, 3.0, 0.5])),
        (bb, bdata, np.log([1.1, 0.8, 0.6, 2.5])),
        (sbg, sdata, np.log([0.7, 1.3])),
    ):
        _, grads = model._loglik(tuple(np.exp(theta)), d, True)
        numeric = numeric_gradient(model._loglik, theta, d, step=1e-6)
        for g, n in zip(grads, numeric, strict=True):
            np.testing.assert_allclose(g, n, rtol=1e-5, atol=1e-7)


def test_time_unit_change_rescales_rate_parameters(cdnow):
    weeks = BetaGeo().fit(cdnow["frequency"], cdnow["recency"], cdnow["T"])
    days = BetaGeo().fit(cdnow["frequency"], cdnow["recency"] * 7, cdnow["T"] * 7)
    assert days.params["alpha"] == pytest.approx(weeks.params["alpha"] * 7, rel=1e-5)
    assert days.params["r"] == pytest.approx(weeks.params["r"], rel=1e-5)
    # densities in time carry 1/7 per repeat purchase
    shift = np.log(7) * cdnow["frequency"].sum()
    assert days.log_likelihood == pytest.approx(weeks.log_likelihood - shift, rel=1e-8)
