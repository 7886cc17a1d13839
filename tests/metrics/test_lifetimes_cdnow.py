"""customer_summary and calibration_and_holdout give lifetimes 0.11.3's numbers on CDNOW."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from _metrics_cdnow import load_expected, load_transactions

from ecomcrm.metrics import calibration_and_holdout, customer_summary

RTOL = 1e-12

SUMMARY_CASES: dict[str, dict[str, Any]] = {
    "summary_D": {"freq": "D", "observation_end": "1998-06-30"},
    "summary_W": {"freq": "W", "observation_end": "1998-06-30"},
    "summary_M": {"freq": "M", "observation_end": "1998-06-30"},
    "summary_D_truncated": {"freq": "D", "observation_end": "1997-09-30", "after_end": "drop"},
    "summary_W_mult": {"freq": "W", "observation_end": "1998-06-30", "freq_multiplier": 4},
    "summary_D_first": {
        "freq": "D",
        "observation_end": "1998-06-30",
        "include_first_transaction": True,
    },
}


@pytest.fixture(scope="module")
def cdnow() -> tuple[Any, Any, Any]:
    return load_transactions()


@pytest.mark.parametrize("case", sorted(SUMMARY_CASES))
def test_customer_summary_matches_lifetimes(case: str, cdnow: tuple[Any, Any, Any]) -> None:
    ids, ts, amounts = cdnow
    expected = load_expected(case)
    got = customer_summary(ids, ts, amounts, **SUMMARY_CASES[case])
    np.testing.assert_array_equal(got.customer_id, expected["customer_id"].astype(np.int64))
    np.testing.assert_array_equal(got.frequency, expected["frequency"])
    np.testing.assert_allclose(got.recency, expected["recency"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(got.T, expected["T"], rtol=RTOL, atol=0)
    np.testing.assert_allclose(
        got.monetary_value, expected["monetary_value"], rtol=RTOL, atol=1e-12
    )


def test_cdnow_summary_is_shuffle_invariant(cdnow: tuple[Any, Any, Any]) -> None:
    ids, ts, amounts = cdnow
    order = np.random.default_rng(3).permutation(len(ids))
    a = customer_summary(ids, ts, amounts, observation_end="1998-06-30", freq="W")
    b = customer_summary(
        ids[order], ts[order], amounts[order], observation_end="1998-06-30", freq="W"
    )
    for name, arr in a.to_dict().items():
        other = getattr(b, name)
        if arr.dtype.kind in "fc":
            np.testing.assert_allclose(other, arr, rtol=1e-12, err_msg=name)
        else:
            np.testing.assert_array_equal(other, arr, err_msg=name)


@pytest.mark.parametrize("freq", ["D", "W", "M"])
def test_calibration_and_holdout_matches_lifetimes(freq: str, cdnow: tuple[Any, Any, Any]) -> None:
    ids, ts, amounts = cdnow
    expected = load_expected(f"holdout_{freq}")
    got = calibration_and_holdout(
        ids,
        ts,
        amounts,
        calibration_end="1997-09-30",
        observation_end="1998-06-30",
        freq=freq,  # type: ignore[arg-type]
    )
    np.testing.assert_array_equal(got.customer_id, expected["customer_id"].astype(np.int64))
    for name in (
        "frequency_cal",
        "recency_cal",
        "T_cal",
        "monetary_value_cal",
        "frequency_holdout",
        "monetary_value_holdout",
    ):
        np.testing.assert_allclose(
            getattr(got, name), expected[name], rtol=RTOL, atol=1e-12, err_msg=name
        )
    assert np.all(expected["duration_holdout"] == got.duration_holdout)
