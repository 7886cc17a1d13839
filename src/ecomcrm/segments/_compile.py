"""compile_expression and the compiled Expression object."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ExpressionError
from ecomcrm.segments._ast import (
    Arith,
    Call,
    Field,
    ListLit,
    Literal,
    Neg,
    Node,
    Now,
    uses_now,
    walk,
)
from ecomcrm.segments._check import check
from ecomcrm.segments._features import FeatureTable
from ecomcrm.segments._lexer import line_col
from ecomcrm.segments._parser import parse
from ecomcrm.segments._scalar import compile_scalar
from ecomcrm.segments._types import FieldType, Schema, Ty, expr_type
from ecomcrm.segments._vector import VectorPlan

_CHILD_ATTRS = ("operand", "left", "right", "operands", "args", "items")


def _fold(node: Node, source: str) -> Node:
    """Replace sub-trees without fields or ``now`` by their value (computed once)."""
    if isinstance(node, Literal | Field | Now):
        return node
    for attr in _CHILD_ATTRS:
        if hasattr(node, attr):
            value = getattr(node, attr)
            if isinstance(value, tuple):
                setattr(node, attr, tuple(_fold(v, source) for v in value))
            else:
                setattr(node, attr, _fold(value, source))
    if isinstance(node, ListLit) or node.ty in (Ty.MONTHS, Ty.TAGS, Ty.LIST):
        return node
    if any(isinstance(n, Field) for n in walk(node)) or uses_now(node):
        return node
    function, _ = compile_scalar(node, as_value=True)
    try:
        value = function({}, None)
    except (TypeError, ArithmeticError, ValueError) as exc:
        raise _error(source, node, f"cannot compute this constant: {exc}") from None
    if value is None and _out_of_range(node):
        raise _error(source, node, _RANGE_MESSAGE[node.ty])
    if node.ty is Ty.NUMBER and type(value) is int:
        value = float(value)  # numbers are float64: 2**53 + 1 folds as the vector adds it
    folded = Literal(node.pos, value, node.ty if value is not None else Ty.NULL)
    folded.ty = node.ty
    return folded


_RANGE_MESSAGE = {
    Ty.DATETIME: "this date is out of range (years 1 to 9999)",
    Ty.DURATION: "this duration is out of range (at most about 292,000 years)",
}


def _out_of_range(node: Node) -> bool:
    """True when date or duration arithmetic on non-null constants gave null.

    At run time such a result is null (like a division by zero); written with constants
    only it is a mistake in the expression, reported where it is.
    """
    if node.ty not in _RANGE_MESSAGE or not isinstance(node, Arith | Neg | Call):
        return False
    if isinstance(node, Call) and node.name != "abs":
        return False
    return not any(isinstance(c, Literal) and c.value is None for c in node.children())


def _check_now(now: object, source: str) -> None:
    """Raise unless ``now`` is an aware datetime (for an expression that uses time)."""
    if now is None:
        raise ExpressionError("this expression uses time: pass now=<aware datetime>", source=source)
    if not isinstance(now, dt.datetime) or now.utcoffset() is None:
        raise ExpressionError(
            f"must be an aware datetime, not {now!r:.60}", source=source, field="now"
        )


def _error(source: str, node: Node, message: str) -> ExpressionError:
    line, col = line_col(source, node.pos)
    return ExpressionError(message, source=source, line=line, column=col)


_EVALUATE_DOC = """evaluate(record, now=None): evaluate the expression for one record.

A condition returns True or False (null counts as False); any other expression
returns its value (``None`` for null). Missing keys are null.

Args:
    record: Field name to value: numbers (int, float or Decimal, used as float64),
        str, bool, aware datetimes, timedeltas, and a list/tuple/set of strings for
        tags. ``None`` and NaN are null.
    now: The evaluation time (aware); required when the expression uses time.

Raises:
    ExpressionError: ``now`` missing or not an aware datetime, a record that is not a
        mapping, or values of the wrong type.

Example:
    >>> import datetime as dt
    >>> e = compile_expression("last_order_at < now - 90d", {"last_order_at": "datetime"})
    >>> now = dt.datetime(2024, 6, 1, tzinfo=dt.UTC)
    >>> e.evaluate({"last_order_at": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}, now=now)
    True
"""


class Expression:
    """A compiled condition: parse, check and code generation happen once.

    Use :func:`compile_expression` to make one. ``evaluate`` checks one record (a
    mapping of field name to value, e.g. a customer profile or an event); ``mask``
    evaluates the same condition for every row of a :class:`FeatureTable` at once.
    Both follow the same null rules (see ``docs/condition-language.md``).

    Attributes:
        evaluate: ``evaluate(record, now=None)``, the compiled function for one record
            (a condition gives True/False, null counting as False; other expressions
            give their value or None). It is the generated function itself, so a call
            costs about as much as a hand-written lambda.
        source: The expression text, as given.
        schema: The schema it was compiled against.
        type: The result type: ``"bool"`` for a condition, else the value's type.
        fields: The fields it refers to, sorted.
        uses_now: Whether it needs ``now``.

    Example:
        >>> expr = compile_expression("total_spent > 100 and 'vip' in tags",
        ...                           {"total_spent": "number", "tags": "tags"})
        >>> expr.evaluate({"total_spent": 150.0, "tags": ["vip"]})
        True
        >>> expr.fields
        ('tags', 'total_spent')
    """

    __slots__ = (
        "_plan",
        "_python_source",
        "_root",
        "_safe",
        "evaluate",
        "fields",
        "schema",
        "source",
        "type",
        "uses_now",
    )

    def __init__(self, source: str, schema: Schema) -> None:
        root = parse(source)
        ty = check(root, source, schema)
        if ty is Ty.NULL:  # a bare `null` is a condition that is never true
            ty = root.ty = Ty.BOOL
        root = _fold(root, source)
        self.source = source
        self.schema = schema
        self.type = str(ty)
        self.fields = tuple(sorted({n.name for n in walk(root) if isinstance(n, Field)}))
        self.uses_now = uses_now(root)
        self._root = root
        self._safe, self._python_source = compile_scalar(root)
        self.evaluate = compile_scalar(root, fast=True, fallback=self._evaluate_slow)[0]
        self.evaluate.__doc__ = _EVALUATE_DOC
        self._plan: VectorPlan | None = None

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Expression):
            return self.source == other.source and self.schema == other.schema
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.source, self.schema))

    def __reduce__(self) -> tuple[Any, ...]:
        return (compile_expression, (self.source, self.schema))

    def _evaluate_slow(self, record: Mapping[str, Any], now: dt.datetime | None) -> Any:
        """Null-checking evaluation (a null met by the fast path, or a missing key)."""
        if self.uses_now:
            _check_now(now, self.source)
        if not isinstance(record, Mapping):
            raise ExpressionError(
                f"a record must be a mapping of field name to value, not {type(record).__name__}",
                source=self.source,
            )
        filled = {name: record.get(name) for name in self.fields}
        try:
            return self._safe(filled, now)
        except (TypeError, ArithmeticError, ValueError, AttributeError) as exc:
            raise self._evaluation_error(exc, now) from None

    def _evaluation_error(self, exc: Exception, now: object) -> ExpressionError:
        if self.uses_now and now is None:
            return ExpressionError(
                "this expression uses time: pass now=<aware datetime>", source=self.source
            )
        return ExpressionError(
            f"cannot evaluate {self.source!r}: a field has a value of the wrong type ({exc})",
            source=self.source,
        )

    def matches(self, record: Mapping[str, Any], now: dt.datetime | None = None) -> bool:
        """True when the condition holds for ``record`` (the expression must be boolean).

        Example:
            >>> compile_expression("n >= 2", {"n": "integer"}).matches({"n": 3})
            True
        """
        if self.type != "bool":
            raise ExpressionError(f"{self.source!r} is a {self.type}, not a condition")
        return bool(self.evaluate(record, now))

    def mask(self, table: FeatureTable, now: dt.datetime | None = None) -> NDArray[np.bool_]:
        """The rows of ``table`` where the condition holds, as a boolean array.

        Raises:
            ExpressionError: Not a condition; ``now`` missing.
            ValidationError: The table lacks a field or has it with another type.

        Example:
            >>> t = FeatureTable([1, 2, 3], {"n": [0, 2, 5]}, {"n": "integer"})
            >>> compile_expression("n >= 2", {"n": "integer"}).mask(t).tolist()
            [False, True, True]
        """
        if self.type != "bool":
            raise ExpressionError(f"{self.source!r} is a {self.type}, not a condition")
        if self.uses_now:
            _check_now(now, self.source)
        else:
            now = None  # not used: whatever was passed is not looked at
        for name in self.fields:
            kind = table.schema.get(name)
            if kind is None:
                table.column(name)  # raises ValidationError naming the field
            elif expr_type(kind) is not expr_type(self.schema[name]):
                raise ExpressionError(
                    f"field {name!r} is a {kind.value} in the table but a "
                    f"{self.schema[name].value} in the expression's schema",
                    source=self.source,
                )
        if self._plan is None:
            self._plan = VectorPlan(self._root)
        return self._plan(table, now)

    @property
    def python_source(self) -> str:
        """The Python source generated for the scalar backend (for inspection)."""
        return self._python_source


def compile_expression(text: str, schema: Schema | Mapping[str, FieldType | str]) -> Expression:
    """Parse, type-check and compile ``text`` against ``schema``.

    Compiled expressions are cached by (text, schema), so compiling the same segment
    definition twice is cheap.

    Raises:
        ExpressionError: A syntax error (with line, column and a caret), an unknown
            field (with a suggestion), an unknown function, or a type mismatch.

    Example:
        >>> compile_expression("totl_spent > 1", {"total_spent": "number"})
        Traceback (most recent call last):
        ...
        ecomcrm.errors.ExpressionError: unknown field 'totl_spent'; did you mean 'total_spent'? at line 1, column 1
          totl_spent > 1
          ^
    """
    full = schema if isinstance(schema, Schema) else Schema(schema)
    if not isinstance(text, str):
        raise ExpressionError(f"an expression must be a string, not {type(text).__name__}")
    return _compile_cached(text, full)


@lru_cache(maxsize=1024)
def _compile_cached(text: str, schema: Schema) -> Expression:
    return Expression(text, schema)
