"""The full CDNOW master file through the public API: one odd customer never aborts it.

CDNOW (69,659 orders of 23,570 customers, 1997-1998) holds a customer whose repeat orders
are all $0. Gamma-Gamma cannot describe them; they are excluded from the spend model and
their CLV is null, counted on the table's ``metadata["model_coverage"]``.
"""

from __future__ import annotations

import gzip
import pathlib
from datetime import UTC, datetime

import numpy as np
import pytest

import ecomcrm
from ecomcrm.domain import Customer, Order
from ecomcrm.metrics import customer_summary
from ecomcrm.predict import BetaGeo, GammaGamma
from ecomcrm.segments import (
    ModelCoverage,
    build_customer_features,
    builtin_segments,
    evaluate_segments,
    fit_value_models,
)

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "cdnow_master.txt.gz"
NOW = datetime(1998, 7, 1, tzinfo=UTC)


def _raw() -> np.ndarray:
    with gzip.open(DATA, "rt") as fh:
        return np.loadtxt(fh, dtype=str, skiprows=1)


def _day(d: str) -> datetime:
    return datetime(int(d[:4]), int(d[4:6]), int(d[6:]), tzinfo=UTC)


@pytest.fixture(scope="module")
def cdnow_store() -> ecomcrm.storage.Store:
    raw = _raw()
    store = ecomcrm.open_store("memory://")
    ids, first = np.unique(raw[:, 0], return_index=True)
    store.customers.put_many(
        Customer(id=str(c), created_at=_day(str(raw[i, 1])))
        for c, i in zip(ids, first, strict=True)
    )
    store.orders.put_many(
        Order(
            id=f"o{i}",
            customer_id=str(c),
            placed_at=_day(str(d)),
            currency="USD",
            subtotal=str(a),
            total=str(a),
        )
        for i, (c, d, _, a) in enumerate(raw)
    )
    return store


def test_the_zero_spend_repeat_buyer_does_not_abort_the_feature_table(
    cdnow_store: ecomcrm.storage.Store,
) -> None:
    models = fit_value_models(cdnow_store.order_facts(), now=NOW)
    assert models.spend is not None and models.spend_excluded == 1
    table = build_customer_features(cdnow_store, now=NOW, models=models)
    coverage = table.metadata["model_coverage"]
    assert isinstance(coverage, ModelCoverage)
    assert coverage.customers == len(table) == 23_570
    assert coverage.buyers == coverage.purchase_scored == coverage.rfm_scored == 23_570
    assert coverage.spend_excluded == 1
    assert coverage.clv_scored == 23_570 - 1
    clv = np.asarray(table.column("predicted_clv"))
    unknown = np.flatnonzero(np.isnan(clv))
    assert len(unknown) == 1
    # the excluded customer: repeat orders that average $0, yet still scored by BG/NBD
    record = table.to_record(int(unknown[0]))
    assert record["orders_count"] >= 2 and record["p_alive"] is not None
    assert np.all(np.isfinite(clv[np.arange(len(clv)) != unknown[0]]))
    # the segments run over the whole table
    counts = evaluate_segments(table, builtin_segments(), now=NOW).counts()
    assert sum(counts.values()) > 0


def test_gamma_gamma_clv_on_cdnow_marks_the_zero_spend_buyer_unknown() -> None:
    raw = _raw()
    days = np.array([f"{d[:4]}-{d[4:6]}-{d[6:]}" for d in raw[:, 1]], dtype="M8[us]")
    s = customer_summary(
        raw[:, 0].astype(np.int64),
        days,
        raw[:, 3].astype(float),
        observation_end=np.datetime64("1998-07-01", "us"),
        freq="W",
    )
    outside = GammaGamma.outside_support(s.frequency, s.monetary_value)
    assert int(outside.sum()) == 1
    with pytest.raises(ecomcrm.errors.ValidationError, match="must be > 0 when frequency > 0"):
        GammaGamma().fit(s.frequency, s.monetary_value)
    gg = GammaGamma().fit(s.frequency, s.monetary_value, zero_spend="exclude")
    bg = BetaGeo().fit(s.frequency, s.recency, s.T)
    clv = gg.customer_lifetime_value(
        bg, s.frequency, s.recency, s.T, s.monetary_value, model_period="W", zero_spend="nan"
    )
    assert np.array_equal(np.isnan(clv), outside)
    # excluding the row is the same fit as leaving it out by hand
    keep = ~outside
    by_hand = GammaGamma().fit(s.frequency[keep], s.monetary_value[keep])
    assert gg.params == pytest.approx(by_hand.params, rel=1e-9)
