"""The SQLite state area: versioned JSON records with compare-and-set and batches."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import (
    ValidationError,
)
from ecomcrm.storage._capabilities import EventMark, StateChange
from ecomcrm.storage._records import (
    StateRecord,
)
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._rows import _STATE_ENCODER, _state_json
from ecomcrm.storage.sqlite._sql import _chunks, _in, _marks

_STATE_UPSERT = (
    "INSERT INTO state (key, value, version, owner) VALUES (?, ?, ?, ?) ON CONFLICT(key) "
    "DO UPDATE SET value = excluded.value, version = excluded.version, owner = excluded.owner"
)


class SqliteState(_Base, sh.BaseStateRepository):
    """Versioned JSON records with compare-and-set, in ``state`` (the owner in its column).

    Besides the protocol, two batch operations for the rules engine: ``get_many`` (one
    query per 500 keys) and ``apply`` (a batch of compare-and-set writes checked with one
    query and written with ``executemany``, all or nothing).
    """

    def get(self, key: str) -> StateRecord | None:
        """The record, or None."""
        sh.check_state_key(key)
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT value, version, owner FROM state WHERE key = ?", (key,)
            ).fetchone()
        if row is None:
            return None
        return StateRecord(key=key, value=json.loads(row[0]), version=row[1], owner=row[2])

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys that exist, by key."""
        wanted = list(dict.fromkeys(sh.check_state_key(k) for k in keys))
        if not wanted:
            return {}
        with self._db.read() as conn:
            rows = _in(
                conn, "SELECT key, value, version, owner FROM state WHERE key IN ({ids})", wanted
            )
        return {
            k: StateRecord(key=k, value=json.loads(v), version=n, owner=o) for k, v, n, o in rows
        }

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        """Write ``value`` if the stored version equals ``expected_version`` (else ConflictError)."""
        sh.check_state_key(key)
        sh.check_state_owner(owner)
        text = _state_json(value)
        with self._db.write() as conn:
            row = conn.execute("SELECT version FROM state WHERE key = ?", (key,)).fetchone()
            version = sh.check_expected_version(
                key, None if row is None else int(row[0]), expected_version
            )
            conn.execute(_STATE_UPSERT, (key, text, version, owner))
        return StateRecord(key=key, value=json.loads(text), version=version, owner=owner)

    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""
        sh.check_state_key(key)
        with self._db.write() as conn:
            row = conn.execute("SELECT version FROM state WHERE key = ?", (key,)).fetchone()
            sh.check_expected_version(key, None if row is None else int(row[0]), expected_version)
            conn.execute("DELETE FROM state WHERE key = ?", (key,))

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct.
        """
        self.apply_marked(changes, ())

    def apply_marked(self, changes: Iterable[StateChange], marks: Iterable[EventMark]) -> None:
        """``apply(changes)`` plus new marks ``(key, at µs, owner)``, in one transaction.

        A mark is an ordinary row of ``state`` whose JSON text is written directly (no
        encoder walk); like a new key of the batch it must not exist yet.
        """
        batch: list[tuple[str, str | None, int | None, str | None]] = []
        seen: set[str] = set()
        for change in changes:
            key, value, expected = change[0], change[1], change[2]
            owner = change[3] if len(change) > 3 else None
            sh.check_state_key(key)
            if key in seen:
                raise ValidationError(
                    "given twice in one batch", entity="state", field="key", value=key
                )
            seen.add(key)
            if value is None and expected is None:
                raise ValidationError(
                    "a delete needs the expected version",
                    entity="state",
                    field="expected_version",
                    value=key,
                )
            text = None if value is None else _state_json(value)
            batch.append((key, text, expected, sh.check_state_owner(owner)))
        for mark in marks:
            key, at, owner = sh.check_event_mark(mark)
            if key in seen:
                raise ValidationError(
                    "given twice in one batch", entity="state", field="key", value=key
                )
            seen.add(key)
            text = f'{{"at":{at},"cust":{_STATE_ENCODER.encode(owner)}}}'  # what the encoder writes
            batch.append((key, text, None, owner))
        if not batch:
            return
        with self._db.write() as conn:
            sql = "SELECT key, version FROM state WHERE key IN ({ids})"
            stored: dict[str, int] = dict(_in(conn, sql, [change[0] for change in batch]))
            upserts: list[tuple[str, str, int, str | None]] = []
            deletes: list[tuple[str]] = []
            for key, text, expected, owner in batch:
                version = sh.check_expected_version(key, stored.get(key), expected)
                if text is None:
                    deletes.append((key,))
                else:
                    upserts.append((key, text, version, owner))
            if upserts:
                conn.executemany(_STATE_UPSERT, upserts)
            if deletes:
                conn.executemany("DELETE FROM state WHERE key = ?", deletes)

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""
        where = ["key >= ?", "substr(key, 1, ?) = ?"]
        args: list[Any] = [max(prefix, start) if start is not None else prefix, len(prefix), prefix]
        if stop is not None:
            where.append("key < ?")
            args.append(stop)
        sql = (
            f"SELECT key, value, version, owner FROM state WHERE {' AND '.join(where)} ORDER BY key"
        )
        if limit is not None:
            if limit <= 0:
                return []
            sql += " LIMIT ?"
            args.append(limit)
        with self._db.read() as conn:
            rows = conn.execute(sql, args).fetchall()
        return [StateRecord(key=k, value=json.loads(v), version=n, owner=o) for k, v, n, o in rows]

    # --------------------------------------------------------------------------------------
    # the store

    def delete_owned(self, owners: Collection[str]) -> int:
        """Delete the records owned by any of ``owners``; how many (an erasure primitive)."""
        deleted = 0
        with self._db.write() as conn:
            for part in _chunks(list(owners)):
                sql = f"DELETE FROM state WHERE owner IN ({_marks(len(part))})"
                deleted += conn.execute(sql, part).rowcount
        return deleted
