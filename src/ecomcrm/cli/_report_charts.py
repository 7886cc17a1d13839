"""The report's charts as inline SVG, drawn by matplotlib (the ``report``/``plot`` extra).

Why matplotlib as SVG (docs/cli.md, "The HTML report"): the library already uses it for
its plots, it needs no JavaScript and nothing from a network when the page is opened, the
text stays text (``svg.fonttype = "none"``: sharp at any zoom, searchable, small), and the
SVG scales to a phone's width. Each function returns one ``<svg>`` element, or None when
matplotlib is not installed; the caller then shows the table that goes with every chart.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ecomcrm.cli._report_data import GroupRow, RfmGrid
from ecomcrm.cli._report_figures import Cohorts, Ranked, Trend

NEW = "#4e79a7"
RETURNING = "#f28e2b"
BAR = "#59a14f"
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "svg.hashsalt": "ecomcrm",
    "font.family": "sans-serif",
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titleweight": "bold",
    "axes.titlesize": 11,
}


def available() -> bool:
    """True when matplotlib can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _figure(width: float, height: float) -> Any:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _svg(fig: Any, label: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    # scale with the page: keep the viewBox, drop the fixed size
    head, rest = text.split(">", 1)
    head = re.sub(r'\s(width|height)="[^"]*"', "", head)
    label = label.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
    return f'{head} role="img" aria-label="{label}">{rest}'


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _draw(render: Any, *args: Any) -> str | None:
    if not available():
        return None
    import matplotlib

    with matplotlib.rc_context(STYLE):  # type: ignore[arg-type]
        fig, label = render(*args)
        return _svg(fig, label)


def _ticks(labels: Sequence[str], ax: Any) -> None:
    n = len(labels)
    step = max(1, int(np.ceil(n / 12)))
    ax.set_xticks(range(0, n, step), [labels[i] for i in range(0, n, step)])
    ax.tick_params(axis="x", labelrotation=45 if n > 6 else 0)


def _trend(data: Trend, currency: str) -> tuple[Any, str]:
    fig = _figure(8, 5.2)
    top, bottom = fig.subplots(2, 1, sharex=True)
    x = np.arange(len(data.labels))
    top.bar(x, data.revenue_new, color=NEW, label="new customers")
    top.bar(x, data.revenue_returning, bottom=data.revenue_new, color=RETURNING,
            label="returning customers")  # fmt: skip
    top.set_ylabel(f"revenue ({currency})")
    top.set_title(f"Revenue per {data.unit}, net of refunds ({currency})")
    top.yaxis.set_major_formatter(_thousands())
    top.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    bottom.bar(x, data.orders_new, color=NEW, label="first orders")
    bottom.bar(x, data.orders_returning, bottom=data.orders_new, color=RETURNING,
               label="repeat orders")  # fmt: skip
    bottom.set_ylabel("orders")
    bottom.set_title(f"Orders per {data.unit}")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    _ticks(data.labels, bottom)
    return fig, f"Revenue and orders per {data.unit}, new vs returning customers"


def _thousands() -> Any:
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _pos: f"{v:,.0f}")


def trend_chart(data: Trend, currency: str) -> str | None:
    """Stacked bars of revenue and orders per month (or day), new vs returning."""
    return _draw(_trend, data, currency)


def _cohorts(data: Cohorts) -> tuple[Any, str]:
    rows, cols = data.retention.shape
    fig = _figure(min(9.0, 2.2 + 0.62 * cols), 1.4 + 0.36 * rows)
    ax = fig.subplots()
    shown = np.ma.masked_invalid(data.retention[:, 1:] * 100) if cols > 1 else None
    if shown is None:  # pragma: no cover - a cohort table always has month 1 here
        raise AssertionError("no month after the first")
    cmap = _cmap("Blues")
    top = float(np.nanmax(shown)) if shown.count() else 1.0
    # pcolormesh draws vector cells (imshow would embed a bitmap in the SVG)
    image = ax.pcolormesh(shown, cmap=cmap, vmin=0, vmax=max(top, 1.0), edgecolors="white",
                          linewidth=0.5)  # fmt: skip
    ax.invert_yaxis()
    for i in range(rows):
        for j in range(cols - 1):
            value = data.retention[i, j + 1]
            if np.isfinite(value):
                dark = value * 100 > 0.6 * max(top, 1.0)
                ax.text(j + 0.5, i + 0.5, f"{value * 100:.0f}%", ha="center", va="center", fontsize=8,
                        color="white" if dark else "#222")  # fmt: skip
    # pcolormesh cells span [j, j + 1): labels go to their centres
    ax.set_xticks(np.arange(cols - 1) + 0.5, [str(j) for j in range(1, cols)])
    ax.set_yticks(
        np.arange(rows) + 0.5,
        [f"{label} ({size:,})" for label, size in zip(data.labels, data.size, strict=True)],
    )
    ax.set_xlabel("months after the first order")
    ax.set_ylabel("first order in (customers)")
    ax.set_title("Share of each month's new customers who ordered again")
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("customers who ordered (%)")
    _vector(bar)
    return fig, "Cohort retention: share of each month's new customers ordering in later months"


def _vector(bar: Any) -> None:
    """Keep a colour bar's gradient as vector cells (matplotlib rasterizes long ones)."""
    if bar.solids is not None:
        bar.solids.set_rasterized(False)
        bar.solids.set_edgecolor("face")  # no seams between the cells in a browser


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#f4f4f4")


def cohort_chart(data: Cohorts) -> str | None:
    """A heat map of cohort retention with the percentage in every cell and a colour scale."""
    if data.retention.shape[1] < 2:
        return None
    return _draw(_cohorts, data)


def _rfm(grid: RfmGrid) -> tuple[Any, str]:
    fig = _figure(7.5, 4.6)
    ax = fig.subplots()
    image = ax.pcolormesh(grid.counts, cmap=_cmap("Greens"), edgecolors="white", linewidth=0.5)
    top = max(int(grid.counts.max()), 1)
    for f in range(5):
        for r in range(5):
            count = int(grid.counts[f, r])
            dark = count > 0.6 * top
            ax.text(r + 0.5, f + 0.5, f"{count:,}\n{grid.names[f][r]}", ha="center", va="center", fontsize=7.5,
                    color="white" if dark else "#222")  # fmt: skip
    ax.set_xticks(np.arange(5) + 0.5, ["1\nlong ago", "2", "3", "4", "5\nrecent"])
    ax.set_yticks(np.arange(5) + 0.5, ["1 (fewest)", "2", "3", "4", "5 (most)"])
    ax.set_xlabel("recency score (how recently they ordered)")
    ax.set_ylabel("frequency score (how often)")
    ax.set_title("Customers by RFM score, with the most common segment of each cell")
    bar = fig.colorbar(image, ax=ax, fraction=0.04, pad=0.02)
    bar.set_label("customers")
    _vector(bar)
    return fig, "RFM grid: customers by recency and frequency score"


def rfm_chart(grid: RfmGrid) -> str | None:
    """The 5 x 5 recency-by-frequency grid: counts, segment names and a colour scale."""
    return _draw(_rfm, grid)


def _groups(rows: Sequence[GroupRow], title: str, currency: str) -> tuple[Any, str]:
    fig = _figure(8, 0.9 + 0.38 * len(rows))
    left, right = fig.subplots(1, 2, sharey=True)
    y = np.arange(len(rows))[::-1]
    names = [r.name for r in rows]
    bars = left.barh(y, [r.customers for r in rows], color=NEW)
    left.bar_label(bars, labels=[f"{r.customers:,}" for r in rows], padding=3, fontsize=8)
    left.set_yticks(y, names)
    left.set_xlabel("customers")
    left.set_title(f"{title}: customers")
    bars = right.barh(y, [r.revenue for r in rows], color=BAR)
    right.bar_label(bars, labels=[_money(r.revenue) for r in rows], padding=3, fontsize=8)
    right.margins(x=0.18)
    left.margins(x=0.15)
    right.set_xlabel(f"revenue to date ({currency})")
    right.set_title("their revenue, net of refunds")
    right.xaxis.set_major_formatter(_thousands())
    for ax in (left, right):
        ax.tick_params(axis="x", labelrotation=30)
    return fig, f"{title}: customers and revenue"


def groups_chart(rows: Sequence[GroupRow], title: str, currency: str) -> str | None:
    """Horizontal bars: customers and revenue of each segment or lifecycle stage."""
    return _draw(_groups, rows, title, currency) if rows else None


def _ranked(data: Ranked, title: str, currency: str) -> tuple[Any, str]:
    fig = _figure(8, 0.9 + 0.34 * len(data.names))
    ax = fig.subplots()
    y = np.arange(len(data.names))[::-1]
    bars = ax.barh(y, data.revenue, color=BAR, label=f"revenue ({currency})")
    ax.bar_label(
        bars,
        labels=[
            f"{_money(v)} · {u:,} units"
            for v, u in zip(data.revenue.tolist(), data.units.tolist(), strict=True)
        ],
        padding=3,
        fontsize=8,
    )
    ax.margins(x=0.2)
    ax.set_yticks(y, list(data.names))
    ax.set_xlabel(f"revenue of their order lines ({currency})")
    ax.xaxis.set_major_formatter(_thousands())
    ax.set_title(title)
    return fig, title


def ranked_chart(data: Ranked, title: str, currency: str) -> str | None:
    """Horizontal bars of the top products or categories by revenue."""
    return _draw(_ranked, data, title, currency) if len(data.names) else None


def values(array: NDArray[Any]) -> list[float]:
    """Plain floats of an array (for the chart's fallback table)."""
    return [float(v) for v in np.asarray(array, dtype=np.float64).tolist()]
