"""WooCommerce: the orders CSV of the widely used "Order Export & Order Import" layout.

One row per order; line items sit in ``line_item_1``, ``line_item_2``... columns as
``name:Beanie|product_id:15|sku:WOO-BEANIE|quantity:2|total:36.00|sub_total:40.00|tax:0.00``
(``sub_total`` before coupons, ``total`` after). Coupons are in ``coupon_items``
(``code:SAVE10|amount:4.00``, several separated by ``;``) and refunds in ``refund_items``
(``id:55|date:2024-02-01 10:00:00|amount:10.00|reason:Damaged``). Dates are the site's
local time without an offset; pass the shop's ``timezone``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from ecomcrm.domain import (
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
    WOOCOMMERCE_STATUSES,
    email_identity,
    parse_datetime,
    parse_decimal,
    parse_int,
    parse_order_status,
    phone_identity,
)
from ecomcrm.io._csvfile import Header, cell, open_text, read_rows
from ecomcrm.io._items import add_rows, new_customer, optional_address, start_import, time_zone
from ecomcrm.io._people import Resolver, customer_id_for
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, source_name
from ecomcrm.storage import Store

_ZERO = Decimal(0)

WOOCOMMERCE_ORDER_COLUMNS: tuple[str, ...] = (
    "order_id", "order_number", "order_date", "paid_date", "status", "shipping_total",
    "shipping_tax_total", "fee_total", "fee_tax_total", "tax_total", "cart_discount",
    "order_discount", "discount_total", "order_total", "order_subtotal", "order_key",
    "order_currency", "payment_method", "payment_method_title", "transaction_id",
    "customer_ip_address", "customer_user_agent", "shipping_method", "customer_id",
    "customer_user", "customer_email", "billing_first_name", "billing_last_name",
    "billing_company", "billing_email", "billing_phone", "billing_address_1",
    "billing_address_2", "billing_postcode", "billing_city", "billing_state",
    "billing_country", "shipping_first_name", "shipping_last_name", "shipping_company",
    "shipping_phone", "shipping_address_1", "shipping_address_2", "shipping_postcode",
    "shipping_city", "shipping_state", "shipping_country", "customer_note", "wt_import_key",
    "shipping_items", "fee_items", "tax_items", "coupon_items", "refund_items", "order_notes",
    "download_permissions", "line_item_1", "line_item_2", "line_item_3",
)  # fmt: skip
"""The columns of the WooCommerce orders export read here (``line_item_N`` repeats)."""


def parse_pipe_fields(text: str) -> dict[str, str]:
    """``"a:1|b:x"`` as ``{"a": "1", "b": "x"}`` (values may contain ``:``).

    Example:
        >>> parse_pipe_fields("name:Beanie|quantity:2|meta:color:red")
        {'name': 'Beanie', 'quantity': '2', 'meta': 'color:red'}
    """
    out: dict[str, str] = {}
    for part in text.split("|"):
        key, sep, value = part.partition(":")
        if sep:
            out[key.strip()] = value.strip()
    return out


def woocommerce_line(
    column: str,
    *,
    sku: str,
    product_id: str,
    name: str,
    quantity: int,
    subtotal: Decimal,
    total: Decimal,
) -> OrderLine:
    """A WooCommerce line item: ``subtotal`` before coupons, ``total`` after (both ex tax).

    The unit price is ``subtotal / quantity`` and the coupons' share the line's discount.
    Without a sku the line is ``woo-<product_id>``, else its name. The CSV export and the
    REST API's order JSON both read their lines through here.

    Example:
        >>> woocommerce_line("line_items[0]", sku="", product_id="15", name="Beanie",
        ...     quantity=2, subtotal=Decimal("40.00"), total=Decimal("36.00")).sku
        'woo-15'
    """
    if quantity <= 0:
        raise RowError(column + ".quantity", "must be positive", quantity)
    sku = sku or (f"woo-{product_id}" if product_id and product_id != "0" else name)
    if not sku:
        raise RowError(column, "has no sku, product_id or name", name)
    try:
        return OrderLine(
            sku=sku,
            title=name,
            quantity=quantity,
            unit_price=(subtotal / quantity).quantize(Decimal("0.0001")).normalize()
            if subtotal % quantity
            else subtotal / quantity,
            discount=max(subtotal - total, _ZERO),
        )
    except ValidationError as exc:
        raise RowError.from_validation(exc, column) from None


def import_woocommerce_orders(
    store: Store,
    path: PathLike,
    *,
    timezone: str = "UTC",
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "wc-",
) -> ImportReport:
    r"""Import a WooCommerce orders CSV export (one row per order, ``line_item_N`` columns).

    Order ids are ``id_prefix + order_number`` (or ``order_id``). The customer is found by
    ``customer_email`` / ``billing_email`` (or phone, or the WooCommerce user id) and
    created when new. ``refund_items`` become refunds with their date and reason. Totals
    must agree: ``order_total = sum(line totals) + shipping + fees + taxes``; an order
    that does not is rejected naming ``order_total``.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import import_woocommerce_orders
        >>> text = (
        ...     "order_id,order_number,order_date,status,shipping_total,tax_total,order_total,"
        ...     "order_currency,customer_email,line_item_1\n"
        ...     "71,71,2024-03-02 09:30:00,completed,4.00,0.00,40.00,EUR,ada@example.com,"
        ...     "name:Beanie|sku:BEANIE|quantity:2|total:36.00|sub_total:36.00\n"
        ... )
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "woo_orders.csv"
        >>> _ = path.write_text(text)
        >>> store = ecomcrm.open_store("memory://")
        >>> import_woocommerce_orders(store, path, timezone="Europe/Paris").imported
        1
        >>> store.orders.get("wc-71").placed_at.isoformat()
        '2024-03-02T08:30:00+00:00'
    """
    zone = time_zone(timezone)
    writer = start_import(
        store, path, "woocommerce_orders", unit="orders", progress=progress, batch_size=batch_size
    )
    with open_text(path) as handle:
        names, rows = read_rows(handle)
        if not names:
            return writer.finish()
        h = Header(names, source_name(path))
        h.require("order_date")
        h.require("order_total")
        if h.find("order_number", "order_id") is None:
            h.require("order_number")
        line_cols = [i for i, n in enumerate(h.names) if n.lower().startswith("line_item_")]
        cols = {name: h.find(name) for name in WOOCOMMERCE_ORDER_COLUMNS}
        add_rows(
            writer, rows, _build, cols, line_cols, writer.resolver, zone, id_prefix, writer.report
        )
    return writer.finish()


def _build(
    row: list[str],
    line: int,
    cols: dict[str, int | None],
    line_cols: list[int],
    resolver: Resolver,
    zone: Any,
    id_prefix: str,
    report: ImportReport,
) -> Item | None:
    def get(name: str) -> str:
        return cell(row, cols.get(name)).strip()

    number = get("order_number") or get("order_id")
    if not number:
        raise RowError("order_number", "is empty", "")
    email = email_identity(get("customer_email") or get("billing_email"), "customer_email")
    phone = phone_identity(get("billing_phone"))
    user = get("customer_id") or get("customer_user")
    external = (
        Identity(kind=IdentityKind.EXTERNAL, value=f"woocommerce:{user}")
        if user and user != "0"
        else None
    )
    identities = [i for i in (email, phone, external) if i is not None]
    if not identities:
        raise RowError("customer_email", "is empty and there is no phone or customer id", "")
    if resolver.is_suppressed(identities):
        return None
    placed_at = parse_datetime(get("order_date"), "order_date", default_tz=zone)
    currency = get("order_currency") or "USD"
    lines: list[OrderLine] = []
    for index in line_cols:
        text = cell(row, index).strip()
        if not text:
            continue
        column = f"line_item_{len(lines) + 1}"
        fields = parse_pipe_fields(text)
        qty = parse_int(fields.get("quantity", ""), column + ".quantity")
        total = parse_decimal(fields.get("total", ""), column + ".total")
        sub = parse_decimal(fields.get("sub_total", ""), column + ".sub_total", default=total)
        lines.append(
            woocommerce_line(
                column,
                sku=fields.get("sku", ""),
                product_id=fields.get("product_id", ""),
                name=fields.get("name", ""),
                quantity=qty,
                subtotal=sub,
                total=total,
            )
        )
    if not lines:
        raise RowError("line_item_1", "the order has no line items", "")
    shipping = parse_decimal(get("shipping_total"), "shipping_total", default=_ZERO)
    fees = parse_decimal(get("fee_total"), "fee_total", default=_ZERO)
    tax = (
        parse_decimal(get("tax_total"), "tax_total", default=_ZERO)
        + parse_decimal(get("shipping_tax_total"), "shipping_tax_total", default=_ZERO)
        + parse_decimal(get("fee_tax_total"), "fee_tax_total", default=_ZERO)
    )
    total = parse_decimal(get("order_total"), "order_total")
    status_text = get("status")
    status = (
        parse_order_status(status_text, "status", WOOCOMMERCE_STATUSES)
        if status_text
        else OrderStatus.PAID
    )
    item = Item(line)
    customer_id = resolver.find_person(identities)
    if customer_id is not None:
        resolver.seen_at(item, customer_id, placed_at)
    else:
        customer_id = new_customer(
            item, resolver, report, customer_id_for(identities), identities, placed_at,
            first_name=get("billing_first_name"), last_name=get("billing_last_name"),
            country=get("billing_country").upper() or None
            if len(get("billing_country")) == 2
            else None,
        )  # fmt: skip
    address = optional_address(
        "shipping_address_1", line1=get("shipping_address_1"), line2=get("shipping_address_2"),
        city=get("shipping_city"), region=get("shipping_state"),
        postal_code=get("shipping_postcode"),
        country=get("shipping_country") if len(get("shipping_country")) == 2 else None,
    )  # fmt: skip
    codes = tuple(
        c["code"]
        for c in (parse_pipe_fields(p) for p in get("coupon_items").split(";"))
        if c.get("code")
    )
    order_id = id_prefix + number
    try:
        order = Order(
            id=order_id,
            customer_id=customer_id,
            placed_at=placed_at,
            currency=currency,
            lines=lines,
            shipping=shipping + fees,
            tax=tax,
            total=total,
            status=status,
            sales_channel="woocommerce",
            discount_codes=codes,
            shipping_address=address,
        )
    except ValidationError as exc:
        bad = {"total": "order_total", "currency": "order_currency"}.get(exc.field or "")
        raise RowError.from_validation(exc, bad) from None
    item.order = order
    refunded = _ZERO
    for k, part in enumerate(p for p in get("refund_items").split(";") if p.strip()):
        fields = parse_pipe_fields(part)
        amount = abs(parse_decimal(fields.get("amount", ""), "refund_items.amount"))
        refunded += amount
        if refunded > total:
            raise RowError(
                "refund_items.amount", f"refunds more than the order_total ({total})", part
            )
        when_text = fields.get("date", "")
        when = (
            parse_datetime(when_text, "refund_items.date", default_tz=zone)
            if when_text
            else placed_at
        )
        item.refunds.append(
            Refund(
                id=f"{order_id}:refund:{fields.get('id') or k + 1}",
                order_id=order_id,
                customer_id=customer_id,
                at=max(when, placed_at),
                amount=amount,
                currency=order.currency,
                reason=fields.get("reason") or None,
            )
        )
    return item
