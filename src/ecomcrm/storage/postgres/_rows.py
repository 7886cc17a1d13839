"""What the PostgreSQL adapter adds to the shared row specs (``storage._sql_rows``).

Placeholders and upsert clauses built from a ``*_COLUMNS`` constant, and the SQL types of
those columns for the array statements (``unnest``) of bulk upserts.
"""

from __future__ import annotations


def placeholders(columns: str) -> str:
    """``%s, %s, ...``: one placeholder per column of a ``*_COLUMNS`` constant."""
    return ", ".join(["%s"] * (columns.count(",") + 1))


def excluded(columns: str) -> str:
    """``c = excluded.c, ...`` for every column but the first (the id), for upserts."""
    return ", ".join(f"{c} = excluded.{c}" for c in columns.split(", ")[1:])


# SQL types of the *_COLUMNS, for the array statements of bulk upserts (``unnest``)
ORDER_TYPES = (
    "text", "text", "bigint", "text", "text", "text", "text", "text", "boolean", "text", "text",
    "text", "text", "text", "bigint", "bigint", "bigint", "float8", "float8", "bigint", "boolean",
)  # fmt: skip
LINE_TYPES = ("text", "int", "text", "text", "bigint", "text", "text", "text")
REFUND_TYPES = (
    "text", "text", "text", "bigint", "text", "float8", "text", "text", "boolean", "text",
    "bigint",
)  # fmt: skip
EVENT_TYPES = ("text", "text", "bigint", "text", "text", "text", "text", "text")
TICKET_TYPES = (
    "text", "text", "text", "text", "text", "text", "bigint", "bigint", "bigint", "int", "text",
)  # fmt: skip
LOYALTY_TYPES = ("text", "text", "text", "bigint", "bigint", "bigint", "text", "text")
