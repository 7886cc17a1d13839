"""Hostile input: the only outcomes are a value or ExpressionError, each quickly.

Whatever text goes in, ``compile_expression`` returns an Expression or raises
ExpressionError; whatever compiles, ``evaluate`` and ``mask`` (on records and tables that
hold extreme values, numpy warnings turned into errors) return or raise ExpressionError.
Three generators: arbitrary text and token soup (extreme literals among the tokens),
mutations of well-typed expressions, and well-typed expressions from the grammar.

Seeds: in CI (``CI=1``) tests/conftest.py loads the "ci" Hypothesis profile
(``derandomize=True``), so every run replays the same examples; locally each run explores
new ones. ``scripts/fuzz_conditions.py`` is the longer adversarial run (30,000
expressions) these tests were distilled from.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import time
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ExpressionError
from ecomcrm.segments import Expression, FeatureTable, Schema, compile_expression

UTC = dt.UTC
SCHEMA = Schema(
    {
        "x": "number",
        "i": "integer",
        "s": "string",
        "t": "tags",
        "d": "datetime",
        "e": "datetime",
        "u": "duration",
        "b": "bool",
    }
)
FIRST = dt.datetime(1, 1, 1, tzinfo=UTC)
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)
NOWS = (dt.datetime(2024, 6, 1, 12, tzinfo=UTC), FIRST, LAST)
LONGEST = dt.timedelta(microseconds=2**63 - 1)
RECORDS: list[dict[str, Any]] = [
    {},
    {"x": 1.5, "i": 3, "s": "a", "t": ["vip"], "d": NOWS[0], "e": NOWS[0], "u": dt.timedelta(1)},
    {"x": 1e308, "i": 2**63 - 1, "s": "", "t": [], "d": FIRST, "e": LAST, "u": LONGEST, "b": 1},
    {"x": -math.inf, "i": -(2**63), "s": "\0", "d": LAST, "e": FIRST, "u": -LONGEST, "b": 0},
    {"x": 5e-324, "i": 2**53 + 1, "u": dt.timedelta(microseconds=1), "b": None},
]
_EDGE = np.iinfo(np.int64).max
#: What no record can hold: datetimes and durations at the edges of int64 (NaT next to them).
EDGE_TABLE = FeatureTable(
    np.arange(3),
    {
        "x": np.array([np.inf, np.nan, -0.0]),
        "i": np.array([_EDGE, -_EDGE - 1, 0], dtype=np.int64),
        "s": ["a", None, ""],
        "t": [["a"], [], ["b", "a"]],
        "d": np.array([_EDGE, -_EDGE, 0], dtype=np.int64).view("datetime64[us]"),
        "e": np.array([-_EDGE, _EDGE, 2**62], dtype=np.int64).view("datetime64[us]"),
        "u": np.array([_EDGE, -_EDGE, -(2**62)], dtype=np.int64).view("timedelta64[us]"),
        "b": np.array([1, 0, -1], dtype=np.int8),
    },
    SCHEMA,
)
RECORD_TABLE = FeatureTable.from_records([{"id": k, **r} for k, r in enumerate(RECORDS)], SCHEMA)

#: Generous hang guard: one expression, compiled and run on every input, takes ~1 ms.
HANG_GUARD_S = 10.0

NUMBERS = ["0", "1", "-3", "1.5", ".5", "1e308", "4.9e-324", "9007199254740993", "2e9"]
HOSTILE_NUMBERS = ["1e400", "1e-400", "9" * 40, "9" * 4300, "1e99999999999999999999", "1E+309"]
DURATIONS = ["1d", "0s", "1.5h", "30m", "2w", "3660000d", "1e10s", "0.0000001s"]
HOSTILE_DURATIONS = ["1e400d", "99999999999999999999d", "9" * 4300 + "d", "3660001d", "-0d"]
MONTHS = ["1mo", "13mo", "10000y", "120000mo"]
HOSTILE_MONTHS = ["99999999999999999999y", "9" * 4300 + "mo", "10001y", "1.5mo", "1e3y"]
DATES = [
    "now",
    "d",
    "e",
    "date('2024-02-29')",
    "date('0001-01-01')",
    "date('9999-12-31T23:59:59.999999')",
    "date('9999-12-31T23:59:59-14:00')",
]
HOSTILE_DATES = ["date('0001-01-01T00:00:00+14:00')", "date('10000-01-01')", "date('0000-12-31')"]
TOKENS = [
    *NUMBERS, *HOSTILE_NUMBERS, *DURATIONS, *HOSTILE_DURATIONS, *MONTHS, *HOSTILE_MONTHS,
    *DATES, *HOSTILE_DATES, "'vip'", "''", "'\\0'", "x", "i", "s", "t", "u", "b",
    "(", ")", "[", "]", ",", "+", "-", "*", "/", "%", "==", "!=", "<", "<=", ">", ">=",
    "and", "or", "not", "in", "is", "null", "true", "false", "lower(", "abs(", "min(",
    "max(", "coalesce(", "len(", "days_since(", "hours_since(", "date(", "contains(",
    "'", '"', "\\", "#", "\n", ".", "e", "E", "1e", "mo", "=", "!", "**", "&&",
]  # fmt: skip


def run_everything(text: str) -> None:
    """Compile ``text``; run what compiles on every record, table and ``now``.

    Anything but a value or ExpressionError fails the test (numpy warnings included), as
    does a single expression taking longer than the hang guard.
    """
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        try:
            expr = compile_expression(text, SCHEMA)
        except ExpressionError as exc:
            assert exc.reason
            assert "\n" not in exc.reason
            if exc.line is not None:
                assert exc.column is not None
                assert exc.column >= 1
            return
        for now in NOWS:
            for record in RECORDS:
                _evaluate(expr, record, now)
            if expr.type == "bool":
                for table in (RECORD_TABLE, EDGE_TABLE):
                    try:
                        mask = expr.mask(table, now=now)
                    except ExpressionError:
                        continue
                    assert mask.dtype == np.bool_
                    assert mask.shape == (len(table),)
    elapsed = time.monotonic() - started
    assert elapsed < HANG_GUARD_S, (text, elapsed)


def _evaluate(expr: Expression, record: dict[str, Any], now: dt.datetime) -> None:
    with contextlib.suppress(ExpressionError):
        expr.evaluate(record, now=now)


# ---------------------------------------------------------------- grammar


def _join(parts: tuple[str, ...]) -> str:
    return "".join(parts)


@functools.cache  # one strategy object per (type, depth): the tree is built once
def expression(ty: str, depth: int) -> st.SearchStrategy[str]:
    """Well-typed expressions of type ``ty`` (extreme literals included)."""
    leaves = {
        "number": st.sampled_from([*NUMBERS, "x", "i", "len(s)", "len(t)"]),
        "duration": st.sampled_from([*DURATIONS, "u"]),
        "datetime": st.sampled_from(DATES),
        "string": st.sampled_from(["s", "'vip'", "''", "'\\0'"]),
        "bool": st.sampled_from(["b", "true", "false", "null"]),
    }
    if depth <= 0:
        return leaves[ty]

    def sub(kind: str) -> st.SearchStrategy[str]:
        return expression(kind, depth - 1)

    def form(*parts: st.SearchStrategy[str] | str) -> st.SearchStrategy[str]:
        return st.tuples(*(st.just(p) if isinstance(p, str) else p for p in parts)).map(_join)

    options: dict[str, list[st.SearchStrategy[str]]] = {
        "number": [
            form("(", sub("number"), st.sampled_from([" + ", " - ", " * ", " / ", " % "]), sub("number"), ")"),
            form("-", sub("number")),
            form(st.sampled_from(["min(", "max(", "coalesce("]), sub("number"), ", ", sub("number"), ")"),
            form("abs(", sub("number"), ")"),
            form(st.sampled_from(["days_since(", "hours_since("]), sub("datetime"), ")"),
            form("(", sub("duration"), " / ", sub("duration"), ")"),
        ],
        "duration": [
            form("(", sub("datetime"), " - ", sub("datetime"), ")"),
            form("(", sub("duration"), st.sampled_from([" + ", " - "]), sub("duration"), ")"),
            form("-", sub("duration")),
            form("abs(", sub("duration"), ")"),
            form(st.sampled_from(["min(", "max(", "coalesce("]), sub("duration"), ", ", sub("duration"), ")"),
        ],
        "datetime": [
            form("(", sub("datetime"), st.sampled_from([" + ", " - "]), sub("duration"), ")"),
            form("(", sub("datetime"), st.sampled_from([" + ", " - "]), st.sampled_from(MONTHS), ")"),
            form("(", sub("duration"), " + ", sub("datetime"), ")"),
            form(st.sampled_from(["min(", "max(", "coalesce("]), sub("datetime"), ", ", sub("datetime"), ")"),
        ],
        "string": [
            form(st.sampled_from(["lower(", "upper("]), sub("string"), ")"),
            form("coalesce(", sub("string"), ", ", sub("string"), ")"),
        ],
        "bool": [
            st.sampled_from(["number", "datetime", "duration", "string"]).flatmap(
                lambda kind: form(
                    "(", expression(kind, depth - 1),
                    st.sampled_from([" == ", " != ", " < ", " <= ", " > ", " >= "]),
                    expression(kind, depth - 1), ")",
                )
            ),
            form("(", sub("bool"), st.sampled_from([" and ", " or "]), sub("bool"), ")"),
            form("not ", sub("bool")),
            form("(", sub("number"), st.sampled_from([" in ", " not in "]), "[",
                 st.lists(st.sampled_from(NUMBERS), min_size=1, max_size=3).map(", ".join), "])"),
            form("(", sub("string"), st.sampled_from([" in ", " not in "]), "t)"),
            form("(", sub("number"), st.sampled_from([" is null)", " is not null)"])),
            form("(", sub("datetime"), st.sampled_from([" is null)", " is not null)"])),
            form("(", sub("duration"), st.sampled_from([" is null)", " is not null)"])),
        ],
    }  # fmt: skip
    return st.one_of(leaves[ty], *options[ty])


# ---------------------------------------------------------------- the tests


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_arbitrary_text(text: str) -> None:
    run_everything(text)


@settings(max_examples=300)
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", ""]))
def test_token_soup(tokens: list[str], separator: str) -> None:
    run_everything(separator.join(tokens))


@settings(max_examples=300)
@given(
    st.sampled_from(["bool", "bool", "number", "datetime", "duration", "string"]).flatmap(
        lambda ty: expression(ty, 4)
    )
)
def test_grammar(text: str) -> None:
    run_everything(text)


_EDITS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "repeat", "rotate"]),
        st.floats(0, 1),
        st.integers(1, 8),
        st.sampled_from(TOKENS),
    ),
    min_size=1,
    max_size=3,
)


def mutate(text: str, edits: list[tuple[str, float, int, str]]) -> str:
    """Apply edits at relative positions: delete a span, insert a token, repeat, rotate."""
    for kind, where, width, token in edits:
        a = min(int(where * len(text)), len(text))
        b = min(len(text), a + width)
        if kind == "delete":
            text = text[:a] + text[b:]
        elif kind == "insert":
            text = text[:a] + token + text[a:]
        elif kind == "repeat":
            text = text[:a] + text[a:b] * 3 + text[b:]
        else:
            text = text[a:] + " " + text[:a]
    return text


@settings(max_examples=300)
@given(expression("bool", 4), _EDITS)
def test_mutated_expressions(text: str, edits: list[tuple[str, float, int, str]]) -> None:
    run_everything(mutate(text, edits))


@pytest.mark.parametrize(
    "text",
    [
        "x > 1e400",
        "x > " + "9" * 4300,
        "x > " + "9" * 4301,
        "u > 1e400d",
        "u > 99999999999999999999d",
        "u > " + "9" * 4300 + "d",
        "d < now - " + "9" * 4300 + "mo",
        "d < now - 99999999999999999999y",
        "d > date('0001-01-01') - 1d",
        "d > date('0001-01-01T00:00:00+14:00')",
        "d < date('9999-12-31') + 1mo",
        "x > 1e99999999999999999999",
        "x * " + " * ".join(["9007199254740993"] * 60) + " > 0",
        "u > " + " + ".join(["3660000d"] * 40),
        "i * " + " * ".join(["i"] * 60) + " > 0",
        "(" * 9_999,
        "x > 1 and " * 999 + "true",
        "x" * 10_000,
        "'" + "a" * 9_990 + "'",
    ],
)
def test_found_by_the_adversarial_run(text: str) -> None:
    """Hostile inputs of the adversarial run; several raised OverflowError or ValueError before."""
    run_everything(text)


@settings(max_examples=30)
@given(st.integers(0, 5000), st.sampled_from(["(", "not ", "-", "[", "lower(", "x + ", "+"]))
def test_deep_nesting_is_rejected_not_crashing(count: int, opener: str) -> None:
    run_everything(opener * count + "x")
