"""Helpers of the PostgreSQL tests: the server's URL, fresh schemas."""

from __future__ import annotations

import os
import uuid

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"


def server_url() -> str:
    return os.environ.get("ECOMCRM_TEST_POSTGRES", DEFAULT_URL)


def _reachable() -> str | None:
    """None when the server answers, else why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install 'ecomcrm[postgres]')"
    try:
        with psycopg.connect(server_url(), connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as exc:
        return f"no PostgreSQL server at {server_url()} ({str(exc).strip().splitlines()[0]})"
    return None


WHY_NOT = _reachable()


def fresh_schema() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


def schema_url(schema: str) -> str:
    sep = "&" if "?" in server_url() else "?"
    return f"{server_url()}{sep}schema={schema}"


def drop_schema(schema: str) -> None:
    import psycopg

    with psycopg.connect(server_url(), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'.encode())
