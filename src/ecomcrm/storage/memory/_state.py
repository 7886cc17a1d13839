"""The memory store's state area: frozen values stored once and shared with every reader."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import ecomcrm.storage.toolkit as sh
from ecomcrm.errors import ValidationError
from ecomcrm.storage._capabilities import EventMark, StateChange
from ecomcrm.storage._protocols import Store
from ecomcrm.storage._records import (
    StateRecord,
)
from ecomcrm.storage.memory._tables import StateEntry, _restore_state, _Tables


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
        record = s._state.get(key)
        if isinstance(record, tuple):  # a mark, kept compact
            return _mark_record(key, record)
        return record

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
                found[key] = _mark_record(key, record) if isinstance(record, tuple) else record
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
            version = sh.check_expected_version(key, _version(s._state, key), expected_version)
            record = StateRecord(key=key, value=frozen, version=version, owner=owner)
            s._dset(s._state, key, record)
        return record

    def delete(self, key: str, *, expected_version: int) -> None:
        s = self._s
        sh.check_state_key(key)
        with s._lock:
            s._check_open()
            sh.check_expected_version(key, _version(s._state, key), expected_version)
            s._ddel(s._state, key)

    def apply(self, changes: Iterable[StateChange]) -> None:
        """Several compare-and-set writes at once: all are applied, or none.

        Each change is ``(key, value, expected_version[, owner])``; a value of None deletes
        the record (its expected version is then required). Every version is checked
        (ConflictError naming the first stale key) before anything changes; keys must be
        distinct.
        """
        self.apply_marked(changes, ())

    def apply_marked(self, changes: Iterable[StateChange], marks: Iterable[EventMark]) -> None:
        """``apply(changes)`` plus new marks ``(key, at µs, owner)``, all or nothing.

        A mark is kept as the pair ``(at, owner)``: a tuple of two scalars that the garbage
        collector stops tracking, where a record would keep a record and a mapping alive
        in every full collection; ``get``, ``get_many`` and ``scan`` hand it out as the
        record ``{"at": at, "cust": owner}`` (version 1, owned by ``owner``).
        """
        s = self._s
        freeze = sh.freeze_state_value
        frozen_dict = sh.FrozenDict
        batch: list[tuple[str, sh.FrozenDict | None, int | None, str | None]] = []
        append = batch.append
        keys: dict[str, None] = {}  # every key of the batch, in order (each once)
        for change in changes:
            key, value, expected = change[0], change[1], change[2]
            owner = change[3] if len(change) > 3 else None
            if type(key) is not str or not key:
                sh.check_state_key(key)
            if key in keys:
                _twice(key)
            keys[key] = None
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
                append((key, None, expected, None))
        compact: list[tuple[str, tuple[int, str]]] = []
        for mark in marks:
            key, at, owner = sh.check_event_mark(mark)
            if key in keys:
                _twice(key)
            keys[key] = None
            compact.append((key, (at, owner)))
        with s._lock:
            if s._closed:
                s._check_open()
            state = s._state
            get = state.get
            for key, _, expected, _ in batch:  # every version first: all or nothing
                stored = get(key)
                found = None if stored is None else _version_of(stored)
                if found != expected or (expected is not None and type(expected) is not int):
                    sh.check_expected_version(key, found, expected)  # raises
            for key, _ in compact:
                if key in state:  # a mark is a new record: one that exists is a lost race
                    sh.check_expected_version(key, _version_of(state[key]), None)  # raises
            if s._undo is not None:
                # Inside a transaction one undo step restores the whole batch: logging each
                # key (``_dset``) made a held ``handle_many(1000)`` unit 15 % slower.
                s._record(_restore_state, state, [(k, get(k)) for k in keys])
            add_key = state.keys_in_order.add
            setitem = dict.__setitem__
            for key, value, expected, owner in batch:
                if value is None:
                    del state[key]
                elif expected is None:  # checked above: the key is new
                    add_key(key)
                    setitem(state, key, _new_record(key, value, 1, owner))
                else:
                    setitem(state, key, _new_record(key, value, expected + 1, owner))
            for key, pair in compact:
                add_key(key)
                setitem(state, key, pair)

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
                record = state[key]
                out.append(_mark_record(key, record) if isinstance(record, tuple) else record)
                if limit is not None and len(out) >= limit:
                    break
            return out


# StateRecord is a frozen slotted attrs class: its ``__init__`` sets each field through
# ``object.__setattr__``; the slots' own descriptors build the same record in half the time
_SLOTS = vars(StateRecord)
_set_key, _set_value = _SLOTS["key"].__set__, _SLOTS["value"].__set__
_set_version, _set_owner = _SLOTS["version"].__set__, _SLOTS["owner"].__set__
_alloc = object.__new__


def _new_record(key: str, value: Any, version: int, owner: str | None) -> StateRecord:
    """``StateRecord(key=key, value=value, version=version, owner=owner)``, checked before."""
    record: StateRecord = _alloc(StateRecord)
    _set_key(record, key)
    _set_value(record, value)
    _set_version(record, version)
    _set_owner(record, owner)
    return record


def _twice(key: str) -> NoReturn:
    raise ValidationError("given twice in one batch", entity="state", field="key", value=key)


def _version_of(stored: StateEntry) -> int:
    """The version of a stored entry (a compact mark is at version 1)."""
    return 1 if isinstance(stored, tuple) else stored.version


def _version(state: dict[str, Any], key: str) -> int | None:
    """The version of ``key`` in the map, None when absent."""
    stored = state.get(key)
    return None if stored is None else _version_of(stored)


def _mark_record(key: str, pair: tuple[int, str]) -> StateRecord:
    """The record a compact mark stands for."""
    at, owner = pair
    return _new_record(key, sh.FrozenDict(at=at, cust=owner), 1, owner)
