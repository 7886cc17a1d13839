"""Property: the scalar and vector backends agree row by row (nulls and NaN included).

Literals and data include the extremes: numbers at float64's edges and integers beyond
2**53, dates in years 1 and 9999 (arithmetic leaving the range is null), durations at
the edge of ``timedelta64[us]`` (longer results are null), ``now`` at both ends.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import warnings

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ecomcrm.errors import ExpressionError
from ecomcrm.segments import Expression, FeatureTable, Schema, compile_expression

SCHEMA = Schema(
    {
        "n1": "number",
        "n2": "number",
        "i1": "integer",
        "s1": "string",
        "s2": "category",
        "b1": "bool",
        "d1": "datetime",
        "d2": "datetime",
        "du1": "duration",
        "t1": "tags",
    }
)
NOW = dt.datetime(2024, 6, 1, 12, 0, tzinfo=dt.UTC)
FIRST = dt.datetime(1, 1, 1, tzinfo=dt.UTC)
LAST = dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=dt.UTC)
NOWS = st.one_of(st.just(NOW), st.sampled_from([FIRST, LAST]))
LONGEST_US = 2**63 - 1
WORDS = ["a", "b", "A", "ab", "", "vip", "Ba"]

# ---------------------------------------------------------------- expressions


def _lit_number() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["0", "1", "2", "-3", "1.5", "0.25", "100", "-0.5", "7"]),
        st.sampled_from(
            [
                "1e308",
                "-1e308",
                "9007199254740993",
                "4.9e-324",
                "0.0",
                "1e-400",
                "2e9",
                "4503599627370497",
            ]
        ),
    )


def _lit_string() -> st.SearchStrategy[str]:
    return st.sampled_from([repr(w) for w in WORDS])


@functools.cache  # one strategy object per (type, depth): the tree is built once
def expr(ty: str, depth: int) -> st.SearchStrategy[str]:
    leaves: dict[str, st.SearchStrategy[str]] = {
        "number": st.one_of(_lit_number(), st.sampled_from(["n1", "n2", "i1"])),
        "string": st.one_of(_lit_string(), st.sampled_from(["s1", "s2"])),
        "bool": st.sampled_from(["b1", "true", "false", "null"]),
        "datetime": st.sampled_from(
            [
                "d1",
                "d2",
                "now",
                "date('2024-02-29')",
                "date('0001-01-01')",
                "date('9999-12-31T23:59:59.999999')",
            ]
        ),
        "duration": st.sampled_from(
            ["du1", "5d", "12h", "30m", "3660000d", "1e10s", "0.0000001s", "1e-400d"]
        ),
    }
    if depth <= 0:
        return leaves[ty]
    sub = lambda t: expr(t, depth - 1)  # noqa: E731
    options: list[st.SearchStrategy[str]] = [leaves[ty]]
    if ty == "number":
        options += [
            st.tuples(sub("number"), st.sampled_from("+-*/%"), sub("number")).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            sub("number").map(lambda a: f"-({a})"),
            sub("number").map(lambda a: f"abs({a})"),
            st.tuples(sub("number"), sub("number")).map(lambda t: f"min({t[0]}, {t[1]})"),
            st.tuples(sub("number"), sub("number")).map(lambda t: f"max({t[0]}, {t[1]})"),
            st.tuples(sub("number"), sub("number")).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
            sub("string").map(lambda a: f"len({a})"),
            st.just("len(t1)"),
            sub("datetime").map(lambda a: f"days_since({a})"),
            sub("datetime").map(lambda a: f"hours_since({a})"),
            st.tuples(sub("duration"), sub("duration")).map(lambda t: f"(({t[0]}) / ({t[1]}))"),
        ]
    elif ty == "string":
        options += [
            sub("string").map(lambda a: f"lower({a})"),
            sub("string").map(lambda a: f"upper({a})"),
            st.tuples(sub("string"), sub("string")).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        ]
    elif ty == "datetime":
        options += [
            st.tuples(sub("datetime"), st.sampled_from(["+", "-"]), sub("duration")).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(
                sub("datetime"),
                st.sampled_from(["+ 1mo", "- 3mo", "+ 1y", "- 13mo", "+ 120000mo", "- 10000y"]),
            ).map(lambda t: f"({t[0]} {t[1]})"),
            st.tuples(sub("datetime"), sub("datetime")).map(lambda t: f"max({t[0]}, {t[1]})"),
            st.tuples(sub("datetime"), sub("datetime")).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        ]
    elif ty == "duration":
        options += [
            st.tuples(sub("datetime"), sub("datetime")).map(lambda t: f"({t[0]} - {t[1]})"),
            st.tuples(sub("duration"), st.sampled_from("+-"), sub("duration")).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            sub("duration").map(lambda a: f"abs({a})"),
        ]
    elif ty == "bool":
        comparable = st.sampled_from(["number", "string", "datetime", "duration"])
        options += [
            comparable.flatmap(
                lambda t: st.tuples(
                    expr(t, depth - 1),
                    st.sampled_from(["==", "!=", "<", "<=", ">", ">="]),
                    expr(t, depth - 1),
                )
            ).map(lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(sub("bool"), st.sampled_from(["and", "or"]), sub("bool")).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            sub("bool").map(lambda a: f"not ({a})"),
            st.tuples(sub("bool"), st.sampled_from(["==", "!="]), sub("bool")).map(
                lambda t: f"(({t[0]}) {t[1]} ({t[2]}))"
            ),
            st.tuples(
                sub("number"),
                st.sampled_from(["in", "not in"]),
                st.lists(_lit_number(), min_size=1, max_size=3),
            ).map(lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"),
            st.tuples(
                sub("string"),
                st.sampled_from(["in", "not in"]),
                st.lists(_lit_string(), min_size=1, max_size=3),
            ).map(lambda t: f"({t[0]} {t[1]} [{', '.join(t[2])}])"),
            st.tuples(sub("string"), st.sampled_from(["in", "not in"])).map(
                lambda t: f"({t[0]} {t[1]} t1)"
            ),
            st.tuples(
                sub("bool"),
                st.sampled_from(["in", "not in"]),
                st.sampled_from(["[true]", "[false]", "[true, false]"]),
            ).map(lambda t: f"(({t[0]}) {t[1]} {t[2]})"),
            st.tuples(
                st.sampled_from(["number", "string", "datetime", "bool", "duration"]).flatmap(
                    lambda t: expr(t, depth - 1)
                ),
                st.sampled_from(["is null", "is not null"]),
            ).map(lambda t: f"(({t[0]}) {t[1]})"),
            st.tuples(
                st.sampled_from(["contains", "starts_with", "ends_with"]),
                sub("string"),
                sub("string"),
            ).map(lambda t: f"{t[0]}({t[1]}, {t[2]})"),
            sub("string").map(lambda a: f"contains(t1, {a})"),
            st.tuples(sub("bool"), sub("bool")).map(lambda t: f"coalesce({t[0]}, {t[1]})"),
        ]
    return st.one_of(*options)


# ---------------------------------------------------------------- data

_BASE = dt.datetime(2023, 1, 31, tzinfo=dt.UTC)


def _datetimes() -> st.SearchStrategy[dt.datetime | None]:
    return st.one_of(
        st.none(),
        st.integers(0, 900 * 86_400_000_000).map(lambda us: _BASE + dt.timedelta(microseconds=us)),
        st.sampled_from(
            [
                dt.datetime(2024, 1, 31, tzinfo=dt.UTC),
                dt.datetime(2024, 2, 29, tzinfo=dt.UTC),
                FIRST,
                LAST,
                dt.datetime(9999, 12, 15, tzinfo=dt.UTC),
            ]
        ),
    )


_numbers = st.one_of(
    st.none(),
    st.just(math.nan),
    st.integers(-5, 5).map(float),
    st.floats(-1000, 1000, allow_nan=False).map(lambda f: round(f, 3)),
    st.sampled_from([math.inf, -math.inf, 1e308, -1e308, 5e-324, -0.0, 2.0**53 + 2]),
)
_integers = st.one_of(
    st.integers(-4, 4),
    st.sampled_from([2**53 + 1, 2**52 + 1, 2**62, -(2**63), 2**63 - 1]),
)
_durations = st.one_of(
    st.none(),
    st.integers(-(10**12), 10**12),
    st.sampled_from([LONGEST_US, -LONGEST_US, 2**62, 86_400_000_000 * 3_660_000]),
)


@st.composite
def tables(draw: st.DrawFn) -> FeatureTable:
    n = draw(st.integers(1, 12))
    col = lambda s: draw(st.lists(s, min_size=n, max_size=n))  # noqa: E731
    return FeatureTable(
        np.arange(n),
        {
            "n1": np.array([math.nan if v is None else v for v in col(_numbers)]),
            "n2": np.array([math.nan if v is None else v for v in col(_numbers)]),
            "i1": np.array(col(_integers), dtype=np.int64),
            "s1": col(st.one_of(st.none(), st.sampled_from(WORDS))),
            "s2": col(st.one_of(st.none(), st.sampled_from(WORDS))),
            "b1": np.array(col(st.sampled_from([True, False, None])), dtype=object),
            "d1": col(_datetimes()),
            "d2": col(_datetimes()),
            "du1": np.array(
                [
                    np.timedelta64("NaT", "us") if v is None else np.timedelta64(v, "us")
                    for v in col(_durations)
                ],
                dtype="timedelta64[us]",
            ),
            "t1": col(st.lists(st.sampled_from(WORDS), max_size=3, unique=True)),
        },
        SCHEMA,
    )


def _compile(text: str) -> Expression:
    """Compile a generated expression; skip those that compare with a null literal or
    compute a constant date or duration out of range (both are compile-time errors)."""
    try:
        return compile_expression(text, SCHEMA)
    except ExpressionError as exc:
        assume("null" not in exc.reason and "out of range" not in exc.reason)
        raise


@settings(max_examples=300)
@given(text=expr("bool", 3), table=tables(), now=NOWS)
def test_scalar_and_vector_backends_agree(text: str, table: FeatureTable, now: dt.datetime) -> None:
    compiled = _compile(text)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning either
        mask = compiled.mask(table, now=now)
    expected = [bool(compiled.evaluate(table.to_record(i), now=now)) for i in range(len(table))]
    assert mask.tolist() == expected, compiled.python_source


@settings(max_examples=100)
@given(text=expr("bool", 2), table=tables())
def test_not_is_the_complement_except_for_nulls(text: str, table: FeatureTable) -> None:
    yes = _compile(text).mask(table, now=NOW)
    no = compile_expression(f"not ({text})", SCHEMA).mask(table, now=NOW)
    null = compile_expression(f"({text}) is null", SCHEMA).mask(table, now=NOW)
    assert not np.any(yes & no)
    assert np.array_equal(yes | no | null, np.ones(len(table), bool))
    assert not np.any((yes | no) & null)
