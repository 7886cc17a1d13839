"""Event streams in the Segment spec: identify and track calls as JSON lines.

Each line is one Segment message (``{"type": "track", "event": "Order Completed", ...}``)
or a batch (``{"batch": [...]}``). ``identify`` creates or updates the customer behind
``userId`` from its traits; ``track`` becomes an :class:`~ecomcrm.domain.Event`. A message
carrying both ``userId`` and ``anonymousId`` ties the anonymous id to the customer with
``store.link_identity``, which re-points the visitor's earlier events. When an identify
call reveals that the user is a customer already known by email, the two are merged.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any

from ecomcrm.domain import Customer, Event, Identity, IdentityKind
from ecomcrm.errors import ValidationError
from ecomcrm.io._common import (
    DEFAULT_BATCH_SIZE,
    BatchWriter,
    Item,
    PathLike,
    Resolver,
    RowError,
    customer_id_for,
    email_identity,
    merge_customer,
    parse_datetime,
    phone_identity,
    reject,
    source_name,
)
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._report import ImportReport
from ecomcrm.storage._protocols import Store


def read_json_lines(path: PathLike) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` for each non-blank line; a line that is not JSON yields a RowError."""
    with open(path, encoding="utf-8-sig") as handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, json.loads(text)
            except json.JSONDecodeError as exc:
                yield number, RowError(None, f"is not valid JSON ({exc.msg} at column {exc.colno})")


def user_identity(user_id: str) -> Identity:
    """The external identity an app's user id is stored under (``user:<id>``)."""
    return Identity(kind=IdentityKind.EXTERNAL, value=f"user:{user_id}")


def _text(value: Any, field: str) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, str | int) and not isinstance(value, bool):
        return str(value)
    raise RowError(field, "must be a string", value)


def _json_safe(value: Any) -> Any:
    """Drop floats that are not finite (JSON allows none)."""
    if isinstance(value, float) and value != value:  # NaN
        return None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    return value


class EventStreamImporter:
    """Turns normalised Segment messages into store writes (shared by Segment and GA4)."""

    def __init__(
        self,
        store: Store,
        report: ImportReport,
        *,
        source: str,
        batch_size: int,
        progress: ProgressOption,
        id_prefix: str,
    ) -> None:
        self.store = store
        self.report = report
        self.source = source
        self.id_prefix = id_prefix
        self.resolver = Resolver(store)
        self.writer = BatchWriter(
            store,
            report,
            self.resolver,
            make_progress(progress, f"import {report.source}", unit="events"),
            batch_size=batch_size,
        )
        self._linked: set[str] = set()

    def handle(self, line: int, message: Any) -> None:
        """Import one message, or reject it with its reason."""
        if isinstance(message, RowError):
            reject(self.report, line, message)
            return
        if not isinstance(message, Mapping):
            reject(self.report, line, RowError(None, "must be a JSON object", message))
            return
        if isinstance(message.get("batch"), list):
            for inner in message["batch"]:
                self.handle(line, inner)
            return
        self.report.rows += 1
        try:
            item = self._item(line, message)
        except RowError as exc:
            reject(self.report, line, exc)
            return
        except ValidationError as exc:
            reject(self.report, line, RowError.from_validation(exc))
            return
        if item is None:
            self.report.suppressed += 1
            return
        self.writer.add(item)

    def finish(self) -> ImportReport:
        """Write the last batch and return the report."""
        return self.writer.finish()

    # --- one message ------------------------------------------------------------------------

    def _item(self, line: int, msg: Mapping[str, Any]) -> Item | None:
        kind = msg.get("type")
        if kind is None:
            kind = "track" if "event" in msg else "identify" if "traits" in msg else None
        if kind not in ("identify", "track", "page", "screen"):
            raise RowError("type", "must be identify, track, page or screen", kind)
        at = parse_datetime(
            str(msg.get("timestamp") or msg.get("originalTimestamp") or msg.get("sentAt") or ""),
            "timestamp",
        )
        user_id = _text(msg.get("userId"), "userId")
        anonymous_id = _text(msg.get("anonymousId"), "anonymousId")
        if user_id is None and anonymous_id is None:
            raise RowError("userId", "is missing and so is anonymousId", None)
        traits = msg.get("traits") or (msg.get("context") or {}).get("traits") or {}
        if not isinstance(traits, Mapping):
            raise RowError("traits", "must be an object", traits)
        email = email_identity(str(traits.get("email") or ""), "traits.email")
        phone = phone_identity(str(traits.get("phone") or ""))
        known = [i for i in (email, phone) if i is not None]
        if user_id is not None:
            known.append(user_identity(user_id))
        if anonymous_id is not None:
            known.append(Identity(kind=IdentityKind.ANONYMOUS, value=anonymous_id))
        if self.resolver.is_suppressed(known):
            return None
        item = Item(line)
        customer_id = None
        if user_id is not None or (kind == "identify" and (email or phone)):
            customer_id = self._customer(
                item, user_id, email, phone, traits, at, kind == "identify"
            )
        if customer_id is not None and anonymous_id is not None:
            key = f"{customer_id}\x1f{anonymous_id}"
            if key not in self._linked:
                anon = Identity(kind=IdentityKind.ANONYMOUS, value=anonymous_id)
                owner = self.resolver.lookup([anon])
                if owner is None or owner != customer_id:
                    item.links.append((customer_id, anon))
                    self.resolver.remember_identity(anon, customer_id)
                if len(self._linked) > 200_000:
                    self._linked.clear()
                self._linked.add(key)
        if kind == "identify":
            if item.customer_state is None:
                # an anonymous identify only carries traits we cannot attach to anyone yet
                item.customer_state = "unchanged"
            return item
        name = msg.get("event") if kind == "track" else f"{kind.capitalize()} Viewed"
        if not isinstance(name, str) or not name.strip():
            raise RowError("event", "must be a non-empty event name", name)
        properties = msg.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise RowError("properties", "must be an object", properties)
        message_id = _text(msg.get("messageId"), "messageId")
        fields: dict[str, Any] = {}
        if message_id is not None:
            fields["id"] = f"{self.id_prefix}{message_id}"
        item.events.append(
            Event(
                name=name,
                at=at,
                customer_id=customer_id,
                anonymous_id=anonymous_id,
                properties=_json_safe(properties),
                source=self.source,
                **fields,
            )
        )
        return item

    def _customer(
        self,
        item: Item,
        user_id: str | None,
        email: Identity | None,
        phone: Identity | None,
        traits: Mapping[str, Any],
        at: datetime,
        identify: bool,
    ) -> str:
        resolver = self.resolver
        user = user_identity(user_id) if user_id is not None else None
        by_user = None
        if user is not None and user_id is not None:
            by_user = resolver.lookup([user])
            if by_user is None:
                existing = resolver.get(user_id)
                by_user = existing.id if existing is not None else None
        by_contact = resolver.find_person([i for i in (email, phone) if i is not None])
        identities = [i for i in (user, email, phone) if i is not None]
        if by_user is not None and by_contact is not None and by_user != by_contact:
            # the user turns out to be a customer already known by email: fold them together
            item.merges.append((by_contact, by_user, at))
            if user is not None:
                resolver.remember_identity(user, by_contact)
            return by_contact
        target = by_user or by_contact
        first = str(traits.get("firstName") or traits.get("first_name") or "")
        last = str(traits.get("lastName") or traits.get("last_name") or "")
        if target is None:
            created = traits.get("createdAt") or traits.get("created_at")
            created_at = parse_datetime(str(created), "traits.createdAt") if created else at
            customer = Customer(
                id=user_id if user_id is not None else customer_id_for(identities),
                created_at=min(created_at, at),
                identities=identities,
                first_name=first,
                last_name=last,
            )
            resolver.add(customer)
            item.customers.append(customer)
            item.customer_state = "imported"
            return customer.id
        if identify:
            existing = resolver.get(target)
            if existing is None:  # pragma: no cover - a lookup hit is always stored or pending
                raise RowError("userId", "refers to a customer that is gone", user_id)
            updated = merge_customer(
                existing, identities=identities, first_name=first, last_name=last
            )
            if updated == existing:
                item.customer_state = "unchanged"
            else:
                resolver.add(updated)
                item.customers.append(updated)
                item.customer_state = "updated"
        return target


def import_segment_events(
    store: Store,
    path: PathLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "segment:",
) -> ImportReport:
    r"""Import Segment ``identify``/``track``/``page`` calls from a JSON-lines file.

    ``track`` calls become events named as sent (the e-commerce spec's names such as
    ``Order Completed`` are recognised by the rest of ecomcrm); ``page``/``screen`` calls
    become ``Page Viewed``/``Screen Viewed``. The event id is ``id_prefix + messageId``
    (or a hash of the content), so a re-import stores nothing twice. ``userId`` is the
    customer id for new customers; an ``anonymousId`` seen with a ``userId`` is linked to
    that customer. Messages of erased people are counted as ``suppressed``.

    Example:
        >>> import ecomcrm, json, pathlib, tempfile
        >>> from ecomcrm.io import import_segment_events
        >>> lines = [
        ...     {"type": "track", "event": "Product Viewed", "anonymousId": "a1",
        ...      "timestamp": "2024-05-01T10:00:00Z", "messageId": "m1", "properties": {"sku": "TEE-1"}},
        ...     {"type": "identify", "userId": "u1", "anonymousId": "a1",
        ...      "timestamp": "2024-05-01T10:05:00Z", "traits": {"email": "ada@example.com"}},
        ... ]
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "segment.jsonl"
        >>> _ = path.write_text("\n".join(json.dumps(x) for x in lines))
        >>> store = ecomcrm.open_store("memory://")
        >>> report = import_segment_events(store, path)
        >>> report.imported, [e.name for e in store.events.for_customer("u1")]
        (2, ['Product Viewed'])
    """
    file = source_name(path)
    report = ImportReport(source=file, kind="segment_events")
    importer = EventStreamImporter(
        store, report, source="segment", batch_size=batch_size, progress=progress,
        id_prefix=id_prefix,
    )  # fmt: skip
    for line, message in read_json_lines(path):
        importer.handle(line, message)
    return importer.finish()
