"""The memory store's retention purge: rows due are selected on column arrays, then dropped.

Events are selected with one numpy comparison over the event columns (name and instant)
per rule; the other classes (small in practice) by one pass over their table. Every
removal goes through the undo log, so a failing purge rolls back with its transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import attrs
import numpy as np

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import IdentityKind

if TYPE_CHECKING:
    from ecomcrm.storage.memory._tables import _Tables

_IDENTIFYING = frozenset({IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.EXTERNAL})


class MemoryPurger:
    """The bulk primitives of a retention purge over a memory store's tables."""

    def __init__(self, tables: _Tables) -> None:
        self._s = tables

    def purge_events(self, named: Mapping[str, int], default: int | None) -> int:
        """Delete events older than their name's cut-off (``default`` for other names)."""
        s = self._s
        cols = s._event_cols
        alive = cols.alive()
        at = np.asarray([-1 if v is None else v for v in cols.cols["at"]], dtype=np.int64)
        names = np.asarray(cols.cols["name"], dtype=object)
        due = np.zeros(len(at), dtype=bool)
        for name, cutoff in named.items():
            due |= (names == name) & (at < cutoff)
        if default is not None:
            others = ~np.isin(names, list(named)) if named else np.ones(len(at), dtype=bool)
            due |= others & (at < default)
        keys = [cols.keys[i] for i in np.flatnonzero(due & alive)]
        with s._transaction():
            for key in keys:
                if key is not None:
                    s._drop_event(key)
        return len(keys)

    def purge_messages(self, cutoff: int) -> int:
        """Delete messages older than ``cutoff``."""
        s = self._s
        due = [m for m in s._messages.values() if sh.to_micros(m.at) < cutoff]
        with s._transaction():
            for message in due:
                s._ddel(s._messages, message.id)
                s._index_remove(s._messages_by_customer, message.customer_id, message.id)
        return len(due)

    def purge_tickets(self, cutoff: int) -> int:
        """Delete tickets closed before ``cutoff``."""
        s = self._s
        due = [
            t
            for t in s._tickets.values()
            if t.closed_at is not None and sh.to_micros(t.closed_at) < cutoff
        ]
        with s._transaction():
            for ticket in due:
                s._ddel(s._tickets, ticket.id)
                s._index_remove(s._tickets_by_customer, ticket.customer_id, ticket.id)
        return len(due)

    def strip_orders(self, cutoff: int) -> tuple[int, int]:
        """Remove addresses and discount codes of old orders, reasons of old refunds."""
        s = self._s
        orders = [
            o
            for o in s._orders.values()
            if sh.to_micros(o.placed_at) < cutoff
            and (o.shipping_address is not None or o.discount_codes)
        ]
        refunds = [
            (seq, r)
            for seq, r in s._refunds.values()
            if sh.to_micros(r.at) < cutoff
            and (r.reason is not None or any(line.reason is not None for line in r.lines))
        ]
        with s._transaction():
            for order in orders:
                stripped = attrs.evolve(order, shipping_address=None, discount_codes=())
                s._dset(s._orders, order.id, stripped)
            for seq, refund in refunds:
                kept = sh.anonymise_refund(refund, refund.customer_id)
                s._dset(s._refunds, refund.id, (seq, kept))
        return len(orders), len(refunds)

    def purge_consents(self, cutoff: int) -> int:
        """Delete decisions older than ``cutoff`` that are not current for their key."""
        s = self._s
        latest: dict[tuple[str, str, str, str], tuple[int, int]] = {}
        for seq, c in s._consents.items():
            key = (c.customer_id, c.channel.value, c.purpose.value, c.topic or "")
            rank = (sh.to_micros(c.at), seq)
            if key not in latest or rank > latest[key]:
                latest[key] = rank
        current = {seq for _, seq in latest.values()}
        due = [
            (seq, c)
            for seq, c in s._consents.items()
            if seq not in current and sh.to_micros(c.at) < cutoff
        ]
        with s._transaction():
            for seq, consent in due:
                s._ddel(s._consents, seq)
                s._index_remove(s._consents_by_customer, consent.customer_id, seq)
        return len(due)

    def anonymous_profiles(self, cutoff: int) -> Sequence[str]:
        """Live profiles never identified, created before ``cutoff``, silent since."""
        s = self._s
        found = []
        for cid, person in s._customers.items():
            if cid.startswith(sh.ANONYMOUS_ID_PREFIX) or sh.to_micros(person.created_at) >= cutoff:
                continue
            if any(i.kind in _IDENTIFYING for i in person.identities):
                continue
            events = (s._events[e][1] for e in s._event_ids_of(cid))
            if all(sh.to_micros(e.at) < cutoff for e in events):
                found.append(cid)
        return sorted(found)
