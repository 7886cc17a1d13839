"""Every support ticket of live customers as columns (``SupportsTicketFacts``) in PostgreSQL."""

from __future__ import annotations

from typing import Any

import psycopg

from ecomcrm.storage._records import TicketFacts
from ecomcrm.storage._sql_rows import TICKET_FACTS_SELECT, ticket_facts_from


def ticket_facts(conn: psycopg.Connection[Any]) -> TicketFacts:
    """Every ticket of live customers, by ``opened_at`` then ticket id (code point order)."""
    rows = conn.execute(TICKET_FACTS_SELECT + ' ORDER BY k.opened_at, k.id COLLATE "C"').fetchall()
    return ticket_facts_from(rows)
