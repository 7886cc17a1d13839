"""Shared machinery of the importers: parsing cells, resolving people, batched idempotent writes.

An importer turns each record of a file into an :class:`Item` (the customers, order,
refunds, consents, events and identity links it implies) and hands it to a
:class:`BatchWriter`, which writes a batch of items in one store transaction and sorts every
record into exactly one bucket of the :class:`ImportReport`. When a batch fails as a whole,
it is retried item by item, so one bad record is rejected with its reason and the others
still go in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import attrs
from dateutil import parser as date_parser

from ecomcrm.domain import (
    Channel,
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    OrderStatus,
    Purpose,
    Refund,
)
from ecomcrm.errors import ConflictError, EcomcrmError, NotFoundError, ValidationError
from ecomcrm.io._progress import Progress
from ecomcrm.io._report import ImportReport
from ecomcrm.storage._protocols import Store

PathLike = str | os.PathLike[str]

DEFAULT_BATCH_SIZE = 2_000


class RowError(Exception):
    """A record cannot be imported: names the column, the reason and the offending value."""

    def __init__(self, column: str | None, reason: str, value: Any = None) -> None:
        super().__init__(reason)
        self.column = column
        self.reason = reason
        self.value = value
        self.line: int | None = None

    @classmethod
    def from_validation(cls, exc: ValidationError, column: str | None = None) -> RowError:
        """Turn a domain ValidationError into a row error naming the domain field."""
        field = f"{exc.entity}.{exc.field}" if exc.entity and exc.field else exc.field
        return cls(column or field, exc.message, exc.value if exc.has_value else None)


def unexpected(exc: Exception) -> RowError:
    """The RowError of a record that raised an exception no rule foresaw (a bug, reported).

    Example:
        >>> unexpected(OverflowError("date value out of range")).reason
        'could not be imported (unexpected OverflowError: date value out of range)'
    """
    text = str(exc)[:200]
    return RowError(None, f"could not be imported (unexpected {type(exc).__name__}: {text})")


# --- cells ---------------------------------------------------------------------------------
#
# Every importer parses numbers, dates and JSON through these functions, which refuse
# absurd input *before* converting it: ``int(Decimal("1e1000000"))`` builds a million-digit
# integer (seconds), ``1e9999999999`` exhausts memory, a date at year 1 with a +05:00
# offset overflows on conversion to UTC, a line nested 100,000 deep overflows the stack.
# Each refusal is a RowError naming the column, so the record is rejected and the import
# goes on.

#: The longest cell read as a number or a date; anything longer is refused unread.
MAX_NUMBER_TEXT = 64
#: Amounts are below 10**15 (a quadrillion) in absolute value, quantities and counts too.
MAX_AMOUNT_DIGITS = 15
#: Amounts other than zero are at least ``10**MIN_AMOUNT_EXPONENT`` in absolute value.
MIN_AMOUNT_EXPONENT = -12
#: JSON values nest at most this deep (the domain's own limit for properties is 32).
MAX_JSON_DEPTH = 64

_ZERO = Decimal(0)


def _bounded(value: Decimal, text: str, column: str, digits: int = MAX_AMOUNT_DIGITS) -> Decimal:
    """``value`` when it is finite and below ``10**digits``; RowError otherwise (no conversion)."""
    if not value.is_finite():
        raise RowError(column, "is not a finite number", text)
    if value.is_zero():
        return _ZERO
    magnitude = value.adjusted()
    if magnitude >= digits:
        raise RowError(column, f"is too large (at most {digits} digits)", text)
    if magnitude < MIN_AMOUNT_EXPONENT:
        raise RowError(column, f"is too small (under 1e{MIN_AMOUNT_EXPONENT})", text)
    return value


def parse_datetime(text: str, column: str, *, default_tz: Any = UTC) -> datetime:
    """Parse an export timestamp; naive ones are taken as ``default_tz``.

    Accepts ISO 8601 (``2024-03-01T12:00:00Z``), Shopify's ``2024-03-01 12:00:00 -0500`` and
    anything python-dateutil understands. Text longer than :data:`MAX_NUMBER_TEXT`, an
    offset of a day or more and a time that leaves the calendar once converted to UTC
    (``0001-01-01 00:00:00 +0500``) are RowErrors.
    """
    s = text.strip()
    if not s:
        raise RowError(column, "is empty, a date and time is required", text)
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a date and time", text)
    if len(s) > 20 and s[19] == " " and s[20] in "+-":
        s = s[:19] + s[20:]  # Shopify: "2024-03-01 12:00:00 -0500"
    try:
        value = datetime.fromisoformat(s.replace("Z", "+00:00") if s.endswith("Z") else s)
    except ValueError:
        try:
            value = date_parser.parse(s)
        except Exception:  # any failure of the third-party parser: not a date
            raise RowError(column, "is not a date and time", text) from None
    try:
        if value.tzinfo is None:
            value = value.replace(tzinfo=default_tz)
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise RowError(column, "is out of range once converted to UTC", text) from None


def parse_epoch_micros(value: Any, column: str) -> datetime:
    """A time given as microseconds since 1970-01-01 UTC (an int or a string of digits).

    Example:
        >>> parse_epoch_micros("1714557600000000", "event_timestamp").isoformat()
        '2024-05-01T10:00:00+00:00'
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise RowError(column, "must be microseconds since the epoch", value)
    us = parse_int(str(value), column, digits=18)
    try:
        return _EPOCH + timedelta(microseconds=us)
    except OverflowError:
        raise RowError(column, "is out of range (microseconds since the epoch)", value) from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_decimal(text: str, column: str, *, default: Decimal | None = None) -> Decimal:
    """Parse a money amount; blank gives ``default`` (an error when there is none).

    ``1,5`` and ``1,234.50`` are read as 1.5 and 1234.50. Infinity, NaN, amounts of
    :data:`MAX_AMOUNT_DIGITS` digits or more and amounts other than zero under
    ``10**MIN_AMOUNT_EXPONENT`` are RowErrors.
    """
    if not text:
        if default is None:
            raise RowError(column, "is empty, an amount is required", text)
        return default
    if "," not in text and len(text) <= MAX_NUMBER_TEXT:
        try:
            value = Decimal(text)
        except InvalidOperation:
            pass
        else:
            # adjusted() is the power of ten of the first digit: no conversion, no copy
            if value.is_finite() and MIN_AMOUNT_EXPONENT <= value.adjusted() < MAX_AMOUNT_DIGITS:
                return value
    s = text.strip()
    if not s:
        if default is None:
            raise RowError(column, "is empty, an amount is required", text)
        return default
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a number", text)
    try:
        value = Decimal(s.replace(",", "") if "," in s and "." in s else s.replace(",", "."))
    except InvalidOperation:
        raise RowError(column, "is not a number", text) from None
    return _bounded(value, text, column)


def parse_int(
    text: str, column: str, *, default: int | None = None, digits: int = MAX_AMOUNT_DIGITS
) -> int:
    """Parse a whole number (``"2"`` or ``"2.0"``) of at most ``digits`` digits.

    The size is checked before any conversion, so ``1e1000000`` is refused at once.
    """
    s = text.strip()
    if not s:
        if default is None:
            raise RowError(column, "is empty, a whole number is required", text)
        return default
    if len(s) > MAX_NUMBER_TEXT:
        raise RowError(column, "is too long to be a number", text)
    if len(s) <= digits:
        try:
            return int(s)
        except ValueError:
            pass
    try:
        f = Decimal(s)
    except InvalidOperation:
        raise RowError(column, "is not a whole number", text) from None
    f = _bounded(f, text, column, digits)
    if f != f.to_integral_value():
        raise RowError(column, "is not a whole number", text)
    return int(f)


def parse_json(text: str, column: str | None) -> Any:
    """The JSON value of ``text``; RowError when it is not JSON or nests too deep.

    Integers of more than 4,300 digits (Python's limit), nesting beyond
    :data:`MAX_JSON_DEPTH` and invalid JSON are refused with their reason.

    Example:
        >>> parse_json('{"a": [1, 2]}', "properties")
        {'a': [1, 2]}
    """
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise RowError(column, f"is not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise RowError(column, f"is JSON nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError as exc:  # e.g. an integer of more than 4,300 digits
        raise RowError(column, f"is not valid JSON ({exc})") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and _too_deep(value):
        raise RowError(column, f"is JSON nested more than {MAX_JSON_DEPTH} deep")
    return value


def _too_deep(value: Any) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return True
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)
    return False


_TRUE = {"yes", "true", "1", "y", "t", "subscribed", "opted_in", "granted"}
_FALSE = {"no", "false", "0", "n", "f", "unsubscribed", "not_subscribed", "opted_out", "denied"}
_UNDECIDED = {"", "pending", "unknown", "null", "none", "invalid", "redacted"}


def parse_consent(text: str, column: str) -> bool | None:
    """Read a marketing-consent cell: True, False, or None when no decision is recorded."""
    s = text.strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    if s in _UNDECIDED:
        return None
    raise RowError(column, "is not yes/no (or subscribed/unsubscribed/pending)", text)


#: WooCommerce order statuses (``wc-`` prefix removed) and what they mean here.
WOOCOMMERCE_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,  # awaiting payment
    "on-hold": OrderStatus.PENDING,  # awaiting a bank transfer or a check
    "checkout-draft": OrderStatus.PENDING,
    "processing": OrderStatus.PAID,  # paid, not yet shipped
    "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
    "failed": OrderStatus.CANCELLED,  # the payment failed: no sale
    "refunded": OrderStatus.REFUNDED,
}

#: Shopify's financial statuses and what they mean here.
SHOPIFY_FINANCIAL_STATUSES: dict[str, OrderStatus] = {
    "pending": OrderStatus.PENDING,
    "authorized": OrderStatus.PENDING,
    "partially_paid": OrderStatus.PENDING,
    "paid": OrderStatus.PAID,
    "partially_refunded": OrderStatus.PARTIALLY_REFUNDED,
    "refunded": OrderStatus.REFUNDED,
    "voided": OrderStatus.CANCELLED,
    "expired": OrderStatus.CANCELLED,
}

#: Every status name a generic file may use: ecomcrm's own, WooCommerce's and Shopify's.
ORDER_STATUS_NAMES: dict[str, OrderStatus] = {
    **{s.value: s for s in OrderStatus},
    **WOOCOMMERCE_STATUSES,
    **SHOPIFY_FINANCIAL_STATUSES,
    "partially-refunded": OrderStatus.PARTIALLY_REFUNDED,
    "canceled": OrderStatus.CANCELLED,
}


def parse_order_status(
    text: str, column: str, table: dict[str, OrderStatus] = ORDER_STATUS_NAMES
) -> OrderStatus:
    """The :class:`~ecomcrm.domain.OrderStatus` a status cell names (case-insensitive).

    ``wc-`` prefixes are dropped and spaces read as ``_``/``-``. An unknown status is a
    RowError that lists the accepted values.

    Example:
        >>> parse_order_status("wc-on-hold", "status").value
        'pending'
    """
    s = text.strip().lower().removeprefix("wc-")
    found = table.get(s)
    if found is None and " " in s:
        found = table.get(s.replace(" ", "_")) or table.get(s.replace(" ", "-"))
    if found is None:
        raise RowError(column, f"is not a known order status (accepted: {', '.join(table)})", text)
    return found


def email_identity(text: str, column: str) -> Identity | None:
    """The email identity of a cell, None when blank; RowError when malformed."""
    if not text or not text.strip():
        return None
    try:
        return Identity(kind=IdentityKind.EMAIL, value=text)
    except ValidationError:
        raise RowError(column, "is not a valid email address", text) from None


def phone_identity(text: str) -> Identity | None:
    """The phone identity of a cell, or None when blank or not in international form.

    Phone cells in exports are often local numbers (no country code); they cannot be
    normalised, so they are not used as identities (the rest of the record still imports).
    """
    s = text.strip().lstrip("'")
    if not s:
        return None
    try:
        return Identity(kind=IdentityKind.PHONE, value=s)
    except ValidationError:
        return None


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


def source_name(path: PathLike) -> str:
    """The name a report and consent sources use for a file: its base name."""
    return Path(path).name


# --- people ---------------------------------------------------------------------------------


class _SeenKeys:
    """A fixed-size Bloom filter of identity keys: "maybe seen" or "certainly not seen".

    When an import starts on an empty store, every identity in the store came through
    this run's :class:`Resolver`. Keys trimmed from its bounded cache go here (8 MiB
    whatever the file size), so a miss still proves "new person" without a store query;
    a hit (or a false positive, under 0.1% at a million keys) asks the store.
    """

    _BITS = 1 << 26  # 8 MiB
    _MASK = _BITS - 1

    def __init__(self) -> None:
        self._bits = bytearray(self._BITS >> 3)

    def _positions(self, key: str) -> tuple[int, int, int]:
        h = hash(key)
        h1 = h & 0xFFFFFFFF
        h2 = ((h >> 32) & 0xFFFFFFFF) | 1
        m = self._MASK
        return h1 & m, (h1 + h2) & m, (h1 + 2 * h2) & m

    def add(self, key: str) -> None:
        bits = self._bits
        for p in self._positions(key):
            bits[p >> 3] |= 1 << (p & 7)

    def __contains__(self, key: str) -> bool:
        bits = self._bits
        return all(bits[p >> 3] & (1 << (p & 7)) for p in self._positions(key))


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
        self._overflow: _SeenKeys | None = None
        # Nobody suppressed when the import began: no per-identity checks. (The store
        # still refuses a suppressed identity when writing, so a concurrent erasure ends
        # as a rejected record, never as a person brought back.)
        has_suppressions = getattr(store, "has_suppressions", None)
        self._none_suppressed = callable(has_suppressions) and not has_suppressions()

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
                self._overflow = _SeenKeys()
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


# --- items and batched writes ----------------------------------------------------------------


class Item:
    """Everything one record of a file implies, written together."""

    __slots__ = (
        "consents",
        "customer_state",
        "customers",
        "events",
        "line",
        "links",
        "merges",
        "order",
        "refunds",
    )

    def __init__(self, line: int) -> None:
        self.line = line
        self.customers: list[Customer] = []
        self.customer_state: str | None = None  # "imported" | "updated" | "unchanged"
        self.order: Order | None = None
        self.refunds: list[Refund] = []
        self.consents: list[Consent] = []
        self.events: list[Event] = []
        self.links: list[tuple[str, Identity]] = []
        self.merges: list[tuple[str, str, datetime]] = []


class BatchWriter:
    """Writes items in batches, one store transaction per batch, and fills the report.

    A record is counted by its main content: the order when it has one, else its events,
    else its customer. Orders are compared with the stored version (unchanged ones are
    not rewritten) unless the store had no orders when the import began, where every
    order is new unless the same id comes twice (corrected from the final order count).
    """

    def __init__(
        self,
        store: Store,
        report: ImportReport,
        resolver: Resolver,
        progress: Progress,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        fresh: bool | None = None,
        done: Callable[[int], None] | None = None,
        bulk: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValidationError("must be at least 1", field="batch_size", value=batch_size)
        self.store = store
        self.report = report
        self.resolver = resolver
        self.progress = progress
        self.batch_size = batch_size
        self._items: list[Item] = []
        self._orders_at_start = store.orders.count()
        # ``fresh`` given: a worker of a parallel import, whose caller settles repeated ids.
        self._fresh = self._orders_at_start == 0 if fresh is None else fresh
        self._settle_repeats = fresh is None
        self._fresh_imported = 0
        # Order ids written in this run (a Bloom filter: a hit is confirmed by the store), so
        # an id that comes again is compared with its earlier version even on a first load.
        self._seen_orders = _SeenKeys() if self._fresh else None
        self._warnings: list[tuple[int, str, str]] = []  # emitted once their batch commits
        self._done = done  # told how many items each batch wrote (a parallel import's worker)
        # A store's optional bulk mode (SqliteStore.bulk_load), held until finish()/close().
        self._bulk = contextlib.ExitStack()
        bulk_load = getattr(store, "bulk_load", None) if bulk else None
        if callable(bulk_load):
            self._bulk.enter_context(bulk_load())
        self._closed = False
        self.written = 0  # records written by the batches committed so far
        self._flushing_from: int | None = None  # first line of the batch being written

    def stopped(self, exc: BaseException, line: int) -> None:
        """Note on ``exc``, which ends the import at ``line``, what is stored and how to finish.

        Batches are committed one by one, so the records of earlier batches stay; imports
        are idempotent, so importing the same file again finishes the job exactly.
        """
        first = self._flushing_from or (self._items[0].line if self._items else line)
        exc.add_note(
            f"The import of {self.report.source} stopped at line {line}: the {self.written} "
            f"records before line {first} are stored, the ones from line {first} on are not. "
            "Importing the same file again finishes it (stored records count as unchanged)."
        )

    def add(self, item: Item) -> None:
        """Queue an item; writes the batch when it is full."""
        self._items.append(item)
        if len(self._items) >= self.batch_size:
            self.flush()

    def finish(self) -> ImportReport:
        """Write what is left and settle the counts."""
        try:
            self.flush()
        except BaseException as exc:
            self.stopped(exc, self._flushing_from or 0)
            raise
        if self._settle_repeats and self._fresh and self._fresh_imported:
            created = self.store.orders.count() - self._orders_at_start
            count_repeated_orders(self.report, self._fresh_imported, created)
        self.close()
        return self.report

    def close(self) -> None:
        """Leave the store's bulk mode (if it was entered) and close the progress display."""
        if not self._closed:
            self._closed = True
            self._bulk.close()
            self.progress.close()

    def flush(self) -> None:
        """Write the queued items in one transaction (item by item if that fails)."""
        items, self._items = self._items, []
        if not items:
            return
        self._flushing_from = items[0].line
        # New orders' rows are computed before the transaction, where the store offers it,
        # so other writers (a parallel import's workers) wait less for the write lock.
        prepare = getattr(self.store.orders, "prepare_many", None) if self._fresh else None
        try:
            prepared = (
                prepare([item.order for item in items if item.order is not None])
                if callable(prepare)
                else None
            )
            with self.store.transaction():
                counts = self._write(items, self.resolver.pending.values(), prepared)
        except MemoryError:
            raise
        except Exception:  # an ecomcrm error, or any other: find the record(s) at fault
            self._warnings.clear()
            self.resolver.batch_failed()
            counts = self._write_one_by_one(items)
        else:
            self._emit_warnings()
            self.resolver.batch_written()
        self.written += sum(counts.values())
        self._flushing_from = None
        for name, n in counts.items():
            setattr(self.report, name, getattr(self.report, name) + n)
        self.progress.update(len(items))
        if self._done is not None:
            self._done(len(items))

    def _emit_warnings(self) -> None:
        for line, order_id, reason in self._warnings:
            self.report.warn(line=line, column=None, reason=reason, value=order_id)
        self._warnings.clear()

    def _write_one_by_one(self, items: list[Item]) -> dict[str, int]:
        totals = {"imported": 0, "updated": 0, "unchanged": 0}
        for item in items:
            try:
                with self.store.transaction():
                    counts = self._write([item], item.customers)
                self._emit_warnings()
            except EcomcrmError as exc:
                self._warnings.clear()
                retried = self._without_claimed_phones(item, exc)
                if retried is None:
                    column = exc.field if isinstance(exc, ValidationError) else None
                    self.report.reject(line=item.line, column=column, reason=str(exc))
                    continue
                counts = retried
            except MemoryError:
                raise
            except Exception as exc:  # not foreseen (a bug some input triggers): reported
                reject(self.report, item.line, unexpected(exc))
                continue
            for name, n in counts.items():
                totals[name] += n
        return totals

    def _without_claimed_phones(self, item: Item, exc: EcomcrmError) -> dict[str, int] | None:
        """Retry an item whose new customer's phone another customer holds, without the phone.

        The same rule as :meth:`Resolver.unowned` for customers that orders or events bring
        in, for a phone claimed after the item was built (by another process, or a worker
        of a parallel import). None when the item still fails, the error was not a
        conflict, or the item comes from a customers file (whose rows are rejected).
        """
        phone = IdentityKind.PHONE
        if item.customer_state is not None:  # a customers file states the phone: report it
            return None
        if not isinstance(exc, ConflictError) or not any(
            i.kind is phone for c in item.customers for i in c.identities
        ):
            return None
        customers = []
        dropped = 0
        for customer in item.customers:
            kept = [i for i in customer.identities if i.kind is not phone]
            if not kept:
                return None
            dropped += len(customer.identities) - len(kept)
            customers.append(attrs.evolve(customer, identities=kept))
        try:
            with self.store.transaction():
                counts = self._write([item], customers)
        except EcomcrmError:
            self._warnings.clear()
            return None
        self._emit_warnings()
        self.report.count("phones_already_in_use", dropped)
        return counts

    def _write(
        self,
        items: list[Item],
        customers: Iterable[Customer],
        prepared: Sequence[Order] | None = None,
    ) -> dict[str, int]:
        store = self.store
        counts = {"imported": 0, "updated": 0, "unchanged": 0}
        to_write = list(customers)
        if to_write:
            store.customers.put_many(to_write)
        orders: list[Order] = []
        events: list[Event] = []
        order_events: list[Event] = []
        multi: list[Item] = []
        in_batch: dict[str, Order] = {}
        seen = self._seen_orders
        fresh_new = 0
        for item in items:
            order = item.order
            if order is not None:
                order_events.extend(item.events)  # counted with the order
                existing: Order | None = in_batch.get(order.id)
                if existing is None and (seen is None or order.id in seen):
                    try:
                        existing = store.orders.get(order.id)
                    except NotFoundError:
                        existing = None
                if seen is not None:
                    seen.add(order.id)
                in_batch[order.id] = order
                if existing is None:
                    counts["imported"] += 1
                    fresh_new += 1
                    orders.append(order)
                elif existing == order:
                    counts["unchanged"] += 1
                else:
                    counts["updated"] += 1
                    orders.append(order)
                    self._warnings.append((
                        item.line, order.id,
                        "this order id came before with different content; this version "
                        "replaced it",
                    ))  # fmt: skip
            elif len(item.events) == 1:
                events.append(item.events[0])
                counts["imported"] += 1  # corrected below by how many were already stored
            elif item.events:
                multi.append(item)
            elif item.customer_state is not None:
                counts[item.customer_state] += 1
        if orders:
            # ``prepared`` holds every order of the batch in file order (repeats too): the
            # later version of a repeated id is written last and wins, as in ``orders``.
            store.orders.put_many(prepared if prepared is not None else orders)
            if self._fresh:
                self._fresh_imported += fresh_new
        refund_list = [refund for item in items for refund in item.refunds]
        refunds = store.orders.add_refunds(refund_list) if refund_list else 0
        consent_list = [consent for item in items for consent in item.consents]
        if consent_list:
            store.consents.record_many(consent_list)
        consents = len(consent_list)
        if refunds:
            self.report.count("refunds", refunds)
        if consents:
            self.report.count("consents", consents)
        if order_events:
            store.events.append_many(order_events)
        if events:
            known = len(events) - store.events.append_many(events)
            counts["imported"] -= known
            counts["unchanged"] += known
        for item in multi:
            new_here = sum(bool(store.events.append(event)) for event in item.events)
            counts["imported" if new_here else "unchanged"] += 1
        for item in items:
            for survivor, merged, at in item.merges:
                store.merge(survivor, merged, at=at)
            for customer_id, identity in item.links:
                store.link_identity(customer_id, identity)
        return counts


def count_repeated_orders(report: ImportReport, written_as_new: int, created: int) -> None:
    """Orders counted as new beyond those created repeated an id: count them as updated."""
    repeated = written_as_new - created
    if repeated > 0:  # the same order id came twice in the file
        report.imported -= repeated
        report.updated += repeated


def reject(report: ImportReport, line: int, error: RowError) -> None:
    """Record a RowError in the report."""
    report.reject(line=line, column=error.column, reason=error.reason, value=error.value)


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
