"""The PostgreSQL audit log's table (schema version 2), its rows and the migration entry.

A trigger refuses every DELETE and every UPDATE except the erasure's pseudonymisation
(the rule of the SQLite table too), so the log stays append-only for any client of the
database.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import ecomcrm.storage._sql_rows as rw
from ecomcrm.storage._audit import AuditAction, AuditEntry, current_audit_context

if TYPE_CHECKING:
    import psycopg

AUDIT_SCHEMA = """
CREATE TABLE audit (
    pk BIGSERIAL PRIMARY KEY,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject, at) WHERE subject IS NOT NULL;
CREATE INDEX audit_action ON audit(action, at);
CREATE FUNCTION audit_guard() RETURNS trigger LANGUAGE plpgsql AS $guard$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.subject IS NULL OR NEW.subject NOT LIKE 'erased:%'
       OR NEW.details <> '{}' OR NEW.reason <> '' OR NEW.source <> ''
       OR NEW.at <> OLD.at OR NEW.action <> OLD.action
       OR (NEW.actor <> OLD.actor AND NEW.actor <> NEW.subject) THEN
        RAISE EXCEPTION 'the audit log is append-only';
    END IF;
    RETURN NEW;
END
$guard$;
CREATE TRIGGER audit_guard BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_guard();
"""

AUDIT_COLUMNS = "at, action, subject, actor, reason, source, details"


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The row of an entry (``at`` in microseconds, details as compact JSON)."""
    return (
        rw.micros(entry.at),
        entry.action,
        entry.subject,
        entry.actor,
        entry.reason,
        entry.source,
        json.dumps(dict(entry.details), sort_keys=True, separators=(",", ":")),
    )


def audit_entry_from(row: Sequence[Any]) -> AuditEntry:
    """The entry of a row read in ``AUDIT_COLUMNS`` order."""
    return AuditEntry(
        at=rw.from_micros(row[0]),
        action=row[1],
        subject=row[2],
        actor=row[3],
        reason=row[4],
        source=row[5],
        details=json.loads(row[6]),
    )


def migrate_audit(conn: psycopg.Connection[Any]) -> None:
    """Schema version 2: the append-only ``audit`` table, its indexes and its guard."""
    conn.execute(AUDIT_SCHEMA.encode())


def record_migration(conn: psycopg.Connection[Any], current: int, target: int) -> None:
    """Append the ``schema.migration`` entry of a migration from ``current`` to ``target``."""
    context = current_audit_context()
    entry = AuditEntry(
        at=datetime.now(UTC),
        action=AuditAction.SCHEMA_MIGRATION,
        actor=context.actor,
        reason=context.reason,
        source=context.source or "postgresql",
        details={"from_version": current, "to_version": target},
    )
    conn.execute(
        f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        audit_values(entry),
    )
