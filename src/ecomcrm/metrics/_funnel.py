from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import as_1d, as_ids, as_timestamps, encode_ids

#: The default e-commerce funnel (Segment's ecommerce spec event names).
DEFAULT_FUNNEL_STEPS: tuple[str, ...] = (
    "Product Viewed",
    "Product Added",
    "Checkout Started",
    "Order Completed",
)

_I64_MAX = np.iinfo(np.int64).max
_ONE_HOUR = np.timedelta64(1, "h")


@attrs.frozen(eq=False)
class Funnel:
    """Customers reaching each step of an ordered funnel.

    Attributes:
        steps: The step event names, in order.
        customers: Customers who reached each step (in order).
        step_conversion: ``customers[k] / customers[k - 1]`` (1.0 for the first step,
            NaN after a step nobody reached).
        overall_conversion: ``customers[k] / customers[0]``.
        drop_off: Customers lost at each step, ``customers[k - 1] - customers[k]`` (0 first).
        drop_off_rate: ``1 - step_conversion``.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import conversion_funnel
        >>> ev = ["Product Viewed", "Product Added", "Product Viewed"]
        >>> f = conversion_funnel([1, 1, 2], ev, np.array(["2024-01-01", "2024-01-02",
        ...     "2024-01-01"], "M8[us]"), steps=["Product Viewed", "Product Added"])
        >>> f.customers.tolist(), f.step_conversion.tolist(), f.drop_off.tolist()
        ([2, 1], [1.0, 0.5], [0, 1])
    """

    steps: tuple[str, ...]
    customers: NDArray[np.int64]
    step_conversion: NDArray[np.float64]
    overall_conversion: NDArray[np.float64]
    drop_off: NDArray[np.int64]
    drop_off_rate: NDArray[np.float64]

    def __len__(self) -> int:
        """Number of steps."""
        return len(self.steps)


@attrs.frozen
class CartAbandonment:
    """Cart abandonment and recovery counts and rates.

    Attributes:
        carts: Carts created (see :func:`cart_abandonment`).
        completed: Carts ordered within ``abandon_after`` of their creation.
        abandoned: ``carts - completed``.
        recovered: Abandoned carts ordered later (within ``recovery_window`` if given).
        abandonment_rate: ``abandoned / carts`` (NaN without carts).
        recovery_rate: ``recovered / abandoned`` (NaN without abandoned carts).

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import cart_abandonment
        >>> r = cart_abandonment([1], ["Product Added"], np.array(["2024-01-01"], "M8[us]"))
        >>> r.carts, r.abandoned, r.abandonment_rate
        (1, 1, 1.0)
    """

    carts: int
    completed: int
    abandoned: int
    recovered: int
    abandonment_rate: float
    recovery_rate: float


def _events(x: ArrayLike, entity: str) -> NDArray[Any]:
    return as_1d(x, entity=entity, field="event")


def _duration_us(value: Any, entity: str, field: str) -> int | None:
    if value is None:
        return None
    try:
        td = np.timedelta64(value)
        us = int(td.astype("m8[us]").astype(np.int64))
    except (ValueError, TypeError) as exc:
        raise ValidationError(
            "must be a timedelta (e.g. np.timedelta64(7, 'D'))",
            entity=entity,
            field=field,
            value=value,
        ) from exc
    if us < 0:
        raise ValidationError("must not be negative", entity=entity, field=field, value=value)
    return us


@nan_policy("customer_id", "event", "timestamp")
def conversion_funnel(
    customer_id: ArrayLike,
    event: ArrayLike,
    timestamp: ArrayLike,
    *,
    steps: Sequence[str] = DEFAULT_FUNNEL_STEPS,
    window: Any = None,
    nan_policy: NanPolicy = "raise",
) -> Funnel:
    """Conversion funnel over ordered event names, with step conversion and drop-off.

    A customer reaches step ``k`` when they have an event ``steps[k]`` at or after the time
    they reached step ``k - 1`` (each step is reached at the earliest such event; equal
    timestamps count as in order). Step 0 is reached at the customer's first ``steps[0]``
    event, and with ``window`` every later step must happen within ``window`` of that time.
    Events not in ``steps`` are ignored.

    Args:
        customer_id: One id per event row.
        event: Event names (strings).
        timestamp: Event times, ``datetime64[us]`` UTC.
        steps: The ordered step names (default :data:`DEFAULT_FUNNEL_STEPS`).
        window: Optional maximum time from step 0 (``np.timedelta64`` or
            ``datetime.timedelta``).
        nan_policy: {nan_policy}

    Returns:
        A :class:`Funnel`.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import conversion_funnel
        >>> ev = ["Product Viewed", "Product Added", "Checkout Started", "Order Completed",
        ...       "Product Viewed", "Product Added", "Product Viewed"]
        >>> ts = np.array(["2024-01-01T10", "2024-01-01T11", "2024-01-01T12", "2024-01-01T13",
        ...                "2024-01-02", "2024-01-03", "2024-01-02"], "M8[us]")
        >>> f = conversion_funnel([1, 1, 1, 1, 2, 2, 3], ev, ts)
        >>> f.customers.tolist(), f.overall_conversion.round(3).tolist()
        ([3, 2, 1, 1], [1.0, 0.667, 0.333, 0.333])
    """
    entity = "conversion_funnel"
    names = tuple(str(s) for s in steps)
    if not names or len(set(names)) != len(names):
        raise ConfigurationError(
            "must be one or more distinct event names", field="steps", value=list(steps)
        )
    win = _duration_us(window, entity, "window")
    ids = as_ids(customer_id, entity=entity)
    ev = _events(event, entity)
    ts = as_timestamps(timestamp, entity=entity)
    codes, uniques = encode_ids(ids)
    n_codes = len(uniques)
    reached_at = np.full(n_codes, _I64_MAX, dtype=np.int64)
    start = reached_at
    counts = np.zeros(len(names), dtype=np.int64)
    for k, name in enumerate(names):  # a handful of steps, each vectorized over all rows
        rows = np.flatnonzero(ev == name)
        c = codes[rows]
        t = ts[rows]
        if k > 0:
            ok = t >= reached_at[c]  # unreached customers have reached_at = max
            if win is not None:
                ok &= t - start[c] <= win
            c, t = c[ok], t[ok]
        at = np.full(n_codes, _I64_MAX, dtype=np.int64)
        np.minimum.at(at, c, t)
        reached_at = at
        if k == 0:
            start = at
        counts[k] = int(np.count_nonzero(at != _I64_MAX))
    prev = np.concatenate([counts[:1], counts[:-1]])
    with np.errstate(invalid="ignore", divide="ignore"):
        step = np.where(prev > 0, counts / np.maximum(prev, 1), np.nan)
        overall = np.where(counts[0] > 0, counts / max(int(counts[0]), 1), np.nan)
    return Funnel(
        steps=names,
        customers=counts,
        step_conversion=step.astype(np.float64),
        overall_conversion=overall.astype(np.float64),
        drop_off=(prev - counts).astype(np.int64),
        drop_off_rate=(1.0 - step).astype(np.float64),
    )


@nan_policy("customer_id", "event", "timestamp")
def cart_abandonment(
    customer_id: ArrayLike,
    event: ArrayLike,
    timestamp: ArrayLike,
    *,
    cart_event: str = "Product Added",
    order_event: str = "Order Completed",
    abandon_after: Any = _ONE_HOUR,
    recovery_window: Any = None,
    nan_policy: NanPolicy = "raise",
) -> CartAbandonment:
    """Cart abandonment rate and abandoned-cart recovery rate.

    A *cart* opens at a customer's ``cart_event`` when they have no open cart (their first,
    or the first after an order) and closes at their next ``order_event``; further cart events
    before the order join the same cart. At equal timestamps the cart event comes first. A
    cart is *completed* when its order comes within ``abandon_after`` of the cart opening,
    *abandoned* otherwise, and an abandoned cart is *recovered* when its order does come
    later (within ``recovery_window`` of the opening, if given).

    ``abandonment_rate = abandoned / carts`` (i.e. ``1 - completed / carts``) and
    ``recovery_rate = recovered / abandoned``. Orders without a cart event are ignored.

    Args:
        customer_id: One id per event row.
        event: Event names.
        timestamp: Event times.
        cart_event: The add-to-cart event name.
        order_event: The order event name.
        abandon_after: Time after which an open cart counts as abandoned (default 1 hour;
            ``None``: only carts never ordered are abandoned).
        recovery_window: Optional limit, from the cart opening, for a recovery.
        nan_policy: {nan_policy}

    Returns:
        A :class:`CartAbandonment`.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.metrics import cart_abandonment
        >>> ev = ["Product Added", "Order Completed", "Product Added", "Order Completed",
        ...       "Product Added"]
        >>> ts = np.array(["2024-01-01T10:00", "2024-01-01T10:20", "2024-01-01T10:00",
        ...                "2024-01-02T09:00", "2024-01-03T08:00"], "M8[us]")
        >>> r = cart_abandonment([1, 1, 2, 2, 3], ev, ts)
        >>> r.carts, r.completed, r.abandoned, r.recovered, r.recovery_rate
        (3, 1, 2, 1, 0.5)
    """
    entity = "cart_abandonment"
    if str(cart_event) == str(order_event):
        raise ConfigurationError(
            "must differ from order_event", field="cart_event", value=cart_event
        )
    after = _duration_us(abandon_after, entity, "abandon_after")
    recover = _duration_us(recovery_window, entity, "recovery_window")
    ids = as_ids(customer_id, entity=entity)
    ev = _events(event, entity)
    ts = as_timestamps(timestamp, entity=entity)
    codes, _ = encode_ids(ids)
    is_cart = ev == str(cart_event)
    is_order = ev == str(order_event)
    rows = np.flatnonzero(is_cart | is_order)
    c = codes[rows]
    t = ts[rows]
    kind = is_order[rows].astype(np.int8)  # cart 0 sorts before order 1 at equal times
    order = np.lexsort((kind, t, c))
    c, t, kind = c[order], t[order], kind[order]
    n = len(c)
    if n == 0:
        return CartAbandonment(0, 0, 0, 0, float("nan"), float("nan"))
    new_customer = np.ones(n, dtype=bool)
    new_customer[1:] = c[1:] != c[:-1]
    prev_is_order = np.zeros(n, dtype=bool)
    prev_is_order[1:] = kind[:-1] == 1
    opens = np.flatnonzero((kind == 0) & (new_customer | prev_is_order))
    idx = np.where(kind == 1, np.arange(n), n)
    next_order = np.minimum.accumulate(idx[::-1])[::-1]
    closing = next_order[opens]
    has_order = closing < n
    closing_safe = np.where(has_order, closing, 0)
    has_order &= c[closing_safe] == c[opens]
    delay = t[closing_safe] - t[opens]
    limit = _I64_MAX if after is None else after
    completed_mask = has_order & (delay <= limit)
    abandoned_mask = ~completed_mask
    recovered_mask = abandoned_mask & has_order
    if recover is not None:
        recovered_mask &= delay <= recover
    carts = len(opens)
    completed = int(np.count_nonzero(completed_mask))
    abandoned = carts - completed
    recovered = int(np.count_nonzero(recovered_mask))
    return CartAbandonment(
        carts=carts,
        completed=completed,
        abandoned=abandoned,
        recovered=recovered,
        abandonment_rate=abandoned / carts if carts else float("nan"),
        recovery_rate=recovered / abandoned if abandoned else float("nan"),
    )
