"""Importers on PostgresStore: the parallel first load gives the sequential import's store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ecomcrm
from ecomcrm.io import SyntheticShop, import_shopify_orders, parallel_import_possible
from ecomcrm.storage import PostgresStore


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pg_import")
    files = SyntheticShop(customers=300, seed=5, events=False).to_files(root, events=False)
    return files["orders"]


def test_parallel_first_load_equals_a_sequential_sqlite_import(
    export: Path, pg_url: str, tmp_path: Path
) -> None:
    store = ecomcrm.open_store(pg_url)
    reference = ecomcrm.open_store(f"sqlite:///{tmp_path / 'crm.db'}")
    try:
        assert isinstance(store, PostgresStore) and parallel_import_possible(store)
        report = import_shopify_orders(store, export, workers=2, batch_size=200)
        assert report.extra.get("workers") == 2
        expected = import_shopify_orders(reference, export, workers=1)
        assert (report.imported, report.rejected) == (expected.imported, expected.rejected)
        got, want = store.order_facts(), reference.order_facts()
        assert got.order_id.tolist() == want.order_id.tolist()
        assert np.array_equal(got.customer_ids, want.customer_ids)
        assert np.allclose(got.amount, want.amount)
        assert store.customer_table().ids.tolist() == reference.customer_table().ids.tolist()
        again = import_shopify_orders(store, export, workers=2)
        assert "workers" not in again.extra and again.imported == 0
    finally:
        store.close()
        reference.close()
