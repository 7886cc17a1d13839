"""Shopify: the orders and customers CSV exports, and the privacy (GDPR) webhooks.

The orders export has one row per line item; the rows of one order follow each other and
share the ``Name`` column (``#1001``), and only the first row carries the order-level
columns (totals, dates, addresses). The customers export has one row per customer with the
``Accepts Email Marketing`` and ``Accepts SMS Marketing`` columns, which become consent
records whose ``source`` names the file and line.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

from ecomcrm.domain import (
    Address,
    Channel,
    Customer,
    Identity,
    IdentityKind,
    Order,
    OrderLine,
    OrderStatus,
    Refund,
)
from ecomcrm.errors import ValidationError
from ecomcrm.io._batches import DEFAULT_BATCH_SIZE
from ecomcrm.io._cells import (
    SHOPIFY_FINANCIAL_STATUSES,
    email_identity,
    parse_consent,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_order_status,
    phone_identity,
)
from ecomcrm.io._csvfile import Header, cell, open_text, read_groups, read_rows
from ecomcrm.io._items import (
    add_customer_row,
    add_record,
    add_rows,
    new_customer,
    optional_address,
    parse_tags,
    start_import,
)
from ecomcrm.io._parallel import LEFT_FOR_CALLER, Part, parallel_import_possible, run_parallel
from ecomcrm.io._people import Resolver, customer_id_for, merge_customer
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, reject, source_name
from ecomcrm.storage import ErasureReceipt, Store

_ZERO = Decimal(0)
_CENT_AND_A_BIT = Decimal("0.011")
_TWO_CENTS = Decimal("0.02")

SHOPIFY_ORDER_COLUMNS: tuple[str, ...] = (
    "Name", "Email", "Financial Status", "Paid at", "Fulfillment Status", "Fulfilled at",
    "Accepts Marketing", "Currency", "Subtotal", "Shipping", "Taxes", "Total", "Discount Code",
    "Discount Amount", "Shipping Method", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem compare at price", "Lineitem sku", "Lineitem requires shipping",
    "Lineitem taxable", "Lineitem fulfillment status", "Billing Name", "Billing Street",
    "Billing Address1", "Billing Address2", "Billing Company", "Billing City", "Billing Zip",
    "Billing Province", "Billing Country", "Billing Phone", "Shipping Name", "Shipping Street",
    "Shipping Address1", "Shipping Address2", "Shipping Company", "Shipping City",
    "Shipping Zip", "Shipping Province", "Shipping Country", "Shipping Phone", "Notes",
    "Note Attributes", "Cancelled at", "Payment Method", "Payment Reference", "Refunded Amount",
    "Vendor", "Outstanding Balance", "Employee", "Location", "Device ID", "Id", "Tags",
    "Risk Level", "Source", "Lineitem discount", "Tax 1 Name", "Tax 1 Value", "Tax 2 Name",
    "Tax 2 Value", "Tax 3 Name", "Tax 3 Value", "Tax 4 Name", "Tax 4 Value", "Tax 5 Name",
    "Tax 5 Value", "Phone", "Receipt Number", "Duties", "Billing Province Name",
    "Shipping Province Name", "Payment ID", "Payment Terms Name", "Next Payment Due At",
    "Payment References",
)  # fmt: skip
"""The columns of Shopify's orders export, in its order."""

SHOPIFY_CUSTOMER_COLUMNS: tuple[str, ...] = (
    "Customer ID", "First Name", "Last Name", "Email", "Accepts Email Marketing",
    "Default Address Company", "Default Address Address1", "Default Address Address2",
    "Default Address City", "Default Address Province Code", "Default Address Country Code",
    "Default Address Zip", "Default Address Phone", "Phone", "Accepts SMS Marketing",
    "Total Spent", "Total Orders", "Note", "Tax Exempt", "Tags",
)  # fmt: skip
"""The columns of Shopify's customers export, in its order."""


def _country(text: str) -> str | None:
    s = text.strip().upper()
    return s if len(s) == 2 and s.isalpha() else None


def _split_name(full: str) -> tuple[str, str]:
    parts = full.strip().split(None, 1)
    if not parts:
        return "", ""
    return parts[0], parts[1] if len(parts) > 1 else ""


class _OrderColumns:
    def __init__(self, header: Header) -> None:
        self.width = len(header.names) + 1  # rows are padded; the last cell is always ""
        blank = len(header.names)

        def f(name: str) -> int:
            found = header.find(name)
            return blank if found is None else found

        self.name = header.require("Name")
        self.created = header.require("Created at")
        self.currency = header.require("Currency")
        self.total = header.require("Total")
        self.qty = header.require("Lineitem quantity")
        self.price = header.require("Lineitem price")
        self.sku = f("Lineitem sku")
        self.title = f("Lineitem name")
        self.line_discount = f("Lineitem discount")
        self.email = f("Email")
        self.phone = f("Phone")
        self.billing_phone = f("Billing Phone")
        self.financial = f("Financial Status")
        self.fulfillment = f("Fulfillment Status")
        self.paid_at = f("Paid at")
        self.fulfilled_at = f("Fulfilled at")
        self.cancelled_at = f("Cancelled at")
        self.subtotal = f("Subtotal")
        self.shipping = f("Shipping")
        self.taxes = f("Taxes")
        self.discount_code = f("Discount Code")
        self.refunded = f("Refunded Amount")
        self.billing_name = f("Billing Name")
        self.billing_country = f("Billing Country")
        self.ship_address1 = f("Shipping Address1")
        self.ship_address2 = f("Shipping Address2")
        self.ship_city = f("Shipping City")
        self.ship_zip = f("Shipping Zip")
        self.ship_province = f("Shipping Province")
        self.ship_country = f("Shipping Country")
        self.source = f("Source")


def import_shopify_orders(
    store: Store,
    path: PathLike,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "",
    workers: int = 1,
) -> ImportReport:
    r"""Import a Shopify orders CSV export, streaming, ``batch_size`` orders per transaction.

    Each order (the consecutive rows sharing a ``Name``) becomes an :class:`~ecomcrm.domain.Order`
    with id ``id_prefix + Name``; its customer is found by email (or phone) and created
    when new, with an id derived from the email so every importer agrees on it. A
    ``Refunded Amount`` becomes a :class:`~ecomcrm.domain.Refund` dated at the order's
    latest known time (the export has no refund date). Orders of erased people are
    counted as ``suppressed`` and not imported; orders that cannot be read are rejected
    with their line, column and reason. Importing the same file again changes nothing.

    ``workers > 1`` reads and writes in that many processes when the store is empty (a
    first load) and another process can open it (it has a ``url``, as the SQLite store
    does); see :func:`~ecomcrm.io.parallel_import_possible`. Otherwise the import runs
    in this process; ``report.extra["workers"]`` says how many ran.

    Raises ValidationError when a required column (Name, Created at, Currency, Total,
    Lineitem quantity, Lineitem price) is missing from the header.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import import_shopify_orders
        >>> csv_text = (
        ...     "Name,Email,Financial Status,Currency,Subtotal,Shipping,Taxes,Total,Created at,"
        ...     "Lineitem quantity,Lineitem name,Lineitem price,Lineitem sku\n"
        ...     "#1001,ada@example.com,paid,EUR,30.00,5.00,0.00,35.00,2024-03-01 10:00:00 +0100,"
        ...     "1,Tee,10.00,TEE-1\n"
        ...     "#1001,ada@example.com,,,,,,,,2,Mug,10.00,MUG-1\n"
        ... )
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "orders_export.csv"
        >>> _ = path.write_text(csv_text)
        >>> store = ecomcrm.open_store("memory://")
        >>> report = import_shopify_orders(store, path)
        >>> report.imported, report.rejected, store.orders.get("#1001").total
        (1, 0, Decimal('35.00'))
    """
    if workers > 1 and parallel_import_possible(store):
        # A file that is not text (or not a file) is refused here, not by each worker.
        open_text(path).close()
        return run_parallel(
            store, path, _import_part, workers=workers, progress=progress,
            kind="shopify_orders", unit="orders", batch_size=batch_size, id_prefix=id_prefix,
        )  # fmt: skip
    return shopify_orders_part(store, path, None, batch_size, progress, id_prefix, None)


def _import_part(
    store: Store,
    path: PathLike,
    part: Part,
    batch_size: int,
    id_prefix: str,
    done: Callable[[int], None] | None,
) -> ImportReport:
    return shopify_orders_part(store, path, part, batch_size, None, id_prefix, done)


def shopify_orders_part(
    store: Store,
    path: PathLike,
    part: Part | None,
    batch_size: int,
    progress: ProgressOption,
    id_prefix: str,
    done: Callable[[int], None] | None,
) -> ImportReport:
    """Import the orders of one part of the file (all of it when ``part`` is None).

    A parallel import's worker parses in full only its own people's rows, and counts in
    ``extra[LEFT_FOR_CALLER]`` the orders without an email that it leaves to the caller.
    """
    file = source_name(path)
    writer = start_import(
        store, path, "shopify_orders", unit="orders", progress=progress, batch_size=batch_size,
        complete=part.complete if part is not None else None,
        fresh=part.fresh if part is not None else None, done=done, bulk=True,
    )  # fmt: skip
    report = writer.report
    resolver = writer.resolver
    found: list[_OrderColumns] = []

    def columns(names: list[str]) -> tuple[int, int]:
        found.append(_OrderColumns(Header(names, file)))
        return found[0].name, found[0].email

    left = 0  # groups without an email, for the caller's final pass

    def wanted(email: str) -> bool:
        nonlocal left
        if part is None or part.selects(email):
            return True
        left += not email.strip()
        return False

    with contextlib.closing(writer), open_text(path) as handle:
        _, groups = read_groups(handle, columns, wanted)
        for group in groups:
            start = group[0][0]
            unread = [(n, r) for n, r in group if isinstance(r, RowError)]
            if unread:  # a row that is not sound CSV: the order cannot be read whole
                report.rows += len(group)
                reject(report, unread[0][0], unread[0][1])
                continue
            cols = found[0]
            width = cols.width
            rows = cast(list[tuple[int, list[str]]], group)
            for _, row in rows:
                if len(row) < width:
                    row.extend([""] * (width - len(row)))
            report.rows += len(group)
            add_record(writer, start, _build_order, rows, cols, resolver, id_prefix, report)
    if part is not None and part.index >= 0:
        report.count(LEFT_FOR_CALLER, left)
    return writer.finish()


def _build_order(
    group: list[tuple[int, list[str]]],
    c: _OrderColumns,
    resolver: Resolver,
    id_prefix: str,
    report: ImportReport,
) -> Item | None:
    line, first = group[0]
    name = first[c.name].strip()
    if not name:
        raise RowError("Name", "is empty, every row needs its order's Name", "")
    email = resolver.email(first[c.email], "Email")
    phone_text = first[c.phone] or first[c.billing_phone]
    phone = resolver.phone(phone_text) if phone_text else None
    identities = [i for i in (email, phone) if i is not None]
    if not identities:
        if phone_text.strip():
            raise RowError(
                "Phone" if first[c.phone] else "Billing Phone",
                "is not in international form (+ and country code) and Email is empty: the "
                "order has no customer",
                phone_text,
            )
        raise RowError("Email", "is empty and there is no phone: the order has no customer", "")
    if resolver.is_suppressed(identities):
        return None
    placed_at = parse_datetime(first[c.created], "Created at")
    currency = first[c.currency]

    lines: list[OrderLine] = []
    for row_line, row in group:
        try:
            row_currency = row[c.currency]
            if row_currency and row_currency != currency:
                raise RowError(
                    "Currency",
                    f"differs from the order's first row ({currency!r}): one order has one "
                    "currency",
                    row_currency,
                )
            qty = parse_int(row[c.qty], "Lineitem quantity")
            price = parse_decimal(row[c.price], "Lineitem price")
            disc = parse_decimal(row[c.line_discount], "Lineitem discount", default=_ZERO)
            title = row[c.title].strip()
            sku = row[c.sku].strip() or title
            if not sku:
                raise RowError("Lineitem sku", "is empty and so is Lineitem name", "")
            try:
                lines.append(
                    OrderLine(sku=sku, title=title, quantity=qty, unit_price=price, discount=disc)
                )
            except ValidationError as exc:
                raise RowError.from_validation(exc) from None
        except RowError as exc:
            exc.line = row_line
            raise
    line_sum = sum((ln.total for ln in lines), _ZERO)
    subtotal = parse_decimal(first[c.subtotal], "Subtotal", default=line_sum)
    shipping = parse_decimal(first[c.shipping], "Shipping", default=_ZERO)
    taxes = parse_decimal(first[c.taxes], "Taxes", default=_ZERO)
    total = parse_decimal(first[c.total], "Total")
    tolerance = _CENT_AND_A_BIT * max(1, len(lines))
    if subtotal - line_sum > tolerance:
        raise RowError("Subtotal", f"is more than the sum of the line items ({line_sum})", subtotal)
    discount = max(line_sum - subtotal, _ZERO)
    if abs(subtotal + shipping + taxes - total) <= _TWO_CENTS:
        taxes_included = False
    elif abs(subtotal + shipping - total) <= _TWO_CENTS:
        taxes_included = True
    else:
        raise RowError(
            "Total", f"is not Subtotal + Shipping + Taxes ({subtotal + shipping + taxes})", total
        )
    cancelled_text = first[c.cancelled_at]
    cancelled_at = parse_datetime(cancelled_text, "Cancelled at") if cancelled_text else None
    paid_text = first[c.paid_at]
    fulfilled_text = first[c.fulfilled_at]
    shipped_at = parse_datetime(fulfilled_text, "Fulfilled at") if fulfilled_text else None
    financial = first[c.financial].strip()
    if financial:
        status = parse_order_status(financial, "Financial Status", SHOPIFY_FINANCIAL_STATUSES)
    else:
        status = OrderStatus.PAID if paid_text else OrderStatus.PENDING
    if status is OrderStatus.PAID and first[c.fulfillment].strip().lower() == "fulfilled":
        status = OrderStatus.FULFILLED
    if cancelled_at is not None:
        status = OrderStatus.CANCELLED
    code = first[c.discount_code].strip()
    address = _shipping_address(first, c)

    item = Item(line)
    customer_id = resolver.find_person(identities)
    if customer_id is not None:
        resolver.seen_at(item, customer_id, placed_at)
    else:
        first_name, last_name = _split_name(first[c.billing_name])
        customer_id = new_customer(
            item, resolver, report, customer_id_for(identities), identities, placed_at,
            first_name=first_name, last_name=last_name, country=_country(first[c.billing_country]),
        )  # fmt: skip
    try:
        order = Order(
            id=id_prefix + name,
            customer_id=customer_id,
            placed_at=placed_at,
            currency=currency,
            lines=lines,
            subtotal=line_sum,
            discount=discount,
            shipping=shipping,
            tax=taxes,
            taxes_included=taxes_included,
            total=total,
            status=status,
            sales_channel=first[c.source].strip() or None,
            discount_codes=(code,) if code else (),
            shipping_address=address,
            cancelled_at=cancelled_at,
            shipped_at=shipped_at,
        )
    except ValidationError as exc:
        column = {"currency": "Currency", "total": "Total", "discount": "Discount Amount"}.get(
            exc.field or ""
        )
        raise RowError.from_validation(exc, column) from None
    item.order = order
    refunded = parse_decimal(first[c.refunded], "Refunded Amount", default=_ZERO)
    if refunded > total:
        raise RowError("Refunded Amount", f"is more than the order's Total ({total})", refunded)
    if refunded > 0:
        when = max(
            t
            for t in (
                placed_at,
                shipped_at,
                cancelled_at,
                parse_datetime(paid_text, "Paid at") if paid_text else None,
            )
            if t is not None
        )
        item.refunds.append(
            Refund(
                id=f"{order.id}:refund",
                order_id=order.id,
                customer_id=customer_id,
                at=when,
                amount=refunded,
                currency=order.currency,
                reason="refunded (Shopify export)",
            )
        )
    return item


def _shipping_address(row: list[str], c: _OrderColumns) -> Address | None:
    line1 = row[c.ship_address1].strip()
    if not line1:
        return None
    return optional_address(
        "Shipping Address1",
        line1=line1,
        line2=row[c.ship_address2],
        city=row[c.ship_city],
        region=row[c.ship_province],
        postal_code=row[c.ship_zip],
        country=_country(row[c.ship_country]),
    )


# --- customers export --------------------------------------------------------------------------


def import_shopify_customers(
    store: Store,
    path: PathLike,
    *,
    exported_at: datetime | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
) -> ImportReport:
    r"""Import a Shopify customers CSV export, with marketing consents.

    Each row becomes a customer (found by Shopify id, email or phone, else created with
    an id derived from the email). ``Accepts Email Marketing`` and ``Accepts SMS
    Marketing`` become :class:`~ecomcrm.domain.Consent` records dated ``exported_at``
    (default: when the import runs) with ``source`` ``"<file>:<line>"``; a consent is
    recorded only when it changes the customer's current state, so a re-import adds
    nothing. The export has no dates, so a new person's ``created_at`` is ``exported_at``
    (or the import's time) until an earlier order or event lowers it: ``created_at`` is
    always the earliest date known of the person, whichever file came first. The legacy layout (``Accepts Marketing``, ``Address1``...)
    is read too. Rows of erased people are counted as ``suppressed``.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.io import import_shopify_customers
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "customers_export.csv"
        >>> _ = path.write_text(
        ...     "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Accepts SMS Marketing\n"
        ...     "'7001,Ada,Lovelace,ada@example.com,yes,no\n")
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 6, 1, tzinfo=timezone.utc)
        >>> report = import_shopify_customers(store, path, exported_at=t)
        >>> customer = store.customers.find_by_identity(ecomcrm.domain.Identity.email("ada@example.com"))
        >>> store.consents.is_granted(customer.id, "email", "marketing"), report.extra["consents"]
        (True, 2)
    """
    file = source_name(path)
    # The export states no dates: without exported_at, what is known is that each person
    # existed when this import ran (never the file's modification time, which copying changes).
    at = exported_at if exported_at is not None else datetime.now(UTC).replace(microsecond=0)
    writer = start_import(
        store, path, "shopify_customers", unit="customers", progress=progress,
        batch_size=batch_size,
    )  # fmt: skip
    with open_text(path) as handle:
        names, rows = read_rows(handle)
        if not names:
            return writer.finish()
        h = Header(names, file)
        f = h.find
        cols = {
            "id": f("Customer ID", "ID", "Id"),
            "first": f("First Name"),
            "last": f("Last Name"),
            "email": f("Email"),
            "phone": f("Phone"),
            "address_phone": f("Default Address Phone"),
            "email_mkt": f("Accepts Email Marketing", "Accepts Marketing"),
            "sms_mkt": f("Accepts SMS Marketing"),
            "company": f("Default Address Company", "Company"),
            "address1": f("Default Address Address1", "Address1"),
            "address2": f("Default Address Address2", "Address2"),
            "city": f("Default Address City", "City"),
            "province": f("Default Address Province Code", "Province Code", "Province"),
            "country": f("Default Address Country Code", "Country Code"),
            "zip": f("Default Address Zip", "Zip"),
            "tags": f("Tags"),
        }
        if cols["email"] is None and cols["phone"] is None and cols["id"] is None:
            h.require("Email")
        add_rows(writer, rows, _build_customer, cols, writer.resolver, at, file)
    return writer.finish()


def _build_customer(
    row: list[str],
    line: int,
    cols: Mapping[str, int | None],
    resolver: Resolver,
    at: datetime,
    file: str,
) -> Item | None:
    def get(key: str) -> str:
        return cell(row, cols[key]).strip()

    email = email_identity(get("email"), "Email")
    phone = phone_identity(get("phone")) or phone_identity(get("address_phone"))
    shopify_id = get("id").lstrip("'")
    external = (
        Identity(kind=IdentityKind.EXTERNAL, value=f"shopify:{shopify_id}") if shopify_id else None
    )
    identities = [i for i in (email, phone, external) if i is not None]
    if not identities:
        raise RowError("Email", "is empty and there is no phone or Customer ID", "")
    if resolver.is_suppressed(identities):
        return None
    email_consent = parse_consent(get("email_mkt"), "Accepts Email Marketing")
    sms_consent = parse_consent(get("sms_mkt"), "Accepts SMS Marketing")
    country = _country(get("country"))
    address = optional_address(
        "Default Address Address1", line1=get("address1"), line2=get("address2"),
        city=get("city"), region=get("province"), postal_code=get("zip"), country=country,
    )  # fmt: skip
    tags = parse_tags(get("tags"))
    item = Item(line)
    existing_id = resolver.find_person(identities)
    existing = resolver.get(existing_id) if existing_id else None
    try:
        if existing is None:
            customer = Customer(
                id=customer_id_for(identities),
                created_at=at,
                identities=identities,
                first_name=get("first"),
                last_name=get("last"),
                country=country,
                addresses=(address,) if address else (),
                tags=tags,
            )
        else:
            addresses = existing.addresses
            if address is not None and address not in addresses:
                addresses = (address, *addresses)
            customer = merge_customer(
                existing,
                identities=identities,
                first_name=get("first"),
                last_name=get("last"),
                country=country,
                addresses=addresses,
                tags=tags,
                created_at=min(existing.created_at, at),
            )
    except ValidationError as exc:
        raise RowError.from_validation(exc) from None
    source = f"{file}:{line}"
    add_customer_row(
        item, resolver, existing, customer, at,
        ((Channel.EMAIL, email_consent, source), (Channel.SMS, sms_consent, source)),
    )  # fmt: skip
    return item


# --- privacy webhooks -----------------------------------------------------------------------


def _webhook_customer(store: Store, payload: Mapping[str, Any]) -> str | None:
    person = payload.get("customer")
    if not isinstance(person, Mapping):
        raise ValidationError(
            "must be an object with id, email and phone", entity="webhook", field="customer",
            value=person,
        )  # fmt: skip
    identities: list[Identity] = []
    if person.get("id") not in (None, ""):
        identities.append(Identity(kind=IdentityKind.EXTERNAL, value=f"shopify:{person['id']}"))
    if isinstance(person.get("email"), str) and person["email"].strip():
        with contextlib.suppress(ValidationError):
            identities.append(Identity.email(person["email"]))
    if isinstance(person.get("phone"), str):
        found_phone = phone_identity(person["phone"])
        if found_phone is not None:
            identities.append(found_phone)
    for identity in identities:
        customer = store.customers.find_by_identity(identity)
        if customer is not None:
            return customer.id
    return None


def shopify_customer_redact(
    store: Store, payload: Mapping[str, Any], *, keep_order_facts: bool = False
) -> ErasureReceipt | None:
    """Handle Shopify's ``customers/redact`` webhook: erase the person.

    The customer is found by Shopify id, email or phone; their personal data is erased
    and their identities suppressed, so a later import does not bring them back. Returns
    the receipt, or None when the store holds nobody matching.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> shopify_customer_redact(store, {"customer": {"id": 1, "email": "x@example.com"}}) is None
        True
    """
    customer_id = _webhook_customer(store, payload)
    if customer_id is None:
        return None
    return store.erase(customer_id, keep_order_facts=keep_order_facts)


def shopify_data_request(store: Store, payload: Mapping[str, Any]) -> dict[str, Any] | None:
    """Handle Shopify's ``customers/data_request`` webhook: everything stored on the person.

    Returns the store's export document, or None when nobody matches.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> shopify_data_request(store, {"customer": {"email": "x@example.com"}}) is None
        True
    """
    customer_id = _webhook_customer(store, payload)
    if customer_id is None:
        return None
    return store.export(customer_id)


def handle_shopify_webhook(
    store: Store, topic: str, payload: Mapping[str, Any], *, keep_order_facts: bool = False
) -> ErasureReceipt | dict[str, Any] | None:
    """Dispatch a Shopify privacy webhook by topic (``customers/redact``, ``customers/data_request``).

    ``shop/redact`` asks to delete the whole shop's data; that is the app's decision
    (drop the store), so it raises ValidationError like any other topic.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> handle_shopify_webhook(store, "customers/data_request", {"customer": {"id": 9}}) is None
        True
    """
    if topic == "customers/redact":
        return shopify_customer_redact(store, payload, keep_order_facts=keep_order_facts)
    if topic == "customers/data_request":
        return shopify_data_request(store, payload)
    raise ValidationError(
        "is not a customer privacy topic (customers/redact, customers/data_request)",
        entity="webhook",
        field="topic",
        value=topic,
    )
