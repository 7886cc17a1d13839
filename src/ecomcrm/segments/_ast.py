"""Syntax tree of the condition language.

Nodes are small mutable records: the parser builds them, the type checker fills in
``ty`` (and rewrites nothing else), the backends read them. Every node knows the
character offset ``pos`` where it starts, for error messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ecomcrm.segments._types import Ty


@dataclass(slots=True, eq=False)
class Node:
    """Base of all nodes."""

    pos: int
    ty: Ty = field(default=Ty.NULL, init=False)
    height: int = field(default=1, init=False)

    def children(self) -> tuple[Node, ...]:
        """Direct sub-nodes."""
        return ()


@dataclass(slots=True, eq=False)
class Literal(Node):
    """A constant: number, string, boolean, null, duration (microseconds) or months."""

    value: object
    lit_ty: Ty


@dataclass(slots=True, eq=False)
class Field(Node):
    """A reference to a field of the schema."""

    name: str


@dataclass(slots=True, eq=False)
class Now(Node):
    """The evaluation time."""


@dataclass(slots=True, eq=False)
class ListLit(Node):
    """A list of constants, the right side of ``in``."""

    items: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.items


@dataclass(slots=True, eq=False)
class Neg(Node):
    """Unary minus."""

    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(slots=True, eq=False)
class Not(Node):
    """Logical ``not`` (three-valued)."""

    operand: Node

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(slots=True, eq=False)
class BoolOp(Node):
    """``and`` / ``or`` over two or more operands."""

    op: str
    operands: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.operands


@dataclass(slots=True, eq=False)
class Arith(Node):
    """``+ - * / %``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(slots=True, eq=False)
class Compare(Node):
    """``== != < <= > >=``."""

    op: str
    left: Node
    right: Node

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(slots=True, eq=False)
class In(Node):
    """``x in [..]``, ``'vip' in tags`` and their ``not in`` forms."""

    left: Node
    right: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.left, self.right)


@dataclass(slots=True, eq=False)
class IsNull(Node):
    """``x is null`` / ``x is not null``."""

    operand: Node
    negated: bool

    def children(self) -> tuple[Node, ...]:
        return (self.operand,)


@dataclass(slots=True, eq=False)
class Call(Node):
    """A call of a built-in function."""

    name: str
    args: tuple[Node, ...]

    def children(self) -> tuple[Node, ...]:
        return self.args


def walk(node: Node) -> list[Node]:
    """All nodes of a tree, parents before children (iterative, no recursion limit)."""
    out: list[Node] = []
    stack = [node]
    while stack:
        current = stack.pop()
        out.append(current)
        stack.extend(reversed(current.children()))
    return out


def is_row_independent(node: Node) -> bool:
    """True when the node's value is the same for every row (no field reference)."""
    return not any(isinstance(n, Field) for n in walk(node))


def uses_now(node: Node) -> bool:
    """True when the node refers to ``now`` (directly or through a ``*_since`` function)."""
    return any(
        isinstance(n, Now) or (isinstance(n, Call) and n.name in ("days_since", "hours_since"))
        for n in walk(node)
    )
