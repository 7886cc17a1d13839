"""The PostgreSQL adapter: one schema per store, many processes on one store.

Open it with :func:`ecomcrm.open_store`::

    store = ecomcrm.open_store("postgresql://app@db.internal:5432/shop?schema=crm")

It needs the ``postgres`` extra (psycopg 3 and psycopg_pool): ``pip install
'ecomcrm[postgres]'``; without it, importing this package raises a StorageError saying
so. Layers, one module each: the pool and error translation (``_connection``), the
schema and its migrations (``_schema``, ``_audit_schema``, ``_facts_schema``),
placeholders and column types over the row specs shared with SQLite in
``storage._sql_rows`` (``_rows``), bulk writes (``_bulk``), the repositories
(``_customers``, ``_orders``, ``_ledgers``, ``_state``), columnar reads (``_columnar``,
``_order_facts``) and the order-facts cache (``_facts_cache``, ``_facts_codec``), the
customer 360 (``_documents``), retention purges (``_retention``) and the store
(``_store``). See docs/postgresql.md for deployment.

Example:
    >>> from ecomcrm.storage.postgres import DEFAULT_SCHEMA, SCHEMA_VERSION
    >>> DEFAULT_SCHEMA, SCHEMA_VERSION >= 1
    ('ecomcrm', True)
"""

from __future__ import annotations

from ecomcrm.storage.postgres._connection import DEFAULT_SCHEMA, INSTALL_HINT
from ecomcrm.storage.postgres._schema import SCHEMA_VERSION
from ecomcrm.storage.postgres._store import TABLES, PostgresStore

__all__ = ["DEFAULT_SCHEMA", "INSTALL_HINT", "SCHEMA_VERSION", "TABLES", "PostgresStore"]
