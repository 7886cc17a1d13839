"""Simulation of customers from known parameters (vectorized; used to test recovery)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import FloatArray, as_float_array


@dataclass(frozen=True)
class SimulatedCustomers:
    """Simulated customer histories.

    Attributes:
        frequency: Repeat purchases in the calibration period (x).
        recency: Time (or period) of the last repeat purchase (t_x), 0 when none.
        T: Calibration length per customer (age, or transaction opportunities for BG/BB).
        holdout_frequency: Purchases in the holdout period that follows.
        alive: Whether each customer is still active at the end of calibration.
    """

    frequency: FloatArray
    recency: FloatArray
    T: FloatArray
    holdout_frequency: FloatArray
    alive: np.ndarray

    @property
    def rfm(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``(frequency, recency, T)``, ready to pass to ``fit``."""
        return self.frequency, self.recency, self.T


def _ages(T: ArrayLike, entity: str) -> FloatArray:
    t = as_float_array(T, entity=entity, field="T")
    bad = t < 0
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            "must not be negative", entity=entity, field="T", value=float(t[i]), row=i
        )
    return t


def _last_arrival(
    rng: np.random.Generator, x: FloatArray, n: FloatArray, span: FloatArray
) -> FloatArray:
    """Time of the x-th of n uniform arrivals on (0, span): span · Beta(x, n - x + 1)."""
    xs = np.maximum(x, 1.0)
    return np.where(x > 0, span * rng.beta(xs, np.maximum(n - x, 0.0) + 1.0), 0.0)


def simulate_beta_geo(
    params: dict[str, float],
    T: ArrayLike,
    *,
    holdout: float = 0.0,
    seed: int | None = None,
    modified: bool = False,
) -> SimulatedCustomers:
    """BG/NBD (or MBG/NBD with ``modified``) customers with ages ``T``.

    The purchase count before dropout is geometric, arrivals are Poisson, and the last
    arrival among n in (0, T] is T·Beta(x, n - x + 1), so no per-customer loop is needed.
    """
    entity = "ModifiedBetaGeo" if modified else "BetaGeo"
    t = _ages(T, entity)
    rng = np.random.default_rng(seed)
    size = len(t)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size)
    p = rng.beta(params["a"], params["b"], size)
    # repeat purchases made before dropping out (BG: dropout after a purchase >= 1)
    k = rng.geometric(p).astype(np.float64) - (1.0 if modified else 0.0)
    n = rng.poisson(lam * t).astype(np.float64)
    x = np.minimum(k, n)
    alive = k > n
    tx = _last_arrival(rng, x, n, t)
    future = rng.poisson(lam * holdout).astype(np.float64) if holdout > 0 else np.zeros(size)
    hold = np.where(alive, np.minimum(future, k - x), 0.0)
    return SimulatedCustomers(x, tx, t, hold, alive)


def simulate_pareto_nbd(
    params: dict[str, float], T: ArrayLike, *, holdout: float = 0.0, seed: int | None = None
) -> SimulatedCustomers:
    """Pareto/NBD customers with ages ``T`` (exponential lifetimes, Poisson purchases)."""
    t = _ages(T, "ParetoNBD")
    rng = np.random.default_rng(seed)
    size = len(t)
    lam = rng.gamma(params["r"], 1.0 / params["alpha"], size)
    mu = rng.gamma(params["s"], 1.0 / params["beta"], size)
    life = rng.exponential(1.0 / mu)
    active = np.minimum(life, t)
    x = rng.poisson(lam * active).astype(np.float64)
    tx = _last_arrival(rng, x, x, active)
    alive = life > t
    span = np.clip(np.minimum(life, t + holdout) - t, 0.0, None)
    hold = rng.poisson(lam * span).astype(np.float64) if holdout > 0 else np.zeros(size)
    return SimulatedCustomers(x, tx, t, hold, alive)


def simulate_beta_geo_beta_binom(
    params: dict[str, float],
    n_periods: ArrayLike,
    *,
    holdout_periods: int = 0,
    seed: int | None = None,
) -> SimulatedCustomers:
    """BG/BB customers; a loop over the (few) transaction opportunities."""
    n = as_float_array(n_periods, entity="BetaGeoBetaBinom", field="n_periods")
    rng = np.random.default_rng(seed)
    size = len(n)
    p = rng.beta(params["alpha"], params["beta"], size)
    theta = rng.beta(params["gamma"], params["delta"], size)
    alive = np.ones(size, dtype=bool)
    x = np.zeros(size)
    tx = np.zeros(size)
    hold = np.zeros(size)
    horizon = int(n.max()) + int(holdout_periods) if size else 0
    alive_at_n = np.ones(size, dtype=bool)
    for period in range(1, horizon + 1):
        alive &= rng.random(size) >= theta
        buy = alive & (rng.random(size) < p)
        in_cal = period <= n
        x += buy & in_cal
        tx = np.where(buy & in_cal, float(period), tx)
        hold += buy & ~in_cal & (period <= n + holdout_periods)
        alive_at_n = np.where(period == n, alive, alive_at_n)
    return SimulatedCustomers(x, tx, n, hold, alive_at_n)


def simulate_survival(
    params: dict[str, float], n_customers: int, n_periods: int, *, seed: int | None = None
) -> FloatArray:
    """Survivor counts ``[n0, n1, ..., n_periods]`` of an sBG cohort."""
    rng = np.random.default_rng(seed)
    theta = rng.beta(params["alpha"], params["beta"], int(n_customers))
    lifetime = rng.geometric(theta)  # period in which each customer churns (>= 1)
    k = np.arange(int(n_periods) + 1)
    return np.asarray((lifetime[None, :] > k[:, None]).sum(axis=1), dtype=np.float64)


def simulate_spend(
    params: dict[str, float], frequency: ArrayLike, *, seed: int | None = None
) -> FloatArray:
    """Average spend of each customer's ``frequency`` transactions under Gamma-Gamma (0 when x=0)."""
    x = as_float_array(frequency, entity="GammaGamma", field="frequency")
    rng = np.random.default_rng(seed)
    nu = rng.gamma(params["q"], 1.0 / params["v"], len(x))
    xs = np.maximum(x, 1.0)
    zbar = rng.gamma(params["p"] * xs, 1.0 / (nu * xs))
    return np.where(x > 0, zbar, 0.0)
