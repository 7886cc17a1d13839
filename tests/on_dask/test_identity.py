"""ecomcrm.dask equals the single-machine functions, on the synchronous scheduler.

Summaries and RFM scores exactly; fits and scores within 1e-9 relative (in practice they are
bit-for-bit equal too: the fits see the same compressed table).
"""

from __future__ import annotations

from pathlib import Path

import dask.dataframe as dd
import numpy as np
import pandas as pd
import pytest

import ecomcrm.dask as ed
from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.metrics import calibration_and_holdout, customer_summary, rfm_scores, rfm_segments
from ecomcrm.predict import (
    BetaGeo,
    BetaGeoBetaBinom,
    GammaGamma,
    ModifiedBetaGeo,
    ParetoNBD,
    ShiftedBetaGeo,
    churn_risk_labels,
)
from ecomcrm.segments import FeatureTable, compile_expression

from .conftest import RATES, converted, transactions

pytestmark = pytest.mark.usefixtures("synchronous")
END = np.datetime64("2024-12-31T23:59", "us")
CAL = np.datetime64("2024-09-30T23:59", "us")


def by_id(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values("customer_id", kind="stable").reset_index(drop=True)


def assert_same(frame: pd.DataFrame, reference: dict[str, np.ndarray]) -> None:
    got = by_id(frame)
    assert len(got) == len(reference["customer_id"])
    for name, want in reference.items():
        col = got[name].to_numpy()
        if want.dtype.kind == "M":
            col = col.astype(want.dtype)
        assert np.array_equal(col, want), name  # exact, bit for bit


def parts_of(tx: pd.DataFrame, n: int = 5, **kw: object) -> ed.CustomerPartitions:
    return ed.partition_transactions(
        tx, npartitions=n, currency="currency", to_currency="EUR", rates=RATES, **kw
    )


def test_summary_and_calibration_equal_single_machine_across_files(
    tx: pd.DataFrame, parquet_files: Path
) -> None:
    parts = ed.partition_transactions(
        str(parquet_files / "*.parquet"),
        npartitions=4,
        currency="currency",
        to_currency="eur",
        rates=RATES,
    )
    amount = converted(tx)
    ref = customer_summary(tx["customer_id"], tx["timestamp"], amount, observation_end=END)
    assert_same(ed.summaries(parts, observation_end=END).compute(), ref.to_dict())
    ch = calibration_and_holdout(
        tx["customer_id"],
        tx["timestamp"],
        amount,
        calibration_end=CAL,
        observation_end=END,
        freq="W",
    )
    got = ed.calibration_holdout(parts, calibration_end=CAL, observation_end=END, freq="W")
    assert_same(got.compute(), ch.to_dict())


def test_csv_input_and_each_partition_holds_its_hash_bucket(
    tx: pd.DataFrame, tmp_path: Path
) -> None:
    for i, chunk in enumerate(np.array_split(np.arange(len(tx)), 2)):
        tx.iloc[chunk].assign(
            timestamp=tx["timestamp"].iloc[chunk].dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        ).to_csv(tmp_path / f"tx{i}.csv", index=False)
    parts = parts_of(str(tmp_path / "*.csv"), 3)  # type: ignore[arg-type]
    frame = parts.frame.compute()
    buckets = ed.customer_bucket(frame["customer_id"].to_numpy(), 3)
    assert np.array_equal(buckets, frame.index.to_numpy())
    for i in range(3):
        part = parts.frame.get_partition(i).compute()
        assert set(ed.customer_bucket(part["customer_id"].to_numpy(), 3)) <= {i}
    ref = customer_summary(tx["customer_id"], tx["timestamp"], converted(tx), observation_end=END)
    assert_same(ed.summaries(parts, observation_end=END).compute(), ref.to_dict())


@pytest.mark.parametrize("n_customers, npartitions", [(3, 16), (1, 4), (40, 40)])
def test_empty_and_one_customer_partitions(n_customers: int, npartitions: int) -> None:
    tx = transactions(n_customers, seed=n_customers, string_ids=False)
    parts = parts_of(tx, npartitions)
    sizes = [len(parts.frame.get_partition(i).compute()) for i in range(npartitions)]
    assert 0 in sizes or npartitions <= n_customers
    ref = customer_summary(tx["customer_id"], tx["timestamp"], converted(tx), observation_end=END)
    got = ed.summaries(parts, observation_end=END)
    assert_same(got.compute(), ref.to_dict())
    scores = ed.rfm_scores(got, bins=3).compute()
    want = rfm_scores(ref.T - ref.recency, ref.frequency, ref.monetary_value, bins=3)
    assert np.array_equal(by_id(scores)["rfm_code"].to_numpy(), want.code)


def with_missing(tx: pd.DataFrame) -> pd.DataFrame:
    out = tx.copy()
    rows = np.random.default_rng(5).choice(len(out), 12, replace=False)
    out.loc[out.index[rows[:6]], "amount"] = np.nan
    out.loc[out.index[rows[6:9]], "timestamp"] = pd.NaT
    out.loc[out.index[rows[9:]], "currency"] = None  # no currency: a missing amount
    return out


def test_nan_amounts_omit_equals_single_machine(tx: pd.DataFrame) -> None:
    bad = with_missing(tx)
    parts = parts_of(bad, 4)
    amount = converted(bad)
    assert np.isnan(amount).sum() == 9
    ref = customer_summary(
        bad["customer_id"], bad["timestamp"], amount, observation_end=END, nan_policy="omit"
    )
    got = ed.summaries(parts, observation_end=END, nan_policy="omit").compute()
    assert_same(got, ref.to_dict())


def test_nan_amounts_raise_names_the_input_row(tx: pd.DataFrame) -> None:
    bad = tx.copy()
    bad.loc[bad.index[777], "amount"] = np.nan
    source = dd.from_pandas(bad, npartitions=3, sort=False)
    starts = np.cumsum([0, *source.map_partitions(len).compute()])
    part = int(np.searchsorted(starts, 777, side="right") - 1)
    parts = parts_of(source, 4)
    with pytest.raises(ValidationError) as info:
        ed.summaries(parts, observation_end=END).compute()
    err = info.value
    assert part > 0 and "is missing" in str(err)
    assert f"input partition {part})" in str(err) and f"at row {777 - starts[part]}" in str(err)


def test_unknown_currency_and_bad_options_raise(tx: pd.DataFrame) -> None:
    with pytest.raises(ValidationError, match=r"no exchange rate.*JPY"):
        parts_of(tx.assign(currency="JPY"), 2).frame.compute()
    with pytest.raises(ConfigurationError, match="to_currency"):
        ed.partition_transactions(tx, currency="currency")
    with pytest.raises(ConfigurationError, match="npartitions"):
        ed.partition_transactions(tx, npartitions=0)
    with pytest.raises(ValidationError, match="column"):
        ed.partition_transactions(tx, customer_id="who")
    with pytest.raises(ValidationError, match="source"):
        ed.partition_transactions(42)


@pytest.fixture(scope="module")
def summary_pair(tx: pd.DataFrame) -> tuple[object, dd.DataFrame]:
    ref = customer_summary(
        tx["customer_id"], tx["timestamp"], converted(tx), observation_end=END, freq="W"
    )
    import dask

    with dask.config.set(scheduler="synchronous"):
        got = ed.summaries(parts_of(tx, 6), observation_end=END, freq="W").persist()
    return ref, got


@pytest.mark.parametrize("bins, edges", [(5, None), (4, None), (3, {"monetary": [50.0, 200.0]})])
def test_rfm_scores_equal_single_machine(
    summary_pair: tuple, bins: int, edges: dict | None
) -> None:
    ref, got = summary_pair
    want = rfm_scores(
        ref.T - ref.recency, ref.frequency, ref.monetary_value, bins=bins, edges=edges
    )
    scores = by_id(ed.rfm_scores(got, bins=bins, edges=edges).compute())
    assert np.array_equal(scores["r_score"].to_numpy(), want.recency)
    assert np.array_equal(scores["f_score"].to_numpy(), want.frequency)
    assert np.array_equal(scores["m_score"].to_numpy(), want.monetary)
    assert np.array_equal(scores["rfm_code"].to_numpy(), want.code)
    segments = rfm_segments(want.recency, want.frequency, want.monetary)
    assert scores["rfm_segment"].tolist() == segments.tolist()


def close(a: dict[str, float], b: dict[str, float]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-9), k


@pytest.mark.parametrize("model", [BetaGeo, ModifiedBetaGeo, ParetoNBD])
def test_purchase_model_fits_equal_single_machine(summary_pair: tuple, model: type) -> None:
    ref, got = summary_pair
    mine = ed.fit_model(model(), got)
    single = model().fit(ref.frequency, ref.recency, ref.T)
    close(mine.params, single.params)
    assert mine.log_likelihood == pytest.approx(single.log_likelihood, rel=1e-9)


def test_bgbb_sbg_and_gamma_gamma_fits_equal_single_machine(summary_pair: tuple) -> None:
    ref, got = summary_pair
    mine = ed.fit_model(GammaGamma(), got, ("frequency", "monetary_value"), zero_spend="exclude")
    single = GammaGamma().fit(ref.frequency, ref.monetary_value, zero_spend="exclude")
    close(mine.params, single.params)
    bgbb = ed.fit_model(BetaGeoBetaBinom(), got)
    close(bgbb.params, BetaGeoBetaBinom().fit(ref.frequency, ref.recency, ref.T).params)
    # sBG on a per-customer (periods, churned) frame of contracts
    rng = np.random.default_rng(2)
    life = rng.geometric(rng.beta(0.7, 3.8, 3000))
    contracts = pd.DataFrame({"periods": np.minimum(life, 8), "churned": life <= 8})
    frame = dd.from_pandas(contracts, npartitions=5)
    sbg = ed.fit_model(ShiftedBetaGeo(), frame, ("periods", "churned"))
    close(sbg.params, ShiftedBetaGeo().fit(contracts["periods"], contracts["churned"]).params)


def test_scores_and_segment_masks_equal_single_machine(summary_pair: tuple) -> None:
    ref, got = summary_pair
    bg = ed.fit_model(BetaGeo(), got)
    gg = ed.fit_model(GammaGamma(), got, ("frequency", "monetary_value"), zero_spend="exclude")
    scores = by_id(ed.score_customers(got, bg, gg, model_period="W").compute())
    p_alive = bg.conditional_probability_alive(ref.frequency, ref.recency, ref.T)
    horizon = 12 * 30.4375 / 7
    purchases = bg.conditional_expected_purchases(horizon, ref.frequency, ref.recency, ref.T)
    clv = gg.customer_lifetime_value(
        bg, ref.frequency, ref.recency, ref.T,
        np.where(ref.frequency > 0, ref.monetary_value, 0.0),
        model_period="W", horizon=12, horizon_period="month", discount_rate=0.01, zero_spend="nan",
    )  # fmt: skip
    np.testing.assert_allclose(scores["p_alive"], p_alive, rtol=1e-9)
    np.testing.assert_allclose(scores["predicted_purchases"], purchases, rtol=1e-9)
    np.testing.assert_allclose(scores["predicted_clv"], clv, rtol=1e-9)
    assert scores["churn_risk"].tolist() == churn_risk_labels(p_alive).tolist()

    features = ed.customer_features(got, bg, gg, model_period="W")
    rows = by_id(features.compute())
    want = rfm_scores(ref.T - ref.recency, ref.frequency, ref.monetary_value)
    assert np.array_equal(rows["rfm_code"].to_numpy(), want.code)
    np.testing.assert_allclose(rows["predicted_clv"], clv, rtol=1e-9)
    assert np.array_equal(rows["total_spent"].to_numpy(), ref.total_spent)
    exprs = {
        "valuable": "predicted_clv > 100 and p_alive >= 0.5",
        "at_risk": "churn_risk == 'high' or (frequency >= 2 and T - recency > 20)",
    }
    masks = by_id(ed.segment_masks(features, exprs).compute())
    table = FeatureTable(
        ref.customer_id,
        {"predicted_clv": clv, "p_alive": p_alive, "churn_risk": churn_risk_labels(p_alive),
         "frequency": ref.frequency, "T": ref.T, "recency": ref.recency},
        {"predicted_clv": "number", "p_alive": "number", "churn_risk": "string",
         "frequency": "number", "T": "number", "recency": "number"},
    )  # fmt: skip
    for name, text in exprs.items():
        want = compile_expression(text, table.schema).mask(table)
        assert np.array_equal(masks[name].to_numpy(), want), name
        assert 0 < want.sum() < len(want)


def test_parquet_output_is_partitioned_by_customer_hash(
    summary_pair: tuple, tmp_path: Path
) -> None:
    _, got = summary_pair
    ed.write_parquet(got, tmp_path / "summary")
    for i in range(got.npartitions):
        part = pd.read_parquet(tmp_path / "summary" / f"part.{i}.parquet")
        assert set(ed.customer_bucket(part["customer_id"].to_numpy(), got.npartitions)) <= {i}


def test_store_read_in_hash_partitions_equals_single_machine(tmp_path: Path) -> None:
    import ecomcrm
    from ecomcrm.io import SyntheticShop
    from ecomcrm.segments import fit_value_models

    url = f"sqlite:///{tmp_path / 'crm.db'}"
    store = ecomcrm.open_store(url)
    SyntheticShop(customers=300, seed=4, events=False).to_store(store)
    facts = store.order_facts()
    store.close()
    end = np.datetime64("2031-01-01", "us")
    parts = ed.read_store(url, npartitions=4)
    for i in range(4):
        part = parts.frame.get_partition(i).compute()
        assert set(ed.customer_bucket(part["customer_id"].to_numpy(), 4)) <= {i}
    keep = ~facts.cancelled
    ids = facts.customer_ids[facts.customer_index][keep]
    ref = customer_summary(
        ids, facts.placed_at[keep], facts.amount[keep], observation_end=end, freq="W"
    )
    got = ed.summaries(parts, observation_end=end, freq="W").compute()
    got["customer_id"] = got["customer_id"].astype(object)
    assert_same(got, ref.to_dict())
    models = fit_value_models(facts, now=end, freq="W")
    assert ed.fit_model(
        type(models.purchase)(), ed.summaries(parts, observation_end=end, freq="W")
    ).params == pytest.approx(models.purchase.params, rel=1e-9)
    with pytest.raises(ConfigurationError, match="memory"):
        ed.read_store("memory://", npartitions=2)
