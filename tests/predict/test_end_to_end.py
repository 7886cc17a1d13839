"""From the CDNOW transaction log through ecomcrm.metrics to the published BG/NBD fit."""

from pathlib import Path

import numpy as np
import pytest

from ecomcrm.predict import BetaGeo, GammaGamma, holdout_comparison

LOG = Path(__file__).resolve().parents[1] / "data" / "cdnow_sample.txt"


@pytest.mark.skipif(not LOG.exists(), reason="CDNOW transaction log not present")
def test_cdnow_log_to_published_fit_and_holdout():
    from ecomcrm.metrics import calibration_and_holdout

    raw = np.loadtxt(LOG, dtype=str)
    ids = raw[:, 0].astype(int)
    dates = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 2]], dtype="datetime64[us]")
    amount = raw[:, 4].astype(float)
    ch = calibration_and_holdout(
        ids,
        dates,
        amount,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        freq="D",
        freq_multiplier=7,
    )
    assert len(ch.frequency_cal) == 2357
    bg = BetaGeo().fit(ch.frequency_cal, ch.recency_cal, ch.T_cal)
    published = {"r": 0.243, "alpha": 4.414, "a": 0.793, "b": 2.426}
    for k, v in published.items():
        assert f"{bg.params[k]:.3g}" == f"{v:.3g}"
    assert bg.log_likelihood == pytest.approx(-9582.4, abs=0.1)
    c = holdout_comparison(
        bg, ch.frequency_cal, ch.recency_cal, ch.T_cal, ch.frequency_holdout, ch.duration_holdout
    )
    assert c.customers.sum() == 2357
    assert c.total_actual == 1882
    assert abs(c.total_error) < 0.15
    gg = GammaGamma().fit(ch.frequency_cal, ch.monetary_value_cal)
    assert gg.expected_average_spend() > 0
