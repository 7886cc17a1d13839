"""The tables of the order-facts cache (schema version 4) and the triggers that mark changes.

The cache (``facts_cache`` for the column chunks, ``facts_cache_meta`` for the snapshot
they were read in, their manifest and the OID of ``facts_cache_meta`` itself) is UNLOGGED: no write-ahead log for hundreds of
megabytes that can be computed again, and after a crash PostgreSQL empties both tables
together, which leaves a store without a cache (rebuilt on the next read), never a
wrong one.

``facts_changes`` holds one row per transaction that wrote a table the order facts are
read from (customers' ids and merges, orders, refunds): statement-level triggers insert
the transaction's id, ``ON CONFLICT DO NOTHING`` after the first statement. Writers never
update a shared row, so concurrent writers do not wait for one another; a reader knows a
cache is stale when it sees a marker the cache's snapshot did not
(:mod:`._facts_cache`). Transaction ids mean something only in the cluster that
assigned them: a cache restored by ``pg_dump`` into another cluster would compare its
snapshot with another numbering, so the cache names the table it was saved in (a
restore creates new tables, with new OIDs) and is ignored elsewhere.
"""

from __future__ import annotations

from typing import Any

FACTS_CACHE_SCHEMA = """
CREATE UNLOGGED TABLE facts_cache (
    name TEXT NOT NULL,
    chunk INTEGER NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (name, chunk)
);
ALTER TABLE facts_cache ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE UNLOGGED TABLE facts_cache_meta (
    relation OID NOT NULL,
    snapshot pg_snapshot NOT NULL,
    manifest TEXT NOT NULL
);
CREATE TABLE facts_changes (
    xid xid8 PRIMARY KEY
);
CREATE FUNCTION facts_changed() RETURNS trigger LANGUAGE plpgsql
SET search_path FROM CURRENT AS $mark$
BEGIN
    INSERT INTO facts_changes (xid) VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$mark$;
CREATE TRIGGER customers_facts AFTER INSERT OR DELETE OR UPDATE OF id, survivor_pk
    ON customers FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
CREATE TRIGGER customers_facts_truncate AFTER TRUNCATE
    ON customers FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
CREATE TRIGGER orders_facts AFTER INSERT OR DELETE OR UPDATE OF id, customer_id, placed_at,
    currency, amount, discount_amount, units, cancelled
    ON orders FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
CREATE TRIGGER orders_facts_truncate AFTER TRUNCATE
    ON orders FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
CREATE TRIGGER refunds_facts AFTER INSERT OR DELETE OR UPDATE OF order_id, amount_real,
    returned_units
    ON refunds FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
CREATE TRIGGER refunds_facts_truncate AFTER TRUNCATE
    ON refunds FOR EACH STATEMENT EXECUTE FUNCTION facts_changed();
"""


def migrate_facts_cache(conn: Any) -> None:
    """Schema 3 -> 4: the order-facts cache and its change markers (one round trip)."""
    conn.execute(FACTS_CACHE_SCHEMA.encode())
