"""Every command, end to end, on each real-layout file of tests/data (and on the whole CDNOW file)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from ecomcrm.cli import main

DATA = Path(__file__).resolve().parent.parent / "data"

UCI_MAPPING = json.dumps(
    json.loads((DATA / "generic_mappings.json").read_text(encoding="utf-8"))["uci_orders"]
)
CDNOW_MAPPING = '{"customer_id": "customer_id", "placed_at": "date", "total": "dollar_value"}'
CDNOW_ARGS = ["--kind", "orders", "--delimiter", "whitespace", "--currency", "USD",
              "--mapping", CDNOW_MAPPING]  # fmt: skip

LAYOUTS = {
    "shopify_orders.csv": [],
    "shopify_orders_zar.csv": [],
    "shopify_orders_bdt.csv": [],
    "shopify_customers.csv": [],
    "shopify_customers_legacy.csv": [],
    "woocommerce_orders.csv": [],
    "woocommerce_orders_export.csv": [],
    "segment_events.jsonl": [],
    "rudderstack_segment.jsonl": [],
    "ga4_events.jsonl": [],
    "uci_online_retail.csv": ["--kind", "orders", "--currency", "GBP", "--mapping", UCI_MAPPING],
    "generic_orders.csv": ["--kind", "orders", "--currency", "GBP", "--mapping", json.dumps(
        {"order_id": "InvoiceNo", "email": "CustomerEmail", "placed_at": "InvoiceDate",
         "sku": "StockCode", "quantity": "Quantity", "unit_price": "UnitPrice"})],
    "cdnow_sample.txt": ["--kind", "orders", "--delimiter", "whitespace", "--currency", "USD",
                         "--columns", "customer,cohort,date,cds,amount", "--mapping",
                         '{"customer_id": "customer", "placed_at": "date", "total": "amount"}'],
}  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def every_command(
    db: Path, capsys: pytest.CaptureFixture[str], *, text: bool = True
) -> dict[str, object]:
    """report (text, JSON), segments, an expression, flows backtest, export and erase on ``db``."""
    if text:
        code, out, err = run(capsys, "report", "--db", str(db), "--quiet")
        assert code == 0, err
        assert "Traceback" not in err and "Lifecycle stages" in out
        code, out, err = run(capsys, "segments", "--db", str(db))
        assert code == 0, err
    code, out, err = run(capsys, "report", "--db", str(db), "--json", "--quiet")
    assert code == 0, err
    report: dict[str, object] = json.loads(out)
    assert sum(report["lifecycle_stages"].values()) == report["customers"]  # type: ignore[attr-defined]
    code, out, err = run(capsys, "segments", "orders_count >= 0", "--db", str(db), "--limit", "1")
    assert code == 0, err
    assert out.startswith(f"{report['customers']:,} of {report['customers']:,} customers match")
    code, flows, err = run(capsys, "flows", "backtest", "--db", str(db), "--json")
    assert code == 0, err
    assert isinstance(json.loads(flows), dict)
    if report["customers"]:
        customer = out.splitlines()[1].strip()
        code, exported, err = run(capsys, "export", customer, "--db", str(db))
        assert code == 0, err
        assert customer in exported
        code, out, err = run(capsys, "erase", customer, "--db", str(db))
        assert code == 0 and out.startswith(f"erased {customer}"), err
    return report


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_every_command_on_a_real_layout_file(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "crm.db"
    code, out, err = run(capsys, "import", str(DATA / name), *LAYOUTS[name], "--db", str(db),
                         "--quiet")  # fmt: skip
    assert code in (0, 3), err
    assert out.startswith(f"{name} (")
    assert "Traceback" not in err
    if code == 3:  # each rejected row named by file, line and column
        assert f"  rejected {name}: line " in err
    code, again, err = run(capsys, "import", str(DATA / name), *LAYOUTS[name], "--db", str(db),
                           "--quiet")  # fmt: skip
    assert code in (0, 3), err
    assert "imported 0" in again  # a second import finds every record again
    report = every_command(db, capsys)
    assert report["customers"] or "customers" in name  # type: ignore[operator]


def _shopify_pandas(name: str) -> tuple[float, int, str]:
    frame = pd.read_csv(DATA / name)
    orders = frame.drop_duplicates("Name")
    orders = orders[orders["Email"].notna() | orders["Phone"].notna()]  # else: no customer
    live = orders[orders["Cancelled at"].isna()]
    revenue = float(live["Total"].sum() - live["Refunded Amount"].sum())
    return revenue, len(live), str(orders["Currency"].dropna().iloc[0])


def test_two_currencies_need_rates_and_then_agree_with_pandas(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = [str(DATA / "shopify_orders_zar.csv"), str(DATA / "shopify_orders_bdt.csv")]
    code, out, err = run(capsys, "analyze", *files, "--json", "--quiet")
    assert code == 2 and out == ""
    assert "the data hold several currencies (BDT, ZAR)" in err
    code, out, err = run(
        capsys, "analyze", *files, "--json", "--quiet", "--currency", "ZAR",
        "--rates", '{"BDT": 0.16}',
    )  # fmt: skip
    assert code == 3, err  # each file has one order without a customer
    report = json.loads(out)
    zar, zar_orders, _ = _shopify_pandas("shopify_orders_zar.csv")
    bdt, bdt_orders, _ = _shopify_pandas("shopify_orders_bdt.csv")
    assert report["currency"] == "ZAR"
    assert report["revenue"] == pytest.approx(zar + 0.16 * bdt)
    assert report["orders"] == zar_orders + bdt_orders


@pytest.mark.slow
def test_every_command_on_the_whole_cdnow_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "cdnow.db"
    path = DATA / "cdnow_master.txt.gz"
    code, out, err = run(capsys, "import", str(path), *CDNOW_ARGS, "--db", str(db), "--quiet")
    assert code == 0, err
    assert out.startswith("cdnow_master.txt.gz (generic_orders): read 69659, imported 69659")
    # analyze (in memory, text) must agree with the stored report (JSON)
    code, text, err = run(capsys, "analyze", str(path), *CDNOW_ARGS, "--quiet")
    assert code == 0, err
    assert "  23,570 customers, 69,659 orders\n  revenue 2,500,315.63 USD" in text
    report = every_command(db, capsys, text=False)
    frame = pd.read_csv(path, sep=r"\s+", dtype={"customer_id": str})
    assert report["orders"] == len(frame) == 69_659
    assert report["customers"] == frame["customer_id"].nunique() == 23_570
    assert report["revenue"] == pytest.approx(frame["dollar_value"].sum(), rel=1e-12)
    assert report["currency"] == "USD"
    assert report["as_of"] == pd.Timestamp(str(frame["date"].max()), tz="UTC").isoformat()
    models = report["value_models"]
    assert models["purchase"] is not None  # type: ignore[index]
    # repeat buyers whose repeat orders average $0 are outside Gamma-Gamma (counted, not fitted)
    summary = frame.groupby(["customer_id", "date"])["dollar_value"].sum().reset_index()
    repeat = summary.groupby("customer_id").agg(n=("date", "size"), first=("date", "min"))
    later = summary.merge(repeat, on="customer_id")
    later = later[later["date"] > later["first"]].groupby("customer_id")["dollar_value"].mean()
    assert models["customers_excluded_from_spend_model"] == int((later <= 0).sum())  # type: ignore[index]
