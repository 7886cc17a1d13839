"""The undo log: every mutation of the memory store records how to undo it.

A transaction keeps the log and replays it backwards when its block raises, so a failure
rolls back every table at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import attrs

from ecomcrm.errors import StorageError

_MISSING: Any = object()


K = TypeVar("K")


V = TypeVar("V")


class _UndoLog:
    """Undo-logged writes to dicts and lists, and the transaction that replays the log."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._undo: list[tuple[Callable[..., Any], tuple[Any, ...]]] | None = None
        self._depth = 0
        self._closed = False
        self._seq = 0

    def _record(self, undo: Callable[..., Any], *args: Any) -> None:
        # Undo steps are (function, args) tuples rather than closures: a bulk import
        # records hundreds of thousands of them and closures cost several allocations.
        if self._undo is not None:
            self._undo.append((undo, args))

    def _next_seq(self) -> int:
        self._seq += 1  # never rolled back: sequence numbers only need to grow
        return self._seq

    def _dset(self, mapping: dict[K, V], key: K, value: V) -> None:
        old = mapping.get(key, _MISSING)
        mapping[key] = value
        if self._undo is not None:
            if old is _MISSING:
                self._undo.append((mapping.__delitem__, (key,)))
            else:
                self._undo.append((mapping.__setitem__, (key, old)))

    def _ddel(self, mapping: dict[K, V], key: K) -> None:
        if key in mapping:
            old = mapping.pop(key)
            self._record(mapping.__setitem__, key, old)

    def _lset(self, items: list[Any], index: int, value: Any) -> None:
        old = items[index]
        items[index] = value
        self._record(items.__setitem__, index, old)

    def _index_add(self, index: dict[K, dict[Any, None]], key: K, member: Any) -> None:
        bucket = index.get(key)
        if bucket is None:
            bucket = {}
            self._dset(index, key, bucket)
        if member not in bucket:
            self._dset(bucket, member, None)

    def _index_remove(self, index: dict[K, dict[Any, None]], key: K, member: Any) -> None:
        bucket = index.get(key)
        if bucket is not None:
            self._ddel(bucket, member)

    def _reassign(
        self,
        table: dict[Any, Any],
        index: dict[str, dict[Any, None]],
        customer_ids: Collection[str],
        to: str | None,
        *,
        sequenced: bool = False,
    ) -> None:
        """Re-point (or delete, for None) the rows of ``customer_ids`` in an indexed table."""
        for cid in customer_ids:
            for key in list(index.get(cid, {})):
                if to is None:
                    self._ddel(table, key)
                    continue
                row = table[key]
                if sequenced:  # (sequence number, record)
                    self._dset(table, key, (row[0], attrs.evolve(row[1], customer_id=to)))
                else:
                    self._dset(table, key, attrs.evolve(row, customer_id=to))
                self._index_add(index, to, key)
            self._ddel(index, cid)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed", entity="MemoryStore")

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._check_open()
        with self._lock:
            outer = self._depth == 0
            if outer:
                self._undo = []
            self._depth += 1
            try:
                yield
            except BaseException:
                if outer:
                    undo, self._undo = self._undo or [], None
                    for step, args in reversed(undo):
                        step(*args)
                raise
            finally:
                self._depth -= 1
                if outer:
                    self._undo = None
