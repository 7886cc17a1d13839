from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import ecomcrm
from ecomcrm.domain import Consent, Customer, Event, Identity, Order, OrderLine
from ecomcrm.storage import Store

T0 = datetime(2024, 5, 6, 10, 0, tzinfo=UTC)  # a Monday, 10:00 UTC


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    if request.param == "memory":
        s = ecomcrm.open_store("memory://")
    else:
        s = ecomcrm.open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    yield s
    s.close()


@pytest.fixture
def mem() -> Iterator[Store]:
    s = ecomcrm.open_store("memory://")
    yield s
    s.close()


def add_customer(
    store: Store,
    cid: str,
    *,
    email: bool = True,
    phone: bool = False,
    consent: tuple[str, ...] = ("email",),
    tz: str | None = None,
    birthday: Any = None,
    created_at: datetime | None = None,
    at: datetime = T0 - timedelta(days=30),
) -> Customer:
    identities = []
    if email:
        identities.append(Identity.email(f"{cid}@example.com"))
    if phone:
        identities.append(Identity.phone("+447700900" + str(100 + abs(hash(cid)) % 800)))
    customer = Customer(
        id=cid,
        created_at=created_at or at,
        identities=identities,
        timezone=tz,
        birthday=birthday,
    )
    store.customers.put(customer)
    for channel in consent:
        store.consents.record(
            Consent(customer_id=cid, channel=channel, purpose="marketing", granted=True, at=at)
        )
    return customer


def add_order(store: Store, cid: str, oid: str, at: datetime, amount: str = "50.00") -> None:
    store.orders.upsert(
        Order(
            id=oid,
            customer_id=cid,
            placed_at=at,
            currency="EUR",
            lines=[OrderLine(sku="SKU-1", quantity=1, unit_price=amount)],
        )
    )


def ev(name: str, cid: str | None, at: datetime, **props: Any) -> Event:
    if cid is None:
        return Event(name=name, anonymous_id="anon-1", at=at, properties=props)
    return Event(name=name, customer_id=cid, at=at, properties=props)
