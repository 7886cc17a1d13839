"""The importers on files in the platforms' real layouts (tests/data, see make_real_layouts.py).

Each test states what a careful analyst expects of the mapping: nobody invented or lost,
``created_at`` the earliest known date whatever the order of the files, platform statuses
mapped (unknown ones refused with the accepted values), phone-only buyers kept.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import Identity, OrderStatus
from ecomcrm.io import (
    import_generic,
    import_segment_events,
    import_shopify_customers,
    import_shopify_orders,
    import_woocommerce_orders,
)
from ecomcrm.storage import Store

DATA = Path(__file__).parent.parent / "data"
UCI = DATA / "uci_online_retail.csv"
UCI_MAPPING = json.loads((DATA / "generic_mappings.json").read_text(encoding="utf-8"))["uci_orders"]


def _uci_rows() -> list[dict[str, str]]:
    with UCI.open(newline="") as f:
        return list(csv.DictReader(f))


# --- nobody invented ------------------------------------------------------------------------


def test_uci_rejected_rows_create_no_profile() -> None:
    rows = _uci_rows()
    invoices: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        invoices.setdefault(row["InvoiceNo"], []).append(row)
    # the oracle: people with at least one invoice of sales (all quantities and prices >= 0)
    buyers = {
        lines[0]["CustomerID"]
        for lines in invoices.values()
        if lines[0]["CustomerID"]
        and all(int(r["Quantity"]) > 0 and Decimal(r["UnitPrice"]) >= 0 for r in lines)
    }
    only_cancelled = {r["CustomerID"] for r in rows if r["CustomerID"]} - buyers
    assert only_cancelled  # the file has people whose only rows are cancellations

    store = ecomcrm.open_store("memory://")
    report = import_generic(store, UCI, kind="orders", currency="GBP", mapping=UCI_MAPPING)

    assert store.customers.count() == len(buyers)
    for customer_id in only_cancelled:
        assert store.customers.find(customer_id) is None
    valid = [k for k, lines in invoices.items() if lines[0]["CustomerID"] in buyers]
    valid = [k for k in valid if all(int(r["Quantity"]) > 0 for r in invoices[k])]
    assert report.imported == store.orders.count() == len(valid)
    assert report.read == len(invoices)
    reasons = {(r.column, r.reason.split(":")[0]) for r in report.rejections}
    assert ("CustomerID", "is empty") in reasons
    assert ("Quantity", "is negative") in reasons
    assert all(o.currency == "GBP" for o in store.orders.for_customer(sorted(buyers)[0]))


def test_uci_without_a_currency_names_the_missing_parameter() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_generic(store, UCI, kind="orders", mapping=UCI_MAPPING)
    assert report.imported == 0 and store.customers.count() == 0
    assert any("currency=" in r.reason for r in report.rejections)


def test_a_rejected_record_in_the_same_batch_as_valid_ones_creates_nobody() -> None:
    # batch_size larger than the file: the rejected records share the batch of good ones
    store = ecomcrm.open_store("memory://")
    import_generic(
        store, UCI, kind="orders", currency="GBP", mapping=UCI_MAPPING, batch_size=100_000
    )
    assert store.customers.find("13678") is None  # only a cancellation


# --- created_at: the earliest known date, whatever the order of the files ------------------


def _people(store: Store) -> dict[frozenset[str], ecomcrm.domain.Customer]:
    return {
        frozenset(i.key for i in c.identities if i.kind.value in ("email", "phone")): c
        for c in store.customers.iterate()
    }


def test_created_at_never_comes_from_the_files_modification_time(tmp_path: Path) -> None:
    customers = tmp_path / "customers_export.csv"
    shutil.copy(DATA / "shopify_customers_legacy.csv", customers)
    long_ago = datetime(2001, 1, 1, tzinfo=UTC).timestamp()
    os.utime(customers, (long_ago, long_ago))
    orders = DATA / "shopify_orders_zar.csv"
    before = datetime.now(UTC).replace(microsecond=0)

    first_customers = ecomcrm.open_store("memory://")
    import_shopify_customers(first_customers, customers)
    import_shopify_orders(first_customers, orders)
    first_orders = ecomcrm.open_store("memory://")
    import_shopify_orders(first_orders, orders)
    import_shopify_customers(first_orders, customers)

    a, b = _people(first_customers), _people(first_orders)
    assert a.keys() == b.keys()
    for key, person in a.items():
        assert person.created_at.year != 2001
        placed = [o.placed_at for o in first_customers.orders.for_customer(person.id)]
        if placed:  # the earliest order, whichever file came first
            assert person.created_at == b[key].created_at == min(placed)
        else:  # known only from the customers file: when it was imported
            assert person.created_at >= before
        assert person.first_name == b[key].first_name
        assert person.tags == b[key].tags


def test_an_earlier_order_lowers_created_at_of_a_known_customer(tmp_path: Path) -> None:
    store = ecomcrm.open_store("memory://")
    t = datetime(2024, 6, 1, tzinfo=UTC)
    import_shopify_customers(store, DATA / "shopify_customers_legacy.csv", exported_at=t)
    thandi = store.customers.find_by_identity(Identity.email("thandi.nkosi@example.co.za"))
    assert thandi is not None and thandi.created_at == t
    import_shopify_orders(store, DATA / "shopify_orders_zar.csv")
    thandi = store.customers.find(thandi.id)
    assert thandi is not None
    assert thandi.created_at == datetime(2024, 3, 1, 8, 4, tzinfo=UTC)


# --- phone-only buyers -------------------------------------------------------------------------


def test_shopify_phone_only_buyers_are_imported_and_a_local_number_is_explained() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_shopify_orders(store, DATA / "shopify_orders_bdt.csv")
    rahim = store.customers.find_by_identity(Identity.phone("+8801712345678"))
    assert rahim is not None
    assert {o.id for o in store.orders.for_customer(rahim.id)} == {"#2001", "#2003"}
    [rejected] = report.rejections
    assert rejected.column == "Billing Phone" and rejected.value == "01912-000111"
    assert "international form" in rejected.reason


BDT_AS_GENERIC = {
    "order_id": "Name",
    "phone": "Phone",
    "placed_at": "Created at",
    "total": "Total",
    "currency": "Currency",
    "status": "Financial Status",
}


def test_generic_orders_accept_phone_only_rows_with_only_a_phone_column() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_generic(
        store, DATA / "shopify_orders_bdt.csv", kind="orders", mapping=BDT_AS_GENERIC
    )
    phones = {"+8801712345678", "+8801811223344", "+8801999887766", "+8801555123456"}
    assert store.customers.count() == len(phones)
    for phone in phones:
        assert store.customers.find_by_identity(Identity.phone(phone)) is not None
    # #2005 (email only) and #2007 (billing phone only) name nobody in the mapped columns
    assert [(r.line, r.column) for r in report.rejections] == [(7, "Phone"), (9, "Phone")]
    assert all("no customer" in r.reason for r in report.rejections)
    # Shopify's financial statuses through the generic importer
    assert store.orders.get("#2008").status is OrderStatus.PENDING  # authorized
    assert store.orders.get("#2004").status is OrderStatus.CANCELLED  # voided


def test_generic_events_and_customers_accept_a_phone_column_alone(tmp_path: Path) -> None:
    store = ecomcrm.open_store("memory://")
    import_shopify_orders(store, DATA / "shopify_orders_bdt.csv")
    events = tmp_path / "events.csv"
    events.write_text(
        "event,time,mobile\nApp Opened,2024-06-02 10:00,+8801712345678\n"
        "App Opened,2024-06-02 11:00,+8801700000000\n"
    )
    report = import_generic(
        store, events, kind="events", mapping={"name": "event", "at": "time", "phone": "mobile"}
    )
    assert report.imported == 2 and report.rejected == 0
    rahim = store.customers.find_by_identity(Identity.phone("+8801712345678"))
    assert rahim is not None
    assert [e.name for e in store.events.for_customer(rahim.id)] == ["App Opened"]


def test_generic_customers_accept_a_phone_column_alone() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_generic(
        store, DATA / "shopify_customers_legacy.csv", kind="customers",
        mapping={"phone": "Phone", "first_name": "First Name", "last_name": "Last Name"},
        exported_at=datetime(2024, 6, 1, tzinfo=UTC),
    )  # fmt: skip
    sipho = store.customers.find_by_identity(Identity.phone("+27825550143"))
    assert sipho is not None and sipho.full_name == "Sipho Dlamini"
    assert report.imported == store.customers.count() == 1
    assert {r.column for r in report.rejections} == {"Phone"}


# --- statuses ----------------------------------------------------------------------------------


def test_woocommerce_statuses_map_and_an_unknown_one_lists_the_accepted_values() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_woocommerce_orders(store, DATA / "woocommerce_orders_export.csv")
    expected = {
        "wc-3101": OrderStatus.FULFILLED,  # completed
        "wc-3102": OrderStatus.PAID,  # processing
        "wc-3103": OrderStatus.PENDING,  # on-hold
        "wc-3104": OrderStatus.PENDING,  # pending
        "wc-3105": OrderStatus.CANCELLED,  # cancelled
        "wc-3106": OrderStatus.REFUNDED,  # refunded
        "wc-3107": OrderStatus.CANCELLED,  # failed
        "wc-3108": OrderStatus.FULFILLED,  # wc-completed
        "wc-3110": OrderStatus.FULFILLED,
    }
    assert {k: store.orders.get(k).status for k in expected} == expected
    [rejected] = report.rejections
    assert rejected.column == "status" and rejected.value == "wc-awaiting-shipment"
    for name in ("completed", "processing", "on-hold", "pending", "cancelled", "refunded"):
        assert name in rejected.reason
    assert store.customers.count() == 3


def test_shopify_unknown_financial_status_lists_the_accepted_values(tmp_path: Path) -> None:
    text = (DATA / "shopify_orders_zar.csv").read_text()
    path = tmp_path / "orders_export.csv"
    bad_row = "#1002,pieter.vdm@example.co.za,chargeback,"
    path.write_text(text.replace("#1002,pieter.vdm@example.co.za,paid,", bad_row))
    store = ecomcrm.open_store("memory://")
    report = import_shopify_orders(store, path)
    bad = [r for r in report.rejections if r.column == "Financial Status"]
    assert len(bad) == 1 and bad[0].value == "chargeback"
    assert "partially_refunded" in bad[0].reason and "voided" in bad[0].reason
    assert store.orders.get("#1001").status is OrderStatus.FULFILLED
    with pytest.raises(ecomcrm.errors.NotFoundError):
        store.orders.get("#1002")


# --- Segment / RudderStack: orders, refunds, messageIds ------------------------------------

RUDDER = DATA / "rudderstack_segment.jsonl"


def test_rudderstack_order_completed_in_any_case_creates_orders() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_segment_events(store, RUDDER)
    first = store.orders.get("R-50314")
    assert first.customer_id == "u-1001" and first.currency == "USD"
    assert first.total == Decimal("57.5") and first.shipping == Decimal("5.0")
    assert [(ln.sku, ln.quantity) for ln in first.lines] == [("TEE-M", 2), ("MUG-1", 1)]
    lower = store.orders.get("R-50410")  # sent as "order completed", revenue and no total
    assert lower.customer_id == "u-2002" and lower.total == Decimal("36.4")
    by_phone = store.orders.get("R-50522")
    assert by_phone.currency == "USD" and by_phone.total == Decimal("12.5")
    assert store.customers.find_by_identity(Identity.phone("+44 20 7946 0958")) is not None
    names = [e.name for e in store.events.for_customer("u-2002")]
    assert "Order Completed" in names and "order completed" not in names
    # no total, revenue or products: rejected, naming the property
    [rejected] = report.rejections
    assert rejected.column == "properties.total" and rejected.line == 11
    with pytest.raises(ecomcrm.errors.NotFoundError):
        store.orders.get("R-50523")


def test_rudderstack_order_refunded_records_refunds() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_segment_events(store, RUDDER)
    [partial] = store.orders.refunds_for_order("R-50314")
    assert partial.amount == Decimal("20.0") and partial.customer_id == "u-1001"
    [full] = store.orders.refunds_for_order("R-50410")  # "order refunded": the whole order
    assert full.amount == Decimal("36.4")
    assert report.extra["refunds"] == 2


def test_a_retried_message_is_stored_once_and_a_reused_message_id_is_kept() -> None:
    store = ecomcrm.open_store("memory://")
    report = import_segment_events(store, RUDDER)
    completed = [e for e in store.events.for_customer("u-1001") if e.name == "Order Completed"]
    assert len(completed) == 1  # the retry (same messageId, same content) is one event
    names = sorted(e.name for e in store.events.for_customer("u-2002"))
    assert names == ["Order Completed", "Order Refunded", "Product Reviewed"]
    assert report.extra["message_ids_reused"] == 1
    [warning] = report.warnings
    assert warning.column == "messageId" and warning.value == "srv-0001-7f2b"
    assert warning.line == 6


def test_reimporting_the_rudderstack_file_changes_nothing() -> None:
    store = ecomcrm.open_store("memory://")
    import_segment_events(store, RUDDER)
    orders, events = store.orders.count(), store.events.count()
    again = import_segment_events(store, RUDDER)
    assert (again.imported, again.updated) == (0, 0)
    assert (store.orders.count(), store.events.count()) == (orders, events)
    assert len(store.orders.refunds_for_order("R-50314")) == 1


def test_an_order_event_does_not_overwrite_the_shops_own_order(tmp_path: Path) -> None:
    store = ecomcrm.open_store("memory://")
    import_shopify_orders(store, DATA / "shopify_orders_zar.csv")
    shop_order = store.orders.get("#1001")
    message = {
        "type": "track", "event": "Order Completed", "userId": "u-9",
        "context": {"traits": {"email": "thandi.nkosi@example.co.za"}},
        "messageId": "m-1", "timestamp": "2024-03-01T08:05:00Z",
        "properties": {"order_id": "#1001", "total": 1.0, "currency": "ZAR"},
    }  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(message) + "\n")
    report = import_segment_events(store, path)
    assert store.orders.get("#1001") == shop_order
    assert report.extra["orders_already_known"] == 1 and report.imported == 1


def test_a_rejected_message_creates_nobody_and_links_nothing(tmp_path: Path) -> None:
    base = {"type": "track", "userId": "u-7", "anonymousId": "a-7",
            "context": {"traits": {"email": "kim@example.com"}}}  # fmt: skip
    bad = {**base, "event": "Order Completed", "messageId": "m-1",
           "timestamp": "2024-05-01T10:00:00Z",
           "properties": {"order_id": "R-1", "currency": "USD",
                          "products": [{"sku": "A", "price": "free"}]}}  # fmt: skip
    visit = {"type": "track", "event": "Product Viewed", "anonymousId": "a-7",
             "messageId": "m-0", "timestamp": "2024-05-01T09:00:00Z"}  # fmt: skip
    good = {**base, "event": "Product Viewed", "messageId": "m-2",
            "timestamp": "2024-05-02T10:00:00Z"}  # fmt: skip
    path = tmp_path / "events.jsonl"
    path.write_text(json.dumps(bad) + "\n")
    store = ecomcrm.open_store("memory://")
    report = import_segment_events(store, path)
    assert report.rejected == 1 and report.rejections[0].column == "properties.products[0].price"
    assert store.customers.count() == 0
    path.write_text("\n".join(json.dumps(m) for m in (visit, bad, good)) + "\n")
    store = ecomcrm.open_store("memory://")
    import_segment_events(store, path)
    # the valid message still links the visitor, whose earlier visit becomes the person's
    assert [e.name for e in store.events.for_customer("u-7")] == ["Product Viewed"] * 2


# --- repeated order ids ---------------------------------------------------------------------


def test_an_order_reimported_with_different_content_is_updated_and_warned(tmp_path: Path) -> None:
    store = ecomcrm.open_store("memory://")
    import_shopify_orders(store, DATA / "shopify_orders_zar.csv")
    changed = tmp_path / "orders_export.csv"
    text = (DATA / "shopify_orders_zar.csv").read_text()
    moved = "Pieter van der Merwe,,5 Church Street"  # #1002's billing and shipping address
    changed.write_text(text.replace("Pieter van der Merwe,,4 Church Street", moved, 2))
    report = import_shopify_orders(store, changed)
    assert (report.imported, report.updated) == (0, 1)
    [warning] = report.warnings
    assert warning.value == "#1002" and "different content" in warning.reason
    assert store.orders.get("#1002").shipping_address.line1 == "5 Church Street"


def test_an_order_id_repeated_in_one_file_is_counted_once_and_warned(tmp_path: Path) -> None:
    rows = (DATA / "uci_online_retail.csv").read_text().splitlines(keepends=True)
    again = [r for r in rows if r.startswith("536365,")]
    again[0] = again[0].replace(",1,12/1/2010", ",2,12/1/2010", 1)  # a different quantity
    path = tmp_path / "Online Retail.csv"
    path.write_text("".join(rows + again))
    store = ecomcrm.open_store("memory://")
    report = import_generic(store, path, kind="orders", currency="GBP", mapping=UCI_MAPPING)
    clean = import_generic(
        ecomcrm.open_store("memory://"), UCI, kind="orders", currency="GBP", mapping=UCI_MAPPING
    )
    assert report.imported == clean.imported and report.updated == 1
    assert [w.value for w in report.warnings] == ["536365"]
    assert store.orders.get("536365").lines[0].quantity == 2


# --- truncated files ---------------------------------------------------------------------------


def test_a_file_cut_inside_a_quoted_field_rejects_its_last_record(tmp_path: Path) -> None:
    text = (DATA / "shopify_orders_bdt.csv").read_text()
    cut = text.index('"Flat 3B, Agrabad"', text.index("#2008"))
    path = tmp_path / "orders_export.csv"
    path.write_text(text[: cut + len('"Flat 3B')])
    store = ecomcrm.open_store("memory://")
    report = import_shopify_orders(store, path)
    truncated = [r for r in report.rejections if "quoted field" in r.reason]
    assert [r.line for r in truncated] == [10]
    with pytest.raises(ecomcrm.errors.NotFoundError):
        store.orders.get("#2008")
    assert store.orders.get("#2006").total == Decimal("660.00")


def test_a_woocommerce_file_cut_inside_a_quoted_field_rejects_its_last_record(
    tmp_path: Path,
) -> None:
    lines = (DATA / "woocommerce_orders_export.csv").read_text().splitlines(keepends=True)
    last = lines[-1]
    cut = last[: last.index(",Mozilla/5.0")] + ',"Mozilla/5.0 (X1'  # quoted, never closed
    path = tmp_path / "orders.csv"
    path.write_text("".join(lines[:-1]) + cut)
    store = ecomcrm.open_store("memory://")
    report = import_woocommerce_orders(store, path)
    truncated = [r for r in report.rejections if "quoted field" in r.reason]
    assert [r.line for r in truncated] == [len(lines)]
    assert report.read == len(lines) - 1


# --- property: people are exactly those with an accepted record -----------------------------


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["17850", "13047", "12583", "", "14688"]),
            st.integers(min_value=-3, max_value=3),
            st.sampled_from(["2.55", "0.00", "-1.00", "x"]),
        ),
        min_size=1,
        max_size=25,
    ),
    st.sampled_from([1, 3, 1000]),
)
def test_people_are_exactly_those_with_an_accepted_invoice(
    rows: list[tuple[str, int, str]], batch_size: int
) -> None:
    import tempfile

    lines = ["InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"]
    for k, (customer, qty, price) in enumerate(rows):
        lines.append(f"{536365 + k},85123A,HEART,{qty},12/1/2010 8:26,{price},{customer},UK")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "retail.csv"
        path.write_text("\n".join(lines) + "\n")
        store = ecomcrm.open_store("memory://")
        report = import_generic(
            store, path, kind="orders", currency="GBP", mapping=UCI_MAPPING, batch_size=batch_size
        )
    accepted = {c for c, q, p in rows if c and q >= 0 and p in ("2.55", "0.00")}
    assert {c.id for c in store.customers.iterate()} == accepted
    assert report.imported + report.rejected == len(rows)
