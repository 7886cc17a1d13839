from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import betainc, betaln, expit, gammaln

from ecomcrm.predict._base import FloatArray
from ecomcrm.predict._beta_geo import BetaGeo, log_hyp2f1
from ecomcrm.predict._rfm import pos


class ModifiedBetaGeo(BetaGeo):
    """MBG/NBD model (Batislam, Denizel & Filiztekin 2007; Wagner & Hoppe 2008).

    Like BG/NBD, but a customer may also drop out right after the first purchase, so
    one-time buyers are not all alive. Parameters ``r``, ``alpha``, ``a``, ``b``.

    Example:
        >>> from ecomcrm.predict import ModifiedBetaGeo
        >>> m = ModifiedBetaGeo(params={"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4})
        >>> m.conditional_probability_alive([0], [0], [38.86]).round(3).tolist()
        [0.629]
    """

    _modified = True  # selects the MBG/NBD likelihood and simulator

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> ModifiedBetaGeo:
        """Fit r, alpha, a, b by maximum likelihood (same arguments as :meth:`BetaGeo.fit`).

        Example:
            >>> import numpy as np
            >>> truth = ModifiedBetaGeo(params={"r": 0.5, "alpha": 6.0, "a": 0.9, "b": 1.6})
            >>> m = ModifiedBetaGeo().fit(*truth.simulate(np.full(3000, 39.0), seed=1).rfm)
            >>> m.convergence.converged
            True
        """
        super().fit(frequency, recency, T, weights)
        return self

    def conditional_probability_alive(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(alive at T | x, t_x, T) = 1 / (1 + a/(b+x) ((α+T)/(α+t_x))^(r+x)).

        Example:
            >>> m = ModifiedBetaGeo(params={"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4})
            >>> m.conditional_probability_alive([2], [30.43], [38.86]).round(3).tolist()
            [0.772]
        """
        x, tx, t = self._rfm(frequency, recency, T)
        r, alpha, a, b = self._p()
        with np.errstate(all="ignore"):
            log_div = (r + x) * np.log((alpha + t) / (alpha + tx)) + np.log(a / (b + x))
            return np.asarray(expit(-log_div), dtype=np.float64)

    def _time_part(self, t: float | FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._p()
        z = t / (alpha + T + t)
        return np.asarray(
            np.exp(
                log_hyp2f1(r + x, b + x + 1.0, a + b + x, z)
                + (r + x) * np.log((alpha + T) / (alpha + T + t))
            )
        )

    def _customer_factor(self, x: FloatArray, tx: FloatArray, T: FloatArray) -> FloatArray:
        r, alpha, a, b = self._p()
        with np.errstate(all="ignore"):
            den = 1.0 + (a / (b + x)) * np.exp((r + x) * np.log((alpha + T) / (alpha + tx)))
        return np.asarray((a + b + x) / (a - 1.0) / den)

    def expected_purchases(self, t: ArrayLike) -> FloatArray:
        """E[X(t)] for a new customer: b/(a-1) [1 - 2F1(r, b+1; a+b; t/(α+t)) (α/(α+t))^r].

        Example:
            >>> m = ModifiedBetaGeo(params={"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4})
            >>> m.expected_purchases([0, 39]).round(3).tolist()
            [0.0, 1.01]
        """
        tt = np.atleast_1d(self._time(t))
        r, alpha, a, b = self._p()
        hyp = np.exp(log_hyp2f1(r, b + 1.0, a + b, tt / (alpha + tt)))
        return np.asarray(pos(b / (a - 1.0) * (1.0 - hyp * (alpha / (alpha + tt)) ** r)))

    def probability_of_purchases(self, t: ArrayLike, n: ArrayLike) -> FloatArray:
        """P(X(t) = n) for a new customer.

        Example:
            >>> m = ModifiedBetaGeo(params={"r": 0.25, "alpha": 4.4, "a": 0.8, "b": 2.4})
            >>> round(float(m.probability_of_purchases(39, np.arange(300)).sum()), 6)
            1.0
        """
        tt = self._time(t)
        nn = self._count(n)
        r, alpha, a, b = self._p()
        with np.errstate(all="ignore"):
            first = np.exp(
                betaln(a, b + nn + 1.0)
                - betaln(a, b)
                + gammaln(r + nn)
                - gammaln(r)
                - gammaln(nn + 1.0)
                + r * np.log(alpha / (alpha + tt))
                + np.where(nn == 0, 0.0, nn * np.log(tt / (alpha + tt)))
            )
            tail = np.where(nn == 0, 1.0, betainc(np.maximum(nn, 1.0), r, tt / (alpha + tt)))
            second = np.exp(betaln(a + 1.0, b + nn) - betaln(a, b)) * tail
        return np.asarray(pos(first + second), dtype=np.float64)
