from __future__ import annotations

from typing import Any

import attrs
import numpy as np
from numpy.typing import ArrayLike, NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.metrics._groups import wsum
from ecomcrm.metrics._nan_policy import NanPolicy, nan_policy
from ecomcrm.metrics._validate import as_amounts, as_ids, encode_ids


def _margin(value: Any, entity: str) -> float:
    try:
        m = float(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            "must be a number in [0, 1]", entity=entity, field="gross_margin", value=value
        ) from exc
    if not 0.0 <= m <= 1.0:
        raise ValidationError(
            "must be a number in [0, 1]", entity=entity, field="gross_margin", value=value
        )
    return m


@attrs.frozen(eq=False)
class CustomerValue:
    """Historical value per customer, sorted by ``customer_id``.

    Attributes:
        customer_id: The customers (every id that occurs, refund-only ones included).
        n_orders: Orders (rows with a non-negative amount).
        revenue: Net revenue: sum of all amounts, refunds subtracted.
        average_order_value: ``revenue / n_orders`` (NaN without orders).
        clv: Historical CLV, ``revenue * gross_margin``.

    Example:
        >>> from ecomcrm.metrics import historical_clv
        >>> v = historical_clv([1, 1, 2], [30.0, 10.0, 5.0], gross_margin=0.5)
        >>> v.customer_id.tolist(), v.clv.tolist()
        ([1, 2], [20.0, 2.5])
    """

    customer_id: NDArray[Any]
    n_orders: NDArray[np.int64]
    revenue: NDArray[np.float64]
    average_order_value: NDArray[np.float64]
    clv: NDArray[np.float64]

    def __len__(self) -> int:
        """Number of customers."""
        return len(self.customer_id)


@attrs.frozen
class SimpleCLV:
    """The parts and result of the simple CLV formula.

    Attributes:
        average_order_value: Net revenue per order over the data.
        purchase_frequency: Orders per customer over the data.
        lifespan: Average customer lifespan, in lengths of the data's window.
        gross_margin: Margin factor applied.
        clv: ``average_order_value * purchase_frequency * lifespan * gross_margin``.

    Example:
        >>> from ecomcrm.metrics import simple_clv
        >>> simple_clv([1, 1, 2], [30.0, 10.0, 20.0], lifespan=3.0).clv
        90.0
    """

    average_order_value: float
    purchase_frequency: float
    lifespan: float
    gross_margin: float
    clv: float


@nan_policy("amount")
def average_order_value(amount: ArrayLike, *, nan_policy: NanPolicy = "raise") -> float:
    """Average order value: net revenue / number of orders.

    ``AOV = sum(amount) / #{amount >= 0}``. Negative amounts are refunds: they reduce
    revenue but are not orders. No orders gives NaN.

    Args:
        amount: One amount per order row.
        nan_policy: {nan_policy}

    Returns:
        The AOV as a float.

    Example:
        >>> from ecomcrm.metrics import average_order_value
        >>> average_order_value([20.0, 40.0, -10.0])
        25.0
    """
    amt = as_amounts(amount, entity="average_order_value")
    orders = int(np.count_nonzero(amt >= 0))
    return float(amt.sum() / orders) if orders else float("nan")


@nan_policy("customer_id", "amount")
def purchase_frequency(
    customer_id: ArrayLike, amount: ArrayLike | None = None, *, nan_policy: NanPolicy = "raise"
) -> float:
    """Purchase frequency: orders per customer over the data.

    ``PF = #orders / #customers with an order``. Every row is an order unless ``amount`` is
    given, in which case rows with a negative amount (refunds) are not. No orders gives NaN.

    Args:
        customer_id: One id per order row.
        amount: Optional amounts, to leave refunds out.
        nan_policy: {nan_policy}

    Returns:
        Orders per customer as a float.

    Example:
        >>> from ecomcrm.metrics import purchase_frequency
        >>> purchase_frequency(["a", "a", "b", "c"])
        1.3333333333333333
    """
    entity = "purchase_frequency"
    ids = as_ids(customer_id, entity=entity)
    if amount is not None:
        ids = ids[as_amounts(amount, entity=entity) >= 0]
    if len(ids) == 0:
        return float("nan")
    codes, uniques = encode_ids(ids)
    customers = int(np.count_nonzero(np.bincount(codes, minlength=len(uniques))))
    return len(ids) / customers


@nan_policy("customer_id", "amount")
def historical_clv(
    customer_id: ArrayLike,
    amount: ArrayLike,
    *,
    gross_margin: float = 1.0,
    nan_policy: NanPolicy = "raise",
) -> CustomerValue:
    """Historical customer lifetime value: what each customer has been worth so far.

    ``clv_c = gross_margin * sum(amount of c)`` (refunds, negative amounts, subtracted);
    also returns orders, net revenue and the customer's average order value.

    Args:
        customer_id: One id per row.
        amount: One amount per row.
        gross_margin: Fraction of revenue kept as margin, in [0, 1] (default 1: revenue).
        nan_policy: {nan_policy}

    Returns:
        A :class:`CustomerValue`.

    Example:
        >>> from ecomcrm.metrics import historical_clv
        >>> v = historical_clv([7, 7, 9], [10.0, 30.0, 8.0])
        >>> v.n_orders.tolist(), v.revenue.tolist(), v.average_order_value.tolist()
        ([2, 1], [40.0, 8.0], [20.0, 8.0])
    """
    entity = "historical_clv"
    margin = _margin(gross_margin, entity)
    ids = as_ids(customer_id, entity=entity)
    amt = as_amounts(amount, entity=entity)
    codes, uniques = encode_ids(ids)
    n_codes = len(uniques)
    rows = np.bincount(codes, minlength=n_codes)
    present = np.flatnonzero(rows)
    orders = np.bincount(codes, weights=(amt >= 0).astype(np.float64), minlength=n_codes)
    revenue = wsum(codes, amt, n_codes)[present]
    n_orders = orders[present].astype(np.int64)
    aov = np.divide(revenue, n_orders, out=np.full(len(present), np.nan), where=n_orders > 0)
    return CustomerValue(
        customer_id=uniques[present],
        n_orders=n_orders,
        revenue=revenue,
        average_order_value=aov,
        clv=revenue * margin,
    )


@nan_policy("customer_id", "amount")
def simple_clv(
    customer_id: ArrayLike,
    amount: ArrayLike,
    *,
    lifespan: float,
    gross_margin: float = 1.0,
    nan_policy: NanPolicy = "raise",
) -> SimpleCLV:
    """Simple (average) customer lifetime value.

    ``CLV = AOV * PF * lifespan * gross_margin`` with ``AOV`` from
    :func:`average_order_value` and ``PF`` from :func:`purchase_frequency` over the same rows.
    ``PF`` counts orders per customer over the window the arrays cover, so ``lifespan`` is
    measured in that window's length: data covering one year and customers staying three
    years on average means ``lifespan=3`` (a common estimate is ``1 / yearly churn rate``).

    Args:
        customer_id: One id per row.
        amount: One amount per row (negative amounts are refunds).
        lifespan: Average customer lifespan in window lengths, > 0.
        gross_margin: Fraction of revenue kept as margin, in [0, 1].
        nan_policy: {nan_policy}

    Returns:
        A :class:`SimpleCLV` with the formula's parts (NaN without orders).

    Example:
        >>> from ecomcrm.metrics import simple_clv
        >>> r = simple_clv(["a", "a", "b"], [50.0, 30.0, 40.0], lifespan=2.0, gross_margin=0.25)
        >>> r.average_order_value, r.purchase_frequency, r.clv
        (40.0, 1.5, 30.0)
    """
    entity = "simple_clv"
    margin = _margin(gross_margin, entity)
    try:
        life = float(lifespan)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            "must be a positive number", entity=entity, field="lifespan", value=lifespan
        ) from exc
    if not (life > 0 and np.isfinite(life)):
        raise ValidationError(
            "must be a positive number", entity=entity, field="lifespan", value=lifespan
        )
    aov = average_order_value(amount)
    pf = purchase_frequency(customer_id, amount)
    return SimpleCLV(
        average_order_value=aov,
        purchase_frequency=pf,
        lifespan=life,
        gross_margin=margin,
        clv=aov * pf * life * margin,
    )
