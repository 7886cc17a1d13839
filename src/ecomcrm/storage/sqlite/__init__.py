"""The SQLite adapter: one file, stdlib :mod:`sqlite3`, every repository of the contract.

One layer per module: ``_connection`` (transactions and savepoints, read scopes, opening
and checking the file, error translation), ``_sql`` (placeholder lists and chunked
queries), ``_rows`` (its statements, prepared orders and state JSON over the row specs
shared with PostgreSQL in ``storage._sql_rows``: each table's columns, domain objects
to and from rows), ``_base``
(what the repositories share), the repositories (``_customers``, ``_orders``,
``_activity``, ``_state``), ``_store`` (:class:`SqliteStore`), ``_schema`` (the versioned
schema and its migrations), ``_columnar`` and ``_lines`` (the columnar reads).

Concurrency: every write runs in ``BEGIN IMMEDIATE`` (the database's write lock is taken
before anything is read), so compare-and-set and identity checks are correct across
threads and processes; waiting for the lock is bounded by ``timeout``.

Example:
    >>> from ecomcrm.storage.sqlite import SqliteStore
    >>> store = SqliteStore(":memory:")
    >>> store.customers.count()
    0
    >>> store.close()
"""

from __future__ import annotations

from ecomcrm.storage.sqlite._store import SqliteStore

__all__ = ["SqliteStore"]
