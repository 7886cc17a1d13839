"""What the HTML report adds to ``ecomcrm report``, side by side with the analysis it reports.

Run:  .venv/bin/python benchmarks/bench_report.py [--customers N]

A synthetic shop (default 20,000 customers, three years, no events) in a memory store.
Reference in the same run: ``analyze_store`` without the flows' backtest (order facts,
value models, feature table, segments, lifecycle stages), which every report pays; then
the report's figures (``build_report``: headline, trend, cohorts, RFM grid, groups, at-risk
contacts, line facts for products) and the page (``render_page``: seven matplotlib charts
as inline SVG). Wall and CPU seconds each: the machine may be shared.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import ecomcrm
from ecomcrm.cli._analysis import analyze_store
from ecomcrm.cli._report_data import build_report
from ecomcrm.cli._report_html import render_page
from ecomcrm.io import SyntheticShop
from ecomcrm.segments import classify_lifecycle


def timed(work: Callable[[], Any]) -> tuple[Any, float, float]:
    wall, cpu = time.perf_counter(), time.process_time()
    result = work()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    store = ecomcrm.open_store("memory://")
    SyntheticShop(customers=args.customers, seed=1, events=False).to_store(store)
    analysis, a_wall, a_cpu = timed(lambda: analyze_store(store, run_flows=False))
    masks = {name: analysis.membership[name] for name in analysis.membership}
    codes = classify_lifecycle(analysis.table, now=analysis.now)
    data, f_wall, f_cpu = timed(
        lambda: build_report(
            store, now=analysis.now, facts=analysis.facts, table=analysis.table,
            segments=masks, stage_codes=codes, flows=None, model_note="",
        )
    )  # fmt: skip
    page, p_wall, p_cpu = timed(lambda: render_page(data))
    print(f"{args.customers:,} customers, {analysis.orders:,} orders")
    print(f"{'step':<38}{'wall s':>9}{'CPU s':>9}{'CPU vs analysis':>17}")
    for name, wall, cpu in (
        ("analysis (reference)", a_wall, a_cpu),
        ("report figures (build_report)", f_wall, f_cpu),
        ("page with 7 SVG charts (render_page)", p_wall, p_cpu),
    ):
        print(f"{name:<38}{wall:>9.2f}{cpu:>9.2f}{cpu / a_cpu:>16.2f}x")
    print(f"page size {len(page.encode()) / 1024:,.0f} KiB")


if __name__ == "__main__":
    main()
