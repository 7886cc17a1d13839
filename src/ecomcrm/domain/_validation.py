"""Shared field validators and converters for the domain classes.

Each validator raises :class:`ecomcrm.errors.ValidationError` naming the class, the field
and the value, so a user sees ``Order.placed_at: must be timezone-aware (got ...)``.
"""

from __future__ import annotations

import functools
import math
import re
import zoneinfo
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain._currencies import MINOR_UNITS
from ecomcrm.errors import ValidationError

JsonScalar = str | int | float | bool | None

Validator = Callable[[Any, "attrs.Attribute[Any]", Any], None]

# Fast paths: the validators below run for every field of every object an import or the
# synthetic shop builds, so each first accepts the common exact types (``type(x) is str``,
# a datetime already in UTC, a plain dict of JSON scalars) with cheap checks and only then
# falls back to the general checks (ABC isinstance, recursion). The accepted values and
# the error messages are the same either way.


def fail(instance: Any, attribute: attrs.Attribute[Any], value: Any, message: str) -> None:
    raise ValidationError(
        message, entity=type(instance).__name__, field=attribute.name, value=value
    )


def check(predicate: Callable[[Any], bool], message: str) -> Validator:
    """A validator that fails with ``message`` when ``predicate(value)`` is false."""

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not predicate(value):
            fail(instance, attribute, value, message)

    return validate


def optional(validator: Validator) -> Validator:
    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            validator(instance, attribute, value)

    return validate


def type_is(*types: type) -> Validator:
    names = " or ".join(t.__name__ for t in types)

    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
            fail(instance, attribute, value, f"must be {names}")

    return validate


# --- text ---------------------------------------------------------------------------------


def non_empty_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is str and value and not value[0].isspace():
        return
    if not isinstance(value, str) or not value.strip():
        fail(instance, attribute, value, "must be a non-empty string")


def text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is not str and not isinstance(value, str):
        fail(instance, attribute, value, "must be a string")


def strip_text(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


# --- time ---------------------------------------------------------------------------------


def to_utc(value: Any) -> Any:
    """Convert an aware datetime to UTC; leave anything else for the validator to reject."""
    if value.__class__ is datetime and value.tzinfo is UTC:
        return value
    if isinstance(value, datetime) and value.tzinfo is not None and value.utcoffset() is not None:
        return value.astimezone(UTC)
    return value


def aware_datetime(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is datetime and value.tzinfo is UTC:
        return
    if not isinstance(value, datetime):
        fail(instance, attribute, value, "must be a datetime")
    elif value.tzinfo is None or value.utcoffset() is None:
        fail(instance, attribute, value, "must be timezone-aware (naive datetimes are ambiguous)")


def time_zone(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not is_time_zone(value):
        fail(instance, attribute, value, "must be an IANA time zone name such as 'Europe/Paris'")


def is_time_zone(name: str) -> bool:
    """True when ``name`` is a known IANA time zone."""
    return _is_time_zone(name) if name.__class__ is str else _check_time_zone(name)


@functools.lru_cache(maxsize=4096)
def _is_time_zone(name: str) -> bool:
    return _check_time_zone(name)


def _check_time_zone(name: str) -> bool:
    if not name or name.startswith(("/", ".")) or ".." in name:
        return False
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return False
    return True


# --- money --------------------------------------------------------------------------------


def to_decimal(value: Any) -> Any:
    """Accept Decimal, int or a numeric string; floats are refused (money is exact)."""
    if value.__class__ is Decimal:
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except InvalidOperation:
            return value
    return value


def decimal_amount(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is Decimal and value.is_finite():
        return
    if not isinstance(value, Decimal):
        fail(instance, attribute, value, "must be a Decimal (floats are not exact money)")
    elif not value.is_finite():
        fail(instance, attribute, value, "must be a finite amount")


def non_negative_amount(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is Decimal and value.is_finite() and not value.is_signed():
        return
    decimal_amount(instance, attribute, value)
    if value < 0:
        fail(instance, attribute, value, "must not be negative")


def to_currency(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


def currency(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is str and value in MINOR_UNITS:
        return
    if not isinstance(value, str) or value not in MINOR_UNITS:
        fail(instance, attribute, value, "must be an ISO 4217 currency code such as 'EUR'")


_TOLERANCES: dict[str, Decimal] = {}


def rounding_tolerance(currency_code: str) -> Decimal:
    """Half of the currency's minor unit: the largest difference that is only rounding."""
    try:
        return _TOLERANCES[currency_code]
    except KeyError:
        pass
    tolerance = Decimal(1).scaleb(-MINOR_UNITS.get(currency_code, 2)) / 2
    if currency_code in MINOR_UNITS:
        _TOLERANCES[currency_code] = tolerance
    return tolerance


# --- identities ---------------------------------------------------------------------------

_EMAIL = re.compile(
    r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[a-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,63}$"
)
_PHONE_PUNCTUATION = re.compile(r"[\s().\-/]")


def normalize_email(value: str) -> str | None:
    """Trimmed, lower-cased email, or None when it is malformed."""
    email = value.strip().lower()
    if len(email) > 254 or not _EMAIL.match(email):
        return None
    return email


def normalize_phone(value: str) -> str | None:
    """E.164 form (``+`` then 8-15 digits, no leading zero), or None when malformed.

    Accepts spaces, dashes, dots, slashes and parentheses, and the international
    ``00`` prefix. A number without a country code cannot be normalised here.
    """
    raw = _PHONE_PUNCTUATION.sub("", value.strip())
    if raw.startswith("00"):
        raw = "+" + raw[2:]
    if not raw.startswith("+"):
        return None
    digits = raw[1:]
    if not digits.isdigit() or not digits.isascii() or not 8 <= len(digits) <= 15:
        return None
    if digits[0] == "0":
        return None
    return "+" + digits


# --- json scalars and mappings ------------------------------------------------------------


_SCALAR_TYPES = frozenset((str, int, bool, type(None)))


def is_json_scalar(value: Any) -> bool:
    if value.__class__ in _SCALAR_TYPES:
        return True
    if value.__class__ is float:
        return math.isfinite(value)
    if value is None or isinstance(value, str | bool | int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def is_json_value(value: Any, depth: int = 0) -> bool:
    if depth > 32:
        return False
    if value.__class__ in _SCALAR_TYPES:
        return True
    if is_json_scalar(value):
        return True
    if isinstance(value, list | tuple):
        return all(is_json_value(v, depth + 1) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and is_json_value(v, depth + 1) for k, v in value.items())
    return False


def freeze_mapping(value: Any) -> Any:
    """Copy a mapping into a read-only view so frozen objects stay immutable."""
    if value.__class__ is dict:
        return MappingProxyType(value.copy())
    if isinstance(value, Mapping):
        return MappingProxyType(dict(value))
    return value


def _flat_scalars(value: Any) -> bool:
    """True for a read-only view or dict whose keys are str and values exact JSON scalars."""
    if value.__class__ is not MappingProxyType and value.__class__ is not dict:
        return False
    scalar = _SCALAR_TYPES
    for key, item in value.items():
        if key.__class__ is not str:
            return False
        if item.__class__ not in scalar and (
            item.__class__ is not float or not math.isfinite(item)
        ):
            return False
    return True


def scalar_mapping(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if _flat_scalars(value):
        return
    if not isinstance(value, Mapping):
        fail(instance, attribute, value, "must be a mapping of names to JSON scalars")
    for key, item in value.items():
        if not isinstance(key, str) or not is_json_scalar(item):
            fail(instance, attribute, {key: item}, "keys must be strings and values JSON scalars")


def json_mapping(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if _flat_scalars(value):
        return
    if not isinstance(value, Mapping) or not is_json_value(value):
        fail(instance, attribute, value, "must be a JSON-compatible mapping")


def to_tags(value: Any) -> Any:
    if value.__class__ is frozenset and not value:
        return value
    if isinstance(value, str):
        return value
    try:
        return frozenset(t.strip() for t in value if isinstance(t, str)) | frozenset(
            t for t in value if not isinstance(t, str)
        )
    except TypeError:
        return value


def tags(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value.__class__ is frozenset and not value:
        return
    if not isinstance(value, frozenset) or not all(isinstance(t, str) and t for t in value):
        fail(instance, attribute, value, "must be a set of non-empty strings")


def to_tuple(value: Any) -> Any:
    if value.__class__ is tuple:
        return value
    if isinstance(value, list | tuple):
        return tuple(value)
    return value


def tuple_of(cls: type) -> Validator:
    def validate(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if not isinstance(value, tuple):
            fail(instance, attribute, value, f"must be a sequence of {cls.__name__}")
        for item in value:
            if not isinstance(item, cls):
                fail(instance, attribute, item, f"items must be {cls.__name__}")

    return validate
