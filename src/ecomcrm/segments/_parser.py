"""Recursive-descent parser: tokens to syntax tree, with bounded nesting."""

from __future__ import annotations

import datetime as dt
from typing import cast

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
)
from ecomcrm.segments._lexer import Tok, Token, error_at, tokenize
from ecomcrm.segments._types import Ty

#: Deepest nesting accepted (parentheses, operators, calls).
MAX_DEPTH = 64

_COMPARE = frozenset({"==", "!=", "<", "<=", ">", ">="})


class _Parser:
    def __init__(self, source: str) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.i = 0
        self.depth = 0

    # -- helpers --------------------------------------------------------------------------
    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def advance(self) -> Token:
        tok = self.tokens[self.i]
        if tok.kind is not Tok.EOF:
            self.i += 1
        return tok

    def at(self, kind: Tok, text: str | None = None) -> bool:
        tok = self.tokens[self.i]
        return tok.kind is kind and (text is None or tok.text == text)

    def at_op(self, text: str) -> bool:
        return self.at(Tok.OP, text)

    def at_kw(self, text: str) -> bool:
        return self.at(Tok.KEYWORD, text)

    def error(self, message: str, tok: Token | None = None) -> ExpressionError:
        tok = tok or self.tok
        return error_at(self.source, tok.pos, message)

    def describe(self, tok: Token) -> str:
        if tok.kind is Tok.EOF:
            return "end of expression"
        return f"{tok.text!r}"

    def expect_op(self, text: str, context: str) -> Token:
        if not self.at_op(text):
            raise self.error(f"expected {text!r} {context}, found {self.describe(self.tok)}")
        return self.advance()

    def enter(self, tok: Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise error_at(
                self.source, tok.pos, f"expression is nested too deeply (limit {MAX_DEPTH})"
            )

    def leave(self) -> None:
        self.depth -= 1

    def finish(self, node: Node) -> Node:
        kids = node.children()
        node.height = 1 + max((k.height for k in kids), default=0)
        if node.height > MAX_DEPTH:
            raise error_at(
                self.source, node.pos, f"expression is nested too deeply (limit {MAX_DEPTH})"
            )
        return node

    # -- grammar --------------------------------------------------------------------------
    def parse(self) -> Node:
        if self.at(Tok.EOF):
            raise self.error("empty expression")
        node = self.parse_or()
        if not self.at(Tok.EOF):
            tok = self.tok
            hint = ""
            if tok.kind in (Tok.IDENT, Tok.NUMBER, Tok.STRING, Tok.DURATION):
                hint = " (missing 'and' / 'or' or an operator?)"
            raise self.error(f"unexpected {self.describe(tok)}{hint}")
        return node

    def parse_or(self) -> Node:
        first = self.parse_and()
        if not self.at_kw("or"):
            return first
        operands = [first]
        while self.at_kw("or"):
            self.advance()
            operands.append(self.parse_and())
        return self.finish(BoolOp(first.pos, "or", tuple(operands)))

    def parse_and(self) -> Node:
        first = self.parse_not()
        if not self.at_kw("and"):
            return first
        operands = [first]
        while self.at_kw("and"):
            self.advance()
            operands.append(self.parse_not())
        return self.finish(BoolOp(first.pos, "and", tuple(operands)))

    def parse_not(self) -> Node:
        if self.at_kw("not"):
            tok = self.advance()
            self.enter(tok)
            operand = self.parse_not()
            self.leave()
            return self.finish(Not(tok.pos, operand))
        return self.parse_comparison()

    def parse_comparison(self) -> Node:
        left = self.parse_additive()
        tok = self.tok
        node: Node
        if tok.kind is Tok.OP and tok.text in _COMPARE:
            self.advance()
            right = self.parse_additive()
            node = self.finish(Compare(tok.pos, tok.text, left, right))
        elif self.at_kw("in"):
            self.advance()
            right = self.parse_additive()
            node = self.finish(In(tok.pos, left, right, False))
        elif self.at_kw("not"):
            self.advance()
            if not self.at_kw("in"):
                raise self.error(f"expected 'in' after 'not', found {self.describe(self.tok)}")
            self.advance()
            right = self.parse_additive()
            node = self.finish(In(tok.pos, left, right, True))
        elif self.at_kw("is"):
            self.advance()
            negated = False
            if self.at_kw("not"):
                self.advance()
                negated = True
            if not self.at_kw("null"):
                raise self.error(
                    f"expected 'null' after 'is', found {self.describe(self.tok)} "
                    "(use '==' to compare values)"
                )
            self.advance()
            node = self.finish(IsNull(tok.pos, left, negated))
        else:
            return left
        nxt = self.tok
        if (nxt.kind is Tok.OP and nxt.text in _COMPARE) or (
            nxt.kind is Tok.KEYWORD and nxt.text in ("in", "is")
        ):
            raise self.error(
                "comparisons cannot be chained; join them with 'and'",
                nxt,
            )
        return node

    def parse_additive(self) -> Node:
        node = self.parse_multiplicative()
        while self.tok.kind is Tok.OP and self.tok.text in ("+", "-"):
            tok = self.advance()
            right = self.parse_multiplicative()
            node = self.finish(Arith(tok.pos, tok.text, node, right))
        return node

    def parse_multiplicative(self) -> Node:
        node = self.parse_unary()
        while self.tok.kind is Tok.OP and self.tok.text in ("*", "/", "%"):
            tok = self.advance()
            right = self.parse_unary()
            node = self.finish(Arith(tok.pos, tok.text, node, right))
        return node

    def parse_unary(self) -> Node:
        if self.at_op("-") or self.at_op("+"):
            tok = self.advance()
            self.enter(tok)
            operand = self.parse_unary()
            self.leave()
            if tok.text == "+":
                return operand
            if isinstance(operand, Literal) and operand.lit_ty is Ty.NUMBER:
                value = operand.value
                assert isinstance(value, int | float)
                return Literal(tok.pos, -value, Ty.NUMBER)
            return self.finish(Neg(tok.pos, operand))
        return self.parse_primary()

    def parse_primary(self) -> Node:
        tok = self.tok
        kind = tok.kind
        if kind is Tok.NUMBER:
            self.advance()
            return Literal(tok.pos, tok.value, Ty.NUMBER)
        if kind is Tok.STRING:
            self.advance()
            return Literal(tok.pos, tok.value, Ty.STRING)
        if kind is Tok.DURATION:
            self.advance()
            unit, amount = cast("tuple[str, int]", tok.value)
            if unit == "us":
                return Literal(tok.pos, dt.timedelta(microseconds=amount), Ty.DURATION)
            return Literal(tok.pos, amount, Ty.MONTHS)
        if kind is Tok.KEYWORD:
            if tok.text in ("true", "false"):
                self.advance()
                return Literal(tok.pos, tok.text == "true", Ty.BOOL)
            if tok.text == "null":
                self.advance()
                return Literal(tok.pos, None, Ty.NULL)
            if tok.text == "now":
                self.advance()
                if self.at_op("("):
                    raise self.error("'now' is not a function; write 'now' without parentheses")
                return Now(tok.pos)
            raise self.error(f"unexpected keyword {tok.text!r}")
        if kind is Tok.IDENT:
            self.advance()
            if self.at_op("("):
                return self.parse_call(tok)
            return Field(tok.pos, tok.text)
        if kind is Tok.OP and tok.text == "(":
            self.advance()
            self.enter(tok)
            node = self.parse_or()
            self.leave()
            self.expect_op(")", "to close the '(' opened at column " + str(self.col(tok)))
            return node
        if kind is Tok.OP and tok.text == "[":
            return self.parse_list()
        if kind is Tok.EOF:
            raise self.error("unexpected end of expression; a value is missing")
        raise self.error(f"unexpected {self.describe(tok)}; expected a value")

    def col(self, tok: Token) -> int:
        start = self.source.rfind("\n", 0, tok.pos) + 1
        return tok.pos - start + 1

    def parse_call(self, name_tok: Token) -> Node:
        open_tok = self.advance()
        self.enter(open_tok)
        args: list[Node] = []
        if not self.at_op(")"):
            while True:
                args.append(self.parse_or())
                if self.at_op(","):
                    self.advance()
                    continue
                break
        self.expect_op(")", f"to close the call of {name_tok.text}()")
        self.leave()
        return self.finish(Call(name_tok.pos, name_tok.text, tuple(args)))

    def parse_list(self) -> Node:
        open_tok = self.advance()
        self.enter(open_tok)
        items: list[Node] = []
        if not self.at_op("]"):
            while True:
                items.append(self.parse_additive())
                if self.at_op(","):
                    self.advance()
                    if self.at_op("]"):
                        break
                    continue
                break
        self.expect_op("]", "to close the list")
        self.leave()
        return self.finish(ListLit(open_tok.pos, tuple(items)))


def parse(source: str) -> Node:
    """Parse ``source`` into a syntax tree.

    Raises:
        ExpressionError: With line, column and a caret line for syntax errors.
    """
    return _Parser(source).parse()
