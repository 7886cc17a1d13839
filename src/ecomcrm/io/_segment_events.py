"""Event streams in the Segment spec: identify and track calls as JSON lines.

Each line is one Segment message (``{"type": "track", "event": "Order Completed", ...}``)
or a batch (``{"batch": [...]}``). ``identify`` creates or updates the customer behind
``userId`` from its traits; ``track`` becomes an :class:`~ecomcrm.domain.Event`. A message
carrying both ``userId`` and ``anonymousId`` ties the anonymous id to the customer with
``store.link_identity``, which re-points the visitor's earlier events. When an identify
call reveals that the user is a customer already known by email, the two are merged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from decimal import Decimal
from typing import IO, Any

from ecomcrm.domain import (
    ECOMMERCE_EVENTS,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    OrderLine,
    Refund,
)
from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.io._batches import DEFAULT_BATCH_SIZE, BatchWriter
from ecomcrm.io._cells import (
    email_identity,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_json,
    phone_identity,
)
from ecomcrm.io._csvfile import open_text
from ecomcrm.io._items import queue_record
from ecomcrm.io._people import Resolver, customer_id_for, merge_customer
from ecomcrm.io._progress import ProgressOption, make_progress
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, reject, source_name
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import customer_id_identity


def read_json_lines(path: PathLike) -> Iterator[tuple[int, Any]]:
    """``(line, value)`` for each non-blank line; a line that is not JSON yields a RowError.

    The file is checked as :func:`~ecomcrm.io._csvfile.open_text` does (a directory, or
    bytes that are not text, are a ValidationError before the first line is yielded).
    """
    handle = open_text(path)
    return _json_lines(handle)


def _json_lines(handle: IO[str]) -> Iterator[tuple[int, Any]]:
    with handle:
        for number, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                yield number, parse_json(text, None)
            except RowError as exc:
                yield number, exc


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


_STANDARD = {" ".join(name.lower().split()): name for name in ECOMMERCE_EVENTS}


def standard_name(name: str) -> str:
    """The e-commerce spec's spelling of ``name`` when it is one in another letter case.

    ``"order completed"``, ``"ORDER_COMPLETED"`` and ``"Order  Completed"`` are all
    ``"Order Completed"``; other names are returned stripped, as sent.

    Example:
        >>> standard_name("order completed"), standard_name("Newsletter Joined")
        ('Order Completed', 'Newsletter Joined')
    """
    stripped = name.strip()
    return _STANDARD.get(" ".join(stripped.replace("_", " ").lower().split()), stripped)


def _amount(props: Mapping[str, Any], key: str, where: str = "properties") -> Decimal | None:
    """A money property as a Decimal (None when absent); RowError when it is not a number."""
    value = props.get(key)
    if value is None or value == "":
        return None
    column = f"{where}.{key}"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise RowError(column, "must be a number", value)
    return parse_decimal(str(value), column)


def _digest(msg: Mapping[str, Any], name: str, at: datetime, properties: Any) -> str:
    """What identifies a message besides its messageId: its event, time, people, properties."""
    when = msg.get("originalTimestamp") or at.isoformat()
    content = [name, str(when), msg.get("userId"), msg.get("anonymousId"), properties]
    text = json.dumps(content, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.blake2b(text.encode(), digest_size=6).hexdigest()


class EventStreamImporter:
    """Turns normalised Segment messages into store writes (shared by Segment and GA4).

    With ``orders=True`` an ``Order Completed`` message of a known person also creates the
    order, and ``Order Refunded`` its refund (see :func:`import_segment_events`).
    """

    def __init__(
        self,
        store: Store,
        report: ImportReport,
        *,
        source: str,
        batch_size: int,
        progress: ProgressOption,
        id_prefix: str,
        orders: bool = False,
        currency: str | None = None,
    ) -> None:
        self.store = store
        self.report = report
        self.source = source
        self.id_prefix = id_prefix
        self.orders = orders
        self.currency = currency
        # Orders this run created: id -> (customer id, total, currency, placed_at), bounded.
        self._orders: dict[str, tuple[str, Decimal, str, datetime]] = {}
        # messageId -> digest of the content first seen with it in this run, bounded.
        self._message_ids: dict[str, str] = {}
        self.resolver = Resolver(store)
        self.writer = BatchWriter(
            store,
            report,
            self.resolver,
            make_progress(progress, f"import {report.source}", unit="events"),
            batch_size=batch_size,
        )
        self._linked: set[str] = set()
        # What the message being read would remember, kept once it is queued (a rejected
        # message leaves no trace): links made, the order created, its messageId's digest.
        self._staged_links: list[str] = []
        self._staged_order: tuple[str, tuple[str, Decimal, str, datetime]] | None = None
        self._staged_message: tuple[int, str, str] | None = None

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
        queue_record(
            self.writer, line, self._item, (line, message), {},
            drop_staged=self._unstage, keep_staged=self._commit_staged,
        )  # fmt: skip

    def _unstage(self) -> None:
        self._staged_links.clear()
        self._staged_order = None
        self._staged_message = None

    def _commit_staged(self) -> None:
        if len(self._linked) > 200_000:
            self._linked.clear()
        self._linked.update(self._staged_links)
        if self._staged_order is not None:
            if len(self._orders) > 200_000:
                self._orders.clear()
            order_id, facts = self._staged_order
            self._orders[order_id] = facts
        if self._staged_message is not None:
            line, message_id, digest = self._staged_message
            if len(self._message_ids) > 200_000:
                self._message_ids.clear()
            first = self._message_ids.setdefault(message_id, digest)
            if first != digest:
                self.report.count("message_ids_reused")
                self.report.warn(
                    line=line, column="messageId", value=message_id,
                    reason="was used before in this file by a different message; both are kept",
                )  # fmt: skip
        self._unstage()

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
        context = msg.get("context") or {}
        if not isinstance(context, Mapping):
            raise RowError("context", "must be an object", context)
        traits = msg.get("traits") or context.get("traits") or {}
        if not isinstance(traits, Mapping):
            raise RowError("traits", "must be an object", traits)
        email = email_identity(str(traits.get("email") or ""), "traits.email")
        phone = phone_identity(str(traits.get("phone") or ""))
        known = [i for i in (email, phone) if i is not None]
        if user_id is not None:
            known.append(user_identity(user_id))
        if anonymous_id is not None:
            known.append(Identity(kind=IdentityKind.ANONYMOUS, value=anonymous_id))
        erased = [customer_id_identity(user_id)] if user_id is not None else []  # an erased id
        if self.resolver.is_suppressed([*known, *erased]):
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
                self._staged_links.append(key)
        if kind == "identify":
            if item.customer_state is None:
                # an anonymous identify only carries traits we cannot attach to anyone yet
                item.customer_state = "unchanged"
            return item
        name = msg.get("event") if kind == "track" else f"{kind.capitalize()} Viewed"
        if not isinstance(name, str) or not name.strip():
            raise RowError("event", "must be a non-empty event name", name)
        name = standard_name(name)
        properties = msg.get("properties") or {}
        if not isinstance(properties, Mapping):
            raise RowError("properties", "must be an object", properties)
        message_id = _text(msg.get("messageId"), "messageId")
        fields: dict[str, Any] = {}
        if message_id is not None:
            # A retry repeats a message exactly and is stored once; a different message that
            # reuses the messageId (some SDKs do) is another event, kept and reported.
            digest = _digest(msg, name, at, _json_safe(properties))
            fields["id"] = f"{self.id_prefix}{message_id}:{digest}"
            self._staged_message = (line, message_id, digest)
        if self.orders and name in ("Order Completed", "Order Refunded"):
            if customer_id is None:
                self.report.count("orders_without_customer")
            elif name == "Order Completed":
                self._order(item, customer_id, at, properties)
            else:
                self._refund(item, at, properties, fields.get("id") or message_id)
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

    def _order_id(self, props: Mapping[str, Any]) -> str:
        order_id = _text(props.get("order_id"), "properties.order_id")
        if order_id is None:
            raise RowError("properties.order_id", "is missing: the order cannot be recorded")
        return order_id

    def _known_order(self, order_id: str) -> tuple[str, Decimal, str, datetime] | None:
        known = self._orders.get(order_id)
        if known is not None:
            return known
        try:
            order = self.store.orders.get(order_id)
        except NotFoundError:
            return None
        return order.customer_id, order.total, order.currency, order.placed_at

    def _order(self, item: Item, customer_id: str, at: datetime, props: Mapping[str, Any]) -> None:
        """The order an ``Order Completed`` message states, unless the store has it already.

        An order the store holds (from the shop's own export, or an earlier run) is left as
        it is: the platform's record is the authority, the message stays an event.
        """
        order_id = self._order_id(props)
        if self._known_order(order_id) is not None:
            self.report.count("orders_already_known")
            return
        zero = Decimal(0)
        shipping = _amount(props, "shipping") or zero
        tax = _amount(props, "tax") or zero
        discount = _amount(props, "discount") or zero
        lines: list[OrderLine] = []
        products = props.get("products") or []
        if not isinstance(products, list):
            raise RowError("properties.products", "must be a list", products)
        for k, product in enumerate(products):
            column = f"properties.products[{k}]"
            if not isinstance(product, Mapping):
                raise RowError(column, "must be an object", product)
            price = _amount(product, "price", column)
            if price is None:
                raise RowError(column + ".price", "is missing", None)
            qty = product.get("quantity", 1)
            if isinstance(qty, bool) or not isinstance(qty, int | float):
                raise RowError(column + ".quantity", "must be a whole number", qty)
            quantity = parse_int(str(qty), column + ".quantity")
            sku = (
                _text(product.get("sku"), column + ".sku")
                or _text(product.get("product_id"), column + ".product_id")
                or _text(product.get("name"), column + ".name")
            )
            if sku is None:
                raise RowError(column, "has no sku, product_id or name", product)
            title = product.get("name")
            try:
                lines.append(
                    OrderLine(
                        sku=sku,
                        title=title if isinstance(title, str) else "",
                        quantity=quantity,
                        unit_price=price,
                    )
                )
            except ValidationError as exc:
                raise RowError.from_validation(exc, column) from None
        # Segment: total includes shipping and tax; revenue excludes them (after discounts).
        total = _amount(props, "total")
        if total is None:
            revenue = _amount(props, "revenue")
            if revenue is None:
                revenue = _amount(props, "subtotal")
            if revenue is not None:
                total = revenue + shipping + tax
        if total is None and not lines:
            raise RowError("properties.total", "is missing, and so are revenue and products", None)
        if not lines:
            assert total is not None
            lines = [
                OrderLine(sku="order", quantity=1, unit_price=total - shipping - tax + discount)
            ]
        currency = _text(props.get("currency"), "properties.currency") or self.currency
        if currency is None:
            raise RowError("properties.currency", "is missing and no currency= was given")
        fields: dict[str, Any] = {} if total is None else {"total": total}
        try:
            order = Order(
                id=order_id, customer_id=customer_id, placed_at=at, currency=currency,
                lines=lines, shipping=shipping, tax=tax, discount=discount,
                sales_channel=self.source, **fields,
            )  # fmt: skip
        except ValidationError as exc:
            bad = {"total": "properties.total", "currency": "properties.currency",
                   "discount": "properties.discount"}.get(exc.field or "")  # fmt: skip
            raise RowError.from_validation(exc, bad) from None
        item.order = order
        self.resolver.seen_at(item, customer_id, at)
        self._staged_order = (order_id, (customer_id, order.total, order.currency, at))

    def _refund(
        self, item: Item, at: datetime, props: Mapping[str, Any], refund_key: str | None
    ) -> None:
        """The refund an ``Order Refunded`` message states (the whole order when no amount)."""
        order_id = self._order_id(props)
        known = self._known_order(order_id)
        if known is None:
            raise RowError(
                "properties.order_id",
                "names an order the store does not hold (import the orders first)",
                order_id,
            )
        customer_id, order_total, currency, placed_at = known
        amount = _amount(props, "total")
        if amount is None:
            amount = _amount(props, "revenue")
        if amount is None:
            products = props.get("products") or []
            if isinstance(products, list) and products:
                amount = Decimal(0)
                for product in products:
                    if isinstance(product, Mapping):
                        qty = product.get("quantity", 1)
                        price = _amount(product, "price", "properties.products[]") or Decimal(0)
                        amount += price * (qty if isinstance(qty, int) else 1)
            else:
                amount = order_total
        stated = _text(props.get("currency"), "properties.currency")
        if stated is not None and stated.upper() != currency:
            raise RowError(
                "properties.currency", f"is not the order's currency ({currency})", stated
            )
        key = refund_key or _digest({}, "Order Refunded", at, _json_safe(props))
        item.refunds.append(
            Refund(
                id=f"{order_id}:refund:{key}",
                order_id=order_id,
                customer_id=customer_id,
                at=max(at, placed_at),
                amount=abs(amount),
                currency=currency,
                reason=_text(props.get("reason"), "properties.reason"),
            )
        )

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
        created = traits.get("createdAt") or traits.get("created_at")
        created_at = min(parse_datetime(str(created), "traits.createdAt"), at) if created else at
        if target is not None:
            resolver.seen_at(item, target, created_at)
        first = str(traits.get("firstName") or traits.get("first_name") or "")
        last = str(traits.get("lastName") or traits.get("last_name") or "")
        if target is None:
            customer = Customer(
                id=user_id if user_id is not None else customer_id_for(identities),
                created_at=created_at,
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
    currency: str | None = None,
) -> ImportReport:
    r"""Import Segment ``identify``/``track``/``page`` calls from a JSON-lines file.

    ``track`` calls become events; the e-commerce spec's names are recognised in any
    letter case (``order completed`` is stored as ``Order Completed``); ``page``/``screen``
    calls become ``Page Viewed``/``Screen Viewed``. ``userId`` is the customer id for new
    customers; an ``anonymousId`` seen with a ``userId`` is linked to that customer.
    Messages of erased people are counted as ``suppressed``.

    ``Order Completed`` of a known person also creates the order (id ``order_id``, lines
    from ``products``, amounts from ``total`` or ``revenue`` + ``shipping`` + ``tax``,
    currency from ``currency`` or the ``currency=`` argument), unless the store holds that
    order id already (counted in ``extra["orders_already_known"]``). ``Order Refunded``
    records a refund of ``total`` (else the ``products``' value, else the whole order) on
    an order the store holds. An order message without a person is kept as an event
    (``extra["orders_without_customer"]``).

    The event id is ``id_prefix + messageId`` and a digest of what the message says (event,
    time, userId, anonymousId, properties), so a retried message is stored once, a
    re-import stores nothing twice, and two different messages that share a messageId are
    both kept (``extra["message_ids_reused"]`` and a warning in the report).

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
        >>> _ = path.write_text(json.dumps(
        ...     {"type": "track", "event": "order completed", "userId": "u1", "messageId": "m3",
        ...      "timestamp": "2024-05-01T10:09:00Z",
        ...      "properties": {"order_id": "A-1", "total": 25.0, "currency": "EUR"}}))
        >>> import_segment_events(store, path).imported, store.orders.get("A-1").total
        (1, Decimal('25.0'))
    """
    file = source_name(path)
    report = ImportReport(source=file, kind="segment_events")
    importer = EventStreamImporter(
        store, report, source="segment", batch_size=batch_size, progress=progress,
        id_prefix=id_prefix, orders=True, currency=currency,
    )  # fmt: skip
    for line, message in read_json_lines(path):
        importer.handle(line, message)
    return importer.finish()
