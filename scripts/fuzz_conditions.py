"""Adversarial run of the condition language: finds what raises besides ExpressionError.

Generates expressions three ways (typed grammar with extreme literals, mutations of
grammar output, token soup), then compiles each, evaluates it on records holding
extreme values and masks a table of the same records, with every warning turned into an
error. It prints the classes of failures that are not ``ExpressionError``, the number of
rows where the scalar and vector backends disagree, and the slowest expression.

Usage::

    .venv/bin/python scripts/fuzz_conditions.py [--count 30000] [--seed 14]
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import math
import random
import re
import time
import traceback
import warnings
from typing import Any

import numpy as np

from ecomcrm.errors import ExpressionError
from ecomcrm.segments import FeatureTable, Schema, compile_expression

UTC = dt.UTC
SCHEMA = Schema(
    {
        "x": "number",
        "i": "integer",
        "s": "string",
        "c": "category",
        "t": "tags",
        "d": "datetime",
        "e": "datetime",
        "u": "duration",
        "b": "bool",
    }
)
RECORDS: list[dict[str, Any]] = [
    {},
    {
        "x": 250.0,
        "i": 3,
        "s": "Ann",
        "c": "US",
        "t": ["vip"],
        "d": dt.datetime(2024, 1, 31, tzinfo=UTC),
        "e": dt.datetime(2023, 3, 1, 12, tzinfo=UTC),
        "u": dt.timedelta(days=40),
        "b": True,
    },
    {
        "x": 1e308,
        "i": 2**62,
        "s": "",
        "c": "a",
        "t": [],
        "d": dt.datetime(1, 1, 1, tzinfo=UTC),
        "e": dt.datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        "u": dt.timedelta(days=100_000_000),
        "b": False,
    },
    {
        "x": -math.inf,
        "i": -(2**63),
        "s": "\0",
        "c": "zz",
        "t": ["a", "b"],
        "d": dt.datetime(9999, 12, 31, tzinfo=UTC),
        "e": dt.datetime(1, 1, 1, 0, 0, 1, tzinfo=UTC),
        "u": -dt.timedelta(days=100_000_000),
        "b": None,
    },
    {
        "x": 5e-324,
        "i": 2**53 + 1,
        "u": dt.timedelta(microseconds=1),
        "d": dt.datetime(1970, 1, 1, tzinfo=UTC),
    },
]
NOWS = [
    dt.datetime(2024, 6, 1, 12, tzinfo=UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC),
    dt.datetime(1, 1, 1, 0, 0, tzinfo=UTC),
]

NUMBERS = [
    "0", "1", "-3", "1.5", "0.0", "7", "1e308", "-1e308", "1e400", "1e-400", "2e9",
    "9007199254740993", "99999999999999999999", "9" * 40, "9" * 400, "9" * 4300,
    "1e99999999999999999999", "0e0", ".5", "1E+308", "4.9e-324",
]  # fmt: skip
DURATIONS = [
    "1d", "0d", "1.5h", "30m", "45s", "2w", "3660000d", "1e10s", "1e400d",
    "99999999999999999999d", "9" * 4300 + "d", "1e-400s", "0.0000001s", "1e15s", "5e5w",
]  # fmt: skip
MONTHS = ["1mo", "0y", "13mo", "120000mo", "10000y", "99999999999999999999y", "9" * 4300 + "mo"]
DATES = [
    "date('0001-01-01')",
    "date('9999-12-31T23:59:59.999999')",
    "date('2024-02-29')",
    "date('0001-01-01T00:00:00+14:00')",
    "date('9999-12-31T23:59:59-14:00')",
    "now",
    "d",
    "e",
]
STRINGS = ["'a'", "''", "'vip'", "'US'", "'\\0'", "s", "c"]


def gen(rng: random.Random, ty: str, depth: int) -> str:
    """A random (mostly well-typed) expression of type ``ty``."""
    leaf = depth <= 0 or rng.random() < 0.25
    if ty == "number":
        if leaf:
            return rng.choice([*NUMBERS, "x", "i", "len(s)", "len(t)"])
        k = rng.randrange(9)
        if k < 3:
            return f"({gen(rng, 'number', depth - 1)} {rng.choice('+-*/%')} {gen(rng, 'number', depth - 1)})"
        if k == 3:
            return f"-{gen(rng, 'number', depth - 1)}"
        if k == 4:
            f = rng.choice(["min", "max", "coalesce"])
            return f"{f}({gen(rng, 'number', depth - 1)}, {gen(rng, 'number', depth - 1)})"
        if k == 5:
            return f"abs({gen(rng, 'number', depth - 1)})"
        if k == 6:
            return f"{rng.choice(['days_since', 'hours_since'])}({gen(rng, 'datetime', depth - 1)})"
        if k == 7:
            return f"({gen(rng, 'duration', depth - 1)} / {gen(rng, 'duration', depth - 1)})"
        return f"len({gen(rng, 'string', depth - 1)})"
    if ty == "duration":
        if leaf:
            return rng.choice([*DURATIONS, "u"])
        k = rng.randrange(5)
        if k == 0:
            return f"({gen(rng, 'datetime', depth - 1)} - {gen(rng, 'datetime', depth - 1)})"
        if k == 1:
            return f"({gen(rng, 'duration', depth - 1)} {rng.choice('+-')} {gen(rng, 'duration', depth - 1)})"
        if k == 2:
            return f"-{gen(rng, 'duration', depth - 1)}"
        if k == 3:
            return f"abs({gen(rng, 'duration', depth - 1)})"
        f = rng.choice(["min", "max", "coalesce"])
        return f"{f}({gen(rng, 'duration', depth - 1)}, {gen(rng, 'duration', depth - 1)})"
    if ty == "datetime":
        if leaf:
            return rng.choice(DATES)
        k = rng.randrange(4)
        if k == 0:
            return f"({gen(rng, 'datetime', depth - 1)} {rng.choice('+-')} {gen(rng, 'duration', depth - 1)})"
        if k == 1:
            return f"({gen(rng, 'datetime', depth - 1)} {rng.choice('+-')} {rng.choice(MONTHS)})"
        if k == 2:
            return f"({rng.choice(DURATIONS)} + {gen(rng, 'datetime', depth - 1)})"
        f = rng.choice(["min", "max", "coalesce"])
        return f"{f}({gen(rng, 'datetime', depth - 1)}, {gen(rng, 'datetime', depth - 1)})"
    if ty == "string":
        if leaf:
            return rng.choice(STRINGS)
        f = rng.choice(["lower", "upper", "coalesce"])
        if f == "coalesce":
            return f"coalesce({gen(rng, 'string', depth - 1)}, {gen(rng, 'string', depth - 1)})"
        return f"{f}({gen(rng, 'string', depth - 1)})"
    # bool
    if leaf:
        return rng.choice(["b", "true", "false", "null"])
    k = rng.randrange(8)
    if k < 3:
        t = rng.choice(["number", "number", "datetime", "duration", "string"])
        op = rng.choice(["==", "!=", "<", "<=", ">", ">="])
        return f"({gen(rng, t, depth - 1)} {op} {gen(rng, t, depth - 1)})"
    if k == 3:
        return f"({gen(rng, 'bool', depth - 1)} {rng.choice(['and', 'or'])} {gen(rng, 'bool', depth - 1)})"
    if k == 4:
        return f"not {gen(rng, 'bool', depth - 1)}"
    if k == 5:
        t = rng.choice(["number", "datetime", "duration", "string", "bool"])
        return f"({gen(rng, t, depth - 1)} is {rng.choice(['', 'not '])}null)"
    if k == 6:
        t = rng.choice(["number", "string", "datetime", "duration"])
        pool = {
            "number": NUMBERS,
            "string": STRINGS[:5],
            "datetime": DATES[:5],
            "duration": DURATIONS,
        }
        items = ", ".join(rng.choice(pool[t]) for _ in range(rng.randint(1, 3)))
        return f"({gen(rng, t, depth - 1)} {rng.choice(['in', 'not in'])} [{items}])"
    return f"({gen(rng, 'string', depth - 1)} {rng.choice(['in', 'not in'])} t)"


TOKENS = [
    *NUMBERS, *DURATIONS, *MONTHS, *DATES, *STRINGS,
    "x", "i", "t", "u", "b", "(", ")", "[", "]", ",", "+", "-", "*", "/", "%",
    "==", "!=", "<", "<=", ">", ">=", "and", "or", "not", "in", "is", "null", "true",
    "false", "now", "lower(", "abs(", "min(", "max(", "coalesce(", "len(", "days_since(",
    "hours_since(", "date(", "contains(", "'", "\"", "#", "\n", ".", "e", "E", "1e", "mo",
]  # fmt: skip


def soup(rng: random.Random) -> str:
    """Random tokens joined by spaces (or nothing)."""
    sep = rng.choice([" ", "", " "])
    return sep.join(rng.choice(TOKENS) for _ in range(rng.randint(1, 25)))


def mutate(rng: random.Random, text: str) -> str:
    """One to three edits of ``text``: delete, insert a token, duplicate, swap halves."""
    for _ in range(rng.randint(1, 3)):
        if not text:
            return rng.choice(TOKENS)
        a = rng.randrange(len(text))
        b = min(len(text), a + rng.randint(1, 8))
        k = rng.randrange(4)
        if k == 0:
            text = text[:a] + text[b:]
        elif k == 1:
            text = text[:a] + rng.choice(TOKENS) + text[a:]
        elif k == 2:
            text = text[:a] + text[a:b] * rng.randint(2, 4) + text[b:]
        else:
            text = text[a:] + " " + text[:a]
    return text


def expressions(rng: random.Random, count: int) -> list[str]:
    """``count`` expressions: a third of each kind."""
    out = []
    for k in range(count):
        kind = k % 3
        if kind == 0:
            ty = "bool" if k % 2 else rng.choice(["number", "datetime", "duration", "string"])
            out.append(gen(rng, ty, rng.randint(1, 6)))
        elif kind == 1:
            out.append(mutate(rng, gen(rng, "bool", rng.randint(1, 4))))
        else:
            out.append(soup(rng))
    return out


def raw_table() -> FeatureTable:
    """A table of values no record can hold: datetimes and durations at int64's edges."""
    big = np.iinfo(np.int64).max
    return FeatureTable(
        np.arange(4),
        {
            "x": np.array([np.inf, -np.inf, np.nan, -0.0]),
            "i": np.array([big, -big - 1, 0, 2**53 + 1], dtype=np.int64),
            "s": ["a", None, "", "b"],
            "c": [None, "a", "b", ""],
            "t": [["a"], [], ["b", "a"], []],
            "d": np.array([big, -big, big - 1, 0], dtype=np.int64).view("datetime64[us]"),
            "e": np.array([-big, big, 1, -(2**62)], dtype=np.int64).view("datetime64[us]"),
            "u": np.array([big, -big, -big - 1, 2**62], dtype=np.int64).view("timedelta64[us]"),
            "b": np.array([1, 0, -1, 1], dtype=np.int8),
        },
        SCHEMA,
    )


def _key(stage: str, exc: BaseException) -> str:
    message = re.sub(r"\d+", "N", str(exc).splitlines()[0] if str(exc) else "")[:70]
    return f"{stage}: {type(exc).__name__}: {message}"


def run(count: int, seed: int) -> int:
    """Run the fuzz; print the failure classes; return the number of failures."""
    rng = random.Random(seed)
    table = FeatureTable.from_records([{"id": k, **r} for k, r in enumerate(RECORDS)], SCHEMA)
    records = [table.to_record(k) for k in range(len(table))]
    extreme = raw_table()
    failures: collections.Counter[str] = collections.Counter()
    examples: dict[str, tuple[str, str]] = {}
    disagreements: collections.Counter[str] = collections.Counter()
    disagreement_examples: dict[str, str] = {}
    compiled_count = 0
    slowest = (0.0, "")

    def fail(stage: str, exc: BaseException, text: str) -> None:
        key = _key(stage, exc)
        failures[key] += 1
        examples.setdefault(key, (text, "".join(traceback.format_exception(exc)[-3:])))

    for text in expressions(rng, count):
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                expr = compile_expression(text, SCHEMA)
            except ExpressionError:
                continue
            except Exception as exc:
                fail("compile", exc, text)
                continue
            compiled_count += 1
            if expr.type != "bool":
                for now in NOWS:
                    for record in records:
                        try:
                            expr.evaluate(record, now=now)
                        except ExpressionError:
                            pass
                        except Exception as exc:
                            fail("evaluate", exc, text)
                continue
            for now in NOWS:
                try:
                    expr.mask(extreme, now=now)
                except ExpressionError:
                    pass
                except Exception as exc:
                    fail("mask(int64 edges)", exc, text)
                scalar: list[object] = []
                for record in records:
                    try:
                        scalar.append(bool(expr.evaluate(record, now=now)))
                    except ExpressionError:
                        scalar.append("error")
                    except Exception as exc:
                        fail("evaluate", exc, text)
                        scalar.append("crash")
                try:
                    vector: list[object] = expr.mask(table, now=now).tolist()
                except ExpressionError:
                    vector = ["error"] * len(records)
                except Exception as exc:
                    fail("mask", exc, text)
                    continue
                if "crash" not in scalar and scalar != vector:
                    kind = "raises" if "error" in scalar or "error" in vector else "values"
                    disagreements[kind] += 1
                    disagreement_examples.setdefault(
                        kind, f"{text!r} now={now.isoformat()}: {scalar} vs {vector}"
                    )
        elapsed = time.perf_counter() - started
        if elapsed > slowest[0]:
            slowest = (elapsed, text)

    total = sum(failures.values())
    print(f"{count} expressions (seed {seed}), {compiled_count} compiled")
    print(f"non-ExpressionError failures: {total} in {len(failures)} classes")
    for key, n in failures.most_common():
        text, where = examples[key]
        print(f"  {n:6d}  {key}\n          e.g. {text[:160]!r}\n          {where.strip()[-300:]!r}")
    print(f"scalar/vector disagreements (expression x now): {sum(disagreements.values())}")
    for kind, n in disagreements.most_common():
        print(f"  {n:6d}  {kind}: {disagreement_examples[kind][:400]}")
    print(f"slowest expression: {slowest[0] * 1000:.1f} ms: {slowest[1][:120]!r}")
    return total


def main() -> None:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=30_000)
    parser.add_argument("--seed", type=int, default=14)
    args = parser.parse_args()
    run(args.count, args.seed)


if __name__ == "__main__":
    main()
