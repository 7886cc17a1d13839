"""The PostgreSQL server the tests use, and a fresh schema per test.

The server comes from ``ECOMCRM_TEST_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``). Without a reachable server every test
here is skipped with one line saying why, unless ``ECOMCRM_REQUIRE_POSTGRES=1`` (set by
.ci/run), which turns the skip into a failure: CI can never pass by skipping them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator

import pytest
from _pg import WHY_NOT as _WHY_NOT
from _pg import drop_schema, fresh_schema, schema_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # required (CI): no skip; the autouse fixture below fails each test instead
    if _WHY_NOT is None or os.environ.get("ECOMCRM_REQUIRE_POSTGRES") == "1":
        return
    here = os.path.dirname(__file__)
    skip = pytest.mark.skip(reason=_WHY_NOT)
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _require_postgres() -> None:
    if _WHY_NOT is not None:
        pytest.fail(f"ECOMCRM_REQUIRE_POSTGRES=1 but {_WHY_NOT}")


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A unique schema name, dropped (with everything in it) after the test."""
    schema = fresh_schema()
    yield schema
    drop_schema(schema)


@pytest.fixture
def pg_url(pg_schema: str) -> str:
    """The URL of a store in a fresh schema."""
    return schema_url(pg_schema)


@pytest.fixture
def open_pg(pg_url: str) -> Iterator[Callable[..., object]]:
    """Open handles on the test's schema; all are closed at the end."""
    from ecomcrm.storage import PostgresStore

    handles: list[PostgresStore] = []

    def opener(**options: object) -> PostgresStore:
        store = PostgresStore(pg_url, **options)  # type: ignore[arg-type]
        handles.append(store)
        return store

    yield opener
    for handle in handles:
        handle.close()
