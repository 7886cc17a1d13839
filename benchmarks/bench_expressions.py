"""Condition language: scalar and vectorized evaluation, side by side with references.

Run:  .venv/bin/python benchmarks/bench_expressions.py [--rows 10000000] [--records 1000000]

Scalar (one record at a time, as the rules engine does):
  * rule-engine (the `rule-engine` package, Rule.matches)
  * a hand-written Python lambda for the same condition
  * ecomcrm: compile_expression(...).evaluate(record)
Vectorized (a whole customer table at once, as segments do):
  * a hand-written numpy mask over the same columns
  * ecomcrm: compile_expression(...).mask(table)
Prints records/s and the ratios. Not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from ecomcrm.segments import FeatureTable, StringColumn, TagsColumn, compile_expression

CONDITION = (
    "total_spent > 100 and orders_count >= 2 and days_since_last_order <= 90 "
    "and consent_email and country == 'US'"
)
SCHEMA = {
    "total_spent": "number",
    "orders_count": "integer",
    "days_since_last_order": "number",
    "consent_email": "bool",
    "country": "category",
    "tags": "tags",
}
COUNTRIES = ("AU", "BR", "CA", "DE", "ES", "FR", "GB", "IT", "JP", "MX", "NL", "SE", "US")


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def interleaved(fns: list[Callable[[], Any]], rounds: int) -> list[float]:
    """Best time of each function, timing them in turn each round (fair under shifting load)."""
    best = [float("inf")] * len(fns)
    for _ in range(rounds):
        for i, fn in enumerate(fns):
            start = time.perf_counter()
            fn()
            best[i] = min(best[i], time.perf_counter() - start)
    return best


def records(n: int, rng: np.random.Generator) -> list[dict[str, Any]]:
    spent = rng.gamma(2.0, 80.0, n).round(2)
    orders = rng.poisson(2.0, n)
    days = rng.integers(0, 400, n).astype(float)
    consent = rng.random(n) < 0.7
    country = rng.integers(0, len(COUNTRIES), n)
    return [
        {
            "total_spent": float(spent[i]),
            "orders_count": int(orders[i]),
            "days_since_last_order": float(days[i]),
            "consent_email": bool(consent[i]),
            "country": COUNTRIES[country[i]],
            "tags": ("vip",) if i % 10 == 0 else (),
        }
        for i in range(n)
    ]


def scalar(n_records: int, n_rule_engine: int) -> None:
    import rule_engine

    rng = np.random.default_rng(1)
    data = records(n_records, rng)
    rule = rule_engine.Rule(CONDITION.replace("'US'", '"US"'))
    hand: Callable[[dict[str, Any]], bool] = lambda c: (  # noqa: E731
        c["total_spent"] > 100
        and c["orders_count"] >= 2
        and c["days_since_last_order"] <= 90
        and c["consent_email"]
        and c["country"] == "US"
    )
    expr = compile_expression(CONDITION, SCHEMA)
    evaluate = expr.evaluate
    matches = rule.matches
    sub = data[:n_rule_engine]

    expected = [hand(r) for r in data]
    assert [evaluate(r) for r in data] == expected
    assert [matches(r) for r in sub] == expected[:n_rule_engine]

    t_rule, t_hand, t_ours = interleaved(
        [
            lambda: [matches(r) for r in sub],
            lambda: [hand(r) for r in data],
            lambda: [evaluate(r) for r in data],
        ],
        5,
    )
    r_rule, r_hand, r_ours = n_rule_engine / t_rule, n_records / t_hand, n_records / t_ours
    print(f"scalar: {CONDITION}")
    print(
        f"  rule-engine {rule_engine.__version__:>8}: {r_rule:>14,.0f} records/s ({n_rule_engine:,} records)"
    )
    print(f"  hand-written lambda  : {r_hand:>14,.0f} records/s ({n_records:,} records)")
    print(f"  ecomcrm evaluate     : {r_ours:>14,.0f} records/s ({n_records:,} records)")
    print(
        f"  ecomcrm / lambda time ratio: {t_ours / n_records / (t_hand / n_records):.2f}x (goal <= 2x)"
    )
    print(f"  ecomcrm vs rule-engine     : {r_ours / r_rule:.0f}x faster (goal >= 50x)")
    # nulls: a record whose compared field is None takes the null-checking path
    with_nulls = [dict(r, total_spent=None) if i % 10 == 0 else r for i, r in enumerate(data)]
    t_nulls = best_of(lambda: [evaluate(r) for r in with_nulls], 3)
    print(
        f"  ecomcrm evaluate, 10% null total_spent: {n_records / t_nulls:>14,.0f} records/s "
        f"({t_nulls / t_ours:.2f}x the time without nulls)"
    )


def vector(n_rows: int) -> None:
    rng = np.random.default_rng(2)
    spent = rng.gamma(2.0, 80.0, n_rows)
    spent[rng.random(n_rows) < 0.01] = np.nan
    orders = rng.poisson(2.0, n_rows).astype(np.int64)
    days = rng.integers(0, 400, n_rows).astype(np.float64)
    consent = (rng.random(n_rows) < 0.7).astype(np.int8)
    country = StringColumn(rng.integers(0, len(COUNTRIES), n_rows).astype(np.int32), COUNTRIES)
    n_tags = (np.arange(n_rows) % 10 == 0).astype(np.int64)
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(n_tags, out=indptr[1:])
    tags = TagsColumn(indptr, np.zeros(int(indptr[-1]), dtype=np.int32), ("vip",))
    table = FeatureTable(
        np.arange(n_rows),
        {
            "total_spent": spent,
            "orders_count": orders,
            "days_since_last_order": days,
            "consent_email": consent,
            "country": country,
            "tags": tags,
        },
        SCHEMA,
    )
    expr = compile_expression(CONDITION, SCHEMA)
    us = COUNTRIES.index("US")
    codes = country.codes

    def hand() -> np.ndarray:
        return (spent > 100) & (orders >= 2) & (days <= 90) & (consent == 1) & (codes == us)

    assert np.array_equal(hand(), expr.mask(table))
    t_hand, t_ours = interleaved([hand, lambda: expr.mask(table)], 7)
    print(f"vector: same condition over {n_rows:,} rows")
    print(f"  hand-written numpy mask: {t_hand * 1e3:8.1f} ms  {n_rows / t_hand:>16,.0f} rows/s")
    print(f"  ecomcrm mask           : {t_ours * 1e3:8.1f} ms  {n_rows / t_ours:>16,.0f} rows/s")
    print(f"  ecomcrm / hand-written time ratio: {t_ours / t_hand:.2f}x (goal <= 2x, < 0.2 s)")

    tag_expr = compile_expression("'vip' in tags and " + CONDITION, SCHEMA)
    t_tags = best_of(lambda: tag_expr.mask(table), 3)
    print(f"  ecomcrm mask with 'vip' in tags (6 clauses): {t_tags * 1e3:8.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--rule-engine-records", type=int, default=100_000)
    args = parser.parse_args()
    print(
        f"python {platform.python_version()}, numpy {np.__version__}, {os.cpu_count()} cpus, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    scalar(args.records, args.rule_engine_records)
    vector(args.rows)


if __name__ == "__main__":
    main()
