"""What conditions read: a lazy record of one customer's fields plus the trigger event's properties."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from ecomcrm.domain import Channel, Customer, Identity, Purpose
from ecomcrm.rules._conditions import CUSTOMER_FIELDS
from ecomcrm.storage import Store

_DAY = timedelta(days=1)
_CONSENT_FIELDS = {
    "consent_email": Channel.EMAIL,
    "consent_sms": Channel.SMS,
    "consent_push": Channel.PUSH,
    "consent_whatsapp": Channel.WHATSAPP,
}
ANONYMOUS_PREFIX = "anonymous:"


class CustomerData:
    """What the store knows about one customer, read on first use and kept for one unit of work.

    With ``as_of`` only orders, loyalty entries and consents at or before that instant
    count (backtests replay history this way).
    """

    __slots__ = ("_cache", "as_of", "customer_id", "store")

    def __init__(self, store: Store, customer_id: str, *, as_of: datetime | None = None) -> None:
        self.store = store
        self.customer_id = customer_id
        self.as_of = as_of
        self._cache: dict[str, Any] = {}

    @property
    def customer(self) -> Customer | None:
        """The profile, or None (unknown id, erased, or an unidentified anonymous visitor)."""
        if "customer" not in self._cache:
            found: Customer | None = None
            if self.customer_id.startswith(ANONYMOUS_PREFIX):
                anon = self.customer_id[len(ANONYMOUS_PREFIX) :]
                found = self.store.customers.find_by_identity(
                    Identity(kind="anonymous", value=anon)
                )
            else:
                found = self.store.customers.find(self.customer_id)
            self._cache["customer"] = found
        result: Customer | None = self._cache["customer"]
        return result

    def timezone(self, default: str) -> str:
        """The customer's IANA zone, or ``default``."""
        customer = self.customer
        return (customer.timezone if customer is not None else None) or default

    def _orders(self) -> dict[str, Any]:
        if "orders" not in self._cache:
            customer = self.customer
            stats: dict[str, Any] = {"count": 0, "total": 0.0, "times": []}
            if customer is not None:
                orders = [
                    o
                    for o in self.store.orders.for_customer(customer.id)
                    if not o.is_cancelled and (self.as_of is None or o.placed_at <= self.as_of)
                ]
                stats["count"] = len(orders)
                stats["total"] = float(sum(o.total for o in orders))
                stats["times"] = sorted(o.placed_at for o in orders)
            self._cache["orders"] = stats
        result: dict[str, Any] = self._cache["orders"]
        return result

    def consent(self, channel: Channel, purpose: Purpose = Purpose.MARKETING) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        key = f"consent:{channel.value}:{purpose.value}"
        if key not in self._cache:
            customer = self.customer
            granted = False
            if customer is not None:
                if self.as_of is None:
                    granted = self.store.consents.is_granted(customer.id, channel, purpose)
                else:
                    latest = None
                    for c in self.store.consents.history(customer.id):
                        if c.channel is channel and c.purpose is purpose and c.at <= self.as_of:
                            latest = c
                    granted = latest is not None and latest.granted
            self._cache[key] = granted
        result: bool = self._cache[key]
        return result

    def loyalty_points(self) -> int:
        """The loyalty balance."""
        if "points" not in self._cache:
            customer = self.customer
            points = 0
            if customer is not None:
                if self.as_of is None:
                    points = self.store.loyalty.balance(customer.id)
                else:
                    points = sum(
                        e.points
                        for e in self.store.loyalty.entries(customer.id)
                        if e.at <= self.as_of
                    )
            self._cache["points"] = points
        result: int = self._cache["points"]
        return result

    def field(self, name: str, now: datetime) -> Any:
        """The value of customer field ``name`` at ``now`` (None when unknown)."""
        customer = self.customer
        if name == "customer_id":
            return customer.id if customer is not None else self.customer_id
        if name == "known":
            return customer is not None
        if name in _CONSENT_FIELDS:
            return self.consent(_CONSENT_FIELDS[name])
        if name == "loyalty_points":
            return self.loyalty_points()
        if customer is None:
            return None
        if name in ("country", "timezone", "acquisition_channel", "created_at"):
            return getattr(customer, name)
        if name == "tags":
            return customer.tags
        stats = self._orders()
        times: list[datetime] = stats["times"]
        if name == "orders_count":
            return stats["count"]
        if name == "total_spent":
            return stats["total"]
        if name == "aov":
            return stats["total"] / stats["count"] if stats["count"] else None
        if not times:
            return None
        if name == "first_order_at":
            return times[0]
        if name == "last_order_at":
            return times[-1]
        if name == "days_since_last_order":
            return (now - times[-1]) / _DAY
        if name == "days_since_first_order":
            return (now - times[0]) / _DAY
        if name == "days_between_last_two_orders":
            return (times[-1] - times[-2]) / _DAY if len(times) > 1 else None
        if name == "reorder_interval_days":
            return (times[-1] - times[0]) / _DAY / (len(times) - 1) if len(times) > 1 else None
        return None


class Record(Mapping[str, Any]):
    """The mapping a condition evaluates: event properties first, then customer fields.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> store = ecomcrm.open_store("memory://")
        >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> r = Record(CustomerData(store, "nobody"), {"total": 12.5}, now)
        >>> r["total"], r["known"], r["orders_count"]
        (12.5, False, None)
    """

    __slots__ = ("_ctx", "_data", "_now")

    def __init__(self, data: CustomerData, ctx: Mapping[str, Any], now: datetime) -> None:
        self._data = data
        self._ctx = ctx
        self._now = now

    def __getitem__(self, name: str) -> Any:
        if name in self._ctx:
            return self._ctx[name]
        if name in CUSTOMER_FIELDS:
            return self._data.field(name, self._now)
        return None

    def __iter__(self) -> Iterator[str]:
        return iter({**dict.fromkeys(CUSTOMER_FIELDS), **dict.fromkeys(self._ctx)})

    def __len__(self) -> int:
        return len(set(CUSTOMER_FIELDS) | set(self._ctx))
