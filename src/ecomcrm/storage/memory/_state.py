"""The memory store's state area: frozen values stored once and shared with every reader."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import ValidationError
from ecomcrm.storage._capabilities import StateChange
from ecomcrm.storage._protocols import Store
from ecomcrm.storage._records import (
    StateRecord,
)
from ecomcrm.storage.memory._tables import _restore_state, _Tables


class _State(sh.BaseStateRepository):
    """The state area: frozen values stored once and shared with every reader.

    ``put`` validates and copies a value once into read-only containers
    (``toolkit.freeze_state_value``; frozen parts of a value read earlier are shared, not
    copied); ``get`` and ``scan`` return the stored records themselves, which nobody can
    change. ``scan`` walks the sorted key index from its first key.
    """

    def __init__(self, store: Store, tables: _Tables) -> None:
        super().__init__(store)
        self._s = tables

    def get(self, key: str) -> StateRecord | None:
        s = self._s
        if s._closed or type(key) is not str or not key:  # the checks, inlined for the fast path
            s._check_open()
            sh.check_state_key(key)
        return s._state.get(key)

    def get_many(self, keys: Iterable[str]) -> dict[str, StateRecord]:
        s = self._s
        s._check_open()
        state = s._state
        found: dict[str, StateRecord] = {}
        for key in keys:
            if type(key) is not str or not key:
                sh.check_state_key(key)
            record = state.get(key)
            if record is not None:
                found[key] = record
        return found

    def put(
        self,
        key: str,
        value: Mapping[str, Any],
        *,
        expected_version: int | None,
        owner: str | None = None,
    ) -> StateRecord:
        s = self._s
        sh.check_state_key(key)
        sh.check_state_owner(owner)
        frozen = sh.freeze_state_value(value)
        # One write needs no transaction of its own: it either fails before changing
        # anything or makes one undo-logged change (rolled back with an enclosing block).
        with s._lock:
            s._check_open()
            stored = s._state.get(key)
            version = sh.check_expected_version(
                key, None if stored is None else stored.version, expected_version
            )
            record = StateRecord(key=key, value=frozen, version=version, owner=owner)
            s._dset(s._state, key, record)
        return record

    def delete(self, key: str, *, expected_version: int) -> None:
        s = self._s
        sh.check_state_key(key)
        with s._lock:
            s._check_open()
            stored = s._state.get(key)
            sh.check_expected_version(
                key, None if stored is None else stored.version, expected_version
            )
            s._ddel(s._state, key)

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct.
        """
        s = self._s
        freeze = sh.freeze_state_value
        frozen_dict = sh.FrozenDict
        batch: list[tuple[str, sh.FrozenDict | None, int | None, str | None]] = []
        append = batch.append
        for change in changes:
            key, value, expected = change[0], change[1], change[2]
            owner = change[3] if len(change) > 3 else None
            if type(key) is not str or not key:
                sh.check_state_key(key)
            if value is not None:
                if owner is not None and (type(owner) is not str or not owner):
                    sh.check_state_owner(owner)
                # a FrozenDict is checked and read-only already (freeze returns it as is)
                append((key, value if type(value) is frozen_dict else freeze(value), expected,
                        owner))  # fmt: skip
            elif expected is None:
                raise ValidationError("a delete needs the expected version", entity="state",
                                      field="expected_version", value=key)  # fmt: skip
            else:
                batch.append((key, None, expected, None))
        if len({change[0] for change in batch}) != len(batch):
            keys = [change[0] for change in batch]
            twice = next(k for k in keys if keys.count(k) > 1)
            raise ValidationError("given twice in one batch", entity="state", field="key",
                                  value=twice)  # fmt: skip
        with s._lock:
            s._check_open()
            state = s._state
            previous: list[tuple[str, StateRecord | None]] = []
            for key, _, expected, _ in batch:  # every version first: all or nothing
                stored = state.get(key)
                found = None if stored is None else stored.version
                if found != expected or (expected is not None and type(expected) is not int):
                    sh.check_expected_version(key, found, expected)  # raises
                previous.append((key, stored))
            add_key = state.keys_in_order.add
            for key, value, expected, owner in batch:
                if value is None:
                    del state[key]
                elif expected is None:  # checked above: the key is new
                    add_key(key)
                    dict.__setitem__(
                        state, key, StateRecord(key=key, value=value, version=1, owner=owner)
                    )
                else:
                    dict.__setitem__(
                        state,
                        key,
                        StateRecord(key=key, value=value, version=expected + 1, owner=owner),
                    )
            # Inside a transaction one undo step restores the whole batch: logging each
            # key (``_dset``) made a held ``handle_many(1000)`` unit 15 % slower.
            s._record(_restore_state, state, previous)

    def scan(
        self,
        prefix: str = "",
        *,
        start: str | None = None,
        stop: str | None = None,
        limit: int | None = None,
    ) -> list[StateRecord]:
        s = self._s
        s._check_open()
        if limit is not None and limit <= 0:
            return []
        with s._lock:
            state = s._state
            out: list[StateRecord] = []
            first = prefix if start is None or start < prefix else start
            for key in state.keys_in_order.range(first, stop):
                if not key.startswith(prefix):
                    break
                out.append(state[key])
                if limit is not None and len(out) >= limit:
                    break
            return out
