"""Type checking: resolves every node's type against a schema, at compile time."""

from __future__ import annotations

import datetime as dt
import difflib

from ecomcrm.errors import ExpressionError
from ecomcrm.segments._ast import (
    Arith,
    BoolOp,
    Call,
    Compare,
    Field,
    In,
    IsNull,
    ListLit,
    Literal,
    Neg,
    Node,
    Not,
    Now,
    is_row_independent,
    uses_now,
)
from ecomcrm.segments._functions import ARITY, FUNCTION_NAMES, result_type
from ecomcrm.segments._lexer import line_col
from ecomcrm.segments._types import Schema, Ty, expr_type

_ORDERED = (Ty.NUMBER, Ty.STRING, Ty.DATETIME, Ty.DURATION)
_EQUATABLE = (Ty.NUMBER, Ty.STRING, Ty.DATETIME, Ty.DURATION, Ty.BOOL)

#: (left, op, right) -> result for arithmetic
_ARITH: dict[tuple[Ty, str, Ty], Ty] = {}
for _op in "+-*/%":
    _ARITH[(Ty.NUMBER, _op, Ty.NUMBER)] = Ty.NUMBER
_ARITH.update(
    {
        (Ty.DATETIME, "-", Ty.DATETIME): Ty.DURATION,
        (Ty.DATETIME, "+", Ty.DURATION): Ty.DATETIME,
        (Ty.DATETIME, "-", Ty.DURATION): Ty.DATETIME,
        (Ty.DURATION, "+", Ty.DATETIME): Ty.DATETIME,
        (Ty.DURATION, "+", Ty.DURATION): Ty.DURATION,
        (Ty.DURATION, "-", Ty.DURATION): Ty.DURATION,
        (Ty.DURATION, "/", Ty.DURATION): Ty.NUMBER,
        (Ty.DATETIME, "+", Ty.MONTHS): Ty.DATETIME,
        (Ty.DATETIME, "-", Ty.MONTHS): Ty.DATETIME,
        (Ty.MONTHS, "+", Ty.DATETIME): Ty.DATETIME,
    }
)


class _Checker:
    def __init__(self, source: str, schema: Schema) -> None:
        self.source = source
        self.schema = schema

    def error(self, node: Node, message: str, suggestion: str | None = None) -> ExpressionError:
        line, col = line_col(self.source, node.pos)
        return ExpressionError(
            message, source=self.source, line=line, column=col, suggestion=suggestion
        )

    def check(self, node: Node) -> Ty:
        ty = self._check(node)
        node.ty = ty
        return ty

    def bind_null(self, node: Node, ty: Ty) -> None:
        """Give a null literal the type its context expects."""
        if isinstance(node, Literal) and node.lit_ty is Ty.NULL:
            node.ty = ty

    def _check(self, node: Node) -> Ty:
        if isinstance(node, Literal):
            return node.lit_ty
        if isinstance(node, Field):
            if node.name not in self.schema:
                close = difflib.get_close_matches(node.name, list(self.schema), n=1, cutoff=0.6)
                raise self.error(
                    node, f"unknown field {node.name!r}", suggestion=close[0] if close else None
                )
            return expr_type(self.schema[node.name])
        if isinstance(node, Now):
            return Ty.DATETIME
        if isinstance(node, ListLit):
            return self.check_list(node)
        if isinstance(node, Neg):
            ty = self.check(node.operand)
            if ty not in (Ty.NUMBER, Ty.DURATION):
                raise self.error(node, f"cannot negate a {ty}")
            return ty
        if isinstance(node, Not):
            ty = self.check(node.operand)
            if ty is Ty.NULL:
                self.bind_null(node.operand, Ty.BOOL)
            elif ty is not Ty.BOOL:
                raise self.error(node, f"'not' takes a condition, not a {ty}")
            return Ty.BOOL
        if isinstance(node, BoolOp):
            for operand in node.operands:
                ty = self.check(operand)
                if ty is Ty.NULL:
                    self.bind_null(operand, Ty.BOOL)
                elif ty is not Ty.BOOL:
                    raise self.error(
                        operand, f"'{node.op}' joins conditions; this is a {ty}, not a condition"
                    )
            return Ty.BOOL
        if isinstance(node, Arith):
            return self.check_arith(node)
        if isinstance(node, Compare):
            return self.check_compare(node)
        if isinstance(node, In):
            return self.check_in(node)
        if isinstance(node, IsNull):
            self.check(node.operand)
            if isinstance(node.operand, Literal) and node.operand.lit_ty is Ty.NULL:
                node.operand.ty = Ty.NUMBER
            return Ty.BOOL
        if isinstance(node, Call):
            return self.check_call(node)
        raise AssertionError(type(node))  # pragma: no cover

    def check_list(self, node: ListLit) -> Ty:
        kinds = set()
        for item in node.items:
            ty = self.check(item)
            if not is_row_independent(item) or uses_now(item):
                raise self.error(item, "list items must be constants (numbers, strings, ...)")
            if ty is Ty.NULL:
                raise self.error(item, "a list cannot contain null; test 'is null' separately")
            if ty not in _EQUATABLE:
                raise self.error(item, f"a list cannot contain a {ty}")
            kinds.add(ty)
        if len(kinds) > 1:
            shown = ", ".join(sorted(str(k) for k in kinds))
            raise self.error(node, f"list items must all have one type (got {shown})")
        return Ty.LIST

    def list_type(self, node: ListLit) -> Ty | None:
        return node.items[0].ty if node.items else None

    def check_arith(self, node: Arith) -> Ty:
        left = self.check(node.left)
        right = self.check(node.right)
        if left is Ty.NULL and right is Ty.NULL:
            raise self.error(node, f"'{node.op}' of two nulls has no type")
        if left is Ty.NULL:
            left = right if right is not Ty.MONTHS else Ty.DATETIME
            self.bind_null(node.left, left)
        if right is Ty.NULL:
            right = left if not (left is Ty.DATETIME and node.op == "-") else Ty.DURATION
            if left is Ty.DATETIME and node.op == "+":
                right = Ty.DURATION
            self.bind_null(node.right, right)
        result = _ARITH.get((left, node.op, right))
        if result is None:
            hint = ""
            if Ty.STRING in (left, right) and node.op == "+":
                hint = "; strings cannot be joined with '+'"
            elif Ty.MONTHS in (left, right):
                hint = "; calendar durations (mo, y) can only be added to or subtracted from a datetime"
            raise self.error(node, f"cannot apply '{node.op}' to {left} and {right}{hint}")
        return result

    def check_compare(self, node: Compare) -> Ty:
        left = self.check(node.left)
        right = self.check(node.right)
        if node.op in ("==", "!=") and Ty.NULL in (left, right):
            word = "is null" if node.op == "==" else "is not null"
            raise self.error(
                node,
                f"comparing with null with '{node.op}' is never true",
                suggestion=word,
            )
        if left is Ty.NULL:
            left = right
            self.bind_null(node.left, right)
        if right is Ty.NULL:
            right = left
            self.bind_null(node.right, left)
        if left is not right:
            raise self.error(node, f"cannot compare {left} with {right} using '{node.op}'")
        allowed = _EQUATABLE if node.op in ("==", "!=") else _ORDERED
        if left not in allowed:
            raise self.error(node, f"cannot compare {left} values using '{node.op}'")
        return Ty.BOOL

    def check_in(self, node: In) -> Ty:
        left = self.check(node.left)
        right = self.check(node.right)
        if right is Ty.LIST:
            assert isinstance(node.right, ListLit)
            elem = self.list_type(node.right)
            if left is Ty.NULL:
                raise self.error(node, "null cannot be tested with 'in'; use 'is null'")
            if elem is not None and elem is not left:
                raise self.error(node, f"cannot look for a {left} in a list of {elem}s")
            if elem is None and left not in _EQUATABLE:
                raise self.error(node, f"cannot look for a {left} in a list")
            return Ty.BOOL
        if right is Ty.TAGS:
            if left is Ty.NULL:
                raise self.error(node, "null cannot be tested with 'in'; use 'is null'")
            if left is not Ty.STRING:
                raise self.error(node, f"tags hold strings; cannot look for a {left}")
            return Ty.BOOL
        raise self.error(
            node.right,
            f"the right side of 'in' must be a list [...] or a tags field, not a {right}",
        )

    def check_call(self, node: Call) -> Ty:
        if node.name not in ARITY:
            close = difflib.get_close_matches(node.name, FUNCTION_NAMES, n=1, cutoff=0.6)
            raise self.error(
                node, f"unknown function {node.name!r}", suggestion=close[0] if close else None
            )
        low, high = ARITY[node.name]
        count = len(node.args)
        if count < low or (high >= 0 and count > high):
            want = str(low) if low == high else (f"{low} or more" if high < 0 else f"{low}-{high}")
            raise self.error(node, f"{node.name}() takes {want} argument(s), got {count}")
        if node.name == "date":
            return self.check_date(node)
        kinds = [self.check(arg) for arg in node.args]
        result = result_type(node.name, kinds)
        if isinstance(result, str):
            raise self.error(node, result)
        for arg in node.args:
            if arg.ty is Ty.NULL:
                expected = result
                if (
                    node.name in ("lower", "upper", "starts_with", "ends_with", "len")
                    or node.name == "contains"
                ):
                    expected = Ty.STRING
                elif node.name in ("days_since", "hours_since"):
                    expected = Ty.DATETIME
                self.bind_null(arg, expected)
        return result

    def check_date(self, node: Call) -> Ty:
        (arg,) = node.args
        if not (isinstance(arg, Literal) and arg.lit_ty is Ty.STRING):
            raise self.error(node, "date() takes a string constant such as '2024-12-31'")
        text = arg.value
        assert isinstance(text, str)
        try:
            value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise self.error(arg, f"not an ISO date or datetime: {text!r}") from None
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        try:
            value = value.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 is in year 0 in UTC
            raise self.error(
                arg, f"date {text!r} is out of range (years 1 to 9999 in UTC)"
            ) from None
        arg.ty = Ty.STRING
        node.args = (Literal(arg.pos, value, Ty.DATETIME),)
        node.args[0].ty = Ty.DATETIME
        return Ty.DATETIME


def check(node: Node, source: str, schema: Schema) -> Ty:
    """Type ``node`` in place against ``schema``; return the expression's type.

    Raises:
        ExpressionError: Unknown field (with a suggestion), unknown function, type mismatch.
    """
    return _Checker(source, schema).check(node)
