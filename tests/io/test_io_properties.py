"""Properties over generated exports: every record lands in one bucket, re-imports change nothing."""

from __future__ import annotations

import csv
import tempfile
from decimal import Decimal
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.io import SHOPIFY_ORDER_COLUMNS, import_shopify_orders

line_st = st.tuples(
    st.integers(0, 5),  # quantity
    st.integers(0, 20_000),  # price in cents
    st.sampled_from(["A-1", "B-2", "C-3", ""]),
)
order_st = st.tuples(
    st.sampled_from(["a@example.com", "b@example.com", "C@Example.com", "bad-email", ""]),
    st.lists(line_st, min_size=1, max_size=4),
    st.integers(0, 1_000),  # shipping cents
    st.booleans(),  # corrupt the total
    st.sampled_from(["2024-01-02 03:04:05 +0100", "2024-02-29T23:59:59Z", "nope"]),
)


def _write(path: Path, orders: list[tuple[object, ...]]) -> int:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=SHOPIFY_ORDER_COLUMNS)
        w.writeheader()
        rows = 0
        for k, (email, lines, ship, corrupt, created) in enumerate(orders):
            sub = sum(q * p for q, p, _ in lines)  # type: ignore[misc]
            total = sub + ship + (1_00 if corrupt else 0)  # type: ignore[operator]
            for j, (q, p, sku) in enumerate(lines):  # type: ignore[misc]
                row = {c: "" for c in SHOPIFY_ORDER_COLUMNS}
                row.update({"Name": f"#{k}", "Email": email, "Lineitem quantity": str(q),
                            "Lineitem price": f"{p / 100:.2f}", "Lineitem sku": sku,
                            "Lineitem name": "Thing" if j % 2 else ""})  # fmt: skip
                if j == 0:
                    row.update({"Currency": "EUR", "Subtotal": f"{sub / 100:.2f}",
                                "Shipping": f"{ship / 100:.2f}", "Taxes": "0.00",  # type: ignore[operator]
                                "Total": f"{total / 100:.2f}", "Created at": created})  # fmt: skip
                w.writerow(row)
                rows += 1
    return rows


@settings(max_examples=40)
@given(orders=st.lists(order_st, max_size=12), batch=st.integers(1, 5))
def test_every_order_is_accounted_for_and_reimport_is_a_no_op(
    orders: list[tuple[object, ...]], batch: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders_export.csv"
        rows = _write(path, orders)
        store = ecomcrm.open_store("memory://")
        first = import_shopify_orders(store, path, batch_size=batch)
        assert first.rows == rows
        assert first.read == len(orders)
        assert first.imported == store.orders.count()
        assert first.rejected == len(first.rejections)
        for r in first.rejections:
            assert r.file == "orders_export.csv" and 2 <= r.line <= rows + 1 and r.reason
        good = 0
        for k, (email, lines, ship, corrupt, created) in enumerate(orders):
            ok = (email not in ("bad-email", "") and not corrupt and created != "nope"
                  and all(sku or j % 2 for j, (_, _, sku) in enumerate(lines)))  # type: ignore[arg-type]  # fmt: skip
            good += ok
            if ok:
                order = store.orders.get(f"#{k}")
                want = (sum(q * p for q, p, _ in lines) + ship) / 100  # type: ignore[misc, operator]
                assert order.total == Decimal(f"{want:.2f}")
        assert first.imported == good
        second = import_shopify_orders(store, path, batch_size=batch)
        assert (second.imported, second.updated) == (0, 0)
        assert second.unchanged == first.imported and second.rejected == first.rejected
