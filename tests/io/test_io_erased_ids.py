"""An erased person is not brought back by an import naming only their customer id.

Before, ``erase`` suppressed emails, phones and external ids only: a generic order row
naming the erased id, or a Segment call whose ``userId`` equals it, created the customer
again (with the new row's data under the old id).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from ecomcrm.domain import Customer, Identity
from ecomcrm.io import import_generic, import_segment_events
from ecomcrm.storage import Store

T = datetime(2024, 1, 1, tzinfo=UTC)
COLUMNS = ["order_id", "customer_id", "placed_at", "sku", "quantity", "unit_price"]


def _erased(store: Store, *ids: str) -> None:
    for n, cid in enumerate(ids):
        email = Identity.email(f"erased{n}@example.com")
        store.customers.put(Customer(id=cid, created_at=T, identities=[email]))
        store.erase(cid)


def test_a_generic_order_naming_only_an_erased_id_is_suppressed(
    store: Store, tmp_path: Path
) -> None:
    _erased(store, "c1", "a:b%")
    path = tmp_path / "orders.csv"
    path.write_text(
        "order_id,customer_id,placed_at,sku,quantity,unit_price\n"
        "o1,c1,2024-02-01T00:00:00Z,A,1,10\n"
        "o2,a:b%,2024-02-01T00:00:00Z,A,1,10\n"
        "o3,c2,2024-02-01T00:00:00Z,A,1,10\n"
    )
    mapping = {c: c for c in COLUMNS}
    report = import_generic(store, path, kind="orders", mapping=mapping, currency="EUR")
    assert (report.imported, report.suppressed, report.rejected) == (1, 2, 0)
    assert store.customers.find("c1") is None and store.customers.find("a:b%") is None
    assert store.orders.for_customer("c1") == [] and store.customers.find("c2") is not None


def test_a_segment_user_id_equal_to_an_erased_id_is_suppressed(
    store: Store, tmp_path: Path
) -> None:
    _erased(store, "u1")
    path = tmp_path / "s.jsonl"
    messages = [
        {"type": "track", "event": "Product Viewed", "userId": "u1", "messageId": "a",
         "timestamp": "2024-06-01T10:00:00Z", "properties": {"sku": "TEE"}},
        {"type": "identify", "userId": "u1", "messageId": "b",
         "timestamp": "2024-06-01T10:01:00Z", "traits": {"firstName": "Back"}},
        {"type": "track", "event": "Product Viewed", "userId": "u2", "messageId": "c",
         "timestamp": "2024-06-01T10:02:00Z"},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(m) + "\n" for m in messages))
    report = import_segment_events(store, path)
    assert (report.suppressed, report.rejected) == (2, 0)
    assert store.customers.find("u1") is None and store.events.for_customer("u1") == []
    assert [e.name for e in store.events.for_customer("u2")] == ["Product Viewed"]
