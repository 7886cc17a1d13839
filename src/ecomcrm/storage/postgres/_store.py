"""The PostgreSQL store: the repositories plus the cross-cutting operations of the contract."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any
from urllib.parse import quote

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.postgres._columnar as col
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import Identity, IdentityKind
from ecomcrm.errors import ConflictError, StorageError, ValidationError
from ecomcrm.storage._audit import AuditAction
from ecomcrm.storage._protocols import (
    ConsentRepository,
    CustomerRepository,
    EventRepository,
    LoyaltyRepository,
    MessageRepository,
    OrderRepository,
    StateRepository,
    TicketRepository,
)
from ecomcrm.storage._records import (
    ConsentFacts,
    Customer360,
    CustomerTable,
    ErasureReceipt,
    EventFacts,
    LineFacts,
    LoyaltyFacts,
    MergeRecord,
    OrderFacts,
    TicketFacts,
)
from ecomcrm.storage._retention import RetentionPolicy, RetentionReport
from ecomcrm.storage.postgres._audit import PostgresAudit
from ecomcrm.storage.postgres._base import Base
from ecomcrm.storage.postgres._bulk import copy_rows
from ecomcrm.storage.postgres._connection import (
    DEFAULT_SCHEMA,
    Db,
    check_schema,
    parse_url,
    retry_races,
)
from ecomcrm.storage.postgres._customers import PostgresCustomers
from ecomcrm.storage.postgres._documents import customer_360
from ecomcrm.storage.postgres._facts_cache import clear_for_erasure
from ecomcrm.storage.postgres._ledgers import (
    PostgresConsents,
    PostgresEvents,
    PostgresLoyalty,
    PostgresMessages,
    PostgresTickets,
)
from ecomcrm.storage.postgres._order_facts import order_facts as read_order_facts
from ecomcrm.storage.postgres._orders import PostgresOrders
from ecomcrm.storage.postgres._retention import PostgresPurger
from ecomcrm.storage.postgres._schema import migrate
from ecomcrm.storage.postgres._state import PostgresState
from ecomcrm.storage.postgres._ticket_facts import ticket_facts

TABLES = (
    "meta", "customers", "identities", "suppressed", "merges", "orders", "order_lines",
    "refunds", "events", "consents", "tickets", "loyalty", "messages", "state", "audit",
    "facts_cache", "facts_cache_meta", "facts_changes",
)  # fmt: skip
"""Every table of a store's schema."""

_PERSONAL = (
    "customers", "identities", "merges", "orders", "order_lines", "refunds", "events",
    "consents", "tickets", "loyalty", "messages", "state", "audit",
)  # fmt: skip


class PostgresStore(Base):
    """A complete ecomcrm store in one PostgreSQL schema, shared by many processes.

    Args:
        url: ``postgresql://user@host:port/dbname``; the query may name the ``schema``
            (default ``ecomcrm``), ``pool_min`` and ``pool_max`` (connections of this
            handle's pool, default 1 and 4) and ``timeout`` (seconds to wait for a
            connection, default 30). Other query parameters (``sslmode``...) go to libpq.
        schema: The schema, overriding the URL's.
        pool_min: The pool's minimum size, overriding the URL's.
        pool_max: The pool's maximum size, overriding the URL's.
        timeout: Seconds to wait for a free connection, overriding the URL's.
        facts_cache: Save the columns of :meth:`order_facts` in the database after a read
            from the tables, and serve later reads (of any process) from them while no
            write has changed the facts (default True; False reads the tables every time).

    The schema is created with the newest version when missing or empty, migrated forward
    when older (under an advisory lock: many workers may open it at once), and refused
    when it is newer (SchemaVersionError) or holds other tables (StorageError); refused
    schemas are not touched.

    Raises:
        StorageError: The server cannot be reached (the message names the host and the
            database, never the password), or the schema is not ecomcrm's.
        SchemaVersionError: The schema was written by a newer ecomcrm.

    Example:
        >>> store = PostgresStore("postgresql://postgres@127.0.0.1:5432/test?schema=doc_example")  # doctest: +SKIP
        >>> store.customers.count()  # doctest: +SKIP
        0
    """

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_min: int | None = None,
        pool_max: int | None = None,
        timeout: float | None = None,
        facts_cache: bool = True,
    ) -> None:
        conninfo, options = parse_url(url)
        self.facts_cache = facts_cache
        self.schema = check_schema(
            schema if schema is not None else options.get("schema", DEFAULT_SCHEMA)
        )
        self._conninfo = conninfo
        try:
            low = pool_min if pool_min is not None else int(options.get("pool_min", 1))
            high = pool_max if pool_max is not None else int(options.get("pool_max", 4))
            wait = timeout if timeout is not None else float(options.get("timeout", 30))
        except ValueError as exc:
            raise StorageError(
                f"a pool option is not a number ({exc})", entity="PostgresStore", field="url"
            ) from exc
        db = Db(conninfo, self.schema, pool_min=low, pool_max=high, timeout=wait)
        try:
            with db.autocommit() as conn:
                migrate(conn, self.schema, db.where, db.lock_key)
        except BaseException:
            db.close()
            raise
        super().__init__(db)
        self._customers = PostgresCustomers(db)
        self._orders = PostgresOrders(db)
        self.customers: CustomerRepository = self._customers
        self.orders: OrderRepository = self._orders
        self.events: EventRepository = PostgresEvents(db)
        self.audit = PostgresAudit(db)
        self.consents: ConsentRepository = PostgresConsents(db, self.audit)
        self.tickets: TicketRepository = PostgresTickets(db)
        self.loyalty: LoyaltyRepository = PostgresLoyalty(db)
        self.messages: MessageRepository = PostgresMessages(db)
        self.state: StateRepository = PostgresState(db)

    @property
    def url(self) -> str:
        """The URL that opens this store again (in another process), password included.

        Example:
            >>> store.url  # doctest: +SKIP
            'postgresql://postgres@127.0.0.1:5432/test?schema=doc_example'
        """
        sep = "&" if "?" in self._conninfo else "?"
        return f"{self._conninfo}{sep}schema={quote(self.schema)}"

    def __repr__(self) -> str:
        return f"PostgresStore({self._db.where!r})"

    def __enter__(self) -> PostgresStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def transaction(self) -> AbstractContextManager[None]:
        """A block whose writes, across all repositories, are applied atomically.

        The block is one database transaction on this thread's connection; nested blocks
        are savepoints of it (an exception rolls back the innermost block).
        """
        return self._transaction()

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._db.write():
            yield

    # --- identity resolution ----------------------------------------------------------

    @retry_races
    def link_identity(self, customer_id: str, identity: Identity) -> None:
        """Attach an identity to a customer (anonymous ids also re-point their events)."""
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            pk, cid = self._require(conn, customer_id, "Identity")
            row = conn.execute(
                "SELECT i.customer_pk, c.id FROM identities i JOIN customers c "
                "ON c.pk = i.customer_pk WHERE i.key = %s",
                (identity.key,),
            ).fetchone()
            if row is not None:
                if int(row[0]) == pk:
                    return
                raise ConflictError(
                    f"identity belongs to customer {row[1]!r}",
                    entity="Identity",
                    field="value",
                    value=identity.key,
                )
            sh.check_not_suppressed(
                [identity], PostgresCustomers._suppressed(conn), entity="Identity"
            )
            conn.execute(
                "INSERT INTO identities (key, customer_pk, kind, value, position) "
                "SELECT %s, %s, %s, %s, coalesce(max(position) + 1, 0) FROM identities "
                "WHERE customer_pk = %s",
                (identity.key, pk, identity.kind.value, identity.value, pk),
            )
            if identity.kind is IdentityKind.ANONYMOUS:
                conn.execute(
                    "UPDATE events SET customer_id = %s WHERE anonymous_id = %s "
                    "AND customer_id IS NULL",
                    (cid, identity.value),
                )

    def resolve(self, customer_id: str) -> str:
        """The surviving id after any chain of merges (the id itself when unmerged)."""
        rows = self._db.query(
            "SELECT coalesce(s.id, c.id) FROM customers c "
            "LEFT JOIN customers s ON s.pk = c.survivor_pk WHERE c.id = %s",
            (customer_id,),
        )
        return customer_id if not rows else str(rows[0][0])

    @retry_races
    def merge(self, survivor_id: str, merged_id: str, *, at: datetime) -> MergeRecord:
        """Fold ``merged_id`` into ``survivor_id``, re-pointing every child row."""
        sh.check_merge_arguments(survivor_id, merged_id, at)
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            s_pk, s_id = self._require(conn, survivor_id, "MergeRecord")
            m_pk, m_id = self._require(conn, merged_id, "MergeRecord")
            if s_pk == m_pk:
                row = conn.execute(
                    "SELECT survivor_id, merged_id, at FROM merges WHERE merged_id = %s "
                    "OR merged_id = %s ORDER BY (merged_id = %s) DESC LIMIT 1",
                    (merged_id, survivor_id, merged_id),
                ).fetchone()
                if row is None:
                    raise ValidationError(
                        "cannot merge a customer into itself",
                        entity="MergeRecord",
                        field="merged_id",
                        value=merged_id,
                    )
                return MergeRecord(survivor_id=row[0], merged_id=row[1], at=rw.from_micros(row[2]))
            customers = self._customers
            profile = sh.merge_profiles(customers.load(conn, s_pk), customers.load(conn, m_pk))
            group = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM customers WHERE pk = %s OR survivor_pk = %s", (m_pk, m_pk)
                )
            ]
            conn.execute("DELETE FROM identities WHERE customer_pk = %s", (m_pk,))
            conn.execute(
                "UPDATE customers SET survivor_pk = %s WHERE pk = %s OR survivor_pk = %s",
                (s_pk, m_pk, m_pk),
            )
            customers.replace(conn, s_pk, profile)
            for table in (
                "orders",
                "refunds",
                "events",
                "consents",
                "tickets",
                "loyalty",
                "messages",
            ):
                conn.execute(
                    f"UPDATE {table} SET customer_id = %s WHERE customer_id = ANY(%s)",
                    (s_id, group),
                )
            conn.execute(
                "INSERT INTO merges (merged_pk, survivor_pk, survivor_id, merged_id, at) "
                "VALUES (%s, %s, %s, %s, %s)",
                (m_pk, s_pk, s_id, m_id, rw.micros(at)),
            )
            sh.write_audit(self, AuditAction.MERGE, s_id, {"merged_id": m_id})
            return MergeRecord(survivor_id=s_id, merged_id=m_id, at=at)

    def merges(self, customer_id: str) -> list[MergeRecord]:
        """The merges into this customer (and into ids merged into it), oldest first."""
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
            if found is None:
                return []
            pk = found[0]
            rows = conn.execute(
                "SELECT survivor_id, merged_id, at FROM merges WHERE survivor_pk IN "
                "(SELECT pk FROM customers WHERE pk = %s OR survivor_pk = %s) ORDER BY at, seq",
                (pk, pk),
            ).fetchall()
        return [MergeRecord(survivor_id=s, merged_id=m, at=rw.from_micros(t)) for s, m, t in rows]

    # --- privacy ------------------------------------------------------------------------

    def export(self, customer_id: str) -> dict[str, Any]:
        """Everything stored about the person, as one JSON-serialisable document."""
        with self._db.read():
            document = sh.build_export(self, customer_id)
        sh.write_audit(self, AuditAction.EXPORT, document["customer_id"])
        return document

    @retry_races
    def erase(self, customer_id: str, *, keep_order_facts: bool = False) -> ErasureReceipt:
        """Remove the person's personal data everywhere and suppress their identities.

        The rows are deleted in one transaction. PostgreSQL keeps the old row versions
        on disk until VACUUM reclaims them: call :meth:`vacuum` after erasures (with the
        receipt's tables) when their bytes must leave the data files too.
        """
        sh.check_customer_id(customer_id, entity="erase")
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            pk, cid = self._require(conn, customer_id, "Customer")
            clear_for_erasure(self._db, conn)  # the cache holds the person's ids
            customer = self._customers.load(conn, pk)
            group_rows = conn.execute(
                "SELECT pk, id FROM customers WHERE pk = %s OR survivor_pk = %s", (pk, pk)
            ).fetchall()
            pks = [int(r[0]) for r in group_rows]
            ids = [str(r[1]) for r in group_rows]
            tombstones = sh.erasure_tombstones(customer.identities, ids)
            conn.execute(
                "INSERT INTO suppressed (hash, at) SELECT h, 0 FROM unnest(%s::text[]) h "
                "ON CONFLICT (hash) DO NOTHING",
                (tombstones,),
            )
            anon = [i.value for i in customer.identities if i.kind is IdentityKind.ANONYMOUS]
            counts: dict[str, int] = {"identities": len(customer.identities)}

            def delete(name: str, sql: str, values: Sequence[Any]) -> None:
                n = conn.execute(sql, (list(values),)).rowcount
                counts[name] = counts.get(name, 0) + max(n, 0)

            conn.execute("DELETE FROM identities WHERE customer_pk = ANY(%s)", (pks,))
            delete("events", "DELETE FROM events WHERE customer_id = ANY(%s)", ids)
            delete(
                "events",
                "DELETE FROM events WHERE anonymous_id = ANY(%s) AND customer_id IS NULL",
                anon,
            )
            for table in ("consents", "tickets", "loyalty", "messages"):
                delete(table, f"DELETE FROM {table} WHERE customer_id = ANY(%s)", ids)
            orders = self.orders.for_customer(cid)
            refunds = self.orders.refunds_for_customer(cid)
            counts["orders"] = len(orders)
            counts["refunds"] = len(refunds)
            order_ids = [o.id for o in orders]
            conn.execute("DELETE FROM refunds WHERE customer_id = ANY(%s)", (ids,))
            conn.execute("DELETE FROM refunds WHERE order_id = ANY(%s)", (order_ids,))
            conn.execute("DELETE FROM orders WHERE id = ANY(%s)", (order_ids,))
            kept = keep_order_facts and bool(orders)
            if kept:
                new_id = sh.new_anonymous_id()
                self._customers.insert(conn, sh.anonymous_customer(customer, new_id))
                self._orders.write(conn, [sh.anonymise_order(o, new_id) for o in orders], {})
                copy_rows(
                    conn,
                    "refunds",
                    rw.REFUND_COLUMNS,
                    [rw.refund_values(sh.anonymise_refund(r, new_id), new_id) for r in refunds],
                )
            counts["merges"] = len(ids) - 1
            conn.execute(
                "DELETE FROM merges WHERE merged_pk = ANY(%s) OR survivor_pk = ANY(%s)", (pks, pks)
            )
            owners = sh.state_owners_of(ids, customer.identities)
            delete("state", "DELETE FROM state WHERE owner = ANY(%s)", owners)
            conn.execute("UPDATE customers SET survivor_pk = NULL WHERE pk = ANY(%s)", (pks,))
            conn.execute("DELETE FROM customers WHERE pk = ANY(%s)", (pks,))
            counts["customers"] = 1
            pseudonym = sh.audit_pseudonym(cid)
            sh.pseudonymise_audit(self, ids, pseudonym)
            sh.write_audit(self, AuditAction.ERASURE, pseudonym, dict(sorted(counts.items())))
            sh.write_audit(
                self, AuditAction.SUPPRESSION_ADDED, pseudonym, {"count": len(tombstones)}
            )
        return ErasureReceipt(
            customer_id=cid,
            tombstones=tuple(tombstones),
            kept_order_facts=kept,
            counts=dict(sorted(counts.items())),
        )

    def apply_retention(self, policy: RetentionPolicy, now: datetime) -> RetentionReport:
        """Delete or pseudonymise what ``policy`` says is due at ``now`` (``SupportsRetention``).

        One transaction; each data class is one set-based statement, and due anonymous
        profiles are erased as :meth:`erase` with ``keep_order_facts=True`` erases them.

        Example:
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.storage import RetentionPolicy
            >>> store.apply_retention(RetentionPolicy(messages="1y"),
            ...                       datetime(2024, 1, 1, tzinfo=timezone.utc)).total  # doctest: +SKIP
            0
        """
        return sh.apply_retention(self, policy, now, PostgresPurger(self._db))

    def has_suppressions(self) -> bool:
        """True when any identity is suppressed (an optional fast path for importers).

        Example:
            >>> store.has_suppressions()  # doctest: +SKIP
            False
        """
        return bool(self._db.query("SELECT 1 FROM suppressed LIMIT 1"))

    @retry_races
    def remove_suppression(self, identity: Identity) -> bool:
        """Lift the suppression of ``identity``, audited (``SupportsSuppressionRemoval``).

        Example:
            >>> store.remove_suppression(Identity.email("a@b.co"))  # doctest: +SKIP
            False
        """
        with self._db.write() as conn:

            def delete(key: str) -> bool:
                gone = int(conn.execute("DELETE FROM suppressed WHERE hash = %s", (key,)).rowcount)
                return gone > 0

            return sh.lift_suppression(self, identity, delete)

    def is_suppressed(self, identity: Identity) -> bool:
        """True when this identity belonged to an erased person."""
        if identity.kind not in sh.SUPPRESSED_KINDS:
            return False
        rows = self._db.query(
            "SELECT 1 FROM suppressed WHERE hash = %s", (sh.tombstone_key(identity),)
        )
        return bool(rows)

    # --- analytics ----------------------------------------------------------------------

    def customer_table(self) -> CustomerTable:
        """All live customers as columns, ordered by id (one snapshot)."""
        with self._db.snapshot() as conn:
            return col.customer_table(conn)

    def order_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> OrderFacts:
        """All orders of live customers as columns, by ``placed_at`` then order id.

        Served from the facts cache in the database when it holds every write this read
        sees; otherwise aggregated from the tables (in one snapshot) and saved as the new
        cache (see :mod:`._facts_cache`).
        """
        return read_order_facts(
            self._db, currency=currency, rates=rates, use_cache=self.facts_cache
        )

    def line_facts(
        self, *, currency: str | None = None, rates: Mapping[str, float] | None = None
    ) -> LineFacts:
        """All order lines of live customers' orders as columns (one snapshot)."""
        with self._db.snapshot() as conn:
            return col.line_facts(conn, currency=currency, rates=rates)

    def event_facts(self, *, names: Iterable[str] | None = None) -> EventFacts:
        """All events (optionally only these names) as columns, by ``at`` then id."""
        with self._db.snapshot() as conn:
            return col.event_facts(conn, names=names)

    def consent_facts(self) -> ConsentFacts:
        """Every consent decision of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(store.consent_facts())  # doctest: +SKIP
            0
        """
        with self._db.snapshot() as conn:
            return col.consent_facts(conn)

    def loyalty_facts(self) -> LoyaltyFacts:
        """Every loyalty entry of live customers as columns (``SupportsBulkFacts``).

        Example:
            >>> len(store.loyalty_facts())  # doctest: +SKIP
            0
        """
        with self._db.snapshot() as conn:
            return col.loyalty_facts(conn)

    def ticket_facts(self) -> TicketFacts:
        """Every ticket of live customers as columns (``SupportsTicketFacts``).

        Example:
            >>> len(store.ticket_facts())  # doctest: +SKIP
            0
        """
        with self._db.snapshot() as conn:
            return ticket_facts(conn)

    def customer_360(
        self, customer_id: str, *, recent_events: int = 50, messages: int = 50
    ) -> Customer360:
        """The whole view of one customer for a support agent (one round trip, one snapshot)."""
        return customer_360(self._db, customer_id, recent_events=recent_events, messages=messages)

    # --- maintenance --------------------------------------------------------------------

    def bulk_load(self) -> AbstractContextManager[None]:
        """A block of many write batches (an import): this thread keeps one connection.

        Every transaction of the block runs on the same pooled connection, whose
        prepared statements stay warm, and none waits for a free one; each commits as
        it would outside the block (``SupportsBulkLoad``). Importers enter it by
        themselves.

        Example:
            >>> with store.bulk_load():  # doctest: +SKIP
            ...     pass
        """
        return self._db.pinned()

    def vacuum(self, tables: Iterable[str] | None = None, *, full: bool = False) -> None:
        """VACUUM the store's tables (all by default), so deleted row versions are reclaimed.

        After :meth:`erase`, the old versions of the deleted rows stay in the data files
        until VACUUM marks their space free and later writes overwrite it; ``full=True``
        (VACUUM FULL) rewrites each table at once, so the bytes are gone from the files
        when it returns, at the price of an exclusive lock on each table meanwhile.

        Example:
            >>> store.vacuum(["customers", "identities"])  # doctest: +SKIP
        """
        names = list(TABLES if tables is None else tables)
        for name in names:
            if name not in TABLES:
                raise ValidationError(
                    f"not a table of the store (one of {', '.join(TABLES)})",
                    entity="PostgresStore",
                    field="tables",
                    value=name,
                )
        with self._db.autocommit() as conn:
            for name in names:
                conn.execute(f"VACUUM {'FULL ' if full else ''}{name}".encode())

    def raw_tables(self) -> dict[str, bytes]:
        """Every live row of every table, as COPY text (for audits and the erasure tests).

        Example:
            >>> sorted(store.raw_tables())[:2]  # doctest: +SKIP
            ['consents', 'customers']
        """
        out: dict[str, bytes] = {}
        with self._db.snapshot() as conn:
            for name in TABLES:
                out[name] = col.stream(conn, f"SELECT * FROM {name}", binary=False)
        return out

    @property
    def schema_version(self) -> int:
        """The schema version recorded in the store's ``meta`` table.

        Example:
            >>> store.schema_version == SCHEMA_VERSION  # doctest: +SKIP
            True
        """
        rows = self._db.query("SELECT value FROM meta WHERE key = 'schema_version'")
        return int(rows[0][0])

    def drop(self) -> None:
        """Drop the store's schema and everything in it, then close the store.

        Example:
            >>> store.drop()  # doctest: +SKIP
        """
        with self._db.autocommit() as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE'.encode())
        self.close()

    def close(self) -> None:
        """Close the pool's connections; further use raises StorageError."""
        self._db.close()
