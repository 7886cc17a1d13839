"""Events, consents, tickets, the loyalty ledger and the message log.

Each is written with one statement per batch (COPY for the append-only consents, an
array insert with ``ON CONFLICT`` elsewhere) and read following merges.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.postgres._rows as pg
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Channel,
    Consent,
    Event,
    LoyaltyEntry,
    Message,
    Purpose,
    SupportTicket,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.storage.postgres._base import Base, survivors
from ecomcrm.storage.postgres._bulk import copy_rows, last_of_each, unnest_insert
from ecomcrm.storage.postgres._connection import Db, retry_races


class PostgresEvents(Base):
    """Behavioural events in ``events``."""

    def append(self, event: Event) -> bool:
        """Store an event; False when its id is already stored."""
        return self.append_many([event]) == 1

    @retry_races
    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one statement; returns how many were new."""
        rows = [rw.event_values(e) for e in events]
        with self._db.write() as conn:
            return unnest_insert(
                conn,
                "events",
                rw.EVENT_COLUMNS,
                pg.EVENT_TYPES,
                rows,
                "ON CONFLICT (id) DO NOTHING",
            )

    _SELECT = (
        "SELECT e.id, e.name, e.at, e.customer_id, e.anonymous_id, e.properties, e.source, "
        "coalesce(s.id, c.id, e.customer_id) FROM events e "
        "LEFT JOIN customers c ON c.id = e.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def for_customer(
        self,
        customer_id: str,
        *,
        since: datetime | None = None,
        names: Iterable[str] | None = None,
        limit: int | None = None,
    ) -> list[Event]:
        """The customer's events (following merges and linked anonymous ids), by ``at``."""
        found = sh.event_names(names)
        wanted = None if found is None else sorted(found)
        if wanted is not None and not wanted:
            return []
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            anon = [
                r[0]
                for r in conn.execute(
                    "SELECT i.value FROM identities i JOIN customers c ON c.pk = i.customer_pk "
                    "WHERE c.id = ANY(%s) AND i.kind = 'anonymous'",
                    (ids,),
                )
            ]
            where = [
                "(e.customer_id = ANY(%s) OR (e.customer_id IS NULL AND e.anonymous_id = ANY(%s)))"
            ]
            args: list[Any] = [ids, anon]
            if since is not None:
                where.append("e.at >= %s")
                args.append(rw.micros(since))
            if wanted is not None:
                where.append("e.name = ANY(%s)")
                args.append(wanted)
            sql = self._SELECT + "WHERE " + " AND ".join(where)
            if limit is not None:
                if limit <= 0:
                    return []
                sql = (
                    f'SELECT * FROM ({sql} ORDER BY e.at DESC, e.id COLLATE "C" DESC '
                    f'LIMIT {int(limit)}) x ORDER BY x.at, x.id COLLATE "C"'
                )
            else:
                sql += ' ORDER BY e.at, e.id COLLATE "C"'
            rows = conn.execute(sql.encode(), args).fetchall()
        return [rw.event_from(r, cid if r[3] is not None else None) for r in rows]

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._SELECT + 'WHERE e.anonymous_id = %s ORDER BY e.at, e.id COLLATE "C"',
                (anonymous_id,),
            ).fetchall()
        return [rw.event_from(r, r[-1]) for r in rows]

    def count(self) -> int:
        """How many events are stored."""
        return int(self._db.query("SELECT count(*) FROM events")[0][0])


class PostgresConsents(Base):
    """The append-only consent ledger in ``consents`` (each decision audited in ``audit``)."""

    def __init__(self, db: Db, audit: sh.BaseAuditLog | None = None) -> None:
        super().__init__(db)
        self._audit = audit

    @retry_races
    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""
        with self._db.write() as conn:
            _, cid = self._require(conn, consent.customer_id, "Consent")
            conn.execute(
                f"INSERT INTO consents ({rw.CONSENT_COLUMNS}) "
                f"VALUES ({pg.placeholders(rw.CONSENT_COLUMNS)})",
                rw.consent_values(consent, cid),
            )
            if self._audit is not None:
                self._audit.add(sh.consent_entries([attrs.evolve(consent, customer_id=cid)]))

    @retry_races
    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many decisions in one transaction (COPY, in order); returns how many."""
        batch = list(consents)
        with self._db.write() as conn:
            owners = survivors(conn, [c.customer_id for c in batch])
            rows = []
            for row, consent in enumerate(batch):
                cid = owners.get(consent.customer_id)
                if cid is None:
                    raise NotFoundError(
                        "no such customer",
                        entity="Consent",
                        field="customer_id",
                        value=consent.customer_id,
                        row=row,
                    )
                rows.append(rw.consent_values(consent, cid))
            if rows:
                copy_rows(conn, "consents", rw.CONSENT_COLUMNS, rows)
            if self._audit is not None and batch:
                stored = [
                    attrs.evolve(c, customer_id=owners[c.customer_id])
                    if owners[c.customer_id] != c.customer_id
                    else c
                    for c in batch
                ]
                self._audit.add(sh.consent_entries(stored))
        return len(rows)

    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""
        # one statement (consent checks are on the rules engine's hot path): the customer's
        # surviving id and every id merged into it, then their decisions
        rows = self._db.query(
            "SELECT k.customer_id, k.channel, k.purpose, k.granted, k.at, k.source, k.topic, "
            "k.proof, t.id "
            "FROM customers c JOIN customers t ON t.pk = coalesce(c.survivor_pk, c.pk) "
            "JOIN consents k ON k.customer_id = ANY(array(SELECT g.id FROM customers g "
            "WHERE g.pk = t.pk OR g.survivor_pk = t.pk)) WHERE c.id = %s ORDER BY k.at, k.pk",
            (customer_id,),
        )
        return [rw.consent_from(r, r[8]) for r in rows]

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest purpose-wide decision per (channel, purpose)."""
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted


class PostgresTickets(Base):
    """Support tickets in ``tickets``."""

    _TAIL = f"ON CONFLICT (id) DO UPDATE SET {pg.excluded(rw.TICKET_COLUMNS)}"
    _SELECT = (
        "SELECT t.id, t.customer_id, t.channel, t.subject, t.tags, t.status, t.opened_at, "
        "t.first_response_at, t.closed_at, t.satisfaction, t.order_id, coalesce(s.id, c.id) "
        "FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    @retry_races
    def upsert(self, ticket: SupportTicket) -> bool:
        """Insert or replace a ticket; True when created. NotFoundError for unknown customers."""
        with self._db.write() as conn:
            _, cid = self._require(conn, ticket.customer_id, "SupportTicket")
            row = conn.execute(
                f"INSERT INTO tickets ({rw.TICKET_COLUMNS}) "
                f"VALUES ({pg.placeholders(rw.TICKET_COLUMNS)}) {self._TAIL} "
                "RETURNING (xmax = 0)",
                rw.ticket_values(ticket, cid),
            ).fetchone()
            return bool(row and row[0])

    @retry_races
    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one statement; returns the count."""
        batch = list(tickets)
        with self._db.write() as conn:
            owners = survivors(conn, [t.customer_id for t in batch])
            rows = []
            for row, ticket in enumerate(batch):
                cid = owners.get(ticket.customer_id)
                if cid is None:
                    raise NotFoundError(
                        "no such customer",
                        entity="SupportTicket",
                        field="customer_id",
                        value=ticket.customer_id,
                        row=row,
                    )
                rows.append(rw.ticket_values(ticket, cid))
            unnest_insert(
                conn, "tickets", rw.TICKET_COLUMNS, pg.TICKET_TYPES, last_of_each(rows), self._TAIL
            )
        return len(rows)

    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(self._SELECT + "WHERE t.id = %s", (ticket_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                "no such ticket", entity="SupportTicket", field="id", value=ticket_id
            )
        return rw.ticket_from(row, row[-1])

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = conn.execute(
                self._SELECT
                + 'WHERE t.customer_id = ANY(%s) ORDER BY t.opened_at, t.id COLLATE "C"',
                (ids,),
            ).fetchall()
        return [rw.ticket_from(r, r[-1]) for r in rows]


class PostgresLoyalty(Base):
    """The loyalty points ledger in ``loyalty``, idempotent by entry id."""

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False when an entry with its id exists."""
        return self.append_many([entry]) == 1

    @retry_races
    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one statement (in order); returns how many were new."""
        batch = list(entries)
        with self._db.write() as conn:
            owners = survivors(conn, [e.customer_id for e in batch])
            rows = [rw.loyalty_values(e, owners.get(e.customer_id, e.customer_id)) for e in batch]
            return unnest_insert(
                conn,
                "loyalty",
                rw.LOYALTY_COLUMNS,
                pg.LOYALTY_TYPES,
                rows,
                "ON CONFLICT (id) DO NOTHING",
            )

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""
        return bool(self._db.query("SELECT 1 FROM loyalty WHERE id = %s", (entry_id,)))

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = conn.execute(
                f"SELECT {rw.LOYALTY_COLUMNS} FROM loyalty WHERE customer_id = ANY(%s) "
                "ORDER BY at, pk",
                (ids,),
            ).fetchall()
        return [rw.loyalty_from(r, cid) for r in rows]

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            row = conn.execute(
                "SELECT coalesce(sum(points), 0) FROM loyalty WHERE customer_id = ANY(%s)", (ids,)
            ).fetchone()
        return int(row[0]) if row else 0


class PostgresMessages(Base):
    """The message log in ``messages``."""

    _UPSERT = (
        f"INSERT INTO messages ({rw.MESSAGE_COLUMNS}) VALUES "
        f"({pg.placeholders(rw.MESSAGE_COLUMNS)}) ON CONFLICT (id) DO UPDATE SET "
        f"{pg.excluded(rw.MESSAGE_COLUMNS)} RETURNING (xmax = 0)"
    )

    @retry_races
    def upsert(self, message: Message) -> bool:
        """Insert or replace a message; True when created."""
        with self._db.write() as conn:
            found = self._survivor(conn, message.customer_id)
            cid = found[1] if found is not None else message.customer_id
            row = conn.execute(self._UPSERT, rw.message_values(message, cid)).fetchone()
            return bool(row and row[0])

    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE id = %s", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "no such message", entity="Message", field="id", value=message_id
                )
            found = self._survivor(conn, row[1])
        return rw.message_from(row, found[1] if found is not None else row[1])

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            sql = f"SELECT {rw.MESSAGE_COLUMNS} FROM messages WHERE customer_id = ANY(%s)"
            args: list[Any] = [ids]
            if since is not None:
                sql += " AND at >= %s"
                args.append(rw.micros(since))
            rows = conn.execute((sql + ' ORDER BY at, id COLLATE "C"').encode(), args).fetchall()
        return [rw.message_from(r, cid) for r in rows]
