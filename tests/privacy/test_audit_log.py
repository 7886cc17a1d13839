"""The audit log as users meet it: SQLite's table, its migration and its guards."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

import ecomcrm
from ecomcrm.domain import Consent, Customer, Identity
from ecomcrm.storage import AuditAction, SqliteStore, audit_context
from ecomcrm.storage.sqlite._schema import SCHEMA_VERSION, migrate
from ecomcrm.storage.toolkit import audit_pseudonym

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_v4_database_is_migrated_and_the_migration_is_audited(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    migrate(conn, 0, target=4)
    conn.execute("INSERT INTO customers (id, created_at, first_name) VALUES ('c1', 0, 'Ada')")
    conn.execute("COMMIT")
    conn.close()
    with audit_context("ops:deploy", reason="release 2.0"):
        store = SqliteStore(path)
    assert store.schema_version == SCHEMA_VERSION
    (entry,) = store.audit.entries(action=AuditAction.SCHEMA_MIGRATION)
    assert entry.details == {"from_version": 4, "to_version": SCHEMA_VERSION}
    assert (entry.actor, entry.reason, entry.subject) == ("ops:deploy", "release 2.0", None)
    assert store.customers.get("c1").first_name == "Ada"
    store.close()
    again = SqliteStore(path)  # nothing to migrate: no new entry
    assert len(again.audit.entries(action=AuditAction.SCHEMA_MIGRATION)) == 1
    again.close()


def test_the_table_refuses_deletes_and_rewrites_even_in_raw_sql(tmp_path: Path) -> None:
    path = tmp_path / "crm.db"
    store = SqliteStore(path)
    store.customers.put(Customer(id="c1", created_at=T0))
    store.consents.record(
        Consent(customer_id="c1", channel="email", purpose="marketing", granted=True, at=T0)
    )
    store.close()
    conn = sqlite3.connect(path, isolation_level=None)
    for sql in (
        "DELETE FROM audit",
        "UPDATE audit SET actor = 'someone else'",
        "UPDATE audit SET action = 'consent.withdrawn' WHERE action = 'consent.granted'",
        "UPDATE audit SET subject = 'c2' WHERE subject = 'c1'",
    ):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(sql)
    conn.close()
    store = SqliteStore(path)
    assert [e.action for e in store.audit.entries(subject="c1")] == ["consent.granted"]
    store.erase("c1")  # the one rewrite the table allows: pseudonymisation
    assert store.audit.entries(subject="c1") == []
    trail = [e.action for e in store.audit.entries(subject=audit_pseudonym("c1"))]
    assert trail == ["consent.granted", "erasure", "suppression.added"]
    store.close()


def test_erasure_pseudonymises_free_text_that_names_the_person() -> None:
    store = ecomcrm.open_store("memory://")
    store.customers.put(Customer(id="c1", created_at=T0, identities=[Identity.email("a@b.co")]))
    with audit_context("c1", reason="asked by a@b.co", source="self-service"):
        store.consents.record(
            Consent(
                customer_id="c1",
                channel="email",
                purpose="marketing",
                granted=True,
                at=T0,
                source="form of a@b.co",
            )
        )
    store.erase("c1")
    (entry,) = store.audit.entries(action=AuditAction.CONSENT_GRANTED)
    assert entry.subject == entry.actor == audit_pseudonym("c1")
    assert (entry.reason, entry.source, dict(entry.details)) == ("", "", {})
