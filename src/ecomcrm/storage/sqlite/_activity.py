"""SQLite events, consents, support tickets, the loyalty ledger and the message log."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

import attrs

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
from ecomcrm.errors import (
    NotFoundError,
)
from ecomcrm.storage._sql_rows import (
    CONSENT_COLUMNS,
    EVENT_COLUMNS,
    LOYALTY_COLUMNS,
    MESSAGE_COLUMNS,
    TICKET_COLUMNS,
    consent_from,
    consent_values,
    event_from,
    event_values,
    loyalty_from,
    loyalty_values,
    message_from,
    message_values,
    micros,
    ticket_from,
    ticket_values,
)
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._sql import _in, _insert_rows, _marks, _reassign_rows, _survivors


class SqliteEvents(_Base, sh.BaseEventRepository):
    """Behavioural events in ``events``."""

    _INSERT = f"INSERT OR IGNORE INTO events ({EVENT_COLUMNS})"

    def append(self, event: Event) -> bool:
        """Store an event; False when its id is already stored."""
        with self._db.write() as conn:
            return (
                conn.execute(f"{self._INSERT} VALUES ({_marks(8)})", event_values(event)).rowcount
                == 1
            )

    def append_many(self, events: Iterable[Event]) -> int:
        """Store many events in one transaction; returns how many were new."""
        rows = [event_values(e) for e in events]
        with self._db.write() as conn:
            before = conn.total_changes
            _insert_rows(conn, self._INSERT, rows)
            return conn.total_changes - before

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
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            anon = [
                r[0]
                for r in _in(
                    conn,
                    "SELECT i.value FROM identities i JOIN customers c ON c.pk = i.customer_pk "
                    "WHERE c.id IN ({ids}) AND i.kind = 'anonymous'",
                    ids,
                )
            ]
            pks: set[int] = set()
            for r in _in(conn, "SELECT pk FROM events WHERE customer_id IN ({ids})", ids):
                pks.add(r[0])
            for r in _in(
                conn,
                "SELECT pk FROM events WHERE anonymous_id IN ({ids}) AND customer_id IS NULL",
                anon,
            ):
                pks.add(r[0])
            where = ["e.pk IN ({ids})"]
            args: list[Any] = []
            if since is not None:
                where.append("e.at >= ?")
                args.append(micros(since))
            if wanted is not None:
                if not wanted:
                    return []
                where.append(f"e.name IN ({_marks(len(wanted))})")
                args.extend(wanted)
            rows = _in(conn, self._SELECT + "WHERE " + " AND ".join(where), sorted(pks), *args)
        rows.sort(key=lambda r: (r[2], r[0]))
        if limit is not None:
            rows = rows[-limit:] if limit > 0 else []
        return [event_from(r, cid if r[3] is not None else None) for r in rows]

    def for_anonymous(self, anonymous_id: str) -> list[Event]:
        """Events carrying this anonymous id, by ``at``."""
        with self._db.read() as conn:
            rows = conn.execute(
                self._SELECT + "WHERE e.anonymous_id = ? ORDER BY e.at, e.id", (anonymous_id,)
            ).fetchall()
        return [event_from(r, r[-1]) for r in rows]

    def count(self) -> int:
        """How many events are stored."""
        with self._db.read() as conn:
            return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])

    def iterate(self) -> Iterator[Event]:
        """Every stored event (customer ids resolved through merges)."""
        with self._db.read() as conn:
            rows = conn.execute(self._SELECT).fetchall()
        return iter([event_from(r, r[-1]) for r in rows])

    def reassign(
        self, customer_ids: Collection[str], to: str | None, *, anonymous_ids: Collection[str] = ()
    ) -> None:
        """Re-point or delete the events of these ids and the unowned events of the cookies."""
        with self._db.write() as conn:
            _reassign_rows(conn, "events", customer_ids, to)
            _reassign_rows(
                conn,
                "events",
                anonymous_ids,
                to,
                column="anonymous_id",
                also=" AND customer_id IS NULL",
            )


class SqliteConsents(_Base, sh.BaseConsentRepository):
    """The append-only consent ledger in ``consents``."""

    def record(self, consent: Consent) -> None:
        """Append a consent decision. NotFoundError when the customer does not exist."""
        with self._db.write() as conn:
            _, cid = self._require(conn, consent.customer_id, "Consent")
            conn.execute(
                f"INSERT INTO consents ({CONSENT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                consent_values(consent, cid),
            )
            sh.audit_consents(self.store, [attrs.evolve(consent, customer_id=cid)])

    def record_many(self, consents: Iterable[Consent]) -> int:
        """Append many decisions in one transaction (multi-row inserts); returns how many."""
        batch = list(consents)
        with self._db.write() as conn:
            owners = _survivors(conn, [c.customer_id for c in batch])
            rows = []
            stored = []
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
                rows.append(consent_values(consent, cid))
                stored.append(
                    consent
                    if cid == consent.customer_id
                    else attrs.evolve(consent, customer_id=cid)
                )
            _insert_rows(
                conn,
                f"INSERT INTO consents ({CONSENT_COLUMNS})",
                rows,
            )
            sh.audit_consents(self.store, stored)
        return len(rows)

    def history(self, customer_id: str) -> list[Consent]:
        """Every decision for the customer, by ``at`` then insertion order."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = _in(
                conn,
                f"SELECT {CONSENT_COLUMNS}, pk FROM consents WHERE customer_id IN ({{ids}})",
                ids,
            )
        rows.sort(key=lambda r: (r[4], r[8]))
        return [consent_from(r, cid) for r in rows]

    def current(self, customer_id: str) -> dict[tuple[Channel, Purpose], Consent]:
        """The latest purpose-wide decision per (channel, purpose)."""
        return sh.latest_consents(self.history(customer_id))

    def is_granted(self, customer_id: str, channel: Channel | str, purpose: Purpose | str) -> bool:
        """True when the latest decision for (channel, purpose) is a grant."""
        latest = self.current(customer_id).get((Channel(channel), Purpose(purpose)))
        return latest is not None and latest.granted

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "consents", customer_ids, to)


class SqliteTickets(_Base, sh.BaseTicketRepository):
    """Support tickets in ``tickets``."""

    _ON_CONFLICT = " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
        f"{c} = excluded.{c}" for c in TICKET_COLUMNS.split(", ")[1:]
    )
    _UPSERT = f"INSERT INTO tickets ({TICKET_COLUMNS}) VALUES ({_marks(11)})" + _ON_CONFLICT
    _SELECT = (
        "SELECT t.id, t.customer_id, t.channel, t.subject, t.tags, t.status, t.opened_at, "
        "t.first_response_at, t.closed_at, t.satisfaction, t.order_id, coalesce(s.id, c.id) "
        "FROM tickets t JOIN customers c ON c.id = t.customer_id "
        "LEFT JOIN customers s ON s.pk = c.survivor_pk "
    )

    def upsert(self, ticket: SupportTicket) -> bool:
        """Insert or replace a ticket; True when created. NotFoundError for unknown customers."""
        with self._db.write() as conn:
            _, cid = self._require(conn, ticket.customer_id, "SupportTicket")
            created = (
                conn.execute("SELECT 1 FROM tickets WHERE id = ?", (ticket.id,)).fetchone() is None
            )
            conn.execute(self._UPSERT, ticket_values(ticket, cid))
            return created

    def put_many(self, tickets: Iterable[SupportTicket]) -> int:
        """Upsert many tickets in one transaction (multi-row upserts); returns the count."""
        batch = list(tickets)
        with self._db.write() as conn:
            owners = _survivors(conn, [t.customer_id for t in batch])
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
                rows.append(ticket_values(ticket, cid))
            _insert_rows(conn, f"INSERT INTO tickets ({TICKET_COLUMNS})", rows, self._ON_CONFLICT)
        return len(rows)

    def get(self, ticket_id: str) -> SupportTicket:
        """The ticket; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(self._SELECT + "WHERE t.id = ?", (ticket_id,)).fetchone()
        if row is None:
            raise NotFoundError(
                "no such ticket", entity="SupportTicket", field="id", value=ticket_id
            )
        return ticket_from(row, row[-1])

    def for_customer(self, customer_id: str) -> list[SupportTicket]:
        """The customer's tickets (following merges), by ``opened_at``."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            rows = _in(conn, self._SELECT + "WHERE t.customer_id IN ({ids})", ids)
        rows.sort(key=lambda r: (r[6], r[0]))
        return [ticket_from(r, r[-1]) for r in rows]

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "tickets", customer_ids, to)


class SqliteLoyalty(_Base, sh.BaseLoyaltyRepository):
    """The loyalty points ledger in ``loyalty``, idempotent by entry id."""

    def append(self, entry: LoyaltyEntry) -> bool:
        """Append an entry; False when an entry with its id exists."""
        with self._db.write() as conn:
            found = self._survivor(conn, entry.customer_id)
            cid = found[1] if found is not None else entry.customer_id
            cur = conn.execute(
                f"INSERT OR IGNORE INTO loyalty ({LOYALTY_COLUMNS}) VALUES ({_marks(8)})",
                loyalty_values(entry, cid),
            )
            return cur.rowcount == 1

    def append_many(self, entries: Iterable[LoyaltyEntry]) -> int:
        """Append many entries in one transaction (multi-row inserts); returns how many were new."""
        batch = list(entries)
        with self._db.write() as conn:
            owners = _survivors(conn, [e.customer_id for e in batch])
            rows = [loyalty_values(e, owners.get(e.customer_id, e.customer_id)) for e in batch]
            before = conn.total_changes
            _insert_rows(conn, f"INSERT OR IGNORE INTO loyalty ({LOYALTY_COLUMNS})", rows)
            return conn.total_changes - before

    def has(self, entry_id: str) -> bool:
        """True when an entry with this id is in the ledger."""
        with self._db.read() as conn:
            return (
                conn.execute("SELECT 1 FROM loyalty WHERE id = ?", (entry_id,)).fetchone()
                is not None
            )

    def entries(self, customer_id: str) -> list[LoyaltyEntry]:
        """The customer's entries (following merges), by ``at`` then insertion."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            rows = _in(
                conn,
                f"SELECT {LOYALTY_COLUMNS}, pk FROM loyalty WHERE customer_id IN ({{ids}})",
                ids,
            )
        rows.sort(key=lambda r: (r[4], r[8]))
        return [loyalty_from(r, cid) for r in rows]

    def balance(self, customer_id: str) -> int:
        """The sum of the customer's entries' points."""
        with self._db.read() as conn:
            _, ids = self._group(conn, customer_id)
            return sum(
                int(r[0] or 0)
                for r in _in(
                    conn, "SELECT sum(points) FROM loyalty WHERE customer_id IN ({ids})", ids
                )
            )

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "loyalty", customer_ids, to)


class SqliteMessages(_Base, sh.BaseMessageRepository):
    """The message log in ``messages``."""

    _UPSERT = (
        f"INSERT INTO messages ({MESSAGE_COLUMNS}) VALUES ({_marks(11)}) ON CONFLICT(id) DO "
        "UPDATE SET " + ", ".join(f"{c} = excluded.{c}" for c in MESSAGE_COLUMNS.split(", ")[1:])
    )

    def upsert(self, message: Message) -> bool:
        """Insert or replace a message; True when created."""
        with self._db.write() as conn:
            found = self._survivor(conn, message.customer_id)
            cid = found[1] if found is not None else message.customer_id
            created = (
                conn.execute("SELECT 1 FROM messages WHERE id = ?", (message.id,)).fetchone()
                is None
            )
            conn.execute(self._UPSERT, message_values(message, cid))
            return created

    def get(self, message_id: str) -> Message:
        """The message; NotFoundError when there is none."""
        with self._db.read() as conn:
            row = conn.execute(
                f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE id = ?", (message_id,)
            ).fetchone()
            if row is None:
                raise NotFoundError(
                    "no such message", entity="Message", field="id", value=message_id
                )
            found = self._survivor(conn, row[1])
        return message_from(row, found[1] if found is not None else row[1])

    def for_customer(self, customer_id: str, *, since: datetime | None = None) -> list[Message]:
        """The customer's messages (following merges), by ``at``."""
        with self._db.read() as conn:
            cid, ids = self._group(conn, customer_id)
            sql = f"SELECT {MESSAGE_COLUMNS} FROM messages WHERE customer_id IN ({{ids}})"
            args: tuple[Any, ...] = ()
            if since is not None:
                sql += " AND at >= ?"
                args = (micros(since),)
            rows = _in(conn, sql, ids, *args)
        rows.sort(key=lambda r: (r[3], r[0]))
        return [message_from(r, cid) for r in rows]

    def reassign(self, customer_ids: Collection[str], to: str | None) -> None:
        """Re-point (or delete, for None) the rows of these ids (one statement per 500 ids)."""
        with self._db.write() as conn:
            _reassign_rows(conn, "messages", customer_ids, to)
