"""Write tests/data/predict_lifetimes_reference.json with lifetimes 0.11.3's answers.

Run with the lifetimes reference venv (see benchmarks/README.md):

    /work/bench-venvs/lifetimes/bin/python benchmarks/make_predict_reference.py
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import pandas as pd
from lifetimes import (
    BetaGeoBetaBinomFitter,
    BetaGeoFitter,
    GammaGammaFitter,
    ModifiedBetaGeoFitter,
    ParetoNBDFitter,
)

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data"


def main() -> None:
    cd = pd.read_csv(DATA / "cdnow_summary_with_transactions.csv")
    x, tx, T = cd["x"], cd["t_x"], cd["T"]
    sub = cd.iloc[:60]
    sx, stx, sT, sm = sub["x"], sub["t_x"], sub["T"], sub["zbar"]
    out: dict = {"subset_rows": 60}
    for name, cls in (("BetaGeo", BetaGeoFitter), ("ModifiedBetaGeo", ModifiedBetaGeoFitter)):
        f = cls().fit(x, tx, T)
        out[name] = {
            "params": {k: float(v) for k, v in f.params_.items()},
            "standard_errors": {k: float(v) for k, v in f.standard_errors_.items()},
            "expected_10": f.conditional_expected_number_of_purchases_up_to_time(
                10, sx, stx, sT
            ).tolist(),
            "p_alive": np.asarray(f.conditional_probability_alive(sx, stx, sT)).tolist(),
            "new_expected": [
                float(f.expected_number_of_purchases_up_to_time(t)) for t in (1, 10, 39, 78)
            ],
            "p_n_39": [float(f.probability_of_n_purchases_up_to_time(39, n)) for n in range(8)],
        }
    p = ParetoNBDFitter().fit(x, tx, T)
    out["ParetoNBD"] = {
        "params": {k: float(v) for k, v in p.params_.items()},
        "expected_10": p.conditional_expected_number_of_purchases_up_to_time(
            10, sx, stx, sT
        ).tolist(),
        "p_alive": np.asarray(p.conditional_probability_alive(sx, stx, sT)).tolist(),
        "new_expected": [
            float(p.expected_number_of_purchases_up_to_time(t)) for t in (1, 10, 39, 78)
        ],
        "cond_p_n_10": [
            np.asarray(
                p.conditional_probability_of_n_purchases_up_to_time(
                    n, 10, sx[:10], stx[:10], sT[:10]
                )
            ).tolist()
            for n in range(4)
        ],
    }
    rep = cd[cd["x"] > 0]
    g = GammaGammaFitter().fit(rep["x"], rep["zbar"])
    bg = BetaGeoFitter().fit(x, tx, T)
    out["GammaGamma"] = {
        "params": {k: float(v) for k, v in g.params_.items()},
        "standard_errors": {k: float(v) for k, v in g.standard_errors_.items()},
        "spend": g.conditional_expected_average_profit(sx, sm).tolist(),
        "clv_W_12_001": g.customer_lifetime_value(
            bg, sx, stx, sT, sm, time=12, discount_rate=0.01, freq="W"
        ).tolist(),
        "clv_W_3_01": g.customer_lifetime_value(
            bg, sx, stx, sT, sm, time=3, discount_rate=0.1, freq="W"
        ).tolist(),
    }
    don = pd.read_csv(DATA / "donations.csv")
    b = BetaGeoBetaBinomFitter().fit(
        don["frequency"], don["recency"], don["periods"], weights=don["weights"]
    )
    out["BetaGeoBetaBinom"] = {
        "params": {k: float(v) for k, v in b.params_.items()},
        "standard_errors": {k: float(v) for k, v in b.standard_errors_.items()},
        "expected_10": np.asarray(
            b.conditional_expected_number_of_purchases_up_to_time(
                10, don["frequency"], don["recency"], don["periods"]
            )
        ).tolist(),
        "p_alive_0": np.asarray(
            b.conditional_probability_alive(0, don["frequency"], don["recency"], don["periods"])
        ).tolist(),
        "p_alive_5": np.asarray(
            b.conditional_probability_alive(5, don["frequency"], don["recency"], don["periods"])
        ).tolist(),
        "first_6": b.expected_number_of_transactions_in_first_n_periods(6)["model"].tolist(),
    }
    (DATA / "predict_lifetimes_reference.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
