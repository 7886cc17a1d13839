from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, hyp2f1

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import (
    BaseModel,
    FitData,
    FloatArray,
    as_float_array,
    check_lengths,
    validate_weights,
)
from ecomcrm.predict._simulate import simulate_survival


def shifted_beta_geo_loglik(
    params: tuple[Any, ...], data: FitData, gradient: bool
) -> tuple[FloatArray, list[FloatArray] | None]:
    """Per-row sBG log-likelihood: churned rows log P(T = t), others log S(t)."""
    alpha, beta = params
    t, churned = data["periods"], data["churned"]
    b_ab = betaln(alpha, beta)
    log_p = betaln(alpha + 1.0, beta + t - 1.0) - b_ab
    log_s = betaln(alpha, beta + t) - b_ab
    ll = np.where(churned > 0, log_p, log_s)
    if not gradient:
        return ll, None
    d_ab = digamma(alpha + beta)
    d_alpha = np.where(
        churned > 0,
        digamma(alpha + 1.0) - digamma(alpha + beta + t) - digamma(alpha) + d_ab,
        d_ab - digamma(alpha + beta + t),
    )
    d_beta = np.where(
        churned > 0,
        digamma(beta + t - 1.0) - digamma(alpha + beta + t) - digamma(beta) + d_ab,
        digamma(beta + t) - digamma(alpha + beta + t) - digamma(beta) + d_ab,
    )
    return ll, [d_alpha, d_beta]


class ShiftedBetaGeo(BaseModel):
    """Shifted-beta-geometric model of contract renewals (Fader & Hardie 2007).

    Each subscriber churns at the end of any period with a constant probability
    θ ~ Beta(alpha, beta); the cohort's retention rate rises over time as the high-churn
    customers leave. Fit from per-customer durations (:meth:`fit`) or from a cohort's
    survivor counts (:meth:`fit_survival`), then project :meth:`survival_function` and
    :meth:`retention_rate`.

    Example:
        >>> from ecomcrm.predict import ShiftedBetaGeo
        >>> m = ShiftedBetaGeo().fit_survival([1000, 631, 468, 382, 326, 289, 262, 241])
        >>> {k: round(v, 3) for k, v in m.params.items()}
        {'alpha': 0.704, 'beta': 1.182}
    """

    _param_names = ("alpha", "beta")
    _time_params = ()

    def __init__(self, params: dict[str, float] | None = None) -> None:
        super().__init__()
        self._set_params(params)

    def fit(
        self, periods: ArrayLike, churned: ArrayLike, weights: ArrayLike | None = None
    ) -> ShiftedBetaGeo:
        """Fit alpha and beta from customer durations.

        Args:
            periods: Whole periods each customer was observed (>= 1): the period in which
                they churned, or the periods survived so far when still active (censored).
            churned: True when the customer churned at the end of ``periods``.
            weights: Customers per row, default 1.

        Example:
            >>> m = ShiftedBetaGeo().fit([1, 2, 3, 3], [True, True, False, True], weights=[30, 20, 40, 10])
            >>> m.convergence.converged
            True
        """
        entity = type(self).__name__
        t = as_float_array(periods, entity=entity, field="periods")
        c = np.asarray(churned)
        if c.ndim != 1 or c.dtype.kind not in "biuf":
            raise ValidationError("must be a 1-D array of booleans", entity=entity, field="churned")
        cf = as_float_array(c.astype(np.float64), entity=entity, field="churned")
        check_lengths(entity, periods=t, churned=cf)
        bad = (t < 1) | (t != np.round(t))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "must be a whole number of periods >= 1",
                entity=entity,
                field="periods",
                value=float(t[i]),
                row=i,
            )
        bad = (cf != 0) & (cf != 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "must be True/False (0/1)",
                entity=entity,
                field="churned",
                value=float(cf[i]),
                row=i,
            )
        w = validate_weights(weights, len(t), entity=entity)
        self._fit_compressed({"periods": t, "churned": cf}, w, 1.0)
        return self

    def fit_survival(self, survivors: ArrayLike) -> ShiftedBetaGeo:
        """Fit from a cohort's survivor counts ``[n0, n1, ..., nk]`` (n0 = cohort size).

        Example:
            >>> m = ShiftedBetaGeo().fit_survival([1000, 869, 743, 653, 593, 551, 517, 491])
            >>> {k: round(v, 3) for k, v in m.params.items()}
            {'alpha': 0.668, 'beta': 3.806}
        """
        entity = type(self).__name__
        s = as_float_array(survivors, entity=entity, field="survivors")
        if len(s) < 2:
            raise ValidationError(
                "needs the cohort size and at least one later count",
                entity=entity,
                field="survivors",
            )
        bad = np.concatenate([[s[0] <= 0], s[1:] > s[:-1], s < 0])
        if bad.any():
            i = int(np.flatnonzero(bad)[0]) % len(s)
            raise ValidationError(
                "must be positive at the start and never increase",
                entity=entity,
                field="survivors",
                value=float(s[i]),
                row=i,
            )
        k = len(s) - 1
        lost = s[:-1] - s[1:]
        periods = np.concatenate([np.arange(1, k + 1, dtype=np.float64), [float(k)]])
        churned = np.concatenate([np.ones(k), [0.0]])
        return self.fit(periods, churned, weights=np.concatenate([lost, [s[-1]]]))

    def simulate(self, n_customers: int, n_periods: int, *, seed: int | None = None) -> FloatArray:
        """Simulate a cohort and return its survivor counts ``[n0, ..., n_periods]``.

        Example:
            >>> ShiftedBetaGeo(params={"alpha": 0.7, "beta": 1.2}).simulate(100, 3, seed=0)[0]
            np.float64(100.0)
        """
        return simulate_survival(self.params, n_customers, n_periods, seed=seed)

    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:
        return shifted_beta_geo_loglik(params, data, gradient)

    def survival_function(self, t: ArrayLike) -> FloatArray:
        """S(t) = B(alpha, beta + t) / B(alpha, beta): share of a cohort still active after t periods.

        Example:
            >>> m = ShiftedBetaGeo(params={"alpha": 0.668, "beta": 3.806})
            >>> (m.survival_function([0, 1, 12]) * 1000).round(0).tolist()
            [1000.0, 851.0, 378.0]
        """
        tt = np.asarray(t, dtype=np.float64)
        alpha, beta = self._p()
        return np.asarray(np.exp(betaln(alpha, beta + tt) - betaln(alpha, beta)))

    def churn_probability(self, t: ArrayLike) -> FloatArray:
        """P(T = t): probability a new customer churns at the end of period t (t >= 1).

        Example:
            >>> m = ShiftedBetaGeo(params={"alpha": 0.668, "beta": 3.806})
            >>> m.churn_probability([1]).round(3).tolist()
            [0.149]
        """
        tt = np.asarray(t, dtype=np.float64)
        alpha, beta = self._p()
        return np.asarray(np.exp(betaln(alpha + 1.0, beta + tt - 1.0) - betaln(alpha, beta)))

    def retention_rate(self, t: ArrayLike) -> FloatArray:
        """r(t) = S(t)/S(t-1) = (beta + t - 1)/(alpha + beta + t - 1), rising with t.

        Example:
            >>> m = ShiftedBetaGeo(params={"alpha": 0.668, "beta": 3.806})
            >>> m.retention_rate([1, 2, 10]).round(3).tolist()
            [0.851, 0.878, 0.95]
        """
        tt = np.asarray(t, dtype=np.float64)
        alpha, beta = self._p()
        return np.asarray((beta + tt - 1.0) / (alpha + beta + tt - 1.0))

    def discounted_expected_residual_lifetime(
        self, discount_rate: float, renewals: ArrayLike = 0
    ) -> FloatArray:
        """DERL: expected discounted number of future payments (Fader & Hardie 2010).

        For a customer who has survived ``renewals`` periods, sum over k >= 0 of
        P(survives k + 1 more periods | survived so far) / (1 + d)^k, in closed form
        (β+n)/(α+β+n) · 2F1(1, β+n+1; α+β+n+1; 1/(1+d)). Multiply by the payment per
        period to get the residual value.

        Example:
            >>> m = ShiftedBetaGeo(params={"alpha": 0.668, "beta": 3.806})
            >>> m.discounted_expected_residual_lifetime(0.1, [0, 4]).round(2).tolist()
            [5.41, 6.9]
        """
        d = float(discount_rate)
        if not d > 0:
            raise ValidationError(
                "must be > 0", entity=type(self).__name__, field="discount_rate", value=d
            )
        n = np.asarray(renewals, dtype=np.float64)
        alpha, beta = self._p()
        return np.asarray(
            (beta + n)
            / (alpha + beta + n)
            * hyp2f1(1.0, beta + n + 1.0, alpha + beta + n + 1.0, 1.0 / (1.0 + d))
        )
