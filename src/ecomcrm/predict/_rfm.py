"""Common base of the continuous-time (frequency, recency, T) models."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import (
    BaseModel,
    FitData,
    FloatArray,
    IntArray,
    as_float_array,
    time_scale_for,
    validate_rfm,
    validate_weights,
)
from ecomcrm.predict._simulate import SimulatedCustomers

# dense grouping of (frequency, T) pairs is used up to this many table cells
_DENSE_LIMIT = 1 << 25
_GROUP_MIN_ROWS = 100_000


def group_pairs(x: FloatArray, T: FloatArray) -> tuple[FloatArray, FloatArray, IntArray] | None:
    """Unique (x, T) pairs and the inverse index, when cheap to find (integer-valued T).

    Returns ``None`` when grouping would not pay off (small input, non-integer T, or a table
    too large); callers then compute per row.
    """
    n = len(x)
    if n < _GROUP_MIN_ROWS:
        return None
    tmax = float(T.max())
    xmax = float(x.max())
    if (xmax + 1) * (tmax + 1) > _DENSE_LIMIT or not np.array_equal(T, np.floor(T)):
        return None
    width = int(tmax) + 1
    key = x.astype(np.int64) * width + T.astype(np.int64)
    occupied = np.zeros((int(xmax) + 1) * width, dtype=bool)
    occupied[key] = True
    cells = np.flatnonzero(occupied)
    if len(cells) * 4 > n:
        return None
    position = np.empty(len(occupied), dtype=np.int64)
    position[cells] = np.arange(len(cells))
    return (cells // width).astype(np.float64), (cells % width).astype(np.float64), position[key]


def with_frequency_index(data: FitData) -> FitData:
    """``data`` plus ``xi`` (frequency as an index) and ``xs`` (0, 1, ..., max frequency).

    Likelihood terms that depend on the frequency only are evaluated on ``xs`` and gathered
    with ``xi``.
    """
    x = data["frequency"]
    cols = dict(data.columns)
    cols["xi"] = x.astype(np.intp)
    cols["xs"] = np.arange(int(x.max()) + 1, dtype=np.float64)
    return FitData(cols, data.weights, data.n_rows, data.time_scale)


class RFMModel(BaseModel):
    """A model of repeat purchases in continuous time fitted on (frequency, recency, T)."""

    _time_params: ClassVar[tuple[str, ...]] = ("alpha", "beta")
    _modified = False

    def __init__(self, params: dict[str, float] | None = None) -> None:
        super().__init__()
        self._set_params(params)

    def fit(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        weights: ArrayLike | None = None,
    ) -> Any:
        """Fit by maximum likelihood; see the class docstring. Returns ``self``."""
        entity = type(self).__name__
        x, tx, t = validate_rfm(entity, frequency, recency, T)
        w = validate_weights(weights, len(x), entity=entity)
        scale = time_scale_for(t)
        self._fit_compressed({"frequency": x, "recency": tx * scale, "T": t * scale}, w, scale)
        return self

    def _prepare(self, data: FitData) -> FitData:
        return with_frequency_index(data)

    def _ll_offset(self, data: FitData) -> float:
        # densities in recency carry a factor 1/time per purchase: undo the rescaling
        return float(np.log(data.time_scale) * np.sum(data.weights * data["frequency"]))

    def simulate(
        self, T: ArrayLike, *, holdout: float = 0.0, seed: int | None = None
    ) -> SimulatedCustomers:
        """Simulate customers with ages ``T`` from the current parameters.

        Args:
            T: Age of each simulated customer at the end of calibration.
            holdout: Length of a holdout period after T (purchases in it are counted).
            seed: Seed for :func:`numpy.random.default_rng`.

        Example:
            >>> from ecomcrm.predict import BetaGeo
            >>> sim = BetaGeo(params={"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5}).simulate([39.0] * 3, seed=0)
            >>> len(sim.frequency)
            3
        """
        from ecomcrm.predict._simulate import simulate_beta_geo, simulate_pareto_nbd

        if "s" in self.params:
            return simulate_pareto_nbd(self.params, T, holdout=holdout, seed=seed)
        return simulate_beta_geo(
            self.params, T, holdout=holdout, seed=seed, modified=self._modified
        )

    # -- helpers for predictions -------------------------------------------------------
    def _rfm(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        return validate_rfm(type(self).__name__, frequency, recency, T)

    def _customer_log_likelihood(
        self, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """Per-customer ``_loglik`` at the current parameters: rows as given, unit weights."""
        x, tx, t = self._rfm(frequency, recency, T)
        data = FitData({"frequency": x, "recency": tx, "T": t}, np.ones(len(x)), len(x), 1.0)
        with np.errstate(all="ignore"):
            ll, _ = self._loglik(self._p(), with_frequency_index(data), False)
        return ll

    def _time(self, t: ArrayLike, name: str = "t") -> FloatArray | float:
        arr = np.asarray(t, dtype=np.float64)
        if arr.ndim == 0:
            v = float(arr)
            if not (np.isfinite(v) and v >= 0):
                raise ValidationError(
                    "must be a finite number >= 0", entity=type(self).__name__, field=name, value=v
                )
            return v
        out = as_float_array(arr, entity=type(self).__name__, field=name)
        bad = out < 0
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValidationError(
                "must not be negative",
                entity=type(self).__name__,
                field=name,
                value=float(out[i]),
                row=i,
            )
        return out

    def _count(self, n: ArrayLike) -> FloatArray | float:
        arr = np.asarray(n, dtype=np.float64)
        bad = (arr < 0) | (arr != np.round(arr)) | ~np.isfinite(arr)
        if np.any(bad):
            raise ValidationError(
                "must be a whole number >= 0",
                entity=type(self).__name__,
                field="n",
                value=arr[bad].ravel()[0].item() if arr.ndim else float(arr),
            )
        return float(arr) if arr.ndim == 0 else arr

    # -- timing of the next purchase ----------------------------------------------------
    def _alive_purchase_cdf(self, t: FloatArray, x: FloatArray, T: FloatArray) -> FloatArray:
        """P(a purchase in (T, T + t] | alive at T, x, T); overridden by each model."""
        raise NotImplementedError  # pragma: no cover

    def _alive_purchase_quantile(
        self, level: FloatArray, x: FloatArray, T: FloatArray
    ) -> FloatArray:
        """The t with ``_alive_purchase_cdf(t) == level`` (inf when never reached)."""
        raise NotImplementedError  # pragma: no cover

    def _level(self, probability: float) -> float:
        p = float(probability)
        if not 0.0 < p < 1.0:
            raise ValidationError(
                "must be strictly between 0 and 1",
                entity=type(self).__name__,
                field="probability",
                value=p,
            )
        return p

    def conditional_probability_purchase_within(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:
        """P(at least one purchase in (T, T + t] | x, t_x, T), vectorized.

        A customer buys again in the window only if still alive at T; given that, the
        posterior purchase rate is Gamma(r + x, α + T) (and for Pareto/NBD the dropout
        rate Gamma(s, β + T)), so the probability is P(alive) times the chance that the
        first purchase after T comes within ``t`` (and, for Pareto/NBD, before dropout).

        Example:
            >>> from ecomcrm.predict import BetaGeo
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.conditional_probability_purchase_within(4, [2], [30.43], [38.86]).round(3).tolist()
            [0.131]
        """
        x, tx, T_ = self._rfm(frequency, recency, T)
        tt = np.broadcast_to(np.asarray(self._time(t), dtype=np.float64), x.shape)
        alive = self.conditional_probability_alive(x, tx, T_)  # type: ignore[attr-defined]
        with np.errstate(all="ignore"):
            return np.asarray(alive * self._alive_purchase_cdf(tt, x, T_), dtype=np.float64)

    def conditional_time_to_purchase(
        self,
        frequency: ArrayLike,
        recency: ArrayLike,
        T: ArrayLike,
        *,
        probability: float = 0.5,
    ) -> FloatArray:
        """Time after T by which the customer has bought again with ``probability``.

        The default is the median waiting time to the next purchase: the t with
        :meth:`conditional_probability_purchase_within` ``(t) == 0.5``. As t grows that
        probability tends to P(alive) (times, for Pareto/NBD, the chance of buying before
        dropping out), so the time is infinite for a customer the model does not deem
        likely enough to buy again (for the median: P(alive) <= 1/2). Finite values are
        always > 0: a customer deemed alive is never due in the past. (The mean waiting
        time is infinite for one-time buyers when r <= 1, so the median is used.)

        Example:
            >>> from ecomcrm.predict import BetaGeo
            >>> m = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
            >>> m.conditional_time_to_purchase([2, 5], [30.43, 10.0], [38.86, 38.86]).round(2).tolist()
            [29.48, inf]
        """
        x, tx, T_ = self._rfm(frequency, recency, T)
        p = self._level(probability)
        alive = self.conditional_probability_alive(x, tx, T_)  # type: ignore[attr-defined]
        out = np.full(len(x), np.inf)
        reach = alive > p
        if reach.any():
            with np.errstate(all="ignore"):
                out[reach] = self._alive_purchase_quantile(p / alive[reach], x[reach], T_[reach])
        return out

    # -- interface used by the CLV and interval functions ----------------------------------
    def conditional_expected_purchases(
        self, t: ArrayLike, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
    ) -> FloatArray:  # pragma: no cover - overridden
        """Expected repeat purchases in the next ``t`` periods given each history."""
        raise NotImplementedError

    def _discounted_purchases(
        self,
        steps: FloatArray,
        discounts: FloatArray,
        x: FloatArray,
        tx: FloatArray,
        T: FloatArray,
    ) -> FloatArray:
        """Sum over k of discounts[k] * (E[N(steps[k])] - E[N(steps[k-1])]) per customer."""
        total = np.zeros(len(x))
        previous = np.zeros(len(x))
        for t, d in zip(steps, discounts, strict=True):
            current = self.conditional_expected_purchases(float(t), x, tx, T)
            total += d * (current - previous)
            previous = current
        return total


def pos(value: NDArray[Any]) -> NDArray[Any]:
    """Clip to [0, inf) (tiny negative values from rounding)."""
    out: NDArray[Any] = np.maximum(value, 0.0)
    return out
