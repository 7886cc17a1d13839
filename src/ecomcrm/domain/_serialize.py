"""Exact conversion of domain objects to JSON-compatible dicts and back.

Decimals become strings, datetimes ISO 8601 strings with offset, dates ISO dates, enums
their values, sets sorted lists. The top-level dict carries ``"type"`` and
``"schema_version"`` so a reader knows what it holds and can migrate old documents.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from enum import Enum
from functools import cache
from typing import Any, TypeVar

import attrs

from ecomcrm.domain._activity import Event, LoyaltyEntry, Message, SupportTicket
from ecomcrm.domain._commerce import Order, OrderLine, Product, Refund, ReturnLine
from ecomcrm.domain._customer import Address, Consent, Customer, Identity
from ecomcrm.errors import ValidationError

SCHEMA_VERSION = 1
"""Version of the dict layout written by :func:`to_dict`."""

DOMAIN_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Address,
        Consent,
        Customer,
        Event,
        Identity,
        LoyaltyEntry,
        Message,
        Order,
        OrderLine,
        Product,
        Refund,
        ReturnLine,
        SupportTicket,
    )
}
"""Every serialisable domain class by name."""

T = TypeVar("T")


def _encode(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if attrs.has(type(value)):
        return {f.name: _encode(getattr(value, f.name)) for f in attrs.fields(type(value))}
    if isinstance(value, frozenset | set):
        return sorted(_encode(v) for v in value)
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _encode(v) for k, v in value.items()}
    raise TypeError(f"cannot encode {type(value).__name__}")


def to_dict(obj: Any) -> dict[str, Any]:
    """A JSON-compatible dict of a domain object, tagged with its type and schema version.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> to_dict(Identity.email("a@b.co"))
        {'type': 'Identity', 'schema_version': 1, 'kind': 'email', 'value': 'a@b.co'}
    """
    cls = type(obj)
    if cls.__name__ not in DOMAIN_TYPES:
        raise TypeError(f"{cls.__name__} is not an ecomcrm domain type")
    body = _encode(obj)
    return {"type": cls.__name__, "schema_version": SCHEMA_VERSION, **body}


@cache
def _hints(cls: Any) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _decode(tp: Any, value: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None:
            return None
        inner = [a for a in args if a is not type(None)]
        return _decode(inner[0], value, where)
    if tp is Any:
        return value
    if isinstance(tp, type) and attrs.has(tp):
        if not isinstance(value, Mapping):
            raise ValidationError("must be an object", entity=where, value=value)
        return _build(tp, value)
    if origin is tuple:
        return tuple(_decode(args[0], v, where) for v in value)
    if origin is frozenset:
        return frozenset(_decode(args[0], v, where) for v in value)
    if origin is Mapping or origin is dict:
        return dict(value)
    if tp is Decimal:
        try:
            return Decimal(value)
        except (InvalidOperation, TypeError):
            raise ValidationError("must be a decimal string", entity=where, value=value) from None
    if tp is datetime:
        try:
            return datetime.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValidationError(
                "must be an ISO 8601 datetime", entity=where, value=value
            ) from None
    if tp is date:
        try:
            return date.fromisoformat(value)
        except (TypeError, ValueError):
            raise ValidationError("must be an ISO 8601 date", entity=where, value=value) from None
    return value


def _build(cls: type[T], data: Mapping[str, Any]) -> T:
    hints = _hints(cls)  # type: ignore[arg-type]
    names = {f.name for f in attrs.fields(cls)}  # type: ignore[arg-type]
    unknown = set(data) - names - {"type", "schema_version"}
    if unknown:
        raise ValidationError(
            "unknown fields", entity=cls.__name__, field=sorted(unknown)[0], value=sorted(unknown)
        )
    kwargs = {
        name: _decode(hints[name], value, f"{cls.__name__}.{name}")
        for name, value in data.items()
        if name in names
    }
    return cls(**kwargs)


def from_dict(data: Mapping[str, Any], cls: type[T] | None = None) -> T:
    """Rebuild a domain object from :func:`to_dict`'s output; validation runs again.

    ``cls`` is optional when ``data`` carries its ``"type"``.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> from_dict({"type": "Identity", "schema_version": 1, "kind": "email", "value": "a@b.co"})
        Identity(kind=<IdentityKind.EMAIL: 'email'>, value='a@b.co')
    """
    if not isinstance(data, Mapping):
        raise ValidationError("must be a mapping", entity="document", value=data)
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise ValidationError(
            f"unsupported (this ecomcrm reads 1..{SCHEMA_VERSION})",
            entity="document",
            field="schema_version",
            value=version,
        )
    if cls is None:
        name = data.get("type")
        if name not in DOMAIN_TYPES:
            raise ValidationError(
                "unknown domain type", entity="document", field="type", value=name
            )
        cls = DOMAIN_TYPES[name]
    elif "type" in data and data["type"] != cls.__name__:
        raise ValidationError(
            f"expected {cls.__name__}", entity="document", field="type", value=data["type"]
        )
    return _build(cls, data)
