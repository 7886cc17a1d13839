"""The report as one self-contained HTML page: inline CSS and SVG, no script, nothing fetched.

Every section is a ``<section id=...>`` with a heading; every chart is a ``<figure>`` with
a caption and, below it, the same numbers as a table (open when the chart could not be
drawn). A history too short for a chart gets a plain sentence instead.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from datetime import UTC

import numpy as np

import ecomcrm.cli._report_charts as charts
from ecomcrm.cli._report_data import GroupRow, ReportData
from ecomcrm.cli._report_figures import Ranked

INSTALL = "pip install 'ecomcrm[report]'"

CSS = """
:root{--ink:#1d2733;--muted:#5b6877;--line:#e3e7ec;--up:#1a7f37;--down:#c62828;--card:#f7f9fb}
*{box-sizing:border-box}
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;
color:var(--ink);margin:0 auto;max-width:1240px;padding:16px}
h1{font-size:1.6em;margin:.2em 0}h2{font-size:1.25em;margin:1.6em 0 .4em;
border-bottom:2px solid var(--line);padding-bottom:.2em}h3{font-size:1.05em;margin:1em 0 .3em}
.sub{color:var(--muted);margin:0 0 1em}.note{color:var(--muted)}
.warn{background:#fff4e5;border-left:4px solid #f0a020;padding:.6em .9em}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(160px,1fr));gap:10px}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:10px 12px}
.card .label{color:var(--muted);font-size:.85em}.card .value{font-size:1.35em;font-weight:600;white-space:nowrap}
.card .change{font-size:.85em}.up{color:var(--up)}.down{color:var(--down)}.flat{color:var(--muted)}
figure{margin:.5em 0}figure svg{width:100%;height:auto;display:block}
figcaption{color:var(--muted);font-size:.9em}
.scroll{overflow-x:auto}table{border-collapse:collapse;margin:.4em 0;font-size:.92em}
th,td{padding:4px 10px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.d{white-space:nowrap}th{background:var(--card)}
details summary{cursor:pointer;color:var(--muted);font-size:.9em}
.two{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:16px}
@media (max-width:600px){body{padding:10px;font-size:14px}.card .value{font-size:1.25em}
figure.chart{overflow-x:auto}figure.chart svg{width:640px;max-width:none}}
"""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def money(value: float | None, currency: str, digits: int = 2) -> str:
    """``1,234.50 EUR``; an em dash for an unknown amount."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value:,.{digits}f} {currency}"


def percent(value: float | None, digits: int = 1) -> str:
    """``12.5%``; an em dash for an unknown share."""
    if value is None or not np.isfinite(value):
        return "—"
    return f"{value * 100:.{digits}f}%"


_SHORT = '<span class="change flat">needs a year of history to compare</span>'


def _change(current: float | None, previous: float | None, *, good_up: bool = True) -> str:
    if current is None or previous is None:
        return '<span class="change flat">no earlier period to compare</span>'
    if previous == 0:
        if current == 0:
            return '<span class="change flat">unchanged</span>'
        return '<span class="change flat">none in the previous period</span>'
    delta = (current - previous) / abs(previous)
    cls = "flat" if abs(delta) < 0.005 else ("up" if (delta > 0) == good_up else "down")
    arrow = "▲" if delta > 0 else ("▼" if delta < 0 else "")
    return f'<span class="change {cls}">{arrow} {delta * 100:+.1f}% vs previous</span>'


def table(
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    numeric: Sequence[bool] = (),
    nowrap: Sequence[int] = (),
) -> str:
    """An HTML table (escaped).

    Columns flagged in ``numeric`` are right-aligned; the columns numbered in ``nowrap``
    never wrap.
    """

    def cell(tag: str, i: int, value: object) -> str:
        cls = ' class="n"' if i < len(numeric) and numeric[i] else ""
        cls = ' class="d"' if i in nowrap and not cls else cls
        return f"<{tag}{cls}>{_e(value)}</{tag}>"

    head = "".join(cell("th", i, h) for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(cell("td", i, v) for i, v in enumerate(row)) + "</tr>" for row in rows
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure(svg: str | None, caption: str, fallback: str) -> str:
    """A chart with its caption and its numbers as a table (open when there is no chart)."""
    if svg is None:
        return f'<p class="note">{_e(caption)} (chart not drawn: {_e(INSTALL)})</p>{fallback}'
    return (
        f'<figure class="chart">{svg}<figcaption>{_e(caption)}</figcaption></figure>'
        f"<details><summary>The numbers as a table</summary>{fallback}</details>"
    )


def _section(key: str, title: str, body: str) -> str:
    return f'<section id="{key}"><h2>{_e(title)}</h2>{body}</section>'


def _headline(data: ReportData) -> str:
    head = data.headline
    cur, prev = head.current, head.previous
    days = f"{head.days} days" if head.days != 1 else "day"
    # a short period names its hours: "27 Nov 23:59 – 29 Nov 23:59" is two days, not three
    fmt = "%d %b %Y" if head.days >= 7 else "%d %b %H:%M"
    when = f"{cur.start:{fmt}} – {cur.end:{fmt}}" + ("" if head.days >= 7 else " UTC")
    sub = f"The last {days} ({when}) against the {days} before." if prev else (
        f"The last {days} ({when}); the history is too short for an earlier period."
    )  # fmt: skip
    c = data.currency

    def card(label: str, value: str, change: str, hint: str = "") -> str:
        title = f' title="{_e(hint)}"' if hint else ""
        return (
            f'<div class="card"{title}><div class="label">{_e(label)}</div>'
            f'<div class="value">{_e(value)}</div>{change}</div>'
        )

    def before(name: str) -> float | None:
        value = None if prev is None else getattr(prev, name)
        return None if value is None else float(value)

    cards = [
        card("Revenue, net of refunds", money(cur.revenue, c, 0),
             _change(cur.revenue, before("revenue"))),
        card("Orders", f"{cur.orders:,}", _change(cur.orders, before("orders"))),
        card("Average order value", money(cur.aov, c), _change(cur.aov, before("aov"))),
        card("Repeat-purchase rate", percent(cur.repeat_rate),
             _change(cur.repeat_rate, before("repeat_rate")),
             "share of the period's buyers with 2 or more orders so far"),
        card("Active customers", f"{cur.active:,}",
             _change(cur.active, before("active")) if head.year_covered else _SHORT,
             "customers with an order in the last 365 days"),
        card("Customers lost", f"{cur.lost:,}" if head.year_covered else "—",
             _change(cur.lost, before("lost"), good_up=False) if head.year_covered else _SHORT,
             "customers whose last order turned 365 days old in the period"),
        card("Predicted revenue, next 12 months", money(head.predicted_revenue, c, 0),
             f'<span class="change flat">model forecast for {head.predicted_customers:,} '
             "customers</span>" if head.predicted_revenue is not None
             else '<span class="change flat">no forecast: no purchase model (see the end)</span>'),
    ]  # fmt: skip
    return _section(
        "headline",
        "Headline figures",
        f'<p class="sub">{_e(sub)}</p><div class="cards">{"".join(cards)}</div>',
    )


def _trend(data: ReportData) -> str:
    t = data.trend
    if len(t.labels) < 2:
        body = f"<p>{_e(_history(data))}: too short for a trend; see the headline figures.</p>"
        return _section("trend", "Revenue and orders", body)
    c = data.currency
    rows = [
        (label, f"{rn + rr:,.2f}", f"{rn:,.2f}", f"{rr:,.2f}", f"{on + orr:,}", f"{on:,}", f"{orr:,}")
        for label, rn, rr, on, orr in zip(
            t.labels, t.revenue_new.tolist(), t.revenue_returning.tolist(),
            t.orders_new.tolist(), t.orders_returning.tolist(), strict=True,
        )
    ]  # fmt: skip
    fallback = table(
        [t.unit, f"revenue ({c})", f"from new ({c})", f"from returning ({c})", "orders",
         "first orders", "repeat orders"],
        rows, [False] + [True] * 6,
    )  # fmt: skip
    caption = (
        f"Per {t.unit} (UTC); the last {t.unit} runs to {data.now:%d %b %Y}. Revenue is net "
        "of refunds; an order is new when it is the customer's first."
    )
    return _section(
        "trend",
        f"Revenue and orders per {t.unit}",
        _figure(charts.trend_chart(t, c), caption, fallback),
    )


def _history(data: ReportData) -> str:
    days = max(1, int(np.ceil(data.span_days)))
    if days >= 730:
        return f"{data.span_days / 365.25:.1f} years of orders"
    if days >= 62:
        return f"{data.span_days / 30.4375:.0f} months of orders"
    return f"{days} day{'s' if days != 1 else ''} of orders"


def _cohorts(data: ReportData) -> str:
    if data.cohorts is None:
        return _section("cohorts", "Cohort retention", f"<p>{_e(data.cohort_note)}</p>")
    co = data.cohorts
    months = co.retention.shape[1]
    rows = [
        [label, f"{size:,}", *(percent(v, 0) if np.isfinite(v) else "" for v in row[1:])]
        for label, size, row in zip(co.labels, co.size.tolist(), co.retention, strict=True)
    ]
    fallback = table(
        ["first order in", "customers", *(f"month {j}" for j in range(1, months))],
        rows, [False] + [True] * months,
    )  # fmt: skip
    caption = (
        "Each row is the customers whose first order fell in that month; a cell is the share "
        "of them who ordered in the n-th month after. Grey: not happened yet."
    )
    return _section(
        "cohorts", "Cohort retention", _figure(charts.cohort_chart(co), caption, fallback)
    )


def _rfm(data: ReportData) -> str:
    if data.rfm is None:
        return _section("rfm", "RFM grid", f"<p>{_e(data.rfm_note)}</p>")
    g = data.rfm
    grid_rows = [
        [f"F{f + 1}", *(f"{int(g.counts[f, r]):,} {g.names[f][r]}".strip() for r in range(5))]
        for f in range(4, -1, -1)
    ]
    fallback = table(["frequency \\ recency", "R1", "R2", "R3", "R4", "R5"], grid_rows)
    segments = table(
        ["RFM segment", "customers"], ((n, f"{c:,}") for n, c in g.segments), [False, True]
    )
    caption = (
        "Buyers scored 1-5 on recency (5: ordered most recently) and frequency (5: most "
        "orders), in quintiles; each cell shows its customers and its most common segment."
    )
    return _section(
        "rfm",
        "RFM grid",
        _figure(charts.rfm_chart(g), caption, fallback) + f"<h3>RFM segments</h3>{segments}",
    )


def _group_table(rows: Sequence[GroupRow], first: str, currency: str) -> str:
    return table(
        [first, "customers", f"revenue to date ({currency})", "share of revenue"],
        ((r.name, f"{r.customers:,}", f"{r.revenue:,.2f}", percent(r.share)) for r in rows),
        [False, True, True, True],
    )


def _groups(data: ReportData) -> str:
    c = data.currency
    parts = []
    for rows, first, title in (
        (data.stages, "lifecycle stage", "Lifecycle stages"),
        (data.segments, "segment", "Built-in segments"),
    ):
        if not rows:
            continue
        fallback = _group_table(rows, first, c)
        caption = f"{title}: customers now, and the revenue (net of refunds) they brought so far."
        svg = charts.groups_chart(rows, title, c)
        parts.append(
            f"<h3>{_e(title)}</h3>" + (fallback if svg is None else _figure(svg, caption, fallback))
        )
    return _section(
        "segments", "Segments and lifecycle stages", "".join(parts) or "<p>No customers.</p>"
    )


def _at_risk(data: ReportData) -> str:
    c = data.currency
    if not data.at_risk:
        return _section(
            "at-risk", "Most valuable customers at risk", f"<p>{_e(data.at_risk_note)}</p>"
        )
    rows = [
        (
            r.name or "—", r.email or r.phone or "no marketing consent", r.action,
            f"{r.total_spent:,.2f}", f"{r.orders:,}",
            "—" if r.last_order is None else f"{r.last_order:%d %b %Y}",
            f"{r.days_idle:,.0f}", percent(r.p_alive, 0), f"{r.predicted_clv:,.2f}", r.customer_id,
        )
        for r in data.at_risk
    ]  # fmt: skip
    intro = (
        "<p class='sub'>Customers the purchase model thinks are probably gone (P(alive) under "
        "50%), most valuable first. Contact details are shown only where the customer's "
        "marketing consent allows.</p>"
    )
    body = table(
        ["name", "contact", "suggested action", f"spent ({c})", "orders", "last order",
         "days idle", "P(alive)", f"12-month value ({c})", "customer id"],
        rows, [False, False, False, True, True, True, True, True, True, False], nowrap=(0, 2, 9),
    )  # fmt: skip
    return _section("at-risk", "Most valuable customers at risk", intro + body)


def _flows(data: ReportData) -> str:
    f = data.flows
    if f is None:
        return _section("flows", "Flow results", "<p>The flows were not replayed (--no-flows).</p>")
    span = (
        "" if f.start is None or f.end is None else f" from {f.start:%d %b %Y} to {f.end:%d %b %Y}"
    )
    intro = (
        f"<p class='sub'>What the built-in flows would have sent{_e(span)}, replaying "
        f"{f.events:,} events. A conversion is an order within the flow's window after "
        "entering; skipped: held back by consent, frequency caps or quiet hours.</p>"
    )
    if not f.rows:
        return _section("flows", "Flow results", intro + "<p>No flow would have acted.</p>")
    body = table(
        ["flow", "customers entered", "messages", "conversions", "conversion rate",
         "uplift vs holdout", "skipped"],
        ((r.flow_id, f"{r.entered:,}", f"{r.actions:,}", f"{r.conversions:,}",
          percent(r.conversion_rate), percent(r.uplift), f"{r.skipped:,}") for r in f.rows),
        [False, True, True, True, True, True, True],
    )  # fmt: skip
    return _section("flows", "Flow results", intro + body)


def _ranked_table(data: Ranked, first: str, currency: str) -> str:
    return table(
        [first, f"revenue ({currency})", "units sold", "units returned"],
        ((n, f"{v:,.2f}", f"{u:,}", f"{b:,}")
         for n, v, u, b in zip(data.names, data.revenue.tolist(), data.units.tolist(),
                               data.returned.tolist(), strict=True)),
        [False, True, True, True],
    )  # fmt: skip


def _products(data: ReportData) -> str:
    c = data.currency
    if not data.products.names:
        return _section(
            "products", "Top products and categories", "<p>No order lines with a SKU.</p>"
        )
    parts = []
    for ranked, first, title in (
        (data.products, "product (SKU)", "Top products by revenue"),
        (data.categories, "category", "Top categories by revenue"),
    ):
        if not ranked.names:
            parts.append(f"<h3>{_e(title)}</h3><p>No order lines with a category.</p>")
            continue
        fallback = _ranked_table(ranked, first, c)
        caption = f"{title}: order-line totals after line discounts, before refunds ({c})."
        parts.append(
            f"<h3>{_e(title)}</h3>"
            + _figure(charts.ranked_chart(ranked, title, c), caption, fallback)
        )
    return _section("products", "Top products and categories", "".join(parts))


def _returns(data: ReportData) -> str:
    r = data.returns
    c = data.currency
    rows = [
        ("refunds, all time", money(r.refunded, c)),
        ("refunds as a share of gross revenue", percent(r.refund_share)),
        ("orders with a refund", f"{r.refunded_orders:,} of {r.orders:,}"),
        ("units returned", f"{r.returned_units:,} of {r.units:,} ({percent(r.return_rate)})"),
        (f"refunds on the last {data.headline.days} days' orders", money(r.period_refunded, c)),
    ]
    body = "<h3>Returns and refunds</h3>" + table(["", "figure"], rows, [False, True])
    body += "<h3>Support</h3>" + _support(data)
    return _section("returns", "Returns and support", body)


def _hours(value: float) -> str:
    return "—" if not np.isfinite(value) else f"{value:,.1f} h"


def _support(data: ReportData) -> str:
    s = data.support
    if s is None:
        return "<p class='note'>No support tickets in the store.</p>"
    days = data.headline.days
    change = "" if s.previous_opened is None else f" ({s.previous_opened:,} the {days} days before)"
    text = (
        f"<p>{s.opened:,} tickets opened in the last {days} days{_e(change)}; "
        f"{s.open_now:,} open now, from {s.customers_waiting:,} customers.</p>"
    )
    if not s.rows:
        return text
    rows = [
        (
            r.channel,
            f"{r.tickets:,}",
            _hours(r.first_response_median_h),
            _hours(r.first_response_p90_h),
            _hours(r.resolution_median_h),
            "—" if not r.ratings else f"{r.csat_mean:.2f} ({r.ratings:,})",
            percent(r.satisfied_share if r.ratings else None),
        )
        for r in s.rows
    ]
    header = [
        "channel", "tickets", "first response, median", "first response, 90%",
        "resolution, median", "CSAT 1-5 (ratings)", "rated 4-5",
    ]  # fmt: skip
    return text + table(header, rows, [False, True, True, True, True, True, True])


def render_page(data: ReportData) -> str:
    """The whole report as one HTML document."""
    now = data.now.astimezone(UTC)
    note = (
        ""
        if charts.available()
        else f'<p class="warn">Charts are not drawn: matplotlib is not installed ({_e(INSTALL)}). '
        "Every figure is in the tables below.</p>"
    )
    sections = [
        _headline(data), _trend(data), _cohorts(data), _rfm(data), _groups(data),
        _at_risk(data), _flows(data), _products(data), _returns(data),
    ]  # fmt: skip
    sub = (
        f"As of {now:%d %b %Y %H:%M} UTC · {data.customers:,} customers · "
        f"{_history(data)} · amounts in {data.currency}"
    )
    models = (
        "P(alive) and predicted values come from a BG/NBD purchase model and a Gamma-Gamma "
        "spend model fitted to this shop's orders."
        if not data.model_note
        else f"No purchase model: {data.model_note}."
    )
    footer = (
        "<footer class='note'><p>Made by ecomcrm. Orders count unless cancelled; revenue "
        f"is order totals less refunds. Active: ordered in the last 365 days. {_e(models)}"
        "</p></footer>"
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>Shop report, {now:%d %b %Y}</title><style>{CSS}</style></head><body>"
        f"<header><h1>Shop report</h1><p class='sub'>{_e(sub)}</p></header>{note}"
        + "".join(sections)
        + footer
        + "</body></html>"
    )
