"""Results show a compact HTML table in Jupyter (``_repr_html_``), with the right numbers."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html.parser import HTMLParser

import pytest

import ecomcrm
from ecomcrm.io import SyntheticShop, import_shopify_orders
from ecomcrm.rules import backtest, builtin_flows
from ecomcrm.segments import (
    build_customer_features,
    builtin_segments,
    evaluate_segments,
    fit_value_models,
)

NOW = datetime(2025, 1, 1, tzinfo=UTC)


class _Cells(HTMLParser):
    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.caption = ""
        self._in: str | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th", "caption"):
            self._in = tag
            if tag != "caption":
                self.rows[-1].append("")

    def handle_endtag(self, tag: str) -> None:
        self._in = None if tag in ("td", "th", "caption") else self._in

    def handle_data(self, data: str) -> None:
        if self._in == "caption":
            self.caption += data
        elif self._in in ("td", "th"):
            self.rows[-1][-1] += data


@pytest.fixture(scope="module")
def shop() -> ecomcrm.storage.Store:
    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=300, seed=1).to_store(store)
    return store


def test_feature_table(shop: ecomcrm.storage.Store) -> None:
    table = build_customer_features(shop, now=NOW)
    cells = _Cells(table._repr_html_())
    assert cells.caption == f"FeatureTable: 300 customers x {len(table.names)} columns"
    header, *rows = cells.rows[:11]
    assert header[:3] == ["id", "created_at", "country"] and len(header) == 13
    assert [r[0] for r in rows] == [str(i) for i in table.ids[:10]]
    spent = header.index("orders_count")
    assert [r[spent] for r in rows] == [f"{int(v):,}" for v in table.column("orders_count")[:10]]
    assert cells.rows[-1] == [f"... 290 more rows, {len(table.names) - 12} more columns"]


def test_segment_membership(shop: ecomcrm.storage.Store) -> None:
    membership = evaluate_segments(
        build_customer_features(shop, now=NOW), builtin_segments(), now=NOW
    )
    cells = _Cells(membership._repr_html_())
    assert cells.rows[0] == ["segment", "customers", "share"]
    assert {r[0]: r[1] for r in cells.rows[1:]} == {
        name: f"{count:,}" for name, count in membership.counts().items()
    }
    assert all(re.fullmatch(r"\d+\.\d%", r[2]) for r in cells.rows[1:])


def test_fitted_model(shop: ecomcrm.storage.Store) -> None:
    model = fit_value_models(shop.order_facts(), now=NOW).purchase
    cells = _Cells(model._repr_html_())
    assert cells.caption == type(model).__name__
    errors = model.standard_errors
    assert cells.rows[1:5] == [[k, f"{v:.4g}", f"{errors[k]:.4g}"] for k, v in model.params.items()]
    assert cells.rows[-1][0].startswith(f"log-likelihood {model.log_likelihood:.6g}")


def test_backtest_report(shop: ecomcrm.storage.Store) -> None:
    events = [
        e for c in list(shop.customers.iterate())[:40] for e in shop.events.for_customer(c.id)
    ]
    report = backtest(shop, builtin_flows(), events)
    cells = _Cells(report._repr_html_())
    assert cells.caption.endswith(f"{report.events:,} events, {len(report.actions):,} actions")
    rows = {r[0]: r[1:4] for r in cells.rows[1:-1]}
    assert rows == {
        k: [f"{f.enrollments:,}", f"{sum(f.actions.values()):,}", f"{f.treated_conversions:,}"]
        for k, f in report.flows.items()
    }


def test_import_report_lists_rejections(tmp_path: object) -> None:
    from pathlib import Path

    data = Path(__file__).resolve().parent / "data" / "shopify_orders_bad.csv"
    report = import_shopify_orders(ecomcrm.open_store("memory://"), data)
    cells = _Cells(report._repr_html_())
    assert cells.rows[1] == [f"{n:,}" for n in (report.read, report.imported, report.updated,
                                                 report.unchanged, report.rejected,
                                                 report.suppressed)]  # fmt: skip
    assert report.rejected > 0
    assert [r[0] for r in cells.rows[3 : 3 + min(10, report.rejected)]] == [
        str(r.line) for r in report.rejections[:10]
    ]
