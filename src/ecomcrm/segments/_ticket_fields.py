"""The support-ticket fields of the customer registry, vectorized over ``TicketFacts``."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from ecomcrm.segments._features import row_positions
from ecomcrm.storage import TicketFacts

__all__ = ["ticket_fields"]

_OPEN_STATUSES = ("open", "pending")
_NAT = np.iinfo(np.int64).min


def ticket_fields(
    tickets: TicketFacts, customer_ids: NDArray[Any], now: np.datetime64
) -> dict[str, NDArray[Any]]:
    """The ticket fields of the customers ``customer_ids`` at ``now``.

    The one definition of every ``"tickets"`` field of the registry. Only tickets opened
    by ``now`` count. A ticket is open at ``now`` when it is not closed by then: its
    ``closed_at`` is later, or it has none and its status is open or pending (a ticket
    marked closed without a closing time counts as closed). ``avg_satisfaction`` is the
    mean CSAT (1-5) of the rated tickets, null without one.

    Example:
        >>> import numpy as np
        >>> from ecomcrm.storage import TicketFacts
        >>> facts = TicketFacts.from_columns(customer_id=["a", "a", "b"], ticket_id=["1", "2", "3"],
        ...     channel=["email"] * 3, status=["closed", "open", "open"],
        ...     opened_at_us=[0, 86_400_000_000, 10 * 86_400_000_000],
        ...     first_response_at_us=[None] * 3, closed_at_us=[3_600_000_000, None, None],
        ...     satisfaction=[4, None, None])
        >>> cols = ticket_fields(facts, np.array(["a", "b"], dtype=object),
        ...                      np.datetime64("1970-01-05", "us"))
        >>> cols["tickets_count"].tolist(), cols["open_tickets"].tolist()
        ([2, 0], [1, 0])
        >>> cols["avg_satisfaction"].tolist()[0], str(cols["last_ticket_at"][0])
        (4.0, '1970-01-02T00:00:00.000000')
    """
    n = len(customer_ids)
    now_us = int(np.asarray(now).astype("datetime64[us]").astype(np.int64))
    row = row_positions(customer_ids, tickets.customer_id)
    opened_us = tickets.opened_at.astype("datetime64[us]").astype(np.int64)
    counted = (row >= 0) & (opened_us <= now_us)
    closed_us = tickets.closed_at.astype("datetime64[us]").astype(np.int64)
    no_close = np.isnat(tickets.closed_at)
    still_open = np.where(
        no_close, np.isin(tickets.status.astype(str), _OPEN_STATUSES), closed_us > now_us
    )
    rated = counted & ~np.isnan(tickets.satisfaction)
    count = np.bincount(row[counted], minlength=n).astype(np.int64)
    open_now = np.bincount(row[counted & still_open], minlength=n).astype(np.int64)
    ratings = np.bincount(row[rated], minlength=n)
    rating_sum = np.bincount(row[rated], weights=tickets.satisfaction[rated], minlength=n)
    average = np.full(n, np.nan)
    np.divide(rating_sum, ratings, out=average, where=ratings > 0)
    last = np.full(n, _NAT, dtype=np.int64)
    np.maximum.at(last, row[counted], opened_us[counted])
    return {
        "tickets_count": count,
        "open_tickets": open_now,
        "last_ticket_at": last.astype("datetime64[us]"),
        "avg_satisfaction": average,
    }
