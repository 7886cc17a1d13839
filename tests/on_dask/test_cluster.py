"""The same identities on distributed.LocalCluster(n_workers=2, processes=True).

One cluster for the module, one end-to-end run: partitions cross process boundaries
(pickled frames, models and boundaries), which the synchronous scheduler never does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from distributed import Client, LocalCluster

import ecomcrm.dask as ed
from ecomcrm.errors import ValidationError
from ecomcrm.metrics import customer_summary, rfm_scores
from ecomcrm.predict import BetaGeo, GammaGamma

from .conftest import RATES, converted

END = np.datetime64("2024-12-31T23:59", "us")


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with (
        LocalCluster(
            n_workers=2, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        Client(cluster) as c,
    ):
        yield c


def test_pipeline_on_two_worker_processes(
    client: Client, tx: pd.DataFrame, parquet_files: Path
) -> None:
    parts = ed.partition_transactions(
        str(parquet_files / "*.parquet"),
        npartitions=6,
        currency="currency",
        to_currency="EUR",
        rates=RATES,
    )
    summary = ed.summaries(parts, observation_end=END, freq="W").persist()
    ref = customer_summary(
        tx["customer_id"], tx["timestamp"], converted(tx), observation_end=END, freq="W"
    )
    got = summary.compute().sort_values("customer_id").reset_index(drop=True)
    for name, want in ref.to_dict().items():
        col = got[name].to_numpy()
        assert np.array_equal(col.astype(want.dtype) if want.dtype.kind == "M" else col, want), name
    workers = client.run(lambda: 1)
    assert len(workers) == 2

    scores = ed.rfm_scores(summary).compute().sort_values("customer_id")
    want = rfm_scores(ref.T - ref.recency, ref.frequency, ref.monetary_value)
    assert np.array_equal(scores["rfm_code"].to_numpy(), want.code)

    bg = ed.fit_model(BetaGeo(), summary)
    single = BetaGeo().fit(ref.frequency, ref.recency, ref.T)
    for k, v in single.params.items():
        assert bg.params[k] == pytest.approx(v, rel=1e-9)
    gg = ed.fit_model(GammaGamma(), summary, ("frequency", "monetary_value"), zero_spend="exclude")
    scored = ed.score_customers(summary, bg, gg, model_period="W").compute()
    scored = scored.sort_values("customer_id")
    np.testing.assert_allclose(
        scored["p_alive"],
        single.conditional_probability_alive(ref.frequency, ref.recency, ref.T),
        rtol=1e-9,
    )


def test_errors_from_workers_keep_their_type(client: Client, tx: pd.DataFrame) -> None:
    bad = tx.assign(amount=tx["amount"].where(tx.index != 5))
    parts = ed.partition_transactions(
        bad, npartitions=3, currency="currency", to_currency="EUR", rates=RATES
    )
    with pytest.raises(ValidationError, match="is missing"):
        ed.summaries(parts, observation_end=END).compute()
    ok = ed.summaries(parts, observation_end=END, nan_policy="omit").compute()
    ref = customer_summary(
        bad["customer_id"], bad["timestamp"], converted(bad), observation_end=END, nan_policy="omit"
    )
    assert np.array_equal(
        np.sort(ok["customer_id"].to_numpy().astype(str)), ref.customer_id.astype(str)
    )
