"""Parameter recovery on >= 50,000 simulated customers, and the simulators themselves."""

import numpy as np
import pytest

from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
)

N = 50_000


def ages(n: int, seed: int = 0) -> np.ndarray:
    # cohorts acquired over a year, observed in whole weeks
    return np.random.default_rng(seed).integers(1, 53, n).astype(float)


def assert_recovered(model, truth, k=4.0):
    se = model.standard_errors
    for name, value in truth.items():
        assert abs(model.params[name] - value) < k * se[name], (
            name,
            model.params[name],
            value,
            se[name],
        )


@pytest.mark.parametrize(
    ("cls", "truth"),
    [
        (BetaGeo, {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}),
        (ModifiedBetaGeo, {"r": 0.525, "alpha": 6.183, "a": 0.891, "b": 1.614}),
        (ParetoNBD, {"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669}),
    ],
)
def test_rfm_models_recover_parameters(cls, truth):
    sim = cls(params=truth).simulate(ages(N), seed=42)
    fitted = cls().fit(*sim.rfm)
    assert fitted.convergence.converged
    assert_recovered(fitted, truth)


def test_bgbb_recovers_parameters():
    truth = {"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783}
    sim = BetaGeoBetaBinom(params=truth).simulate(np.full(N, 6.0), seed=7)
    fitted = BetaGeoBetaBinom().fit(*sim.rfm)
    assert fitted.convergence.n_unique_rows <= 22
    assert_recovered(fitted, truth)


def test_gamma_gamma_recovers_parameters():
    truth = {"p": 6.25, "q": 3.74, "v": 15.44}
    x = np.random.default_rng(1).integers(1, 10, N).astype(float)
    m = GammaGamma(params=truth).simulate(x, seed=2)
    assert_recovered(GammaGamma().fit(x, m), truth)


def test_shifted_beta_geo_recovers_parameters():
    truth = {"alpha": 0.704, "beta": 1.182}
    survivors = ShiftedBetaGeo(params=truth).simulate(N, 12, seed=3)
    assert survivors[0] == N
    assert np.all(np.diff(survivors) <= 0)
    assert_recovered(ShiftedBetaGeo().fit_survival(survivors), truth)


def test_simulated_histories_are_consistent():
    sim = BetaGeo(params={"r": 0.5, "alpha": 3.0, "a": 0.8, "b": 2.5}).simulate(
        ages(5000), holdout=20.0, seed=0
    )
    x, tx, T = sim.rfm
    assert np.all((tx <= T) & (tx >= 0))
    assert np.all((x == 0) == (tx == 0))
    assert np.all(sim.holdout_frequency[~sim.alive] == 0)
    p = ParetoNBD(params={"r": 0.5, "alpha": 3.0, "s": 0.5, "beta": 10.0}).simulate(
        ages(5000), seed=0
    )
    assert np.all((p.recency <= p.T) & ((p.frequency == 0) == (p.recency == 0)))
    b = BetaGeoBetaBinom(params={"alpha": 1, "beta": 1, "gamma": 1, "delta": 1}).simulate(
        [6] * 500, seed=0
    )
    assert np.all((b.frequency <= b.recency) & (b.recency <= 6))


def test_mean_predictions_match_simulated_holdout():
    truth = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    m = BetaGeo(params=truth)
    sim = m.simulate(np.full(N, 39.0), holdout=39.0, seed=5)
    predicted = m.conditional_expected_purchases(39.0, *sim.rfm)
    # conditional expectations average to the realised holdout purchases
    se = sim.holdout_frequency.std() / np.sqrt(N)
    assert abs(predicted.mean() - sim.holdout_frequency.mean()) < 4 * se
    alive = m.conditional_probability_alive(*sim.rfm)
    assert abs(alive.mean() - sim.alive.mean()) < 4 * np.sqrt(0.25 / N)
    # and the unconditional expectation matches the calibration counts
    assert abs(
        m.expected_purchases(39.0)[0] - sim.frequency.mean()
    ) < 4 * sim.frequency.std() / np.sqrt(N)
