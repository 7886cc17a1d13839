"""The PostgreSQL connection layer: URL parsing, the pool, write and read scopes, errors.

Every connection of the pool runs in autocommit mode with ``search_path`` set to the
store's schema; scopes open transactions explicitly. A thread's outermost write scope
borrows a connection and opens a transaction; inner scopes on the same thread are
savepoints of it (``conn.transaction()`` nests), so a failed inner write (a
compare-and-set conflict, a unique violation) rolls back only itself and the outer block
may go on. Driver exceptions are translated here, at the boundary, into
:mod:`ecomcrm.errors`; users never see ``psycopg`` errors.
"""

from __future__ import annotations

import functools
import re
import threading
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from ecomcrm.errors import (
    ConflictError,
    EcomcrmError,
    StorageBusyError,
    StorageError,
)

INSTALL_HINT = "pip install 'ecomcrm[postgres]'"
"""How to install the driver the PostgreSQL adapter needs."""

try:
    import psycopg
    import psycopg.errors as pg_errors
    from psycopg import pq
    from psycopg_pool import ConnectionPool, PoolTimeout
except ImportError as exc:  # pragma: no cover - the test extra installs psycopg
    raise StorageError(
        f"the PostgreSQL adapter needs psycopg 3 and psycopg_pool ({exc}); install them with "
        f"{INSTALL_HINT}",
        entity="open_store",
        field="url",
    ) from exc

DEFAULT_SCHEMA = "ecomcrm"
"""The schema a store lives in when its URL names none."""

_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
_OPTIONS = frozenset({"schema", "pool_min", "pool_max", "timeout"})


def check_schema(name: Any) -> str:
    """``name`` when it is a plain lower-case SQL identifier (letters, digits, ``_``).

    Example:
        >>> check_schema("crm_test")
        'crm_test'
    """
    if not isinstance(name, str) or not _SCHEMA_NAME.match(name):
        raise StorageError(
            "must be a lower-case identifier (a letter or _, then letters, digits, _; "
            "at most 63 characters)",
            entity="PostgresStore",
            field="schema",
            value=name,
        )
    return name


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """The libpq connection string of a ``postgresql://`` URL, and the store's own options.

    The store's query parameters (``schema``, ``pool_min``, ``pool_max``, ``timeout``) are
    taken out; every other one (``sslmode``, ``application_name``...) goes to libpq.

    Example:
        >>> conninfo, options = parse_url("postgresql://app@db:5432/shop?schema=crm&sslmode=require")
        >>> conninfo, options
        ('postgresql://app@db:5432/shop?sslmode=require', {'schema': 'crm'})
    """
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("postgresql", "postgres"):
        raise StorageError(
            "must be a postgresql:// URL", entity="open_store", field="url", value=redact(url)
        )
    options: dict[str, str] = {}
    rest: list[str] = []
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key in _OPTIONS:
            options[key] = value
        else:
            rest.append(f"{key}={value}")
    query = "&".join(rest)
    conninfo = f"postgresql://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return conninfo, options


def redact(url: str) -> str:
    """``url`` without its password (for messages).

    Example:
        >>> redact("postgresql://app:s3cret@db/shop")
        'postgresql://app:***@db/shop'
    """
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()


def describe(conninfo: str) -> str:
    """``user@host:port/dbname`` of a connection string, never its password.

    Example:
        >>> describe("postgresql://app:pw@db:5433/shop")
        'app@db:5433/shop'
    """
    parts = urlsplit(conninfo)
    user = unquote(parts.username or "")
    host = parts.hostname or "localhost"
    port = parts.port or 5432
    db = unquote(parts.path.lstrip("/")) or user
    return f"{user + '@' if user else ''}{host}:{port}/{db}"


def translate(exc: BaseException, where: str) -> EcomcrmError:
    """The ecomcrm error for a driver exception (``where`` names the database and schema).

    Unique and foreign-key violations are conflicts; serialization failures and deadlocks
    mean another writer won the race (ConflictError: nothing was written, the work may be
    computed again; see :func:`retry_races`); lock timeouts are StorageBusyError; anything
    else, dropped connections included, is a StorageError.
    """
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, pg_errors.UniqueViolation | pg_errors.ForeignKeyViolation):
        return ConflictError(f"constraint failed: {text}", entity=where)
    if isinstance(exc, _RACES):
        return ConflictError(f"lost a race with another writer: {text}", entity=where)
    if isinstance(exc, pg_errors.LockNotAvailable | pg_errors.QueryCanceled):
        return StorageBusyError(f"waited too long for a lock: {text}", entity=where)
    if isinstance(exc, PoolTimeout):
        return StorageBusyError(f"no free connection in the pool: {text}", entity=where)
    if isinstance(exc, psycopg.OperationalError):
        return StorageError(f"the connection failed: {text}", entity=where)
    return StorageError(f"{type(exc).__name__}: {text}", entity=where)


_RACES = (pg_errors.SerializationFailure, pg_errors.DeadlockDetected)

ATTEMPTS = 3
"""How many times a unit that owns its transaction runs before a lost race is raised."""


def lost_race(exc: BaseException) -> bool:
    """True when ``exc`` is a translated serialization failure or deadlock."""
    return isinstance(exc, ConflictError) and isinstance(exc.__cause__, _RACES)


class _HasDb(Protocol):
    _db: Db


P = ParamSpec("P")
R = TypeVar("R")
S = TypeVar("S", bound=_HasDb)


def retry_races(method: Callable[Concatenate[S, P], R]) -> Callable[Concatenate[S, P], R]:
    """Run a write method again, at once, when its transaction lost a race (bounded).

    A serialization failure or deadlock rolls the whole transaction back, so a method
    that opened it (no scope was open on the thread) is run again from the start, up to
    :data:`ATTEMPTS` times in all, with no wait (nothing in the library sleeps); the last
    loss is raised as ConflictError. Inside a caller's transaction the method runs once:
    the caller owns the transaction and decides (the rules engine computes the unit
    again). Iterator arguments are read into lists first, so a second run sees them whole.
    """

    @functools.wraps(method)
    def run(self: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        if self._db.depth:
            return method(self, *args, **kwargs)
        args = tuple(list(a) if isinstance(a, Iterator) else a for a in args)  # type: ignore[assignment]
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return method(self, *args, **kwargs)
            except ConflictError as exc:
                if attempt == ATTEMPTS or not lost_race(exc):
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    return run


Statements = Sequence[tuple[str, Sequence[Any] | Mapping[str, Any]]]


def _chained(
    conn: psycopg.Connection[Any],
    first: Statements,
    then: Callable[[list[list[tuple[Any, ...]]]], Statements],
    *,
    wrap: bool,
) -> tuple[list[list[tuple[Any, ...]]], list[list[tuple[Any, ...]]]]:
    """:meth:`Db.chained` on ``conn`` (``wrap``: BEGIN in the first pipeline, COMMIT in the last)."""
    try:
        with conn.pipeline():
            if wrap:
                conn.execute(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            cursors = [conn.execute(sql.encode(), args, prepare=True) for sql, args in first]
        rows = [cursor.fetchall() for cursor in cursors]
        second = then(rows)
        with conn.pipeline():
            cursors = [conn.execute(sql.encode(), args, prepare=True) for sql, args in second]
            if wrap:
                conn.execute(b"COMMIT")
        return rows, [cursor.fetchall() for cursor in cursors]
    except BaseException:
        if wrap and not conn.broken and conn.info.transaction_status != pq.TransactionStatus.IDLE:
            conn.rollback()  # a statement (or ``then``) failed: the transaction is open
        raise


def lock_key(schema: str) -> int:
    """The advisory-lock key of a schema's customer graph (a signed 32-bit hash).

    Example:
        >>> lock_key("ecomcrm") == lock_key("ecomcrm")
        True
    """
    return zlib.crc32(f"ecomcrm:{schema}".encode()) - (1 << 31)


class Db:
    """The pool of one store, with per-thread nested write and read scopes."""

    def __init__(
        self,
        conninfo: str,
        schema: str,
        *,
        pool_min: int = 1,
        pool_max: int = 4,
        timeout: float = 30.0,
    ) -> None:
        self.schema = schema
        self.where = f"{describe(conninfo)}?schema={schema}"
        self.lock_key = lock_key(schema)
        self._local = threading.local()
        self._closed = False
        try:
            self.pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                conninfo,
                kwargs={"autocommit": True, "options": f"-c search_path={schema}"},
                min_size=pool_min,
                max_size=max(pool_min, pool_max),
                timeout=timeout,
                open=False,
                name=f"ecomcrm:{schema}",
            )
            self.pool.open(wait=True, timeout=timeout)
        except (psycopg.Error, PoolTimeout) as exc:
            raise StorageError(
                f"cannot connect to {describe(conninfo)}: {exc}", entity="PostgresStore"
            ) from exc

    # --- the thread's connection ------------------------------------------------------

    @property
    def depth(self) -> int:
        """How many write or read scopes are open on this thread."""
        return int(getattr(self._local, "depth", 0))

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("the store is closed", entity=self.where)

    @contextmanager
    def _scope(self, *, write: bool, snapshot: bool = False) -> Iterator[psycopg.Connection[Any]]:
        self._check_open()
        local = self._local
        conn: psycopg.Connection[Any] | None = getattr(local, "conn", None)
        if conn is not None:
            if not write:
                local.depth += 1
                try:
                    yield conn
                finally:
                    local.depth -= 1
                return
            local.depth += 1
            try:
                with conn.transaction():
                    yield conn
            except psycopg.Error as exc:
                raise translate(exc, self.where) from exc
            finally:
                local.depth -= 1
            return
        home: psycopg.Connection[Any] | None = getattr(local, "home", None)
        if home is not None and home.broken:
            home = local.home = None  # dropped: later scopes borrow from the pool again
        try:
            with nullcontext(home) if home is not None else self.pool.connection() as conn:
                local.conn, local.depth = conn, 1
                try:
                    if snapshot:
                        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                        try:
                            yield conn
                        finally:
                            if not conn.broken:
                                conn.execute("COMMIT")
                    else:
                        with conn.transaction():
                            yield conn
                finally:
                    local.conn, local.depth = None, 0
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.where) from exc

    def write(self) -> Any:
        """A write scope: the thread's outermost opens a transaction, inner ones savepoints."""
        return self._scope(write=True)

    def read(self) -> Any:
        """A read scope: one transaction (joins the thread's open scope when there is one)."""
        return self._scope(write=False)

    def snapshot(self) -> Any:
        """A read scope on one snapshot (REPEATABLE READ) for multi-statement columnar reads."""
        return self._scope(write=False, snapshot=True)

    def lock_customers(self, conn: psycopg.Connection[Any]) -> None:
        """Serialise writers of the customer graph (identities, merges, erasure) to commit."""
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (self.lock_key,))

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement (joins the thread's scope, else runs on its own)."""
        self._check_open()
        conn: psycopg.Connection[Any] | None = getattr(self._local, "conn", None)
        try:
            if conn is None:
                conn = getattr(self._local, "home", None)
            if conn is not None and not conn.broken:
                return conn.execute(sql, args).fetchall()
            with self.pool.connection() as own:
                return own.execute(sql, args).fetchall()
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.where) from exc

    def chained(
        self,
        first: Sequence[tuple[str, Sequence[Any] | Mapping[str, Any]]],
        then: Callable[
            [list[list[tuple[Any, ...]]]],
            Sequence[tuple[str, Sequence[Any] | Mapping[str, Any]]],
        ],
    ) -> tuple[list[list[tuple[Any, ...]]], list[list[tuple[Any, ...]]]]:
        """Two pipelines on one snapshot, in two round trips; ``then`` builds the second.

        ``then`` gets the rows of ``first`` and returns the statements to send next
        (none: only the transaction's end is sent). Outside the thread's scope the
        transaction's ``BEGIN`` (REPEATABLE READ, READ ONLY) travels with the first
        pipeline and its ``COMMIT`` with the second, so BEGIN and COMMIT cost no round
        trip of their own; inside a scope both pipelines join its transaction. Every
        statement is prepared on the connection at its first use (``prepare=True``): a
        later use sends only its name and parameters.
        """
        self._check_open()
        local = self._local
        conn: psycopg.Connection[Any] | None = getattr(local, "conn", None)
        try:
            if conn is not None:
                return _chained(conn, first, then, wrap=False)
            home: psycopg.Connection[Any] | None = getattr(local, "home", None)
            if home is not None and not home.broken:
                return _chained(home, first, then, wrap=True)
            with self.pool.connection() as own:
                return _chained(own, first, then, wrap=True)
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.where) from exc

    @contextmanager
    def pinned(self) -> Iterator[None]:
        """A block in which this thread's scopes all use one connection of the pool.

        Statements are prepared per connection (psycopg prepares one after a few uses),
        so a long run of batches on one connection prepares them once, and no batch
        waits for a free connection. Commits are the same as outside the block.
        """
        self._check_open()
        local = self._local
        if getattr(local, "home", None) is not None or getattr(local, "conn", None) is not None:
            yield  # already pinned, or inside a scope (which holds its connection)
            return
        try:
            with self.pool.connection() as conn:
                local.home = conn
                try:
                    yield
                finally:
                    local.home = None
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.where) from exc

    @contextmanager
    def autocommit(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection outside any transaction (VACUUM); refused inside a scope."""
        self._check_open()
        if getattr(self._local, "conn", None) is not None:
            raise StorageError(
                "cannot run inside a transaction", entity=self.where, field="transaction"
            )
        try:
            with self.pool.connection() as conn:
                yield conn
        except (psycopg.Error, PoolTimeout) as exc:
            raise translate(exc, self.where) from exc

    def close(self) -> None:
        """Close every connection of the pool; further use raises StorageError."""
        if not self._closed:
            self._closed = True
            self.pool.close()
