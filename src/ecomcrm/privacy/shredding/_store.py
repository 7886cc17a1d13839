"""EncryptedStore: a wrapper store that encrypts personal fields in, decrypts them out.

Every read and write goes to the wrapped store; customers, orders, events and tickets
pass through a :class:`FieldCipher` on the way (see ``_fields`` for what is sealed). The
person's data keys live in a :class:`KeyRing` apart from the data; :meth:`EncryptedStore.erase`
erases in the wrapped store and then destroys the keys of every id of the person and of
their anonymous ids, so copies of the data taken before the erasure stay sealed.

Capabilities: the wrapper claims the audit log, retention, suppression summary and
removal and the bulk consent and loyalty facts of the wrapped store (they hold no
sealed field), never its shared URL (another process would open the data without the key
ring) nor its bulk load or prepared orders (they would bypass the cipher).
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar, cast

import attrs

from ecomcrm.domain import Customer, Event, Identity, IdentityKind, Order, Refund, SupportTicket
from ecomcrm.privacy.shredding._fields import ANONYMOUS_SUBJECT, FieldCipher, blind_identity
from ecomcrm.privacy.shredding._keyring import KeyRing
from ecomcrm.storage import (
    AuditLog,
    ConsentFacts,
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    RetentionPolicy,
    RetentionReport,
    Store,
    SupportsAuditLog,
    SupportsBulkFacts,
    SupportsRetention,
    SupportsSuppressionRemoval,
    SupportsSuppressionSummary,
)
from ecomcrm.storage.toolkit import (
    build_customer_360,
    build_export,
    check_customer_id,
    write_audit,
)


class _Customers:
    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self._inner, self._c = inner, cipher

    def put(self, customer: Customer) -> None:
        self._inner.put(self._c.customer_in(customer))

    def upsert(self, customer: Customer) -> bool:
        return bool(self._inner.upsert(self._c.customer_in(customer)))

    def put_many(self, customers: Iterable[Customer]) -> int:
        batch = list(customers)
        self._c.ring.prepare(c.id for c in batch if isinstance(c, Customer))
        return int(self._inner.put_many([self._c.customer_in(c) for c in batch]))

    def get(self, customer_id: str) -> Customer:
        return self._c.customer_out(self._inner.get(customer_id))

    def find(self, customer_id: str) -> Customer | None:
        found = self._inner.find(customer_id)
        return None if found is None else self._c.customer_out(found)

    def find_by_identity(self, identity: Identity) -> Customer | None:
        if isinstance(identity, Identity):
            identity = blind_identity(self._c.ring, identity)
        found = self._inner.find_by_identity(identity)
        return None if found is None else self._c.customer_out(found)

    def iterate(self) -> Iterator[Customer]:
        return (self._c.customer_out(c) for c in self._inner.iterate())

    def count(self) -> int:
        return int(self._inner.count())


class _Orders:
    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self._inner, self._c = inner, cipher

    def upsert(self, order: Order) -> bool:
        return bool(self._inner.upsert(self._c.order_in(order)))

    def put_many(self, orders: Iterable[Order]) -> int:
        batch = list(orders)
        self._c.ring.prepare(o.customer_id for o in batch if isinstance(o, Order))
        return int(self._inner.put_many([self._c.order_in(o) for o in batch]))

    def get(self, order_id: str) -> Order:
        return self._c.order_out(self._inner.get(order_id))

    def for_customer(self, customer_id: str) -> list[Order]:
        return [self._c.order_out(o) for o in self._inner.for_customer(customer_id)]

    def count(self) -> int:
        return int(self._inner.count())

    def add_refund(self, refund: Refund) -> bool:
        return bool(self._inner.add_refund(refund))

    def add_refunds(self, refunds: Iterable[Refund]) -> int:
        return int(self._inner.add_refunds(refunds))

    def refunds_for_order(self, order_id: str) -> list[Refund]:
        return list(self._inner.refunds_for_order(order_id))

    def refunds_for_customer(self, customer_id: str) -> list[Refund]:
        return list(self._inner.refunds_for_customer(customer_id))


class _Events:
    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self._inner, self._c = inner, cipher

    def append(self, event: Event) -> bool:
        return bool(self._inner.append(self._c.event_in(event)))

    def append_many(self, events: Iterable[Event]) -> int:
        batch = list(events)
        self._c.prepare_events(batch)
        return int(self._inner.append_many([self._c.event_in(e) for e in batch]))

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        found = self._inner.for_customer(customer_id, since=since, names=names, limit=limit)
        return [self._c.event_out(e) for e in found]

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        return [self._c.event_out(e) for e in self._inner.for_anonymous(anonymous_id)]

    def count(self) -> int:
        return int(self._inner.count())


class _Tickets:
    def __init__(self, inner: Any, cipher: FieldCipher) -> None:
        self._inner, self._c = inner, cipher

    def upsert(self, ticket: SupportTicket) -> bool:
        return bool(self._inner.upsert(self._c.ticket_in(ticket)))

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        batch = list(tickets)
        self._c.ring.prepare(t.customer_id for t in batch if isinstance(t, SupportTicket))
        return int(self._inner.put_many([self._c.ticket_in(t) for t in batch]))

    def get(self, ticket_id: str) -> SupportTicket:
        return self._c.ticket_out(self._inner.get(ticket_id))

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        return [self._c.ticket_out(t) for t in self._inner.for_customer(customer_id)]


class EncryptedStore:
    """A store whose personal fields are sealed with per-person keys (crypto-shredding).

    Build it with :func:`encrypted_store`, which adds the wrapped store's safe
    capabilities (see the module docstring).

    Example:
        >>> import tempfile, pathlib
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer, Identity
        >>> from ecomcrm.privacy.shredding import KeyRing, StaticKeyProvider
        >>> folder = pathlib.Path(tempfile.mkdtemp())
        >>> ring = KeyRing(folder / "keys.db", StaticKeyProvider({"k1": bytes(32)}))
        >>> store = encrypted_store(ecomcrm.open_store(f"sqlite:///{folder}/crm.db"), ring)
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...                              first_name="Ada", identities=[Identity.email("ada@example.com")]))
        >>> store.customers.find_by_identity(Identity.email("ADA@example.com")).first_name
        'Ada'
        >>> b"Ada" in (folder / "crm.db").read_bytes()
        False
    """

    def __init__(
        self, inner: Store, ring: KeyRing, *, personal_properties: Collection[str] = ()
    ) -> None:
        self.inner = inner
        self.ring = ring
        self.cipher = FieldCipher(ring, personal_properties)
        self.customers = _Customers(inner.customers, self.cipher)
        self.orders = _Orders(inner.orders, self.cipher)
        self.events = _Events(inner.events, self.cipher)
        self.consents = inner.consents
        self.tickets = _Tickets(inner.tickets, self.cipher)
        self.loyalty = inner.loyalty
        self.messages = inner.messages
        self.state = inner.state
        self._depth = 0
        self._shred: list[str] = []  # keys to destroy when the outermost transaction commits

    def __repr__(self) -> str:
        return f"EncryptedStore({self.inner!r})"

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """The wrapped store's transaction; data keys of erasures inside go when it commits."""
        with self.inner.transaction():
            self._depth += 1
            try:
                yield
            except BaseException:
                if self._depth == 1:
                    self._shred.clear()  # rolled back: the erased data is back, keys stay
                raise
            finally:
                self._depth -= 1
        if self._depth == 0 and self._shred:
            pending, self._shred = self._shred, []
            self.ring.destroy(pending)

    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity; an email, phone or external id is kept hashed and sealed."""
        if not isinstance(identity, Identity) or identity.kind is IdentityKind.ANONYMOUS:
            self.inner.link_identity(customer_id, identity)
            return
        with self.inner.transaction():
            blind = blind_identity(self.ring, identity)
            self.inner.link_identity(customer_id, blind)  # the checks: conflict, suppression
            person = self.customers.get(customer_id)  # the new hash has no sealed value yet
            if identity not in person.identities:
                kept = (*person.identities, identity)
                self.customers.upsert(attrs.evolve(person, identities=kept))

    def resolve(self, customer_id: str) -> str:
        """The wrapped store's resolution."""
        return self.inner.resolve(customer_id)

    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """The wrapped store's merge (sealed values keep their own person's key)."""
        return self.inner.merge(survivor_id, merged_id, at=at)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The wrapped store's merges."""
        return self.inner.merges(customer_id)

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything about the person, in clear; audited as ``export``."""
        with self.inner.transaction():
            document = build_export(cast(Store, self), customer_id)
            write_audit(self.inner, "export", document["customer_id"])
        return document

    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Erase in the wrapped store, then destroy the person's data keys.

        The keys of the erased id, of every id merged into it and of their anonymous ids
        go, so every copy of the data taken before keeps only sealed values of them.
        """
        check_customer_id(customer_id, entity="erase")
        person = self.inner.customers.get(customer_id)
        ids = [person.id, *(r.merged_id for r in self.inner.merges(person.id))]
        anonymous = [
            ANONYMOUS_SUBJECT + i.value
            for i in person.identities
            if i.kind is IdentityKind.ANONYMOUS
        ]
        with self.transaction():
            receipt = self.inner.erase(customer_id, keep_order_facts=keep_order_facts)
            self._shred.extend([*ids, *anonymous])
        return receipt

    def is_suppressed(self, identity: Identity) -> bool:
        """Whether the (hashed) identity is suppressed in the wrapped store."""
        return self.inner.is_suppressed(blind_identity(self.ring, identity))

    def customer_table(self) -> CustomerTable:
        """The wrapped store's table (its ``email_domain`` and ``city`` are sealed: null)."""
        return self.inner.customer_table()

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """The wrapped store's order facts (no sealed field)."""
        return self.inner.order_facts(currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """The wrapped store's event facts."""
        return self.inner.event_facts(names=names)

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """The wrapped store's line facts."""
        return self.inner.line_facts(currency=currency, rates=rates)

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The support agent's view, in clear."""
        return build_customer_360(
            cast(Store, self), customer_id, recent_events=recent_events, messages=messages
        )

    def close(self) -> None:
        """Close the wrapped store and the key ring."""
        self.inner.close()
        self.ring.close()


# --- the capabilities passed on ----------------------------------------------------------


class _ForwardBulkFacts:
    inner: Store

    def consent_facts(self) -> ConsentFacts:
        return cast(SupportsBulkFacts, self.inner).consent_facts()

    def loyalty_facts(self) -> LoyaltyFacts:
        return cast(SupportsBulkFacts, self.inner).loyalty_facts()


class _ForwardSuppressionSummary:
    inner: Store

    def has_suppressions(self) -> bool:
        return cast(SupportsSuppressionSummary, self.inner).has_suppressions()


class _ForwardSuppressionRemoval:
    inner: Store
    ring: KeyRing

    def remove_suppression(self, identity: Identity) -> bool:
        removal = cast(SupportsSuppressionRemoval, self.inner)
        if isinstance(identity, Identity):
            identity = blind_identity(self.ring, identity)
        return removal.remove_suppression(identity)


class _ForwardAuditLog:
    inner: Store

    @property
    def audit(self) -> AuditLog:
        return cast(SupportsAuditLog, self.inner).audit


class _ForwardRetention:
    inner: Store

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        return cast(SupportsRetention, self.inner).apply_retention(policy, now)


_MIXINS: tuple[tuple[type, type], ...] = (
    (SupportsBulkFacts, _ForwardBulkFacts),
    (SupportsSuppressionSummary, _ForwardSuppressionSummary),
    (SupportsSuppressionRemoval, _ForwardSuppressionRemoval),
    (SupportsAuditLog, _ForwardAuditLog),
    (SupportsRetention, _ForwardRetention),
)

E = TypeVar("E", bound=EncryptedStore)


@functools.cache
def _with(mixins: tuple[type, ...]) -> type[EncryptedStore]:
    if not mixins:
        return EncryptedStore
    return type("EncryptedStore", (*mixins, EncryptedStore), {"__module__": __name__})


def encrypted_store(
    inner: Store, ring: KeyRing, *, personal_properties: Collection[str] = ()
) -> EncryptedStore:
    """``inner`` with its personal fields sealed by ``ring`` (see :class:`EncryptedStore`).

    ``personal_properties``: the event property names whose string values are personal
    (``"email"``, ``"note"``...), sealed like the profile's fields.

    Example:
        >>> import tempfile, pathlib
        >>> import ecomcrm
        >>> from ecomcrm.privacy.shredding import KeyRing, StaticKeyProvider
        >>> from ecomcrm.storage import SupportsAuditLog, SupportsSharedUrl
        >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "keys.db", StaticKeyProvider({"k": bytes(32)}))
        >>> store = encrypted_store(ecomcrm.open_store("memory://"), ring, personal_properties={"note"})
        >>> isinstance(store, SupportsAuditLog), isinstance(store, SupportsSharedUrl)
        (True, False)
    """
    mixins = tuple(mixin for capability, mixin in _MIXINS if isinstance(inner, capability))
    return _with(mixins)(inner, ring, personal_properties=personal_properties)
