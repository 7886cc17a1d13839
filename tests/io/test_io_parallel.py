"""Parallel first loads: the same store and report as a sequential import, from worker processes."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path
from typing import Any

import pytest

import ecomcrm
from ecomcrm.domain import Identity
from ecomcrm.io import SyntheticShop, import_shopify_orders, parallel_import_possible
from ecomcrm.io._shopify import SHOPIFY_ORDER_COLUMNS


def _row(**cells: str) -> list[str]:
    return [cells.get(name, "") for name in SHOPIFY_ORDER_COLUMNS]


def _order(name: str, email: str, phone: str = "", total: str = "20.00") -> list[str]:
    return _row(**{
        "Name": name, "Email": email, "Phone": phone, "Financial Status": "paid",
        "Currency": "EUR", "Subtotal": "20.00", "Shipping": "0.00", "Taxes": "0.00",
        "Total": total, "Created at": "2024-12-01 10:00:00 +0100", "Lineitem quantity": "2",
        "Lineitem name": "Mug", "Lineitem price": "10.00", "Lineitem sku": "MUG-1",
    })  # fmt: skip


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A synthetic export of ~1,800 orders plus the awkward cases, at the end of the file."""
    root = tmp_path_factory.mktemp("parallel")
    path = SyntheticShop(customers=800, seed=11, events=False).to_files(root, events=False)[
        "orders"
    ]
    with path.open(newline="") as handle:
        header, *rows = list(csv.reader(handle))
    assert tuple(header) == SHOPIFY_ORDER_COLUMNS
    first_email = rows[0][header.index("Email")]
    rows += [
        _order("#X-1", "pat@example.com", phone="+33611111111"),
        _order("#X-2", "", phone="+33611111111"),  # phone only: found as pat afterwards
        _order("#X-3", "", phone="+33622222222"),  # phone only, new person
        _order("#X-4", "not-an-email"),  # rejected: the email
        _order("#X-5", "sam@example.com", total="99.00"),  # rejected: the total
        _order("#X-6", ""),  # rejected: nobody
        _order("#X-1", "pat@example.com", phone="+33611111111", total="20.00"),  # again
        _order("#X-7", first_email),  # a later order of the file's first customer
    ]
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def _dump(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return {
            "orders": conn.execute(
                "SELECT id, customer_id, placed_at, total, status, units FROM orders ORDER BY id"
            ).fetchall(),
            "lines": conn.execute(
                "SELECT order_id, position, sku, quantity, unit_price FROM order_lines "
                "ORDER BY order_id, position"
            ).fetchall(),
            "customers": conn.execute(
                "SELECT c.id, c.created_at, c.first_name, c.last_name, c.country, i.key, "
                "i.position FROM customers c JOIN identities i ON i.customer_pk = c.pk "
                "ORDER BY c.id, i.position"
            ).fetchall(),
            "refunds": conn.execute(
                "SELECT id, order_id, customer_id, at, amount FROM refunds ORDER BY id"
            ).fetchall(),
        }
    finally:
        conn.close()


def _report(report: ecomcrm.io.ImportReport) -> tuple[Any, ...]:
    extra = {k: v for k, v in report.extra.items() if k != "workers"}
    rejections = [(r.line, r.column) for r in report.rejections]
    return (report.rows, report.imported, report.updated, report.unchanged, report.rejected,
            report.suppressed, extra, rejections)  # fmt: skip


def test_two_workers_give_the_sequential_store_and_report(export: Path, tmp_path: Path) -> None:
    results = {}
    for workers in (1, 2):
        db = tmp_path / f"w{workers}.db"
        store = ecomcrm.open_store(f"sqlite:///{db}")
        seen: list[int] = []
        report = import_shopify_orders(
            store, export, workers=workers, batch_size=150,
            progress=lambda done, total, seen=seen: seen.append(done),
        )  # fmt: skip
        assert report.extra.get("workers", 1) == workers
        assert seen == sorted(seen) and seen[-1] >= report.imported  # records written
        pat = store.customers.find_by_identity(Identity.email("pat@example.com"))
        assert pat is not None
        assert {o.id for o in store.orders.for_customer(pat.id)} == {"#X-1", "#X-2"}
        store.close()
        results[workers] = (_report(report), _dump(db), seen[-1])
    assert results[2] == results[1]
    (_, imported, updated, unchanged, rejected, *_), dump, _ = results[1]
    # #X-1 comes twice with the same content: the repeat is unchanged, not an update
    assert (updated, unchanged) == (0, 1)
    assert rejected == 3 and imported == len(dump["orders"]) > 1_500


def test_a_second_import_after_a_parallel_one_changes_nothing(export: Path, tmp_path: Path) -> None:
    store = ecomcrm.open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    first = import_shopify_orders(store, export, workers=2, batch_size=400)
    assert not parallel_import_possible(store)  # no longer empty: a re-import runs here
    again = import_shopify_orders(store, export, workers=2, batch_size=400)
    assert "workers" not in again.extra
    assert again.imported == 0
    assert again.unchanged == first.imported + first.updated + first.unchanged
    store.close()


def test_stores_another_process_cannot_open_import_in_this_process(export: Path) -> None:
    store = ecomcrm.open_store("memory://")
    assert not parallel_import_possible(store)
    report = import_shopify_orders(store, export, workers=4)
    assert "workers" not in report.extra and report.rejected == 3


def test_a_phone_shared_across_workers_is_kept_by_one_person(tmp_path: Path) -> None:
    from ecomcrm.io._parallel import Part

    def part(email: str) -> int:
        return Part.bucket(email, 2)

    emails = [f"p{i}@example.com" for i in range(20)]
    a = emails[0]
    b = next(e for e in emails if part(e) != part(a))
    path = tmp_path / "orders.csv"
    with path.open("w", newline="") as handle:
        csv.writer(handle).writerows(
            [
                SHOPIFY_ORDER_COLUMNS,
                _order("#1", a, "+33633333333"),
                _order("#2", b, "+33633333333"),
            ]
        )
    for workers in (1, 2):
        store = ecomcrm.open_store(f"sqlite:///{tmp_path / f'w{workers}.db'}")
        report = import_shopify_orders(store, path, workers=workers)
        assert report.imported == 2 and report.rejected == 0
        assert report.extra["phones_already_in_use"] == 1
        phones = [
            store.customers.find_by_identity(Identity.email(e)).phone  # type: ignore[union-attr]
            for e in (a, b)
        ]
        assert sorted(phones, key=str) == sorted(["+33633333333", None], key=str)
        store.close()


def test_a_failing_worker_stops_the_import_with_its_error(tmp_path: Path) -> None:
    from ecomcrm.errors import StorageError
    from ecomcrm.io._parallel import run_parallel
    from ecomcrm.io._shopify import _import_part

    store = ecomcrm.open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    with pytest.raises(StorageError, match=r"missing\.csv\.path: cannot be read"):
        run_parallel(
            store, tmp_path / "missing.csv", _import_part, workers=2, progress=None,
            kind="shopify_orders", unit="orders", batch_size=100, id_prefix="",
        )  # fmt: skip
    store.close()


def test_a_file_that_is_not_text_is_refused_before_workers_start(tmp_path: Path) -> None:
    from ecomcrm.errors import ValidationError

    store = ecomcrm.open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    path = tmp_path / "orders.csv"
    path.write_bytes("Name,Email\n#1,zoë@example.com\n".encode("latin-1"))
    with pytest.raises(ValidationError, match="line 2: column 6: is not UTF-8 text: byte 0xeb"):
        import_shopify_orders(store, path, workers=2)
    store.close()
