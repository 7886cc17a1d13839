from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import betaln, gammaln, hyp2f1, logsumexp

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import FitData, FloatArray
from ecomcrm.predict._rfm import RFMModel, pos

_GAUSS = np.polynomial.legendre.leggauss(64)


def _log_g(r: Any, alpha: Any, s: Any, beta: Any, x: Any, tau: Any) -> Any:
    """Log of 2F1(r+s+x, ·; r+s+x+1; z) / (max(α,β)+τ)^(r+s+x), Euler-transformed.

    Fader & Hardie (2005) "A Note on Deriving the Pareto/NBD Model" eqs. (19)-(20) use
    2F1(r+s+x, s+1; r+s+x+1; (α-β)/(α+τ)) when α >= β (and the mirror image otherwise).
    Euler's transformation 2F1(a, b; c; z) = (1-z)^(c-a-b) 2F1(c-a, c-b; c; z) with c = a + 1
    turns it into 2F1(1, r+x; r+s+x+1; z) / ((α+τ)^(r+x) (β+τ)^s) (for α >= β), whose
    hypergeometric factor is bounded (its series has ratio < z), so large x or τ never overflow.
    """
    ge = alpha >= beta
    z = np.where(ge, (alpha - beta) / (alpha + tau), (beta - alpha) / (beta + tau))
    bb = np.where(ge, r + x, s + 1.0)
    h = hyp2f1(1.0, bb, r + s + x + 1.0, z)
    # α >= β: 2F1(1, r+x; ·; z) / ((α+τ)^(r+x) (β+τ)^s)
    # α < β:  2F1(1, s+1; ·; z) / ((α+τ)^(r+x-1) (β+τ)^(s+1))
    shift = np.where(ge, 0.0, 1.0)
    return np.log(h) - (r + x - shift) * np.log(alpha + tau) - (s + shift) * np.log(beta + tau)


def _log_a0(r: Any, alpha: Any, s: Any, beta: Any, x: Any, tx: Any, T: Any) -> Any:
    """Log A0 = log[G(t_x) - G(T)] (−inf when t_x == T)."""
    g_tx = _log_g(r, alpha, s, beta, x, tx)
    g_T = _log_g(r, alpha, s, beta, x, T)
    return g_tx + np.log1p(-np.exp(np.minimum(g_T - g_tx, 0.0)))


def _pairs(a: FloatArray, b: FloatArray) -> tuple[FloatArray, FloatArray, NDArray[np.intp]]:
    """Unique (a, b) pairs and the inverse index (one-off, at fit preparation)."""
    stacked = np.stack([a, b], axis=1)
    unique, inverse = np.unique(stacked, axis=0, return_inverse=True)
    return unique[:, 0].copy(), unique[:, 1].copy(), inverse.reshape(-1)


def pareto_nbd_loglik(
    params: tuple[Any, ...], data: FitData, gradient: bool
) -> tuple[FloatArray, list[FloatArray] | None]:
    """Per-row Pareto/NBD log-likelihood (Fader & Hardie 2005 note, eq. 18).

    G(t_x) and G(T) depend on (x, t_x) and (x, T) only, so the hypergeometric functions are
    evaluated once per unique pair and gathered.
    """
    r, alpha, s, beta = params
    x, tx, T = data["frequency"], data["recency"], data["T"]
    xi, xs = data["xi"], data["xs"]
    a1 = (gammaln(r + xs) - gammaln(r))[..., xi] + r * np.log(alpha) + s * np.log(beta)
    l_T = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
    if "pair_tx_inv" in data.columns:
        g_tx = _log_g(r, alpha, s, beta, data["pair_tx_x"], data["pair_tx_t"])[
            ..., data["pair_tx_inv"]
        ]
        g_T = _log_g(r, alpha, s, beta, data["pair_T_x"], data["pair_T_t"])[..., data["pair_T_inv"]]
        la0 = g_tx + np.log1p(-np.exp(np.minimum(g_T - g_tx, 0.0)))
    else:
        la0 = _log_a0(r, alpha, s, beta, x, tx, T)
    ll = a1 + np.logaddexp(l_T, np.log(s) - np.log(r + s + x) + la0)
    return ll, None


class ParetoNBD(RFMModel):
    """Pareto/NBD model (Schmittlein, Morrison & Colombo 1987; Fader & Hardie 2005 note).

    While alive a customer buys at Poisson rate λ ~ Gamma(r, α); lifetimes are exponential
    with rate μ ~ Gamma(s, β). Parameters ``r``, ``alpha``, ``s``, ``beta`` (``alpha`` and
    ``beta`` in the model's time unit).

    Example:
        >>> from ecomcrm.predict import ParetoNBD
        >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
        >>> m.conditional_probability_alive([2], [30.43], [38.86]).round(3).tolist()
        [0.869]
    """

    _param_names = ("r", "alpha", "s", "beta")
    _time_params = ("alpha", "beta")
    _analytic_gradient = False

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> ParetoNBD:
        """Fit r, alpha, s, beta by maximum likelihood (same arguments as :meth:`BetaGeo.fit`).

        Example:
            >>> import numpy as np
            >>> truth = ParetoNBD(params={"r": 0.55, "alpha": 10.6, "s": 0.6, "beta": 11.7})
            >>> m = ParetoNBD().fit(*truth.simulate(np.full(3000, 39.0), seed=1).rfm)
            >>> sorted(m.params)
            ['alpha', 'beta', 'r', 's']
        """
        super().fit(frequency, recency, T, weights)
        return self

    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:
        return pareto_nbd_loglik(params, data, gradient)

    def _prepare(self, data: FitData) -> FitData:
        data = super()._prepare(data)
        cols = dict(data.columns)
        x = data["frequency"]
        cols["pair_tx_x"], cols["pair_tx_t"], cols["pair_tx_inv"] = _pairs(x, data["recency"])
        cols["pair_T_x"], cols["pair_T_t"], cols["pair_T_inv"] = _pairs(x, data["T"])
        return FitData(cols, data.weights, data.n_rows, data.time_scale)

    def customer_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Per-customer log-likelihood at the current parameters.

        Example:
            >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
            >>> m.customer_log_likelihood([0], [0], [38.86]).round(3).tolist()
            [-0.521]
        """
        return self._customer_log_likelihood(frequency, recency, T)

    def _log_alive_odds(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> Any:
        """Log of [alive term] - log[total likelihood] (both without the common factor)."""
        r, alpha, s, beta = self._p()
        l_T = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        la0 = _log_a0(r, alpha, s, beta, x, tx, T)
        return l_T - np.logaddexp(l_T, np.log(s) - np.log(r + s + x) + la0)

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive at T | x, t_x, T) (Fader & Hardie 2005 note, eq. 36).

        Example:
            >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
            >>> m.conditional_probability_alive([0], [0], [38.86]).round(3).tolist()
            [0.295]
        """
        x, tx, t = self._rfm(frequency, recency, T)
        with np.errstate(all="ignore"):
            return np.asarray(np.exp(self._log_alive_odds(x, tx, t)))

    def _alive_purchase_cdf(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        # alive at T: λ ~ Gamma(r+x, α+T), μ ~ Gamma(s, β+T), independent; the next
        # purchase comes before dropout and within t with probability
        # ∫0^t E[λ e^{-(λ+μ)u}] du. With z = 1 - ((α+T)/(α+T+u))^(r+x) the λ part is dz,
        # leaving ∫0^z(t) ((β+T)/(β+T+u(z)))^s dz: bounded by 1 and smooth, so Gauss-Legendre
        r, alpha, _, _ = self._p()
        z_end = -np.expm1((r + x) * np.log1p(-t / (alpha + T + t)))
        return self._dropout_integral(z_end, x, T)

    def _dropout_integral(self, z_end: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """∫0^z_end ((β+T)/(β+T+u(z)))^s dz per customer (64-point Gauss-Legendre)."""
        r, alpha, s, beta = self._p()
        nodes, weights = _GAUSS
        z = z_end[:, None] * (nodes[None, :] + 1.0) / 2.0
        u = (alpha + T)[:, None] * np.expm1(-np.log1p(-z) / (r + x)[:, None])
        g = np.exp(-s * np.log1p(u / (beta + T)[:, None]))
        return np.asarray(z_end / 2.0 * (g @ weights))

    def _alive_purchase_quantile(
        self, level: FloatArray, x: FloatArray, T: FloatArray
    ) -> FloatArray:
        # the integral is concave in z (its integrand falls as z grows), so Newton's method
        # from z = 0 climbs to the root from below without overshooting
        r, alpha, s, beta = self._p()
        total = self._dropout_integral(np.ones(len(x)), x, T)
        out = np.full(len(x), np.inf)
        ok = total > level
        lv, xx, tt = level[ok], x[ok], T[ok]
        z = np.zeros(len(lv))
        for _ in range(60):
            u = (alpha + tt) * np.expm1(-np.log1p(-z) / (r + xx))
            g = np.exp(-s * np.log1p(u / (beta + tt)))
            step = (lv - self._dropout_integral(z, xx, tt)) / g
            z = np.minimum(z + step, np.nextafter(1.0, 0.0))
            if np.all(np.abs(step) <= 1e-13 * np.maximum(z, 1e-300)):
                break
        out[ok] = (alpha + tt) * np.expm1(-np.log1p(-z) / (r + xx))
        return out

    def _customer_factor(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> Any:
        r, alpha, _, beta = self._p()
        return np.exp(self._log_alive_odds(x, tx, T)) * (r + x) * (beta + T) / (alpha + T)

    def _time_part(self, t: Any, T: Any) -> Any:
        """(1 - ((β+T)/(β+T+t))^(s-1)) / (s-1), continuous at s == 1."""
        _, _, s, beta = self._p()
        lu = np.log((beta + T) / (beta + T + t))
        sm1 = s - 1.0
        safe = np.where(np.abs(sm1) < 1e-10, 1.0, sm1)
        return np.where(np.abs(sm1) < 1e-10, -lu, -np.expm1(sm1 * lu) / safe)

    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """E[purchases in (T, T + t] | x, t_x, T] (Fader & Hardie 2005 note, eq. 41).

        Example:
            >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
            >>> m.conditional_expected_purchases(39, [2], [30.43], [38.86]).round(3).tolist()
            [1.455]
        """
        x, tx, T_ = self._rfm(frequency, recency, T)
        tt = self._time(t)
        with np.errstate(all="ignore"):
            return np.asarray(self._customer_factor(x, tx, T_) * self._time_part(tt, T_))

    def _discounted_purchases(
        self,
        steps: FloatArray,
        discounts: FloatArray,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
    ) -> FloatArray:
        with np.errstate(all="ignore"):
            factor = self._customer_factor(x, tx, T)
            total: Any = 0.0
            prev: Any = 0.0
            for t, d in zip(steps, discounts, strict=True):
                cur = self._time_part(float(t), T)
                total = total + d * (cur - prev)
                prev = cur
        return np.asarray(factor * total)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a new customer (Fader & Hardie 2005 note, eq. 27).

        Example:
            >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
            >>> m.expected_purchases([39]).round(3).tolist()
            [1.213]
        """
        tt = np.atleast_1d(self._time(t))
        r, alpha, _, beta = self._p()
        with np.errstate(all="ignore"):
            return np.asarray(r * beta / alpha * self._time_part(tt, 0.0))

    def probability_of_purchases(
        self,
        t: ArrayLike,
        n: ArrayLike,
        frequency: ArrayLike = 0,
        recency: ArrayLike = 0,
        T: ArrayLike = 0,
    ) -> FloatArray:
        """P(n purchases in (T, T + t] | x, t_x, T); with the defaults, for a new customer.

        Fader & Hardie (2006) note 028 "Deriving the conditional PMF of the Pareto/NBD
        model", eq. (16); the finite sum runs over 0..n (a loop over n + 1 terms).

        Example:
            >>> m = ParetoNBD(params={"r": 0.553, "alpha": 10.578, "s": 0.606, "beta": 11.669})
            >>> p = m.probability_of_purchases(39, np.arange(100))
            >>> round(float(p.sum()), 4)
            1.0
        """
        tt = self._time(t)
        nn = np.asarray(self._count(n))
        if np.ndim(tt) > 0:
            raise ValidationError("must be a single time span", entity="ParetoNBD", field="t")
        if tt == 0:
            return np.asarray(np.broadcast_to(nn == 0, np.shape(nn)), dtype=np.float64)
        if np.ndim(nn) > 0 and np.ndim(np.asarray(frequency)) == 0:
            x = np.zeros(nn.shape) + float(np.asarray(frequency))
            tx = np.zeros(nn.shape) + float(np.asarray(recency))
            Tc = np.zeros(nn.shape) + float(np.asarray(T))
        else:
            x = np.atleast_1d(np.asarray(frequency, dtype=np.float64))
            tx = np.atleast_1d(np.asarray(recency, dtype=np.float64))
            Tc = np.atleast_1d(np.asarray(T, dtype=np.float64))
        r, alpha, s, beta = self._p()
        with np.errstate(all="ignore"):
            l_T = -(r + x) * np.log(alpha + Tc) - s * np.log(beta + Tc)
            la0 = np.where(tx < Tc, _log_a0(r, alpha, s, beta, x, tx, Tc), -np.inf)
            log_l = np.logaddexp(l_T, np.log(s) - np.log(r + s + x) + la0)  # without prefactor
            ge = alpha >= beta
            mx = np.where(ge, alpha, beta)
            z_T = np.abs(alpha - beta) / (mx + Tc)
            z_Tt = np.abs(alpha - beta) / (mx + Tc + tt)
            pp = np.where(ge, s + 1.0, r + x + nn)
            base = gammaln(r + x) - gammaln(r)
            p_zero = np.exp(l_T - log_l)
            log_b1 = (
                gammaln(r + x + nn)
                - gammaln(r)
                - (r + x + nn) * np.log(alpha + Tc + tt)
                - s * np.log(beta + Tc + tt)
            )
            c0 = betaln(r + x + nn, s + 1.0) + gammaln(r + s + x) - gammaln(r) - gammaln(s)
            log_b2 = (
                c0
                + np.log(hyp2f1(r + s + x, pp, r + s + x + nn + 1.0, z_T))
                - (r + s + x) * np.log(mx + Tc)
            )
            nmax = int(np.max(nn)) if np.size(nn) else 0
            terms = []
            for i in range(nmax + 1):
                term = (
                    i * np.log(tt)
                    - gammaln(i + 1.0)
                    + c0
                    + gammaln(r + s + x + i)
                    - gammaln(r + s + x)
                    + np.log(hyp2f1(r + s + x + i, pp, r + s + x + nn + 1.0, z_Tt))
                    - (r + s + x + i) * np.log(mx + Tc + tt)
                )
                terms.append(np.where(i <= nn, term, -np.inf))
            log_b3 = logsumexp(np.stack(terms), axis=0)
            norm = base + log_l
            first = np.exp(nn * np.log(tt) - gammaln(nn + 1.0) + log_b1 - norm)
            rest = np.exp(log_b2 - norm) - np.exp(log_b3 - norm)
            out = (nn == 0) * (1.0 - p_zero) + first + rest
        return np.asarray(pos(out), dtype=np.float64)
