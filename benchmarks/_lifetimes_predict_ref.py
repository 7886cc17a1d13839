"""lifetimes 0.11.3 side of bench_predict.py; executed in the lifetimes venv.

Usage: <lifetimes python> _lifetimes_predict_ref.py DATA_DIR WORK_DIR REPEATS
Prints one JSON object of timings (seconds, best of REPEATS) and fitted parameters.
"""

import json
import signal
import sys
import time
import warnings

import numpy as np
import pandas as pd
from lifetimes import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)

warnings.filterwarnings("ignore")


def best(fn, repeats):
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def once(fn):
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def main():
    data, work, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cd = pd.read_csv(data + "/cdnow_summary_with_transactions.csv")
    don = pd.read_csv(data + "/donations.csv")
    rep = cd[cd["x"] > 0]
    out = {"fit": {}}
    fits = {
        "BetaGeo": lambda: BetaGeoFitter().fit(cd["x"], cd["t_x"], cd["T"]),
        "ModifiedBetaGeo": lambda: ModifiedBetaGeoFitter().fit(cd["x"], cd["t_x"], cd["T"]),
        "ParetoNBD": lambda: ParetoNBDFitter().fit(cd["x"], cd["t_x"], cd["T"]),
        "GammaGamma": lambda: GammaGammaFitter().fit(rep["x"], rep["zbar"]),
        "BetaGeoBetaBinom": lambda: BetaGeoBetaBinomFitter().fit(
            don["frequency"], don["recency"], don["periods"], weights=don["weights"]
        ),
    }
    for name, fn in fits.items():
        out["fit"][name] = best(fn, repeats)
    # large-N predictions on 1M customers (lifetimes needs pandas Series for CLV)
    x = np.load(work + "/x1m.npy")
    tx = np.load(work + "/tx1m.npy")
    T = np.load(work + "/T1m.npy")
    with open(work + "/params.json") as fh:
        params = json.load(fh)
    bg = BetaGeoFitter()
    bg.params_ = pd.Series(params)
    bg.predict = bg.conditional_expected_number_of_purchases_up_to_time  # set by fit() normally
    out["expected_1m"], _ = once(
        lambda: bg.conditional_expected_number_of_purchases_up_to_time(30.0, x, tx, T)
    )
    out["p_alive_1m"], _ = once(lambda: bg.conditional_probability_alive(x, tx, T))
    gg = GammaGammaFitter()
    gg.params_ = pd.Series({"p": 6.25, "q": 3.74, "v": 15.44})
    sx, stx, sT = pd.Series(x), pd.Series(tx), pd.Series(T)
    spend = pd.Series(np.full(len(x), 35.0))
    out["clv_1m"], _ = once(
        lambda: gg.customer_lifetime_value(
            bg, sx, stx, sT, spend, time=12, discount_rate=0.01, freq="D"
        )
    )
    # 1M-customer fit, capped so a slow reference cannot stall the run
    signal.signal(signal.SIGALRM, lambda *a: (_ for _ in ()).throw(TimeoutError()))
    signal.alarm(300)
    try:
        out["fit_1m"], f = once(lambda: BetaGeoFitter().fit(x, tx, T))
        out["fit_1m_params"] = {k: float(v) for k, v in f.params_.items()}
    except TimeoutError:
        out["fit_1m"] = None
    signal.alarm(0)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
