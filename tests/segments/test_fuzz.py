"""Hostile input: arbitrary text only ever raises ExpressionError, and quickly."""

from __future__ import annotations

import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ExpressionError
from ecomcrm.segments import Schema, compile_expression

SCHEMA = Schema({"x": "number", "s": "string", "t": "tags", "d": "datetime", "b": "bool"})
ALPHABET = st.sampled_from(
    [
        *list("xstdb()[],'\"\\+-*/%<>=!.#\n 0123456789eEmoywhdn_"),
        "and",
        "or",
        "not",
        "in",
        "is",
        "null",
        "true",
        "false",
        "now",
        "lower(",
        "days_since(",
        "==",
        "3mo",
        "90d",
        "coalesce(",
        "'vip'",
        "1e308",
        "9" * 40,
    ]
)


def _try(text: str) -> None:
    try:
        expr = compile_expression(text, SCHEMA)
    except ExpressionError as exc:
        assert exc.message
        return
    # whatever compiles must evaluate without raising anything but ExpressionError
    with contextlib.suppress(ExpressionError):
        expr.evaluate({"x": 1.0, "s": "a", "t": ["vip"], "d": None, "b": True})


@settings(max_examples=400)
@given(st.text(max_size=80))
def test_arbitrary_text(text: str) -> None:
    _try(text)


@settings(max_examples=400)
@given(st.lists(ALPHABET, max_size=40).map(" ".join))
def test_token_soup(tokens: str) -> None:
    _try(tokens)


@settings(max_examples=30)
@given(st.integers(0, 5000), st.sampled_from(["(", "not ", "-", "[", "lower(", "x + "]))
def test_deep_nesting_is_rejected_not_crashing(count: int, opener: str) -> None:
    _try(opener * count + "x")


def test_long_inputs_are_linear() -> None:
    # 10,000 characters of every shape parse (or fail) without super-linear work
    for text in ["x > 1 and " * 999 + "true", "'" + "a" * 9_990 + "'", "x" * 10_000, "(" * 9_999]:
        _try(text)
