"""The memory store's owned tables: records by id with per-customer indexes, columns, keys.

Orders and events also live in per-column lists (one list per analytic column, with an
``alive`` flag per row), so columnar reads turn lists into arrays without building a
Python object per row; state keys are kept sorted for range scans.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NoReturn

import numpy as np
from numpy.typing import NDArray

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    IdentityKind,
    LoyaltyEntry,
    Message,
    Order,
    Refund,
    SupportTicket,
)
from ecomcrm.errors import ConflictError, NotFoundError
from ecomcrm.storage._records import (
    MergeRecord,
    StateRecord,
)
from ecomcrm.storage.memory._undo import _UndoLog


class _Columns:
    """Rows addressed by key, stored as one list per column, with an undo hook."""

    def __init__(self, store: _UndoLog, names: tuple[str, ...]) -> None:
        self._store = store
        self.row: dict[str, int] = {}
        self.cols: dict[str, list[Any]] = {name: [] for name in names}
        self.keys: list[str | None] = []

    def set(self, key: str, values: Mapping[str, Any]) -> None:
        store = self._store
        i = self.row.get(key)
        if i is None:
            self.keys.append(key)
            for name, column in self.cols.items():
                column.append(values[name])
            self.row[key] = len(self.keys) - 1
            store._record(self._pop_last, key)
        else:
            for name, value in values.items():
                store._lset(self.cols[name], i, value)

    def _pop_last(self, key: str) -> None:
        del self.row[key]
        self.keys.pop()
        for column in self.cols.values():
            column.pop()

    def update(self, key: str, name: str, value: Any) -> None:
        self._store._lset(self.cols[name], self.row[key], value)

    def delete(self, key: str) -> None:
        i = self.row.get(key)
        if i is None:
            return
        store = self._store
        store._ddel(self.row, key)
        store._lset(self.keys, i, None)
        for column in self.cols.values():
            store._lset(column, i, None)

    def alive(self) -> NDArray[np.bool_]:
        keys = np.asarray(self.keys, dtype=object)
        mask: NDArray[np.bool_] = keys != None  # noqa: E711 - elementwise on an object array
        return mask


class _SortedKeys:
    """The state keys in code-point order, as a list of short sorted blocks.

    A new key waits in a set until the next range scan, which sorts the waiting keys
    once and merges them into their blocks (a C-level sort per touched block instead of
    a bisection and an insertion per key; a key added and removed between two scans never
    touches the blocks). Removing a sorted key costs a bisection plus a shift inside one
    block of at most ``2 * load`` keys (a plain sorted list would shift up to N keys); a
    range scan bisects to its first key.
    """

    __slots__ = ("_blocks", "_load", "_maxes", "_pending")

    def __init__(self, load: int = 512) -> None:
        self._blocks: list[list[str]] = []
        self._maxes: list[str] = []
        self._load = load
        self._pending: set[str] = set()

    def add(self, key: str) -> None:
        """Add ``key``, which must not be in the index (the state map checks it)."""
        self._pending.add(key)

    def _merge_pending(self) -> None:
        """Sort the keys added since the last scan into their blocks."""
        waiting = sorted(self._pending)
        self._pending.clear()
        blocks, maxes, load = self._blocks, self._maxes, self._load
        if not blocks:
            blocks.append(waiting)
            maxes.append(waiting[-1])
            self._split(0)
            return
        # the block of each waiting key: the first whose largest key is not smaller (the
        # last block for keys past every block); both lists are sorted, so one walk
        groups: list[tuple[int, list[str]]] = []
        i, last = 0, len(maxes) - 1
        for key in waiting:
            while i < last and maxes[i] < key:
                i += 1
            if groups and groups[-1][0] == i:
                groups[-1][1].append(key)
            else:
                groups.append((i, [key]))
        for i, keys in reversed(groups):  # from the end: splitting shifts later blocks only
            block = blocks[i]
            block.extend(keys)
            block.sort()  # two sorted runs: a linear merge
            maxes[i] = block[-1]
            if len(block) > 2 * load:
                self._split(i)

    def _split(self, i: int) -> None:
        """Cut block ``i`` into blocks of ``load`` keys (the last one up to ``2 * load``)."""
        blocks, maxes, load = self._blocks, self._maxes, self._load
        block = blocks[i]
        if len(block) <= 2 * load:
            return
        pieces = [block[n : n + load] for n in range(0, len(block), load)]
        if len(pieces) > 1 and len(pieces[-1]) < load:
            pieces[-2].extend(pieces.pop())
        blocks[i : i + 1] = pieces
        maxes[i : i + 1] = [piece[-1] for piece in pieces]

    def remove(self, key: str) -> None:
        pending = self._pending
        if key in pending:
            pending.discard(key)
            return
        maxes = self._maxes
        i = bisect.bisect_left(maxes, key)
        if i == len(maxes):
            return
        block = self._blocks[i]
        j = bisect.bisect_left(block, key)
        if j == len(block) or block[j] != key:
            return
        del block[j]
        if not block:
            del self._blocks[i]
            del maxes[i]
        elif j == len(block):
            maxes[i] = block[-1]

    def range(self, start: str, stop: str | None) -> Iterator[str]:
        """Keys ``k`` with ``start <= k < stop`` (no upper bound when ``stop`` is None)."""
        if self._pending:
            self._merge_pending()
        maxes = self._maxes
        i = bisect.bisect_left(maxes, start)
        if i == len(maxes):
            return
        blocks = self._blocks
        j = bisect.bisect_left(blocks[i], start)
        for n in range(i, len(blocks)):
            block = blocks[n]
            if stop is not None and block[-1] >= stop:
                yield from block[j : bisect.bisect_left(block, stop, j)]
                return
            yield from block[j:] if j else block
            j = 0


StateEntry = StateRecord | tuple[int, str]
"""What the state map keeps per key: a record, or a mark as ``(at µs, owner)`` (see _state)."""


class _StateMap(dict[str, StateEntry]):
    """The state records by key, with a :class:`_SortedKeys` index kept in step.

    Every way the store changes a record (``m[k] = v``, ``del m[k]``, ``m.pop(k)``,
    including the undo log's replays) maintains the index; the other mutating dict
    methods are refused.
    """

    __slots__ = ("keys_in_order",)

    def __init__(self) -> None:
        super().__init__()
        self.keys_in_order = _SortedKeys()

    def __setitem__(self, key: str, value: StateEntry) -> None:
        if key not in self:
            self.keys_in_order.add(key)
        dict.__setitem__(self, key, value)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self.keys_in_order.remove(key)

    def pop(self, key: str, *default: Any) -> Any:
        if key in self:
            self.keys_in_order.remove(key)
        return dict.pop(self, key, *default)

    def _unsupported(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("the state map changes only by item assignment, del and pop")

    clear = popitem = setdefault = update = _unsupported
    __ior__ = _unsupported


def _restore_state(state: _StateMap, previous: list[tuple[str, StateEntry | None]]) -> None:
    """Undo one ``apply``: put back each key's record as it was (None: absent)."""
    for key, record in reversed(previous):
        if record is None:
            state.pop(key, None)
        else:
            state[key] = record


class _Tables(_UndoLog):
    """The owned tables: records by id, per-customer indexes, columns, and their helpers."""

    def __init__(self) -> None:
        super().__init__()
        self._customers: dict[str, Customer] = {}
        self._identity: dict[str, str] = {}
        self._alias: dict[str, str] = {}
        self._tombstones: dict[str, bool] = {}
        self._merges: dict[str, tuple[int, MergeRecord]] = {}
        self._orders: dict[str, Order] = {}
        self._orders_by_customer: dict[str, dict[str, None]] = {}
        self._order_cols = _Columns(
            self,
            (
                "customer",
                "placed_at",
                "amount",
                "currency",
                "discount",
                "units",
                "cancelled",
                "refunded",
                "returned",
            ),
        )
        self._refunds: dict[str, tuple[int, Refund]] = {}
        self._refunds_by_order: dict[str, dict[str, None]] = {}
        self._refunds_by_customer: dict[str, dict[str, None]] = {}
        self._events: dict[str, tuple[int, Event]] = {}
        self._events_by_customer: dict[str, dict[str, None]] = {}
        self._events_by_anonymous: dict[str, dict[str, None]] = {}
        self._event_cols = _Columns(self, ("customer", "anonymous", "name", "at", "product"))
        self._consents: dict[int, Consent] = {}
        self._consents_by_customer: dict[str, dict[int, None]] = {}
        self._tickets: dict[str, SupportTicket] = {}
        self._tickets_by_customer: dict[str, dict[str, None]] = {}
        self._loyalty: dict[str, tuple[int, LoyaltyEntry]] = {}
        self._loyalty_by_customer: dict[str, dict[str, None]] = {}
        self._messages: dict[str, Message] = {}
        self._messages_by_customer: dict[str, dict[str, None]] = {}
        self._state = _StateMap()

    def _live_id(self, customer_id: str, entity: str) -> str:
        owner = self.resolve(customer_id)
        if owner not in self._customers:
            raise NotFoundError(
                "no such customer", entity=entity, field="customer_id", value=customer_id
            )
        return owner

    def _is_suppressed_key(self, key: str) -> bool:
        return key in self._tombstones

    def _write_customer(self, customer: Customer) -> None:
        sh.check_not_suppressed(customer.identities, self._is_suppressed_key, entity="Customer")
        if self._tombstones:
            sh.check_id_not_erased(customer.id, self._is_suppressed_key)
        for identity in customer.identities:
            owner = self._identity.get(identity.key)
            if owner is not None and owner != customer.id:
                raise ConflictError(
                    f"belongs to customer {owner!r}",
                    entity="Customer",
                    field="identities",
                    value=identity.key,
                )
        old = self._customers.get(customer.id)
        if old is not None:
            keep = {i.key for i in customer.identities}
            for identity in old.identities:
                if identity.key not in keep:
                    self._ddel(self._identity, identity.key)
        for identity in customer.identities:
            self._dset(self._identity, identity.key, customer.id)
        self._dset(self._customers, customer.id, customer)

    def _refresh_refunds(self, order_id: str) -> None:
        if order_id not in self._order_cols.row:
            return
        refunded = 0.0
        returned = 0
        for refund_id in self._refunds_by_order.get(order_id, {}):
            row = sh.refund_row(self._refunds[refund_id][1])
            refunded += row.amount
            returned += row.returned_units
        self._order_cols.update(order_id, "refunded", refunded)
        self._order_cols.update(order_id, "returned", returned)

    def _sorted_refunds(self, ids: Iterable[str]) -> list[Refund]:
        rows = sorted((self._refunds[i] for i in ids), key=lambda r: (r[1].at, r[0]))
        return [refund for _, refund in rows]

    def _store_event(self, event: Event, seq: int) -> None:
        self._dset(self._events, event.id, (seq, event))
        if event.customer_id is not None:
            self._index_add(self._events_by_customer, event.customer_id, event.id)
        if event.anonymous_id is not None:
            self._index_add(self._events_by_anonymous, event.anonymous_id, event.id)
        self._event_cols.set(
            event.id,
            {
                "customer": event.customer_id,
                "anonymous": event.anonymous_id,
                "name": event.name,
                "at": sh.to_micros(event.at),
                "product": sh.event_product(event),
            },
        )

    def _drop_event(self, event_id: str) -> None:
        _, event = self._events[event_id]
        self._ddel(self._events, event_id)
        if event.customer_id is not None:
            self._index_remove(self._events_by_customer, event.customer_id, event_id)
        if event.anonymous_id is not None:
            self._index_remove(self._events_by_anonymous, event.anonymous_id, event_id)
        self._event_cols.delete(event_id)

    def _anonymous_ids(self, customer_id: str) -> list[str]:
        customer = self._customers.get(customer_id)
        if customer is None:
            return []
        return [i.value for i in customer.identities if i.kind is IdentityKind.ANONYMOUS]

    def _event_ids_of(self, customer_id: str) -> list[str]:
        ids = dict(self._events_by_customer.get(customer_id, {}))
        for anonymous_id in self._anonymous_ids(customer_id):
            ids.update(self._events_by_anonymous.get(anonymous_id, {}))
        return list(ids)

    def _aliases_of(self, customer_id: str) -> list[str]:
        return [m for m in self._alias if self.resolve(m) == customer_id]

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges.

        Example:
            >>> _Tables().resolve("c9")
            'c9'
        """
        alias = self._alias
        if customer_id not in alias:
            return customer_id  # never merged (almost everyone): no chain to follow
        return sh.follow_merges(customer_id, alias.get)

    def _drop_refund(self, refund_id: str) -> None:
        found = self._refunds.get(refund_id)
        if found is None:
            return
        refund = found[1]
        self._ddel(self._refunds, refund_id)
        self._index_remove(self._refunds_by_order, refund.order_id, refund_id)
        self._index_remove(self._refunds_by_customer, refund.customer_id, refund_id)
        self._refresh_refunds(refund.order_id)
