"""The SQLite audit log repository over the ``audit`` table (see ``_audit_schema``)."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from datetime import datetime

import ecomcrm.storage.toolkit as sh
from ecomcrm.storage._audit import AuditEntry
from ecomcrm.storage._sql_rows import micros
from ecomcrm.storage.sqlite._audit_schema import AUDIT_COLUMNS, audit_entry_from, audit_values
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._sql import _chunks, _marks


class SqliteAudit(_Base, sh.BaseAuditLog):
    """The append-only audit log in the ``audit`` table."""

    def add(self, entries: Sequence[AuditEntry]) -> None:
        """Insert the entries in order."""
        with self._db.write() as conn:
            conn.executemany(
                f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                [audit_values(e) for e in entries],
            )

    def scan(self) -> Iterator[AuditEntry]:
        """Every entry in insertion order."""
        with self._db.read() as conn:
            rows = conn.execute(f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY pk").fetchall()
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
            ("subject = ?", subject),
            ("action = ?", action),
            ("at >= ?", None if since is None else micros(since)),
            ("at < ?", None if until is None else micros(until)),
        ):
            if value is not None:
                where.append(clause)
                args.append(value)
        sql = f"SELECT {AUDIT_COLUMNS} FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._db.read() as conn:
            rows = conn.execute(sql + " ORDER BY at, pk", args).fetchall()
        return [audit_entry_from(r) for r in rows]

    def rename_subjects(self, subjects: Collection[str], to: str) -> None:
        """Pseudonymise the entries about these subjects (:meth:`BaseAuditLog.rename_subjects`)."""
        with self._db.write() as conn:
            for part in _chunks(list(subjects)):
                marks = _marks(len(part))
                conn.execute(
                    f"UPDATE audit SET actor = CASE WHEN actor IN ({marks}) THEN ? ELSE actor END, "
                    "subject = ?, details = '{}', reason = '', source = '' "
                    f"WHERE subject IN ({marks})",
                    (*part, to, to, *part),
                )
