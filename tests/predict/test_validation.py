"""Bad input raises ValidationError naming the field, the value and the first offending row."""

import numpy as np
import pytest

from ecomcrm.errors import ValidationError
from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
    churn_risk_labels,
    customer_lifetime_value,
    period_days,
)

GOOD = ([0, 1, 2, 3], [0, 2.0, 5.0, 9.0], [10.0, 10.0, 10.0, 10.0])


@pytest.mark.parametrize("cls", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
@pytest.mark.parametrize(
    ("bad", "field", "row", "text"),
    [
        ((GOOD[0], [0, 2.0, 12.0, 9.0], GOOD[2]), "recency", 2, "must not exceed T"),
        (([0, 1, 0, 3], [0, 0, 0, 9.0], GOOD[2]), "recency", 1, "> 0 when frequency > 0"),
        (([0, -1, 2, 3], GOOD[1], GOOD[2]), "frequency", 1, "negative"),
        (([0, 1.5, 2, 3], GOOD[1], GOOD[2]), "frequency", 1, "whole number"),
        ((GOOD[0], GOOD[1], [10.0, np.nan, 10.0, 10.0]), "T", 1, "finite"),
        ((GOOD[0], [3.0, 2.0, 5.0, 9.0], GOOD[2]), "recency", 0, "must be 0 when frequency is 0"),
        ((GOOD[0], GOOD[1], [10.0, 10.0, -1.0, 10.0]), "T", 2, "negative"),
    ],
)
def test_rfm_validation(cls, bad, field, row, text):
    with pytest.raises(ValidationError, match=text) as info:
        cls().fit(*bad)
    assert info.value.field == field
    assert info.value.row == row
    assert info.value.entity == cls.__name__
    assert f"at row {row}" in str(info.value)


def test_lengths_must_match():
    with pytest.raises(ValidationError, match="length 3 but frequency has length 4") as info:
        BetaGeo().fit(GOOD[0], GOOD[1][:3], GOOD[2])
    assert info.value.field == "recency"


def test_many_offenders_are_listed():
    with pytest.raises(ValidationError, match=r"rows \[1, 2\]"):
        BetaGeo().fit([0, -1, -2, 0], [0, 0, 0, 0], [1.0, 1, 1, 1])


def test_weights_validation():
    with pytest.raises(ValidationError, match="negative") as info:
        BetaGeo().fit(*GOOD, weights=[1, 1, -1, 1])
    assert (info.value.field, info.value.row) == ("weights", 2)
    with pytest.raises(ValidationError, match="all be zero"):
        BetaGeo().fit(*GOOD, weights=[0, 0, 0, 0])


def test_predictions_validate_too():
    m = BetaGeo(params={"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.4})
    with pytest.raises(ValidationError) as info:
        m.conditional_probability_alive([1], [5.0], [4.0])
    assert info.value.field == "recency"
    with pytest.raises(ValidationError, match="t"):
        m.conditional_expected_purchases(-1, *GOOD)


def test_unfitted_and_bad_params():
    with pytest.raises(ValidationError, match="not fitted"):
        _ = BetaGeo().params
    with pytest.raises(ValidationError, match="exactly the parameters"):
        BetaGeo(params={"r": 1.0, "alpha": 1.0, "a": 1.0})
    with pytest.raises(ValidationError, match="positive") as info:
        ParetoNBD(params={"r": 1.0, "alpha": -1.0, "s": 1.0, "beta": 1.0})
    assert info.value.field == "alpha"


def test_bgbb_validation():
    with pytest.raises(ValidationError, match="exceed recency") as info:
        BetaGeoBetaBinom().fit([0, 3], [0, 2], [6, 6])
    assert info.value.row == 1
    with pytest.raises(ValidationError, match="whole number of periods"):
        BetaGeoBetaBinom().fit([0, 1], [0, 1.5], [6, 6])
    with pytest.raises(ValidationError, match="n_periods"):
        BetaGeoBetaBinom().fit([0, 1], [0, 7], [6, 6])


def test_gamma_gamma_validation():
    with pytest.raises(ValidationError, match="> 0 when frequency > 0") as info:
        GammaGamma().fit([1, 2, 3], [10.0, 0.0, 5.0])
    assert (info.value.field, info.value.row) == ("monetary_value", 1)
    with pytest.raises(ValidationError, match="at least one"):
        GammaGamma().fit([0, 0], [0.0, 0.0])


def test_shifted_beta_geo_validation():
    with pytest.raises(ValidationError, match="never increase") as info:
        ShiftedBetaGeo().fit_survival([100, 80, 90])
    assert info.value.row == 2
    with pytest.raises(ValidationError, match=">= 1"):
        ShiftedBetaGeo().fit([0, 1], [True, False])
    with pytest.raises(ValidationError, match="True/False"):
        ShiftedBetaGeo().fit([1, 2], [2, 0])


def test_clv_and_label_validation():
    m = BetaGeo(params={"r": 0.2, "alpha": 4.0, "a": 0.8, "b": 2.4})
    with pytest.raises(ValidationError, match="unknown time unit"):
        customer_lifetime_value(m, *GOOD, 10.0, model_period="fortnight")
    with pytest.raises(ValidationError, match="needs a BetaGeo"):
        customer_lifetime_value(
            GammaGamma(params={"p": 1, "q": 2, "v": 3}), *GOOD, 1.0, model_period="day"
        )
    with pytest.raises(ValidationError, match="horizon"):
        customer_lifetime_value(m, *GOOD, 10.0, model_period="day", horizon=0)
    with pytest.raises(ValidationError, match="spend"):
        customer_lifetime_value(m, *GOOD, [1.0, 2.0], model_period="day")
    with pytest.raises(ValidationError, match="probability"):
        churn_risk_labels([0.5, 1.5])
    with pytest.raises(ValidationError, match="one more label"):
        churn_risk_labels([0.5], labels=("a", "b"))
    assert period_days("M") == pytest.approx(30.4375)
