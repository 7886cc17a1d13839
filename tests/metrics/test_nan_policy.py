"""One table-driven test of the shared ``nan_policy`` convention, for every metric function.

As scipy.stats' test_axis_nan_policy: every function decorated with the convention must have
a case here; for each of its row-aligned arrays a missing value must raise a ValidationError
naming that argument and row with ``nan_policy="raise"``, and with ``nan_policy="omit"`` give
exactly the result of the same call without that row.
"""

from __future__ import annotations

import inspect
from typing import Any

import attrs
import numpy as np
import pytest

from ecomcrm import metrics
from ecomcrm.errors import ValidationError
from ecomcrm.metrics._nan_policy import NAN_POLICY_DOC, REGISTRY

rng = np.random.default_rng(11)
N = 40
IDS = rng.integers(0, 8, N).astype(np.float64)
TS = np.datetime64("2024-01-01", "us") + (rng.integers(0, 120 * 86_400, N) * 1_000_000).astype(
    "m8[us]"
)
AMOUNT = np.round(rng.gamma(2.0, 20.0, N), 2)
EVENTS = np.array(
    rng.choice(
        ["Product Viewed", "Product Added", "Checkout Started", "Order Completed"], N
    ).tolist(),
    dtype=object,
)
SCORES = rng.integers(0, 11, N).astype(np.float64)
RFM = rng.integers(1, 6, N).astype(np.float64)
END = np.datetime64("2024-06-01")

# function name -> (row-aligned arrays, other keyword arguments)
CASES: dict[str, tuple[dict[str, np.ndarray], dict[str, Any]]] = {
    "customer_summary": (
        {"customer_id": IDS, "timestamp": TS, "amount": AMOUNT},
        {"observation_end": END, "freq": "W"},
    ),
    "calibration_and_holdout": (
        {"customer_id": IDS, "timestamp": TS, "amount": AMOUNT},
        {"calibration_end": np.datetime64("2024-03-01"), "observation_end": END},
    ),
    "rfm_scores": ({"recency": AMOUNT, "frequency": SCORES, "monetary": AMOUNT[::-1].copy()}, {}),
    "rfm_segments": ({"recency": RFM, "frequency": RFM[::-1].copy(), "monetary": RFM}, {}),
    "average_order_value": ({"amount": AMOUNT}, {}),
    "purchase_frequency": ({"customer_id": IDS, "amount": AMOUNT}, {}),
    "historical_clv": ({"customer_id": IDS, "amount": AMOUNT}, {"gross_margin": 0.3}),
    "simple_clv": ({"customer_id": IDS, "amount": AMOUNT}, {"lifespan": 2.0}),
    "retention_table": ({"customer_id": IDS, "timestamp": TS}, {"freq": "M"}),
    "retention_rate": ({"customer_id": IDS, "timestamp": TS}, {"freq": "W"}),
    "churn_rate": ({"customer_id": IDS, "timestamp": TS}, {"freq": "M", "active_periods": 2}),
    "repeat_purchase_rate": ({"customer_id": IDS, "amount": AMOUNT}, {}),
    "cohort_retention": ({"customer_id": IDS, "timestamp": TS}, {"freq": "M"}),
    "inter_purchase_times": ({"customer_id": IDS, "timestamp": TS}, {}),
    "expected_next_purchase": ({"customer_id": IDS, "timestamp": TS}, {}),
    "conversion_funnel": ({"customer_id": IDS, "event": EVENTS, "timestamp": TS}, {}),
    "cart_abandonment": (
        {"customer_id": IDS, "event": EVENTS, "timestamp": TS},
        {"abandon_after": np.timedelta64(3, "D")},
    ),
    "nps": ({"scores": SCORES}, {}),
    "nps_labels": ({"scores": SCORES}, {}),
}

FUNCTIONS = {f.__name__: f for f in REGISTRY}


def _missing_like(arr: np.ndarray) -> tuple[np.ndarray, Any]:
    if arr.dtype.kind == "M":
        return arr.copy(), np.datetime64("NaT")
    if arr.dtype.kind == "O":
        return arr.copy(), None
    return arr.astype(np.float64), np.nan


def _assert_same(a: Any, b: Any, where: str = "") -> None:
    if attrs.has(type(a)):
        for field in attrs.fields(type(a)):
            _assert_same(getattr(a, field.name), getattr(b, field.name), f"{where}.{field.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, float):
        np.testing.assert_equal(a, b, err_msg=where)
    else:
        assert a == b, where


def test_every_decorated_function_has_a_case_and_is_public() -> None:
    assert set(FUNCTIONS) == set(CASES)
    for name, func in FUNCTIONS.items():
        assert getattr(metrics, name) is func
        assert name in metrics.__all__


@pytest.mark.parametrize("name", sorted(CASES))
def test_signature_and_doc_are_shared(name: str) -> None:
    func = FUNCTIONS[name]
    param = inspect.signature(func).parameters["nan_policy"]
    assert param.kind is inspect.Parameter.KEYWORD_ONLY
    assert param.default == "raise"
    assert NAN_POLICY_DOC in (func.__doc__ or "")
    assert "{nan_policy}" not in (func.__doc__ or "")


@pytest.mark.parametrize("name", sorted(CASES))
def test_nan_policy_convention(name: str) -> None:
    func = FUNCTIONS[name]
    arrays, kwargs = CASES[name]
    assert set(arrays) == set(func.__nan_policy_fields__)  # type: ignore[attr-defined]
    for field in arrays:
        for row in (0, 17, N - 1):
            broken = dict(arrays)
            arr, missing = _missing_like(arrays[field])
            arr[row] = missing
            broken[field] = arr
            with pytest.raises(ValidationError) as info:
                func(**broken, **kwargs)
            assert (info.value.field, info.value.row) == (field, row), str(info.value)
            with pytest.raises(ValidationError):
                func(**broken, **kwargs, nan_policy="raise")
            omitted = func(**broken, **kwargs, nan_policy="omit")
            keep = np.arange(N) != row
            reference = func(**{k: v[keep] for k, v in arrays.items()}, **kwargs)
            _assert_same(omitted, reference, f"{name}({field} at {row})")


@pytest.mark.parametrize("name", sorted(CASES))
def test_bad_policy_and_length_mismatch(name: str) -> None:
    func = FUNCTIONS[name]
    arrays, kwargs = CASES[name]
    with pytest.raises(ValidationError, match="nan_policy"):
        func(**arrays, **kwargs, nan_policy="propagate")
    if len(arrays) > 1:
        last = sorted(arrays, key=list(arrays).index)[-1]
        short = dict(arrays)
        short[last] = arrays[last][:-3]
        with pytest.raises(ValidationError) as info:
            func(**short, **kwargs)
        assert info.value.field == last
        assert info.value.row == N - 3
