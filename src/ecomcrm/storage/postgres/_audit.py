"""The PostgreSQL audit log repository over the ``audit`` table (see ``_audit_schema``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._audit import AuditEntry
from ecomcrm.storage.postgres._audit_schema import AUDIT_COLUMNS, audit_entry_from, audit_values
from ecomcrm.storage.postgres._base import Base

if TYPE_CHECKING:
    from ecomcrm.storage.postgres._connection import Db


class PostgresAudit(Base, sh.BaseAuditLog):
    """The append-only audit log in the ``audit`` table."""

    def __init__(self, db: Db) -> None:
        Base.__init__(self, db)

    def add(self, entries: Sequence[AuditEntry]) -> None:
        """Insert the entries in order."""
        with self._db.write() as conn, conn.cursor() as cur:
            cur.executemany(
                f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [audit_values(e) for e in entries],
            )

    def scan(self) -> Iterator[AuditEntry]:
        """Every entry in insertion order."""
        rows = self._db.query(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY pk")
        return iter([audit_entry_from(r) for r in rows])

    def entries(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """The entries matching every filter given (in SQL), by ``at`` then insertion."""
        sh.check_audit_filters(since, until)
        where, args = [], []
        for clause, value in (
            ("subject = %s", subject),
            ("action = %s", action),
            ("at >= %s", None if since is None else rw.micros(since)),
            ("at < %s", None if until is None else rw.micros(until)),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [audit_entry_from(r) for r in self._db.query(sql + " ORDER BY at, pk", args)]

    def rename_subjects(self, subjects: Collection[str], to: str) -> None:
        """Pseudonymise the entries about these subjects (one statement)."""
        with self._db.write() as conn:
            conn.execute(
                "UPDATE audit SET actor = CASE WHEN actor = ANY(%s) THEN %s ELSE actor END, "
                "subject = %s, details = '{}', reason = '', source = '' WHERE subject = ANY(%s)",
                (list(subjects), to, to, list(subjects)),
            )
