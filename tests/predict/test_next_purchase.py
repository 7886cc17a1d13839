"""Next-purchase timing from BG/NBD, MBG/NBD and Pareto/NBD against an independent Monte-Carlo.

The oracle draws (λ, dropout) from the prior, weights each draw by the likelihood of the
customer's history (x, t_x, T) written from the model's story (not from the closed
forms under test), and then follows the process after T: alive or not at T, and if alive
the first purchase (for Pareto/NBD: before dropout).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ValidationError
from ecomcrm.predict import BetaGeo, ModifiedBetaGeo, ParetoNBD

BG = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
PNBD = {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}
DRAWS = 400_000


def _bg_oracle(
    params: dict[str, float], x: float, tx: float, T: float, t: float, *, modified: bool, seed: int
) -> tuple[float, float]:
    """(P(alive at T), P(a purchase in (T, T+t])) by importance sampling from the prior."""
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], DRAWS)
    p = rng.beta(params["a"], params["b"], DRAWS)
    # BG/NBD: a coin after each repeat purchase; MBG/NBD: also after the first purchase
    flips = x + 1 if modified else x
    alive = (1 - p) ** flips * lam**x * np.exp(-lam * T)
    dead = np.zeros(DRAWS)
    if x > 0 or modified:
        dead = p * (1 - p) ** (flips - 1) * lam**x * np.exp(-lam * tx)
    weight = alive + dead
    p_alive = float(alive.sum() / weight.sum())
    buys = float((alive * -np.expm1(-lam * t)).sum() / weight.sum())
    return p_alive, buys


def _pnbd_oracle(
    params: dict[str, float], x: float, tx: float, T: float, t: float, *, seed: int
) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], DRAWS)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], DRAWS)
    total = lam + mu
    alive = lam**x * np.exp(-total * T)
    # dropout between t_x and T after the x-th purchase
    dead = lam**x * mu / total * (np.exp(-total * tx) - np.exp(-total * T))
    weight = alive + dead
    p_alive = float(alive.sum() / weight.sum())
    # alive at T: the next purchase comes before dropout and within t
    buys = float((alive * lam / total * -np.expm1(-total * t)).sum() / weight.sum())
    return p_alive, buys


CASES = [(0, 0.0, 38.86), (1, 10.0, 38.86), (2, 30.43, 38.86), (4, 38.0, 40.0), (7, 20.0, 52.0)]


@pytest.mark.parametrize(("x", "tx", "T"), CASES)
@pytest.mark.parametrize("model_cls", [BetaGeo, ModifiedBetaGeo])
def test_beta_geo_timing_matches_monte_carlo(
    model_cls: type[BetaGeo], x: int, tx: float, T: float
) -> None:
    model = model_cls(params=BG)
    for t in (2.0, 13.0, 52.0):
        p_alive, buys = _bg_oracle(
            BG, x, tx, T, t, modified=model_cls is ModifiedBetaGeo, seed=x + int(t)
        )
        assert model.conditional_probability_alive([x], [tx], [T])[0] == pytest.approx(
            p_alive, abs=0.01
        )
        got = model.conditional_probability_purchase_within(t, [x], [tx], [T])[0]
        assert got == pytest.approx(buys, abs=0.01)
    wait = model.conditional_time_to_purchase([x], [tx], [T])[0]
    if np.isfinite(wait):
        # the median: the oracle's probability at that time is 1/2
        assert _bg_oracle(BG, x, tx, T, wait, modified=model_cls is ModifiedBetaGeo, seed=7)[
            1
        ] == pytest.approx(0.5, abs=0.01)
    else:
        assert model.conditional_probability_alive([x], [tx], [T])[0] <= 0.5


@pytest.mark.parametrize(("x", "tx", "T"), CASES)
def test_pareto_nbd_timing_matches_monte_carlo(x: int, tx: float, T: float) -> None:
    model = ParetoNBD(params=PNBD)
    for t in (2.0, 13.0, 52.0):
        p_alive, buys = _pnbd_oracle(PNBD, x, tx, T, t, seed=x + int(t))
        assert model.conditional_probability_alive([x], [tx], [T])[0] == pytest.approx(
            p_alive, abs=0.01
        )
        got = model.conditional_probability_purchase_within(t, [x], [tx], [T])[0]
        assert got == pytest.approx(buys, abs=0.01)
    wait = model.conditional_time_to_purchase([x], [tx], [T])[0]
    if np.isfinite(wait):
        assert _pnbd_oracle(PNBD, x, tx, T, wait, seed=11)[1] == pytest.approx(0.5, abs=0.01)
    else:  # never reaches 1/2 even over an unbounded window
        assert _pnbd_oracle(PNBD, x, tx, T, 1e7, seed=11)[1] < 0.51


@settings(max_examples=60)
@given(
    model=st.sampled_from([BetaGeo(params=BG), ModifiedBetaGeo(params=BG), ParetoNBD(params=PNBD)]),
    x=st.integers(0, 40),
    frac=st.floats(0.0, 1.0),
    T=st.floats(0.5, 500.0),
    probability=st.floats(0.05, 0.95),
)
def test_time_to_purchase_inverts_the_probability(
    model: BetaGeo | ParetoNBD, x: int, frac: float, T: float, probability: float
) -> None:
    tx = 0.0 if x == 0 else max(frac * T, 1e-3)
    wait = model.conditional_time_to_purchase([x], [tx], [T], probability=probability)[0]
    reach = model.conditional_probability_purchase_within(1e12, [x], [tx], [T])[0]
    if np.isfinite(wait):
        assert wait > 0  # a customer deemed alive is never due in the past
        got = model.conditional_probability_purchase_within(wait, [x], [tx], [T])[0]
        assert got == pytest.approx(probability, abs=1e-6)
    else:
        assert reach <= probability + 1e-6


def test_vectorized_equals_one_by_one() -> None:
    model = BetaGeo(params=BG)
    x, tx, T = np.array([0, 2, 5, 9]), np.array([0, 30.43, 10.0, 38.0]), np.full(4, 38.86)
    whole = model.conditional_time_to_purchase(x, tx, T)
    single = [
        model.conditional_time_to_purchase([a], [b], [c])[0]
        for a, b, c in zip(x, tx, T, strict=True)
    ]
    assert np.array_equal(whole, np.asarray(single))


def test_probability_must_be_inside_the_open_interval() -> None:
    with pytest.raises(ValidationError, match="probability"):
        BetaGeo(params=BG).conditional_time_to_purchase([1], [2.0], [3.0], probability=1.0)
