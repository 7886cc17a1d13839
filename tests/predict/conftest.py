import json
from pathlib import Path

import numpy as np
import pytest

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="session")
def cdnow() -> dict[str, np.ndarray]:
    d = np.genfromtxt(DATA / "cdnow_summary_with_transactions.csv", delimiter=",", names=True)
    return {"frequency": d["x"], "recency": d["t_x"], "T": d["T"], "monetary_value": d["zbar"]}


@pytest.fixture(scope="session")
def donations() -> dict[str, np.ndarray]:
    d = np.genfromtxt(DATA / "donations.csv", delimiter=",", names=True)
    return {k: d[k] for k in ("frequency", "recency", "periods", "weights")}


@pytest.fixture(scope="session")
def reference() -> dict:
    return json.loads((DATA / "predict_lifetimes_reference.json").read_text())


@pytest.fixture(scope="session")
def fitted(cdnow, donations):
    from ecomcrm.predict import (
        BetaGeo,
        BetaGeoBetaBinom,
        GammaGamma,
        ModifiedBetaGeo,
        ParetoNBD,
    )

    rfm = (cdnow["frequency"], cdnow["recency"], cdnow["T"])
    return {
        "BetaGeo": BetaGeo().fit(*rfm),
        "ModifiedBetaGeo": ModifiedBetaGeo().fit(*rfm),
        "ParetoNBD": ParetoNBD().fit(*rfm),
        "GammaGamma": GammaGamma().fit(cdnow["frequency"], cdnow["monetary_value"]),
        "BetaGeoBetaBinom": BetaGeoBetaBinom().fit(
            donations["frequency"], donations["recency"], donations["periods"], donations["weights"]
        ),
    }
