"""The Magento 2 order grid and BigCommerce orders importers, on files in the platforms' layouts.

The files (tests/data/make_magento_bigcommerce.py) hold the quirks of real exports: several
currencies, phone-only buyers, zero-value orders, dates and numbers re-saved by Excel. The
totals are checked against an independent pandas reading of the same file.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import ecomcrm
from ecomcrm.domain import OrderStatus
from ecomcrm.errors import ValidationError
from ecomcrm.io import import_bigcommerce_orders, import_magento_orders, parse_product_details
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data"
MAGENTO = DATA / "magento_orders_grid.csv"
BIGCOMMERCE = DATA / "bigcommerce_orders.csv"
_MAGENTO_ARGS = {"currency": "EUR", "timezone": "Europe/Berlin", "dayfirst": True}
_BC_ARGS = {"timezone": "America/New_York"}


def _magento(store: Store, path: Path = MAGENTO) -> ecomcrm.io.ImportReport:
    return import_magento_orders(store, path, **_MAGENTO_ARGS)  # type: ignore[arg-type]


def _bigcommerce(store: Store, path: Path = BIGCOMMERCE) -> ecomcrm.io.ImportReport:
    return import_bigcommerce_orders(store, path, **_BC_ARGS)


def _totals(store: Store, ids: list[str]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for order_id in ids:
        order = store.orders.get(order_id)
        out[order.currency] = out.get(order.currency, Decimal(0)) + order.total
    return out


# --- Magento ----------------------------------------------------------------------------------


def _magento_oracle() -> pd.DataFrame:
    frame = pd.read_csv(MAGENTO, dtype=str, keep_default_na=False)
    frame = frame[frame["Customer Email"].str.strip() != ""].copy()
    cell = frame["Grand Total (Purchased)"]
    frame["currency"] = cell.map(lambda s: "GBP" if "£" in s else "USD" if "$" in s else "EUR")
    frame["total"] = cell.str.replace(r"[£$€,]", "", regex=True).map(Decimal)
    frame["order_id"] = "mg-" + frame["ID"].str.zfill(9)
    return frame


def test_magento_grid_totals_match_pandas(store: Store) -> None:
    report = _magento(store)
    oracle = _magento_oracle()
    assert report.imported == store.orders.count() == len(oracle)
    expected = oracle.groupby("currency")["total"].sum().to_dict()
    assert _totals(store, list(oracle["order_id"])) == expected
    assert set(expected) == {"EUR", "GBP", "USD"}  # several currencies, none added together
    assert store.customers.count() == oracle["Customer Email"].str.lower().nunique()


def test_magento_grid_quirks(store: Store) -> None:
    report = _magento(store)
    [rejected] = report.rejections
    assert (rejected.file, rejected.line, rejected.column) == (
        "magento_orders_grid.csv",
        17,
        "Customer Email",
    )
    # "Mar 2, 2024 14:05:12 PM": Magento's 24-hour hour with a marker, in Berlin time
    assert store.orders.get("mg-000000002").placed_at == datetime(2024, 3, 2, 13, 5, 12, tzinfo=UTC)
    # re-saved by Excel: "3" was 000000003, "04/03/2024 18:30" day first, a serial day number
    alan = store.orders.get("mg-000000003")
    assert alan.placed_at == datetime(2024, 3, 4, 17, 30, tzinfo=UTC)
    assert alan.total == 0 and alan.status is OrderStatus.FULFILLED  # a zero-value order
    assert store.orders.get("mg-000000004").placed_at == datetime(2024, 3, 4, 11, tzinfo=UTC)
    first = store.orders.get("mg-000000001")
    assert (first.subtotal, first.shipping, first.tax) == (Decimal("49.9"), 5, Decimal("5.0"))
    refunds = store.orders.refunds_for_order("mg-000000004")
    assert [r.amount for r in refunds] == [Decimal("20.0000")]
    assert store.orders.get("mg-000000005").is_cancelled
    assert store.orders.get("mg-000000008").total == Decimal("1234.5")
    # "ADA@example.com" is Ada: one person for orders 1, 4 and 7
    owners = {store.orders.get(f"mg-00000000{n}").customer_id for n in (1, 4, 7)}
    assert len(owners) == 1


def test_magento_reimport_changes_nothing(store: Store) -> None:
    first = _magento(store)
    again = _magento(store)
    assert again.imported == 0 and again.unchanged == first.imported
    assert again.rejected == first.rejected
    assert store.orders.refunds_for_order("mg-000000004")[0].amount == 20
    assert len(store.orders.refunds_for_order("mg-000000004")) == 1


def test_magento_without_customer_email_names_the_column(tmp_path: Path) -> None:
    frame = pd.read_csv(MAGENTO, dtype=str, keep_default_na=False)
    path = tmp_path / "default_columns.csv"
    frame.iloc[:, :8].to_csv(path, index=False)  # the grid's default columns only
    store = ecomcrm.open_store("memory://")
    with pytest.raises(ValidationError) as caught:
        _magento(store, path)
    assert caught.value.field == "Customer Email" and "tick Customer Email" in str(caught.value)
    assert store.orders.count() == 0


def test_magento_two_currencies_without_symbols_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "bare.csv"
    path.write_text(
        "ID,Purchase Date,Grand Total (Base),Grand Total (Purchased),Status,Customer Email\n"
        '000000009,"Mar 1, 2024 9:00:00 AM",49.1400,42.0000,Processing,x@example.com\n'
    )
    store = ecomcrm.open_store("memory://")
    report = _magento(store, path)
    [rejected] = report.rejections
    assert (rejected.line, rejected.column, rejected.value) == (
        2,
        "Grand Total (Purchased)",
        "42.0000",
    )
    assert store.orders.count() == store.customers.count() == 0


# --- BigCommerce ------------------------------------------------------------------------------


def _bigcommerce_oracle() -> pd.DataFrame:
    frame = pd.read_csv(BIGCOMMERCE, dtype=str, keep_default_na=False)
    known = (
        (frame["Customer Email"] != "")
        | frame["Customer Phone"].str.startswith("+")
        | (frame["Customer ID"] != "0")
    )
    frame = frame[known].copy()
    frame["total"] = frame["Order Total (inc tax)"].map(Decimal)
    frame["units"] = frame["Product Details"].map(
        lambda s: sum(int(q) for q in re.findall(r"Product Qty: (\d+)", s))
    )
    frame["order_id"] = "bc-" + frame["Order ID"]
    return frame


def test_bigcommerce_totals_and_lines_match_pandas(store: Store) -> None:
    report = _bigcommerce(store)
    oracle = _bigcommerce_oracle()
    assert report.imported == store.orders.count() == len(oracle)
    expected = oracle.groupby("Order Currency Code")["total"].sum().to_dict()
    assert _totals(store, list(oracle["order_id"])) == expected
    assert set(expected) == {"GBP", "USD", "EUR"}
    for order_id, units in zip(oracle["order_id"], oracle["units"], strict=True):
        assert sum(line.quantity for line in store.orders.get(order_id).lines) == units


def test_bigcommerce_quirks(store: Store) -> None:
    report = _bigcommerce(store)
    assert [(r.line, r.column) for r in report.rejections] == [
        (7, "Customer Email"), (9, "Customer Email")
    ]  # fmt: skip
    # a phone-only guest is kept, found by the phone
    guest = store.orders.get("bc-102")
    person = store.customers.get(guest.customer_id)
    assert [i.key for i in person.identities] == ["phone:+14155550134"]
    assert guest.discount == 5 and guest.discount_codes == ("SPRING",)
    assert [line.sku for line in guest.lines] == ["TEE-M", "MUG"]
    assert guest.lines[1].title == "Mug | white"  # a "|" in a name is not a new product
    # prices ex tax, tax on top; shipped the next day
    first = store.orders.get("bc-101")
    assert (first.subtotal, first.shipping, first.tax, first.taxes_included) == (25, 5, 3, False)
    assert first.placed_at == datetime(2024, 3, 1, 5, tzinfo=UTC)
    assert first.shipped_at == datetime(2024, 3, 2, 5, tzinfo=UTC)
    assert first.lines[0].title == "Tee, organic cotton"
    # the same person by BigCommerce id and email; the Excel serial date
    again = store.orders.get("bc-104")
    assert again.customer_id == first.customer_id
    assert again.placed_at == datetime(2024, 3, 9, 15, tzinfo=UTC)  # 45360.4166: 10:00 EST
    assert [r.amount for r in store.orders.refunds_for_order("bc-104")] == [10]
    assert store.orders.get("bc-103").total == 0
    assert store.orders.get("bc-105").is_cancelled
    # Excel turned the phone into 4.47701E+11: not a phone, the email still names her
    grace = store.customers.get(store.orders.get("bc-107").customer_id)
    assert [i.key for i in grace.identities] == ["email:grace@example.com"]


def test_bigcommerce_reimport_changes_nothing(store: Store) -> None:
    first = _bigcommerce(store)
    people = store.customers.count()
    again = _bigcommerce(store)
    assert again.imported == 0 and again.unchanged == first.imported
    assert store.customers.count() == people
    assert len(store.orders.refunds_for_order("bc-104")) == 1


def test_bigcommerce_bad_cells_name_line_column_and_value(tmp_path: Path) -> None:
    frame = pd.read_csv(BIGCOMMERCE, dtype=str, keep_default_na=False)
    frame.loc[0, "Order Status"] = "Teleported"
    frame.loc[2, "Order Total (inc tax)"] = "12.50"  # disagrees with the lines
    frame.loc[3, "Order Date"] = "31/31/2024"
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    store = ecomcrm.open_store("memory://")
    report = _bigcommerce(store, path)
    got = {(r.line, r.column): r.value for r in report.rejections}
    assert got[(2, "Order Status")] == "Teleported"
    assert got[(4, "Order Total (inc tax)")] == "12.50"  # more than lines + shipping + tax
    assert got[(5, "Order Date")] == "31/31/2024"
    for order_id in ("bc-101", "bc-103", "bc-104"):
        assert not _has_order(store, order_id)


def _has_order(store: Store, order_id: str) -> bool:
    try:
        store.orders.get(order_id)
    except ecomcrm.errors.NotFoundError:
        return False
    return True


def test_product_details_refuse_text_that_is_no_product_list() -> None:
    with pytest.raises(ecomcrm.io._rows.RowError):
        parse_product_details("two tees and a mug")


# --- truncated files --------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(fraction=st.floats(min_value=0.05, max_value=0.999), bigcommerce=st.booleans())
def test_a_truncated_file_imports_its_whole_rows_and_nothing_half(
    tmp_path_factory: pytest.TempPathFactory, fraction: float, bigcommerce: bool
) -> None:
    source = BIGCOMMERCE if bigcommerce else MAGENTO
    run = _bigcommerce if bigcommerce else _magento
    full_store = ecomcrm.open_store("memory://")
    run(full_store, source)
    text = source.read_bytes()
    cut = text[: int(len(text) * fraction)]
    path = tmp_path_factory.mktemp("cut") / source.name
    path.write_bytes(cut)
    store = ecomcrm.open_store("memory://")
    try:
        report = run(store, path)
    except ValidationError:
        assert store.orders.count() == 0  # the header itself is cut: nothing imported
        return
    ends = _record_ends(text)
    whole = pd.read_csv(source, dtype=str, keep_default_na=False)
    whole = whole.iloc[: sum(1 for end in ends[1:] if end <= len(cut))]
    key = "Order ID" if bigcommerce else "ID"
    prefix = "bc-" if bigcommerce else "mg-"
    complete = {prefix + (i if bigcommerce else i.zfill(9)) for i in whole[key]}
    for order_id in complete:  # every whole row is imported exactly as from the whole file
        if _has_order(full_store, order_id):
            assert store.orders.get(order_id) == full_store.orders.get(order_id)
    # nothing else but perhaps the row the cut went through, and only in full
    assert report.imported <= len(complete) + 1
    assert report.imported + report.rejected == report.rows
    every = pd.read_csv(source, dtype=str, keep_default_na=False)[key]
    owners = set()
    for order_id in {prefix + (i if bigcommerce else i.zfill(9)) for i in every}:
        if _has_order(store, order_id):  # whole, or the cut spared what is read
            order = store.orders.get(order_id)
            assert order == full_store.orders.get(order_id)
            owners.add(order.customer_id)
    assert store.customers.count() == len(owners)  # nobody without an order


def _record_ends(text: bytes) -> list[int]:
    """Where each CSV record of ``text`` ends (after its newline), quoted newlines skipped."""
    ends, quoted = [], False
    for at, byte in enumerate(text):
        if byte == ord('"'):
            quoted = not quoted
        elif byte == ord("\n") and not quoted:
            ends.append(at + 1)
    return ends


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("84.2000", (Decimal("84.2000"), "EUR")),
        ("€1.234,50", (Decimal("1234.50"), "EUR")),
        ("£42.00", (Decimal("42.00"), "GBP")),
        ("$30.00", (Decimal("30.00"), "USD")),
        ("CA$5.00", (Decimal("5.00"), "CAD")),
        ("100 SEK", (Decimal("100"), "SEK")),
        ("CHF 12.50", (Decimal("12.50"), "CHF")),
    ],
)
def test_export_money_reads_symbols_and_codes(cell: str, expected: tuple[Decimal, str]) -> None:
    from ecomcrm.io._export_cells import export_money

    assert export_money(cell, "Grand Total (Purchased)", currency="EUR") == expected


@pytest.mark.parametrize("cell", ["kr 100", "-5.00", "(5.00)", "12 apples"])
def test_export_money_refuses_what_it_cannot_read(cell: str) -> None:
    from ecomcrm.io._export_cells import export_money
    from ecomcrm.io._rows import RowError

    with pytest.raises(RowError) as caught:
        export_money(cell, "Grand Total (Purchased)", currency="EUR")
    assert caught.value.column == "Grand Total (Purchased)" and caught.value.value
