"""Every support ticket of live customers as columns (``SupportsTicketFacts``) in PostgreSQL."""

from __future__ import annotations

from typing import Any

import numpy as np
import psycopg

from ecomcrm.storage._records import TicketFacts

# merged-away ids count for their final survivor (``survivor_pk`` is always the final one)
_SQL = (
    "SELECT coalesce(s.id, c.id), k.id, k.channel, k.status, k.opened_at, "
    "k.first_response_at, k.closed_at, k.satisfaction FROM tickets k "
    "JOIN customers c ON c.id = k.customer_id LEFT JOIN customers s ON s.pk = c.survivor_pk "
    'ORDER BY k.opened_at, k.id COLLATE "C"'
)


def ticket_facts(conn: psycopg.Connection[Any]) -> TicketFacts:
    """Every ticket of live customers, by ``opened_at`` then ticket id (code point order)."""
    rows = conn.execute(_SQL).fetchall()
    return TicketFacts.from_columns(
        customer_id=[r[0] for r in rows],
        ticket_id=[r[1] for r in rows],
        channel=[r[2] for r in rows],
        status=[r[3] for r in rows],
        opened_at_us=np.fromiter((r[4] for r in rows), dtype=np.int64, count=len(rows)),
        first_response_at_us=[r[5] for r in rows],
        closed_at_us=[r[6] for r in rows],
        satisfaction=[r[7] for r in rows],
    )
