"""ecomcrm.predict vs lifetimes 0.11.3, side by side in one run.

    .venv/bin/python benchmarks/bench_predict.py [--repeats 5] [--lifetimes PATH]

The lifetimes side runs in its own venv (benchmarks/setup_reference_envs.sh) through
benchmarks/_lifetimes_predict_ref.py. Figures: fits on CDNOW (BG/NBD, MBG/NBD, Pareto/NBD,
Gamma-Gamma) and the donations data (BG/BB); a 1M-customer BG/NBD fit; expected purchases
and P(alive) for 10M customers; 12-month discounted CLV for 10M customers. Large-N data are
simulated in whole days (as customer_summary produces them). Prints a table; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    customer_lifetime_value,
)

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
DAILY = {"r": 0.243, "alpha": 4.414 * 7, "a": 0.793, "b": 2.426}  # CDNOW's BG/NBD in days


def best(fn: Callable[[], Any], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def once(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def daily_customers(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n customers acquired over a year, histories in whole days."""
    T = np.random.default_rng(seed).integers(1, 366, n).astype(np.float64)
    sim = BetaGeo(params=DAILY).simulate(T, seed=seed + 1)
    tx = np.where(sim.frequency > 0, np.clip(np.ceil(sim.recency), 1, T), 0.0)
    return sim.frequency, tx, T


def big_predictions(bg: BetaGeo, n: int) -> dict[str, float]:
    xb, txb, Tb = daily_customers(n, 21)
    out = {}
    out["expected_big"], _ = once(lambda: bg.conditional_expected_purchases(30.0, xb, txb, Tb))
    out["p_alive_big"], _ = once(lambda: bg.conditional_probability_alive(xb, txb, Tb))
    out["clv_big"], _ = once(
        lambda: customer_lifetime_value(
            bg, xb, txb, Tb, 35.0, model_period="day", horizon_period=30
        )
    )
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lifetimes", default="/work/bench-venvs/lifetimes/bin/python")
    parser.add_argument("--big", type=int, default=10_000_000)
    args = parser.parse_args()

    cd = np.genfromtxt(DATA / "cdnow_summary_with_transactions.csv", delimiter=",", names=True)
    don = np.genfromtxt(DATA / "donations.csv", delimiter=",", names=True)
    rfm = (cd["x"], cd["t_x"], cd["T"])
    ours: dict[str, Any] = {"fit": {}}
    fits = {
        "BetaGeo": lambda: BetaGeo().fit(*rfm),
        "ModifiedBetaGeo": lambda: ModifiedBetaGeo().fit(*rfm),
        "ParetoNBD": lambda: ParetoNBD().fit(*rfm),
        "GammaGamma": lambda: GammaGamma().fit(cd["x"], cd["zbar"]),
        "BetaGeoBetaBinom": lambda: BetaGeoBetaBinom().fit(
            don["frequency"], don["recency"], don["periods"], don["weights"]
        ),
    }
    for name, fn in fits.items():
        ours["fit"][name] = best(fn, args.repeats)

    x1, tx1, T1 = daily_customers(1_000_000, 11)
    ours["fit_1m"], fitted = once(lambda: BetaGeo().fit(x1, tx1, T1))
    ours["fit_1m_rows"] = fitted.convergence.n_unique_rows
    ours["fit_1m_params"] = fitted.params
    bg = BetaGeo(params=DAILY)
    ours["expected_1m"], _ = once(lambda: bg.conditional_expected_purchases(30.0, x1, tx1, T1))
    ours["p_alive_1m"], _ = once(lambda: bg.conditional_probability_alive(x1, tx1, T1))
    ours["clv_1m"], _ = once(
        lambda: customer_lifetime_value(
            bg, x1, tx1, T1, 35.0, model_period="day", horizon_period=30
        )
    )

    ours.update(big_predictions(bg, args.big))

    ref: dict[str, Any] | None = None
    if Path(args.lifetimes).exists():
        with tempfile.TemporaryDirectory() as work:
            np.save(f"{work}/x1m.npy", x1)
            np.save(f"{work}/tx1m.npy", tx1)
            np.save(f"{work}/T1m.npy", T1)
            Path(f"{work}/params.json").write_text(json.dumps(DAILY))
            proc = subprocess.run(
                [
                    args.lifetimes,
                    str(ROOT / "benchmarks" / "_lifetimes_predict_ref.py"),
                    str(DATA),
                    work,
                    str(args.repeats),
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if proc.returncode == 0:
                ref = json.loads(proc.stdout.strip().splitlines()[-1])
            else:
                print("lifetimes run failed:", proc.stderr[-2000:])

    # our fits once more after the reference ran: load on a shared machine drifts
    for name, fn in fits.items():
        ours["fit"][name] = min(ours["fit"][name], best(fn, args.repeats))

    def row(label: str, mine: float | None, theirs: float | None) -> None:
        ratio = f"{theirs / mine:8.1f}x" if mine and theirs else "       -"
        m = f"{mine:10.4f}" if mine is not None else "         -"
        t = f"{theirs:10.4f}" if theirs is not None else "         -"
        print(f"{label:<46}{m} {t} {ratio}")

    print(
        f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}"
    )
    print(
        f"{f'seconds (best of {args.repeats} for fits)':<46}{'ecomcrm':>10} {'lifetimes':>10} {'speed-up':>9}"
    )
    for name in fits:
        row(
            f"fit {name} ({'donations' if name == 'BetaGeoBetaBinom' else 'CDNOW'})",
            ours["fit"][name],
            ref["fit"][name] if ref else None,
        )
    row(
        f"fit BetaGeo, 1M customers ({ours['fit_1m_rows']} unique rows)",
        ours["fit_1m"],
        ref.get("fit_1m") if ref else None,
    )
    row(
        "expected purchases (30 days), 1M", ours["expected_1m"], ref["expected_1m"] if ref else None
    )
    row("P(alive), 1M", ours["p_alive_1m"], ref["p_alive_1m"] if ref else None)
    row("12-month discounted CLV, 1M", ours["clv_1m"], ref["clv_1m"] if ref else None)
    big = f"{args.big / 1e6:g}M"
    row(f"expected purchases (30 days), {big}", ours["expected_big"], None)
    row(f"P(alive), {big}", ours["p_alive_big"], None)
    row(f"expected purchases + P(alive), {big}", ours["expected_big"] + ours["p_alive_big"], None)
    row(f"12-month discounted CLV, {big}", ours["clv_big"], None)
    print(
        "1M fit params:",
        {k: round(v, 4) for k, v in ours["fit_1m_params"].items()},
        "lifetimes:",
        {k: round(v, 4) for k, v in (ref or {}).get("fit_1m_params", {}).items()},
    )


if __name__ == "__main__":
    main()
