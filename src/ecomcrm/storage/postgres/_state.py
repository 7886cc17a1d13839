"""The rules engine's versioned state records in ``state``, with row-version compare-and-set.

Many processes write at once: existing rows are locked (``FOR UPDATE``, in key order, so
two batches never deadlock on each other) and their versions checked; new keys are plain
inserts, so a concurrent insert of the same key fails with a unique violation, which is a
ConflictError. Every batch runs in a savepoint: a failed compare-and-set writes nothing
and leaves the surrounding transaction usable.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import StorageError, ValidationError
from ecomcrm.storage._records import StateRecord
from ecomcrm.storage.postgres._base import Base
from ecomcrm.storage.postgres._bulk import unnest_insert
from ecomcrm.storage.postgres._connection import retry_races
from ecomcrm.storage.postgres._marks import EventMarks

# --------------------------------------------------------------------------------------
# state


def _state_json(value: Any) -> str:
    """A state value as JSON text; ValidationError when it is not a JSON-compatible mapping."""
    frozen = sh.freeze_state_value(value)
    return json.dumps(frozen, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _record(key: str, text: str, version: int, owner: str | None) -> StateRecord:
    return StateRecord(key=key, value=json.loads(text), version=version, owner=owner)


class PostgresState(EventMarks, Base):
    """Versioned JSON records with compare-and-set, in ``state`` (row versions).

    Besides the protocol, two batch operations for the rules engine: ``get_many`` (one
    statement) and ``apply`` (a batch of compare-and-set writes: the stored rows locked
    in key order and checked, then written with two array statements, all or nothing);
    and ``claim`` (``SELECT ... FOR UPDATE SKIP LOCKED``), with which processes advancing
    the engine at once take disjoint due timers.
    """

    def get(self, key: str) -> StateRecord | None:
        """The record, or None."""
        sh.check_state_key(key)
        rows = self._db.query("SELECT value, version, owner FROM state WHERE key = %s", (key,))
        return None if not rows else _record(key, *rows[0])

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        """The records of these keys that exist, by key."""
        wanted = list(dict.fromkeys(sh.check_state_key(k) for k in keys))
        if not wanted:
            return {}
        rows = self._db.query(
            "SELECT key, value, version, owner FROM state WHERE key = ANY(%s)", (wanted,)
        )
        return {k: _record(k, v, n, o) for k, v, n, o in rows}

    def claim(self, keys: Iterable[str]) -> list[StateRecord]:
        """Lock the existing records of ``keys`` that no other transaction holds; by key.

        One ``SELECT ... ORDER BY key FOR UPDATE SKIP LOCKED``: rows another transaction
        has locked (claimed, or being written) are skipped, not waited for, and the rows
        returned stay locked until the enclosing ``store.transaction()`` ends. Needs that
        transaction (StorageError outside one: the locks would end with the statement).
        """
        wanted = list(dict.fromkeys(sh.check_state_key(k) for k in keys))
        if not self._db.depth:
            raise StorageError(
                "claim needs an open store.transaction() (its locks last until it ends)",
                entity="state",
                field="claim",
            )
        if not wanted:
            return []
        rows = self._db.query(
            "SELECT key, value, version, owner FROM state WHERE key = ANY(%s) "
            "ORDER BY key FOR UPDATE SKIP LOCKED",
            (wanted,),
        )
        return [_record(k, v, n, o) for k, v, n, o in rows]

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
        self.apply([(key, value, expected_version, owner)])
        version = 1 if expected_version is None else expected_version + 1
        return _record(key, _state_json(value), version, owner)

    def delete(self, key: str, *, expected_version: int) -> None:
        """Delete if the stored version matches; ConflictError otherwise."""
        sh.check_state_key(key)
        self.apply([(key, None, expected_version, None)])

    @retry_races
    def apply(self, changes: Iterable[sh.StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct. Safe across processes: stored rows are locked, new keys inserted (a
        concurrent insert of the same key is a ConflictError).
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
        if not batch:
            return
        batch.sort(key=lambda change: change[0])
        with self._db.write() as conn:
            stored: dict[str, int] = dict(
                conn.execute(
                    "SELECT key, version FROM state WHERE key = ANY(%s) ORDER BY key FOR UPDATE",
                    ([change[0] for change in batch],),
                ).fetchall()
            )
            inserts: list[tuple[str, str, int, str | None]] = []
            updates: list[tuple[str, str, int, str | None]] = []
            deletes: list[str] = []
            for key, text, expected, owner in batch:
                version = sh.check_expected_version(key, stored.get(key), expected)
                if text is None:
                    deletes.append(key)
                elif expected is None:
                    inserts.append((key, text, version, owner))
                else:
                    updates.append((key, text, version, owner))
            if updates:
                conn.execute(
                    "UPDATE state SET value = u.value, version = u.version, owner = u.owner "
                    "FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[]) "
                    "AS u(key, value, version, owner) WHERE state.key = u.key",
                    [list(c) for c in zip(*updates, strict=True)],
                )
            if deletes:
                conn.execute("DELETE FROM state WHERE key = ANY(%s)", (deletes,))
            if inserts:
                unnest_insert(
                    conn,
                    "state",
                    "key, value, version, owner",
                    ("text", "text", "bigint", "text"),
                    inserts,
                )

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        """Records whose key starts with ``prefix`` and lies in ``[start, stop)``, by key."""
        low = max(prefix, start) if start is not None else prefix
        where = ["key >= %s"]
        args: list[Any] = [low]
        if prefix:
            where.append("left(key, %s) = %s")
            args.extend([len(prefix), prefix])
        if stop is not None:
            where.append("key < %s")
            args.append(stop)
        sql = (
            f"SELECT key, value, version, owner FROM state WHERE {' AND '.join(where)} ORDER BY key"
        )
        if limit is not None:
            if limit <= 0:
                return []
            sql += f" LIMIT {int(limit)}"
        rows = self._db.query(sql, args)
        return [_record(k, v, n, o) for k, v, n, o in rows]
