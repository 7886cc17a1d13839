"""Every number of the HTML report against an independent pandas computation.

The pandas side reads the store as a user would (customers, their orders and refunds as
domain objects, one customer at a time) and computes each figure by its definition in
docs/cli.md; the report side is the page ``ecomcrm report`` writes, parsed back.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import ecomcrm
from ecomcrm.cli._analysis import Analysis, analyze_store, render_html, report_dict
from ecomcrm.io import SyntheticShop
from ecomcrm.segments import LifecycleStage, classify_lifecycle
from ecomcrm.storage import Store

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report_page import ReportPage


def _money(value: float) -> str:
    return f"{value:,.2f}"


def _pct(value: float, digits: int = 1) -> str:
    return f"{value * 100:.{digits}f}%"


@pytest.fixture(scope="module")
def shop() -> tuple[Store, Analysis, str]:
    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=600, seed=5).to_store(store)
    analysis = analyze_store(store, flow_days=3)
    return store, analysis, render_html(analysis)


@pytest.fixture(scope="module")
def frames(shop: tuple[Store, Analysis, str]) -> dict[str, pd.DataFrame]:
    """Orders, lines and refunds of every customer, read one customer at a time."""
    store = shop[0]
    orders, lines, returns, consents = [], [], [], []
    for customer in store.customers.iterate():
        refunds = store.orders.refunds_for_customer(customer.id)
        refunded: dict[str, float] = {}
        returned: dict[str, int] = {}
        for r in refunds:
            refunded[r.order_id] = refunded.get(r.order_id, 0.0) + float(r.amount)
            if r.returned:
                returned[r.order_id] = returned.get(r.order_id, 0) + sum(
                    x.quantity for x in r.lines
                )
                returns.extend(
                    {"order": r.order_id, "sku": x.sku, "units": x.quantity} for x in r.lines
                )
        for o in store.orders.for_customer(customer.id):
            orders.append({
                "id": o.id, "customer": customer.id, "at": pd.Timestamp(o.placed_at),
                "total": float(o.total), "cancelled": o.is_cancelled,
                "refunded": refunded.get(o.id, 0.0), "returned": returned.get(o.id, 0),
                "units": sum(line.quantity for line in o.lines),
            })  # fmt: skip
            lines.extend({
                "order": o.id, "sku": line.sku, "units": line.quantity,
                "total": float(line.total), "cancelled": o.is_cancelled,
                "category": line.category[0] if line.category else None,
            } for line in o.lines)  # fmt: skip
        consents.append({
            "customer": customer.id,
            "email": store.consents.is_granted(customer.id, "email", "marketing"),
            "sms": store.consents.is_granted(customer.id, "sms", "marketing"),
            "address": customer.email, "phone": customer.phone,
        })  # fmt: skip
    o = pd.DataFrame(orders)
    o["net"] = o["total"] - o["refunded"]
    return {
        "orders": o,
        "counted": o[~o["cancelled"]].sort_values(["at", "id"]).reset_index(drop=True),
        "lines": pd.DataFrame(lines),
        "returns": pd.DataFrame(returns),
        "consents": pd.DataFrame(consents).set_index("customer"),
    }


def _period(counted: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> dict[str, float]:
    inside = counted[(counted["at"] > start) & (counted["at"] <= end)]
    upto = counted[counted["at"] <= end]
    per = upto.groupby("customer").size()
    buyers = inside["customer"].unique()
    year = pd.Timedelta(days=365)
    last = upto.groupby("customer")["at"].max()
    return {
        "revenue": inside["net"].sum(),
        "orders": len(inside),
        "aov": inside["net"].sum() / len(inside),
        "repeat": (per.loc[buyers] >= 2).mean(),
        "active": upto.loc[upto["at"] > end - year, "customer"].nunique(),
        "lost": int(((last > start - year) & (last <= end - year)).sum()),
    }


def test_headline_figures(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    _, analysis, page = shop
    counted = frames["counted"]
    now = pd.Timestamp(analysis.now)
    span = (now - counted["at"].min()) / pd.Timedelta(days=1)
    assert span >= 365 + 60  # the demo shop's three years: every comparison is shown
    days = pd.Timedelta(days=30)
    cur = _period(counted, now - days, now)
    prev = _period(counted, now - 2 * days, now - days)
    cards = ReportPage(page).cards("headline")
    cur_ = analysis.report.currency
    assert cards["Revenue, net of refunds"]["value"] == f"{cur['revenue']:,.0f} {cur_}"
    assert cards["Orders"]["value"] == f"{cur['orders']:,}"
    assert cards["Average order value"]["value"] == f"{cur['aov']:,.2f} {cur_}"
    assert cards["Repeat-purchase rate"]["value"] == _pct(cur["repeat"])
    assert cards["Active customers"]["value"] == f"{cur['active']:,}"
    assert cards["Customers lost"]["value"] == f"{cur['lost']:,}"
    for label, key in [
        ("Revenue, net of refunds", "revenue"), ("Orders", "orders"),
        ("Average order value", "aov"), ("Repeat-purchase rate", "repeat"),
        ("Active customers", "active"), ("Customers lost", "lost"),
    ]:  # fmt: skip
        change = (cur[key] - prev[key]) / abs(prev[key])
        assert f"{change * 100:+.1f}% vs previous" in cards[label]["change"], label
    figures = report_dict(analysis)["headline"]  # --json: the same figures, unrounded
    assert figures["period_days"] == 30
    for name, want in (("current", cur), ("previous", prev)):
        got = figures[name]
        assert got["revenue"] == pytest.approx(want["revenue"])
        assert got["aov"] == pytest.approx(want["aov"])
        assert got["repeat_rate"] == pytest.approx(want["repeat"])
        assert (got["orders"], got["active"], got["lost"]) == (
            want["orders"],
            want["active"],
            want["lost"],
        )
    clv = pd.Series(np.asarray(analysis.table.column("predicted_clv"), dtype=float)).dropna()
    predicted = cards["Predicted revenue, next 12 months"]
    assert predicted["value"] == f"{clv.sum():,.0f} {cur_}"
    assert f"for {len(clv):,} customers" in predicted["change"]


def test_trend_by_month_new_vs_returning(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    counted = frames["counted"].copy()
    counted["new"] = ~counted.duplicated("customer")  # sorted by time: the first order is new
    counted["month"] = counted["at"].dt.tz_convert(None).dt.to_period("M")
    g = counted.groupby(["month", "new"]).agg(revenue=("net", "sum"), orders=("id", "size"))
    g = g.unstack("new", fill_value=0).tail(24)
    table = ReportPage(shop[2]).tables("trend")[0]
    assert table[0][0] == "month" and len(table) - 1 == len(g)
    for row, (month, values) in zip(table[1:], g.iterrows(), strict=True):
        new_rev, old_rev = values[("revenue", True)], values[("revenue", False)]
        new_n, old_n = int(values[("orders", True)]), int(values[("orders", False)])
        assert row == [
            month.strftime("%b %Y"), _money(new_rev + old_rev), _money(new_rev), _money(old_rev),
            f"{new_n + old_n:,}", f"{new_n:,}", f"{old_n:,}",
        ]  # fmt: skip


def test_cohort_retention_is_dated_with_percentages(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    counted = frames["counted"].copy()
    counted["month"] = counted["at"].dt.tz_convert(None).dt.to_period("M")
    first = counted.groupby("customer")["month"].min().rename("cohort")
    counted = counted.join(first, on="customer")
    counted["since"] = (counted["month"] - counted["cohort"]).apply(lambda d: d.n)
    active = counted.groupby(["cohort", "since"])["customer"].nunique().unstack(fill_value=0)
    size = first.value_counts().sort_index()
    last_month = counted["month"].max()
    cohorts = [c for c in size.index if c < last_month][-12:]
    table = ReportPage(shop[2]).tables("cohorts")[0]
    assert table[0][:3] == ["first order in", "customers", "month 1"]
    assert len(table) - 1 == len(cohorts)
    for row, cohort in zip(table[1:], cohorts, strict=True):
        assert row[0] == cohort.strftime("%b %Y") and row[1] == f"{size[cohort]:,}"
        for j in range(1, 12):
            observed = (cohort + j) <= last_month
            share = active.loc[cohort].get(j, 0) / size[cohort]
            assert row[1 + j] == (_pct(share, 0) if observed else ""), (cohort, j)
    assert ReportPage(shop[2]).sections["cohorts"]["svgs"] == 1


def test_rfm_grid_counts_and_names(shop: tuple[Store, Analysis, str]) -> None:
    _, analysis, page = shop
    t = analysis.table
    df = pd.DataFrame({
        "r": np.asarray(t.column("r_score"), dtype=float),
        "f": np.asarray(t.column("f_score"), dtype=float),
        "name": [t.column("rfm_segment").value(i) for i in range(len(t))],
    }).dropna(subset=["r", "f"])  # fmt: skip
    counts = pd.crosstab(df["f"], df["r"]).reindex(
        index=range(1, 6), columns=range(1, 6), fill_value=0
    )
    grid = ReportPage(page).tables("rfm")[0]
    assert grid[0] == ["frequency \\ recency", "R1", "R2", "R3", "R4", "R5"]
    for row in grid[1:]:
        f = int(row[0][1:])
        for r in range(1, 6):
            cell = df[(df["f"] == f) & (df["r"] == r)]
            count, _, name = row[r].partition(" ")
            assert count == f"{counts.loc[f, r]:,}", (f, r)
            if len(cell):  # the cell's most common segment (any of them on a tie)
                top = cell["name"].value_counts()
                assert name in set(top.index[top == top.iloc[0]]), (f, r)
            else:
                assert name == ""
    names = ReportPage(page).tables("rfm")[1]
    expected_names = df["name"].value_counts()
    assert {n: int(c.replace(",", "")) for n, c in names[1:]} == expected_names.to_dict()


def test_segments_and_stages_with_revenue(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    _, analysis, page = shop
    spent = frames["counted"].groupby("customer")["net"].sum()
    ids = pd.Index([str(i) for i in analysis.table.ids])
    per_row = spent.reindex(ids).fillna(0.0).to_numpy()
    total = per_row.sum()
    stages = classify_lifecycle(analysis.table, now=analysis.now)
    tables = ReportPage(page).tables("segments")
    expected_groups = [
        {LifecycleStage(k).label: stages == k for k in np.unique(stages)},
        {name: analysis.membership[name] for name in analysis.membership},
    ]
    for table, masks in zip(tables, expected_groups, strict=True):
        rows = {row[0]: row[1:] for row in table[1:]}
        assert set(rows) == set(masks)
        for name, mask in masks.items():
            assert rows[name] == [
                f"{int(mask.sum()):,}",
                _money(per_row[mask].sum()),
                _pct(per_row[mask].sum() / total),
            ], name


def test_at_risk_shows_contact_only_with_consent(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    _, analysis, page = shop
    t = analysis.table
    df = pd.DataFrame({
        "customer": [str(i) for i in t.ids],
        "p_alive": np.asarray(t.column("p_alive"), dtype=float),
        "clv": np.asarray(t.column("predicted_clv"), dtype=float),
    })  # fmt: skip
    spent = frames["counted"].groupby("customer")["net"].sum()
    count = frames["counted"].groupby("customer").size()
    last = frames["counted"].groupby("customer")["at"].max()
    df["spent"] = df["customer"].map(spent)
    risky = df[(df["p_alive"] < 0.5) & df["spent"].notna()]
    risky = risky.assign(c=-risky["clv"].fillna(0)).sort_values(
        ["spent", "c"], ascending=[False, True]
    )
    top = risky.head(15)
    table = ReportPage(page).tables("at-risk")[0]
    assert len(table) - 1 == len(top) > 0
    consents = frames["consents"]
    shown = 0
    for row, (_, want) in zip(table[1:], top.iterrows(), strict=True):
        cid = want["customer"]
        assert row[-1] == cid
        who = consents.loc[cid]
        contact = who["address"] if who["email"] else (who["phone"] if who["sms"] else None)
        assert row[1] == (contact or "no marketing consent")
        shown += contact is not None
        idle = (pd.Timestamp(analysis.now) - last[cid]) / pd.Timedelta(days=1)
        assert row[3:9] == [
            _money(want["spent"]), f"{count[cid]:,}", f"{last[cid]:%d %b %Y}", f"{idle:,.0f}",
            _pct(want["p_alive"], 0), _money(want["clv"]),
        ]  # fmt: skip
    assert 0 < shown < len(top)  # both kinds are in the demo's list


def test_products_categories_and_returns(
    shop: tuple[Store, Analysis, str], frames: dict[str, pd.DataFrame]
) -> None:
    page = ReportPage(shop[2])
    lines = frames["lines"][~frames["lines"]["cancelled"]]
    counted_ids = set(frames["counted"]["id"])
    back = frames["returns"][frames["returns"]["order"].isin(counted_ids)]
    for table, key in zip(page.tables("products"), ["sku", "category"], strict=True):
        g = lines.groupby(key).agg(revenue=("total", "sum"), units=("units", "sum"))
        g["returned"] = back.merge(lines[["order", "sku", key]].drop_duplicates(["order", "sku"]),
                                   on=["order", "sku"]).groupby(key)["units"].sum() if key != "sku" \
            else back.groupby("sku")["units"].sum()  # fmt: skip
        g = (
            g.fillna(0)
            .reset_index()
            .sort_values(["revenue", "units", key], ascending=[False, False, True])
        )
        top = g.head(10)
        assert [r[0] for r in table[1:]] == top[key].tolist()
        for row, (_, want) in zip(table[1:], top.iterrows(), strict=True):
            assert row[1:] == [
                _money(want["revenue"]),
                f"{int(want['units']):,}",
                f"{int(want['returned']):,}",
            ]
    counted = frames["counted"]
    now = pd.Timestamp(shop[1].now)
    recent = counted[counted["at"] > now - pd.Timedelta(days=30)]
    c = shop[1].report.currency
    figures = dict(page.tables("returns")[0][1:])
    assert figures == {
        "refunds, all time": f"{counted['refunded'].sum():,.2f} {c}",
        "refunds as a share of gross revenue": _pct(
            counted["refunded"].sum() / counted["total"].sum()
        ),
        "orders with a refund": f"{(counted['refunded'] > 0).sum():,} of {len(counted):,}",
        "units returned": f"{counted['returned'].sum():,} of {counted['units'].sum():,} "
        f"({_pct(counted['returned'].sum() / counted['units'].sum())})",
        "refunds on the last 30 days' orders": f"{recent['refunded'].sum():,.2f} {c}",
    }


def test_flow_results(shop: tuple[Store, Analysis, str]) -> None:
    _, analysis, page = shop
    assert analysis.flows is not None
    table = ReportPage(page).tables("flows")[0]
    rows = {r[0]: r[1:] for r in table[1:]}
    acted = {
        k: f for k, f in analysis.flows.flows.items() if f.enrollments or sum(f.actions.values())
    }
    assert set(rows) == set(acted) and rows
    for flow_id, f in acted.items():
        rate = "—" if not f.enrollments else _pct(f.treated_conversions / f.enrollments)
        assert rows[flow_id][:4] == [
            f"{f.enrollments:,}",
            f"{sum(f.actions.values()):,}",
            f"{f.treated_conversions:,}",
            rate,
        ]


def test_a_four_day_history_gets_sentences_not_charts(tmp_path: Path) -> None:
    store = ecomcrm.open_store("memory://")
    end = datetime(2025, 1, 1, tzinfo=UTC)
    SyntheticShop(
        customers=1500, seed=2, alpha=20.0, events=False, start=end - timedelta(days=60), end=end
    ).to_store(store)
    facts = store.order_facts()
    start = np.datetime64((end - timedelta(days=4)).replace(tzinfo=None).isoformat(), "us")
    old = facts.order_id[facts.placed_at < start]
    short = ecomcrm.open_store("memory://")  # the same shop, only its last four days
    keep = set(facts.order_id[facts.placed_at >= start].tolist())
    for customer in store.customers.iterate():
        short.customers.put(customer)
        short.orders.put_many(o for o in store.orders.for_customer(customer.id) if o.id in keep)
    assert len(old) and len(keep) > 50
    analysis = analyze_store(short, run_flows=False)
    page = ReportPage(render_html(analysis))
    assert "4 days of orders: too short for cohorts" in page.text("cohorts")
    assert "too short for RFM scores" in page.text("rfm")
    assert page.sections["cohorts"]["svgs"] == page.sections["rfm"]["svgs"] == 0
    daily = page.tables("trend")[0]
    assert daily[0][0] == "day" and len(daily) - 1 in (4, 5)
    cards = page.cards("headline")
    assert cards["Customers lost"]["value"] == "—"
    assert "needs a year of history" in cards["Active customers"]["change"]
    assert "The last 2 days" in page.text("headline")


def _hours_text(value: float) -> str:
    return "—" if np.isnan(value) else f"{value:,.1f} h"


def test_support_figures(shop: tuple[Store, Analysis, str]) -> None:
    """Tickets of the last 30 days by channel, read one customer at a time, in pandas."""
    store, analysis, html_page = shop
    page = ReportPage(html_page)
    now = pd.Timestamp(analysis.now)
    start, prev = now - pd.Timedelta(days=30), now - pd.Timedelta(days=60)
    rows = [
        {
            "customer": c.id, "channel": t.channel.value, "status": t.status.value,
            "opened": pd.Timestamp(t.opened_at),
            "first": pd.Timestamp(t.first_response_at) if t.first_response_at else pd.NaT,
            "closed": pd.Timestamp(t.closed_at) if t.closed_at else pd.NaT,
            "csat": np.nan if t.satisfaction is None else float(t.satisfaction),
        }
        for c in store.customers.iterate()
        for t in store.tickets.for_customer(c.id)
    ]  # fmt: skip
    t = pd.DataFrame(rows)
    assert len(t) > 20
    inside = t[(t["opened"] > start) & (t["opened"] <= now)].copy()
    before = t[(t["opened"] > prev) & (t["opened"] <= start)]
    upto = t[t["opened"] <= now]
    is_open = upto["closed"].isna() & upto["status"].isin(["open", "pending"]) | (
        upto["closed"] > now
    )
    text = page.text("returns")
    assert (
        f"{len(inside):,} tickets opened in the last 30 days ({len(before):,} the 30 days before); "
        f"{int(is_open.sum()):,} open now, from {upto[is_open]['customer'].nunique():,} customers"
    ) in " ".join(text.split())
    inside["first_h"] = np.where(
        inside["first"] <= now,
        (inside["first"] - inside["opened"]).dt.total_seconds() / 3600,
        np.nan,
    )
    inside["res_h"] = np.where(
        inside["closed"] <= now,
        (inside["closed"] - inside["opened"]).dt.total_seconds() / 3600,
        np.nan,
    )

    def expected(group: pd.DataFrame, name: str) -> list[str]:
        rated = group["csat"].dropna()
        return [
            name,
            f"{len(group):,}",
            _hours_text(
                np.nanpercentile(group["first_h"], 50) if group["first_h"].notna().any() else np.nan
            ),
            _hours_text(
                np.nanpercentile(group["first_h"], 90) if group["first_h"].notna().any() else np.nan
            ),
            _hours_text(
                np.nanpercentile(group["res_h"], 50) if group["res_h"].notna().any() else np.nan
            ),
            "—" if rated.empty else f"{rated.mean():.2f} ({len(rated):,})",
            "—" if rated.empty else _pct((rated >= 4).mean()),
        ]

    want = [expected(g, str(ch)) for ch, g in inside.groupby("channel")]
    if inside["channel"].nunique() > 1:
        want.append(expected(inside, "all"))
    support = page.tables("returns")[1]
    assert support[0][0] == "channel"
    assert support[1:] == want
