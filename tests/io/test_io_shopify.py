"""Shopify orders/customers exports, privacy webhooks, idempotence and suppression."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ecomcrm.domain import Channel, Identity, OrderStatus, Purpose
from ecomcrm.errors import ValidationError
from ecomcrm.io import (
    SHOPIFY_ORDER_COLUMNS,
    handle_shopify_webhook,
    import_shopify_customers,
    import_shopify_orders,
    shopify_customer_redact,
    shopify_data_request,
)
from ecomcrm.storage import Store

T = datetime(2024, 6, 1, tzinfo=UTC)


def _customer(store: Store, email: str) -> str:
    found = store.customers.find_by_identity(Identity.email(email))
    assert found is not None
    return found.id


def test_orders_sample_hand_checked(store: Store, data: Path) -> None:
    report = import_shopify_orders(store, data / "shopify_orders.csv")
    assert (report.read, report.imported, report.rejected, report.rows) == (6, 6, 0, 9)
    assert report.extra == {"refunds": 2}
    # Ada@Example.com and ada@example.com are one customer with three orders
    ada = _customer(store, "ada@example.com")
    assert [o.id for o in store.orders.for_customer(ada)] == ["#1001", "#1003", "#1006"]
    o = store.orders.get("#1001")
    # 2 x 20.00 + 12.50 = 52.50; + 5.00 shipping + 3.28 tax = 60.78
    assert [(ln.sku, ln.quantity, ln.unit_price) for ln in o.lines] == [
        ("TEE-M", 2, Decimal("20.00")),
        ("MUG-1", 1, Decimal("12.50")),
    ]
    assert (o.subtotal, o.shipping, o.tax, o.total) == (
        Decimal("52.50"), Decimal("5.00"), Decimal("3.28"), Decimal("60.78"),
    )  # fmt: skip
    assert o.placed_at == datetime(2024, 1, 5, 15, 15, tzinfo=UTC)  # 10:15 -0500
    assert o.status is OrderStatus.FULFILLED and o.taxes_included is False
    # line discount 5.50 on a 55.00 hoodie: subtotal 49.50
    o2 = store.orders.get("#1002")
    assert o2.lines[0].discount == Decimal("5.50") and o2.total == Decimal("49.50")
    assert o2.discount_codes == ("WELCOME10",)
    # an order-level discount of 6.00 on 55.00 of lines: 55 - 6 + 5 = 54.00
    o4 = store.orders.get("#1004")
    assert (o4.subtotal, o4.discount, o4.total) == (
        Decimal("55.00"),
        Decimal("6.00"),
        Decimal("54.00"),
    )
    assert store.orders.get("#1005").status is OrderStatus.CANCELLED
    assert store.orders.get("#1006").status is OrderStatus.REFUNDED
    assert [r.amount for r in store.orders.refunds_for_order("#1006")] == [Decimal("55.00")]
    assert [r.amount for r in store.orders.refunds_for_order("#1003")] == [Decimal("4.00")]
    grace = store.customers.get(_customer(store, "grace@example.com"))
    assert (grace.first_name, grace.last_name, grace.phone) == ("Grace", "Hopper", "+13125550188")


def test_orders_second_import_changes_nothing(store: Store, data: Path) -> None:
    import_shopify_orders(store, data / "shopify_orders.csv")
    before = {c.id: store.export(c.id) for c in store.customers.iterate()}
    again = import_shopify_orders(store, data / "shopify_orders.csv")
    assert (again.imported, again.updated, again.unchanged, again.rejected) == (0, 0, 6, 0)
    assert {c.id: store.export(c.id) for c in store.customers.iterate()} == before
    assert store.orders.count() == 6


def test_changed_order_counts_as_updated(store: Store, data: Path, tmp_path: Path) -> None:
    import_shopify_orders(store, data / "shopify_orders.csv")
    text = (data / "shopify_orders.csv").read_text().replace("Hoodie - L,55.00", "Hoodie - L,56.00")
    text = text.replace("49.50,0.00,0.00,49.50", "50.50,0.00,0.00,50.50")
    changed = tmp_path / "orders.csv"
    changed.write_text(text)
    report = import_shopify_orders(store, changed)
    assert (report.updated, report.unchanged) == (1, 5)
    assert store.orders.get("#1002").total == Decimal("50.50")


def test_bad_rows_are_reported_with_line_column_reason(store: Store, data: Path) -> None:
    report = import_shopify_orders(store, data / "shopify_orders_bad.csv")
    assert (report.read, report.imported, report.rejected) == (8, 2, 6)
    assert not report.ok
    got = [(r.file, r.line, r.column) for r in report.rejections]
    assert got == [
        ("shopify_orders_bad.csv", 3, "Email"),
        ("shopify_orders_bad.csv", 4, "Created at"),
        ("shopify_orders_bad.csv", 6, "Lineitem quantity"),  # the 2nd row of order #2004
        ("shopify_orders_bad.csv", 7, "Total"),
        ("shopify_orders_bad.csv", 8, "Currency"),
        ("shopify_orders_bad.csv", 9, "Email"),
    ]
    assert report.rejections[2].value == "two"
    assert "Subtotal + Shipping + Taxes" in report.rejections[3].reason
    assert "shopify_orders_bad.csv:6: Lineitem quantity" in report.format()
    assert {o for o in ("#2001", "#2008") if store.orders.get(o)} == {"#2001", "#2008"}


def test_missing_required_column_raises(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    path.write_text("Name,Email,Total\n#1,a@b.co,1.00\n")
    with pytest.raises(ValidationError) as info:
        import_shopify_orders(store, path)
    assert info.value.field == "Created at" and info.value.row == 1


def test_empty_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    assert import_shopify_orders(store, path).read == 0


def test_batches_one_transaction_each(store: Store, data: Path) -> None:
    calls: list[int] = []
    depth = [0]
    real = store.transaction

    @contextmanager
    def counting() -> Iterator[None]:
        if depth[0] == 0:
            calls.append(1)
        depth[0] += 1
        try:
            with real():
                yield
        finally:
            depth[0] -= 1

    store.transaction = counting  # type: ignore[method-assign]
    report = import_shopify_orders(store, data / "shopify_orders.csv", batch_size=4)
    assert report.imported == 6
    assert len(calls) == 2  # 6 orders in batches of 4 -> two batch transactions


def test_customers_with_consents(store: Store, data: Path) -> None:
    report = import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    assert (report.read, report.imported, report.rejected) == (7, 5, 2)
    assert [(r.line, r.column) for r in report.rejections] == [
        (6, "Email"),
        (7, "Accepts Email Marketing"),
    ]
    ada = _customer(store, "ada@example.com")
    assert store.consents.is_granted(ada, Channel.EMAIL, Purpose.MARKETING)
    assert not store.consents.is_granted(ada, Channel.SMS, Purpose.MARKETING)
    sources = sorted(c.source for c in store.consents.history(ada))
    assert sources == ["shopify_customers.csv:2", "shopify_customers.csv:2"]
    assert all(c.at == T for c in store.consents.history(ada))
    assert store.customers.get(ada).tags == {"vip", "newsletter"}
    assert store.customers.find_by_identity(Identity(kind="external", value="shopify:7001001"))
    # no decision recorded when both cells are blank
    marie = _customer(store, "marie@example.com")
    assert store.consents.history(marie) == []
    assert report.extra["consents"] == 7
    again = import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    assert (again.imported, again.updated, again.unchanged) == (0, 0, 5)
    assert "consents" not in again.extra


def test_customers_after_orders_enrich_the_same_people(store: Store, data: Path) -> None:
    import_shopify_orders(store, data / "shopify_orders.csv")
    n = store.customers.count()
    report = import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    assert report.updated == 3 and report.imported == 2  # ada, grace, linus existed
    assert store.customers.count() == n + 2
    grace = store.customers.get(_customer(store, "grace@example.com"))
    assert grace.addresses and grace.addresses[0].city == "Springfield"
    assert grace.created_at == datetime(2024, 1, 7, 23, 2, 11, tzinfo=UTC)  # her first order


def test_consent_revocation_recorded_once(store: Store, data: Path, tmp_path: Path) -> None:
    import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    later = datetime(2024, 7, 1, tzinfo=UTC)
    path = tmp_path / "customers_export.csv"
    path.write_text(
        (data / "shopify_customers.csv")
        .read_text()
        .replace("ada@example.com,yes", "ada@example.com,no")
    )
    first = import_shopify_customers(store, path, exported_at=later)
    second = import_shopify_customers(store, path, exported_at=later)
    ada = _customer(store, "ada@example.com")
    assert not store.consents.is_granted(ada, "email", "marketing")
    assert (first.updated, second.updated) == (1, 0)
    email = [c for c in store.consents.history(ada) if c.channel is Channel.EMAIL]
    assert [(c.granted, c.source) for c in email] == [
        (True, "shopify_customers.csv:2"),
        (False, "customers_export.csv:2"),
    ]


def test_a_changed_profile_does_not_repeat_unchanged_consents(
    store: Store, data: Path, tmp_path: Path
) -> None:
    """A row that changes a customer but not their consents records no consent again."""
    import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    ada = _customer(store, "ada@example.com")
    before = store.consents.history(ada)
    path = tmp_path / "customers_export.csv"
    path.write_text(
        (data / "shopify_customers.csv").read_text().replace(",Ada,Lovelace,", ",Ada,King,")
    )
    report = import_shopify_customers(store, path, exported_at=datetime(2024, 7, 1, tzinfo=UTC))
    assert report.updated == 1 and report.extra.get("consents", 0) == 0
    assert store.consents.history(ada) == before


def test_the_same_consent_twice_in_one_batch_is_recorded_once(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "customers_export.csv"
    path.write_text(
        "Customer ID,First Name,Email,Accepts Email Marketing\n"
        "1,Ada,ada@example.com,yes\n"
        "1,Ada L.,ada@example.com,yes\n"
        "1,Ada L.,ada@example.com,no\n"
    )
    report = import_shopify_customers(store, path, exported_at=T)
    ada = _customer(store, "ada@example.com")
    assert [(c.granted, c.source) for c in store.consents.history(ada)] == [
        (True, "customers_export.csv:2"),
        (False, "customers_export.csv:4"),
    ]
    assert report.extra["consents"] == 2


def test_erased_person_is_not_brought_back(store: Store, data: Path) -> None:
    import_shopify_orders(store, data / "shopify_orders.csv")
    ada = _customer(store, "ada@example.com")
    receipt = shopify_customer_redact(
        store, {"shop_id": 954889, "shop_domain": "x.myshopify.com",
                "customer": {"id": 191167, "email": "ada@example.com", "phone": "555-625-1199"},
                "orders_to_redact": [299938]},
    )  # fmt: skip
    assert receipt is not None and receipt.customer_id == ada
    assert store.customers.find_by_identity(Identity.email("ada@example.com")) is None
    again = import_shopify_orders(store, data / "shopify_orders.csv")
    assert (again.suppressed, again.imported, again.unchanged) == (3, 0, 3)
    assert store.customers.find_by_identity(Identity.email("ada@example.com")) is None
    report = import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    assert report.suppressed == 1
    assert store.customers.find_by_identity(Identity.email("ada@example.com")) is None


def test_a_suppression_the_import_did_not_see_is_still_refused(
    store: Store, data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An erasure after the import checked for suppressions: rejected, never brought back."""
    import_shopify_orders(store, data / "shopify_orders.csv")
    store.erase(_customer(store, "ada@example.com"))
    monkeypatch.setattr(store, "has_suppressions", lambda: False)  # as if erased meanwhile
    again = import_shopify_orders(store, data / "shopify_orders.csv")
    assert again.suppressed == 0 and again.rejected == 3 and again.imported == 0
    assert store.customers.find_by_identity(Identity.email("ada@example.com")) is None


def test_data_request_and_dispatch(store: Store, data: Path) -> None:
    import_shopify_customers(store, data / "shopify_customers.csv", exported_at=T)
    payload = {"shop_id": 1, "customer": {"id": 7001002, "email": "nobody@example.com"},
               "orders_requested": [], "data_request": {"id": 9999}}  # fmt: skip
    doc = shopify_data_request(store, payload)
    assert doc is not None and "grace@example.com" in str(doc)
    assert handle_shopify_webhook(store, "customers/data_request", payload) == doc
    assert handle_shopify_webhook(store, "customers/redact", {"customer": {"id": 424242}}) is None
    with pytest.raises(ValidationError):
        handle_shopify_webhook(store, "shop/redact", {"shop_id": 1})
    with pytest.raises(ValidationError):
        shopify_data_request(store, {"customer": "x"})


def test_short_rows_and_bom(store: Store, tmp_path: Path) -> None:
    # exports opened and saved by spreadsheet tools gain a BOM and lose trailing empty cells
    path = tmp_path / "orders.csv"
    path.write_text(
        "\ufeffName,Email,Currency,Subtotal,Total,Created at,Lineitem quantity,Lineitem price,Lineitem sku\n"
        "#9,x@example.com,EUR,10.00,10.00,2024-01-01T00:00:00Z,1,10.00,A\n"
        "#9,x@example.com,,,,,1,0.00\n",
        encoding="utf-8",
    )
    report = import_shopify_orders(store, path)
    assert report.rejected == 1 and report.rejections[0].column == "Lineitem sku"
    assert report.rejections[0].line == 3


def test_order_lines_quoted_newlines_keep_line_numbers(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SHOPIFY_ORDER_COLUMNS)
        w.writeheader()
        base = {c: "" for c in SHOPIFY_ORDER_COLUMNS}
        w.writerow({**base, "Name": "#1", "Email": "a@example.com", "Currency": "EUR",
                    "Subtotal": "5.00", "Total": "5.00", "Created at": "2024-01-01 10:00:00 +0000",
                    "Lineitem quantity": "1", "Lineitem price": "5.00", "Lineitem sku": "A",
                    "Notes": "two\nlines"})  # fmt: skip
        w.writerow({**base, "Name": "#2", "Email": "a@example.com", "Currency": "EUR",
                    "Subtotal": "5.00", "Total": "5.00", "Created at": "bad",
                    "Lineitem quantity": "1", "Lineitem price": "5.00", "Lineitem sku": "A"})  # fmt: skip
    report = import_shopify_orders(store, path)
    assert report.imported == 1 and report.rejections[0].line == 4


def test_shared_phone_customers_row_rejected_orders_kept(store: Store, tmp_path: Path) -> None:
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "Customer ID,First Name,Email,Phone,Accepts Email Marketing\n"
        "1,A,a@example.com,+33612345678,yes\n"
        "2,B,b@example.com,+33612345678,yes\n"
        "3,C,c@example.com,,no\n"
    )
    report = import_shopify_customers(store, customers, exported_at=T)
    assert (report.imported, report.rejected) == (2, 1)
    assert report.rejections[0].line == 3 and "phone:+33612345678" in report.rejections[0].reason
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "Name,Email,Phone,Currency,Subtotal,Total,Created at,Lineitem quantity,Lineitem price,Lineitem sku\n"
        "#1,d@example.com,+33612345678,EUR,5.00,5.00,2024-01-01T10:00:00Z,1,5.00,A\n"
    )
    r = import_shopify_orders(store, orders)
    assert r.imported == 1 and r.extra["phones_already_in_use"] == 1
    d = store.customers.find_by_identity(Identity.email("d@example.com"))
    assert d is not None and d.phone is None
