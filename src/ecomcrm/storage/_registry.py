"""Opening stores by URL: built-in schemes, entry points, runtime registration."""

from __future__ import annotations

import importlib
import re
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ecomcrm.errors import ConfigurationError, StorageError

if TYPE_CHECKING:
    from ecomcrm.storage._protocols import Store

ENTRY_POINT_GROUP = "ecomcrm.stores"
"""The entry-point group third-party adapters register under, keyed by URL scheme."""

StoreFactory = Callable[..., "Store"]
"""Called as ``factory(url, **options)``; returns an open store."""

_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*$")
_lock = threading.Lock()
_registered: dict[str, StoreFactory] = {}
_entry_points: dict[str, EntryPoint] | None = None


def _open_memory(url: str, **options: Any) -> Store:
    from ecomcrm.storage.memory import MemoryStore

    return MemoryStore(**options)


def sqlite_path(url: str) -> str:
    """The file path in a ``sqlite://`` URL (SQLAlchemy's convention).

    ``sqlite:///crm.db`` is the relative path ``crm.db``, ``sqlite:////var/crm.db`` the
    absolute path ``/var/crm.db``; ``sqlite://`` and ``sqlite:///:memory:`` an in-memory
    database. Percent-escapes are decoded.

    Example:
        >>> sqlite_path("sqlite:////tmp/crm.db"), sqlite_path("sqlite:///crm.db")
        ('/tmp/crm.db', 'crm.db')
    """
    parts = urlsplit(url)
    if parts.netloc:
        raise StorageError(
            "a sqlite URL has no host; use sqlite:///relative.db or sqlite:////absolute.db",
            entity="open_store",
            field="url",
            value=url,
        )
    path = unquote(parts.path)
    if path in ("", "/"):
        return ":memory:"
    return path[1:] if path.startswith("/") else path


def _open_sqlite(url: str, **options: Any) -> Store:
    try:
        module = importlib.import_module("ecomcrm.storage.sqlite")
    except ImportError as exc:  # pragma: no cover - the module ships with ecomcrm
        raise StorageError(
            f"the SQLite adapter could not be imported ({exc})", entity="open_store", value=url
        ) from exc
    path = sqlite_path(url)
    store: Store = module.SqliteStore(path if path == ":memory:" else Path(path), **options)
    return store


def _open_postgres(url: str, **options: Any) -> Store:
    # psycopg is optional: the adapter's package raises StorageError with the install hint
    module = importlib.import_module("ecomcrm.storage.postgres")
    store: Store = module.PostgresStore(url, **options)
    return store


_BUILTIN: dict[str, StoreFactory] = {
    "memory": _open_memory,
    "sqlite": _open_sqlite,
    "postgresql": _open_postgres,
    "postgres": _open_postgres,
}


def _discover() -> dict[str, EntryPoint]:
    global _entry_points
    if _entry_points is None:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            found.setdefault(ep.name.lower(), ep)
        _entry_points = found
    return _entry_points


def reset_discovery() -> None:
    """Forget the entry points discovered so far (they are looked up again on next use).

    Useful after installing a plugin at runtime, and in tests.

    Example:
        >>> reset_discovery()
    """
    global _entry_points
    with _lock:
        _entry_points = None


def _check_scheme(scheme: Any) -> str:
    if not isinstance(scheme, str) or not _SCHEME.match(scheme.lower()):
        raise ConfigurationError(
            "must be a URL scheme such as 'postgresql' (a letter, then letters, digits, + - .)",
            entity="register_store",
            field="scheme",
            value=scheme,
        )
    return scheme.lower()


def register_store(scheme: str, factory: StoreFactory, *, clobber: bool = False) -> None:
    """Register ``factory`` to open URLs of ``scheme`` (``factory(url, **options)``).

    Runtime registration wins over an installed entry point of the same scheme. An
    existing registration (or a built-in scheme) is only replaced with ``clobber=True``;
    otherwise ConfigurationError.

    Example:
        >>> from ecomcrm.storage import MemoryStore
        >>> register_store("scratch", lambda url, **options: MemoryStore(), clobber=True)
        >>> type(open_store("scratch://anything")).__name__
        'MemoryStore'
        >>> unregister_store("scratch")
    """
    name = _check_scheme(scheme)
    if not callable(factory):
        raise ConfigurationError(
            "must be callable as factory(url, **options)",
            entity="register_store",
            field="factory",
            value=factory,
        )
    with _lock:
        if not clobber and (name in _registered or name in _BUILTIN):
            raise ConfigurationError(
                "is already registered; pass clobber=True to replace it",
                entity="register_store",
                field="scheme",
                value=name,
            )
        _registered[name] = factory


def unregister_store(scheme: str) -> None:
    """Remove a runtime registration (built-ins and entry points cannot be removed).

    Example:
        >>> register_store("tmpstore", lambda url, **options: None, clobber=True)
        >>> unregister_store("tmpstore")
    """
    with _lock:
        _registered.pop(_check_scheme(scheme), None)


def store_schemes() -> list[str]:
    """Every URL scheme ``open_store`` knows: built-in, registered and installed plugins.

    Example:
        >>> {"memory", "sqlite"} <= set(store_schemes())
        True
    """
    with _lock:
        return sorted(set(_BUILTIN) | set(_registered) | set(_discover()))


def _factory_for(scheme: str, url: str) -> StoreFactory:
    with _lock:
        if scheme in _registered:
            return _registered[scheme]
        if scheme in _BUILTIN:
            return _BUILTIN[scheme]
        ep = _discover().get(scheme)
    if ep is None:
        known = ", ".join(store_schemes())
        raise StorageError(
            f"unknown store scheme {scheme!r}; known schemes: {known} "
            f"(plugins register under the entry-point group {ENTRY_POINT_GROUP!r})",
            entity="open_store",
            field="url",
            value=url,
        )
    try:
        loaded = ep.load()
    except Exception as exc:
        dist = getattr(ep.dist, "name", None) or ep.value
        raise StorageError(
            f"the store plugin for {scheme!r} ({dist}) failed to load: {exc}; "
            "is it installed with its dependencies?",
            entity="open_store",
            field="url",
            value=url,
        ) from exc
    if not callable(loaded):
        raise StorageError(
            f"the entry point {ep.value!r} is not callable as factory(url, **options)",
            entity="open_store",
            field="url",
            value=url,
        )
    factory: StoreFactory = loaded
    return factory


def open_store(url: str, **options: Any) -> Store:
    """Open the store a URL names.

    - ``memory://``: a fresh :class:`~ecomcrm.storage.MemoryStore` (for tests and demos);
    - ``sqlite:///relative/crm.db``, ``sqlite:////absolute/crm.db``: the embedded SQLite
      store (created when missing);
    - ``postgresql://user@host:port/dbname?schema=NAME``: the PostgreSQL store
      (:class:`~ecomcrm.storage.PostgresStore`, schema ``ecomcrm`` by default; needs
      ``pip install 'ecomcrm[postgres]'``);
    - any scheme an installed plugin registers under the ``ecomcrm.stores`` entry-point
      group, or one passed to :func:`register_store`.

    ``options`` go to the adapter. An unknown scheme raises StorageError listing the
    known ones.

    Example:
        >>> store = open_store("memory://")
        >>> store.customers.count()
        0
        >>> open_store("nosuch://x")
        Traceback (most recent call last):
        ...
        ecomcrm.errors.StorageError: open_store.url: unknown store scheme 'nosuch'; ...
    """
    if not isinstance(url, str) or "://" not in url:
        raise StorageError(
            "must be a URL such as 'memory://' or 'sqlite:///crm.db'",
            entity="open_store",
            field="url",
            value=url,
        )
    scheme = url.split("://", 1)[0].lower()
    if not _SCHEME.match(scheme):
        raise StorageError("has an invalid scheme", entity="open_store", field="url", value=url)
    return _factory_for(scheme, url)(url, **options)
