"""Scalar backend: the checked syntax tree to one Python function, compiled once.

Safety argument
---------------
The Python source handed to :func:`compile` is assembled *only* from fixed templates in
this module. The user's text never reaches it: literal values (strings, numbers,
datetimes, lists) are passed in through the function's namespace as ``_kN`` names, the
only names in the source are ``r``, ``now``, ``_vN`` (locals), ``_kN`` (constants),
``_hN`` (helpers generated here) and the helper functions of ``_functions``, and field
names appear as ``r['name']`` only after the schema (whose names must match
``[A-Za-z_][A-Za-z0-9_]*``) has accepted them, checked again below. The namespace has an
empty ``__builtins__``, so the generated code could not reach ``open``, ``__import__``,
``getattr`` or any other builtin even if a template were wrong. The syntax tree is
bounded in depth (64) and size (10,000 characters), and deep trees are split into
helper functions every few levels so the generated source stays far from CPython's
nesting limits.

Null semantics (three-valued logic)
-----------------------------------
Every boolean node is emitted in up to three modes: ``T`` (the condition is true),
``F`` (the condition is false) and ``V`` (its value: True, False or None). ``not x`` is
``F(x)`` in ``T`` mode, so ``not (x > 5)`` is false when ``x`` is null, as in SQL; the
top level of a condition is ``T(root)``, so null counts as "not a match".
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import ecomcrm.segments._functions as fn
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
    uses_now,
)
from ecomcrm.segments._durations import add_months_or_null
from ecomcrm.segments._types import Ty

_SAFE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_SPLIT_EVERY = 12

ScalarFn = Callable[[Any, Any], Any]

_HELPERS: dict[str, object] = {
    "_b3": fn.b3,
    "_and3": fn.and3,
    "_or3": fn.or3,
    "_not3": fn.not3,
    "_in3": fn.in3,
    "_isnull": fn.isnull3,
    "_neg": fn.neg,
    "_norm": fn.norm,
    "_add": fn.add_null,
    "_sub": fn.sub_null,
    "_mul": fn.mul_null,
    "_div": fn.div_null,
    "_mod": fn.mod_null,
    "_add_months": add_months_or_null,
    "_num": fn.num,
    "_dt_add": fn.dt_add,
    "_dt_sub": fn.dt_sub,
    "_td_add": fn.td_add,
    "_td_sub": fn.td_sub,
    "_contains": fn.contains,
    "_contains_tags": fn.contains_tags,
    "_len": fn.length,
    "_len_tags": fn.length_tags,
    "_days_since": fn.days_since,
    "_hours_since": fn.hours_since,
}
for _name, _impl in fn.SCALAR_IMPL.items():
    _HELPERS["_f_" + _name] = _impl
for _op, _impl in fn.CMP3.items():
    _HELPERS[
        "_cmp_" + {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}[_op]
    ] = _impl
_CMP_NAME = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}


def _nullable(node: Node) -> bool:
    if isinstance(node, Literal):
        return node.value is None
    if isinstance(node, Now | ListLit | IsNull):
        return False
    return not (isinstance(node, Field) and node.ty is Ty.TAGS)


class _Gen:
    def __init__(self, *, fast: bool = False) -> None:
        self.fast = fast
        self.consts: dict[str, object] = {}
        self.n_vars = 0
        self.defs: list[str] = []
        self.memo: dict[tuple[int, str], str] = {}
        self.root: Node | None = None

    def const(self, value: object) -> str:
        if isinstance(value, bool):
            return "True" if value else "False"
        if value is None:
            return "None"
        if type(value) is int or (type(value) is float and math.isfinite(value)):
            return repr(value)
        name = f"_k{len(self.consts)}"
        self.consts[name] = value
        return name

    def var(self) -> str:
        self.n_vars += 1
        return f"_v{self.n_vars}"

    # ---- dispatch with splitting of deep trees into helper functions ----
    def emit(self, node: Node, mode: str) -> str:
        if node is not self.root and node.height > 1 and node.height % _SPLIT_EVERY == 0:
            key = (id(node), mode)
            if key not in self.memo:
                name = f"_h{len(self.defs)}"
                self.defs.append("")  # reserve the slot so names stay unique
                body = self.raw(node, mode)
                self.defs[int(name[2:])] = f"def {name}(r, now):\n    return {body}\n"
                self.memo[key] = f"{name}(r, now)"
            return self.memo[key]
        return self.raw(node, mode)

    def raw(self, node: Node, mode: str) -> str:
        if mode == "V":
            return self.value(node)
        if mode == "T":
            return self.truth(node)
        return self.falsity(node)

    def V(self, node: Node) -> str:
        return self.emit(node, "V")

    def T(self, node: Node) -> str:
        return self.emit(node, "T")

    def F(self, node: Node) -> str:
        return self.emit(node, "F")

    # ---- value mode ----
    def value(self, node: Node) -> str:
        if isinstance(node, Literal):
            return self.const(node.value)
        if isinstance(node, Field):
            if not _SAFE_NAME.match(node.name):  # pragma: no cover - the schema guarantees it
                raise AssertionError(node.name)
            if node.ty is Ty.BOOL:
                return f"_b3(r[{node.name!r}])"
            if node.ty is Ty.NUMBER:
                # numbers are float64 in both backends: an int becomes a float here. The
                # fast path multiplies by 1.0 (None, a string or a Decimal raise TypeError
                # and fall back to _num, which takes Decimals and rejects strings)
                if self.fast:
                    return f"(r[{node.name!r}] * 1.0)"
                return f"_num(r[{node.name!r}])"
            return f"r[{node.name!r}]"
        if isinstance(node, Now):
            return "now"
        if isinstance(node, ListLit):
            return self.const(frozenset(item.value for item in node.items))  # type: ignore[attr-defined]
        if isinstance(node, Neg):
            return f"_neg({self.V(node.operand)})"
        if isinstance(node, Arith):
            return self.arith(node)
        if isinstance(node, Call):
            return self.call_value(node)
        # boolean nodes
        if isinstance(node, Not):
            return f"_not3({self.V(node.operand)})"
        if isinstance(node, BoolOp):
            helper = "_and3" if node.op == "and" else "_or3"
            return f"{helper}({', '.join(self.V(o) for o in node.operands)})"
        if isinstance(node, Compare):
            return f"_cmp_{_CMP_NAME[node.op]}({self.V(node.left)}, {self.V(node.right)})"
        if isinstance(node, In):
            inner = f"_in3({self.V(node.left)}, {self.V(node.right)})"
            return f"_not3({inner})" if node.negated else inner
        if isinstance(node, IsNull):
            inner = f"_isnull({self.V(node.operand)})"
            return f"(not {inner})" if node.negated else inner
        raise AssertionError(type(node))  # pragma: no cover

    def arith(self, node: Arith) -> str:
        left, right = node.left, node.right
        if right.ty is Ty.MONTHS or left.ty is Ty.MONTHS:
            dt_node, months = (left, right) if right.ty is Ty.MONTHS else (right, left)
            assert isinstance(months, Literal)
            assert isinstance(months.value, int)
            count = -months.value if node.op == "-" else months.value
            if not _nullable(dt_node):
                return f"_add_months({self.V(dt_node)}, {count})"
            a = self.var()
            return f"(None if ({a} := {self.V(dt_node)}) is None else _add_months({a}, {count}))"
        if node.op in ("/", "%"):
            helper = "_div" if node.op == "/" else "_mod"
            return f"{helper}({self.V(left)}, {self.V(right)})"
        if node.ty is Ty.DURATION and left.ty is Ty.DURATION:
            # a sum of durations may pass what a table holds without raising: checked always
            helper = "_td_add" if node.op == "+" else "_td_sub"
            return f"{helper}({self.V(left)}, {self.V(right)})"
        if node.ty is Ty.DATETIME and not self.fast:
            # leaving years 1-9999 raises OverflowError: the fast path falls back to this
            helper = "_dt_add" if node.op == "+" else "_dt_sub"
            return f"{helper}({self.V(left)}, {self.V(right)})"
        a, b = self.var(), self.var()
        checks = []
        lv, rv = self.V(left), self.V(right)
        if self.fast:
            # None + x raises TypeError: the caller falls back to the null-checking function
            return f"({lv} {node.op} {rv})"
        if _nullable(left):
            checks.append(f"({a} := {lv}) is None")
            lv = a
        if _nullable(right):
            checks.append(f"({b} := {rv}) is None")
            rv = b
        expr = f"{lv} {node.op} {rv}"
        if not checks:
            return f"({expr})"
        return f"(None if {' or '.join(checks)} else {expr})"

    def call_value(self, node: Call) -> str:
        name, args = node.name, node.args
        if name == "date":
            return self.V(args[0])
        if name == "contains":
            helper = "_contains_tags" if args[0].ty is Ty.TAGS else "_contains"
            return f"{helper}({self.V(args[0])}, {self.V(args[1])})"
        if name == "len":
            helper = "_len_tags" if args[0].ty is Ty.TAGS else "_len"
            return f"{helper}({self.V(args[0])})"
        if name in ("days_since", "hours_since"):
            return f"_{name}({self.V(args[0])}, now)"
        return f"_f_{name}({', '.join(self.V(a) for a in args)})"

    # ---- truth / falsity modes (boolean nodes only) ----
    def truth(self, node: Node) -> str:
        return self.tf(node, want=True)

    def falsity(self, node: Node) -> str:
        return self.tf(node, want=False)

    def tf(self, node: Node, *, want: bool) -> str:
        if isinstance(node, Literal):
            return "True" if node.value is want else "False"
        if isinstance(node, Field):
            return f"(r[{node.name!r}] == {want})"
        if isinstance(node, Not):
            return self.emit(node.operand, "F" if want else "T")
        if isinstance(node, BoolOp):
            joiner = " and " if (node.op == "and") == want else " or "
            mode = "T" if want else "F"
            return "(" + joiner.join(self.emit(o, mode) for o in node.operands) + ")"
        if isinstance(node, Compare):
            op = node.op if want else _NEGATE[node.op]
            return self.compare(node.left, op, node.right)
        if isinstance(node, In):
            positive = want != node.negated
            return self.membership(node, positive)
        if isinstance(node, IsNull):
            positive = want != node.negated
            return self.null_test(node.operand, positive)
        # any other boolean node: through its three-valued value
        return f"({self.V(node)} is {want})"

    def known(self, node: Node, var: str, expr: str) -> list[str]:
        """Conditions binding ``var`` to ``expr`` and checking it is not null."""
        if not _nullable(node):
            return []
        checks = [f"({var} := {expr}) is not None"]
        if node.ty is Ty.NUMBER:
            checks.append(f"{var} == {var}")
        return checks

    def compare(self, left: Node, op: str, right: Node) -> str:
        lv, rv = self.V(left), self.V(right)
        if isinstance(left, Literal) and left.value is None:
            return "False"
        if isinstance(right, Literal) and right.value is None:
            return "False"
        if self.fast and op in ("<", "<=", ">", ">="):
            # None < x raises TypeError: the caller falls back to the null-checking function
            return f"({lv} {op} {rv})"
        if op == "==" and not (_nullable(left) and _nullable(right)):
            # null == x is False and NaN == x is False: no check needed
            return f"({lv} == {rv})"
        a, b = self.var(), self.var()
        checks: list[str] = []
        if _nullable(left):
            checks.append(f"({a} := {lv}) is not None")
            if op in ("!=", "==") and left.ty is Ty.NUMBER:
                checks.append(f"{a} == {a}")
            lv = a
        if _nullable(right):
            checks.append(f"({b} := {rv}) is not None")
            if op in ("!=",) and right.ty is Ty.NUMBER:
                checks.append(f"{b} == {b}")
            rv = b
        checks.append(f"{lv} {op} {rv}")
        return "(" + " and ".join(checks) + ")"

    def membership(self, node: In, positive: bool) -> str:
        lv = self.V(node.left)
        if isinstance(node.left, Literal) and node.left.value is None:
            return "False"
        container = self.V(node.right)
        if node.right.ty is Ty.TAGS:
            container = f"({container} or ())"
        if positive:
            return f"({lv} in {container})"
        a = self.var()
        checks = self.known(node.left, a, lv)
        if checks:
            lv = a
        checks.append(f"{lv} not in {container}")
        return "(" + " and ".join(checks) + ")"

    def null_test(self, operand: Node, positive: bool) -> str:
        if operand.ty is Ty.TAGS:
            return "False" if positive else "True"
        if not _nullable(operand):
            return "False" if positive else "True"
        a = self.var()
        value = self.V(operand)
        if operand.ty is Ty.NUMBER:
            if positive:
                return f"(({a} := {value}) is None or {a} != {a})"
            return f"(({a} := {value}) is not None and {a} == {a})"
        return f"({value} is None)" if positive else f"({value} is not None)"


def compile_scalar(
    root: Node,
    *,
    as_value: bool = False,
    fast: bool = False,
    fallback: ScalarFn | None = None,
) -> tuple[ScalarFn, str]:
    """Compile a checked tree to ``fn(record, now)``; also return the generated source.

    A boolean tree compiles to a function returning True only when the condition is
    true (null counts as false) unless ``as_value``, which returns True/False/None.
    Other trees return their value, with NaN normalised to None.

    With ``fast``, ordered comparisons and ``+ - *`` skip their null checks: a null
    operand then raises TypeError (``None < 1`` does, for every value type of the
    language), and the caller re-evaluates with the checking function. Whenever the fast
    function returns, its result is the checking function's.

    With ``fallback``, the function takes ``now`` as optional and calls
    ``fallback(record, now)`` itself when the fast path raises, so callers need no
    wrapper (one Python call per record).
    """
    gen = _Gen(fast=fast)
    gen.root = root
    if root.ty is Ty.BOOL and not as_value:
        body = gen.emit(root, "T")
    else:
        body = f"_norm({gen.emit(root, 'V')})"
    if fallback is None:
        source = "".join(gen.defs) + f"def _fn(r, now):\n    return {body}\n"
    else:
        # an expression that uses time and got no `now` goes to the fallback, which says so
        guard = "    if now is None:\n        return _fallback(r, now)\n" if uses_now(root) else ""
        source = "".join(gen.defs) + (
            f"def _fn(r, now=None):\n{guard}"
            f"    try:\n        return {body}\n"
            "    except _RECOVER:\n        return _fallback(r, now)\n"
        )
    namespace: dict[str, Any] = {"__builtins__": {}}
    if fallback is not None:
        namespace["_fallback"] = fallback
        namespace["_RECOVER"] = (KeyError, TypeError, ArithmeticError, ValueError, AttributeError)
    namespace.update(_HELPERS)
    namespace.update(gen.consts)
    code = compile(source, "<ecomcrm expression>", "exec")
    exec(code, namespace)
    function: ScalarFn = namespace["_fn"]
    return function, source
