"""What every platform's webhooks share: signatures, hostile bodies, one atomic write, the result.

A webhook is handled in three steps. :func:`verify_hmac` (or :func:`verify_shared_secret`)
checks the signature in constant time; :func:`parse_body` reads the raw body as hostile input
(a size limit, UTF-8, JSON nested at most :data:`~ecomcrm.io._cells.MAX_JSON_DEPTH` deep,
amounts kept as exact Decimals); a platform module maps the payload into a :class:`Change`
with the same :class:`~ecomcrm.io._people.Resolver` rules as the file importers, and
:func:`apply_change` writes it in one store transaction together with the delivery's
de-duplication record, so a replayed delivery changes nothing and a refused one writes
nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import attrs

from ecomcrm.domain import Consent, Customer, Event, Order, Refund
from ecomcrm.errors import (
    ConflictError,
    EcomcrmError,
    NotFoundError,
    SignatureError,
    ValidationError,
)
from ecomcrm.io._cells import MAX_JSON_DEPTH, parse_datetime, parse_decimal
from ecomcrm.io._people import Resolver
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, RowError, unexpected
from ecomcrm.storage import Store

#: The largest body read, in bytes (Shopify's largest order payloads are a few hundred KiB).
MAX_WEBHOOK_BODY = 4 * 1024 * 1024

T = TypeVar("T")

_DELIVERY_PREFIX = "webhook:delivery:"
_VERSION_PREFIX = "webhook:version:"


@attrs.frozen(kw_only=True)
class WebhookResult:
    """What handling one webhook delivery did, and what the rules engine should react to.

    ``status`` is ``"written"`` (the payload is stored), ``"duplicate"`` (this delivery id
    was handled before: nothing changed), ``"stale"`` (the store holds a newer version of
    the object: nothing overwritten), ``"suppressed"`` (the person was erased: nothing
    stored), ``"ignored"`` (a payload that names nobody, such as a guest checkout without
    email or phone), ``"fetch"`` (the callback carries only an id: fetch ``fetch`` from the
    platform's API and pass it to :func:`~ecomcrm.io.sync_resource`), ``"privacy"``
    (a privacy topic; ``response`` holds the export or erasure receipt) or, from
    :func:`~ecomcrm.io.handle_webhooks` only, ``"refused"`` (``error`` holds the
    :class:`~ecomcrm.errors.SignatureError` or :class:`~ecomcrm.errors.ValidationError`
    that :func:`~ecomcrm.io.handle_webhook` raises for it: nothing was written).

    Pass ``events`` to :meth:`ecomcrm.rules.Engine.handle_many`; they are also stored.

    Example:
        >>> r = WebhookResult(platform="shopify", topic="orders/create", status="duplicate")
        >>> r.written, r.events
        (False, ())
    """

    platform: str
    topic: str
    status: str
    delivery_id: str | None = None
    customers: tuple[str, ...] = ()
    orders: tuple[str, ...] = ()
    refunds: tuple[str, ...] = ()
    events: tuple[Event, ...] = ()
    fetch: tuple[str, str] | None = None
    response: Any = None
    reason: str = ""
    error: ValidationError | None = None

    @property
    def written(self) -> bool:
        """True when this delivery changed the store."""
        return self.status in ("written", "privacy")


@attrs.define(kw_only=True)
class Change:
    """What a payload means for the store: built first, written at once by :func:`apply_change`.

    ``version`` is ``(key, customer id, updated_at)``: the object's last-modified time as
    the platform stated it; an older one than the store's is not applied. ``object_id`` is
    our id of the platform object (an order's ``#1001`` for its number), kept with it.
    """

    item: Item
    events: list[Event] = attrs.field(factory=list)
    version: tuple[str, str, datetime] | None = None
    object_id: str | None = None
    status: str = "written"
    reason: str = ""


def header(headers: Mapping[str, str] | Sequence[tuple[str, str]], name: str) -> str | None:
    """The value of header ``name`` (case-insensitive), from a mapping or a list of pairs.

    Example:
        >>> header({"X-Shopify-Topic": "orders/create"}, "x-shopify-topic")
        'orders/create'
    """
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    wanted = name.lower()
    for key, value in pairs:
        if isinstance(key, bytes):
            key = key.decode("latin-1")
        if isinstance(key, str) and key.lower() == wanted:
            if isinstance(value, bytes):
                value = value.decode("latin-1")
            return value if isinstance(value, str) else None
    return None


def _secret_bytes(secret: str | bytes) -> bytes:
    if isinstance(secret, str):
        secret = secret.encode()
    if not isinstance(secret, bytes) or not secret:
        raise ValidationError("must be the webhook's non-empty secret", field="secret", value=None)
    return secret


def verify_hmac(
    body: bytes, signature: str | None, secret: str | bytes, *, platform: str, header_name: str
) -> None:
    """Check a base64 HMAC-SHA256 of the raw body, in constant time; SignatureError if not.

    Example:
        >>> import base64, hashlib, hmac
        >>> sig = base64.b64encode(hmac.new(b"k", b"{}", hashlib.sha256).digest()).decode()
        >>> verify_hmac(b"{}", sig, "k", platform="shopify", header_name="X-Shopify-Hmac-Sha256")
    """
    key = _secret_bytes(secret)
    if not signature:
        raise SignatureError(
            "is missing: the request is not signed", entity=f"{platform} webhook",
            field=header_name, value=None,
        )  # fmt: skip
    try:
        given = base64.b64decode(signature.strip(), validate=True)
    except (binascii.Error, ValueError):
        given = b""
    expected = hmac.new(key, body, hashlib.sha256).digest()
    if not hmac.compare_digest(given, expected):
        raise SignatureError(
            "does not match the body and secret: forged, altered, or the wrong secret",
            entity=f"{platform} webhook", field=header_name, value=signature[:80],
        )  # fmt: skip


def verify_shared_secret(
    value: str | None, secret: str | bytes, *, platform: str, header_name: str
) -> None:
    """Check a secret the platform sends back in a header you configured, in constant time.

    Example:
        >>> verify_shared_secret("s3cret", "s3cret", platform="bigcommerce", header_name="X-Secret")
    """
    key = _secret_bytes(secret)
    if not value:
        raise SignatureError(
            "is missing: configure the webhook to send it",
            entity=f"{platform} webhook",
            field=header_name,
            value=None,
        )
    if not hmac.compare_digest(value.encode(), key):
        raise SignatureError(
            "does not match the secret", entity=f"{platform} webhook", field=header_name,
            value="***",
        )  # fmt: skip


def parse_body(body: bytes, *, platform: str, topic: str, max_bytes: int) -> Mapping[str, Any]:
    """The JSON object of a raw body; ValidationError naming the platform and topic if not.

    Numbers with a fraction become exact Decimals; a body over ``max_bytes``, not UTF-8,
    not JSON, nested more than :data:`MAX_JSON_DEPTH` deep, or not an object is refused.

    Example:
        >>> parse_body(b'{"total_price": 10.5}', platform="x", topic="t", max_bytes=100)
        {'total_price': Decimal('10.5')}
    """
    where = f"{platform} webhook {topic}"
    if not isinstance(body, bytes | bytearray | memoryview):
        raise ValidationError("must be the raw request body (bytes)", entity=where, field="body")
    if len(body) > max_bytes:
        raise ValidationError(
            f"is larger than {max_bytes} bytes", entity=where, field="body", value=len(body)
        )
    try:
        text = bytes(body).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"is not UTF-8 (byte {exc.start})", entity=where, field="body", value=None
        ) from None
    if text.count("[") + text.count("{") > 4 * MAX_JSON_DEPTH and _nests_too_deep(text):
        raise ValidationError(f"is JSON nested more than {MAX_JSON_DEPTH} deep", entity=where)
    try:
        value = json.loads(text, parse_float=Decimal, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})",
            entity=where, field="body", value=text[:80],
        ) from None  # fmt: skip
    except (ValueError, RecursionError) as exc:  # a 4,300-digit integer, NaN, too deep
        raise ValidationError(
            f"is not valid JSON ({str(exc)[:120]})", entity=where, field="body"
        ) from None
    if not isinstance(value, dict):
        raise ValidationError(
            "must be a JSON object", entity=where, field="body", value=type(value).__name__
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number JSON allows")


def _nests_too_deep(text: str) -> bool:
    depth = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                return True
        elif ch in "]}":
            depth -= 1
    return False


# --- reading fields of a hostile payload --------------------------------------------------------


def obj(value: Any, field: str, *, required: bool = True) -> Mapping[str, Any]:
    """``value`` when it is a JSON object; RowError naming ``field`` otherwise (or {})."""
    if isinstance(value, Mapping):
        return value
    if value is None and not required:
        return {}
    raise RowError(field, "must be an object" if value is not None else "is missing", value)


def items(value: Any, field: str) -> list[Any]:
    """``value`` when it is a JSON array (None and absent read as empty); RowError otherwise."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise RowError(field, "must be an array", value)


def text(value: Any, field: str, *, required: bool = False) -> str:
    """A string field (numbers are read as their digits); "" when absent unless required."""
    if value is None or value == "":
        if required:
            raise RowError(field, "is missing", value)
        return ""
    if isinstance(value, bool):
        raise RowError(field, "must be a string", value)
    if isinstance(value, str):
        if len(value) > 10_000:
            raise RowError(field, "is too long", value[:80])
        return value.strip()
    if isinstance(value, int | Decimal):
        return str(value)
    raise RowError(field, "must be a string", value)


def ident(value: Any, field: str) -> str:
    """A platform id (a number or a non-empty string); RowError naming ``field`` otherwise."""
    if isinstance(value, int) and not isinstance(value, bool):
        if abs(value) >= 10**30:
            raise RowError(field, "is too large to be an id", value)
        return str(value)
    if isinstance(value, str) and value.strip() and len(value) <= 200:
        return value.strip()
    raise RowError(field, "must be an id (a number or a non-empty string)", value)


def amount(value: Any, field: str, *, default: Decimal | None = None) -> Decimal:
    """An exact amount from a string or JSON number; ``default`` when absent.

    Example:
        >>> amount("19.99", "total_price"), amount(84.2, "grand_total")
        (Decimal('19.99'), Decimal('84.2'))
    """
    if value is None or value == "":
        if default is None:
            raise RowError(field, "is missing, an amount is required", value)
        return default
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise RowError(field, "must be an amount (a string or a number)", value)
    # a float (an object the app parsed itself) is read as its shortest repr: 84.2 -> "84.2"
    found = parse_decimal(repr(value) if isinstance(value, float) else str(value), field)
    if found < 0:
        raise RowError(field, "must not be negative", value)
    return found


def when(value: Any, field: str, *, required: bool = True) -> datetime | None:
    """A timestamp field (ISO 8601 or RFC 2822); None when absent and not required."""
    if value is None or value == "":
        if required:
            raise RowError(field, "is missing, a date and time is required", value)
        return None
    if not isinstance(value, str):
        raise RowError(field, "must be a date and time string", value)
    return parse_datetime(value, field)


def as_float(value: Decimal) -> float:
    """An amount as the JSON number an event property holds (Segment's spec uses numbers)."""
    return float(value)


# --- the write ----------------------------------------------------------------------------------


class Reads:
    """What mapping a payload reads of the store: stored orders, their refunds, state records.

    Reading the store itself for one delivery; a batch of deliveries
    (:func:`~ecomcrm.io.handle_webhooks`) reads through a subclass that also sees what
    the batch's earlier deliveries will write, so each is mapped as if handled alone.

    Example:
        >>> import ecomcrm
        >>> reads = Reads(ecomcrm.open_store("memory://"))
        >>> reads.order("#1001"), reads.refunds("#1001"), reads.state("webhook:x")
        (None, [], None)
    """

    def __init__(self, store: Store) -> None:
        self.store = store

    def order(self, order_id: str) -> Order | None:
        """The stored order, or None."""
        try:
            return self.store.orders.get(order_id)
        except NotFoundError:
            return None

    def refunds(self, order_id: str) -> list[Refund]:
        """The order's stored refunds."""
        return self.store.orders.refunds_for_order(order_id)

    def state(self, key: str) -> Mapping[str, Any] | None:
        """The value of a state record, or None."""
        record = self.store.state.get(key)
        return None if record is None else record.value


def delivery_seen(reads: Reads, platform: str, delivery_id: str | None) -> bool:
    """True when this delivery id was handled before (a replay)."""
    if delivery_id is None:
        return False
    return reads.state(delivery_key(platform, delivery_id)) is not None


def delivery_key(platform: str, delivery_id: str) -> str:
    """The state key recording that a delivery was handled."""
    return f"{_DELIVERY_PREFIX}{platform}:{delivery_id}"


def version_key(platform: str, kind: str, native_id: str) -> str:
    """The state key holding the platform object's last applied ``updated_at`` and our id."""
    return f"{_VERSION_PREFIX}{platform}:{kind}:{native_id}"


def known_id(reads: Reads, platform: str, kind: str, native_id: str) -> str | None:
    """Our id of the platform object ``native_id`` (an order's number), when one was stored."""
    value = reads.state(version_key(platform, kind, native_id))
    if value is None:
        return None
    found = value.get("id")
    return found if isinstance(found, str) else None


def new_resolver(store: Store) -> tuple[Resolver, ImportReport]:
    """The resolver (and scratch report) one payload's people are found with."""
    return Resolver(store, complete=False), ImportReport(source="webhook", kind="webhook")


def map_payload(build: Callable[[], T], *, platform: str, topic: str) -> T:
    """``build()``, with every refusal turned into a ValidationError naming the platform and topic."""
    where = f"{platform} webhook {topic}"
    try:
        return build()
    except RowError as exc:
        raise ValidationError(exc.reason, entity=where, field=exc.column, value=exc.value) from None
    except ValidationError as exc:
        field = f"{exc.entity}.{exc.field}" if exc.entity and exc.field else exc.field
        args: dict[str, Any] = {"value": exc.value} if exc.has_value else {}
        raise ValidationError(exc.message, entity=where, field=field, **args) from None
    except EcomcrmError:
        raise
    except (MemoryError, RecursionError):
        raise
    except Exception as exc:  # input no rule foresaw: still an ecomcrm error, never a crash
        bad = unexpected(exc)
        raise ValidationError(bad.reason, entity=where) from exc


def apply_change(
    store: Store,
    change: Change | None,
    *,
    platform: str,
    topic: str,
    delivery_id: str | None,
    resolver: Resolver,
) -> WebhookResult:
    """Write ``change`` and the delivery's record in one transaction; the typed result.

    None (the payload names nobody) and a suppressed or stale change write only the
    delivery record, so a replay of it is still a duplicate.
    """
    base: dict[str, Any] = {"platform": platform, "topic": topic, "delivery_id": delivery_id}
    status = "ignored" if change is None else change.status
    reason = "" if change is None else change.reason
    try:
        with store.transaction():
            if delivery_id is not None:
                store.state.put(
                    delivery_key(platform, delivery_id), {"topic": topic}, expected_version=None
                )
            if change is None or status != "written":
                return WebhookResult(status=status, reason=reason, **base)
            if change.version is not None and _is_stale(store, change.version, change.object_id):
                return WebhookResult(
                    status="stale", reason="the store holds a newer version", **base
                )
            written = _write(store, change, resolver)
    except ConflictError:
        if delivery_id is not None and delivery_seen(Reads(store), platform, delivery_id):
            return WebhookResult(status="duplicate", **base)  # a concurrent replay won
        raise
    return WebhookResult(status="written", **base, **written)


def _is_stale(store: Store, version: tuple[str, str, datetime], object_id: str | None) -> bool:
    key, owner, updated_at = version
    record = store.state.get(key)
    stamp = updated_at.isoformat()
    if record is not None:
        stored = record.value.get("updated_at")
        if isinstance(stored, str) and datetime.fromisoformat(stored) > updated_at:
            return True
    value = dict(record.value) if record is not None else {}
    value["updated_at"] = stamp
    if object_id is not None:
        value["id"] = object_id
    store.state.put(
        key, value, expected_version=None if record is None else record.version, owner=owner
    )
    return False


def _write(store: Store, change: Change, resolver: Resolver) -> dict[str, Any]:
    item = change.item
    customers: list[Customer] = list(resolver.pending.values())
    if customers:
        store.customers.put_many(customers)
    orders: list[Order] = []
    if item.order is not None:
        store.orders.upsert(item.order)
        orders.append(item.order)
    refunds: list[Refund] = []
    if item.refunds:
        known = {r.id for r in store.orders.refunds_for_order(item.refunds[0].order_id)}
        refunds = [r for r in item.refunds if r.id not in known]
        if refunds:
            store.orders.add_refunds(refunds)
    consents: list[Consent] = item.consents
    if consents:
        store.consents.record_many(consents)
    events = change.events
    if events:
        store.events.append_many(events)
    for customer_id, identity in item.links:
        store.link_identity(customer_id, identity)
    return {
        "customers": tuple(c.id for c in customers),
        "orders": tuple(o.id for o in orders),
        "refunds": tuple(r.id for r in refunds),
        "events": tuple(events),
    }
