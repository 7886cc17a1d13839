"""open_store(url): built-in schemes, runtime registration and entry-point discovery."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import ecomcrm
from ecomcrm.errors import ConfigurationError, StorageError
from ecomcrm.storage import (
    ENTRY_POINT_GROUP,
    MemoryStore,
    Store,
    open_store,
    register_store,
    store_schemes,
    unregister_store,
)
from ecomcrm.storage._registry import sqlite_path


@pytest.fixture
def scratch_scheme() -> Iterator[str]:
    yield "scratchtest"
    unregister_store("scratchtest")


def test_memory_url_opens_a_fresh_memory_store() -> None:
    first = open_store("memory://")
    second = ecomcrm.open_store("MEMORY://anything")
    assert isinstance(first, MemoryStore) and isinstance(second, MemoryStore)
    assert first is not second
    assert isinstance(first, Store)


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(StorageError) as info:
        open_store("mongodb://localhost/crm")
    message = str(info.value)
    assert "'mongodb'" in message
    assert "memory" in message and "sqlite" in message
    assert ENTRY_POINT_GROUP in message
    assert info.value.field == "url" and info.value.value == "mongodb://localhost/crm"


@pytest.mark.parametrize("url", ["crm.db", "", "://x", "9abc://x", 42])
def test_malformed_urls(url: object) -> None:
    with pytest.raises(StorageError):
        open_store(url)  # type: ignore[arg-type]


def test_register_store(scratch_scheme: str) -> None:
    made: list[tuple[str, dict[str, object]]] = []

    def factory(url: str, **options: object) -> MemoryStore:
        made.append((url, options))
        return MemoryStore()

    register_store(scratch_scheme, factory)
    store = open_store(f"{scratch_scheme}://db?x=1", flavour="test")
    assert isinstance(store, MemoryStore)
    assert made == [(f"{scratch_scheme}://db?x=1", {"flavour": "test"})]
    assert scratch_scheme in store_schemes()
    with pytest.raises(ConfigurationError, match="clobber"):
        register_store(scratch_scheme, factory)
    register_store(scratch_scheme.upper(), lambda url, **o: MemoryStore(), clobber=True)
    open_store(f"{scratch_scheme}://db")
    assert len(made) == 1
    unregister_store(scratch_scheme)
    with pytest.raises(StorageError):
        open_store(f"{scratch_scheme}://db")


def test_builtins_are_protected() -> None:
    with pytest.raises(ConfigurationError):
        register_store("memory", lambda url, **o: MemoryStore())
    assert isinstance(open_store("memory://"), MemoryStore)


@pytest.mark.parametrize("scheme", ["", "9x", "has space", None])
def test_bad_schemes_are_refused(scheme: object) -> None:
    with pytest.raises(ConfigurationError):
        register_store(scheme, lambda url, **o: MemoryStore())  # type: ignore[arg-type]


def test_factory_must_be_callable(scratch_scheme: str) -> None:
    with pytest.raises(ConfigurationError):
        register_store(scratch_scheme, "not callable")  # type: ignore[arg-type]


def test_entry_point_discovery(fake_plugin: Path) -> None:
    assert "dictstore" in store_schemes()
    assert "fake_crm_plugin" not in sys.modules  # listing does not import plugins
    store = open_store("dictstore://somewhere", answer=42)
    assert isinstance(store, MemoryStore)
    plugin = sys.modules["fake_crm_plugin"]
    assert plugin.OPENED == [("dictstore://somewhere", {"answer": 42})]


def test_runtime_registration_wins_over_entry_points(fake_plugin: Path) -> None:
    sentinel = MemoryStore()
    register_store("dictstore", lambda url, **o: sentinel)
    try:
        assert open_store("dictstore://x") is sentinel
    finally:
        unregister_store("dictstore")
    assert open_store("dictstore://x") is not sentinel


def test_broken_plugins_give_clear_errors(fake_plugin: Path) -> None:
    with pytest.raises(StorageError, match="failed to load") as info:
        open_store("missingdep://x")
    assert isinstance(info.value.__cause__, ImportError)
    with pytest.raises(StorageError, match="not callable"):
        open_store("notcallable://x")


def test_unknown_scheme_lists_plugins(fake_plugin: Path) -> None:
    with pytest.raises(StorageError, match="dictstore"):
        open_store("nosuch://x")


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///crm.db", "crm.db"),
        ("sqlite:///data/crm.db", "data/crm.db"),
        ("sqlite:////var/lib/crm.db", "/var/lib/crm.db"),
        ("sqlite:////tmp/with%20space.db", "/tmp/with space.db"),
        ("sqlite://", ":memory:"),
        ("sqlite:///:memory:", ":memory:"),
    ],
)
def test_sqlite_paths(url: str, path: str) -> None:
    assert sqlite_path(url) == path


def test_sqlite_url_with_a_host_is_refused() -> None:
    with pytest.raises(StorageError, match="no host"):
        sqlite_path("sqlite://server/crm.db")


def test_sqlite_url_opens_the_sqlite_adapter(tmp_path: Path) -> None:
    sqlite_module = pytest.importorskip("ecomcrm.storage.sqlite")
    store = open_store(f"sqlite:///{tmp_path}/crm.db")
    try:
        assert isinstance(store, sqlite_module.SqliteStore)
        assert isinstance(store, Store)
        assert (tmp_path / "crm.db").exists()
    finally:
        store.close()
