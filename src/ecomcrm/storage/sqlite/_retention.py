"""The SQLite retention purge: one set-based statement per data class.

Each primitive of :class:`~ecomcrm.storage.toolkit.RetentionPurger` is a single
``DELETE`` or ``UPDATE`` over the rows that are due (never a Python loop over rows), so
purging millions of events costs what a hand-written ``DELETE`` costs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ecomcrm.storage.sqlite._base import _Base

_IDENTIFYING = "('email', 'phone', 'external')"


class SqlitePurger(_Base):
    """The bulk primitives of a retention purge over the store's tables."""

    def purge_events(self, named: Mapping[str, int], default: int | None) -> int:
        """Delete events older than their name's cut-off (``default`` for other names)."""
        deleted = 0
        with self._db.write() as conn:
            for name, cutoff in named.items():
                deleted += conn.execute(
                    "DELETE FROM events WHERE name = ? AND at < ?", (name, cutoff)
                ).rowcount
            if default is not None:
                names = list(named)
                others = f" AND name NOT IN ({', '.join('?' * len(names))})" if names else ""
                deleted += conn.execute(
                    f"DELETE FROM events WHERE at < ?{others}", (default, *names)
                ).rowcount
        return deleted

    def purge_messages(self, cutoff: int) -> int:
        """Delete messages older than ``cutoff``."""
        with self._db.write() as conn:
            return int(conn.execute("DELETE FROM messages WHERE at < ?", (cutoff,)).rowcount)

    def purge_tickets(self, cutoff: int) -> int:
        """Delete tickets closed before ``cutoff``."""
        with self._db.write() as conn:
            return int(
                conn.execute(
                    "DELETE FROM tickets WHERE closed_at IS NOT NULL AND closed_at < ?", (cutoff,)
                ).rowcount
            )

    def strip_orders(self, cutoff: int) -> tuple[int, int]:
        """Remove addresses and discount codes of old orders, reasons of old refunds."""
        with self._db.write() as conn:
            orders = conn.execute(
                "UPDATE orders SET shipping_address = NULL, discount_codes = NULL "
                "WHERE placed_at < ? "
                "AND (shipping_address IS NOT NULL OR discount_codes IS NOT NULL)",
                (cutoff,),
            ).rowcount
            refunds = conn.execute(
                "UPDATE refunds SET reason = NULL, lines = CASE WHEN lines IS NULL THEN NULL "
                "ELSE (SELECT json_group_array(json_set(value, '$.reason', NULL)) "
                "FROM json_each(refunds.lines)) END "
                "WHERE at < ? AND (reason IS NOT NULL OR EXISTS (SELECT 1 FROM "
                "json_each(refunds.lines) WHERE json_extract(value, '$.reason') IS NOT NULL))",
                (cutoff,),
            ).rowcount
            if orders or refunds:
                self._touch_facts(conn)
        return int(orders), int(refunds)

    def purge_consents(self, cutoff: int) -> int:
        """Delete decisions older than ``cutoff`` that are not current for their key."""
        with self._db.write() as conn:
            return int(
                conn.execute(
                    "DELETE FROM consents WHERE at < ? AND pk NOT IN ("
                    "SELECT pk FROM (SELECT pk, row_number() OVER (PARTITION BY customer_id, "
                    "channel, purpose, topic ORDER BY at DESC, pk DESC) AS rank FROM consents) "
                    "WHERE rank = 1)",
                    (cutoff,),
                ).rowcount
            )

    def anonymous_profiles(self, cutoff: int) -> Sequence[str]:
        """Live profiles never identified, created before ``cutoff``, silent since."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.id FROM customers c WHERE c.survivor_pk IS NULL AND c.created_at < ? "
                "AND substr(c.id, 1, 5) <> 'anon_' "
                f"AND NOT EXISTS (SELECT 1 FROM identities i WHERE i.customer_pk = c.pk "
                f"AND i.kind IN {_IDENTIFYING}) "
                "AND NOT EXISTS (SELECT 1 FROM events e WHERE e.customer_id = c.id AND e.at >= ?) "
                "AND NOT EXISTS (SELECT 1 FROM identities i JOIN events e "
                "ON e.anonymous_id = i.value WHERE i.customer_pk = c.pk "
                "AND i.kind = 'anonymous' AND e.at >= ?) ORDER BY c.id",
                (cutoff, cutoff, cutoff),
            ).fetchall()
        return [r[0] for r in rows]
