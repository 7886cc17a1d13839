"""The SQLite audit log's table (schema version 5), its rows and the migration entry.

The table refuses, by trigger, every DELETE and every UPDATE except the erasure's
pseudonymisation (subject, and an actor that was the person, set to an ``erased:``
pseudonym; details, reason and source emptied), so the
log stays append-only even for a program that writes SQL to the file directly.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ecomcrm.storage._audit import AuditAction, AuditEntry, current_audit_context
from ecomcrm.storage._sql_rows import from_micros, micros

AUDIT_SCHEMA = """
CREATE TABLE audit (
    pk INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    action TEXT NOT NULL,
    subject TEXT,
    actor TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_subject ON audit(subject, at) WHERE subject IS NOT NULL;
CREATE INDEX audit_action ON audit(action, at);
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
WHEN NEW.subject IS NULL OR NEW.subject NOT LIKE 'erased:%' OR NEW.details <> '{}'
  OR NEW.reason <> '' OR NEW.source <> '' OR NEW.at <> OLD.at OR NEW.action <> OLD.action
  OR (NEW.actor <> OLD.actor AND NEW.actor <> NEW.subject)
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END
"""

AUDIT_VERSION = 5
"""The schema version that created the ``audit`` table."""

AUDIT_COLUMNS = "at, action, subject, actor, reason, source, details"
"""The columns of an audit row, in the order of :func:`audit_values`."""


def migrate_audit(conn: sqlite3.Connection) -> None:
    """Schema version 5: create the append-only ``audit`` table and its triggers."""
    statements = [s.strip() for s in AUDIT_SCHEMA.split(";\n") if s.strip()]
    for statement in statements:
        conn.execute(statement if statement.endswith("END") else statement.rstrip(";"))


def audit_values(entry: AuditEntry) -> tuple[Any, ...]:
    """The row of an entry (``at`` in microseconds, details as compact JSON)."""
    return (
        micros(entry.at),
        entry.action,
        entry.subject,
        entry.actor,
        entry.reason,
        entry.source,
        json.dumps(dict(entry.details), sort_keys=True, separators=(",", ":")),
    )


def audit_entry_from(row: Sequence[Any]) -> AuditEntry:
    """The entry of a row read in :data:`AUDIT_COLUMNS` order."""
    return AuditEntry(
        at=from_micros(row[0]),
        action=row[1],
        subject=row[2],
        actor=row[3],
        reason=row[4],
        source=row[5],
        details=json.loads(row[6]),
    )


def record_migration(conn: sqlite3.Connection, current: int, target: int, at: datetime) -> None:
    """Append the ``schema.migration`` entry of a migration from ``current`` to ``target``."""
    context = current_audit_context()
    entry = AuditEntry(
        at=at,
        action=AuditAction.SCHEMA_MIGRATION,
        actor=context.actor,
        reason=context.reason,
        source=context.source or "sqlite",
        details={"from_version": current, "to_version": target},
    )
    conn.execute(
        f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)", audit_values(entry)
    )
