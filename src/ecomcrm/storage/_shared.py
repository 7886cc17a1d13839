"""Adapter-independent storage logic that every adapter reuses.

Adapters store and fetch; the rules that decide *what* is stored live here, once, so the
in-memory and SQLite stores (and third-party adapters) behave identically:

- identity suppression: :func:`tombstone_key` (a keyed one-way hash of ``kind:value``);
- merge: :func:`merge_profiles` (which profile fields the survivor takes) and
  :func:`follow_merges` (cycle-safe resolution of merge chains);
- erasure: :func:`anonymous_customer`, :func:`anonymise_order`, :func:`anonymise_refund`
  and :func:`state_owners_of` (which records go and which stay as anonymous facts);
- privacy and support views built from repository reads only: :func:`build_export` and
  :func:`build_customer_360`;
- consents: :func:`latest_consents`, :func:`consent_key`;
- the state area: :func:`check_state_key`, :func:`freeze_state_value`,
  :func:`check_expected_version`;
- columnar reads from plain per-column lists: :func:`order_row`, :func:`refund_row`,
  :func:`order_facts_from_columns`, :func:`event_facts_from_columns`,
  :func:`line_facts_from_columns` (and :func:`line_facts_from_objects` for adapters that
  keep domain objects), :func:`customer_table_from_columns`, with currency conversion and the mixed-currency
  :class:`~ecomcrm.errors.ValidationError`.

Nothing here touches a database; functions take domain objects, plain Python columns or a
:class:`~ecomcrm.storage.Store` and use only its public methods.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple, NoReturn

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    Purpose,
    Refund,
    to_dict,
)
from ecomcrm.errors import ConflictError, StorageError, ValidationError
from ecomcrm.storage._records import (
    Customer360,
    CustomerTable,
    EventFacts,
    LineFacts,
    MergeRecord,
    OrderFacts,
)

if TYPE_CHECKING:
    from ecomcrm.storage._protocols import Store

__all__ = [
    "ERASED_ID_PREFIX",
    "EXPORT_SCHEMA_VERSION",
    "NO_CURRENCY",
    "SUPPRESSED_KINDS",
    "TOMBSTONE_SALT",
    "FrozenDict",
    "FrozenList",
    "OrderRow",
    "RefundRow",
    "anonymise_order",
    "anonymise_refund",
    "anonymous_customer",
    "build_customer_360",
    "build_export",
    "check_expected_version",
    "check_id_not_erased",
    "check_not_suppressed",
    "check_state_key",
    "check_state_owner",
    "consent_key",
    "customer_id_identity",
    "customer_table_from_columns",
    "erasure_tombstones",
    "event_facts_from_columns",
    "event_names",
    "event_product",
    "follow_merges",
    "freeze_state_value",
    "from_micros",
    "latest_consents",
    "line_facts_from_columns",
    "line_facts_from_objects",
    "merge_profiles",
    "merge_record_to_dict",
    "new_anonymous_id",
    "order_facts_from_columns",
    "order_row",
    "refund_row",
    "state_owners_of",
    "to_micros",
    "tombstone_key",
]

# --------------------------------------------------------------------------------------
# identity suppression


TOMBSTONE_SALT = b"ecomcrm/erasure-tombstone/v1"
"""Fixed application key of the tombstone hash. Changing it forgets every suppression."""

SUPPRESSED_KINDS = frozenset({IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.EXTERNAL})
"""Identity kinds that erase() turns into tombstones (anonymous cookie ids are not kept)."""


def tombstone_key(identity: Identity) -> str:
    """The suppression key kept for an erased identity: keyed BLAKE2b of ``kind:value``.

    This is a *suppression key*, not encryption: it cannot be turned back into the email
    or phone, but anyone holding the same normalised value computes the same key, which
    is exactly what lets a later import of that person be recognised and refused. The
    identity is normalised by :class:`~ecomcrm.domain.Identity` first, so
    ``"Ada@Example.com "`` and ``"ada@example.com"`` give one key.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> key = tombstone_key(Identity.email("Ada@Example.com"))
        >>> key == tombstone_key(Identity.email("ada@example.com")), len(key)
        (True, 64)
        >>> "ada" in key
        False
    """
    digest = hashlib.blake2b(identity.key.encode("utf-8"), key=TOMBSTONE_SALT, digest_size=32)
    return digest.hexdigest()


ERASED_ID_PREFIX = "erased-customer-id:"
"""Prefix of the external identity an erased customer id is suppressed under."""


def customer_id_identity(customer_id: str) -> Identity:
    """The identity whose tombstone keeps an erased customer id from coming back.

    ``erase`` keeps :func:`tombstone_key` of it for the erased id and every id merged
    into it; creating a customer with that id again (an import naming only the id, a
    Segment ``userId`` equal to it) is then refused like a suppressed email, and
    ``store.is_suppressed(customer_id_identity(id))`` is True.

    Example:
        >>> customer_id_identity("c1").key
        'external:erased-customer-id:c1'
    """
    return Identity(kind=IdentityKind.EXTERNAL, value=ERASED_ID_PREFIX + customer_id)


def erasure_tombstones(identities: Iterable[Identity], customer_ids: Iterable[str]) -> list[str]:
    """The sorted tombstone keys ``erase`` keeps: suppressed identities and the ids themselves.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> len(erasure_tombstones([Identity.email("a@b.co"), Identity(kind="anonymous", value="x")], ["c1"]))
        2
    """
    keys = {tombstone_key(i) for i in identities if i.kind in SUPPRESSED_KINDS}
    keys.update(tombstone_key(customer_id_identity(cid)) for cid in customer_ids)
    return sorted(keys)


def check_not_suppressed(
    identities: Iterable[Identity], is_suppressed_key: Callable[[str], bool], *, entity: str
) -> None:
    """Raise ValidationError for the first identity whose tombstone key is suppressed.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> check_not_suppressed([Identity.email("a@b.co")], lambda key: False, entity="Customer")
    """
    for identity in identities:
        if identity.kind in SUPPRESSED_KINDS and is_suppressed_key(tombstone_key(identity)):
            raise ValidationError(
                "belongs to an erased person and is suppressed",
                entity=entity,
                field="identities",
                value=identity.kind.value,
            )


def check_id_not_erased(customer_id: str, is_suppressed_key: Callable[[str], bool]) -> None:
    """Raise ValidationError when ``customer_id`` is the id of an erased person.

    Example:
        >>> check_id_not_erased("c1", lambda key: False)
    """
    if is_suppressed_key(tombstone_key(customer_id_identity(customer_id))):
        raise ValidationError(
            "is the id of an erased person and is suppressed",
            entity="Customer",
            field="id",
            value=customer_id,
        )


# --------------------------------------------------------------------------------------
# merges


def follow_merges(customer_id: str, merged_into: Callable[[str], str | None]) -> str:
    """Follow ``merged_into`` links from ``customer_id`` to the survivor, cycle-safe.

    ``merged_into(x)`` returns the id ``x`` was merged into, or None. A cycle (which a
    correct store never writes) raises StorageError instead of looping.

    Example:
        >>> follow_merges("a", {"a": "b", "b": "c"}.get)
        'c'
    """
    seen = {customer_id}
    current = customer_id
    while (target := merged_into(current)) is not None:
        if target in seen:
            raise StorageError("merge chain has a cycle", entity="merges", value=customer_id)
        seen.add(target)
        current = target
    return current


def merge_profiles(survivor: Customer, merged: Customer) -> Customer:
    """The survivor's profile after folding ``merged`` into it.

    Rules: the survivor keeps its id and every non-empty field; empty text fields and
    None fields (names, birthday, timezone, locale, country, acquisition channel) are
    filled from ``merged``; identities and addresses are united (survivor's first, no
    duplicates); tags are united; attributes are united with the survivor winning on a
    shared key; ``created_at`` is the earlier of the two.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> a = Customer(id="a", created_at=t, first_name="Ada", tags={"vip"})
        >>> b = Customer(id="b", created_at=t, last_name="Lovelace",
        ...              identities=[Identity.email("ada@example.com")], tags={"new"})
        >>> m = merge_profiles(a, b)
        >>> m.id, m.full_name, m.email, sorted(m.tags)
        ('a', 'Ada Lovelace', 'ada@example.com', ['new', 'vip'])
    """
    keys = {i.key for i in survivor.identities}
    identities = (*survivor.identities, *(i for i in merged.identities if i.key not in keys))
    addresses = (*survivor.addresses, *(a for a in merged.addresses if a not in survivor.addresses))
    filled: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if not getattr(survivor, name):
            filled[name] = getattr(merged, name)
    for name in ("birthday", "timezone", "locale", "country", "acquisition_channel"):
        if getattr(survivor, name) is None:
            filled[name] = getattr(merged, name)
    return attrs.evolve(
        survivor,
        created_at=min(survivor.created_at, merged.created_at),
        identities=identities,
        addresses=addresses,
        tags=survivor.tags | merged.tags,
        attributes={**merged.attributes, **survivor.attributes},
        **filled,
    )


def merge_record_to_dict(record: MergeRecord) -> dict[str, str]:
    """A JSON-compatible dict of a merge record (used by exports and adapters).

    Example:
        >>> from datetime import datetime, timezone
        >>> r = MergeRecord(survivor_id="a", merged_id="b", at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> merge_record_to_dict(r)["at"]
        '2024-01-01T00:00:00+00:00'
    """
    return {
        "survivor_id": record.survivor_id,
        "merged_id": record.merged_id,
        "at": record.at.isoformat(),
    }


# --------------------------------------------------------------------------------------
# erasure


def new_anonymous_id() -> str:
    """A fresh random id for the anonymous facts an erasure keeps (``anon_`` + 24 hex).

    Example:
        >>> new_anonymous_id().startswith("anon_")
        True
    """
    return "anon_" + secrets.token_hex(12)


def anonymous_customer(erased: Customer, new_id: str) -> Customer:
    """The profile that carries an erased person's kept order facts: only ``created_at``.

    No identities, names, addresses, birthday, locale, timezone, country, tags or
    attributes survive; ``acquisition_channel`` is kept because it describes a marketing
    channel, not a person.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc), first_name="Ada")
        >>> anonymous_customer(c, "anon_1").first_name
        ''
    """
    return Customer(
        id=new_id,
        created_at=erased.created_at,
        acquisition_channel=erased.acquisition_channel,
    )


def anonymise_order(order: Order, new_customer_id: str) -> Order:
    """An order kept as an anonymous fact: re-pointed, without address or discount codes.

    Amounts, dates, status, lines (SKUs, prices, quantities) stay; the shipping address and
    discount codes (which can be personal, e.g. a referral code) go.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=1, unit_price="5")],
        ...           discount_codes=["ADA-FRIENDS"])
        >>> anonymise_order(o, "anon_1").discount_codes
        ()
    """
    return attrs.evolve(
        order, customer_id=new_customer_id, shipping_address=None, discount_codes=()
    )


def anonymise_refund(refund: Refund, new_customer_id: str) -> Refund:
    """A refund kept as an anonymous fact: re-pointed, free-text reasons removed.

    Example:
        >>> from datetime import datetime, timezone
        >>> r = Refund(id="r", order_id="1", customer_id="c1", amount="5", currency="EUR",
        ...            at=datetime(2024, 1, 2, tzinfo=timezone.utc), reason="Ada says it broke")
        >>> anonymise_refund(r, "anon_1").reason is None
        True
    """
    return attrs.evolve(
        refund,
        customer_id=new_customer_id,
        reason=None,
        lines=tuple(attrs.evolve(line, reason=None) for line in refund.lines),
    )


def state_owners_of(customer_ids: Iterable[str], identities: Iterable[Identity] = ()) -> list[str]:
    """The state-record owners an erasure deletes: the ids and ``"anonymous:<id>"`` keys.

    The rules engine owns a person's records by their customer id, and an unidentified
    visitor's by their anonymous identity's :attr:`~ecomcrm.domain.Identity.key`
    (``"anonymous:<id>"``). Erasing a person deletes the records owned by any of their
    ids (the survivor and the ids merged into it) or by any of their anonymous
    identities, compared whole: an id ``"cart"`` or ``"enr"`` or ``"bob"`` never matches
    a part of another record's key.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> state_owners_of(["c1", "c0"], [Identity(kind="anonymous", value="ck"), Identity.email("a@b.co")])
        ['anonymous:ck', 'c0', 'c1']
    """
    owners = set(customer_ids)
    owners.update(i.key for i in identities if i.kind is IdentityKind.ANONYMOUS)
    return sorted(owners)


def check_state_owner(owner: Any) -> str | None:
    """Validate a state record's owner (None, or a non-empty string) and return it.

    Example:
        >>> check_state_owner("c1"), check_state_owner(None)
        ('c1', None)
    """
    if owner is None or (type(owner) is str and owner):
        return owner
    raise ValidationError(
        "must be None or a non-empty string", entity="state", field="owner", value=owner
    )


# --------------------------------------------------------------------------------------
# consents


def consent_key(channel: Channel | str, purpose: Purpose | str) -> str:
    """``"channel:purpose"``, the key of the customer table's consent columns.

    Example:
        >>> consent_key("email", "marketing")
        'email:marketing'
    """
    return f"{Channel(channel).value}:{Purpose(purpose).value}"


def latest_consents(history: Iterable[Consent]) -> dict[tuple[Channel, Purpose], Consent]:
    """The latest decision per (channel, purpose) of a history in ledger order.

    ``history`` must be ordered by ``at`` then insertion (as ``ConsentRepository.history``
    returns it); on equal ``at`` the last recorded decision wins.

    Example:
        >>> from datetime import datetime, timezone
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> h = [Consent(customer_id="c", channel="email", purpose="marketing", granted=g, at=t)
        ...      for g in (True, False)]
        >>> latest_consents(h)[(Channel.EMAIL, Purpose.MARKETING)].granted
        False
    """
    current: dict[tuple[Channel, Purpose], Consent] = {}
    for consent in sorted(history, key=lambda c: c.at):
        current[(consent.channel, consent.purpose)] = consent
    return current


# --------------------------------------------------------------------------------------
# state area


StateChange = (
    tuple[str, Mapping[str, Any] | None, int | None, str | None]
    | tuple[str, Mapping[str, Any] | None, int | None]
)
"""One change of a batched state write (``apply``): ``(key, value or None to delete,
expected version or None for a new key[, owner])``; without an owner, the record has none."""


def check_state_key(key: Any) -> str:
    """Validate a state key (a non-empty string) and return it.

    Example:
        >>> check_state_key("enrollment:welcome:c1")
        'enrollment:welcome:c1'
    """
    if not isinstance(key, str) or not key:
        raise ValidationError("must be a non-empty string", entity="state", field="key", value=key)
    return key


class FrozenDict(dict[str, Any]):
    """A read-only ``dict`` holding a stored state value (see :func:`freeze_state_value`).

    It compares, hashes, prints and serialises (``json.dumps``) like a plain dict;
    ``dict(value)`` or ``value.copy()`` gives a mutable shallow copy. Mutating it raises
    TypeError, so a store can hand the same object to every reader without copying.

    Example:
        >>> value = freeze_state_value({"step": 2})
        >>> value == {"step": 2}, dict(value) | {"step": 3}
        (True, {'step': 3})
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("state values are read-only; copy with dict(value) to change one")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A read-only ``list`` inside a stored state value (see :class:`FrozenDict`).

    Example:
        >>> freeze_state_value({"seen": ("a", "b")})["seen"] == ["a", "b"]
        True
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("state values are read-only; copy with list(value) to change one")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = _read_only
    clear = reverse = sort = _read_only
    __iadd__ = __imul__ = _read_only

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


_INF = float("inf")
# values a frozen copy shares as they are: immutable scalars and already frozen parts
_SHARED = frozenset({str, int, bool, type(None), FrozenDict, FrozenList})
_EMPTY_DICT = FrozenDict()  # one shared instance of each empty container
_EMPTY_LIST = FrozenList()


def _json_key(key: Any) -> str:
    """A mapping key as ``json.dumps`` writes it (str, float, bool, None, int), else TypeError."""
    if isinstance(key, str):
        return key if type(key) is str else str.__str__(key)
    if isinstance(key, float):
        if key != key or key in (_INF, -_INF):
            raise ValueError("Out of range float values are not JSON compliant")
        return float.__repr__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _freeze(value: Any) -> Any:
    """``value`` as a JSON round trip would give it back, made of read-only containers."""
    kind = type(value)
    if kind in _SHARED:
        return value  # scalars, and frozen parts (already checked, immutable): shared
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise ValueError("Out of range float values are not JSON compliant")
        return value
    if isinstance(value, dict):
        return _freeze_items(value)
    if isinstance(value, list | tuple):
        if not value:
            return _EMPTY_LIST
        return FrozenList([item if type(item) in _SHARED else _freeze(item) for item in value])
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # int subclasses (enums) dump as their integer value
        return int(int.__repr__(value))
    if isinstance(value, float):
        return _freeze(float.__float__(value))
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _freeze_items(value: Mapping[Any, Any]) -> FrozenDict:
    if not value:
        return _EMPTY_DICT
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            key = _json_key(key)
        out[key] = item if type(item) in _SHARED else _freeze(item)
    return FrozenDict(out)


def freeze_state_value(value: Any) -> FrozenDict:
    """A deep, JSON-normalised, read-only copy of a state value.

    The result equals what a JSON round trip would give back (tuples become lists,
    non-string keys become their JSON text, int and float subclasses plain numbers) but
    is made of :class:`FrozenDict` and :class:`FrozenList`, so a store can keep it and
    hand it to every reader without copying again. Parts that are already frozen (taken
    from a record read earlier) are shared, not copied, so updating one field of a large
    record costs little. Raises ValidationError when ``value`` is not a JSON-compatible
    mapping (NaN and infinities, other types, circular references).

    Example:
        >>> freeze_state_value({"step": 2, "seen": ("a", "b")})
        {'step': 2, 'seen': ['a', 'b']}
    """
    if type(value) is FrozenDict:
        return value
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping", entity="state", field="value", value=value)
    try:
        return _freeze_items(value)
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"must be JSON-compatible ({exc})", entity="state", field="value", value=value
        ) from None
    except RecursionError:
        raise ValidationError(
            "must be JSON-compatible (circular reference or nested too deeply)",
            entity="state",
            field="value",
            value=value,
        ) from None


def check_expected_version(key: str, stored: int | None, expected: int | None) -> int:
    """The version a compare-and-set write gets, or ConflictError when ``expected`` is stale.

    ``stored`` is the version in the store (None when the key is absent).

    Example:
        >>> check_expected_version("k", None, None), check_expected_version("k", 3, 3)
        (1, 4)
    """
    if expected is not None and (
        not isinstance(expected, int) or isinstance(expected, bool) or expected < 1
    ):
        raise ValidationError(
            "must be None or a positive integer",
            entity="state",
            field="expected_version",
            value=expected,
        )
    if stored != expected:
        wanted = "absent" if expected is None else f"version {expected}"
        found = "absent" if stored is None else f"version {stored}"
        raise ConflictError(
            f"expected {wanted} but the record is {found}",
            entity="state",
            field="version",
            value=key,
        )
    return 1 if stored is None else stored + 1


# --------------------------------------------------------------------------------------
# export and the 360 view


EXPORT_SCHEMA_VERSION = 1
"""Version of the export document layout written by :func:`build_export`."""


def build_export(store: Store, customer_id: str) -> dict[str, Any]:
    """Everything ``store`` holds about one person, as one JSON-serialisable document.

    Built from the store's own repository reads, so it is complete for any adapter that
    honours the contract. Keys: ``type`` (``"CustomerExport"``), ``schema_version``,
    ``customer_id`` (the resolved id), ``requested_id``, ``customer``, ``orders``,
    ``refunds``, ``events``, ``consents``, ``current_consents``, ``tickets``,
    ``loyalty`` (``balance`` and ``entries``), ``messages``, ``merges``; domain objects are
    :func:`~ecomcrm.domain.to_dict` dicts. NotFoundError when there is no such customer.

    Example:
        >>> import json, ecomcrm
        >>> from datetime import datetime, timezone
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> doc = build_export(store, "c1")
        >>> doc["customer"]["id"], len(json.dumps(doc)) > 0
        ('c1', True)
    """
    customer = store.customers.get(customer_id)
    cid = customer.id
    current = store.consents.current(cid)
    return {
        "type": "CustomerExport",
        "schema_version": EXPORT_SCHEMA_VERSION,
        "customer_id": cid,
        "requested_id": customer_id,
        "customer": to_dict(customer),
        "orders": [to_dict(o) for o in store.orders.for_customer(cid)],
        "refunds": [to_dict(r) for r in store.orders.refunds_for_customer(cid)],
        "events": [to_dict(e) for e in store.events.for_customer(cid)],
        "consents": [to_dict(c) for c in store.consents.history(cid)],
        "current_consents": {
            consent_key(channel, purpose): consent.granted
            for (channel, purpose), consent in sorted(current.items())
        },
        "tickets": [to_dict(t) for t in store.tickets.for_customer(cid)],
        "loyalty": {
            "balance": store.loyalty.balance(cid),
            "entries": [to_dict(e) for e in store.loyalty.entries(cid)],
        },
        "messages": [to_dict(m) for m in store.messages.for_customer(cid)],
        "merges": [merge_record_to_dict(m) for m in store.merges(cid)],
    }


LOYALTY_TIER_ATTRIBUTE = "loyalty_tier"


def build_customer_360(
    store: Store, customer_id: str, *, recent_events: int = 50, messages: int = 50
) -> Customer360:
    """The support agent's view of one customer, from the store's repository reads.

    ``recent_events`` and ``messages`` bound how many of the latest events and messages
    are included (ascending by time). ``loyalty_tier`` is the customer's
    ``"loyalty_tier"`` attribute (the loyalty package writes it), ``total_spent`` maps
    each currency to the sum of non-cancelled order totals less refunds, as a decimal
    string. NotFoundError when there is no such customer.

    Example:
        >>> import ecomcrm
        >>> from datetime import datetime, timezone
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> view = build_customer_360(store, "c1")
        >>> view.customer.id, view.orders, view.loyalty_balance
        ('c1', (), 0)
    """
    for name, bound in (("recent_events", recent_events), ("messages", messages)):
        if not isinstance(bound, int) or isinstance(bound, bool) or bound < 0:
            raise ValidationError(
                "must be a non-negative integer", entity="customer_360", field=name, value=bound
            )
    customer = store.customers.get(customer_id)
    cid = customer.id
    orders = store.orders.for_customer(cid)
    refunds = store.orders.refunds_for_customer(cid)
    totals: dict[str, Decimal] = {}
    for order in orders:
        if not order.is_cancelled:
            totals[order.currency] = totals.get(order.currency, Decimal(0)) + order.total
    for refund in refunds:
        totals[refund.currency] = totals.get(refund.currency, Decimal(0)) - refund.amount
    events = store.events.for_customer(cid, limit=recent_events) if recent_events else []
    all_messages = store.messages.for_customer(cid) if messages else []
    tier = customer.attributes.get(LOYALTY_TIER_ATTRIBUTE)
    current = store.consents.current(cid)
    return Customer360(
        customer=customer,
        orders=tuple(orders),
        refunds=tuple(refunds),
        recent_events=tuple(events),
        tickets=tuple(store.tickets.for_customer(cid)),
        consents=tuple(current[k] for k in sorted(current)),
        loyalty_balance=store.loyalty.balance(cid),
        loyalty_tier=tier if isinstance(tier, str) else None,
        loyalty_entries=tuple(store.loyalty.entries(cid)),
        messages=tuple(all_messages[-messages:] if messages else ()),
        merged_ids=tuple(m.merged_id for m in store.merges(cid)),
        total_spent={cur: str(amount) for cur, amount in sorted(totals.items())},
    )


# --------------------------------------------------------------------------------------
# columnar helpers

NO_CURRENCY = "XXX"
"""ISO 4217 "no currency": the currency of empty order facts read without ``currency``."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_micros(when: datetime) -> int:
    """Microseconds since the Unix epoch of an aware datetime (exact integer arithmetic).

    Example:
        >>> from datetime import datetime, timezone
        >>> to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
        1000000
    """
    delta = when - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> datetime:
    """The aware UTC datetime of :func:`to_micros`'s value.

    Example:
        >>> from_micros(1_000_000).isoformat()
        '1970-01-01T00:00:01+00:00'
    """
    return _EPOCH + timedelta(microseconds=micros)


class OrderRow(NamedTuple):
    """The analytic columns of one order, computed once at write time."""

    order_id: str
    customer_id: str
    placed_at_us: int
    amount: float
    currency: str
    discount: float
    units: int
    cancelled: bool


class RefundRow(NamedTuple):
    """The analytic columns of one refund: what it takes off its order."""

    order_id: str
    amount: float
    returned_units: int


def order_row(order: Order) -> OrderRow:
    """The analytic columns of an order.

    ``amount`` is the order total, ``discount`` the order discount plus line discounts,
    ``units`` the summed line quantities.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=3, unit_price="2.50")])
        >>> order_row(o).amount, order_row(o).units
        (7.5, 3)
    """
    return OrderRow(
        order_id=order.id,
        customer_id=order.customer_id,
        placed_at_us=to_micros(order.placed_at),
        amount=float(order.total),
        currency=order.currency,
        discount=float(order.discount + sum((line.discount for line in order.lines), Decimal(0))),
        units=sum(line.quantity for line in order.lines),
        cancelled=order.is_cancelled,
    )


def refund_row(refund: Refund) -> RefundRow:
    """The analytic columns of a refund; returned units count only for returns.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import ReturnLine
        >>> r = Refund(id="r", order_id="1", customer_id="c", amount="5", currency="EUR", returned=True,
        ...            at=datetime(2024, 1, 2, tzinfo=timezone.utc), lines=[ReturnLine(sku="A", quantity=2)])
        >>> refund_row(r)
        RefundRow(order_id='1', amount=5.0, returned_units=2)
    """
    units = sum(line.quantity for line in refund.lines) if refund.returned else 0
    return RefundRow(order_id=refund.order_id, amount=float(refund.amount), returned_units=units)


def _text_array(values: Sequence[str] | NDArray[Any]) -> NDArray[np.str_]:
    array = np.asarray(values, dtype=str)
    return array if array.ndim == 1 else array.reshape(-1)


def _index_into(
    ids_sorted: NDArray[np.str_], wanted: Sequence[str] | NDArray[Any]
) -> NDArray[np.int64]:
    """Positions of ``wanted`` in the sorted ``ids_sorted``; -1 where absent."""
    keys = _text_array(wanted)
    if ids_sorted.size == 0 or keys.size == 0:
        return np.full(keys.shape[0], -1, dtype=np.int64)
    pos = np.searchsorted(ids_sorted, keys).astype(np.int64)
    clipped = np.minimum(pos, ids_sorted.size - 1)
    found = ids_sorted[clipped] == keys
    return np.where(found, clipped, -1).astype(np.int64)


def _rates_for(
    currencies: Sequence[str],
    currency: str | None,
    rates: Mapping[str, float] | None,
    *,
    entity: str = "order_facts",
) -> tuple[str, dict[str, float]]:
    present = sorted(set(currencies))
    if currency is None:
        if len(present) > 1:
            raise ValidationError(
                "the store holds several currencies; pass currency= and rates=",
                entity=entity,
                field="currency",
                value=present,
            )
        return (present[0] if present else NO_CURRENCY), {c: 1.0 for c in present}
    target = currency.strip().upper()
    table = {target: 1.0}
    for code, rate in (rates or {}).items():
        table.setdefault(code.strip().upper(), float(rate))
    missing = [c for c in present if c not in table]
    if missing:
        raise ValidationError(
            f"no exchange rate to {target} for {', '.join(missing)}",
            entity=entity,
            field="rates",
            value=missing,
        )
    bad = [c for c in present if not np.isfinite(table[c]) or table[c] <= 0]
    if bad:
        raise ValidationError(
            "exchange rates must be finite and positive",
            entity=entity,
            field="rates",
            value={c: table[c] for c in bad},
        )
    return target, table


def order_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    order_id: Sequence[str] | NDArray[Any],
    order_customer: Sequence[str] | NDArray[Any],
    placed_at_us: Sequence[int] | NDArray[np.int64],
    amount: Sequence[float] | NDArray[np.float64],
    order_currency: Sequence[str] | NDArray[Any],
    discount: Sequence[float] | NDArray[np.float64],
    refunded: Sequence[float] | NDArray[np.float64],
    units: Sequence[int] | NDArray[np.int64],
    returned_units: Sequence[int] | NDArray[np.int64],
    cancelled: Sequence[bool] | NDArray[np.bool_],
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> OrderFacts:
    """Build :class:`OrderFacts` from plain per-order columns, sorted and converted.

    ``customer_ids`` is the customer table's id column (sorted by code point);
    ``order_customer`` the (resolved) customer id of each order; orders whose customer is
    not in ``customer_ids`` are dropped. Rows come out ordered by ``placed_at`` then order
    id. Amounts, discounts and refunds are converted to ``currency`` with ``rates`` (units
    of ``currency`` per unit of the order's currency); without ``currency`` every order
    must share one currency, else ValidationError naming them. Vectorised: no Python
    object is built per row.

    Example:
        >>> f = order_facts_from_columns(
        ...     customer_ids=["a", "b"], order_id=["o2", "o1"], order_customer=["b", "a"],
        ...     placed_at_us=[2, 1], amount=[10.0, 5.0], order_currency=["USD", "EUR"],
        ...     discount=[0.0, 0.0], refunded=[0.0, 1.0], units=[1, 1], returned_units=[0, 0],
        ...     cancelled=[False, False], currency="EUR", rates={"USD": 0.5})
        >>> f.order_id.tolist(), f.customer_index.tolist(), f.amount.tolist(), f.refunded.tolist()
        (['o1', 'o2'], [0, 1], [5.0, 5.0], [1.0, 0.0])
    """
    ids_sorted = _text_array(customer_ids)
    cur = _text_array(order_currency)
    target, table = _rates_for(np.unique(cur).tolist(), currency, rates)
    n = cur.shape[0]
    if n == 0:
        return attrs.evolve(OrderFacts.empty(target), customer_ids=ids_sorted.astype(object))
    factor = np.ones(n, dtype=np.float64)
    for code, rate in table.items():
        if rate != 1.0:
            factor[cur == code] = rate
    index = _index_into(ids_sorted, order_customer)
    oid = _text_array(order_id)
    at = np.asarray(placed_at_us, dtype=np.int64)
    keep = index >= 0
    order = np.lexsort((oid, at))
    order = order[keep[order]]
    return OrderFacts(
        currency=target,
        customer_ids=ids_sorted.astype(object),
        customer_index=index[order],
        order_id=oid[order].astype(object),
        placed_at=at[order].astype("datetime64[us]"),
        amount=(np.asarray(amount, dtype=np.float64) * factor)[order],
        discount=(np.asarray(discount, dtype=np.float64) * factor)[order],
        refunded=(np.asarray(refunded, dtype=np.float64) * factor)[order],
        units=np.asarray(units, dtype=np.int64)[order],
        returned_units=np.asarray(returned_units, dtype=np.int64)[order],
        cancelled=np.asarray(cancelled, dtype=bool)[order],
    )


def _recode(
    codes: NDArray[np.int64], vocabulary: Sequence[str] | NDArray[Any]
) -> tuple[NDArray[np.int32], tuple[str, ...]]:
    """Codes into the sorted vocabulary of the names actually used (-1 stays -1)."""
    size = len(vocabulary)
    valid = codes >= 0
    used = np.unique(codes[valid])
    names = np.asarray(list(vocabulary), dtype=str).reshape(-1)[used]
    sorted_names, inverse = np.unique(names, return_inverse=True)  # also merges duplicates
    lut = np.full(size + 1, -1, dtype=np.int32)
    lut[used] = inverse.reshape(-1)
    out: NDArray[np.int32] = lut[np.where(valid, codes, size)]
    return out, tuple(str(n) for n in sorted_names)


def _returned_per_line(
    line_key: NDArray[np.int64],
    quantity: NDArray[np.int64],
    return_key: NDArray[np.int64],
    return_quantity: NDArray[np.int64],
) -> NDArray[np.int64]:
    """Returned units per line: each (order, SKU) total allocated in line order, capped."""
    n = line_key.shape[0]
    if n == 0 or return_key.shape[0] == 0:
        return np.zeros(n, dtype=np.int64)
    keys, inverse = np.unique(return_key, return_inverse=True)
    totals = np.bincount(inverse.reshape(-1), weights=return_quantity, minlength=keys.shape[0])
    pos = np.minimum(np.searchsorted(keys, line_key), keys.shape[0] - 1)
    total = np.where(keys[pos] == line_key, totals[pos], 0.0).astype(np.int64)
    order = np.argsort(line_key, kind="stable")  # groups, each in line order
    k, q, t = line_key[order], quantity[order], total[order]
    before = np.cumsum(q) - q
    start = np.concatenate(([True], k[1:] != k[:-1]))
    first = np.maximum.accumulate(np.where(start, np.arange(n), 0))
    before -= before[first]
    out = np.empty(n, dtype=np.int64)
    out[order] = np.clip(t - before, 0, q)
    return out


def line_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    order_id: Sequence[str] | NDArray[Any],
    order_customer_index: Sequence[int] | NDArray[np.int64],
    placed_at_us: Sequence[int] | NDArray[np.int64],
    order_currency: Sequence[str] | NDArray[Any],
    cancelled: Sequence[bool] | NDArray[np.bool_],
    line_order: Sequence[int] | NDArray[np.int64],
    sku_code: Sequence[int] | NDArray[np.integer[Any]],
    skus: Sequence[str] | NDArray[Any],
    category_code: Sequence[int] | NDArray[np.integer[Any]],
    categories: Sequence[str] | NDArray[Any],
    quantity: Sequence[int] | NDArray[np.int64],
    unit_price: Sequence[float] | NDArray[np.float64],
    line_discount: Sequence[float] | NDArray[np.float64],
    return_order: Sequence[int] | NDArray[np.int64] = (),
    return_sku: Sequence[int] | NDArray[np.integer[Any]] = (),
    return_quantity: Sequence[int] | NDArray[np.int64] = (),
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> LineFacts:
    """Build :class:`LineFacts` from per-order and per-line columns, vectorised.

    Per order (position ``j``): ``order_id``, ``order_customer_index`` (the row of the
    order's resolved customer in the sorted ``customer_ids``, -1 when not a live customer:
    the order and its lines are dropped), ``placed_at_us``, ``order_currency`` and
    ``cancelled``. Per line: ``line_order`` (the position ``j`` of its order; lines of one
    order must be given in line order), ``sku_code`` into ``skus``, ``category_code``
    into ``categories`` (joined paths, -1 for none), ``quantity``, ``unit_price`` and
    ``line_discount`` (floats in the order's currency). Returns (only refunds with
    ``returned=True``) come as ``return_order`` (position of the order),
    ``return_sku`` (code into ``skus``, -1 for a SKU on no line) and ``return_quantity``;
    they are summed per (order, SKU) and allocated as ``Store.line_facts`` documents.
    The vocabularies need not be sorted or minimal: the result keeps the used names,
    sorted. Currency rules and errors are those of :func:`order_facts_from_columns`.

    Example:
        >>> f = line_facts_from_columns(
        ...     customer_ids=["a"], order_id=["o1"], order_customer_index=[0], placed_at_us=[0],
        ...     order_currency=["USD"], cancelled=[False], line_order=[0, 0], sku_code=[1, 0],
        ...     skus=["B", "A"], category_code=[0, -1], categories=["Home"], quantity=[2, 1],
        ...     unit_price=[5.0, 3.0], line_discount=[1.0, 0.0], return_order=[0],
        ...     return_sku=[1], return_quantity=[1], currency="EUR", rates={"USD": 0.5})
        >>> f.sku.tolist(), f.category_code.tolist(), f.amount.tolist(), f.returned_units.tolist()
        (['A', 'B'], [0, -1], [4.5, 1.5], [1, 0])
    """
    ids_sorted = _text_array(customer_ids)
    cur = _text_array(order_currency)
    target, table = _rates_for(np.unique(cur).tolist(), currency, rates, entity="line_facts")
    oid = _text_array(order_id)
    at = np.asarray(placed_at_us, dtype=np.int64).reshape(-1)
    cust = np.asarray(order_customer_index, dtype=np.int64).reshape(-1)
    perm = np.lexsort((oid, at)) if oid.shape[0] else np.empty(0, dtype=np.intp)
    perm = perm[cust[perm] >= 0]
    rank = np.full(oid.shape[0], -1, dtype=np.int64)
    rank[perm] = np.arange(perm.shape[0], dtype=np.int64)
    empty = attrs.evolve(
        LineFacts.empty(target),
        customer_ids=ids_sorted.astype(object),
        order_ids=oid[perm].astype(object),
    )
    lo = np.asarray(line_order, dtype=np.int64).reshape(-1)
    if lo.shape[0] == 0 or perm.shape[0] == 0:
        return empty
    line_rank = rank[lo]
    rows = np.flatnonzero(line_rank >= 0)
    rows = rows[np.argsort(line_rank[rows], kind="stable")]
    if rows.shape[0] == 0:
        return empty
    orders = lo[rows]
    factor = np.ones(oid.shape[0], dtype=np.float64)
    for code, rate in table.items():
        if rate != 1.0:
            factor[cur == code] = rate
    qty = np.asarray(quantity, dtype=np.int64).reshape(-1)[rows]
    price = np.asarray(unit_price, dtype=np.float64).reshape(-1)[rows]
    off = np.asarray(line_discount, dtype=np.float64).reshape(-1)[rows]
    raw_sku = np.asarray(sku_code, dtype=np.int64).reshape(-1)[rows]
    sku_codes, sku_names = _recode(raw_sku, skus)
    cat_codes, cat_names = _recode(
        np.asarray(category_code, dtype=np.int64).reshape(-1)[rows], categories
    )
    width = max(len(skus), 1)
    r_order = np.asarray(return_order, dtype=np.int64).reshape(-1)
    r_sku = np.asarray(return_sku, dtype=np.int64).reshape(-1)
    r_qty = np.asarray(return_quantity, dtype=np.int64).reshape(-1)
    valid = r_sku >= 0
    returned = _returned_per_line(
        orders * width + raw_sku, qty, r_order[valid] * width + r_sku[valid], r_qty[valid]
    )
    return LineFacts(
        currency=target,
        customer_ids=ids_sorted.astype(object),
        customer_index=cust[orders],
        order_ids=empty.order_ids,
        order_index=rank[orders],
        skus=sku_names,
        sku_code=sku_codes,
        categories=cat_names,
        category_code=cat_codes,
        quantity=qty,
        amount=(price * qty - off) * factor[orders],
        placed_at=at[orders].astype("datetime64[us]"),
        cancelled=np.asarray(cancelled, dtype=bool).reshape(-1)[orders],
        returned_units=returned,
    )


def line_facts_from_objects(
    customer_ids: Sequence[str] | NDArray[Any],
    orders: Iterable[Order],
    refunds: Iterable[Refund],
    *,
    currency: str | None = None,
    rates: Mapping[str, float] | None = None,
) -> LineFacts:
    """:func:`line_facts_from_columns` for an adapter that keeps domain objects.

    ``customer_ids`` are the live customers' ids sorted by code point; ``orders`` every
    stored order (its ``customer_id`` already resolved through merges), ``refunds`` every
    stored refund (only returns count). One pass flattens them into columns.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Order, OrderLine
        >>> o = Order(id="1", customer_id="c1", placed_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           currency="EUR", lines=[OrderLine(sku="A", quantity=3, unit_price="2.50",
        ...                                             category="Home > Kitchen")])
        >>> f = line_facts_from_objects(["c1"], [o], [])
        >>> f.categories, f.amount.tolist(), f.order_ids.tolist()
        (('Home > Kitchen',), [7.5], ['1'])
    """
    order_id: list[str] = []
    owner: list[str] = []
    placed: list[int] = []
    cur: list[str] = []
    cancelled: list[bool] = []
    line_order: list[int] = []
    sku: list[str] = []
    category: list[str] = []
    quantity: list[int] = []
    price: list[float] = []
    discount: list[float] = []
    for j, o in enumerate(orders):
        order_id.append(o.id)
        owner.append(o.customer_id)
        placed.append(to_micros(o.placed_at))
        cur.append(o.currency)
        cancelled.append(o.is_cancelled)
        for line in o.lines:
            line_order.append(j)
            sku.append(line.sku)
            category.append(" > ".join(line.category))
            quantity.append(line.quantity)
            price.append(float(line.unit_price))
            discount.append(float(line.discount))
    position = {oid: j for j, oid in enumerate(order_id)}
    r_order: list[int] = []
    r_sku: list[str] = []
    r_qty: list[int] = []
    for refund in refunds:
        k = position.get(refund.order_id)
        if refund.returned and k is not None:
            for item in refund.lines:
                r_order.append(k)
                r_sku.append(item.sku)
                r_qty.append(item.quantity)
    sku_names, sku_codes = np.unique(np.asarray(sku, dtype=str), return_inverse=True)
    sku_codes = sku_codes.reshape(-1)
    known = np.asarray(r_sku, dtype=str)
    r_code = np.searchsorted(sku_names, known).astype(np.int64)
    if sku_names.shape[0]:
        r_code = np.where(
            sku_names[np.minimum(r_code, sku_names.shape[0] - 1)] == known, r_code, -1
        )
    else:
        r_code = np.full(known.shape[0], -1, dtype=np.int64)
    cat_names, cat_codes = np.unique(np.asarray(category, dtype=str), return_inverse=True)
    cat_codes = cat_codes.reshape(-1).astype(np.int64)
    if cat_names.shape[0] and cat_names[0] == "":  # "" (no category) sorts first
        cat_codes -= 1
        cat_names = cat_names[1:]
    return line_facts_from_columns(
        customer_ids=customer_ids,
        order_id=order_id,
        order_customer_index=_index_into(_text_array(customer_ids), owner),
        placed_at_us=placed,
        order_currency=cur,
        cancelled=cancelled,
        line_order=line_order,
        sku_code=sku_codes,
        skus=sku_names,
        category_code=cat_codes,
        categories=cat_names,
        quantity=quantity,
        unit_price=price,
        line_discount=discount,
        return_order=r_order,
        return_sku=r_code,
        return_quantity=r_qty,
        currency=currency,
        rates=rates,
    )


def event_product(event: Event) -> str | None:
    """The product an event is about: its ``sku`` property, else ``product_id``, else None.

    Example:
        >>> from datetime import datetime, timezone
        >>> e = Event(name="Product Viewed", customer_id="c", at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...           properties={"product_id": 42})
        >>> event_product(e)
        '42'
    """
    for name in ("sku", "product_id"):
        value = event.properties.get(name)
        if value is not None and not isinstance(value, dict | list):
            return str(value)
    return None


_EVENT_NAME = attrs.fields(Event).name.converter  # the one normalisation of event names


def event_names(names: Iterable[str] | None) -> frozenset[str] | None:
    """Event names to query by, normalised exactly as :class:`~ecomcrm.domain.Event` stores them.

    An event built with ``name=" Viewed"`` is stored as ``"Viewed"``; a query for
    ``names=[" Viewed"]`` must find it, on every adapter. None stays None (no filter).

    Example:
        >>> sorted(event_names([" Product Viewed", "Order Completed "]))
        ['Order Completed', 'Product Viewed']
    """
    if names is None:
        return None
    if isinstance(names, str):
        raise ValidationError(
            "must be a collection of names, not one string", entity="Event", field="names",
            value=names,
        )  # fmt: skip
    assert callable(_EVENT_NAME)
    return frozenset(_EVENT_NAME(name) for name in names)


def event_facts_from_columns(
    *,
    customer_ids: Sequence[str] | NDArray[Any],
    event_id: Sequence[str] | NDArray[Any],
    event_customer: Sequence[str | None] | NDArray[np.object_],
    name: Sequence[str] | NDArray[Any],
    at_us: Sequence[int] | NDArray[np.int64],
    product: Sequence[str | None] | NDArray[np.object_],
    names: Iterable[str] | None = None,
) -> EventFacts:
    """Build :class:`EventFacts` from per-event columns, ordered by ``at`` then id.

    ``event_customer`` is each event's resolved customer id, or None for an anonymous
    visitor not tied to a customer (index -1). With ``names``, only those event names
    are kept. ``names`` in the result is the sorted vocabulary of kept names.

    Example:
        >>> f = event_facts_from_columns(
        ...     customer_ids=["a"], event_id=["e2", "e1"], event_customer=["a", None],
        ...     name=["Product Viewed", "Order Completed"], at_us=[5, 5], product=["TEE", None])
        >>> f.customer_index.tolist(), [f.names[c] for c in f.name_code]
        ([-1, 0], ['Order Completed', 'Product Viewed'])
    """
    ids_sorted = _text_array(customer_ids)
    names_arr = _text_array(name)
    n = names_arr.shape[0]
    if n == 0:
        return attrs.evolve(EventFacts.empty(), customer_ids=ids_sorted.astype(object))
    customers = np.asarray(event_customer, dtype=object)
    known = customers != None  # noqa: E711 - elementwise comparison on an object array
    index = np.full(n, -1, dtype=np.int64)
    if known.any():
        index[known] = _index_into(ids_sorted, customers[known].astype(str))
    eid = _text_array(event_id)
    at = np.asarray(at_us, dtype=np.int64)
    keep = np.ones(n, dtype=bool)
    wanted = event_names(names)
    if wanted is not None:
        keep = np.isin(names_arr, _text_array(sorted(wanted)))
    order = np.lexsort((eid, at))
    order = order[keep[order]]
    vocabulary, codes = np.unique(names_arr[order], return_inverse=True)
    return EventFacts(
        customer_ids=ids_sorted.astype(object),
        customer_index=index[order],
        name_code=codes.astype(np.int32).reshape(-1),
        names=tuple(str(v) for v in vocabulary),
        at=at[order].astype("datetime64[us]"),
        product=np.asarray(product, dtype=object)[order],
    )


def _or_none(values: NDArray[np.object_]) -> NDArray[np.object_]:
    """The values with "" (and non-strings) as None."""
    out = values.copy()
    out[~np.asarray([isinstance(v, str) and v != "" for v in values.tolist()], dtype=bool)] = None
    return out


def _email_domains(emails: NDArray[np.object_]) -> NDArray[np.object_]:
    """The lower-case domain (after the last "@") of each address; None when there is none."""
    found = _or_none(emails)
    text = np.where(found == None, "", found).astype(str)  # noqa: E711 (element-wise)
    domain = np.char.lower(np.char.rpartition(text, "@")[:, 2]) if len(text) else text
    out = np.asarray(domain, dtype=object)
    out[(text == "") | (np.char.find(text, "@") < 0) | (domain == "")] = None
    return out


def customer_table_from_columns(
    *,
    ids: Sequence[str] | NDArray[Any],
    created_at_us: Sequence[int] | NDArray[np.int64],
    country: Sequence[str | None],
    timezone: Sequence[str | None],
    birthday: Sequence[date | None],
    acquisition_channel: Sequence[str | None],
    tags: Sequence[Iterable[str]],
    consents: Iterable[tuple[str, str, bool]] = (),
    city: Sequence[str | None] | None = None,
    email: Sequence[str | None] | None = None,
) -> CustomerTable:
    """Build :class:`CustomerTable` from per-customer columns (rows re-sorted by id).

    ``consents`` gives the *current* decisions as ``(customer_id, "channel:purpose",
    granted)``; every key seen becomes a boolean column, False where there is no decision.
    ``city`` is the city of each customer's first address and ``email`` their first email
    address (None or "" when absent); the table keeps the email's domain only.

    Example:
        >>> from datetime import date
        >>> t = customer_table_from_columns(
        ...     ids=["b", "a"], created_at_us=[0, 1], country=["FR", None], timezone=[None, None],
        ...     birthday=[None, date(1990, 5, 1)], acquisition_channel=[None, "ads"],
        ...     tags=[["vip"], []], consents=[("b", "email:marketing", True)])
        >>> t.ids.tolist(), t.consents["email:marketing"].tolist(), t.tag_indptr.tolist()
        (['a', 'b'], [False, True], [0, 0, 1])
    """
    id_arr = _text_array(ids)
    n = id_arr.shape[0]
    if n == 0:
        return CustomerTable.empty()
    order = np.argsort(id_arr, kind="stable")
    ids_sorted = id_arr[order]
    tag_lists = [sorted(set(tags[i])) for i in order.tolist()]
    vocabulary = sorted({t for row in tag_lists for t in row})
    code_of = {t: i for i, t in enumerate(vocabulary)}
    lengths = np.fromiter((len(row) for row in tag_lists), dtype=np.int64, count=n)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=indptr[1:])
    codes = np.fromiter(
        (code_of[t] for row in tag_lists for t in row), dtype=np.int32, count=int(indptr[-1])
    )
    birthdays = np.array(
        [np.datetime64(b, "D") if b is not None else np.datetime64("NaT", "D") for b in birthday],
        dtype="datetime64[D]",
    )
    columns: dict[str, NDArray[np.bool_]] = {}
    for customer_id, key, granted in consents:
        column = columns.setdefault(key, np.zeros(n, dtype=bool))
        pos = int(np.searchsorted(ids_sorted, customer_id))
        if pos < n and ids_sorted[pos] == customer_id:
            column[pos] = bool(granted)
    return CustomerTable(
        ids=ids_sorted.astype(object),
        created_at=np.asarray(created_at_us, dtype=np.int64)[order].astype("datetime64[us]"),
        country=np.asarray(country, dtype=object)[order],
        timezone=np.asarray(timezone, dtype=object)[order],
        birthday=birthdays[order],
        acquisition_channel=np.asarray(acquisition_channel, dtype=object)[order],
        tag_indptr=indptr,
        tag_codes=codes,
        tag_vocabulary=tuple(vocabulary),
        consents=dict(sorted(columns.items())),
        city=None if city is None else _or_none(np.asarray(city, dtype=object)[order]),
        email_domain=None
        if email is None
        else _email_domains(np.asarray(email, dtype=object))[order],
    )
