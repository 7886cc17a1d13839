"""Data-subject requests and retention purges through the ``ecomcrm`` command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ecomcrm.cli import main
from ecomcrm.domain import Consent, Customer, Event, Identity, Order, OrderLine
from ecomcrm.privacy import KEPT_REASONS, erase_person, export_person
from ecomcrm.storage import AuditAction, SqliteStore, open_store
from ecomcrm.storage.toolkit import audit_pseudonym

T0 = datetime(2024, 1, 1, tzinfo=UTC)
EMAIL = "quentin.verbeke@example.net"


def _person(store: SqliteStore) -> None:
    store.customers.put(
        Customer(id="c1", created_at=T0, first_name="Quentin", identities=[Identity.email(EMAIL)])
    )
    store.consents.record(
        Consent(
            customer_id="c1",
            channel="email",
            purpose="marketing",
            granted=True,
            at=T0,
            source="checkout form v3",
        )
    )
    store.events.append_many(
        [
            Event(name="page_view", at=datetime(2020, 1, 1, tzinfo=UTC), customer_id="c1"),
            Event(name="page_view", at=datetime(2024, 6, 1, tzinfo=UTC), customer_id="c1"),
        ]
    )
    store.orders.upsert(
        Order(
            id="o1",
            customer_id="c1",
            placed_at=T0,
            currency="EUR",
            lines=[OrderLine(sku="A", quantity=1, unit_price="30.00")],
        )
    )


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "crm.db"
    store = SqliteStore(path)
    _person(store)
    store.close()
    return path


def test_export_erase_and_purge_from_the_command_line(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c1.json"
    args = ["--db", str(db), "--actor", "dpo:lea", "--reason", "ticket 991"]
    assert main(["export", "c1", "--output", str(out), "--quiet", *args]) == 0
    document = json.loads(out.read_text())
    assert document["format"] == "ecomcrm.data-subject-export"
    data = document["data"]
    assert data["customer"]["first_name"] == "Quentin"
    assert [c["source"] for c in data["consents"]] == ["checkout form v3"]
    assert [e["action"] for e in document["audit"]] == ["consent.granted", "export"]
    assert len(data["events"]) == 2 and len(data["orders"]) == 1

    assert main(["purge", "--events", "2y", "--now", "2025-01-01", *args]) == 0
    assert capsys.readouterr().out.startswith("purged at 2025-01-01T00:00:00+00:00: events 1")

    assert main(["erase", "c1", "--keep-order-facts", "--json", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["deleted"]["customers"] == 1 and report["deleted"]["events"] == 1
    assert report["pseudonymised"]["orders"] == 1
    kept = report["kept"]
    assert kept["anonymous_order_facts"]["reason"] == KEPT_REASONS["anonymous_order_facts"]
    assert kept["suppression_tombstones"]["count"] == 2

    store = SqliteStore(db)
    trail = store.audit.entries(subject=audit_pseudonym("c1"))
    assert [e.action for e in trail] == [
        "consent.granted",
        "export",
        "erasure",
        "suppression.added",
    ]
    assert trail[1].actor == "dpo:lea" and trail[1].reason == ""  # pseudonymised
    assert trail[2].actor == "dpo:lea" and trail[2].reason == "ticket 991"
    (purge,) = store.audit.entries(action=AuditAction.RETENTION_PURGE)
    assert purge.details["counts"] == {"events": 1} and purge.source == "cli"
    assert store.order_facts().amount.tolist() == [30.0]
    store.close()
    raw = b"".join(p.read_bytes() for p in db.parent.glob("crm.db*"))
    assert EMAIL.encode() not in raw and b"Quentin" not in raw


def test_erase_prints_what_was_kept_and_why(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["erase", "c1", "--db", str(db)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("erased c1: consents 1, customers 1, events 2")
    assert "kept suppression_tombstones (2): GDPR Art. 17(1)" in out
    assert "kept audit_entries" in out


def test_the_library_calls_work_on_any_store() -> None:
    store = open_store("memory://")
    store.customers.put(Customer(id="c1", created_at=T0, identities=[Identity.email(EMAIL)]))
    document = export_person(store, "c1", actor="app", now=T0)
    assert document["generated_at"] == "2024-01-01T00:00:00+00:00"
    report = erase_person(store, "c1", actor="app", reason="user asked")
    assert report.deleted["identities"] == 1 and "anonymous_order_facts" not in report.kept
    assert report.pseudonymised == {"audit_entries": 1}  # the export
