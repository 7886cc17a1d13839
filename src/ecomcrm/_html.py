"""Compact HTML tables for notebooks: the ``_repr_html_`` of results (stdlib only).

Jupyter shows an object's ``_repr_html_()``; the library's results (feature tables, segment
membership, import and backtest reports, fitted models) return one small table from here.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence

_STYLE = (
    "<style>table.ecomcrm{border-collapse:collapse;font-size:.9em}"
    "table.ecomcrm th,table.ecomcrm td{padding:2px 8px;border-bottom:1px solid #ddd;"
    "text-align:left}table.ecomcrm td.n{text-align:right}table.ecomcrm caption{"
    "text-align:left;font-weight:bold}table.ecomcrm tfoot td{color:#666}</style>"
)


def cell_text(value: object) -> str:
    """A value as a short text: floats to 4 significant digits, None and NaN as blank.

    Example:
        >>> cell_text(3.14159), cell_text(None), cell_text(1234567)
        ('3.142', '', '1,234,567')
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, (tuple, list, frozenset, set)):
        return ", ".join(str(v) for v in value)
    return str(value)


def html_table(
    caption: str,
    header: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    note: str = "",
) -> str:
    """One escaped HTML table with a caption (and a note under it).

    Example:
        >>> html_table("Segments", ["segment", "customers"], [["vip", 3]]).split("<tbody>")[1]
        '<tr><td>vip</td><td class="n">3</td></tr></tbody></table>'
    """
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            ('<td class="n">' if isinstance(v, int | float) and not isinstance(v, bool) else "<td>")
            + f"{html.escape(cell_text(v))}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    foot = (
        f'<tfoot><tr><td colspan="{len(header)}">{html.escape(note)}</td></tr></tfoot>'
        if note
        else ""
    )
    return (
        f'{_STYLE}<table class="ecomcrm"><caption>{html.escape(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody>{foot}</table>"
    )
