"""Benchmark ecomcrm.recommend at the issue's sizes, side by side with naive references.

Run:  .venv/bin/python benchmarks/bench_recommend.py [--quick]

Stages (each in a fresh subprocess so peak memory is its own):
  affinity  co_purchase + item_similarity on 1,000,000 orders over 50,000 products
            (goal < 10 s, < 2 GB), plus a naive dict/Counter co-occurrence on a
            100,000-order subset against co_purchase on the same subset (ratio).
  topn      top-10 recommendations for 1,000,000 customers (goal < 30 s).
  evaluate  hit rate / precision@10 vs the popularity baseline on a time split.
Data are synthetic: 20-product categories, customers with a favourite category, Zipf-like
popularity, so co-purchase has structure to find.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter

import numpy as np

from ecomcrm.recommend import (
    Catalog,
    Interactions,
    co_purchase,
    evaluate,
    item_similarity,
    recommend,
)

N_PRODUCTS = 50_000
PER_CATEGORY = 20


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_orders(n_orders: int, n_customers: int, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    n_cat = N_PRODUCTS // PER_CATEGORY
    size = np.minimum(1 + rng.poisson(1.5, n_orders), 10)
    order = np.repeat(np.arange(n_orders, dtype=np.int64), size)
    cust_of_order = (n_customers * rng.random(n_orders) ** 1.3).astype(np.int64)
    cust_of_order[:n_customers] = np.arange(min(n_customers, n_orders))  # everyone shops once
    cust = cust_of_order[order]
    pref = (n_cat * rng.random(n_customers) ** 1.5).astype(np.int64)
    n_lines = order.size
    own = rng.random(n_lines) < 0.7
    cat = np.where(own, pref[cust], (n_cat * rng.random(n_lines) ** 2).astype(np.int64))
    product = cat * PER_CATEGORY + (PER_CATEGORY * rng.random(n_lines) ** 2).astype(np.int64)
    day = rng.integers(0, 730, n_orders)[order]
    ts = np.datetime64("2023-01-01", "us") + day * np.timedelta64(86_400_000_000, "us")
    return Interactions.from_arrays(
        basket=order,
        customer=cust,
        product=product,
        n_products=N_PRODUCTS,
        n_customers=n_customers,
        timestamp=ts,
    )


def catalog(seed: int = 1) -> Catalog:
    rng = np.random.default_rng(seed)
    return Catalog.from_arrays(
        category=np.arange(N_PRODUCTS) // PER_CATEGORY,
        in_stock=rng.random(N_PRODUCTS) > 0.05,
        consumable=rng.random(N_PRODUCTS) < 0.2,
    )


def naive_cooccurrence(it: Interactions) -> Counter[tuple[int, int]]:
    baskets: dict[int, set[int]] = {}
    for b, p in zip(it.basket.tolist(), it.product.tolist(), strict=True):
        baskets.setdefault(b, set()).add(p)
    pairs: Counter[tuple[int, int]] = Counter()
    for items in baskets.values():
        for a, b in itertools.permutations(sorted(items), 2):
            pairs[(a, b)] += 1
    return pairs


def stage_affinity(n_orders: int) -> dict[str, float]:
    it = make_orders(n_orders, n_customers=n_orders // 4)
    base = rss_mb()
    t0 = time.perf_counter()
    c0 = time.process_time()
    aff = co_purchase(it, min_count=2, top_k=50)
    t_aff = time.perf_counter() - t0
    t0 = time.perf_counter()
    sim = item_similarity(it, top_k=50)
    t_sim = time.perf_counter() - t0
    cpu = time.process_time() - c0
    out = {
        "cpu_s": cpu,
        "orders": n_orders,
        "lines": it.n_lines,
        "customers": it.n_customers,
        "co_purchase_s": t_aff,
        "item_similarity_s": t_sim,
        "total_s": t_aff + t_sim,
        "pairs_kept": float(aff.count.nnz),
        "sim_nnz": float(sim.nnz),
        "rss_before_mb": base,
        "peak_rss_mb": peak_mb(),
    }
    # side by side on a 100k-order subset: naive dict co-occurrence vs co_purchase (all pairs)
    sub = it.subset(it.basket < min(100_000, n_orders))
    t0 = time.perf_counter()
    ours = co_purchase(sub)
    t_ours = time.perf_counter() - t0
    t0 = time.perf_counter()
    naive = naive_cooccurrence(sub)
    t_naive = time.perf_counter() - t0
    assert len(naive) == ours.count.nnz
    a, b = next(iter(naive))
    assert ours.count[[a], [b]][0] == naive[(a, b)]
    out |= {"subset_orders": 100_000, "subset_ours_s": t_ours, "subset_naive_s": t_naive}
    return out


def stage_topn(n_customers: int) -> dict[str, float]:
    it = make_orders(int(n_customers * 2), n_customers=n_customers, seed=2)
    cat = catalog()
    seg = np.random.default_rng(3).integers(0, 8, n_customers)
    # returns: 2% of lines
    rng = np.random.default_rng(4)
    ret = rng.random(it.n_lines) < 0.02
    base = rss_mb()
    t0 = time.perf_counter()
    sim = item_similarity(it, top_k=50)
    t_sim = time.perf_counter() - t0
    t0 = time.perf_counter()
    c0 = time.process_time()
    recs = recommend(
        it,
        cat,
        n=10,
        similarity=sim,
        segment=seg,
        returned_customer=it.customer[ret],
        returned_product=it.product[ret],
        chunk_size=20_000,
    )
    t_rec = time.perf_counter() - t0
    cpu_rec = time.process_time() - c0
    filled = recs.items >= 0
    return {
        "customers": n_customers,
        "lines": it.n_lines,
        "item_similarity_s": t_sim,
        "recommend_s": t_rec,
        "recommend_cpu_s": cpu_rec,
        "share_slots_filled": float(filled.mean()),
        "share_slots_fallback": float(recs.fallback.mean()),
        "rss_before_mb": base,
        "peak_rss_mb": peak_mb(),
    }


def stage_evaluate(n_orders: int) -> dict[str, float]:
    it = make_orders(n_orders, n_customers=n_orders // 4, seed=5)
    t0 = time.perf_counter()
    ev = evaluate(it, catalog(), split_at="2024-10-01", n=10)
    return {
        "orders": n_orders,
        "evaluate_s": time.perf_counter() - t0,
        "customers_evaluated": ev.n_customers,
        "hit_rate": ev.hit_rate,
        "precision_at_10": ev.precision,
        "baseline_hit_rate": ev.baseline_hit_rate,
        "baseline_precision_at_10": ev.baseline_precision,
    }


def run_stage(stage: str, size: int) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--stage", stage, "--size", str(size)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage")
    ap.add_argument("--size", type=int)
    ap.add_argument("--quick", action="store_true", help="one tenth of the sizes")
    args = ap.parse_args()
    if args.stage:
        fn = {"affinity": stage_affinity, "topn": stage_topn, "evaluate": stage_evaluate}
        print(json.dumps(fn[args.stage](args.size)))
        return
    k = 10 if args.quick else 1
    print(f"load average: {os.getloadavg()}  cpus: {os.cpu_count()}")
    a = run_stage("affinity", 1_000_000 // k)
    print(
        f"affinity  {a['orders']:,} orders / {a['lines']:,} lines / {N_PRODUCTS:,} products: "
        f"co_purchase {a['co_purchase_s']:.2f} s + item_similarity {a['item_similarity_s']:.2f} s "
        f"= {a['total_s']:.2f} s wall, {a['cpu_s']:.2f} s CPU (goal < 10 s); peak RSS {a['peak_rss_mb']:.0f} MB "
        f"(data {a['rss_before_mb']:.0f} MB; goal < 2048 MB)"
    )
    print(
        f"  100k-order subset, all pairs: co_purchase {a['subset_ours_s']:.3f} s vs naive dict "
        f"{a['subset_naive_s']:.2f} s -> {a['subset_naive_s'] / a['subset_ours_s']:.0f}x faster"
    )
    t = run_stage("topn", 1_000_000 // k)
    print(
        f"top-10    {t['customers']:,} customers / {t['lines']:,} lines: recommend "
        f"{t['recommend_s']:.2f} s wall, {t['recommend_cpu_s']:.2f} s CPU (goal < 30 s) after item_similarity {t['item_similarity_s']:.2f} s; "
        f"slots filled {t['share_slots_filled']:.1%} ({t['share_slots_fallback']:.1%} from "
        f"popularity); peak RSS {t['peak_rss_mb']:.0f} MB"
    )
    e = run_stage("evaluate", 200_000 // k)
    print(
        f"evaluate  {e['orders']:,} orders, {e['customers_evaluated']:,} customers after the split: "
        f"hit rate {e['hit_rate']:.3f} vs popularity {e['baseline_hit_rate']:.3f}; precision@10 "
        f"{e['precision_at_10']:.4f} vs {e['baseline_precision_at_10']:.4f} ({e['evaluate_s']:.1f} s)"
    )


if __name__ == "__main__":
    main()
