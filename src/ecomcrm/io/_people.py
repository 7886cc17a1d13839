"""Resolving the people an import names: stable ids, the bounded-cache resolver, merging."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import attrs

from ecomcrm.domain import Channel, Customer, Identity, IdentityKind, Purpose
from ecomcrm.io._cells import email_identity, phone_identity
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item
from ecomcrm.io._seen_keys import SeenKeys
from ecomcrm.storage import Store, SupportsSuppressionSummary


def stable_id(prefix: str, *parts: str) -> str:
    """A deterministic id from its parts, so importing twice gives the same ids.

    Example:
        >>> stable_id("c_", "email:ada@example.com") == stable_id("c_", "email:ada@example.com")
        True
    """
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10).hexdigest()
    return prefix + digest


_PRIORITY = {
    IdentityKind.EMAIL: 0,
    IdentityKind.PHONE: 1,
    IdentityKind.EXTERNAL: 2,
    IdentityKind.ANONYMOUS: 3,
}


def customer_id_for(identities: Sequence[Identity]) -> str:
    """The id a new customer gets: derived from its email, else phone, else external id.

    The same person therefore gets the same id whichever file brings them in first.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> customer_id_for([Identity.email("ada@example.com")]).startswith("c_")
        True
    """
    best = min(identities, key=lambda i: _PRIORITY[i.kind])
    return stable_id("c_", best.key)


class Resolver:
    """Finds the customer behind identities, with a bounded cache, and creates new ones.

    Customers created during an import are kept in ``pending`` until their batch is
    written; the cache maps identity keys to customer ids. On a store that was empty
    when the import began, a key the cache and its overflow filter have never seen is
    a new person, so lookups never query the store for newcomers.
    """

    def __init__(
        self, store: Store, *, max_cache: int = 200_000, complete: bool | None = None
    ) -> None:
        self.store = store
        self.max_cache = max_cache
        self._ids: dict[str, str] = {}
        self._suppressed: dict[str, bool] = {}
        self._emails: dict[str, Identity | None] = {}
        self.pending: dict[str, Customer] = {}
        # The earliest date known of each customer seen in this run (a cache of created_at).
        self._created: dict[str, datetime] = {}
        # What the record being built changed, so that a rejected record leaves no trace:
        # ("pending", customer id, previous) and ("id", identity key, previous) entries.
        self._journal: list[tuple[str, str, Any]] | None = None
        # Consent decisions queued in the current batch: (customer id, channel, purpose).
        self.queued_consents: dict[tuple[str, Channel, Purpose], bool] = {}
        # With no customers at the start, a cache miss means "new": no need to ask the store
        # unless the key went into the overflow filter when the cache was trimmed.
        # ``complete`` overrides: a worker of a parallel import owns its people alone.
        self._complete = store.customers.count() == 0 if complete is None else complete
        self._overflow: SeenKeys | None = None
        # Nobody suppressed when the import began: no per-identity checks. (The store
        # still refuses a suppressed identity when writing, so a concurrent erasure ends
        # as a rejected record, never as a person brought back.)
        self._none_suppressed = (
            isinstance(store, SupportsSuppressionSummary) and not store.has_suppressions()
        )

    def phone(self, text: str) -> Identity | None:
        """:func:`phone_identity`, cached."""
        key = "\x00" + text
        try:
            return self._emails[key]
        except KeyError:
            pass
        identity = phone_identity(text)
        self._emails[key] = identity
        return identity

    def email(self, text: str, column: str) -> Identity | None:
        """:func:`email_identity`, cached (exports repeat a customer's email on every row)."""
        try:
            return self._emails[text]
        except KeyError:
            pass
        identity = email_identity(text, column)
        if len(self._emails) > self.max_cache:
            self._emails.clear()
        self._emails[text] = identity
        return identity

    def is_suppressed(self, identities: Iterable[Identity]) -> bool:
        """True when any identity belonged to an erased person."""
        if self._none_suppressed:
            return False
        for identity in identities:
            key = identity.key
            hit = self._suppressed.get(key)
            if hit is None:
                hit = bool(self.store.is_suppressed(identity))
                self._suppressed[key] = hit
            if hit:
                return True
        return False

    def lookup(self, identities: Iterable[Identity]) -> str | None:
        """The id of the customer holding the first known identity, or None."""
        for identity in identities:
            key = identity.key
            found = self._ids.get(key)
            if found is None:
                if self._complete and (self._overflow is None or key not in self._overflow):
                    continue
                customer = self.store.customers.find_by_identity(identity)
                if customer is None:
                    continue
                found = customer.id
                self._ids[key] = found
            return found
        return None

    def find_person(self, identities: Sequence[Identity]) -> str | None:
        """The customer these identities name: by external id or email; by phone only without.

        A phone is shared in households and reused over time, so it identifies someone only
        when nothing stronger is known; a new email with a known phone is a new person.
        """
        external = IdentityKind.EXTERNAL
        email = IdentityKind.EMAIL
        strong = [i for i in identities if i.kind is external]
        strong += [i for i in identities if i.kind is email]
        return self.lookup(strong if strong else identities)

    def unowned(self, identities: Sequence[Identity], report: ImportReport) -> list[Identity]:
        """``identities`` without phones that already belong to another customer (counted).

        Used when an order creates its customer: the order is still imported, and the
        report's ``extra["phones_already_in_use"]`` says how many phones were left off.
        """
        kept: list[Identity] = []
        for identity in identities:
            if identity.kind is IdentityKind.PHONE and self.lookup([identity]) is not None:
                report.count("phones_already_in_use")
                continue
            kept.append(identity)
        return kept

    def begin_record(self) -> None:
        """Start noting what the next record changes, for :meth:`undo_record`."""
        self._journal = []

    def undo_record(self) -> None:
        """Forget the customers and identities the record being built added (it was rejected)."""
        journal, self._journal = self._journal, None
        for kind, key, previous in reversed(journal or ()):
            if kind == "pending":
                self._created.pop(key, None)
                if previous is None:
                    self.pending.pop(key, None)
                else:
                    self.pending[key] = previous
            elif previous is None:
                self._ids.pop(key, None)
            else:
                self._ids[key] = previous

    def end_record(self) -> None:
        """Stop noting: the record was queued (or dropped without changing anything)."""
        self._journal = None

    def seen_at(self, item: Item, customer_id: str, at: datetime) -> None:
        """Lower the customer's ``created_at`` to ``at`` when ``at`` is earlier.

        A person's ``created_at`` is the earliest date any file tells of them (an order, an
        event, a customers file's date), so the order in which files are imported does not
        change it. The changed customer is queued with ``item``.
        """
        known = self._created.get(customer_id)
        if known is not None and known <= at:
            return
        customer = self.get(customer_id)
        if customer is None:
            return
        if customer.created_at <= at:
            self._created[customer_id] = customer.created_at
            return
        updated = attrs.evolve(customer, created_at=at)
        self.add(updated)
        item.customers = [c for c in item.customers if c.id != customer_id]
        item.customers.append(updated)

    def get(self, customer_id: str) -> Customer | None:
        """The customer with this id, pending or stored, or None."""
        pending = self.pending.get(customer_id)
        if pending is not None:
            return pending
        return self.store.customers.find(customer_id)

    def remember(self, customer: Customer) -> None:
        """Cache a customer's identities (after it was created or changed)."""
        for identity in customer.identities:
            self.remember_identity(identity, customer.id)

    def remember_identity(self, identity: Identity, customer_id: str) -> None:
        """Cache that ``identity`` now leads to ``customer_id`` (after a link or merge)."""
        key = identity.key
        if self._journal is not None:
            self._journal.append(("id", key, self._ids.get(key)))
        self._ids[key] = customer_id

    def add(self, customer: Customer) -> None:
        """Register a new or changed customer to be written with the current batch."""
        if self._journal is not None:
            self._journal.append(("pending", customer.id, self.pending.get(customer.id)))
        self.pending[customer.id] = customer
        self._created[customer.id] = customer.created_at
        self.remember(customer)

    def _forget_ids(self) -> None:
        if self._complete:
            if self._overflow is None:
                self._overflow = SeenKeys()
            add = self._overflow.add
            for key in self._ids:
                add(key)
        self._ids.clear()

    def batch_written(self) -> None:
        """Forget pending customers (they are stored) and trim the caches."""
        self.pending.clear()
        self.queued_consents.clear()
        if len(self._created) > self.max_cache:
            self._created.clear()
        if len(self._ids) > self.max_cache:
            self._forget_ids()
        if len(self._suppressed) > self.max_cache:
            self._suppressed.clear()

    def batch_failed(self) -> None:
        """Forget everything cached: a rolled-back batch may have left stale entries.

        The keys stay "maybe seen", so the next lookup of any of them asks the store.
        """
        self.pending.clear()
        self.queued_consents.clear()
        self._created.clear()
        self._forget_ids()


def merge_customer(existing: Customer, **changes: Any) -> Customer:
    """``existing`` with the non-empty ``changes`` applied and identities united."""
    identities = list(existing.identities)
    keys = {i.key for i in identities}
    for identity in changes.pop("identities", ()):
        if identity.key not in keys:
            identities.append(identity)
            keys.add(identity.key)
    tags = changes.pop("tags", None)
    values = {k: v for k, v in changes.items() if v not in (None, "")}
    if tags:
        values["tags"] = existing.tags | frozenset(tags)
    return attrs.evolve(existing, identities=identities, **values)
