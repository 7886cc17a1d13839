"""The rules engine against an older tree, in one run: ``bench_rules.py --handle-only`` both ways.

Issue 21 measures the engine against its base commit: the goal is a ratio, and on a shared
machine only figures taken side by side mean anything. This script runs
``bench_rules.py --handle-only`` alternately with the older tree's ``src`` on
``PYTHONPATH`` and with this tree (same interpreter, same events), ``--rounds`` times, and
prints each round and the median of every figure (wall and CPU events/s) with the ratio
new / old. The action counts must agree: the same events give the same actions.

Run:  git worktree add /tmp/base0 9f737da
      .venv/bin/python benchmarks/compare_engine.py --old /tmp/base0/src [--events 50000]
      [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parent / "src"
LINE = re.compile(
    r"^\s+(\S.*?)\s{2,}([\d,]+) events/s wall\s+([\d,]+) events/s CPU\s+\(([\d,]+) actions\)"
)


def run(src: Path, events: int) -> dict[str, tuple[float, float, int]]:
    """One ``bench_rules.py --handle-only`` run with ``src`` first on the path, by figure."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    probe = subprocess.run(
        [sys.executable, "-c", "import ecomcrm; print(ecomcrm.__file__)"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip().startswith(str(src)), probe.stdout  # the tree really used
    out = subprocess.run(
        [sys.executable, str(HERE / "bench_rules.py"), "--events", str(events), "--handle-only"],
        env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found: dict[str, tuple[float, float, int]] = {}
    for line in out.splitlines():
        match = LINE.match(line)
        if match:
            label, wall, cpu, actions = match.groups()
            found[label.strip()] = (
                float(wall.replace(",", "")),
                float(cpu.replace(",", "")),
                int(actions.replace(",", "")),
            )
    return found


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--old", type=Path, required=True, help="the older tree's src directory")
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min)")
    print(f"old: {args.old}   new: {SRC}   {args.events:,} events, {args.rounds} rounds")
    old: dict[str, list[tuple[float, float, int]]] = {}
    new: dict[str, list[tuple[float, float, int]]] = {}
    for n in range(1, args.rounds + 1):
        for name, src, into in (("old", args.old, old), ("new", SRC, new)):
            for label, figures in run(src, args.events).items():
                into.setdefault(label, []).append(figures)
                wall, cpu, actions = figures
                print(f"  round {n} {name} {label:<28}{wall:>9,.0f} wall {cpu:>9,.0f} CPU"
                      f"  ({actions:,} actions)")  # fmt: skip
    print("medians (events/s), new / old:")
    for label, runs in new.items():
        before = old[label]
        assert {r[2] for r in runs} == {r[2] for r in before}, "the actions differ"
        ow, nw = (statistics.median(r[0] for r in x) for x in (before, runs))
        oc, nc = (statistics.median(r[1] for r in x) for x in (before, runs))
        print(f"  {label:<28} wall {ow:>8,.0f} -> {nw:>8,.0f} ({nw / ow:.2f}x)"
              f"   CPU {oc:>8,.0f} -> {nc:>8,.0f} ({nc / oc:.2f}x)")  # fmt: skip


if __name__ == "__main__":
    main()
