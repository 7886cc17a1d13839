"""Consent topics and proof in PostgreSQL: a schema written before them is migrated forward."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
from _pg import server_url

from ecomcrm.domain import Consent
from ecomcrm.storage import PostgresStore
from ecomcrm.storage.postgres import SCHEMA_VERSION
from ecomcrm.storage.postgres._schema import migrate

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_version_2_schema_is_migrated_and_its_consents_read_back_unchanged(
    pg_schema: str, pg_url: str
) -> None:
    import psycopg

    with psycopg.connect(
        server_url(), autocommit=True, options=f"-c search_path={pg_schema}"
    ) as conn:
        assert migrate(conn, pg_schema, "test", 4242, target=2) == 0
        conn.execute("INSERT INTO customers (id, created_at) VALUES ('c1', 0)")
        conn.execute(
            "INSERT INTO consents (customer_id, channel, purpose, granted, at, source) "
            "VALUES ('c1', 'email', 'marketing', true, %s, 'signup form')",
            (int(T0.timestamp() * 1_000_000),),
        )
    store = PostgresStore(pg_url)
    try:
        assert store.schema_version == SCHEMA_VERSION >= 3
        old = Consent(customer_id="c1", channel="email", purpose="marketing", granted=True,
                      at=T0, source="signup form")  # fmt: skip
        assert store.consents.history("c1") == [old]
        topic = attrs.evolve(old, granted=False, topic="offers", basis="consent",
                             wording_version="v2", ip_address="203.0.113.9", form_id="f1")  # fmt: skip
        store.consents.record(topic)
        assert store.consents.history("c1") == [old, topic]
        assert store.consents.is_granted("c1", "email", "marketing")
        assert store.consent_facts().granted.tolist() == [True]
        assert store.customer_360("c1").consents == (old,)
    finally:
        store.close()
