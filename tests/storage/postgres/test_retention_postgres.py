"""``ecomcrm purge`` against a PostgreSQL store, by URL (the kit's group covers the rules)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from ecomcrm.cli import main
from ecomcrm.domain import Customer, Event, Message
from ecomcrm.storage import AuditAction, PostgresStore, SupportsRetention

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_purge_on_a_postgresql_url(
    open_pg: Callable[..., PostgresStore], pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    store = open_pg()
    assert isinstance(store, SupportsRetention)
    store.customers.put(Customer(id="c1", created_at=T0))
    store.events.append_many(
        Event(id=f"e{n}", name="page_view" if n % 2 else "purchase",
              at=T0 + timedelta(hours=n), customer_id="c1")
        for n in range(3000)
    )  # fmt: skip
    store.messages.upsert(Message(id="m1", customer_id="c1", channel="email", at=T0))
    now = "2024-03-01"  # 60 days after T0: events of the first 30 days are due
    args = ["--db", pg_url, "--actor", "dpo:lea", "--now", now]
    assert main(["purge", "--event", "page_view=30d", "--messages", "1y", "--json", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    due = sum(1 for n in range(3000) if n % 2 and n < 30 * 24)  # cut-off: T0 + 30 days
    assert report["counts"] == {"events": due, "messages": 0}
    assert store.events.count() == 3000 - due
    assert main(["purge", "--event", "page_view=30d", "--json", *args]) == 0
    assert json.loads(capsys.readouterr().out)["counts"] == {"events": 0}
    (first, _) = store.audit.entries(action=AuditAction.RETENTION_PURGE)
    assert first.actor == "dpo:lea" and first.details["counts"]["events"] == due
