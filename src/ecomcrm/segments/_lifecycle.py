"""Lifecycle stages for every customer at once (np.select over the feature table)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.segments._durations import to_datetime64
from ecomcrm.segments._features import FeatureTable

__all__ = ["LifecycleConfig", "LifecycleStage", "classify_lifecycle"]


class LifecycleStage(enum.IntEnum):
    """Where a customer is in their relationship with the shop (stored as ``int8``).

    Example:
        >>> LifecycleStage(3).label
        'at risk'
    """

    PROSPECT = 0
    NEW = 1
    ACTIVE = 2
    AT_RISK = 3
    LAPSED = 4
    WON_BACK = 5
    VIP = 6

    @property
    def label(self) -> str:
        """Lower-case words, e.g. ``'won back'``."""
        return self.name.lower().replace("_", " ")


def _positive(instance: Any, attribute: Any, value: float) -> None:
    if value < 0:
        raise ConfigurationError(
            "must not be negative", entity="LifecycleConfig", field=attribute.name, value=value
        )


def _probability(instance: Any, attribute: Any, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        raise ConfigurationError(
            "must be a probability in [0, 1]",
            entity="LifecycleConfig",
            field=attribute.name,
            value=value,
        )


@attrs.frozen(kw_only=True)
class LifecycleConfig:
    """Thresholds of :func:`classify_lifecycle`.

    Args:
        new_days: A first order at most this many days ago makes a customer "new".
        active_days: Last order within this many days: "active" (recency rule).
        lapsed_days: Last order more than this many days ago: "lapsed"; in between: "at risk".
        won_back_gap_days: An active customer whose previous gap between orders was
            longer than this was "won back".
        vip_min_spent: Active customers with at least this total spend are "VIP".
        vip_min_clv: ... or with at least this predicted CLV (when the column is there).
        p_alive_active: With P(alive) known, at least this is "active" ...
        p_alive_lapsed: ... below this is "lapsed", in between "at risk".
        use_p_alive: Use P(alive) where the table has it (non-null); else recency only.

    Example:
        >>> LifecycleConfig(active_days=60).lapsed_days
        180
    """

    new_days: float = attrs.field(default=30, validator=_positive)
    active_days: float = attrs.field(default=90, validator=_positive)
    lapsed_days: float = attrs.field(default=180, validator=_positive)
    won_back_gap_days: float = attrs.field(default=180, validator=_positive)
    vip_min_spent: float = attrs.field(default=1000.0, validator=_positive)
    vip_min_clv: float = attrs.field(default=1000.0, validator=_positive)
    p_alive_active: float = attrs.field(default=0.7, validator=_probability)
    p_alive_lapsed: float = attrs.field(default=0.3, validator=_probability)
    use_p_alive: bool = True

    def __attrs_post_init__(self) -> None:
        if self.lapsed_days < self.active_days:
            raise ConfigurationError(
                "lapsed_days must be at least active_days",
                entity="LifecycleConfig",
                field="lapsed_days",
                value=self.lapsed_days,
            )
        if self.p_alive_lapsed > self.p_alive_active:
            raise ConfigurationError(
                "p_alive_lapsed must not exceed p_alive_active",
                entity="LifecycleConfig",
                field="p_alive_lapsed",
                value=self.p_alive_lapsed,
            )


def _number(table: FeatureTable, name: str) -> NDArray[np.float64] | None:
    if name not in table:
        return None
    col = table.column(name)
    if not isinstance(col, np.ndarray) or col.dtype.kind not in "iuf":
        raise ValidationError("must be a numeric column", entity="FeatureTable", field=name)
    return col.astype(np.float64, copy=False)


def _days_since(
    table: FeatureTable, days_col: str, at_col: str, now: dt.datetime | None
) -> NDArray[np.float64]:
    days = _number(table, days_col)
    if days is not None:
        return days
    if at_col in table and now is not None:
        at = table.column(at_col)
        assert isinstance(at, np.ndarray)
        elapsed: NDArray[Any] = to_datetime64(now) - at
        out: NDArray[np.float64] = elapsed / np.timedelta64(86_400_000_000, "us")
        return out
    raise ValidationError(
        f"needs the column {days_col!r} (or {at_col!r} and now=...)",
        entity="classify_lifecycle",
        field=days_col,
    )


def classify_lifecycle(
    table: FeatureTable,
    now: dt.datetime | None = None,
    config: LifecycleConfig | None = None,
) -> NDArray[np.int8]:
    """The :class:`LifecycleStage` of every row of ``table``, as ``int8`` codes.

    Rules, first match wins: no orders -> prospect; then the activity state, from
    P(alive) where the ``p_alive`` column is present and non-null (and
    ``config.use_p_alive``), else from days since the last order: active customers are
    VIP (spend or predicted CLV over the thresholds), else won back (the gap before their
    last order exceeded ``won_back_gap_days``), else new (first order within
    ``new_days``), else active; then at risk; then lapsed.

    Uses ``orders_count``, ``days_since_last_order`` (or ``last_order_at`` and ``now``),
    and when present ``days_since_first_order`` (or ``first_order_at``), ``total_spent``,
    ``predicted_clv``, ``p_alive``, ``days_between_last_two_orders``.

    Example:
        >>> t = FeatureTable(
        ...     [1, 2, 3, 4],
        ...     {"orders_count": [0, 1, 3, 2], "days_since_last_order": [None, 5.0, 120.0, 400.0]},
        ...     {"orders_count": "integer", "days_since_last_order": "number"},
        ... )
        >>> [LifecycleStage(s).label for s in classify_lifecycle(t)]
        ['prospect', 'active', 'at risk', 'lapsed']
    """
    cfg = config or LifecycleConfig()
    n = len(table)
    orders = _number(table, "orders_count")
    if orders is None:
        raise ValidationError("needs the column 'orders_count'", entity="classify_lifecycle")
    since_last = _days_since(table, "days_since_last_order", "last_order_at", now)
    try:
        since_first: NDArray[np.float64] | None = _days_since(
            table, "days_since_first_order", "first_order_at", now
        )
    except ValidationError:
        since_first = None
    nan = np.full(n, np.nan)
    spent = _number(table, "total_spent")
    clv = _number(table, "predicted_clv")
    gap = _number(table, "days_between_last_two_orders")
    p_alive = _number(table, "p_alive") if cfg.use_p_alive else None

    with np.errstate(invalid="ignore"):
        prospect = ~(orders > 0)
        active = since_last <= cfg.active_days
        lapsed = since_last > cfg.lapsed_days
        if p_alive is not None:
            known = ~np.isnan(p_alive)
            active = np.where(known, p_alive >= cfg.p_alive_active, active)
            lapsed = np.where(known, p_alive < cfg.p_alive_lapsed, lapsed)
        vip = active & (
            ((spent if spent is not None else nan) >= cfg.vip_min_spent)
            | ((clv if clv is not None else nan) >= cfg.vip_min_clv)
        )
        won_back = active & ((gap if gap is not None else nan) > cfg.won_back_gap_days)
        new = active & ((since_first if since_first is not None else nan) <= cfg.new_days)
    stages = np.select(
        [prospect, vip, won_back, new, active, lapsed],
        [
            LifecycleStage.PROSPECT,
            LifecycleStage.VIP,
            LifecycleStage.WON_BACK,
            LifecycleStage.NEW,
            LifecycleStage.ACTIVE,
            LifecycleStage.LAPSED,
        ],
        default=LifecycleStage.AT_RISK,
    ).astype(np.int8)
    # no known last order date for a buyer: we cannot tell, call it at risk (the default)
    return stages
