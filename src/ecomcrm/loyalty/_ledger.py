"""A thin layer applying the program to an append-only, idempotent ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Protocol, runtime_checkable

import attrs
import numpy as np

from ecomcrm.domain import LoyaltyEntry, Order, Refund
from ecomcrm.errors import ValidationError
from ecomcrm.loyalty._bulk import tier_history
from ecomcrm.loyalty._entries import (
    Clawback,
    CustomerLoyalty,
    _np_time,
    _utc,
    clawback_for_refund,
    customer_status,
    earn_for_event,
    earn_for_order,
    expiry_entries,
    ledger_from_entries,
    order_key,
    redeem_entries,
)
from ecomcrm.loyalty._program import LoyaltyProgram
from ecomcrm.storage import CustomerRepository
from ecomcrm.storage.toolkit import LOYALTY_TIER_ATTRIBUTE


@runtime_checkable
class LedgerWriter(Protocol):
    """What the loyalty layer needs from a ledger (the store's loyalty repository fits).

    Contract: ``append`` stores an entry unless one with the same ``id`` exists (then it
    returns False and changes nothing); ``entries`` returns a customer's entries ordered
    by ``at`` then insertion; ``has`` tells whether an id is present.
    """

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False (and no change) when an entry with its id exists."""

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries, by ``at`` then insertion."""


class MemoryLedger:
    """An in-memory :class:`LedgerWriter` for tests and small scripts.

    Example:
        >>> from datetime import datetime, timezone
        >>> led = MemoryLedger()
        >>> e = LoyaltyEntry(id="k", customer_id="c1", kind="earn", points=5,
        ...                  at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> led.append(e), led.append(e), len(led.entries("c1"))
        (True, False, 1)
    """

    def __init__(self, entries: Iterable[LoyaltyEntry] = ()) -> None:
        self._by_id: dict[str, LoyaltyEntry] = {}
        self._order: list[LoyaltyEntry] = []
        for e in entries:
            self.append(e)

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append unless the id exists."""
        if entry.id in self._by_id:
            return False
        self._by_id[entry.id] = entry
        self._order.append(entry)
        return True

    def has(self, entry_id: str) -> bool:
        """True when the id is present."""
        return entry_id in self._by_id

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries by ``at`` then insertion."""
        mine = [e for e in self._order if e.customer_id == customer_id]
        return sorted(mine, key=lambda e: e.at)

    def all_entries(self) -> list[LoyaltyEntry]:
        """Every entry in insertion order."""
        return list(self._order)


class _Keys:
    """``in`` over a ledger's ids, asked one key at a time."""

    def __init__(self, ledger: LedgerWriter) -> None:
        self._ledger = ledger

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._ledger.has(key)


class LoyaltyService:
    """Applies a :class:`LoyaltyProgram` to a ledger: earn, claw back, redeem, expire.

    Every write goes through idempotency keys, so replaying an order, refund or event
    changes nothing; redemptions beyond the balance raise ValidationError; clawbacks are
    capped at the balance and report the shortfall. Due expiries are written before a
    redemption so the ledger itself stays exact.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
        >>> svc = LoyaltyService(LoyaltyProgram(currency="EUR"), MemoryLedger())
        >>> len(svc.record_order_amount("1001", "c1", "120.00", "EUR", t))
        1
        >>> svc.record_order_amount("1001", "c1", "120.00", "EUR", t)  # replay
        []
        >>> svc.status("c1", now=t).balance
        120
    """

    def __init__(self, program: LoyaltyProgram, ledger: LedgerWriter) -> None:
        self.program = program
        self.ledger = ledger

    def _append(self, entries: Iterable[LoyaltyEntry]) -> list[LoyaltyEntry]:
        return [e for e in entries if self.ledger.append(e)]

    def status(
        self, customer_id: str, *, now: datetime, expiring_within_days: int = 30
    ) -> CustomerLoyalty:
        """The customer's balance, expiring points, tier and progress at ``now``."""
        return customer_status(
            self.program,
            self.ledger.entries(customer_id),
            now=now,
            expiring_within_days=expiring_within_days,
        )

    def record_order_amount(
        self,
        order_id: str,
        customer_id: str,
        amount: Decimal | float | str,
        currency: str,
        at: datetime,
        *,
        conversion: Mapping[str, float | Decimal] | None = None,
    ) -> list[LoyaltyEntry]:
        """Award the points for an order (at the tier held when it was placed)."""
        if self.ledger.has(order_key(order_id)):
            return []
        tier = self.status(customer_id, now=at).tier
        return self._append(
            earn_for_order(
                self.program,
                order_id=order_id,
                customer_id=customer_id,
                amount=amount,
                currency=currency,
                at=at,
                tier=tier,
                existing=_Keys(self.ledger),
                conversion=conversion,
            )
        )

    def record_order(
        self, order: Order, *, conversion: Mapping[str, float | Decimal] | None = None
    ) -> list[LoyaltyEntry]:
        """Award the points for a domain :class:`~ecomcrm.domain.Order` (on its total)."""
        return self.record_order_amount(
            order.id,
            order.customer_id,
            order.total,
            order.currency,
            order.placed_at,
            conversion=conversion,
        )

    def record_refund_amount(
        self,
        order_id: str,
        refund_id: str,
        customer_id: str,
        order_amount: Decimal | float | str,
        refund_amount: Decimal | float | str,
        at: datetime,
    ) -> Clawback:
        """Claw back the refunded share of the points the order earned."""
        self.expire(customer_id, now=at)
        cb = clawback_for_refund(
            self.program,
            order_id=order_id,
            refund_id=refund_id,
            order_amount=order_amount,
            refund_amount=refund_amount,
            at=at,
            entries=self.ledger.entries(customer_id),
        )
        self._append(cb.entries)
        return cb

    def record_refund(self, refund: Refund, order: Order) -> Clawback:
        """Claw back points for a domain :class:`~ecomcrm.domain.Refund` of ``order``."""
        if refund.order_id != order.id:
            raise ValidationError(
                f"belongs to order {refund.order_id}, not {order.id}",
                entity="Refund",
                field="order_id",
                value=refund.order_id,
            )
        if refund.currency != order.currency:
            raise ValidationError(
                f"refund currency differs from the order's {order.currency}",
                entity="Refund",
                field="currency",
                value=refund.currency,
            )
        return self.record_refund_amount(
            order.id, refund.id, order.customer_id, order.total, refund.amount, refund.at
        )

    def record_event(
        self, event_type: str, event_id: str, customer_id: str, at: datetime
    ) -> list[LoyaltyEntry]:
        """Award the points for an event (review written, referral, ...)."""
        return self._append(
            earn_for_event(
                self.program,
                event_type=event_type,
                event_id=event_id,
                customer_id=customer_id,
                at=at,
                existing=_Keys(self.ledger),
            )
        )

    def expire(self, customer_id: str, *, now: datetime) -> list[LoyaltyEntry]:
        """Write the expire entries now due for the customer."""
        return self._append(expiry_entries(self.program, self.ledger.entries(customer_id), now=now))

    def redeem(
        self, customer_id: str, points: int, *, at: datetime, key: str
    ) -> list[LoyaltyEntry]:
        """Redeem points; ValidationError when they exceed the balance."""
        if self.ledger.has(key):
            return []
        self.expire(customer_id, now=at)
        bal = self.status(customer_id, now=at).balance
        return self._append(
            redeem_entries(
                self.program, customer_id=customer_id, points=points, at=at, key=key, balance=bal
            )
        )

    def sync_tier(self, customers: CustomerRepository, customer_id: str, *, now: datetime) -> str:
        """Write the customer's current tier to their ``loyalty_tier`` attribute.

        The store's customer 360 view and the condition language read the tier from
        there. The profile is rewritten only when the tier changed; returns the tier.

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Customer
            >>> t = datetime(2024, 5, 1, tzinfo=timezone.utc)
            >>> store = ecomcrm.open_store("memory://")
            >>> store.customers.put(Customer(id="c1", created_at=t))
            >>> svc = LoyaltyService(LoyaltyProgram(currency="EUR"), store.loyalty)
            >>> _ = svc.record_order_amount("1001", "c1", "120.00", "EUR", t)
            >>> tier = svc.sync_tier(store.customers, "c1", now=t)
            >>> store.customer_360("c1").loyalty_tier == tier
            True
        """
        tier = self.status(customer_id, now=now).tier
        customer = customers.get(customer_id)
        if customer.attributes.get(LOYALTY_TIER_ATTRIBUTE) != tier:
            attributes = {**customer.attributes, LOYALTY_TIER_ATTRIBUTE: tier}
            customers.upsert(attrs.evolve(customer, attributes=attributes))
        return tier

    def tier_history(self, customer_id: str, *, until: datetime) -> list[tuple[datetime, str]]:
        """The customer's tier changes up to ``until`` as ``(when, tier name)``."""
        until = _utc(until, "until")
        entries = self.ledger.entries(customer_id)
        if not entries:
            return []
        led, _ = ledger_from_entries(entries, [customer_id])
        h = tier_history(self.program, led, until=_np_time(until))
        names = self.program.tier_names
        epoch = np.datetime64(0, "us")
        base = datetime(1970, 1, 1, tzinfo=UTC)
        return [
            (base + timedelta(microseconds=int((t - epoch).astype(np.int64))), names[int(k)])
            for t, k in zip(h.at, h.tier, strict=True)
        ]
