"""Built-in functions: type rules and the scalar (one record) implementations.

Every scalar helper is null-propagating: ``None`` and NaN in, ``None`` out, except
``coalesce`` (its purpose) and ``len`` of a tags list (never null).
"""

from __future__ import annotations

import datetime as dt
import math
import numbers
from collections.abc import Callable, Collection
from decimal import Decimal
from typing import Any

from ecomcrm.segments._durations import MAX_DURATION
from ecomcrm.segments._types import Ty

_DAY = dt.timedelta(days=1)
_HOUR = dt.timedelta(hours=1)


def isnull(value: Any) -> bool:
    """True for ``None`` and NaN."""
    return value is None or (isinstance(value, float) and math.isnan(value))


def norm(value: Any) -> Any:
    """NaN to ``None``; everything else unchanged."""
    if isinstance(value, float) and value != value:
        return None
    return value


def num(value: Any) -> float | None:
    """A number field's value as a float64, the type of every number in the language.

    Integers become floats here (and in the vector backend's columns), so a record and a
    table row give the same answers beyond 2**53; ``None`` stays ``None``.

    Raises:
        TypeError: A value that is not a number (a string, a list).
    """
    if value is None or type(value) is float:
        return value
    if isinstance(value, numbers.Real | Decimal):
        return float(value)
    raise TypeError(f"expected a number, got {type(value).__name__} {value!r:.40}")


def b3(value: Any) -> bool | None:
    """A boolean field value as True / False / None (NaN is None)."""
    if value is None or value != value:
        return None
    return bool(value)


def and3(*values: bool | None) -> bool | None:
    """Three-valued ``and``: False wins, then null, then True."""
    result: bool | None = True
    for value in values:
        if value is False:
            return False
        if value is None:
            result = None
    return result


def or3(*values: bool | None) -> bool | None:
    """Three-valued ``or``: True wins, then null, then False."""
    result: bool | None = False
    for value in values:
        if value is True:
            return True
        if value is None:
            result = None
    return result


def not3(value: bool | None) -> bool | None:
    """Three-valued ``not``: null stays null."""
    return None if value is None else not value


def _cmp(fn: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool | None]:
    def compare(a: Any, b: Any) -> bool | None:
        if isnull(a) or isnull(b):
            return None
        return fn(a, b)

    return compare


CMP3: dict[str, Callable[[Any, Any], bool | None]] = {
    "==": _cmp(lambda a, b: a == b),
    "!=": _cmp(lambda a, b: a != b),
    "<": _cmp(lambda a, b: a < b),
    "<=": _cmp(lambda a, b: a <= b),
    ">": _cmp(lambda a, b: a > b),
    ">=": _cmp(lambda a, b: a >= b),
}


def in3(value: Any, container: Collection[Any] | None) -> bool | None:
    """Three-valued membership: a null value gives null; a null tags list is empty."""
    if isnull(value):
        return None
    return value in (container or ())


def isnull3(value: Any) -> bool:
    """``value is null`` (never null itself)."""
    return isnull(value)


def neg(value: Any) -> Any:
    """Unary minus, null-propagating (a duration that has no negative gives null)."""
    if isnull(value):
        return None
    try:
        return -value
    except OverflowError:  # -timedelta.max
        return None


def lower(value: str | None) -> str | None:
    """Lower case."""
    return None if value is None or value != value else value.lower()


def upper(value: str | None) -> str | None:
    """Upper case."""
    return None if value is None or value != value else value.upper()


def contains(haystack: Any, needle: Any) -> bool | None:
    """Substring test for strings; membership for a tags list."""
    if isnull(needle):
        return None
    if haystack is None or isinstance(haystack, str):
        if haystack is None:
            return None
        return needle in haystack
    if isinstance(haystack, float) and haystack != haystack:
        return None
    return needle in haystack


def contains_tags(tags: Collection[str] | None, needle: Any) -> bool | None:
    """Membership of a string in a tags list (null tags are empty)."""
    if isnull(needle):
        return None
    return needle in (tags or ())


def starts_with(value: Any, prefix: Any) -> bool | None:
    """``value`` starts with ``prefix``."""
    if isnull(value) or isnull(prefix):
        return None
    return bool(value.startswith(prefix))


def ends_with(value: Any, suffix: Any) -> bool | None:
    """``value`` ends with ``suffix``."""
    if isnull(value) or isnull(suffix):
        return None
    return bool(value.endswith(suffix))


def length(value: Any) -> float | None:
    """Length of a string (a number, so a float)."""
    return None if isnull(value) else float(len(value))


def length_tags(value: Collection[str] | None) -> float:
    """Number of tags (a null list has none)."""
    return float(len(value or ()))


def _micros(value: dt.timedelta) -> int:
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


def td_ratio(a: dt.timedelta, b: dt.timedelta) -> float:
    """``a / b`` as numpy divides ``timedelta64[us]``: both as float64 microseconds.

    Python's ``timedelta / timedelta`` rounds once, numpy twice beyond 2**53 us (285
    years); dividing the way numpy does keeps the two backends equal to the last bit.
    """
    return float(_micros(a)) / float(_micros(b))


def days_since(value: dt.datetime | None, now: dt.datetime) -> float | None:
    """Days (fractional) from ``value`` to ``now``."""
    return None if value is None else td_ratio(now - value, _DAY)


def hours_since(value: dt.datetime | None, now: dt.datetime) -> float | None:
    """Hours (fractional) from ``value`` to ``now``."""
    return None if value is None else td_ratio(now - value, _HOUR)


def coalesce(*values: Any) -> Any:
    """The first argument that is not null."""
    for value in values:
        if not isnull(value):
            return value
    return None


def absolute(value: Any) -> Any:
    """Absolute value of a number or duration (a duration that has none gives null)."""
    if isnull(value):
        return None
    try:
        return abs(value)
    except OverflowError:  # abs(timedelta.min)
        return None


def minimum(*values: Any) -> Any:
    """The smallest argument; null if any argument is null."""
    for value in values:
        if isnull(value):
            return None
    return min(values)


def maximum(*values: Any) -> Any:
    """The largest argument; null if any argument is null."""
    for value in values:
        if isnull(value):
            return None
    return max(values)


def add_null(a: Any, b: Any) -> Any:
    """``a + b`` with nulls."""
    return None if isnull(a) or isnull(b) else a + b


def sub_null(a: Any, b: Any) -> Any:
    """``a - b`` with nulls."""
    return None if isnull(a) or isnull(b) else a - b


def dt_add(a: Any, b: Any) -> Any:
    """``datetime + duration`` (either order); null when it leaves years 1 to 9999."""
    if a is None or b is None:
        return None
    try:
        return a + b
    except OverflowError:
        return None


def dt_sub(a: Any, b: Any) -> Any:
    """``datetime - duration``; null when it leaves years 1 to 9999."""
    if a is None or b is None:
        return None
    try:
        return a - b
    except OverflowError:
        return None


def td_add(a: Any, b: Any) -> Any:
    """``duration + duration``; null beyond :data:`MAX_DURATION` (what a table holds)."""
    if a is None or b is None:
        return None
    try:
        out = a + b
    except OverflowError:
        return None
    return out if -MAX_DURATION <= out <= MAX_DURATION else None


def td_sub(a: Any, b: Any) -> Any:
    """``duration - duration``; null beyond :data:`MAX_DURATION` (what a table holds)."""
    if a is None or b is None:
        return None
    try:
        out = a - b
    except OverflowError:
        return None
    return out if -MAX_DURATION <= out <= MAX_DURATION else None


def mul_null(a: Any, b: Any) -> Any:
    """``a * b`` with nulls."""
    return None if isnull(a) or isnull(b) else a * b


def div_null(a: Any, b: Any) -> Any:
    """``a / b`` with nulls; division by zero gives null."""
    if isnull(a) or isnull(b) or not b:
        return None
    if isinstance(a, dt.timedelta) and isinstance(b, dt.timedelta):
        return td_ratio(a, b)
    return a / b


def mod_null(a: Any, b: Any) -> Any:
    """``a % b`` with nulls; modulo by zero gives null."""
    if isnull(a) or isnull(b) or not b:
        return None
    return a % b


#: name -> (minimum arguments, maximum arguments or -1 for any number)
ARITY: dict[str, tuple[int, int]] = {
    "lower": (1, 1),
    "upper": (1, 1),
    "contains": (2, 2),
    "starts_with": (2, 2),
    "ends_with": (2, 2),
    "len": (1, 1),
    "days_since": (1, 1),
    "hours_since": (1, 1),
    "coalesce": (1, -1),
    "abs": (1, 1),
    "min": (1, -1),
    "max": (1, -1),
    "date": (1, 1),
}

FUNCTION_NAMES = tuple(sorted(ARITY))


def result_type(name: str, args: list[Ty]) -> Ty | str:
    """The result type of a call, or a message saying what is wrong."""
    if name in ("lower", "upper"):
        return Ty.STRING if args[0] in (Ty.STRING, Ty.NULL) else f"{name}() takes a string"
    if name == "contains":
        if args[0] is Ty.TAGS and args[1] in (Ty.STRING, Ty.NULL):
            return Ty.BOOL
        if args[0] in (Ty.STRING, Ty.NULL) and args[1] in (Ty.STRING, Ty.NULL):
            return Ty.BOOL
        return "contains() takes a string (or tags) and a string"
    if name in ("starts_with", "ends_with"):
        if all(a in (Ty.STRING, Ty.NULL) for a in args):
            return Ty.BOOL
        return f"{name}() takes two strings"
    if name == "len":
        if args[0] in (Ty.STRING, Ty.TAGS, Ty.NULL):
            return Ty.NUMBER
        return "len() takes a string or tags"
    if name in ("days_since", "hours_since"):
        return Ty.NUMBER if args[0] in (Ty.DATETIME, Ty.NULL) else f"{name}() takes a datetime"
    if name == "abs":
        if args[0] in (Ty.NUMBER, Ty.DURATION, Ty.NULL):
            return Ty.NUMBER if args[0] is Ty.NULL else args[0]
        return "abs() takes a number or a duration"
    if name in ("min", "max", "coalesce"):
        allowed = (
            (Ty.NUMBER, Ty.DATETIME, Ty.DURATION)
            if name != "coalesce"
            else (Ty.NUMBER, Ty.DATETIME, Ty.DURATION, Ty.STRING, Ty.BOOL)
        )
        kinds = {a for a in args if a is not Ty.NULL}
        if len(kinds) > 1:
            shown = ", ".join(sorted(str(k) for k in kinds))
            return f"{name}() arguments must all have one type (got {shown})"
        if not kinds:
            return f"{name}() needs at least one argument that is not null"
        (kind,) = kinds
        if kind not in allowed:
            return f"{name}() does not take {kind} arguments"
        return kind
    raise AssertionError(name)  # pragma: no cover


SCALAR_IMPL: dict[str, Callable[..., Any]] = {
    "lower": lower,
    "upper": upper,
    "starts_with": starts_with,
    "ends_with": ends_with,
    "coalesce": coalesce,
    "abs": absolute,
    "min": minimum,
    "max": maximum,
}
