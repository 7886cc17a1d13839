"""Magento 2 / Adobe Commerce: the admin order grid's "Export > CSV" (Sales > Orders).

The grid exports the columns it shows, with their labels as headers: by default ``ID``
(the order number, ``000000042``), ``Purchase Point``, ``Purchase Date``, ``Bill-to
Name``, ``Ship-to Name``, ``Grand Total (Base)``, ``Grand Total (Purchased)`` and
``Status``; ``Customer Email``, ``Customer Name``, ``Subtotal``, ``Shipping and
Handling``, ``Total Refunded``, ``Customer Group``, ``Payment Method``, ``Billing
Address``, ``Shipping Address`` and ``Shipping Information`` are hidden until ticked under
*Columns*. ``Customer Email`` is needed here (Magento names a customer by email):
tick it before exporting. The grid has no line items, so the orders come without lines.

Dates are in the admin's time zone (pass the store's ``timezone``), amounts are in the
base currency (``Grand Total (Base)``) and the order's (``Grand Total (Purchased)``),
with or without a currency symbol; a bare amount is in ``currency``. Order ids are
``mg-<increment_id>``, as the Magento webhooks name them.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from ecomcrm.domain import Order, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io._batches import DEFAULT_BATCH_SIZE
from ecomcrm.io._cells import email_identity, parse_order_status
from ecomcrm.io._csvfile import Header, cell, open_text, read_rows
from ecomcrm.io._export_cells import (
    check_width,
    export_datetime,
    export_money,
    magento_increment_id,
)
from ecomcrm.io._items import add_rows, new_customer, start_import, time_zone
from ecomcrm.io._people import Resolver, customer_id_for
from ecomcrm.io._progress import ProgressOption
from ecomcrm.io._report import ImportReport
from ecomcrm.io._rows import Item, PathLike, RowError, source_name
from ecomcrm.io._webhook_core import Reads
from ecomcrm.io._webhook_magento import MAGENTO_STATUSES
from ecomcrm.io._webhook_map import refunded_total
from ecomcrm.storage import Store

_ZERO = Decimal(0)

MAGENTO_ORDER_COLUMNS: tuple[str, ...] = (
    "ID", "Purchase Point", "Purchase Date", "Bill-to Name", "Ship-to Name",
    "Grand Total (Base)", "Grand Total (Purchased)", "Status", "Billing Address",
    "Shipping Address", "Shipping Information", "Customer Email", "Customer Group",
    "Subtotal", "Shipping and Handling", "Customer Name", "Payment Method", "Total Refunded",
)  # fmt: skip
"""The columns of the Magento 2 admin order grid's CSV export (the first eight shown by default)."""

#: The grid's status labels (and the status codes) and what they mean here.
MAGENTO_STATUS_LABELS: dict[str, OrderStatus] = {
    **MAGENTO_STATUSES,
    "on hold": OrderStatus.PENDING, "on_hold": OrderStatus.PENDING,
    "suspected fraud": OrderStatus.PENDING, "suspected_fraud": OrderStatus.PENDING,
    "payment review": OrderStatus.PENDING, "pending payment": OrderStatus.PENDING,
    "complete": OrderStatus.FULFILLED, "completed": OrderStatus.FULFILLED,
    "cancelled": OrderStatus.CANCELLED,
}  # fmt: skip


def import_magento_orders(
    store: Store,
    path: PathLike,
    *,
    currency: str = "USD",
    timezone: str = "UTC",
    dayfirst: bool = False,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: ProgressOption = None,
    id_prefix: str = "mg-",
) -> ImportReport:
    r"""Import the Magento 2 admin order grid's CSV export (Sales > Orders > Export > CSV).

    One row per order, without line items. The customer is found by ``Customer Email``
    (a required column, hidden in the grid by default) and created when new, named after
    ``Customer Name`` or ``Bill-to Name``. The total is ``Grand Total (Purchased)`` in
    the order's currency (its symbol or code, else ``currency``); with ``Subtotal`` and
    ``Shipping and Handling`` the rest of the total is tax (or, when negative, discount).
    ``Total Refunded`` becomes one refund. Dates are read in ``timezone`` (the admin's),
    including a spreadsheet's ``01/03/2024 14:05`` (``dayfirst`` says which number is
    the day) and Excel day numbers; order numbers that lost their zeros get them back.

    Example:
        >>> import ecomcrm, pathlib, tempfile
        >>> from ecomcrm.io import import_magento_orders
        >>> text = (
        ...     "ID,Purchase Point,Purchase Date,Bill-to Name,Ship-to Name,Grand Total (Base),"
        ...     "Grand Total (Purchased),Status,Customer Email\n"
        ...     '000000042,Main Website,"Mar 1, 2024 2:05:12 PM",Ada Lovelace,Ada Lovelace,'
        ...     "$54.00,€50.00,Processing,ada@example.com\n"
        ... )
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "sales_order_grid.csv"
        >>> _ = path.write_text(text)
        >>> store = ecomcrm.open_store("memory://")
        >>> import_magento_orders(store, path, timezone="Europe/Berlin").imported
        1
        >>> order = store.orders.get("mg-000000042")
        >>> order.total, order.currency, order.placed_at.isoformat()
        (Decimal('50.00'), 'EUR', '2024-03-01T13:05:12+00:00')
    """
    zone = time_zone(timezone)
    writer = start_import(
        store, path, "magento_orders", unit="orders", progress=progress, batch_size=batch_size
    )
    with open_text(path) as handle:
        names, rows = read_rows(handle)
        if not names:
            return writer.finish()
        h = Header(names, source_name(path))
        for required in ("ID", "Purchase Date", "Grand Total (Purchased)"):
            h.require(required)
        if h.find("Customer Email") is None:
            raise ValidationError(
                "required column is missing: tick Customer Email under Columns in Sales > "
                "Orders before exporting (Magento hides it by default)",
                entity=source_name(path), field="Customer Email", row=1,
            )  # fmt: skip
        cols = {name: h.find(name) for name in MAGENTO_ORDER_COLUMNS}
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

    number = magento_increment_id(get("ID"), "ID")
    email = email_identity(get("Customer Email"), "Customer Email")
    if email is None:
        raise RowError("Customer Email", "is empty: the order has no customer", "")
    identities = [email]
    if resolver.is_suppressed(identities):
        return None
    placed_at = export_datetime(get("Purchase Date"), "Purchase Date", zone=zone, dayfirst=dayfirst)
    base_total, base_currency = export_money(
        get("Grand Total (Base)") or get("Grand Total (Purchased)"), "Grand Total (Base)",
        currency=currency,
    )  # fmt: skip
    total, order_currency = export_money(
        get("Grand Total (Purchased)"), "Grand Total (Purchased)", currency=base_currency
    )
    if order_currency == base_currency and total != base_total and get("Grand Total (Base)"):
        raise RowError(
            "Grand Total (Purchased)",
            f"differs from Grand Total (Base) ({base_total}) yet names no other currency: "
            "export the grid with currency symbols, or import each currency's rows with "
            "its currency=",
            get("Grand Total (Purchased)"),
        )
    status_text = get("Status")
    status = (
        parse_order_status(status_text, "Status", MAGENTO_STATUS_LABELS)
        if status_text
        else OrderStatus.PAID
    )
    subtotal, shipping, tax, discount = _breakdown(get, total, order_currency)
    item = Item(line)
    customer_id = resolver.find_person(identities)
    if customer_id is not None:
        resolver.seen_at(item, customer_id, placed_at)
    else:
        first, _, last = (get("Customer Name") or get("Bill-to Name")).partition(" ")
        customer_id = new_customer(
            item, resolver, report, customer_id_for(identities), identities, placed_at,
            first_name=first, last_name=last,
        )  # fmt: skip
    order_id = id_prefix + number
    try:
        order = Order(
            id=order_id, customer_id=customer_id, placed_at=placed_at, currency=order_currency,
            subtotal=subtotal, shipping=shipping, tax=tax, discount=discount, total=total,
            status=status, sales_channel="magento",
            cancelled_at=placed_at if status is OrderStatus.CANCELLED else None,
        )  # fmt: skip
    except ValidationError as exc:
        bad = {"total": "Grand Total (Purchased)", "currency": "Grand Total (Purchased)"}
        raise RowError.from_validation(exc, bad.get(exc.field or "")) from None
    item.order = order
    if get("Total Refunded"):
        refunded, _ = export_money(get("Total Refunded"), "Total Refunded", currency=order_currency)
        item.refunds.extend(
            refunded_total(Reads(resolver.store), order, refunded, "Total Refunded", placed_at)
        )
    return item


def _breakdown(
    get: Callable[[str], str], total: Decimal, currency: str
) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    """``(subtotal, shipping, tax, discount)`` of an order of the grid.

    The rest of the total beyond subtotal and shipping is tax, or discount when
    negative; without ``Subtotal`` the whole total is the subtotal.
    """
    if not get("Subtotal"):
        return total, _ZERO, _ZERO, _ZERO
    subtotal, _ = export_money(get("Subtotal"), "Subtotal", currency=currency)
    shipping = _ZERO
    if get("Shipping and Handling"):
        shipping, _ = export_money(
            get("Shipping and Handling"), "Shipping and Handling", currency=currency
        )
    rest = total - subtotal - shipping
    return (subtotal, shipping, rest, _ZERO) if rest >= 0 else (subtotal, shipping, _ZERO, -rest)
