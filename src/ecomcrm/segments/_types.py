"""Field types, schemas and the internal type lattice of the condition language."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterator, Mapping

from ecomcrm.errors import ValidationError

__all__ = ["FieldType", "Schema", "Ty"]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

#: Words of the language that cannot be field names.
RESERVED = frozenset({"and", "or", "not", "in", "is", "null", "true", "false", "now"})


class FieldType(enum.StrEnum):
    """The type of a field a condition can refer to.

    ``integer`` and ``number`` are both numbers in expressions; ``category`` is a string
    with a small set of values (stored dictionary-encoded, like every string column);
    ``tags`` is a list of strings, tested with ``'vip' in tags``.

    Example:
        >>> FieldType("tags") is FieldType.TAGS
        True
    """

    NUMBER = "number"
    INTEGER = "integer"
    STRING = "string"
    CATEGORY = "category"
    BOOL = "bool"
    DATETIME = "datetime"
    DURATION = "duration"
    TAGS = "tags"


class Ty(enum.Enum):
    """Types of expression values (internal)."""

    NUMBER = "number"
    STRING = "string"
    BOOL = "bool"
    DATETIME = "datetime"
    DURATION = "duration"
    MONTHS = "calendar duration"
    TAGS = "tags"
    NULL = "null"
    LIST = "list"

    def __str__(self) -> str:
        return self.value


_FIELD_TO_TY = {
    FieldType.NUMBER: Ty.NUMBER,
    FieldType.INTEGER: Ty.NUMBER,
    FieldType.STRING: Ty.STRING,
    FieldType.CATEGORY: Ty.STRING,
    FieldType.BOOL: Ty.BOOL,
    FieldType.DATETIME: Ty.DATETIME,
    FieldType.DURATION: Ty.DURATION,
    FieldType.TAGS: Ty.TAGS,
}


def expr_type(field_type: FieldType) -> Ty:
    """The expression type of a field type."""
    return _FIELD_TO_TY[field_type]


class Schema(Mapping[str, FieldType]):
    """The fields a condition may refer to, with their types.

    A schema is an immutable mapping from field name to :class:`FieldType`. Names are
    identifiers (letters, digits, ``_``) that are not words of the language.

    Args:
        fields: Field name to type (a :class:`FieldType` or its string value).

    Raises:
        ValidationError: A name that is not an identifier, or an unknown type.

    Example:
        >>> schema = Schema({"total_spent": "number", "tags": "tags"})
        >>> schema["total_spent"]
        <FieldType.NUMBER: 'number'>
        >>> sorted(schema)
        ['tags', 'total_spent']
    """

    __slots__ = ("_fields",)

    def __init__(self, fields: Mapping[str, FieldType | str]) -> None:
        checked: dict[str, FieldType] = {}
        for name, kind in fields.items():
            if not isinstance(name, str) or not _IDENT.match(name) or name in RESERVED:
                raise ValidationError(
                    "must be an identifier that is not a reserved word",
                    entity="Schema",
                    field="name",
                    value=name,
                )
            try:
                checked[name] = FieldType(kind)
            except ValueError:
                raise ValidationError(
                    f"unknown field type; expected one of {[t.value for t in FieldType]}",
                    entity="Schema",
                    field=name,
                    value=kind,
                ) from None
        self._fields = checked

    def __getitem__(self, name: str) -> FieldType:
        return self._fields[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        inner = ", ".join(f"{k!r}: {v.value!r}" for k, v in self._fields.items())
        return f"Schema({{{inner}}})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Schema):
            return self._fields == other._fields
        return NotImplemented

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._fields.items())))

    def merge(self, other: Mapping[str, FieldType | str]) -> Schema:
        """A schema with the fields of both (``other`` wins on a clash).

        Example:
            >>> Schema({"a": "number"}).merge({"b": "string"})
            Schema({'a': 'number', 'b': 'string'})
        """
        merged: dict[str, FieldType | str] = dict(self._fields)
        merged.update(other)
        return Schema(merged)
