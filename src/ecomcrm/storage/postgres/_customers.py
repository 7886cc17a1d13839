"""Customer profiles in the ``customers`` and ``identities`` tables.

Writers of the customer graph (customer upserts, identity links, merges, erasure) take
one transaction-scoped advisory lock per schema (``Db.lock_customers``), which makes
identity checks and merge re-pointing correct across processes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import ecomcrm.storage._sql_rows as rw
import ecomcrm.storage.postgres._rows as pg
import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Customer,
    Identity,
)
from ecomcrm.errors import ConflictError, NotFoundError
from ecomcrm.storage.postgres._base import Base, Conn
from ecomcrm.storage.postgres._bulk import copy_rows
from ecomcrm.storage.postgres._connection import retry_races

# --------------------------------------------------------------------------------------


class PostgresCustomers(Base):
    """Customer profiles in the ``customers`` and ``identities`` tables."""

    _SELECT = f"SELECT pk, {rw.CUSTOMER_COLUMNS} FROM customers "

    def _identities(self, conn: Conn, pks: Sequence[int]) -> dict[int, list[Identity]]:
        out: dict[int, list[Identity]] = {}
        if not pks:
            return out
        for pk, kind, value in conn.execute(
            "SELECT customer_pk, kind, value FROM identities WHERE customer_pk = ANY(%s) "
            "ORDER BY customer_pk, position",
            (list(pks),),
        ):
            out.setdefault(pk, []).append(Identity(kind=kind, value=value))
        return out

    # the profile and its identities in one statement
    _LOAD = (
        "SELECT t.pk, "
        + ", ".join(f"t.{c}" for c in rw.CUSTOMER_COLUMNS.split(", "))
        + ", array(SELECT i.kind FROM identities i WHERE i.customer_pk = t.pk ORDER BY i.position)"
        ", array(SELECT i.value FROM identities i WHERE i.customer_pk = t.pk ORDER BY i.position) "
    )

    @staticmethod
    def _loaded(row: Sequence[Any] | None) -> Customer | None:
        if row is None:
            return None
        identities = [Identity(kind=k, value=v) for k, v in zip(row[-2], row[-1], strict=True)]
        return rw.customer_from(row, identities)

    def load(self, conn: Conn, pk: int) -> Customer:
        """The customer stored under ``pk``."""
        found = self._loaded(
            conn.execute(self._LOAD + "FROM customers t WHERE t.pk = %s", (pk,)).fetchone()
        )
        assert found is not None
        return found

    @staticmethod
    def _suppressed(conn: Conn) -> Any:
        def suppressed(key: str) -> bool:
            return (
                conn.execute("SELECT 1 FROM suppressed WHERE hash = %s", (key,)).fetchone()
                is not None
            )

        return suppressed

    def _check_identities(self, conn: Conn, customer: Customer, own_pk: int | None) -> None:
        suppressed = self._suppressed(conn)
        sh.check_not_suppressed(customer.identities, suppressed, entity="Customer")
        sh.check_id_not_erased(customer.id, suppressed)
        keys = [i.key for i in customer.identities]
        if not keys:
            return
        for key, pk, cid in conn.execute(
            "SELECT i.key, i.customer_pk, c.id FROM identities i JOIN customers c "
            "ON c.pk = i.customer_pk WHERE i.key = ANY(%s)",
            (keys,),
        ):
            if pk != own_pk:
                raise ConflictError(
                    f"identity belongs to customer {cid!r}",
                    entity="Customer",
                    field="identities",
                    value=key,
                )

    @staticmethod
    def _write_identities(conn: Conn, pk: int, customer: Customer) -> None:
        conn.execute("DELETE FROM identities WHERE customer_pk = %s", (pk,))
        rows = [(i.key, pk, i.kind.value, i.value, n) for n, i in enumerate(customer.identities)]
        if rows:
            with conn.cursor() as cur:
                cur.executemany(
                    "INSERT INTO identities (key, customer_pk, kind, value, position) "
                    "VALUES (%s, %s, %s, %s, %s)",
                    rows,
                )

    def insert(self, conn: Conn, customer: Customer) -> int:
        """Insert a customer row and its identities (no checks); returns its pk."""
        row = conn.execute(
            f"INSERT INTO customers ({rw.CUSTOMER_COLUMNS}) "
            f"VALUES ({pg.placeholders(rw.CUSTOMER_COLUMNS)}) RETURNING pk",
            rw.customer_values(customer),
        ).fetchone()
        assert row is not None
        pk = int(row[0])
        self._write_identities(conn, pk, customer)
        return pk

    def replace(self, conn: Conn, pk: int, customer: Customer) -> None:
        """Overwrite the profile stored under ``pk`` (its id stays) and its identities."""
        values = rw.customer_values(customer)
        conn.execute(
            "UPDATE customers SET created_at = %s, first_name = %s, last_name = %s, "
            "birthday = %s, timezone = %s, locale = %s, country = %s, acquisition_channel = %s, "
            "addresses = %s, tags = %s, attributes = %s WHERE pk = %s",
            (*values[1:], pk),
        )
        self._write_identities(conn, pk, customer)

    @retry_races
    def put(self, customer: Customer) -> None:
        """Insert a new customer (ConflictError when the id or an identity is taken)."""
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            if conn.execute("SELECT 1 FROM customers WHERE id = %s", (customer.id,)).fetchone():
                raise ConflictError(
                    "customer exists", entity="Customer", field="id", value=customer.id
                )
            self._check_identities(conn, customer, None)
            self.insert(conn, customer)

    def _upsert(self, conn: Conn, customer: Customer) -> bool:
        row = conn.execute(
            "SELECT pk, survivor_pk FROM customers WHERE id = %s", (customer.id,)
        ).fetchone()
        if row is not None and row[1] is not None:
            raise ConflictError(
                "customer was merged into another; write the survivor instead",
                entity="Customer",
                field="id",
                value=customer.id,
            )
        own = None if row is None else int(row[0])
        self._check_identities(conn, customer, own)
        if own is None:
            self.insert(conn, customer)
            return True
        self.replace(conn, own, customer)
        return False

    @retry_races
    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created."""
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            return self._upsert(conn, customer)

    @retry_races
    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction (COPY when all are new); the count."""
        batch = list(customers)
        with self._db.write() as conn:
            self._db.lock_customers(conn)
            for start in range(0, len(batch), 50_000):
                part = batch[start : start + 50_000]
                if not self._insert_new(conn, part):
                    for customer in part:
                        self._upsert(conn, customer)
        return len(batch)

    def _insert_new(self, conn: Conn, batch: Sequence[Customer]) -> bool:
        """COPY ``batch`` in when every customer in it is new (else write nothing, False).

        New means: distinct ids and identities within the batch, none of them stored, no
        identity suppressed. Otherwise the caller upserts one by one (which raises the
        precise error, in order).
        """
        ids = [c.id for c in batch]
        keys = [i.key for c in batch for i in c.identities]
        if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
            return False
        if conn.execute("SELECT 1 FROM customers WHERE id = ANY(%s) LIMIT 1", (ids,)).fetchone():
            return False
        if (
            keys
            and conn.execute(
                "SELECT 1 FROM identities WHERE key = ANY(%s) LIMIT 1", (keys,)
            ).fetchone()
        ):
            return False
        if conn.execute("SELECT 1 FROM suppressed LIMIT 1").fetchone() is not None:
            hashes = sh.erasure_tombstones([i for c in batch for i in c.identities], ids)
            if conn.execute(
                "SELECT 1 FROM suppressed WHERE hash = ANY(%s) LIMIT 1", (hashes,)
            ).fetchone():
                return False
        copy_rows(conn, "customers", rw.CUSTOMER_COLUMNS, (rw.customer_values(c) for c in batch))
        pks = dict(conn.execute("SELECT id, pk FROM customers WHERE id = ANY(%s)", (ids,)))
        copy_rows(
            conn,
            "identities",
            "key, customer_pk, kind, value, position",
            (
                (i.key, pks[c.id], i.kind._value_, i.value, n)
                for c in batch
                for n, i in enumerate(c.identities)
            ),
        )
        return True

    def get(self, customer_id: str) -> Customer:
        """The customer (following merges); NotFoundError when there is none."""
        found = self.find(customer_id)
        if found is None:
            raise NotFoundError(
                "no such customer", entity="Customer", field="id", value=customer_id
            )
        return found

    def find(self, customer_id: str) -> Customer | None:
        """The customer (following merges), or None."""
        rows = self._db.query(
            self._LOAD + "FROM customers c JOIN customers t "
            "ON t.pk = coalesce(c.survivor_pk, c.pk) WHERE c.id = %s",
            (customer_id,),
        )
        return self._loaded(rows[0] if rows else None)

    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity``, or None."""
        rows = self._db.query(
            self._LOAD + "FROM identities k JOIN customers t ON t.pk = k.customer_pk "
            "WHERE k.key = %s",
            (identity.key,),
        )
        return self._loaded(rows[0] if rows else None)

    def iterate(self) -> Iterator[Customer]:
        """Every live customer, ordered by id (read in pages of 1,000)."""
        last: str | None = None
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    self._SELECT
                    + "WHERE survivor_pk IS NULL "
                    + ('AND id > %s COLLATE "C" ' if last is not None else "")
                    + 'ORDER BY id COLLATE "C" LIMIT 1000',
                    (last,) if last is not None else (),
                ).fetchall()
                identities = self._identities(conn, [r[0] for r in rows])
            if not rows:
                return
            for row in rows:
                yield rw.customer_from(row, identities.get(row[0], []))
            last = rows[-1][1]

    def count(self) -> int:
        """How many live customers there are."""
        rows = self._db.query("SELECT count(*) FROM customers WHERE survivor_pk IS NULL")
        return int(rows[0][0])
