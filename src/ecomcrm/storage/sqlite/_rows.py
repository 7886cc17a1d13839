"""What the SQLite adapter adds to the shared row specs (``storage._sql_rows``).

The INSERT statements and upsert clause of its tables, the ``pk``-led customer columns it
selects, and the strict JSON of state values (orders prepared as rows ahead of their
transaction are the shared ``_sql_rows.prepare_orders``). Nothing here touches a connection.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ecomcrm.errors import ValidationError
from ecomcrm.storage._sql_rows import (
    CUSTOMER_COLUMNS,
    LINE_COLUMNS,
    ORDER_COLUMNS,
)

_STATE_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _state_json(value: Any) -> str:
    """A state value as JSON text, or ValidationError when it is not a JSON-compatible mapping.

    One strict encoding both validates and normalises (tuples become lists, other keys
    their JSON text), exactly as ``toolkit.freeze_state_value`` does, without a copy.
    """
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping", entity="state", field="value", value=value)
    try:
        return _STATE_ENCODER.encode(value if isinstance(value, dict) else dict(value))
    except (TypeError, ValueError) as exc:
        raise ValidationError(
            f"must be JSON-compatible ({exc})", entity="state", field="value", value=value
        ) from None
    except RecursionError:
        raise ValidationError(
            "must be JSON-compatible (circular reference or nested too deeply)",
            entity="state",
            field="value",
            value=value,
        ) from None


# the integer primary key first, then the shared columns (what ``customer_from`` reads)
_CUSTOMER_COLUMNS = "pk, " + CUSTOMER_COLUMNS
_CUSTOMER_INSERT = f"INSERT INTO customers ({CUSTOMER_COLUMNS})"
_IDENTITY_INSERT = "INSERT INTO identities (key, customer_pk, kind, value, position)"
_ORDER_INSERT = f"INSERT INTO orders ({ORDER_COLUMNS})"
_ORDER_ON_CONFLICT = " ON CONFLICT(id) DO UPDATE SET " + ", ".join(
    f"{c} = excluded.{c}" for c in ORDER_COLUMNS.split(", ")[1:]
)
_LINE_INSERT = f"INSERT INTO order_lines ({LINE_COLUMNS})"
