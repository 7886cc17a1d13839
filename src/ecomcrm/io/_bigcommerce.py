"""BigCommerce: the orders CSV of the default export template (Orders > Export > "Default").

One row per order: ``Order ID``, ``Customer ID`` (0 for a guest), ``Customer Name``,
``Customer Email``, ``Customer Phone``, ``Order Date``, ``Order Status``, ``Subtotal (inc
tax)``, ``Subtotal (ex tax)``, ``Tax Total``, ``Shipping Cost (inc tax)``, ``Shipping Cost
(ex tax)``, ``Handling Cost (...)``, ``Coupon Details``, ``Order Total (inc tax)``, ``Order
Total (ex tax)``, ``Date Shipped``, ``Order Currency Code``, billing and shipping
addresses, ``Product Details`` and ``Refund Amount``. ``Product Details`` holds the lines,
``|``-separated, each ``Product ID: 82, Product Qty: 2, Product SKU: TEE-M, Product
Name: Tee, Product Weight: 0.5, Product Variation Details: Size: M, Product Unit Price:
12.50, Product Total Price: 25.00``. Order ids are ``bc-<Order ID>`` as the BigCommerce
webhooks name them; customers are found by email, then phone, then BigCommerce id.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ecomcrm.domain import Address, Identity, IdentityKind, Order, OrderLine, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io._batches import DEFAULT_BATCH_SIZE
from ecomcrm.io._cells import email_identity, parse_int, parse_order_status, phone_identity
from ecomcrm.io._csvfile import Header, cell, open_text, read_rows
from ecomcrm.io._export_cells import check_width, export_datetime, export_money
from ecomcrm.io._items import add_rows, new_customer, optional_address, start_import, time_zone
from ecomcrm.io._people import Resolver, customer_id_for
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, source_name
from ecomcrm.io._webhook_core import Reads
from ecomcrm.io._webhook_map import refunded_total
from ecomcrm.storage import Store

_ZERO = Decimal(0)

BIGCOMMERCE_ORDER_COLUMNS: tuple[str, ...] = (
    "Order ID", "Customer ID", "Customer Name", "Customer Email", "Customer Phone",
    "Order Date", "Order Status", "Subtotal (inc tax)", "Subtotal (ex tax)", "Tax Total",
    "Shipping Cost (inc tax)", "Shipping Cost (ex tax)", "Ship Method",
    "Handling Cost (inc tax)", "Handling Cost (ex tax)", "Store Credit Redeemed",
    "Gift Certificate Amount Redeemed", "Gift Certificate Code",
    "Gift Certificate Expiration Date", "Coupon Details", "Order Total (inc tax)",
    "Order Total (ex tax)", "Payment Method", "Total Quantity", "Total Shipped",
    "Date Shipped", "Order Currency Code", "Exchange Rate", "Order Notes", "Customer Message",
    "Billing First Name", "Billing Last Name", "Billing Company", "Billing Street 1",
    "Billing Street 2", "Billing Suburb", "Billing State", "Billing Zip", "Billing Country",
    "Billing Phone", "Billing Email", "Shipping First Name", "Shipping Last Name",
    "Shipping Company", "Shipping Street 1", "Shipping Street 2", "Shipping Suburb",
    "Shipping State", "Shipping Zip", "Shipping Country", "Shipping Phone", "Shipping Email",
    "Product Details", "Refund Amount", "Channel ID", "Channel Name",
)  # fmt: skip
"""The columns of BigCommerce's default orders export template, in its order."""

#: BigCommerce's order status names and what they mean here.
BIGCOMMERCE_STATUS_NAMES: dict[str, OrderStatus] = {
    "incomplete": OrderStatus.PENDING, "pending": OrderStatus.PENDING,
    "awaiting payment": OrderStatus.PENDING, "manual verification required": OrderStatus.PENDING,
    "awaiting fulfillment": OrderStatus.PAID, "awaiting shipment": OrderStatus.PAID,
    "awaiting pickup": OrderStatus.PAID, "partially shipped": OrderStatus.PAID,
    "disputed": OrderStatus.PAID, "shipped": OrderStatus.SHIPPED,
    "completed": OrderStatus.FULFILLED, "refunded": OrderStatus.REFUNDED,
    "partially refunded": OrderStatus.PARTIALLY_REFUNDED, "cancelled": OrderStatus.CANCELLED,
    "declined": OrderStatus.CANCELLED,
}  # fmt: skip

_PRODUCT_KEY = re.compile(
    r"(?:^|,\s*)Product (ID|Qty|SKU|Name|Weight|Variation Details|Unit Price|Total Price):\s*"
)
_NEXT_PRODUCT = re.compile(r"\|(?=\s*Product ID:)")
_COUPON_CODE = re.compile(r"Coupon Code:\s*([^,|]+)")


def parse_product_details(text: str, column: str = "Product Details") -> list[dict[str, str]]:
    """The products of a BigCommerce ``Product Details`` cell, one dict of fields each.

    Names and variation details may hold commas and ``|``: a field runs up to the next
    ``, Product <Key>:`` marker, a product up to the next ``|Product ID:``.

    Example:
        >>> parse_product_details("Product ID: 82, Product Qty: 2, Product SKU: TEE, "
        ...     "Product Name: Tee, red, Product Unit Price: 12.50|Product ID: 7, Product Qty: 1")
        [{'ID': '82', 'Qty': '2', 'SKU': 'TEE', 'Name': 'Tee, red', 'Unit Price': '12.50'}, {'ID': '7', 'Qty': '1'}]
    """
    products: list[dict[str, str]] = []
    for part in _NEXT_PRODUCT.split(text):
        part = part.strip()
        if not part:
            continue
        marks = list(_PRODUCT_KEY.finditer(part))
        if not marks or marks[0].start() != 0:
            raise RowError(column, "is not a list of 'Product ID: ..., Product Qty: ...'", part)
        fields: dict[str, str] = {}
        for k, mark in enumerate(marks):
            end = marks[k + 1].start() if k + 1 < len(marks) else len(part)
            fields[mark.group(1)] = part[mark.end() : end].strip()
        products.append(fields)
    return products


def import_bigcommerce_orders(
    store: Store,
    path: PathLike,
    *,
    currency: str = "USD",
    timezone: str = "UTC",
    dayfirst: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "bc-",
) -> ImportReport:
    r"""Import a BigCommerce orders CSV exported with the default template.

    The customer is found by ``Customer Email`` (or ``Billing Email``), ``Customer
    Phone`` (or ``Billing Phone``, international form), or the BigCommerce ``Customer
    ID``, and created when new: a buyer with a phone only is kept. Lines come from
    ``Product Details``; the currency is ``Order Currency Code`` (else ``currency``).
    When the lines add up to ``Subtotal (inc tax)`` rather than ``(ex tax)``, prices
    include tax. ``Order Total (inc tax)`` is the total; what it lacks against lines +
    shipping + handling + tax is the discount (coupons). ``Refund Amount`` becomes a
    refund, ``Date Shipped`` the shipping time. Dates are read in ``timezone``, including
    a spreadsheet's ``03/01/2024`` (``dayfirst``) and Excel day numbers.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import import_bigcommerce_orders
        >>> text = (
        ...     "Order ID,Customer ID,Customer Email,Order Date,Order Status,Subtotal (ex tax),"
        ...     "Tax Total,Shipping Cost (ex tax),Order Total (inc tax),Order Currency Code,"
        ...     "Product Details\n"
        ...     "250,0,ada@example.com,2024-03-01 10:00:00,Completed,25.00,2.00,5.00,32.00,GBP,"
        ...     '"Product ID: 82, Product Qty: 2, Product SKU: TEE, Product Name: Tee, '
        ...     'Product Unit Price: 12.50, Product Total Price: 25.00"\n'
        ... )
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "orders-2024-03-01.csv"
        >>> _ = path.write_text(text)
        >>> store = ecomcrm.open_store("memory://")
        >>> import_bigcommerce_orders(store, path).imported
        1
        >>> order = store.orders.get("bc-250")
        >>> order.total, order.currency, [(l.sku, l.quantity) for l in order.lines]
        (Decimal('32.00'), 'GBP', [('TEE', 2)])
    """
    zone = time_zone(timezone)
    writer = start_import(
        store, path, "bigcommerce_orders", unit="orders", progress=progress,
        batch_size=batch_size,
    )  # fmt: skip
    with open_text(path) as handle:
        names, rows = read_rows(handle)
        if not names:
            return writer.finish()
        h = Header(names, source_name(path))
        for required in ("Order ID", "Order Date", "Order Total (inc tax)"):
            h.require(required)
        cols = {name: h.find(name) for name in BIGCOMMERCE_ORDER_COLUMNS}
        add_rows(
            writer, rows, _build, cols, len(h.names), writer.resolver, zone, dayfirst,
            currency, id_prefix, writer.report,
        )  # fmt: skip
    return writer.finish()


def _build(
    row: list[str],
    line: int,
    cols: dict[str, int | None],
    width: int,
    resolver: Resolver,
    zone: Any,
    dayfirst: bool,
    currency: str,
    id_prefix: str,
    report: ImportReport,
) -> Item | None:
    check_width(row, width)

    def get(name: str) -> str:
        return cell(row, cols.get(name)).strip()

    number = get("Order ID")
    if not number:
        raise RowError("Order ID", "is empty", "")
    email_column = "Customer Email" if get("Customer Email") else "Billing Email"
    email = email_identity(get(email_column), email_column)
    phone = phone_identity(get("Customer Phone") or get("Billing Phone"))
    user = get("Customer ID")
    external = (
        Identity(kind=IdentityKind.EXTERNAL, value=f"bigcommerce:{user}")
        if user and user != "0"
        else None
    )
    identities = [i for i in (email, phone, external) if i is not None]
    if not identities:
        raise RowError(
            "Customer Email",
            "is empty and there is no phone (in international form) or customer id",
            "",
        )
    if resolver.is_suppressed(identities):
        return None
    placed_at = export_datetime(get("Order Date"), "Order Date", zone=zone, dayfirst=dayfirst)
    code = get("Order Currency Code").upper() or currency
    total, code = export_money(get("Order Total (inc tax)"), "Order Total (inc tax)", currency=code)

    def money(column: str) -> Decimal:
        return export_money(get(column), column, currency=code)[0] if get(column) else _ZERO

    lines = _lines(get("Product Details"), code)
    line_sum = sum((x.total for x in lines), _ZERO)
    sub_ex, sub_inc = money("Subtotal (ex tax)"), money("Subtotal (inc tax)")
    included = bool(lines) and line_sum == sub_inc != sub_ex
    kind = "inc tax" if included else "ex tax"
    shipping = money(f"Shipping Cost ({kind})") + money(f"Handling Cost ({kind})")
    tax = money("Tax Total")
    subtotal = line_sum if lines else (sub_inc if included else sub_ex or sub_inc)
    before = subtotal + shipping + (_ZERO if included else tax)
    status_text = get("Order Status")
    status = (
        parse_order_status(status_text, "Order Status", BIGCOMMERCE_STATUS_NAMES)
        if status_text
        else OrderStatus.PAID
    )
    shipped = get("Date Shipped")
    shipped_at = (
        max(export_datetime(shipped, "Date Shipped", zone=zone, dayfirst=dayfirst), placed_at)
        if shipped
        else None
    )
    item = Item(line)
    customer_id = resolver.find_person(identities)
    if customer_id is not None:
        resolver.seen_at(item, customer_id, placed_at)
    else:
        first, _, last = get("Customer Name").partition(" ")
        customer_id = new_customer(
            item, resolver, report, customer_id_for(identities), identities, placed_at,
            first_name=get("Billing First Name") or first,
            last_name=get("Billing Last Name") or last,
        )  # fmt: skip
    order_id = id_prefix + number
    codes = tuple(c.strip() for c in _COUPON_CODE.findall(get("Coupon Details")))
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at, currency=code,
            lines=lines, subtotal=subtotal, discount=max(before - total, _ZERO),
            shipping=shipping, tax=tax, taxes_included=included, total=total, status=status,
            sales_channel="bigcommerce", discount_codes=codes,
            shipping_address=_address(get), shipped_at=shipped_at,
            cancelled_at=placed_at if status is OrderStatus.CANCELLED else None,
        )  # fmt: skip
    except ValidationError as exc:
        bad = {"total": "Order Total (inc tax)", "currency": "Order Currency Code",
               "subtotal": "Product Details"}  # fmt: skip
        raise RowError.from_validation(exc, bad.get(exc.field or "")) from None
    item.order = order
    refunded = money("Refund Amount")
    if refunded:
        item.refunds.extend(
            refunded_total(Reads(resolver.store), order, refunded, "Refund Amount", placed_at)
        )
    return item


def _lines(text: str, currency: str) -> list[OrderLine]:
    lines: list[OrderLine] = []
    for k, fields in enumerate(parse_product_details(text)):
        where = f"Product Details[{k}]"
        qty = parse_int(fields.get("Qty", ""), f"{where}.Product Qty")
        if qty <= 0:
            continue
        name = fields.get("Name", "")
        sku = fields.get("SKU") or (f"bc-{fields['ID']}" if fields.get("ID") else name)
        if "Unit Price" in fields:
            price = export_money(fields["Unit Price"], f"{where}.Product Unit Price",
                                 currency=currency)[0]  # fmt: skip
        else:
            line_total = export_money(fields.get("Total Price", ""),
                                      f"{where}.Product Total Price", currency=currency)[0]  # fmt: skip
            price = line_total / qty
        try:
            lines.append(OrderLine(sku=sku, title=name, quantity=qty, unit_price=price))
        except ValidationError as exc:
            raise RowError.from_validation(exc, where) from None
    return lines


def _address(get: Callable[[str], str]) -> Address | None:
    country = get("Shipping Country")
    return optional_address(
        "Shipping Street 1", line1=get("Shipping Street 1"), line2=get("Shipping Street 2"),
        city=get("Shipping Suburb"), region=get("Shipping State"),
        postal_code=get("Shipping Zip"),
        country=country.upper() if len(country) == 2 and country.isalpha() else None,
    )  # fmt: skip
