"""The support-ticket fields of the feature table, against an independent pandas computation."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ecomcrm
from ecomcrm.domain import Customer, SupportTicket
from ecomcrm.segments import build_customer_features, refresh_customer_features
from ecomcrm.storage import Store

NOW = datetime(2024, 6, 1, tzinfo=UTC)
STATUSES = ("open", "pending", "solved", "closed")


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"
    s = ecomcrm.open_store(url)
    yield s
    s.close()


def _tickets(n_customers: int, n_tickets: int, seed: int) -> list[SupportTicket]:
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n_tickets):
        opened = NOW - timedelta(hours=int(rng.integers(-72, 24 * 90)))  # some after NOW
        status = STATUSES[int(rng.integers(0, 4))]
        closed = None
        if status in ("solved", "closed") and rng.random() < 0.8:
            closed = opened + timedelta(hours=int(rng.integers(1, 24 * 10)))
        out.append(
            SupportTicket(
                id=f"T{k:04d}",
                customer_id=f"c{int(rng.integers(0, n_customers)):03d}",
                channel=("email", "chat", "phone")[int(rng.integers(0, 3))],
                status=status,
                opened_at=opened,
                closed_at=closed,
                satisfaction=None if rng.random() < 0.5 else int(rng.integers(1, 6)),
            )
        )
    return out


def _pandas_fields(tickets: list[SupportTicket], owner: dict[str, str]) -> pd.DataFrame:
    """The ticket fields computed independently, with pandas, from the objects written."""
    frame = pd.DataFrame(
        {
            "customer_id": [owner.get(t.customer_id, t.customer_id) for t in tickets],
            "opened_at": [t.opened_at for t in tickets],
            "closed_at": [t.closed_at for t in tickets],
            "status": [t.status.value for t in tickets],
            "satisfaction": [t.satisfaction for t in tickets],
        }
    )
    frame = frame[frame["opened_at"] <= NOW]
    closed_by_now = frame["closed_at"].notna() & (frame["closed_at"] <= NOW)
    open_without_close = frame["closed_at"].isna() & frame["status"].isin(["open", "pending"])
    frame = frame.assign(
        is_open=(frame["closed_at"].notna() & ~closed_by_now) | open_without_close,
        satisfaction=frame["satisfaction"].astype(float),
    )
    grouped = frame.groupby("customer_id")
    return pd.DataFrame(
        {
            "tickets_count": grouped.size(),
            "open_tickets": grouped["is_open"].sum(),
            "last_ticket_at": grouped["opened_at"].max(),
            "avg_satisfaction": grouped["satisfaction"].mean(),
        }
    )


def test_ticket_fields_equal_a_pandas_computation(store: Store) -> None:
    created = NOW - timedelta(days=400)
    store.customers.put_many([Customer(id=f"c{i:03d}", created_at=created) for i in range(60)])
    tickets = _tickets(60, 400, seed=5)
    store.tickets.put_many(tickets)
    # a merge: c001's tickets count for c000
    store.merge("c000", "c001", at=NOW - timedelta(days=1))
    table = build_customer_features(store, now=NOW)
    expected = _pandas_fields(tickets, {"c001": "c000"})
    ids = [str(i) for i in table.ids.tolist()]
    assert "c001" not in ids
    got_count = np.asarray(table.column("tickets_count"))
    got_open = np.asarray(table.column("open_tickets"))
    got_last = np.asarray(table.column("last_ticket_at"))
    got_avg = np.asarray(table.column("avg_satisfaction"), dtype=float)
    for row, cid in enumerate(ids):
        if cid not in expected.index:
            assert got_count[row] == 0 and got_open[row] == 0
            assert np.isnat(got_last[row]) and np.isnan(got_avg[row])
            continue
        want = expected.loc[cid]
        assert got_count[row] == want["tickets_count"], cid
        assert got_open[row] == want["open_tickets"], cid
        assert pd.Timestamp(got_last[row]).tz_localize("UTC") == want["last_ticket_at"], cid
        if np.isnan(want["avg_satisfaction"]):
            assert np.isnan(got_avg[row]), cid
        else:
            assert got_avg[row] == pytest.approx(want["avg_satisfaction"], rel=1e-12), cid
    assert int(got_count.sum()) == int(expected["tickets_count"].sum()) > 100


def test_a_refresh_recomputes_the_ticket_fields_of_the_changed_customers(store: Store) -> None:
    created = NOW - timedelta(days=400)
    store.customers.put_many([Customer(id=f"c{i:03d}", created_at=created) for i in range(10)])
    store.tickets.put_many(_tickets(10, 40, seed=9))
    table = build_customer_features(store, now=NOW)
    store.tickets.upsert(
        SupportTicket(
            id="new",
            customer_id="c003",
            channel="chat",
            opened_at=NOW - timedelta(hours=1),
            satisfaction=1,
        )
    )
    refreshed = refresh_customer_features(table, store, ["c003"], now=NOW)
    rebuilt = build_customer_features(store, now=NOW)
    for name in ("tickets_count", "open_tickets", "last_ticket_at", "avg_satisfaction"):
        assert refreshed.record_for("c003")[name] == rebuilt.record_for("c003")[name], name
    assert (
        refreshed.record_for("c003")["open_tickets"] == table.record_for("c003")["open_tickets"] + 1
    )


def test_flows_and_segments_read_the_same_ticket_fields(store: Store) -> None:
    created = NOW - timedelta(days=30)
    store.customers.put_many([Customer(id=c, created_at=created) for c in ("a", "b")])
    store.tickets.put_many(
        [
            SupportTicket(
                id="1", customer_id="a", channel="email", opened_at=NOW - timedelta(days=2)
            ),
            SupportTicket(
                id="2",
                customer_id="a",
                channel="email",
                opened_at=NOW - timedelta(days=1),
                status="closed",
                closed_at=NOW - timedelta(hours=2),
                satisfaction=2,
            ),
        ]
    )
    table = build_customer_features(store, now=NOW)
    from ecomcrm.segments import compile_expression

    expr = compile_expression("open_tickets >= 1 and avg_satisfaction < 3", table.schema)
    assert expr.mask(table, now=NOW).tolist() == [True, False]
    assert [expr.evaluate(table.record_for(c), now=NOW) for c in ("a", "b")] == [True, False]
