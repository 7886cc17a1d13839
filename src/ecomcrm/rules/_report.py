"""The figures of a performance report: one row per flow, step, variant and channel.

Built by ``rules._performance``; this module only holds the value types and their
text, HTML and JSON forms.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.metrics import Difference


def _frozen(value: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(value))


def _diff_dict(d: Difference | None) -> dict[str, float] | None:
    if d is None:
        return None
    return {"difference": d.difference, "low": d.low, "high": d.high, "confidence": d.confidence}


@attrs.frozen(kw_only=True)
class PerformanceRow:
    """What one flow (or one of its steps, split variants or channels) did and earned.

    ``level`` says which: a ``flow`` row has no step, variant or channel; a ``step`` row
    names an action step; a ``variant`` row names a split step and its variant; a
    ``channel`` row names a channel. Counts are of enrollments that started, and sends
    handed out, in the report's period; ``conversions`` of those enrollments reached the
    flow's goal within its window; ``attributed_revenue`` (in the report's currency) is
    what the orders credited to those sends paid (last touch, :class:`Attribution`).

    Lift is measured against the flow's holdout group on the flow and variant rows
    (None without one): ``conversion_lift`` is the difference of conversion rates with
    Newcombe's 95 % interval, ``revenue_lift`` the difference of revenue per entrant
    (every order within the goal window, credited or not, since a holdout gets no
    message to credit) with Welch's interval. ``prob_best`` is a variant's posterior
    probability of converting best among its split's variants.

    Example:
        >>> row = PerformanceRow(flow_id="cart", enrollments=200, sends=180, recipients=150,
        ...                      conversions=30, attributed_orders=12, attributed_revenue=900.0)
        >>> row.level, row.conversion_rate, row.revenue_per_recipient
        ('flow', 0.15, 6.0)
    """

    flow_id: str
    step_id: str | None = None
    variant: str | None = None
    channel: str | None = None
    enrollments: int
    sends: int
    recipients: int
    skipped: Mapping[str, int] = attrs.field(factory=dict, converter=_frozen)
    conversions: int
    attributed_orders: int
    attributed_revenue: float
    holdout_enrollments: int | None = None
    holdout_conversions: int | None = None
    conversion_lift: Difference | None = None
    revenue_lift: Difference | None = None
    prob_best: float | None = None

    @property
    def level(self) -> str:
        """``flow``, ``step``, ``variant`` or ``channel``."""
        if self.variant is not None:
            return "variant"
        if self.channel is not None:
            return "channel"
        if self.step_id is not None:
            return "step"
        return "flow"

    @property
    def conversion_rate(self) -> float | None:
        """Conversions per enrollment (None without enrollments)."""
        return self.conversions / self.enrollments if self.enrollments else None

    @property
    def revenue_per_recipient(self) -> float | None:
        """Attributed revenue per customer sent to (None without recipients)."""
        return self.attributed_revenue / self.recipients if self.recipients else None

    @property
    def label(self) -> str:
        """The row's name: ``flow``, ``flow/step``, ``flow/step=variant`` or ``flow [channel]``."""
        if self.variant is not None:
            return f"{self.flow_id}/{self.step_id}={self.variant}"
        if self.channel is not None:
            return f"{self.flow_id} [{self.channel}]"
        if self.step_id is not None:
            return f"{self.flow_id}/{self.step_id}"
        return self.flow_id

    def to_dict(self) -> dict[str, Any]:
        """JSON form (with the rates)."""
        return {
            "level": self.level, "flow_id": self.flow_id, "step_id": self.step_id,
            "variant": self.variant, "channel": self.channel,
            "enrollments": self.enrollments, "sends": self.sends, "recipients": self.recipients,
            "skipped": dict(self.skipped), "conversions": self.conversions,
            "conversion_rate": self.conversion_rate,
            "attributed_orders": self.attributed_orders,
            "attributed_revenue": self.attributed_revenue,
            "revenue_per_recipient": self.revenue_per_recipient,
            "holdout_enrollments": self.holdout_enrollments,
            "holdout_conversions": self.holdout_conversions,
            "conversion_lift": _diff_dict(self.conversion_lift),
            "revenue_lift": _diff_dict(self.revenue_lift),
            "prob_best": self.prob_best,
        }  # fmt: skip


def _pct(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.1%}"


def _interval(d: Difference | None, *, percent: bool) -> str:
    if d is None or math.isnan(d.difference):
        return ""
    if math.isnan(d.low):
        return f"{d.difference:+.1%}" if percent else f"{d.difference:+.2f}"
    if percent:
        return f"{d.difference:+.1%} [{d.low:+.1%}, {d.high:+.1%}]"
    return f"{d.difference:+.2f} [{d.low:+.2f}, {d.high:+.2f}]"


_HEAD = ["row", "entered", "sends", "recipients", "skipped", "conversions", "rate",
         "revenue", "per recipient", "holdout", "rate lift (95%)", "revenue lift (95%)",
         "P(best)"]  # fmt: skip


@attrs.frozen(kw_only=True)
class PerformanceReport:
    """What each flow did and earned in a period (:meth:`Engine.performance`, backtests).

    ``rows`` come flow by flow: the flow's row, then its steps, split variants and
    channels. Money is in ``currency``.

    Example:
        >>> r = PerformanceReport(since=None, until=None, currency="EUR", rows=())
        >>> r.summary()
        'performance (EUR): no flow activity'
    """

    since: datetime | None
    until: datetime | None
    currency: str
    rows: tuple[PerformanceRow, ...]
    attribution: Mapping[str, Any] = attrs.field(factory=dict)

    def flow(self, flow_id: str) -> PerformanceRow:
        """The flow's own row.

        Raises:
            KeyError: No row for that flow.
        """
        for row in self.rows:
            if row.flow_id == flow_id and row.level == "flow":
                return row
        raise KeyError(flow_id)

    def rows_of(self, flow_id: str, level: str | None = None) -> list[PerformanceRow]:
        """The rows of one flow (optionally of one level)."""
        return [
            r for r in self.rows if r.flow_id == flow_id and (level is None or r.level == level)
        ]

    def _cells(self, row: PerformanceRow) -> list[Any]:
        held = "" if row.holdout_enrollments is None else str(row.holdout_enrollments)
        return [
            row.label, row.enrollments, row.sends, row.recipients,
            ", ".join(f"{k} {v}" for k, v in sorted(row.skipped.items())),
            row.conversions, _pct(row.conversion_rate), f"{row.attributed_revenue:,.2f}",
            "" if row.revenue_per_recipient is None else f"{row.revenue_per_recipient:,.2f}",
            held, _interval(row.conversion_lift, percent=True),
            _interval(row.revenue_lift, percent=False),
            "" if row.prob_best is None else f"{row.prob_best:.3f}",
        ]  # fmt: skip

    def summary(self) -> str:
        """A plain-text table, one line per row."""
        period = ""
        if self.since is not None or self.until is not None:
            since = self.since.isoformat() if self.since else "the start"
            until = self.until.isoformat() if self.until else "now"
            period = f" {since} to {until}"
        title = f"performance{period} ({self.currency})"
        if not self.rows:
            return f"{title}: no flow activity"
        table = [list(map(str, _HEAD)), *[[str(c) for c in self._cells(r)] for r in self.rows]]
        widths = [max(len(line[i]) for line in table) for i in range(len(_HEAD))]
        lines = [title]
        for line in table:
            lines.append("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        """The same table as HTML (for notebooks and the HTML report)."""
        from ecomcrm._html import html_table

        return html_table(f"Flow performance ({self.currency})", _HEAD,
                          [self._cells(r) for r in self.rows])  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "currency": self.currency,
            "attribution": dict(self.attribution),
            "rows": [r.to_dict() for r in self.rows],
        }
