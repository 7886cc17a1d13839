from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betaln, digamma, gammaln, logsumexp

from ecomcrm.predict._base import (
    BaseModel,
    FitData,
    FloatArray,
    validate_rfm,
    validate_weights,
)
from ecomcrm.predict._rfm import pos
from ecomcrm.predict._simulate import SimulatedCustomers, simulate_beta_geo_beta_binom


def _bgbb_terms(
    params: tuple[Any, ...], x: Any, tx: Any, n: Any, gradient: bool
) -> tuple[Any, list[Any] | None]:
    """Stacked log-terms of the BG/BB likelihood (FHS 2010 eq. 5) and their gradients.

    Term 0 is "alive through all n periods"; term i + 1 is "last alive in period t_x + i"
    for i < n - t_x (masked to -inf beyond). Shapes: (1 + I, ...broadcast...).
    """
    alpha, beta, gamma, delta = params
    b_ab = betaln(alpha, beta)
    b_gd = betaln(gamma, delta)
    imax = int(np.max(n - tx)) if np.size(n) else 0
    i = np.arange(imax, dtype=np.float64).reshape((-1,) + (1,) * np.ndim(tx + alpha))
    a_term = betaln(alpha + x, beta + n - x) - b_ab + betaln(gamma, delta + n) - b_gd
    b_terms = (
        betaln(alpha + x, beta + tx - x + i) + betaln(gamma + 1.0, delta + tx + i) - b_ab - b_gd
    )
    b_terms = np.where(i < n - tx, b_terms, -np.inf)
    shape = np.broadcast_shapes(np.shape(a_term), np.shape(b_terms)[1:])
    terms = np.concatenate(
        [np.broadcast_to(a_term, shape)[None], np.broadcast_to(b_terms, (imax, *shape))]
    )
    if not gradient:
        return terms, None
    ab = digamma(alpha + beta) - digamma(alpha)
    ab_b = digamma(alpha + beta) - digamma(beta)
    gd = digamma(gamma + delta) - digamma(gamma)
    gd_d = digamma(gamma + delta) - digamma(delta)
    d_alpha = np.concatenate(
        [
            np.broadcast_to(digamma(alpha + x) - digamma(alpha + beta + n) + ab, shape)[None],
            np.broadcast_to(
                digamma(alpha + x) - digamma(alpha + beta + tx + i) + ab, (imax, *shape)
            ),
        ]
    )
    d_beta = np.concatenate(
        [
            np.broadcast_to(digamma(beta + n - x) - digamma(alpha + beta + n) + ab_b, shape)[None],
            np.broadcast_to(
                digamma(beta + tx - x + i) - digamma(alpha + beta + tx + i) + ab_b, (imax, *shape)
            ),
        ]
    )
    d_gamma = np.concatenate(
        [
            np.broadcast_to(digamma(gamma) - digamma(gamma + delta + n) + gd, shape)[None],
            np.broadcast_to(
                digamma(gamma + 1.0) - digamma(gamma + delta + 1.0 + tx + i) + gd, (imax, *shape)
            ),
        ]
    )
    d_delta = np.concatenate(
        [
            np.broadcast_to(digamma(delta + n) - digamma(gamma + delta + n) + gd_d, shape)[None],
            np.broadcast_to(
                digamma(delta + tx + i) - digamma(gamma + delta + 1.0 + tx + i) + gd_d,
                (imax, *shape),
            ),
        ]
    )
    return terms, [d_alpha, d_beta, d_gamma, d_delta]


def beta_geo_beta_binom_loglik(
    params: tuple[Any, ...], data: FitData, gradient: bool
) -> tuple[FloatArray, list[FloatArray] | None]:
    """Per-row BG/BB log-likelihood and gradient."""
    terms, grads = _bgbb_terms(
        params, data["frequency"], data["recency"], data["n_periods"], gradient
    )
    ll = logsumexp(terms, axis=0)
    if grads is None:
        return ll, None
    weights = np.exp(terms - ll)
    return ll, [np.sum(weights * g, axis=0) for g in grads]


class BetaGeoBetaBinom(BaseModel):
    """BG/BB model for discrete-time, non-contractual settings (Fader, Hardie & Shang 2010).

    In each of ``n_periods`` transaction opportunities an active customer buys with
    probability p ~ Beta(alpha, beta) and, before the next one, drops out with probability
    θ ~ Beta(gamma, delta). Data per customer: ``frequency`` (periods with a purchase, after
    the first), ``recency`` (the last such period, 0 when none) and ``n_periods``.

    Example:
        >>> from ecomcrm.predict import BetaGeoBetaBinom
        >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
        >>> m.conditional_probability_alive(0, [6], [6], [6]).round(3).tolist()
        [1.0]
    """

    _param_names = ("alpha", "beta", "gamma", "delta")
    _time_params = ()

    def __init__(self, params: dict[str, float] | None = None) -> None:
        super().__init__()
        self._set_params(params)

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        n_periods: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> BetaGeoBetaBinom:
        """Fit alpha, beta, gamma, delta by maximum likelihood.

        Args:
            frequency: Periods with a repeat purchase (x).
            recency: The last period with a purchase (t_x), 0 when x == 0.
            n_periods: Transaction opportunities observed (n).
            weights: Customers per row (pre-aggregated data), default 1.

        Example:
            >>> truth = BetaGeoBetaBinom(params={"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8})
            >>> m = BetaGeoBetaBinom().fit(*truth.simulate([6] * 5000, seed=1).rfm)
            >>> m.convergence.converged
            True
        """
        entity = type(self).__name__
        x, tx, n = validate_rfm(
            entity, frequency, recency, n_periods, t_name="n_periods", discrete=True
        )
        w = validate_weights(weights, len(x), entity=entity)
        self._fit_compressed({"frequency": x, "recency": tx, "n_periods": n}, w, 1.0)
        return self

    def simulate(
        self, n_periods: ArrayLike, *, holdout_periods: int = 0, seed: int | None = None
    ) -> SimulatedCustomers:
        """Simulate customers over ``n_periods`` opportunities (plus a holdout).

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.2, "beta": 0.75, "gamma": 0.66, "delta": 2.8})
            >>> sim = m.simulate([6] * 5, seed=0)
            >>> bool((sim.frequency <= 6).all())
            True
        """
        return simulate_beta_geo_beta_binom(
            self.params, n_periods, holdout_periods=holdout_periods, seed=seed
        )

    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:
        return beta_geo_beta_binom_loglik(params, data, gradient)

    def _xtn(
        self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return validate_rfm(
            type(self).__name__, frequency, recency, n_periods, t_name="n_periods", discrete=True
        )

    def customer_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """Per-customer log-likelihood.

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
            >>> m.customer_log_likelihood([0], [0], [6]).round(3).tolist()
            [-1.167]
        """
        x, tx, n = self._xtn(frequency, recency, n_periods)
        with np.errstate(all="ignore"):
            terms, _ = _bgbb_terms(self._p(), x, tx, n, False)
            return np.asarray(logsumexp(terms, axis=0), dtype=np.float64)

    def conditional_probability_alive(
        self, m_periods: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """P(alive at period n + m | x, t_x, n) (FHS 2010 eq. A10; ``m_periods=0``: now).

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
            >>> m.conditional_probability_alive(0, [1], [1], [6]).round(3).tolist()
            [0.075]
        """
        x, tx, n = self._xtn(frequency, recency, n_periods)
        mm = np.asarray(m_periods, dtype=np.float64)
        alpha, beta, gamma, delta = self._p()
        with np.errstate(all="ignore"):
            terms, _ = _bgbb_terms(self._p(), x, tx, n, False)
            ll = logsumexp(terms, axis=0)
            out = np.exp(
                betaln(alpha + x, beta + n - x)
                - betaln(alpha, beta)
                + betaln(gamma, delta + n + mm)
                - betaln(gamma, delta)
                - ll
            )
        return np.asarray(out, dtype=np.float64)

    def conditional_expected_purchases(
        self, m_periods: ArrayLike, frequency: ArrayLike, recency: ArrayLike, n_periods: ArrayLike
    ) -> FloatArray:
        """E[purchases in periods n+1 .. n+m | x, t_x, n] (FHS 2010 eq. 13).

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
            >>> m.conditional_expected_purchases(5, [6], [6], [6]).round(3).tolist()
            [3.752]
        """
        x, tx, n = self._xtn(frequency, recency, n_periods)
        mm = np.asarray(m_periods, dtype=np.float64)
        alpha, beta, gamma, delta = self._p()
        with np.errstate(all="ignore"):
            terms, _ = _bgbb_terms(self._p(), x, tx, n, False)
            ll = logsumexp(terms, axis=0)
            lead = (
                betaln(alpha + x + 1.0, beta + n - x)
                - betaln(alpha, beta)
                + gammaln(gamma + delta)
                - gammaln(1.0 + delta)
                - ll
            )
            bracket = np.exp(gammaln(1.0 + delta + n) - gammaln(gamma + delta + n)) - np.exp(
                gammaln(1.0 + delta + n + mm) - gammaln(gamma + delta + n + mm)
            )
            out = np.exp(lead) * delta / (gamma - 1.0) * bracket
        return np.asarray(out, dtype=np.float64)

    def expected_purchases(self, n_periods: ArrayLike) -> FloatArray:
        """E[X(n)]: expected repeat purchases of a new customer in n periods (FHS 2010 eq. 8).

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
            >>> m.expected_purchases([6]).round(3).tolist()
            [2.22]
        """
        n = np.atleast_1d(np.asarray(n_periods, dtype=np.float64))
        alpha, beta, gamma, delta = self._p()
        g = np.exp(
            gammaln(gamma + delta)
            - gammaln(gamma + delta + n)
            + gammaln(1.0 + delta + n)
            - gammaln(1.0 + delta)
        )
        return np.asarray(alpha / (alpha + beta) * delta / (gamma - 1.0) * (1.0 - g))

    def probability_of_purchases(self, n_periods: int, x: ArrayLike) -> FloatArray:
        """P(X(n) = x) for a new customer (FHS 2010 eq. 7); a loop over the n periods.

        Example:
            >>> m = BetaGeoBetaBinom(params={"alpha": 1.204, "beta": 0.750, "gamma": 0.657, "delta": 2.783})
            >>> round(float(m.probability_of_purchases(6, np.arange(7)).sum()), 10)
            1.0
        """
        n = int(n_periods)
        xx = np.asarray(x, dtype=np.float64)
        alpha, beta, gamma, delta = self._p()

        def lbinom(a: Any, b: Any) -> Any:
            return gammaln(a + 1.0) - gammaln(b + 1.0) - gammaln(a - b + 1.0)

        with np.errstate(all="ignore"):
            out = np.exp(
                lbinom(n, xx)
                + betaln(alpha + xx, beta + n - xx)
                - betaln(alpha, beta)
                + betaln(gamma, delta + n)
                - betaln(gamma, delta)
            )
            for i in range(n):
                term = np.exp(
                    lbinom(i, xx)
                    + betaln(alpha + xx, beta + i - xx)
                    - betaln(alpha, beta)
                    + betaln(gamma + 1.0, delta + i)
                    - betaln(gamma, delta)
                )
                out = out + np.where(xx <= i, term, 0.0)
        return np.asarray(np.where(xx <= n, pos(out), 0.0), dtype=np.float64)
