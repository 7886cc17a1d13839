from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import digamma, gammaln

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import (
    BaseModel,
    FitData,
    FloatArray,
    as_float_array,
    check_lengths,
    compress,
    validate_weights,
)
from ecomcrm.predict._simulate import simulate_spend


def gamma_gamma_loglik(
    params: tuple[Any, ...], data: FitData, gradient: bool
) -> tuple[FloatArray, list[FloatArray] | None]:
    """Per-row log density of a customer's average spend (Fader, Hardie & Lee 2005 note 025)."""
    p, q, v = params
    x, m = data["frequency"], data["monetary_value"]
    log_m, log_x = data["log_m"], data["log_x"]
    # frequency takes few distinct values: the special functions run once per value
    # (``[..., inverse]`` keeps the leading axis of vectorised parameter draws)
    x_unique, x_inverse = data["x_unique"], data["x_inverse"]
    pxu = p * x_unique
    px = p * x
    log_xmv = np.log(x * m + v)
    ll = (
        (gammaln(pxu + q) - gammaln(pxu))[..., x_inverse]
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_xmv
    )
    if not gradient:
        return ll, None
    dpq_u = digamma(pxu + q)
    dpq = dpq_u[..., x_inverse]
    d_p = x * ((dpq_u - digamma(pxu))[..., x_inverse] + log_m + log_x - log_xmv)
    d_q = dpq - digamma(q) + np.log(v) - log_xmv
    d_v = q / v - (px + q) / (x * m + v)
    return ll, [d_p, d_q, d_v]


class GammaGamma(BaseModel):
    """Gamma-Gamma model of spend per transaction (Fader, Hardie & Lee 2005, "RFM and CLV").

    Each transaction's value is Gamma(p, ν) with ν ~ Gamma(q, v) across customers; spend is
    assumed independent of the purchase process. Fit on customers with at least one repeat
    purchase: ``frequency`` (x) and ``monetary_value`` (average value of the x repeat
    purchases). Rows with frequency 0 carry no spend information and are skipped.

    Example:
        >>> from ecomcrm.predict import GammaGamma
        >>> gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
        >>> gg.conditional_expected_average_spend([0, 1, 10], [0, 20.0, 20.0]).round(2).tolist()
        [35.22, 24.64, 20.64]
    """

    _param_names = ("p", "q", "v")
    _time_params = ("v",)

    def __init__(self, params: dict[str, float] | None = None) -> None:
        super().__init__()
        self._set_params(params)

    def _xm(
        self, frequency: ArrayLike, monetary_value: ArrayLike, *, zero_spend: bool = False
    ) -> tuple[FloatArray, FloatArray]:
        entity = type(self).__name__
        x = as_float_array(frequency, entity=entity, field="frequency")
        m = as_float_array(monetary_value, entity=entity, field="monetary_value")
        check_lengths(entity, frequency=x, monetary_value=m)
        checks = [
            ("frequency", x, (x < 0) | (x != np.round(x)), "must be a whole number >= 0"),
            ("monetary_value", m, (x > 0) & (m <= 0), "must be > 0 when frequency > 0"),
            ("monetary_value", m, m < 0, "must not be negative"),
        ]
        if zero_spend:  # rows outside the support are the caller's to handle by rule
            del checks[1:]
        for field, values, mask, message in checks:
            if mask.any():
                i = int(np.flatnonzero(mask)[0])
                raise ValidationError(
                    message, entity=entity, field=field, value=float(values[i]), row=i
                )
        return x, m

    def fit(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        weights: ArrayLike | None = None,
        *,
        zero_spend: Literal["raise", "exclude"] = "raise",
    ) -> GammaGamma:
        """Fit p, q, v by maximum likelihood (analytic gradient).

        Args:
            frequency: Repeat purchases per customer (x); rows with 0 are skipped.
            monetary_value: Average value of those repeat purchases (z̄), > 0 when x > 0.
            weights: Customers per row, default 1.
            zero_spend: What to do with repeat buyers whose average spend is not > 0
                (:meth:`outside_support`): raise ValidationError, or leave them out of
                the fit ("exclude").

        Example:
            >>> import numpy as np
            >>> x = np.random.default_rng(0).integers(1, 8, 3000)
            >>> truth = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
            >>> gg = GammaGamma().fit(x, truth.simulate(x, seed=1))
            >>> sorted(gg.params)
            ['p', 'q', 'v']
        """
        entity = type(self).__name__
        if zero_spend not in ("raise", "exclude"):
            raise ValidationError(
                'must be "raise" or "exclude"', entity=entity, field="zero_spend", value=zero_spend
            )
        x, m = self._xm(frequency, monetary_value, zero_spend=zero_spend == "exclude")
        w = validate_weights(weights, len(x), entity=entity)
        keep = (x > 0) & ~self.outside_support(x, m)
        if not np.any(keep & (w > 0)):
            raise ValidationError(
                "needs at least one customer with frequency > 0", entity=entity, field="frequency"
            )
        # unique rows first: the spend scale below then does not depend on row order, so a
        # fit on merged compressed tables (ecomcrm.dask) equals the fit on all rows
        (x, m), w = compress([x[keep], m[keep]], w[keep])
        scale = float(w.sum() / np.sum(w * m))  # spend rescaled to mean 1 while fitting
        self._fit_compressed({"frequency": x, "monetary_value": m * scale}, w, scale)
        return self

    def simulate(self, frequency: ArrayLike, *, seed: int | None = None) -> FloatArray:
        """Simulate each customer's average spend over ``frequency`` transactions (0 when none).

        Example:
            >>> GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44}).simulate([0, 3], seed=0)[0]
            np.float64(0.0)
        """
        return simulate_spend(self.params, frequency, seed=seed)

    def customer_lifetime_value(
        self,
        transaction_model: Any,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        monetary_value: ArrayLike,
        *,
        model_period: str | float,
        horizon: int = 12,
        horizon_period: str | float = "month",
        discount_rate: float = 0.01,
        zero_spend: Literal["raise", "nan"] = "raise",
    ) -> FloatArray:
        """Discounted CLV with this model's conditional expected spend per transaction.

        See :func:`ecomcrm.predict.customer_lifetime_value` for the time units. With
        ``zero_spend="nan"`` a repeat buyer whose average spend is not > 0
        (:meth:`outside_support`) gets a NaN ("unknown") CLV instead of an error.

        Example:
            >>> from ecomcrm.predict import BetaGeo
            >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
            >>> gg.customer_lifetime_value(bg, [2], [30.43], [38.86], [22.35], model_period="week").round(2).tolist()
            [36.31]
        """
        from ecomcrm.predict._clv import customer_lifetime_value

        spend = self.conditional_expected_average_spend(
            frequency, monetary_value, zero_spend=zero_spend
        )
        unknown = np.isnan(spend)
        clv = customer_lifetime_value(
            transaction_model,
            frequency,
            recency,
            T,
            np.where(unknown, 0.0, spend),
            model_period=model_period,
            horizon=horizon,
            horizon_period=horizon_period,
            discount_rate=discount_rate,
        )
        return np.where(unknown, np.nan, clv)

    def _prepare(self, data: FitData) -> FitData:
        cols = dict(data.columns)
        cols["log_m"] = np.log(cols["monetary_value"])
        cols["log_x"] = np.log(cols["frequency"])
        cols["x_unique"], cols["x_inverse"] = np.unique(cols["frequency"], return_inverse=True)
        return FitData(cols, data.weights, data.n_rows, data.time_scale)

    def _initial_log_params(self, data: FitData) -> FloatArray:
        return np.array([0.0, np.log(2.0), 0.0])

    def _ll_offset(self, data: FitData) -> float:
        # densities of the rescaled average spend carry a 1/scale factor
        return float(np.log(data.time_scale) * data.weights.sum())

    def _loglik(
        self, params: tuple[Any, ...], data: FitData, gradient: bool
    ) -> tuple[FloatArray, list[FloatArray] | None]:
        return gamma_gamma_loglik(params, data, gradient)

    def customer_log_likelihood(
        self, frequency: ArrayLike, monetary_value: ArrayLike
    ) -> FloatArray:
        """Per-customer log density of the observed average spend (frequency > 0).

        Example:
            >>> gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
            >>> gg.customer_log_likelihood([2], [22.35]).round(3).tolist()
            [-3.551]
        """
        x, m = self._xm(frequency, monetary_value)
        data = FitData({"frequency": x, "monetary_value": m}, np.ones(len(x)), len(x), 1.0)
        with np.errstate(all="ignore"):
            return gamma_gamma_loglik(self._p(), self._prepare(data), False)[0]

    def expected_average_spend(self) -> float:
        """Population mean spend per transaction, p v / (q - 1) (infinite when q <= 1).

        Example:
            >>> round(GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44}).expected_average_spend(), 2)
            35.22
        """
        p, q, v = self._p()
        return float(p * v / (q - 1.0)) if q > 1 else float("inf")

    @staticmethod
    def outside_support(frequency: ArrayLike, monetary_value: ArrayLike) -> NDArray[np.bool_]:
        """Rows the model cannot describe: repeat buyers whose repeat spend is not > 0.

        Gamma-Gamma models positive transaction values, so a customer whose repeat
        orders average $0 (free samples, fully discounted orders) or less is outside
        its support. :meth:`fit` must not see such rows and
        :meth:`conditional_expected_average_spend` has no value for them; with
        ``zero_spend="nan"`` it returns NaN there (see docs/predict.md).

        Example:
            >>> GammaGamma.outside_support([0, 2, 3], [0.0, 0.0, 12.5]).tolist()
            [False, True, False]
        """
        x = np.asarray(frequency, dtype=np.float64).reshape(-1)
        m = np.asarray(monetary_value, dtype=np.float64).reshape(-1)
        return np.asarray((x > 0) & ~(m > 0), dtype=bool)

    def conditional_expected_average_spend(
        self,
        frequency: ArrayLike,
        monetary_value: ArrayLike,
        *,
        zero_spend: Literal["raise", "nan"] = "raise",
    ) -> FloatArray:
        """E[spend per transaction | x, z̄]: a weighted mean of z̄ and the population mean.

        Weight on the customer's own mean is p x / (p x + q - 1) (FHL 2005 note 025 eq. 5);
        customers with x = 0 get the population mean. A repeat buyer whose average spend
        is not > 0 is outside the model (:meth:`outside_support`): ValidationError, or
        NaN ("unknown") for those rows with ``zero_spend="nan"``.

        Example:
            >>> gg = GammaGamma(params={"p": 6.25, "q": 3.74, "v": 15.44})
            >>> gg.conditional_expected_average_spend([2], [22.35]).round(2).tolist()
            [24.66]
            >>> gg.conditional_expected_average_spend([2, 3], [22.35, 0.0], zero_spend="nan").round(2).tolist()
            [24.66, nan]
        """
        if zero_spend not in ("raise", "nan"):
            raise ValidationError(
                'must be "raise" or "nan"',
                entity=type(self).__name__,
                field="zero_spend",
                value=zero_spend,
            )
        x, m = self._xm(frequency, monetary_value, zero_spend=zero_spend == "nan")
        p, q, v = self._p()
        if np.any(np.asarray(q) <= 1):
            raise ValidationError(
                "needs q > 1 for a finite mean spend",
                entity=type(self).__name__,
                field="q",
                value=q,
            )
        weight = p * x / (p * x + q - 1.0)
        spend = np.asarray((1.0 - weight) * (p * v / (q - 1.0)) + weight * m)
        if zero_spend == "nan":
            spend = np.where(self.outside_support(x, m), np.nan, spend)
        return spend
