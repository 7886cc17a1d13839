"""PostgresStore's two-round-trip customer 360 equals the view built from repository reads."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

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
    Refund,
    SupportTicket,
)
from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.storage import PostgresStore
from ecomcrm.storage.toolkit import build_customer_360

T0 = datetime(2024, 3, 1, 12, tzinfo=UTC)


def _day(n: float) -> datetime:
    return T0 + timedelta(days=n)


def _fill(store: PostgresStore) -> None:
    store.customers.put_many(
        Customer(
            id=cid,
            created_at=T0,
            identities=[
                Identity.email(f"{cid}@example.com"),
                Identity(kind="anonymous", value=f"v-{cid}"),
            ],
            attributes={"loyalty_tier": "silver"} if cid == "a" else {},
        )
        for cid in ("a", "b", "c", "d")
    )
    store.orders.put_many(
        Order(
            id=f"o{n}",
            customer_id="abcd"[n % 4],
            placed_at=_day(n % 5),  # ties on placed_at: ordered by id
            currency="EUR" if n % 3 else "USD",
            status="cancelled" if n == 7 else "paid",
            lines=[
                OrderLine(sku=f"S{k}", quantity=k + 1, unit_price="2.50") for k in range(n % 3 + 1)
            ],
        )
        for n in range(12)
    )
    store.orders.add_refund(
        Refund(id="r1", order_id="o1", customer_id="b", at=_day(6), amount="1.00", currency="EUR")
    )
    store.events.append_many(
        [
            Event(id=f"e{n}", name="Viewed", at=_day(n / 4), customer_id="abcd"[n % 4])
            for n in range(20)
        ]
        + [Event(id=f"v{n}", name="Viewed", at=_day(n), anonymous_id="v-c") for n in range(3)]
    )
    store.tickets.upsert(
        SupportTicket(id="t1", customer_id="c", channel="email", subject="Late", opened_at=_day(1))
    )
    for cid, granted in (("a", True), ("c", False), ("c", True)):
        store.consents.record(
            Consent(
                customer_id=cid, channel="email", purpose="marketing", granted=granted, at=_day(2)
            )
        )
    store.loyalty.append_many(
        LoyaltyEntry(
            id=f"l{n}", customer_id="ac"[n % 2], kind="earn", points=10 * n + 1, at=_day(n)
        )
        for n in range(4)
    )
    for n in range(6):
        store.messages.upsert(
            Message(
                id=f"m{n}", customer_id="abc"[n % 3], channel="email", at=_day(n // 2), template="x"
            )
        )
    store.merge("a", "c", at=_day(8))
    store.merge("b", "d", at=_day(9))
    store.merge("a", "b", at=_day(10))  # b and d, merged into b, now resolve to a


@pytest.mark.parametrize("bounds", [(50, 50), (3, 2), (0, 0), (1, 100)])
def test_equals_the_view_from_repository_reads(
    open_pg: Callable[..., PostgresStore], bounds: tuple[int, int]
) -> None:
    store = open_pg()
    _fill(store)
    events, messages = bounds
    for cid in ("a", "b", "c", "d"):
        fast = store.customer_360(cid, recent_events=events, messages=messages)
        reference = build_customer_360(store, cid, recent_events=events, messages=messages)
        assert fast == reference, cid
    view = store.customer_360("d")
    assert view.customer.id == "a" and set(view.merged_ids) == {"b", "c", "d"}
    assert [e.id for e in view.recent_events if e.anonymous_id] == ["v0", "v1", "v2"]


def test_unknown_ids_and_bad_bounds(open_pg: Callable[..., PostgresStore]) -> None:
    store = open_pg()
    store.customers.put(Customer(id="a", created_at=T0))
    with pytest.raises(NotFoundError):
        store.customer_360("ghost")
    for bad in (-1, True, 1.5):
        with pytest.raises(ValidationError):
            store.customer_360("a", recent_events=bad)  # type: ignore[arg-type]
        with pytest.raises(ValidationError):
            store.customer_360("a", messages=bad)  # type: ignore[arg-type]
    store.customer_360("a")  # the connection is still usable after the refusals


def test_two_round_trips_with_prepared_statements(open_pg: Callable[..., PostgresStore]) -> None:
    store = open_pg()
    _fill(store)
    with store.bulk_load(), tempfile.TemporaryFile("w+") as trace:
        store.customer_360("a")  # prepares the statements on the pinned connection
        conn = store._db._local.home
        conn.pgconn.trace(trace.fileno())  # libpq's log of the protocol messages
        try:
            view = store.customer_360("a")
        finally:
            conn.pgconn.untrace()
        trace.seek(0)
        sent = [line.split("\t") for line in trace.read().splitlines()]
    assert view == build_customer_360(store, "a")
    frontend = [m[3] for m in sent if m[1] == "F"]
    # the client waits for the server twice (one Sync per pipeline): BEGIN travels with
    # the first, COMMIT with the second; only those two are parsed, the ten statements
    # are bound by the names they were prepared under
    assert frontend.count("Sync") == 2
    assert frontend.count("Parse") == 2
    named = [m for m in sent if m[1] == "F" and m[3] == "Bind" and '"_pg3_' in m[4]]
    assert len(named) == 10


def test_both_round_trips_read_one_snapshot(open_pg: Callable[..., PostgresStore]) -> None:
    store = open_pg()
    other = open_pg()
    _fill(store)

    def then(first: list[list[tuple[object, ...]]]) -> list[tuple[str, tuple[object, ...]]]:
        other.orders.upsert(
            Order(id="late", customer_id="a", placed_at=T0, currency="EUR",
                  lines=[OrderLine(sku="S", quantity=1, unit_price="1.00")])
        )  # fmt: skip
        return [("SELECT count(*) FROM orders", ())]

    (before,), (after,) = store._db.chained([("SELECT count(*) FROM orders", ())], then)
    assert before == after == [(12,)]
    assert store.orders.count() == 13
    with store.transaction():  # inside a scope both join the caller's transaction
        store.orders.upsert(
            Order(id="mine", customer_id="a", placed_at=T0, currency="EUR",
                  lines=[OrderLine(sku="S", quantity=1, unit_price="1.00")])
        )  # fmt: skip
        assert "mine" in {o.id for o in store.customer_360("a").orders}
