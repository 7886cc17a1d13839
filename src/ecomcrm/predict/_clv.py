from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.predict._base import BaseModel, FloatArray, _check_level, as_float_array
from ecomcrm.predict._rfm import RFMModel

_DAYS_PER_YEAR = 365.25
PERIOD_DAYS: dict[str, float] = {
    "hour": 1.0 / 24.0,
    "day": 1.0,
    "week": 7.0,
    "month": _DAYS_PER_YEAR / 12.0,
    "quarter": _DAYS_PER_YEAR / 4.0,
    "year": _DAYS_PER_YEAR,
}
_ALIASES = {"h": "hour", "D": "day", "W": "week", "M": "month", "Q": "quarter", "Y": "year"}


def period_days(period: str | float, *, field: str = "period") -> float:
    """Length of a time unit in days.

    A name (``"day"``, ``"week"``, ``"month"`` = 365.25/12 days, ``"quarter"``, ``"year"``,
    or pandas-style ``"D"``, ``"W"``, ``"M"``, ...) or a number of days.

    Args:
        period: The unit.
        field: Argument name used in error messages.

    Example:
        >>> period_days("week"), round(period_days("month"), 4), period_days(30)
        (7.0, 30.4375, 30.0)
    """
    if isinstance(period, str):
        name = _ALIASES.get(period, period.lower().rstrip("s"))
        if name not in PERIOD_DAYS:
            raise ValidationError(
                f"unknown time unit; use one of {sorted(PERIOD_DAYS)} or a number of days",
                entity="predict",
                field=field,
                value=period,
            )
        return PERIOD_DAYS[name]
    value = float(period)
    if not (np.isfinite(value) and value > 0):
        raise ValidationError(
            "must be a positive number of days", entity="predict", field=field, value=value
        )
    return value


def customer_lifetime_value(
    model: Any,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    spend: ArrayLike,
    *,
    model_period: str | float,
    horizon: int = 12,
    horizon_period: str | float = "month",
    discount_rate: float = 0.01,
) -> FloatArray:
    """Discounted expected value of each customer's purchases over the next ``horizon`` periods.

    CLV = Σ_{k=1..horizon} spend · (E[N(k·f)] − E[N((k−1)·f)]) / (1 + d)^k, where N(t) counts
    purchases in the next t model periods, f is the horizon period in model periods and d
    the discount rate per horizon period: lifetimes' ``customer_lifetime_value`` with the time
    units spelled out. The horizon steps are a loop of ``horizon`` array operations; BG/NBD,
    MBG/NBD and Pareto/NBD factor out per-customer terms, so 10 million customers take seconds.

    Args:
        model: A fitted BetaGeo, ModifiedBetaGeo or ParetoNBD.
        frequency: Repeat purchases per customer.
        recency: Time of the last repeat purchase, in the model's time unit.
        T: Customer age, in the model's time unit.
        spend: Expected value per transaction (a scalar, or per customer, e.g. from
            :meth:`GammaGamma.conditional_expected_average_spend`).
        model_period: The time unit of ``recency``/``T`` the model was fitted in ("day",
            "week", ... or days as a number).
        horizon: Number of horizon periods.
        horizon_period: Length of one horizon period (default a month of 365.25/12 days);
            lifetimes uses 30 days (``freq="D"``) or 4.345 weeks (``freq="W"``).
        discount_rate: Discount rate per horizon period.

    Example:
        >>> from ecomcrm.predict import BetaGeo, customer_lifetime_value
        >>> bg = BetaGeo(params={"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426})
        >>> clv = customer_lifetime_value(bg, [2, 0], [30.43, 0], [38.86, 38.86], [30.0, 30.0],
        ...                               model_period="week")
        >>> clv.round(2).tolist()
        [44.17, 7.13]
    """
    if not isinstance(model, RFMModel):
        raise ValidationError(
            "needs a BetaGeo, ModifiedBetaGeo or ParetoNBD model",
            entity="customer_lifetime_value",
            field="model",
            value=type(model).__name__,
        )
    steps_per = period_days(horizon_period, field="horizon_period") / period_days(
        model_period, field="model_period"
    )
    if int(horizon) != horizon or horizon < 1:
        raise ValidationError(
            "must be a whole number >= 1",
            entity="customer_lifetime_value",
            field="horizon",
            value=horizon,
        )
    d = float(discount_rate)
    if not (np.isfinite(d) and d > -1):
        raise ValidationError(
            "must be > -1", entity="customer_lifetime_value", field="discount_rate", value=d
        )
    x, tx, t = model._rfm(frequency, recency, T)
    money = np.asarray(spend, dtype=np.float64)
    if money.ndim:
        money = as_float_array(money, entity="customer_lifetime_value", field="spend")
        if len(money) != len(x):
            raise ValidationError(
                f"has length {len(money)} but frequency has length {len(x)}",
                entity="customer_lifetime_value",
                field="spend",
            )
    k = np.arange(1, int(horizon) + 1, dtype=np.float64)
    with np.errstate(all="ignore"):
        purchases = model._discounted_purchases(k * steps_per, (1.0 + d) ** -k, x, tx, t)
    return np.asarray(money * purchases, dtype=np.float64)


def churn_risk_labels(
    p_alive: ArrayLike,
    *,
    thresholds: Sequence[float] = (0.3, 0.7),
    labels: Sequence[str] = ("high", "medium", "low"),
) -> NDArray[np.str_]:
    """Label churn risk from P(alive): below the first threshold is the first label, etc.

    Example:
        >>> churn_risk_labels([0.05, 0.5, 0.95]).tolist()
        ['high', 'medium', 'low']
    """
    p = as_float_array(p_alive, entity="churn_risk_labels", field="p_alive")
    cuts = np.asarray(thresholds, dtype=np.float64)
    if len(labels) != len(cuts) + 1:
        raise ValidationError(
            "needs one more label than thresholds",
            entity="churn_risk_labels",
            field="labels",
            value=list(labels),
        )
    if np.any(np.diff(cuts) <= 0) or np.any((cuts < 0) | (cuts > 1)):
        raise ValidationError(
            "must increase within [0, 1]",
            entity="churn_risk_labels",
            field="thresholds",
            value=list(cuts),
        )
    bad = (p < 0) | (p > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(
            "must be a probability",
            entity="churn_risk_labels",
            field="p_alive",
            value=float(p[i]),
            row=i,
        )
    return np.asarray(labels, dtype=np.str_)[np.searchsorted(cuts, p, side="right")]


def prediction_interval(
    model: BaseModel,
    method: str | Callable[..., Any],
    *args: Any,
    level: float = 0.9,
    n_draws: int = 200,
    seed: int | None = None,
    max_cells: int = 4_000_000,
    **kwargs: Any,
) -> tuple[FloatArray, FloatArray]:
    """Interval for any per-customer prediction from the Laplace approximation of the fit.

    Draws ``n_draws`` parameter vectors from N(log θ̂, H⁻¹) (log space, so they stay
    positive), evaluates the prediction for all draws at once by broadcasting (customers
    are processed in chunks of ``max_cells / n_draws``), and returns the central ``level``
    quantiles.

    Args:
        model: A model fitted by ``fit`` (it needs the Hessian).
        method: The name of a prediction method (``"conditional_probability_alive"``) or a
            callable ``f(model, *args, **kwargs)`` such as :func:`customer_lifetime_value`.
        *args: Passed on; 1-D arrays as long as the longest one are chunked.
        level: Central probability of the interval.
        n_draws: Parameter draws.
        seed: Seed of the draws.
        max_cells: Bound on draws x customers evaluated at once (memory).
        **kwargs: Passed on like ``args``.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.predict import BetaGeo, prediction_interval
        >>> m = BetaGeo().fit(*BetaGeo(params={"r": 0.5, "alpha": 5, "a": 1, "b": 3})
        ...                   .simulate(np.full(2000, 30.0), seed=1).rfm)
        >>> lo, hi = prediction_interval(m, "conditional_expected_purchases", 10, [2], [20.0], [30.0], seed=0)
        >>> bool(lo[0] < m.conditional_expected_purchases(10, [2], [20.0], [30.0])[0] < hi[0])
        True
    """
    _check_level(level, type(model).__name__)
    draws = model._with_params(model.sample_params(n_draws, seed=seed))
    fn: Callable[..., Any]
    if isinstance(method, str):
        if method.startswith("_") or not hasattr(model, method):
            raise ValidationError(
                "is not a prediction method of the model",
                entity=type(model).__name__,
                field="method",
                value=method,
            )

        def fn(m: Any, *a: Any, **k: Any) -> Any:
            return getattr(m, method)(*a, **k)
    else:
        fn = method
    lengths = [np.size(a) for a in (*args, *kwargs.values()) if np.ndim(a) == 1]
    n = max(lengths, default=1)
    chunk = max(1, max_cells // n_draws)
    q = [(1.0 - level) / 2.0, (1.0 + level) / 2.0]
    lows, highs = [], []
    for start in range(0, n, chunk):

        def cut(a: Any, start: int = start) -> Any:
            return a[start : start + chunk] if np.ndim(a) == 1 and np.size(a) == n else a

        out = np.asarray(
            fn(draws, *[cut(a) for a in args], **{k: cut(v) for k, v in kwargs.items()})
        )
        out = out.reshape(n_draws, -1)
        lo, hi = np.nanquantile(out, q, axis=0)
        lows.append(lo)
        highs.append(hi)
    return np.concatenate(lows), np.concatenate(highs)
