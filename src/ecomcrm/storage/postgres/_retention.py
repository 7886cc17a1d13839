"""The PostgreSQL retention purge: one set-based statement per data class.

Each primitive of :class:`~ecomcrm.storage.toolkit.RetentionPurger` is a single
``DELETE`` or ``UPDATE`` over the rows that are due (never a Python loop over rows), in
the transaction :func:`~ecomcrm.storage.toolkit.apply_retention` opens.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ecomcrm.storage.postgres._base import Base

_IDENTIFYING = "('email', 'phone', 'external')"

# Refund lines are JSON text; their reasons are set to null element by element, in order.
_STRIP_LINES = (
    "(SELECT json_agg(jsonb_set(e, '{reason}', 'null'::jsonb) ORDER BY n)::text "
    "FROM jsonb_array_elements(r.lines::jsonb) WITH ORDINALITY a(e, n))"
)
_REASONED_LINES = (
    "EXISTS (SELECT 1 FROM jsonb_array_elements(r.lines::jsonb) e WHERE e->>'reason' IS NOT NULL)"
)


class PostgresPurger(Base):
    """The bulk primitives of a retention purge over the store's tables."""

    def purge_events(self, named: Mapping[str, int], default: int | None) -> int:
        """Delete events older than their name's cut-off (``default`` for other names)."""
        names, cutoffs = list(named), list(named.values())
        with self._db.write() as conn:
            deleted = conn.execute(
                "DELETE FROM events e USING unnest(%s::text[], %s::int8[]) k(name, cutoff) "
                "WHERE e.name = k.name AND e.at < k.cutoff",
                (names, cutoffs),
            ).rowcount
            if default is not None:
                deleted += conn.execute(
                    "DELETE FROM events WHERE at < %s AND NOT (name = ANY(%s::text[]))",
                    (default, names),
                ).rowcount
        return max(int(deleted), 0)

    def purge_messages(self, cutoff: int) -> int:
        """Delete messages older than ``cutoff``."""
        with self._db.write() as conn:
            deleted = conn.execute("DELETE FROM messages WHERE at < %s", (cutoff,)).rowcount
        return max(int(deleted), 0)

    def purge_tickets(self, cutoff: int) -> int:
        """Delete tickets closed before ``cutoff``."""
        with self._db.write() as conn:
            deleted = conn.execute(
                "DELETE FROM tickets WHERE closed_at IS NOT NULL AND closed_at < %s", (cutoff,)
            ).rowcount
        return max(int(deleted), 0)

    def strip_orders(self, cutoff: int) -> tuple[int, int]:
        """Remove addresses and discount codes of old orders, reasons of old refunds."""
        with self._db.write() as conn:
            orders = conn.execute(
                "UPDATE orders SET shipping_address = NULL, discount_codes = NULL "
                "WHERE placed_at < %s "
                "AND (shipping_address IS NOT NULL OR discount_codes IS NOT NULL)",
                (cutoff,),
            ).rowcount
            refunds = conn.execute(
                f"UPDATE refunds r SET reason = NULL, lines = CASE WHEN r.lines IS NULL "
                f"THEN NULL ELSE {_STRIP_LINES} END WHERE r.at < %s AND (r.reason IS NOT NULL "
                f"OR (r.lines IS NOT NULL AND {_REASONED_LINES}))",
                (cutoff,),
            ).rowcount
        return max(int(orders), 0), max(int(refunds), 0)

    def purge_consents(self, cutoff: int) -> int:
        """Delete decisions older than ``cutoff`` that are not current for their key."""
        with self._db.write() as conn:
            deleted = conn.execute(
                "DELETE FROM consents k USING (SELECT pk, row_number() OVER (PARTITION BY "
                "customer_id, channel, purpose ORDER BY at DESC, pk DESC) AS rank "
                "FROM consents) x WHERE k.pk = x.pk AND x.rank > 1 AND k.at < %s",
                (cutoff,),
            ).rowcount
        return max(int(deleted), 0)

    def anonymous_profiles(self, cutoff: int) -> Sequence[str]:
        """Live profiles never identified, created before ``cutoff``, silent since."""
        rows = self._db.query(
            "SELECT c.id FROM customers c WHERE c.survivor_pk IS NULL AND c.created_at < %s "
            "AND substr(c.id, 1, 5) <> 'anon_' "
            "AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.customer_pk = c.pk "
            f"AND i.kind IN {_IDENTIFYING}) "
            "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id AND e.at >= %s) "
            "AND NOT EXISTS (SELECT 1 FROM identities i JOIN events e "
            "ON e.anonymous_id = i.value WHERE i.customer_pk = c.pk "
            "AND i.kind = 'anonymous' AND e.at >= %s) ORDER BY c.id COLLATE \"C\"",
            (cutoff, cutoff, cutoff),
        )
        return [str(r[0]) for r in rows]
