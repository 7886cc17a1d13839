"""Packages above storage use only its public Protocols and named capabilities (issue 21.1).

Checked on the source with :mod:`ast`, without importing it: outside ``ecomcrm/storage/``
no module may

- import a private name of ``ecomcrm.storage`` (a module such as ``ecomcrm.storage._sqlite``
  or ``ecomcrm.storage.toolkit._state``, or a ``_name`` from a public one);
- choose a path by concrete adapter class (``isinstance(x, SqliteStore)``, ``MemoryStore``
  or any other adapter ``ecomcrm.storage`` exports);
- probe a store or repository with ``getattr``/``hasattr`` (``getattr(store, "url", None)``):
  an optional member is a ``Supports...`` capability tested with ``isinstance``;
- read a private attribute of a store or repository (``store._db``, ``self.store._loyalty``).

There are no exceptions, the conformance kit in ``ecomcrm.testing`` included.
"""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

import ecomcrm
import ecomcrm.storage

SRC = Path(ecomcrm.__file__).resolve().parent
STORAGE = SRC / "storage"
FILES = sorted(p for p in SRC.rglob("*.py") if STORAGE not in p.parents)
# the adapters ecomcrm.storage exports: concrete classes, not Protocols
ADAPTERS = frozenset(
    name
    for name in ecomcrm.storage.__all__
    if inspect.isclass(obj := getattr(ecomcrm.storage, name))
    and name.endswith("Store")
    and not getattr(obj, "_is_protocol", False)
)
# names a store or one of its repositories goes by in the code
STORE_NAME = re.compile(r"^_?(\w+_)?(store|state)$")


def _private_part(dotted: str) -> bool:
    return any(part.startswith("_") for part in dotted.split("."))


def _names(node: ast.AST) -> Iterator[str]:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            yield sub.id
        elif isinstance(sub, ast.Attribute):
            yield sub.attr


def _is_store(node: ast.expr) -> bool:
    """True for ``store``, ``self._store``, ``state``, ``store.orders`` and the like."""
    while isinstance(node, ast.Attribute) and not STORE_NAME.match(node.attr):
        node = node.value
    if isinstance(node, ast.Attribute):
        return True
    return isinstance(node, ast.Name) and bool(STORE_NAME.match(node.id))


def _violations(source: str, where: str) -> Iterator[str]:
    for node in ast.walk(ast.parse(source, filename=where)):
        line = f"{where}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("ecomcrm.storage.") and _private_part(alias.name):
                    yield f"{line}: imports the private module {alias.name}"
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ecomcrm.storage"):
            module = node.module or ""
            if _private_part(module):
                yield f"{line}: imports from the private module {module}"
            for alias in node.names:
                if alias.name.startswith("_"):
                    yield f"{line}: imports the private name {module}.{alias.name}"
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            func = node.func.id
            if func in ("isinstance", "issubclass") and len(node.args) == 2:
                named = ADAPTERS & set(_names(node.args[1]))
                if named:
                    yield f"{line}: chooses a path by adapter class ({', '.join(sorted(named))})"
            if func in ("getattr", "hasattr") and node.args and _is_store(node.args[0]):
                yield f"{line}: probes a store with {func}({ast.unparse(node.args[0])}, ...)"
        elif (
            isinstance(node, ast.Attribute)
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
            and _is_store(node.value)
        ):
            yield f"{line}: reads the private attribute {ast.unparse(node)}"


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_only_public_storage_names_outside_storage(path: Path) -> None:
    found = list(_violations(path.read_text(encoding="utf-8"), str(path.relative_to(SRC.parent))))
    assert not found, "\n".join(found)


def test_the_checks_see_what_they_forbid() -> None:
    source = """
import ecomcrm.storage._sqlite
from ecomcrm.storage._records import OrderFacts
from ecomcrm.storage.toolkit._state import FrozenDict
from ecomcrm.storage import _memory, Store
if isinstance(store, SqliteStore | MemoryStore): pass
url = getattr(store, "url", None)
many = getattr(self._state, "get_many", None)
prepare = hasattr(self.store.orders, "prepare_many")
rows = store._db.read()
fine = getattr(args, "quiet", False)
also_fine = engine._state
"""
    found = list(_violations(source, "example.py"))
    assert len(found) == 9, "\n".join(found)
    assert {"MemoryStore", "SqliteStore"} <= ADAPTERS
