"""The state area: key and owner checks, frozen JSON values and compare-and-set versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from ecomcrm.errors import ConflictError, ValidationError

if TYPE_CHECKING:
    pass


def check_state_owner(owner: Any) -> str | None:
    """Validate a state record's owner (None, or a non-empty string) and return it.

    Example:
        >>> check_state_owner("c1"), check_state_owner(None)
        ('c1', None)
    """
    if owner is None or (type(owner) is str and owner):
        return owner
    raise ValidationError(
        "must be None or a non-empty string", entity="state", field="owner", value=owner
    )


def check_state_key(key: Any) -> str:
    """Validate a state key (a non-empty string without U+0000) and return it.

    A NUL character is refused in every store, not only where a server (PostgreSQL text)
    cannot hold it, so a key means the same thing in every adapter.

    Example:
        >>> check_state_key("enrollment:welcome:c1")
        'enrollment:welcome:c1'
    """
    if not isinstance(key, str) or not key:
        raise ValidationError("must be a non-empty string", entity="state", field="key", value=key)
    if "\x00" in key:
        raise ValidationError(
            "must not contain the NUL character (U+0000)", entity="state", field="key", value=key
        )
    return key


def check_event_mark(mark: Any) -> tuple[str, int, str]:
    """Validate a mark of ``SupportsEventMarks.apply_marked`` and return it as a tuple.

    A mark is ``(key, at, owner)``: a state key, an int (µs) and a non-empty owner; the
    record it stands for is ``key`` -> ``{"at": at, "cust": owner}`` (version 1).

    Example:
        >>> check_event_mark(["seen:e1", 5, "c1"])
        ('seen:e1', 5, 'c1')
    """
    try:
        key, at, owner = mark
    except (TypeError, ValueError):
        raise ValidationError(
            "a mark is (key, at µs, owner)", entity="state", field="mark", value=mark
        ) from None
    if type(key) is not str or not key:
        check_state_key(key)
    if type(at) is not int:
        raise ValidationError("must be an int (µs)", entity="state", field="at", value=at)
    if type(owner) is not str or not owner:
        raise ValidationError(
            "must be a non-empty string", entity="state", field="owner", value=owner
        )
    return key, at, owner


class FrozenDict(dict[str, Any]):
    """A read-only ``dict`` holding a stored state value (see :func:`freeze_state_value`).

    It compares, hashes, prints and serialises (``json.dumps``) like a plain dict;
    ``dict(value)`` or ``value.copy()`` gives a mutable shallow copy. Mutating it raises
    TypeError, so a store can hand the same object to every reader without copying.

    Example:
        >>> value = freeze_state_value({"step": 2})
        >>> value == {"step": 2}, dict(value) | {"step": 3}
        (True, {'step': 3})
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Raise TypeError: a stored state value is read-only (copy it with ``dict(value)``)."""
        raise TypeError("state values are read-only; copy with dict(value) to change one")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = _read_only
    __ior__ = _read_only

    def __copy__(self) -> FrozenDict:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenDict:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenDict, (dict(self),))


class FrozenList(list[Any]):
    """A read-only ``list`` inside a stored state value (see :class:`FrozenDict`).

    Example:
        >>> freeze_state_value({"seen": ("a", "b")})["seen"] == ["a", "b"]
        True
    """

    __slots__ = ()

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Raise TypeError: a stored state value is read-only (copy it with ``list(value)``)."""
        raise TypeError("state values are read-only; copy with list(value) to change one")

    __setitem__ = __delitem__ = append = extend = insert = pop = remove = _read_only
    clear = reverse = sort = _read_only
    __iadd__ = __imul__ = _read_only

    def __copy__(self) -> FrozenList:
        return self

    def __deepcopy__(self, memo: Any) -> FrozenList:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (FrozenList, (list(self),))


_INF = float("inf")
# values a frozen copy shares as they are: immutable scalars and already frozen parts
_SHARED = frozenset({str, int, bool, type(None), FrozenDict, FrozenList})
_EMPTY_DICT = FrozenDict()  # one shared instance of each empty container
_EMPTY_LIST = FrozenList()


def _json_key(key: Any) -> str:
    """A mapping key as ``json.dumps`` writes it (str, float, bool, None, int), else TypeError."""
    if isinstance(key, str):
        return key if type(key) is str else str.__str__(key)
    if isinstance(key, float):
        if key != key or key in (_INF, -_INF):
            raise ValueError("Out of range float values are not JSON compliant")
        return float.__repr__(key)
    if key is True:
        return "true"
    if key is False:
        return "false"
    if key is None:
        return "null"
    if isinstance(key, int):
        return int.__repr__(key)
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _freeze(value: Any) -> Any:
    """``value`` as a JSON round trip would give it back, made of read-only containers."""
    kind = type(value)
    if kind in _SHARED:
        return value  # scalars, and frozen parts (already checked, immutable): shared
    if kind is float:
        if value != value or value in (_INF, -_INF):
            raise ValueError("Out of range float values are not JSON compliant")
        return value
    if isinstance(value, dict):
        return _freeze_items(value)
    if isinstance(value, list | tuple):
        if not value:
            return _EMPTY_LIST
        return FrozenList([item if type(item) in _SHARED else _freeze(item) for item in value])
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):  # int subclasses (enums) dump as their integer value
        return int(int.__repr__(value))
    if isinstance(value, float):
        return _freeze(float.__float__(value))
    raise TypeError(f"Object of type {kind.__name__} is not JSON serializable")


def _freeze_items(value: Mapping[Any, Any]) -> FrozenDict:
    if not value:
        return _EMPTY_DICT
    shared = _SHARED
    for key, item in value.items():
        if type(key) is not str or type(item) not in shared:
            break
    else:  # str keys, scalar or frozen values (a record read, one field changed): one copy
        return FrozenDict(value)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if type(key) is not str:
            key = _json_key(key)
        out[key] = item if type(item) in _SHARED else _freeze(item)
    return FrozenDict(out)


def freeze_state_value(value: Any) -> FrozenDict:
    """A deep, JSON-normalised, read-only copy of a state value.

    The result equals what a JSON round trip would give back (tuples become lists,
    non-string keys become their JSON text, int and float subclasses plain numbers) but
    is made of :class:`FrozenDict` and :class:`FrozenList`, so a store can keep it and
    hand it to every reader without copying again. Parts that are already frozen (taken
    from a record read earlier) are shared, not copied, so updating one field of a large
    record costs little. Raises ValidationError when ``value`` is not a JSON-compatible
    mapping (NaN and infinities, other types, circular references).

    Example:
        >>> freeze_state_value({"step": 2, "seen": ("a", "b")})
        {'step': 2, 'seen': ['a', 'b']}
    """
    if type(value) is FrozenDict:
        return value
    if not isinstance(value, Mapping):
        raise ValidationError("must be a mapping", entity="state", field="value", value=value)
    try:
        return _freeze_items(value)
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


def check_expected_version(key: str, stored: int | None, expected: int | None) -> int:
    """The version a compare-and-set write gets, or ConflictError when ``expected`` is stale.

    ``stored`` is the version in the store (None when the key is absent).

    Example:
        >>> check_expected_version("k", None, None), check_expected_version("k", 3, 3)
        (1, 4)
    """
    if expected is not None and (
        not isinstance(expected, int) or isinstance(expected, bool) or expected < 1
    ):
        raise ValidationError(
            "must be None or a positive integer",
            entity="state",
            field="expected_version",
            value=expected,
        )
    if stored != expected:
        wanted = "absent" if expected is None else f"version {expected}"
        found = "absent" if stored is None else f"version {stored}"
        raise ConflictError(
            f"expected {wanted} but the record is {found}",
            entity="state",
            field="version",
            value=key,
        )
    return 1 if stored is None else stored + 1
