"""The kit's hooks and builders.

:class:`StoreFixtures` holds the hooks an adapter's test class overrides (the ``store``
fixture, backdoors, declared capabilities); the functions build small domain objects at
fixed instants for the behaviour groups.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import numpy as np
import pytest

from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    Identity,
    LoyaltyEntry,
    Message,
    Order,
    OrderLine,
    SupportTicket,
)
from ecomcrm.storage import Store

T0 = datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
PARIS = timezone(timedelta(hours=2))


def at(days: float = 0, *, tz: timezone = UTC) -> datetime:
    """``T0 + days``, optionally expressed in another offset (the same instant)."""
    return (T0 + timedelta(days=days)).astimezone(tz)


def customer(cid: str, *identities: Identity, **fields: Any) -> Customer:
    """A customer created at ``T0`` with these identities."""
    fields.setdefault("created_at", T0)
    return Customer(id=cid, identities=identities, **fields)


def order(
    oid: str,
    cid: str,
    days: float = 0,
    price: str = "10.00",
    *,
    quantity: int = 1,
    currency: str = "EUR",
    **fields: Any,
) -> Order:
    """A one-line order of ``quantity`` units at ``price``."""
    return Order(
        id=oid,
        customer_id=cid,
        placed_at=at(days),
        currency=currency,
        lines=[OrderLine(sku="SKU-1", title="Tee", quantity=quantity, unit_price=price)],
        **fields,
    )


def event(
    name: str, days: float, *, cid: str | None = None, anon: str | None = None, **props: Any
) -> Event:
    """An event at ``T0 + days`` for a customer or an anonymous id."""
    return Event(name=name, at=at(days), customer_id=cid, anonymous_id=anon, properties=props)


def consent(
    cid: str,
    granted: bool,
    days: float = 0,
    channel: str = "email",
    purpose: str = "marketing",
    source: str = "",
) -> Consent:
    """A consent decision."""
    return Consent(
        customer_id=cid,
        channel=channel,
        purpose=purpose,
        granted=granted,
        at=at(days),
        source=source,
    )


def entry(eid: str, cid: str, points: int, days: float = 0) -> LoyaltyEntry:
    """A loyalty ledger entry (earn when positive, redeem when negative)."""
    return LoyaltyEntry(
        id=eid, customer_id=cid, kind="earn" if points > 0 else "redeem", points=points, at=at(days)
    )


def ticket(
    tid: str, cid: str, days: float = 0, subject: str = "Where is my order?"
) -> SupportTicket:
    """A support ticket opened at ``T0 + days``."""
    return SupportTicket(
        id=tid, customer_id=cid, channel="email", subject=subject, opened_at=at(days)
    )


def message(mid: str, cid: str, days: float = 0, **fields: Any) -> Message:
    """An outbound email at ``T0 + days``."""
    fields.setdefault("channel", "email")
    fields.setdefault("template", "welcome_1")
    return Message(id=mid, customer_id=cid, at=at(days), **fields)


def _us(when: datetime) -> np.datetime64:
    return np.datetime64(when.astimezone(UTC).replace(tzinfo=None), "us")


class StoreFixtures:
    """The hooks the kit uses. Subclasses override ``store`` (required) and any backdoor.

    ``capabilities`` names the optional behaviours the adapter supports (see the module
    docstring); tests needing an absent one are skipped.
    """

    capabilities: ClassVar[frozenset[str]] = frozenset()

    @pytest.fixture
    def store(self) -> Iterator[Store]:
        """A fresh, empty store (override this fixture)."""
        raise NotImplementedError("subclass StoreConformance and define a `store` fixture")
        yield  # pragma: no cover

    def raw_dump(self, store: Store) -> bytes:
        """Every byte the adapter keeps for ``store`` (capability ``"raw_dump"``)."""
        raise NotImplementedError

    def reopen(self, store: Store) -> Store:
        """Close ``store`` and open the same data again (capability ``"reopen"``)."""
        raise NotImplementedError

    def second_handle(self, store: Store) -> Store:
        """Another independent handle on the same data (capability ``"second_handle"``)."""
        raise NotImplementedError

    def require(self, capability: str) -> None:
        """Skip the running test unless the adapter declares ``capability``."""
        if capability not in self.capabilities:
            pytest.skip(f"adapter does not declare the {capability!r} capability")

    def claimed(self, obj: object, capability: Any) -> Any:
        """``obj`` as the named capability ``capability``; skips the test when it does not claim it.

        A store (or repository) claims an ``ecomcrm.storage.Supports...`` Protocol by having
        its members; the kit's group for that capability then proves the fast path equals
        the core contract. (Typed ``Any``: mypy refuses a Protocol class where a
        ``type[T]`` is expected, so callers annotate the result.)
        """
        if not isinstance(obj, capability):
            pytest.skip(f"adapter does not claim {capability.__name__}")
        return obj


# ------------------------------------------------------------------------------------------
