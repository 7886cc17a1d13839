"""SQLite customer profiles and their identities."""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable, Iterator, Sequence

import ecomcrm.storage.toolkit as sh
from ecomcrm.domain import (
    Customer,
    Identity,
)
from ecomcrm.errors import (
    ConflictError,
    NotFoundError,
)
from ecomcrm.storage._sql_rows import (
    customer_from,
    customer_values,
)
from ecomcrm.storage.sqlite._base import _Base
from ecomcrm.storage.sqlite._rows import (
    _CUSTOMER_COLUMNS,
    _CUSTOMER_INSERT,
    _IDENTITY_INSERT,
)
from ecomcrm.storage.sqlite._sql import _in, _insert_rows, _marks


# repositories
class SqliteCustomers(_Base, sh.BaseCustomerRepository):
    """Customer profiles in the ``customers`` and ``identities`` tables."""

    def _identities(
        self, conn: sqlite3.Connection, pks: Sequence[int]
    ) -> dict[int, list[Identity]]:
        out: dict[int, list[Identity]] = {}
        for pk, kind, value in _in(
            conn,
            "SELECT customer_pk, kind, value FROM identities WHERE customer_pk IN ({ids}) "
            "ORDER BY customer_pk, position",
            pks,
        ):
            out.setdefault(pk, []).append(Identity(kind=kind, value=value))
        return out

    def _load(self, conn: sqlite3.Connection, pk: int) -> Customer:
        row = conn.execute(
            f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE pk = ?", (pk,)
        ).fetchone()
        return customer_from(row, self._identities(conn, [pk]).get(pk, []))

    def _check_identities(
        self, conn: sqlite3.Connection, customer: Customer, own_pk: int | None
    ) -> None:
        def suppressed(key: str) -> bool:
            return (
                conn.execute("SELECT 1 FROM suppressed WHERE hash = ?", (key,)).fetchone()
                is not None
            )

        sh.check_not_suppressed(customer.identities, suppressed, entity="Customer")
        sh.check_id_not_erased(customer.id, suppressed)
        keys = [i.key for i in customer.identities]
        for key, pk, cid in _in(
            conn,
            "SELECT i.key, i.customer_pk, c.id FROM identities i JOIN customers c "
            "ON c.pk = i.customer_pk WHERE i.key IN ({ids})",
            keys,
        ):
            if pk != own_pk:
                raise ConflictError(
                    f"identity belongs to customer {cid!r}",
                    entity="Customer",
                    field="identities",
                    value=key,
                )

    def _write_identities(self, conn: sqlite3.Connection, pk: int, customer: Customer) -> None:
        conn.execute("DELETE FROM identities WHERE customer_pk = ?", (pk,))
        conn.executemany(
            "INSERT INTO identities (key, customer_pk, kind, value, position) VALUES (?,?,?,?,?)",
            [(i.key, pk, i.kind.value, i.value, n) for n, i in enumerate(customer.identities)],
        )

    def _insert(self, conn: sqlite3.Connection, customer: Customer) -> int:
        cur = conn.execute(f"{_CUSTOMER_INSERT} VALUES ({_marks(12)})", customer_values(customer))
        pk = cur.lastrowid
        assert pk is not None
        self._write_identities(conn, pk, customer)
        return pk

    def _replace(self, conn: sqlite3.Connection, pk: int, customer: Customer) -> None:
        values = customer_values(customer)
        conn.execute(
            "UPDATE customers SET created_at = ?, first_name = ?, last_name = ?, birthday = ?, "
            "timezone = ?, locale = ?, country = ?, acquisition_channel = ?, addresses = ?, "
            "tags = ?, attributes = ? WHERE pk = ?",
            (*values[1:], pk),
        )
        self._write_identities(conn, pk, customer)

    def put(self, customer: Customer) -> None:
        """Insert a new customer (ConflictError when the id or an identity is taken)."""
        with self._db.write() as conn:
            if conn.execute("SELECT 1 FROM customers WHERE id = ?", (customer.id,)).fetchone():
                raise ConflictError(
                    "customer exists", entity="Customer", field="id", value=customer.id
                )
            self._check_identities(conn, customer, None)
            self._insert(conn, customer)
            self._touch_facts(conn)

    def _upsert(self, conn: sqlite3.Connection, customer: Customer) -> bool:
        row = conn.execute(
            "SELECT pk, survivor_pk FROM customers WHERE id = ?", (customer.id,)
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
            self._insert(conn, customer)
            return True
        self._replace(conn, own, customer)
        return False

    def upsert(self, customer: Customer) -> bool:
        """Insert or replace the profile with this id; True when it was created."""
        with self._db.write() as conn:
            created = self._upsert(conn, customer)
            self._touch_facts(conn)
            return created

    def put_many(self, customers: Iterable[Customer]) -> int:
        """Upsert many customers in one transaction; returns how many were written."""
        batch = list(customers)
        with self._db.write() as conn:
            for start in range(0, len(batch), 5_000):
                part = batch[start : start + 5_000]
                if not self._insert_new(conn, part):
                    for customer in part:
                        self._upsert(conn, customer)
            self._touch_facts(conn)
        return len(batch)

    def _insert_new(self, conn: sqlite3.Connection, batch: Sequence[Customer]) -> bool:
        """Insert ``batch`` with a few statements when every customer in it is new.

        New means: distinct ids and identities within the batch, none of them stored, no
        identity suppressed. Otherwise nothing is written and False is returned, so that
        the caller upserts one by one (which raises the precise error, in order).
        """
        ids = [c.id for c in batch]
        keys = [i.key for c in batch for i in c.identities]
        if len(set(ids)) != len(ids) or len(set(keys)) != len(keys):
            return False
        if _in(conn, "SELECT 1 FROM customers WHERE id IN ({ids})", ids):
            return False
        if keys and _in(conn, "SELECT 1 FROM identities WHERE key IN ({ids})", keys):
            return False
        if conn.execute("SELECT 1 FROM suppressed LIMIT 1").fetchone() is not None:
            hashes = sh.erasure_tombstones([i for c in batch for i in c.identities], ids)
            if _in(conn, "SELECT 1 FROM suppressed WHERE hash IN ({ids})", hashes):
                return False
        _insert_rows(conn, _CUSTOMER_INSERT, [customer_values(c) for c in batch])
        pks = dict(_in(conn, "SELECT id, pk FROM customers WHERE id IN ({ids})", ids))
        _insert_rows(
            conn,
            _IDENTITY_INSERT,
            [
                (i.key, pks[c.id], i.kind._value_, i.value, n)
                for c in batch
                for n, i in enumerate(c.identities)
            ],
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
        with self._db.read() as conn:
            found = self._survivor(conn, customer_id)
            return None if found is None else self._load(conn, found[0])

    def find_by_identity(self, identity: Identity) -> Customer | None:
        """The customer holding ``identity``, or None."""
        with self._db.read() as conn:
            row = conn.execute(
                "SELECT customer_pk FROM identities WHERE key = ?", (identity.key,)
            ).fetchone()
            return None if row is None else self._load(conn, int(row[0]))

    def iterate(self) -> Iterator[Customer]:
        """Every live customer, ordered by id (read in pages of 1,000)."""
        last: str | None = None
        while True:
            with self._db.read() as conn:
                rows = conn.execute(
                    f"SELECT {_CUSTOMER_COLUMNS} FROM customers WHERE survivor_pk IS NULL "
                    + ("AND id > ? " if last is not None else "")
                    + "ORDER BY id LIMIT 1000",
                    (last,) if last is not None else (),
                ).fetchall()
                identities = self._identities(conn, [r[0] for r in rows])
            if not rows:
                return
            for row in rows:
                yield customer_from(row, identities.get(row[0], []))
            last = rows[-1][1]

    def count(self) -> int:
        """How many live customers there are."""
        with self._db.read() as conn:
            return int(
                conn.execute("SELECT count(*) FROM customers WHERE survivor_pk IS NULL").fetchone()[
                    0
                ]
            )

    def remove(self, customer_ids: Collection[str]) -> None:
        """Delete the profiles and identities of these ids (a merge and erasure primitive).

        A row that the merge log or another row still points at (the id stays resolvable)
        keeps only its id: every profile field is cleared.
        """
        with self._db.write() as conn:
            pks = [
                r[0]
                for r in _in(
                    conn, "SELECT pk FROM customers WHERE id IN ({ids})", list(customer_ids)
                )
            ]
            if not pks:
                return
            _in(conn, "DELETE FROM identities WHERE customer_pk IN ({ids})", pks)
            _in(conn, "UPDATE customers SET survivor_pk = NULL WHERE pk IN ({ids})", pks)
            referenced = {
                r[0]
                for sql in (
                    "SELECT survivor_pk FROM customers WHERE survivor_pk IN ({ids})",
                    "SELECT merged_pk FROM merges WHERE merged_pk IN ({ids})",
                    "SELECT survivor_pk FROM merges WHERE survivor_pk IN ({ids})",
                )
                for r in _in(conn, sql, pks)
            }
            _in(
                conn,
                "DELETE FROM customers WHERE pk IN ({ids})",
                [p for p in pks if p not in referenced],
            )
            _in(
                conn,
                "UPDATE customers SET first_name = '', last_name = '', birthday = NULL, "
                "timezone = NULL, locale = NULL, country = NULL, acquisition_channel = NULL, "
                "addresses = NULL, tags = NULL, attributes = NULL WHERE pk IN ({ids})",
                [p for p in pks if p in referenced],
            )
            self._touch_facts(conn)
