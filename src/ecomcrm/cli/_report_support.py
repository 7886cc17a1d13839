"""The report's support figures: tickets of the headline period by channel, and open tickets.

Computed from the store's tickets as columns (``toolkit.read_ticket_facts``) with
:func:`ecomcrm.service.ticket_stats`; "open" is the feature table's ``open_tickets``
(one meaning of an open ticket in flows, segments and this report).
"""

from __future__ import annotations

from datetime import datetime

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.cli._report_figures import to_us
from ecomcrm.service import TicketStats, ticket_stats
from ecomcrm.storage import TicketFacts


@attrs.frozen(kw_only=True)
class SupportRow:
    """One channel's tickets opened in the period (``channel`` "all" for every channel)."""

    channel: str
    tickets: int
    first_response_median_h: float
    first_response_p90_h: float
    resolution_median_h: float
    ratings: int
    csat_mean: float
    satisfied_share: float
    """Share of ratings of 4 or 5 (of 5), 0-1."""


@attrs.frozen(kw_only=True)
class Support:
    """Tickets opened in the period and the one before it, open tickets now, by channel."""

    opened: int
    previous_opened: int | None
    open_now: int
    customers_waiting: int
    rows: tuple[SupportRow, ...]


def _row(channel: str, index: int, stats: TicketStats) -> SupportRow:
    return SupportRow(
        channel=channel,
        tickets=int(stats.volume[index]),
        first_response_median_h=float(stats.first_response_hours[index, 0]),
        first_response_p90_h=float(stats.first_response_hours[index, 1]),
        resolution_median_h=float(stats.resolution_hours[index, 0]),
        ratings=int(stats.csat_responses[index]),
        csat_mean=float(stats.csat_mean[index]),
        satisfied_share=float(stats.csat[index]) / 100.0,
    )


def support_figures(
    tickets: TicketFacts,
    open_tickets: NDArray[np.int64],
    *,
    start: datetime,
    end: datetime,
    previous_start: datetime | None,
) -> Support | None:
    """Support figures of the tickets opened in ``(start, end]``; None without any ticket.

    The period is the headline's (an order at ``end`` counts there too). Response and
    resolution times count what happened by ``end`` (a ticket answered later is
    unanswered here); ``open_tickets`` is the feature table's column.
    """
    if not len(tickets):
        return None
    opened_us = tickets.opened_at.astype("datetime64[us]").astype(np.int64)
    start_us, end_us = to_us(start), to_us(end)
    in_period = (opened_us > start_us) & (opened_us <= end_us)
    previous = None
    if previous_start is not None:
        prev_us = to_us(previous_start)
        previous = int(((opened_us > prev_us) & (opened_us <= start_us)).sum())
    channels = np.asarray(tickets.channel[in_period]).astype(str)
    names, codes = np.unique(channels, return_inverse=True)
    rows: list[SupportRow] = []
    if in_period.any():
        now = np.datetime64(end_us, "us")

        def stats(segment: NDArray[np.intp] | None, n: int | None) -> TicketStats:
            return ticket_stats(
                opened_at=tickets.opened_at[in_period],
                first_response_at=tickets.first_response_at[in_period],
                closed_at=tickets.closed_at[in_period],
                csat=tickets.satisfaction[in_period],
                now=now,
                percentiles=(50.0, 90.0),
                segment=segment,
                n_segments=n,
            )

        by_channel = stats(codes, len(names))
        overall = stats(None, None)
        rows = [_row(str(name), k, by_channel) for k, name in enumerate(names)]
        if len(names) > 1:
            rows.append(_row("all", 0, overall))
    counts = np.asarray(open_tickets, dtype=np.int64)
    return Support(
        opened=int(in_period.sum()),
        previous_opened=previous,
        open_now=int(counts.sum()),
        customers_waiting=int((counts > 0).sum()),
        rows=tuple(rows),
    )
