"""Support tickets as columns (``SupportsTicketFacts``), from objects or through the contract."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ecomcrm.domain import SupportTicket
from ecomcrm.storage._capabilities import SupportsTicketFacts
from ecomcrm.storage._protocols import Store
from ecomcrm.storage._records import TicketFacts
from ecomcrm.storage.toolkit._time import to_micros

__all__ = ["read_ticket_facts", "ticket_facts_from_store", "ticket_facts_from_tickets"]


def ticket_facts_from_tickets(owned: Iterable[tuple[str, SupportTicket]]) -> TicketFacts:
    """Ticket facts from ``(surviving customer id, ticket)`` pairs, in the facts' order.

    Sorts by ``opened_at``, then ticket id (the order of ``tickets.for_customer``), so an
    adapter that keeps domain objects hands its tickets over in any order.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import SupportTicket
        >>> t = lambda i, day: SupportTicket(id=i, customer_id="c1", channel="email",
        ...                                  opened_at=datetime(2024, 1, day, tzinfo=timezone.utc))
        >>> facts = ticket_facts_from_tickets([("c1", t("b", 2)), ("c1", t("a", 2)), ("c1", t("c", 1))])
        >>> facts.ticket_id.tolist()
        ['c', 'a', 'b']
    """
    rows = sorted(owned, key=lambda pair: (pair[1].opened_at, pair[1].id))
    return TicketFacts.from_columns(
        customer_id=[owner for owner, _ in rows],
        ticket_id=[t.id for _, t in rows],
        channel=[t.channel.value for _, t in rows],
        status=[t.status.value for _, t in rows],
        opened_at_us=[to_micros(t.opened_at) for _, t in rows],
        first_response_at_us=[_micros_or_none(t.first_response_at) for _, t in rows],
        closed_at_us=[_micros_or_none(t.closed_at) for _, t in rows],
        satisfaction=[t.satisfaction for _, t in rows],
    )


def ticket_facts_from_store(store: Store) -> TicketFacts:
    """Ticket facts read through the core contract: one ``tickets.for_customer`` per customer.

    The fallback for a store without ``SupportsTicketFacts`` (and the reference the
    conformance kit compares the capability with); an adapter claims the capability to
    read them in one go instead.

    Example:
        >>> import ecomcrm
        >>> len(ticket_facts_from_store(ecomcrm.open_store("memory://")))
        0
    """
    ids = store.customer_table().ids
    return ticket_facts_from_tickets(
        (str(cid), ticket) for cid in ids.tolist() for ticket in store.tickets.for_customer(cid)
    )


def _micros_or_none(when: datetime | None) -> int | None:
    return None if when is None else to_micros(when)


def read_ticket_facts(store: Store) -> TicketFacts:
    """Every live customer's tickets as columns, however the store offers them.

    One ``ticket_facts()`` read where the store claims ``SupportsTicketFacts``, else
    :func:`ticket_facts_from_store` (one ``tickets.for_customer`` per customer).

    Example:
        >>> import ecomcrm
        >>> len(read_ticket_facts(ecomcrm.open_store("memory://")))
        0
    """
    if isinstance(store, SupportsTicketFacts):
        return store.ticket_facts()
    return ticket_facts_from_store(store)
