"""Fixtures for the io tests: both built-in stores, and the sample export files."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import ecomcrm
from ecomcrm.storage import Store

DATA = Path(__file__).resolve().parent.parent / "data"


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path / 'crm.db'}"
    s = ecomcrm.open_store(url)
    yield s
    s.close()


@pytest.fixture
def memory_store() -> Store:
    return ecomcrm.open_store("memory://")


@pytest.fixture
def data() -> Path:
    return DATA
