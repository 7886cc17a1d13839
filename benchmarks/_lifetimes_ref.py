"""Run lifetimes 0.11.3 on arrays saved by bench_metrics.py; executed in the lifetimes venv.

Usage (bench_metrics.py does this): <lifetimes python> _lifetimes_ref.py DIR WHAT OBS_END [CAL_END]
where DIR holds ids.npy, ts.npy, amount.npy and WHAT is "summary" or "holdout". Prints one
JSON line: seconds, extra peak RSS in MiB, and checksums of the result columns.
"""

import json
import resource
import sys
import time

import numpy as np
import pandas as pd
from lifetimes.utils import calibration_and_holdout_data, summary_data_from_transaction_data


def rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main():
    folder, what, obs_end = sys.argv[1], sys.argv[2], sys.argv[3]
    df = pd.DataFrame(
        {
            "id": np.load(folder + "/ids.npy"),
            "date": np.load(folder + "/ts.npy").astype("M8[ns]"),
            "amount": np.load(folder + "/amount.npy"),
        }
    )
    before = rss_mib()
    t0 = time.perf_counter()
    if what == "summary":
        out = summary_data_from_transaction_data(
            df, "id", "date", "amount", observation_period_end=obs_end, freq="D"
        )
        cols = ["frequency", "recency", "T", "monetary_value"]
    else:
        out = calibration_and_holdout_data(
            df,
            "id",
            "date",
            calibration_period_end=sys.argv[4],
            observation_period_end=obs_end,
            freq="D",
            monetary_value_col="amount",
        )
        cols = ["frequency_cal", "recency_cal", "T_cal", "monetary_value_cal", "frequency_holdout"]
    seconds = time.perf_counter() - t0
    sums = {c: float(out[c].sum()) for c in cols}
    print(
        json.dumps(
            {"seconds": seconds, "peak_mib": rss_mib() - before, "rows": len(out), "sums": sums}
        )
    )


if __name__ == "__main__":
    main()
