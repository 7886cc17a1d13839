from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, digamma, expit, gammaln, hyp2f1

from ecomcrm.predict._base import FitData, FloatArray
from ecomcrm.predict._rfm import RFMModel, group_pairs, pos


def beta_geo_loglik(
    params: tuple[Any, ...], data: FitData, gradient: bool, *, modified: bool = False
) -> tuple[FloatArray, list[FloatArray] | None]:
    """Per-row BG/NBD log-likelihood (Fader, Hardie & Lee 2005, eq. 6) and its gradient.

    With ``modified``, the MBG/NBD one (Batislam, Denizel & Filiztekin 2007): a customer may
    also drop out right after the first purchase, so the beta terms see x + 1 dropout chances
    instead of x and one-time buyers (x == 0) may be inactive too.
    """
    r, alpha, a, b = params
    x, tx, T = data["frequency"], data["recency"], data["T"]
    xi, xs = data["xi"], data["xs"]
    k = 1.0 if modified else 0.0  # extra dropout chance of MBG/NBD
    # terms that depend on x only: evaluated on 0..max(x) and gathered
    a1 = (gammaln(r + xs) - gammaln(r))[..., xi]
    a2 = (gammaln(a + b) + gammaln(b + xs + k) - gammaln(b) - gammaln(a + b + xs + k))[..., xi]
    log_at = np.log(alpha + T)
    log_atx = np.log(alpha + tx)
    a3 = -(r + x) * log_at
    # dropped out after the last purchase: b + x - 1 (BG/NBD, repeat buyers only) or b + x
    bx = b + x if modified else b + np.maximum(x, 1.0) - 1.0
    a4 = np.log(a) - np.log(bx) - (r + x) * log_atx
    if not modified:
        a4 = np.where(x > 0, a4, -np.inf)
    m = np.maximum(a3, a4)
    e3 = np.exp(a3 - m)
    e4 = np.exp(a4 - m)
    ll = r * np.log(alpha) + a1 + a2 + m + np.log(e3 + e4)
    if not gradient:
        return ll, None
    w3 = e3 / (e3 + e4)
    w4 = 1.0 - w3
    d_r = (digamma(r + xs) - digamma(r))[..., xi] + np.log(alpha) - w3 * log_at - w4 * log_atx
    d_alpha = r / alpha - (r + x) * (w3 / (alpha + T) + w4 / (alpha + tx))
    dab = digamma(a + b) - digamma(a + b + xs + k)
    d_a = dab[..., xi] + w4 / a
    d_b = (dab + digamma(b + xs + k) - digamma(b))[..., xi] - w4 / bx
    return ll, [d_r, d_alpha, d_a, d_b]


def log_hyp2f1(a: Any, b: Any, c: Any, z: Any) -> Any:
    """Log 2F1(a, b; c; z) for 0 <= z < 1, falling back to Euler's transformation on overflow."""
    with np.errstate(all="ignore"):
        direct = np.log(hyp2f1(a, b, c, z))
        bad = ~np.isfinite(direct)
        if np.any(bad):
            alt = np.log(hyp2f1(c - a, c - b, c, z)) + (c - a - b) * np.log1p(-z)
            direct = np.where(bad, alt, direct)
    return direct


class BetaGeo(RFMModel):
    """BG/NBD model of repeat purchasing (Fader, Hardie & Lee 2005).

    While active, a customer buys as a Poisson process with rate λ ~ Gamma(r, α); after each
    purchase they become inactive with probability p ~ Beta(a, b). Parameters: ``r``,
    ``alpha`` (in the model's time unit), ``a``, ``b``. Fit with :meth:`fit` or pass known
    ``params``.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.predict import BetaGeo
        >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> float(np.round(m.conditional_probability_alive([2], [30.43], [38.86])[0], 3))
        0.727
    """

    _param_names = ("r", "alpha", "a", "b")
    _time_params = ("alpha",)

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeo:
        """Fit r, alpha, a, b by maximum likelihood.

        Args:
            frequency: Repeat purchases per customer (x).
            recency: Time of the last purchase since the first (t_x); 0 when x == 0.
            T: Time since the first purchase (customer age) at the end of calibration.
            weights: Number of customers with each row (pre-aggregated data); default 1.

        Returns:
            ``self``, with ``params``, ``log_likelihood``, ``standard_errors``, ``convergence``.

        Raises:
            ValidationError: inconsistent input, naming the first offending row.
            ConvergenceError: the optimiser did not converge.

        Example:
            >>> import numpy as np
            >>> truth = BetaGeo(params={"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5})
            >>> m = BetaGeo().fit(*truth.simulate(np.full(3000, 39.0), seed=1).rfm)
            >>> sorted(m.params)
            ['a', 'alpha', 'b', 'r']
        """
        super().fit(frequency, recency, T, weights)
        return self

    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:
        return beta_geo_loglik(params, data, gradient, modified=self._modified)

    def customer_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Per-customer log-likelihood at the current parameters.

        Example:
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.customer_log_likelihood([0], [0], [38.86]).round(4).tolist()
            [-0.5547]
        """
        return self._customer_log_likelihood(frequency, recency, T)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(customer still active at T | x, t_x, T) (FHL 2005 eq. 11 / note 004).

        Example:
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.conditional_probability_alive([0, 5], [0, 10.0], [38.86, 38.86]).round(3).tolist()
            [1.0, 0.025]
        """
        x, tx, t = self._rfm(frequency, recency, T)
        r, alpha, a, b = self._p()
        with np.errstate(all="ignore"):
            log_div = (r + x) * np.log((alpha + t) / (alpha + tx)) + np.log(
                a / (b + np.maximum(x, 1.0) - 1.0)
            )
            return np.asarray(np.where(x == 0, 1.0, expit(-log_div)), dtype=np.float64)

    def _time_part(self, t: float | FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+x; a+b+x-1; t/(α+T+t))."""
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        return np.asarray(
            np.exp(
                log_hyp2f1(r + x, b + x, a + b + x - 1.0, z)
                + (r + x) * np.log((alpha + T) / (alpha + T + t))
            )
        )

    def _alive_purchase_cdf(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        # alive at T, the rate is Gamma(r + x, α + T) and dropout only follows a purchase:
        # P(no purchase in t) = E[exp(-λ t)] = ((α+T)/(α+T+t))^(r+x) (MBG/NBD alike)
        r, alpha, _, _ = self._p()
        return np.asarray(-np.expm1((r + x) * np.log1p(-t / (alpha + T + t))))

    def _alive_purchase_quantile(
        self, level: FloatArray, x: FloatArray, T: FloatArray
    ) -> FloatArray:
        r, alpha, _, _ = self._p()
        return np.asarray((alpha + T) * np.expm1(-np.log1p(-level) / (r + x)))

    def _customer_factor(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._p()
        first = (a + b + x - 1.0) / (a - 1.0)
        with np.errstate(all="ignore"):
            den = 1.0 + (x > 0) * (a / (b + np.maximum(x, 1.0) - 1.0)) * np.exp(
                (r + x) * np.log((alpha + T) / (alpha + tx))
            )
        return np.asarray(first / den)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T] (FHL 2005 eq. 10), vectorized.

        Example:
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.conditional_expected_purchases(39, [2], [30.43], [38.86]).round(3).tolist()
            [1.226]
        """
        x, tx, T_ = self._rfm(frequency, recency, T)
        tt = self._time(t)
        factor = self._customer_factor(x, tx, T_)
        groups = group_pairs(x, T_) if np.ndim(tt) == 0 and np.ndim(factor) == 1 else None
        if groups is not None:
            ux, uT, inverse = groups
            part = self._time_part(tt, ux, uT)[inverse]
        else:
            part = self._time_part(tt, x, T_)
        return np.asarray(factor * (1.0 - part))

    def _discounted_purchases(
        self,
        steps: FloatArray,
        discounts: FloatArray,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
    ) -> FloatArray:
        factor = self._customer_factor(x, tx, T)
        groups = group_pairs(x, T) if np.ndim(factor) == 1 else None
        ux, uT = (groups[0], groups[1]) if groups is not None else (x, T)
        total: Any = 0.0
        prev: Any = 1.0  # part(0) == 1
        for t, d in zip(steps, discounts, strict=True):
            cur = self._time_part(float(t), ux, uT)
            total = total + d * (prev - cur)
            prev = cur
        if groups is not None:
            total = total[groups[2]]
        return np.asarray(factor * total)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)]: expected repeat purchases in (0, t] of a new customer (FHL 2005 eq. 9).

        Example:
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.expected_purchases([39, 78]).round(3).tolist()
            [1.197, 1.861]
        """
        tt = np.atleast_1d(self._time(t))
        r, alpha, a, b = self._p()
        hyp = np.exp(log_hyp2f1(r, b, a + b - 1.0, tt / (alpha + tt)))
        return np.asarray((a + b - 1.0) / (a - 1.0) * (1.0 - hyp * (alpha / (alpha + tt)) ** r))

    def probability_of_purchases(self, t: ArrayLike, n: ArrayLike) -> FloatArray:
        """P(X(t) = n): a new customer makes exactly n repeat purchases in (0, t] (FHL eq. 8).

        Example:
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> p = m.probability_of_purchases(39, np.arange(200))
            >>> round(float(p.sum()), 6), round(float(p[0]), 3)
            (1.0, 0.574)
        """
        tt = self._time(t)
        nn = self._count(n)
        r, alpha, a, b = self._p()
        with np.errstate(all="ignore"):
            first = np.exp(
                betaln(a, b + nn)
                - betaln(a, b)
                + gammaln(r + nn)
                - gammaln(r)
                - gammaln(nn + 1.0)
                + r * np.log(alpha / (alpha + tt))
                + nn * np.log(tt / (alpha + tt))
            )
            first = np.where(nn == 0, np.exp(r * np.log(alpha / (alpha + tt))) * 1.0, first)
            second = np.exp(betaln(a + 1.0, b + nn - 1.0) - betaln(a, b)) * betainc(
                nn, r, tt / (alpha + tt)
            )
            second = np.where(nn > 0, second, 0.0)
        return np.asarray(pos(first + second), dtype=np.float64)
