"""Vector backend: the checked syntax tree to numpy boolean masks over a feature table.

Each boolean node compiles to two closures, ``T(ctx)`` (rows where it is true) and
``F(ctx)`` (rows where it is false); rows in neither are null. Both return freshly
allocated arrays, so ``and`` / ``or`` combine them in place (``&=``, ``|=``) without
more temporaries. Sub-expressions that do not depend on a row (constants, ``now - 90d``)
are computed once per call by the scalar backend and broadcast, which also keeps the
two backends' constant arithmetic identical.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from typing import Any, cast

import numpy as np
from numpy.typing import NDArray

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
    walk,
)
from ecomcrm.segments._durations import (
    add_months_array,
    checked_add_array,
    to_datetime64,
    to_timedelta64,
)
from ecomcrm.segments._features import FeatureTable, StringColumn, TagsColumn
from ecomcrm.segments._scalar import compile_scalar
from ecomcrm.segments._types import Ty

Mask = NDArray[np.bool_]
_US_PER_DAY = np.timedelta64(86_400_000_000, "us")
_US_PER_HOUR = np.timedelta64(3_600_000_000, "us")
_PY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
_UFUNC = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}
_FLIP = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
# the same comparison with its operands swapped: ``c < x`` is ``x > c``
_MIRROR = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
# integers below this magnitude are exact in float64 and so are their neighbours, so
# comparing an integer column with such a constant as integers gives the float result
_EXACT_INT = 2**53


class Ctx:
    """What one evaluation needs: the table, its length and the time."""

    __slots__ = ("n", "now", "now64", "table")

    def __init__(self, table: FeatureTable, now: dt.datetime | None) -> None:
        self.table = table
        self.n = len(table)
        self.now = now
        self.now64 = to_datetime64(now) if now is not None else np.datetime64("NaT", "us")


BoolFn = Callable[[Ctx], Mask]
ValFn = Callable[[Ctx], Any]


class StrVec:
    """A string vector: codes into a sorted vocabulary, -1 for null."""

    __slots__ = ("codes", "vocab")

    def __init__(self, codes: NDArray[np.int32], vocab: tuple[str, ...]) -> None:
        self.codes = codes
        self.vocab = vocab


def _lut(values: list[bool]) -> NDArray[np.bool_]:
    """A lookup table over a vocabulary with a trailing False for code -1 (null)."""
    return np.array([*values, False], dtype=bool)


def _union(vecs: list[StrVec]) -> tuple[tuple[str, ...], list[NDArray[np.int32]]]:
    vocab = tuple(sorted(set().union(*(v.vocab for v in vecs))))
    voc_arr = np.asarray(vocab, dtype=object)
    out = []
    for v in vecs:
        if v.vocab == vocab:
            out.append(v.codes)
            continue
        lut = np.append(
            np.searchsorted(voc_arr, np.asarray(v.vocab, dtype=object)).astype(np.int32),
            np.int32(-1),
        )
        out.append(lut[v.codes])
    return vocab, out


def _as_strvec(value: Any, n: int) -> StrVec:
    if isinstance(value, StrVec):
        return value
    if value is None:
        return StrVec(np.full(n, -1, dtype=np.int32), ())
    return StrVec(np.zeros(n, dtype=np.int32), (value,))


def _map_vocab(vec: StrVec, fn: Callable[[str], str]) -> StrVec:
    mapped = [fn(v) for v in vec.vocab]
    vocab = tuple(sorted(set(mapped)))
    voc_arr = np.asarray(vocab, dtype=object)
    lut = np.append(
        np.searchsorted(voc_arr, np.asarray(mapped, dtype=object)).astype(np.int32)
        if mapped
        else np.zeros(0, np.int32),
        np.int32(-1),
    )
    return StrVec(lut[vec.codes], vocab)


def _null_mask(value: Any, ty: Ty, n: int) -> Mask:
    """Rows where a value is null (fresh array)."""
    if ty is Ty.TAGS:
        return np.zeros(n, dtype=bool)
    if isinstance(value, StrVec):
        return value.codes < 0
    if isinstance(value, tuple):  # boolean (T, F)
        both: Mask = value[0] | value[1]
        return ~both
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "Mm":
            return np.isnat(value)
        if value.dtype.kind == "f":
            return np.isnan(value)
        return np.zeros(n, dtype=bool)
    null = value is None or (isinstance(value, float) and value != value)
    if isinstance(value, np.datetime64 | np.timedelta64):
        null = bool(np.isnat(value))
    return np.full(n, null, dtype=bool)


def _known(value: Any) -> Mask | None:
    """Rows where an array value is known, or None when all are."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "Mm":
            return ~np.isnat(value)
        if value.dtype.kind == "f":
            return ~np.isnan(value)
    return None


def _is_null_const(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, np.datetime64 | np.timedelta64):
        return bool(np.isnat(value))
    return False


def _lift(value: Any, ty: Ty) -> Any:
    """A scalar-backend value as a vector constant."""
    if ty is Ty.NUMBER:
        return np.nan if value is None else value
    if ty is Ty.DATETIME:
        return to_datetime64(value)
    if ty is Ty.DURATION:
        return to_timedelta64(value)
    return value


def _float(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "iub":
        return value.astype(np.float64)
    return value


class _Compiler:
    def __init__(self, root: Node) -> None:
        self.indep: dict[int, bool] = {}
        for node in reversed(walk(root)):
            self.indep[id(node)] = not isinstance(node, Field) and all(
                self.indep[id(c)] for c in node.children()
            )

    def independent(self, node: Node) -> bool:
        return self.indep[id(node)]

    # ---- constants ----
    def const(self, node: Node) -> ValFn:
        if isinstance(node, Literal):
            lifted = _lift(node.value, node.ty)
            return lambda ctx: lifted
        function, _ = compile_scalar(node, as_value=True)
        ty = node.ty

        def run(ctx: Ctx) -> Any:
            try:
                return _lift(function({}, ctx.now), ty)
            except (TypeError, ArithmeticError, ValueError) as exc:
                raise ExpressionError(f"cannot evaluate a constant part: {exc}") from None

        return run

    # ---- boolean modes ----
    def T(self, node: Node) -> BoolFn:
        return self.tf(node, True)

    def F(self, node: Node) -> BoolFn:
        return self.tf(node, False)

    def tf(self, node: Node, want: bool) -> BoolFn:
        if self.independent(node):
            value_fn = self.const(node)
            return lambda ctx: np.full(ctx.n, value_fn(ctx) is want, dtype=bool)
        if isinstance(node, Field):
            name = node.name
            code = 1 if want else 0
            return lambda ctx: np.equal(cast("NDArray[Any]", ctx.table.column(name)), code)
        if isinstance(node, Not):
            return self.tf(node.operand, not want)
        if isinstance(node, BoolOp):
            return self.boolop(node, want)
        if isinstance(node, Compare):
            return self.compare(node, node.op if want else _NEGATE[node.op])
        if isinstance(node, In):
            return self.membership(node, want != node.negated)
        if isinstance(node, IsNull):
            positive = want != node.negated
            value = self.V(node.operand)
            ty = node.operand.ty
            if positive:
                return lambda ctx: _null_mask(value(ctx), ty, ctx.n)
            return lambda ctx: ~_null_mask(value(ctx), ty, ctx.n)
        if isinstance(node, Call):
            return self.bool_call(node, want)
        raise AssertionError(type(node))  # pragma: no cover

    def boolop(self, node: BoolOp, want: bool) -> BoolFn:
        # T(and) = all T; F(and) = any F; T(or) = any T; F(or) = all F
        conjunction = (node.op == "and") == want
        consts = [self.const(o) for o in node.operands if self.independent(o)]
        parts = [self.tf(o, want) for o in node.operands if not self.independent(o)]
        first, rest = parts[0], parts[1:]

        def run(ctx: Ctx) -> Mask:
            for c in consts:
                hit = c(ctx) is want
                if conjunction and not hit:
                    return np.zeros(ctx.n, dtype=bool)
                if not conjunction and hit:
                    return np.ones(ctx.n, dtype=bool)
            out = first(ctx)
            if conjunction:
                for part in rest:
                    out &= part(ctx)
            else:
                for part in rest:
                    out |= part(ctx)
            return out

        return run

    # ---- values ----
    def V(self, node: Node) -> ValFn:
        if self.independent(node):
            return self.const(node)
        if node.ty is Ty.BOOL:
            t, f = self.T(node), self.F(node)
            return lambda ctx: (t(ctx), f(ctx))
        if isinstance(node, Field):
            name = node.name

            if node.ty is Ty.NUMBER:
                # numbers are float64 (the scalar backend turns ints into floats too), so
                # an int64 column beyond 2**53 compares and adds as it does in a record
                return lambda ctx: _float(ctx.table.column(name))

            def field(ctx: Ctx) -> Any:
                col = ctx.table.column(name)
                if isinstance(col, StringColumn):
                    return StrVec(col.codes, col.vocabulary)
                return col

            return field
        if isinstance(node, Neg):
            operand = self.V(node.operand)
            return lambda ctx: np.negative(operand(ctx))
        if isinstance(node, Arith):
            return self.arith(node)
        if isinstance(node, Call):
            return self.call_value(node)
        raise AssertionError(type(node))  # pragma: no cover

    def arith(self, node: Arith) -> ValFn:
        left, right = node.left, node.right
        if Ty.MONTHS in (left.ty, right.ty):
            dt_node, months_node = (left, right) if right.ty is Ty.MONTHS else (right, left)
            assert isinstance(months_node, Literal) and isinstance(months_node.value, int)
            count = -months_node.value if node.op == "-" else months_node.value
            values = self.V(dt_node)
            return lambda ctx: add_months_array(values(ctx), count)
        a_fn, b_fn = self.V(left), self.V(right)
        op = node.op
        numeric = node.ty is Ty.NUMBER and left.ty is Ty.NUMBER
        if node.ty in (Ty.DATETIME, Ty.DURATION):
            # numpy wraps datetime64/timedelta64 around on overflow: checked, NaT instead
            kind = "M" if node.ty is Ty.DATETIME else "m"
            subtract = op == "-"
            return lambda ctx: checked_add_array(a_fn(ctx), b_fn(ctx), subtract=subtract, kind=kind)

        def run(ctx: Ctx) -> Any:
            a, b = a_fn(ctx), b_fn(ctx)
            if numeric:
                a, b = _float(a), _float(b)
            with np.errstate(all="ignore"):
                if op == "+":
                    return np.add(a, b)
                if op == "-":
                    return np.subtract(a, b)
                if op == "*":
                    return np.multiply(a, b)
                zero = np.timedelta64(0, "us") if left.ty is Ty.DURATION else 0
                where = np.broadcast_to(np.not_equal(b, zero), (ctx.n,))
                out = np.full(ctx.n, np.nan)
                ufunc = np.divide if op == "/" else np.remainder
                if isinstance(a, np.ndarray) and a.dtype.kind == "m" and op == "/":
                    ufunc(a, b, out=out, where=where)
                else:
                    ufunc(
                        np.broadcast_to(a, (ctx.n,)),
                        np.broadcast_to(b, (ctx.n,)),
                        out=out,
                        where=where,
                    )
                return out

        return run

    # ---- comparisons ----
    def compare(self, node: Compare, op: str) -> BoolFn:
        a_fn, b_fn = self.V(node.left), self.V(node.right)
        ty = node.left.ty
        if ty is Ty.BOOL:
            return self.compare_bool(a_fn, b_fn, op)
        if ty is Ty.STRING:
            return lambda ctx: _compare_str(a_fn(ctx), op, b_fn(ctx), ctx.n)
        general = self._compare_values(a_fn, b_fn, op)
        if ty is Ty.NUMBER:
            field_and_const = self._field_against_constant(node, op)
            if field_and_const is not None:
                name, const_fn, field_op = field_and_const
                return _integer_compare(name, const_fn, field_op, general)
        return general

    def _field_against_constant(self, node: Compare, op: str) -> tuple[str, ValFn, str] | None:
        """``(column, constant, op with the column on the left)`` for ``field <op> constant``."""
        left, right = node.left, node.right
        if isinstance(left, Field) and self.independent(right):
            return left.name, self.const(right), op
        if isinstance(right, Field) and self.independent(left):
            return right.name, self.const(left), _MIRROR[op]
        return None

    def _compare_values(self, a_fn: ValFn, b_fn: ValFn, op: str) -> BoolFn:
        def run(ctx: Ctx) -> Mask:
            a, b = a_fn(ctx), b_fn(ctx)
            if (not isinstance(a, np.ndarray) and _is_null_const(a)) or (
                not isinstance(b, np.ndarray) and _is_null_const(b)
            ):
                return np.zeros(ctx.n, dtype=bool)
            out: Mask = _UFUNC[op](a, b)
            if op == "!=":
                for known in (_known(a), _known(b)):
                    if known is not None:
                        out &= known
            return out

        return run

    def compare_bool(self, a_fn: ValFn, b_fn: ValFn, op: str) -> BoolFn:
        def pair(value: Any, n: int) -> tuple[Mask, Mask]:
            if isinstance(value, tuple):
                return cast("tuple[Mask, Mask]", value)
            return np.full(n, value is True), np.full(n, value is False)

        def run(ctx: Ctx) -> Mask:
            ta, fa = pair(a_fn(ctx), ctx.n)
            tb, fb = pair(b_fn(ctx), ctx.n)
            if op == "==":
                return (ta & tb) | (fa & fb)
            return (ta & fb) | (fa & tb)

        return run

    def membership(self, node: In, positive: bool) -> BoolFn:
        left_fn = self.V(node.left)
        right = node.right
        if right.ty is Ty.TAGS:
            tags_fn = self.V(right)
            return lambda ctx: _in_tags(left_fn(ctx), tags_fn(ctx), positive, ctx.n)
        assert isinstance(right, ListLit)
        items_fn = self.const(right)
        ty = node.left.ty

        def run(ctx: Ctx) -> Mask:
            items = items_fn(ctx)
            left = left_fn(ctx)
            if ty is Ty.BOOL:
                t, f = left
                has_t, has_f = True in items, False in items
                out = np.zeros(ctx.n, dtype=bool)
                if has_t == positive:
                    out |= t
                if has_f == positive:
                    out |= f
                return out
            if ty is Ty.STRING:
                vec = _as_strvec(left, ctx.n)
                lut = _lut([(v in items) == positive for v in vec.vocab])
                return lut[vec.codes]
            values = list(items)
            if ty is Ty.DATETIME:
                values = [to_datetime64(v) for v in values]
            elif ty is Ty.DURATION:
                values = [to_timedelta64(v) for v in values]
            hit = np.isin(left, np.array(values)) if values else np.zeros(ctx.n, dtype=bool)
            if positive:
                return hit
            out = ~hit
            known = _known(left)
            if known is not None:
                out &= known
            return out

        return run

    # ---- calls ----
    def bool_call(self, node: Call, want: bool) -> BoolFn:
        args = [self.V(a) for a in node.args]
        name = node.name
        if name == "coalesce":
            pair_fn = self.coalesce(node, args)
            index = 0 if want else 1
            return lambda ctx: pair_fn(ctx)[index]
        if name == "contains" and node.args[0].ty is Ty.TAGS:
            return lambda ctx: _in_tags(args[1](ctx), args[0](ctx), want, ctx.n)
        pyfn: Callable[[str, str], bool] = {
            "contains": lambda a, b: b in a,
            "starts_with": lambda a, b: a.startswith(b),
            "ends_with": lambda a, b: a.endswith(b),
        }[name]

        def run(ctx: Ctx) -> Mask:
            a, b = args[0](ctx), args[1](ctx)
            if a is None or b is None:
                return np.zeros(ctx.n, dtype=bool)
            if isinstance(a, StrVec) and not isinstance(b, StrVec):
                return _lut([pyfn(v, b) == want for v in a.vocab])[a.codes]
            if isinstance(b, StrVec) and not isinstance(a, StrVec):
                return _lut([pyfn(a, v) == want for v in b.vocab])[b.codes]
            return _pairwise(a, b, lambda x, y: pyfn(x, y) == want)

        return run

    def call_value(self, node: Call) -> ValFn:
        name = node.name
        args = [self.V(a) for a in node.args]
        arg_ty = node.args[0].ty
        if name in ("lower", "upper"):
            method = str.lower if name == "lower" else str.upper
            return lambda ctx: _map_vocab(args[0](ctx), method)
        if name == "len":
            if arg_ty is Ty.TAGS:
                return lambda ctx: np.diff(args[0](ctx).indptr).astype(np.float64)

            def str_len(ctx: Ctx) -> Any:
                vec = args[0](ctx)
                lut = np.array([*(float(len(v)) for v in vec.vocab), np.nan])
                return lut[vec.codes]

            return str_len
        if name in ("days_since", "hours_since"):
            unit = _US_PER_DAY if name == "days_since" else _US_PER_HOUR
            return lambda ctx: (
                checked_add_array(ctx.now64, args[0](ctx), subtract=True, kind="m") / unit
            )
        if name == "abs":
            return lambda ctx: np.abs(args[0](ctx))
        if name in ("min", "max"):
            ufunc = np.minimum if name == "min" else np.maximum

            def extreme(ctx: Ctx) -> Any:
                out = args[0](ctx)
                for arg in args[1:]:
                    out = ufunc(out, arg(ctx))
                return np.broadcast_to(out, (ctx.n,)) if not isinstance(out, np.ndarray) else out

            return extreme
        if name == "coalesce":
            return self.coalesce(node, args)
        raise AssertionError(name)  # pragma: no cover

    def coalesce(self, node: Call, args: list[ValFn]) -> ValFn:
        ty = node.ty

        def run(ctx: Ctx) -> Any:
            values = [a(ctx) for a in args]
            n = ctx.n
            if ty is Ty.STRING:
                vecs = [_as_strvec(v, n) for v in values]
                vocab, codes = _union(vecs)
                out = codes[0].copy()
                for c in codes[1:]:
                    missing = out < 0
                    out[missing] = c[missing]
                return StrVec(out, vocab)
            if ty is Ty.BOOL:
                pairs = [
                    v if isinstance(v, tuple) else (np.full(n, v is True), np.full(n, v is False))
                    for v in values
                ]
                t, f = pairs[0][0].copy(), pairs[0][1].copy()
                for tb, fb in pairs[1:]:
                    unknown = ~(t | f)
                    t |= unknown & tb
                    f |= unknown & fb
                return (t, f)
            out = np.array(np.broadcast_to(_float(values[0]), (n,)))
            for value in values[1:]:
                missing = _null_mask(out, ty, n)
                if missing.any():
                    out[missing] = np.broadcast_to(value, (n,))[missing]
            return out

        return run


def _compare_str(a: Any, op: str, b: Any, n: int) -> Mask:
    if a is None or b is None:
        return np.zeros(n, dtype=bool)
    if not isinstance(a, StrVec):
        a, b, op = b, a, _FLIP[op]
    assert isinstance(a, StrVec)
    if not isinstance(b, StrVec):
        if op in ("==", "!="):
            k = _index(a.vocab, b)
            if op == "==":
                return np.equal(a.codes, k) if k >= 0 else np.zeros(n, dtype=bool)
            if k < 0:
                return a.codes >= 0
            out = np.not_equal(a.codes, k)
            out &= a.codes >= 0
            return out
        pyop = _PY_OPS[op]
        return _lut([bool(pyop(v, b)) for v in a.vocab])[a.codes]
    _, (ca, cb) = _union([a, b])
    out = _UFUNC[op](ca, cb)
    out &= ca >= 0
    out &= cb >= 0
    return out


def _integer_compare(name: str, const_fn: ValFn, op: str, general: BoolFn) -> BoolFn:
    """Compare an integer column with an integral constant without a float copy.

    Numbers compare as float64 (as in the scalar backend); for a constant that is an
    integer of magnitude below 2**53 the integer comparison gives the same rows, because
    rounding to float64 is monotonic and such a constant and its neighbours are exact (at
    2**53 itself, 2**53 + 1 rounds onto the constant). Anything else (a float
    column, a fractional or huge constant, a null) takes the general path.
    """

    def run(ctx: Ctx) -> Mask:
        column = ctx.table.column(name)
        if isinstance(column, np.ndarray) and column.dtype.kind in "iu":
            constant = const_fn(ctx)
            if (
                isinstance(constant, int | float)
                and not isinstance(constant, bool)
                and constant == constant
                and abs(constant) < _EXACT_INT
                and float(constant).is_integer()
            ):
                out: Mask = _UFUNC[op](column, int(constant))
                return out
        return general(ctx)

    return run


def _index(vocab: tuple[str, ...], value: str) -> int:
    import bisect

    i = bisect.bisect_left(vocab, value)
    return i if i < len(vocab) and vocab[i] == value else -1


def _in_tags(left: Any, tags: TagsColumn, positive: bool, n: int) -> Mask:
    if left is None:
        return np.zeros(n, dtype=bool)
    if isinstance(left, str):
        k = _index(tags.vocabulary, left)
        out = np.zeros(n, dtype=bool)
        if k >= 0:
            entries = np.flatnonzero(tags.codes == k)
            out[np.searchsorted(tags.indptr, entries, side="right") - 1] = True
        return out if positive else ~out
    assert isinstance(left, StrVec)
    lut = np.array([*(_index(tags.vocabulary, v) for v in left.vocab), -2], dtype=np.int64)
    per_row = lut[left.codes]
    rows = tags.entry_rows()
    hit = tags.codes == per_row[rows]
    out = np.zeros(n, dtype=bool)
    out[rows[hit]] = True
    if positive:
        return out
    result = ~out
    result &= left.codes >= 0
    return result


def _pairwise(a: Any, b: Any, fn: Callable[[str, str], bool]) -> Mask:
    """Evaluate a string predicate once per distinct (a, b) pair of codes."""
    n = len(a.codes if isinstance(a, StrVec) else b.codes)
    va, vb = _as_strvec(a, n), _as_strvec(b, n)
    key = (va.codes.astype(np.int64) + 1) * (len(vb.vocab) + 1) + (vb.codes.astype(np.int64) + 1)
    uniq, inverse = np.unique(key, return_inverse=True)
    results = np.zeros(len(uniq), dtype=bool)
    for i, k in enumerate(uniq.tolist()):
        ia, ib = divmod(k, len(vb.vocab) + 1)
        if ia == 0 or ib == 0:
            continue
        results[i] = fn(va.vocab[ia - 1], vb.vocab[ib - 1])
    out: Mask = results[inverse.reshape(-1)]
    return out


class VectorPlan:
    """A compiled mask function over feature tables."""

    __slots__ = ("_run",)

    def __init__(self, root: Node) -> None:
        compiler = _Compiler(root)
        self._run = compiler.T(root)

    def __call__(self, table: FeatureTable, now: dt.datetime | None) -> Mask:
        with np.errstate(all="ignore"):
            out = self._run(Ctx(table, now))
        return np.asarray(out, dtype=bool)
