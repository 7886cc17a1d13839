"""Fixtures shared by the storage tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ecomcrm.storage import _registry


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Install a fake distribution whose ``ecomcrm.stores`` entry point adds ``dictstore://``.

    A ``*.dist-info/entry_points.txt`` on sys.path is all importlib.metadata needs to see
    an installed plugin (the same trick zarr's tests use), so discovery is tested for real.
    """
    package = tmp_path / "fake_crm_plugin"
    package.mkdir()
    (package / "__init__.py").write_text(
        "from ecomcrm.storage import MemoryStore\n"
        "OPENED = []\n"
        "def open_dict_store(url, **options):\n"
        "    OPENED.append((url, options))\n"
        "    return MemoryStore()\n"
        "def broken(url, **options):\n"
        "    raise AssertionError('never called')\n"
        "NOT_CALLABLE = 42\n"
    )
    dist = tmp_path / "fake_crm_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fake-crm-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[ecomcrm.stores]\n"
        "dictstore = fake_crm_plugin:open_dict_store\n"
        "missingdep = fake_crm_plugin_missing_module:Store\n"
        "notcallable = fake_crm_plugin:NOT_CALLABLE\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _registry.reset_discovery()
    yield tmp_path
    sys.modules.pop("fake_crm_plugin", None)
    _registry.reset_discovery()
