"""WooCommerce orders and generic CSV / JSON-lines imports with a column mapping."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ecomcrm.domain import Identity, OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io import import_generic, import_woocommerce_orders, parse_pipe_fields
from ecomcrm.storage import Store

# the column mappings of the generic sample files
MAPPINGS = json.loads(
    (Path(__file__).resolve().parent.parent / "data" / "generic_mappings.json").read_text(
        encoding="utf-8"
    )
)
ORDER_MAP = MAPPINGS["orders"]
CUSTOMER_MAP = MAPPINGS["customers"]
EVENT_MAP = MAPPINGS["events"]


def test_woocommerce_sample(store: Store, data: Path) -> None:
    report = import_woocommerce_orders(
        store, data / "woocommerce_orders.csv", timezone="Europe/Paris"
    )
    assert (report.read, report.imported, report.rejected) == (6, 3, 3)
    assert [(r.line, r.column) for r in report.rejections] == [
        (5, "customer_email"), (6, "order_total"), (7, "line_item_1"),
    ]  # fmt: skip
    o = store.orders.get("wc-1201")
    # beanie 2 x 20.00 less 4.00 coupon = 36.00, scarf 20.00; + 5.00 shipping + 11.20 tax
    assert [(ln.sku, ln.quantity, ln.unit_price, ln.discount) for ln in o.lines] == [
        ("woo-15", 2, Decimal("20"), Decimal("4.00")),
        ("WOO-SCARF", 1, Decimal("20"), Decimal("0.00")),
    ]
    assert o.total == Decimal("72.20") and o.discount_codes == ("winter10",)
    assert o.placed_at == datetime(2024, 2, 3, 13, 5, 10, tzinfo=UTC)  # Paris winter time
    assert o.status is OrderStatus.FULFILLED
    refund = store.orders.refunds_for_order("wc-1202")[0]
    assert (refund.amount, refund.reason) == (Decimal("50.00"), "Damaged in transit")
    camille = store.customers.find_by_identity(Identity.email("camille@example.fr"))
    assert camille is not None
    assert [x.id for x in store.orders.for_customer(camille.id)] == ["wc-1201", "wc-1203"]
    assert store.customers.find_by_identity(Identity(kind="external", value="woocommerce:42"))
    assert store.orders.get("wc-1203").shipping == Decimal("1.50")  # the fee
    again = import_woocommerce_orders(
        store, data / "woocommerce_orders.csv", timezone="Europe/Paris"
    )
    assert (again.imported, again.unchanged) == (0, 3)


def test_woocommerce_bad_timezone(store: Store, data: Path) -> None:
    with pytest.raises(ValidationError):
        import_woocommerce_orders(store, data / "woocommerce_orders.csv", timezone="Nowhere/Land")


def test_pipe_fields() -> None:
    assert parse_pipe_fields("id:1|name:A|b") == {"id": "1", "name": "A"}


def test_generic_orders_one_row_per_line(store: Store, data: Path) -> None:
    report = import_generic(
        store, data / "generic_orders.csv", kind="orders", mapping=ORDER_MAP, currency="GBP",
        timezone="Europe/London",
    )  # fmt: skip
    assert (report.read, report.imported, report.rejected) == (4, 3, 1)
    assert report.rejections[0].line == 6 and report.rejections[0].column == "Quantity"
    o = store.orders.get("536365")
    # 6 x 2.55 + 6 x 3.39 = 35.64
    assert o.total == Decimal("35.64") and len(o.lines) == 2 and o.currency == "GBP"
    assert o.placed_at == datetime(2010, 12, 1, 8, 26, tzinfo=UTC)


def test_generic_customers_jsonl_nested(store: Store, data: Path) -> None:
    report = import_generic(store, data / "generic_customers.jsonl", kind="customers",
                            mapping=CUSTOMER_MAP)  # fmt: skip
    assert (report.imported, report.rejected) == (2, 1)
    assert report.rejections[0].column == "tz"
    ines = store.customers.get("cus-1")
    assert (ines.timezone, ines.country, ines.phone) == ("Europe/Lisbon", "PT", "+351912345678")
    assert store.consents.is_granted("cus-1", "email", "marketing")
    assert not store.consents.is_granted("cus-2", "email", "marketing")
    assert report.extra["consents"] == 2


def test_generic_events_csv(store: Store, data: Path) -> None:
    import_generic(store, data / "generic_customers.jsonl", kind="customers", mapping=CUSTOMER_MAP)
    report = import_generic(store, data / "generic_events.csv", kind="events", mapping=EVENT_MAP)
    assert (report.imported, report.rejected) == (3, 2)
    assert [(r.line, r.column) for r in report.rejections] == [(5, "user"), (6, "props")]
    assert [e.name for e in store.events.for_anonymous("ck-1")] == [
        "Product Viewed",
        "Product Added",
    ]


def test_generic_one_row_per_order_and_bad_mappings(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "sales.tsv"
    path.write_text("id\tcust\twhen\tamount\n1\tc1\t2024-01-01\t10.00\n2\tc1\t2024-01-05\t-3\n")
    report = import_generic(store, path, kind="orders", currency="EUR",
                            mapping={"order_id": "id", "customer_id": "cust",
                                     "placed_at": "when", "total": "amount"})  # fmt: skip
    assert report.imported == 1 and report.rejections[0].column == "amount"
    assert store.orders.get("1").lines[0].sku == "order"
    with pytest.raises(ValidationError, match="does not have"):
        import_generic(store, path, kind="orders", currency="EUR",
                       mapping={"order_id": "nope", "customer_id": "cust", "placed_at": "when",
                                "total": "amount"})  # fmt: skip
    with pytest.raises(ValidationError, match="unknown fields"):
        import_generic(store, path, kind="orders", mapping={"colour": "id"})
    with pytest.raises(ValidationError, match="must map one of"):
        import_generic(store, path, kind="orders", mapping={"order_id": "id"})
    with pytest.raises(ValidationError):
        import_generic(store, path, kind="widgets", mapping={})  # type: ignore[arg-type]
