"""Segment and GA4 event streams: names, identity stitching, merges, idempotence, rejections."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ecomcrm.domain import Identity
from ecomcrm.io import (
    GA4_EVENT_NAMES,
    ga4_to_segment,
    import_ga4_events,
    import_segment_events,
    import_shopify_orders,
)
from ecomcrm.storage import Store


def _write(path: Path, messages: list[object]) -> Path:
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    return path


def test_segment_sample(store: Store, data: Path) -> None:
    report = import_segment_events(store, data / "segment_events.jsonl")
    assert (report.read, report.imported, report.rejected) == (11, 7, 4)
    assert [(r.line, r.column) for r in report.rejections] == [
        (7, "type"), (8, "userId"), (9, "timestamp"), (10, None),
    ]  # fmt: skip
    # the anonymous views before sign-up now belong to user-1001
    names = [e.name for e in store.events.for_customer("user-1001")]
    assert names == ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"]
    ada = store.customers.get("user-1001")
    assert ada.email == "ada@example.com" and ada.first_name == "Ada"
    assert ada.created_at == datetime(2023, 11, 20, 8, tzinfo=UTC)
    assert [e.name for e in store.events.for_customer("user-1002")] == [
        "Product Viewed", "Page Viewed",
    ]  # fmt: skip
    event = store.events.for_customer("user-1001")[-1]
    assert event.id.startswith("segment:msg-005:") and event.properties["order_id"] == "50314b8e"
    again = import_segment_events(store, data / "segment_events.jsonl")
    assert (again.imported, again.unchanged, again.rejected) == (0, 7, 4)
    assert store.events.count() == 6


def test_identify_joins_a_customer_known_by_email(store: Store, data: Path, tmp_path: Path) -> None:
    import_shopify_orders(store, data / "shopify_orders.csv")
    known = store.customers.find_by_identity(Identity.email("grace@example.com"))
    assert known is not None
    path = _write(tmp_path / "s.jsonl", [
        {"type": "track", "event": "Product Viewed", "userId": "u-77",
         "timestamp": "2024-06-01T10:00:00Z", "messageId": "a"},
        {"type": "identify", "userId": "u-77", "timestamp": "2024-06-01T10:01:00Z",
         "traits": {"email": "GRACE@example.com"}, "messageId": "b"},
        {"type": "track", "event": "Product Added", "userId": "u-77",
         "timestamp": "2024-06-01T10:02:00Z", "messageId": "c"},
    ])  # fmt: skip
    report = import_segment_events(store, path)
    assert report.rejected == 0
    # the user first created as u-77 is folded into the customer who owns the email
    assert store.resolve("u-77") == known.id
    names = [e.name for e in store.events.for_customer(known.id)]
    assert names == ["Product Viewed", "Product Added"]


def test_erased_identity_is_suppressed(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path / "s.jsonl", [
        {"type": "identify", "userId": "u1", "timestamp": "2024-06-01T10:00:00Z",
         "traits": {"email": "zed@example.com"}},
    ])  # fmt: skip
    import_segment_events(store, path)
    store.erase("u1")
    again = import_segment_events(store, path)
    assert again.suppressed == 1 and store.customers.find("u1") is None


def test_ga4_sample(store: Store, data: Path) -> None:
    report = import_ga4_events(store, data / "ga4_events.jsonl")
    assert (report.read, report.imported, report.rejected) == (9, 8, 1)
    assert report.rejections[0].line == 8 and report.rejections[0].column == "event_timestamp"
    names = [e.name for e in store.events.for_customer("user-1001")]
    assert names == [
        "Page Viewed", "Product Viewed", "Product Added", "Checkout Started", "Order Completed",
        "Order Refunded",
    ]  # fmt: skip
    purchase = store.events.for_customer("user-1001")[4]
    assert purchase.properties["order_id"] == "T-50314"
    assert purchase.properties["revenue"] == 45.0 and purchase.properties["sku"] == "TEE-M"
    assert purchase.at == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)
    mp = [e.name for e in store.events.for_customer("user-1003")]
    assert sorted(mp) == ["Product Added", "Product Viewed"]  # same timestamp
    again = import_ga4_events(store, data / "ga4_events.jsonl")
    assert (again.imported, again.unchanged) == (0, 8)


def test_ga4_mapping_covers_the_issue_names() -> None:
    for name, segment in {
        "view_item": "Product Viewed", "add_to_cart": "Product Added",
        "begin_checkout": "Checkout Started", "purchase": "Order Completed",
        "refund": "Order Refunded",
    }.items():  # fmt: skip
        assert GA4_EVENT_NAMES[name] == segment
    custom = ga4_to_segment({"event_name": "level_up", "event_timestamp": 0, "user_pseudo_id": "p"})
    assert custom[0]["event"] == "level_up"
    assert custom[0]["timestamp"].startswith("1970-01-01T00:00:00")
