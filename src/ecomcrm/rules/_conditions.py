"""Conditions of flows, compiled once with the condition language of :mod:`ecomcrm.segments`.

A flow condition is evaluated against one *record*: a mapping of field name to value made
of the customer's fields (:data:`CUSTOMER_FIELDS`, computed lazily from the store only
when a condition reads them) and, for event triggers, exits and every later step, the
trigger event's properties (:data:`EVENT_PROPERTIES` plus those a flow declares).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from ecomcrm.errors import ConfigurationError, ExpressionError
from ecomcrm.segments import CUSTOMER_FIELD_REGISTRY

CUSTOMER_FIELDS: Mapping[str, str] = MappingProxyType(
    {name: field.type.value for name, field in CUSTOMER_FIELD_REGISTRY.items() if field.in_flows}
)
"""Fields of the customer that flow conditions can read, with their condition-language types.

They are the fields of ``ecomcrm.segments.CUSTOMER_FIELD_REGISTRY`` computed per
customer (``in_flows``), with the same definitions as the feature table's columns, so a
segment condition can be pasted into a flow and means the same. ``known`` is false for
an id the store does not hold (an anonymous visitor). Money is net of refunds and in the
engine's ``currency`` (see docs/segments.md for the table of fields).
"""

EVENT_PROPERTIES: Mapping[str, str] = MappingProxyType(
    {
        "total": "number",
        "revenue": "number",
        "subtotal": "number",
        "value": "number",
        "price": "number",
        "quantity": "number",
        "discount": "number",
        "shipping": "number",
        "tax": "number",
        "score": "number",
        "delay_days": "number",
        "sku": "string",
        "product_id": "string",
        "category": "string",
        "name": "string",
        "brand": "string",
        "currency": "string",
        "coupon": "string",
        "order_id": "string",
        "cart_id": "string",
        "variant": "string",
        "reason": "string",
    }
)
"""Event properties every event condition can read (Segment e-commerce spec names).

A flow adds others with the ``properties`` of its trigger (name to type). A property
missing from an event reads as null; event properties shadow customer fields of the
same name.
"""


class Condition:
    """A compiled condition with its source text.

    Args:
        source: The condition text.
        schema: Field name to type.

    Raises:
        ExpressionError: When the text does not parse or type-check.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Condition("total >= 100", {"total": "number"})
        >>> c.matches({"total": 120.0}, datetime(2024, 1, 1, tzinfo=timezone.utc))
        True
    """

    __slots__ = ("_expression", "source")

    def __init__(self, source: str, schema: Mapping[str, str]) -> None:
        from ecomcrm.segments import Schema, compile_expression

        self.source = source
        self._expression = compile_expression(source, Schema(dict(schema)))

    def matches(self, record: Mapping[str, Any], now: datetime) -> bool:
        """True when the condition holds for ``record`` at ``now`` (null is not a match)."""
        return self._expression.evaluate(record, now) is True

    def __repr__(self) -> str:
        return f"Condition({self.source!r})"


def compile_condition(
    source: str, schema: Mapping[str, str], *, flow_id: str, where: str
) -> Condition:
    """Compile ``source``; a ConfigurationError naming the flow and place when it fails.

    Example:
        >>> compile_condition("orders_count == 0", CUSTOMER_FIELDS, flow_id="f", where="filter")
        Condition('orders_count == 0')
    """
    if not isinstance(source, str) or not source.strip():
        raise config_error(flow_id, where, "condition must be non-empty text", source)
    try:
        return Condition(source, schema)
    except ExpressionError as exc:
        raise config_error(flow_id, where, f"condition does not compile: {exc}", source) from exc


def config_error(
    flow_id: str, where: str | None, message: str, value: Any = None
) -> ConfigurationError:
    """A ConfigurationError whose text starts with the flow and the step (or part).

    Example:
        >>> print(config_error("cart", "step 'wait'", "must not be negative", "-1h"))
        flow 'cart': step 'wait': must not be negative (got '-1h')
    """
    text = f"{where}: {message}" if where else message
    if value is None:
        err = ConfigurationError(text, entity=f"flow {flow_id!r}")
    else:
        err = ConfigurationError(text, entity=f"flow {flow_id!r}", value=value)
    err.field = where  # structured: entity names the flow, field the step or part
    return err
