"""The SQLite connection: transactions, savepoints, read scopes, opening the file, errors.

Writes take the write lock first (``BEGIN IMMEDIATE``), inner write scopes are savepoints,
reads share one snapshot; driver exceptions become ecomcrm errors here (``_translate``).
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ecomcrm.errors import (
    ConflictError,
    EcomcrmError,
    SchemaVersionError,
    StorageBusyError,
    StorageError,
)
from ecomcrm.storage.sqlite._schema import APPLICATION_ID, SCHEMA_VERSION, migrate


# the connection
class _Db:
    """One sqlite3 connection with nested write scopes and error translation."""

    def __init__(self, path: str, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self.lock = threading.RLock()
        self.depth = 0
        self.cleanup_pending = False
        # Lookups memoised for the life of one read snapshot (never inside a write).
        self._memo: dict[tuple[str, str], Any] | None = None
        self._memo_thread = 0
        self._conn: sqlite3.Connection | None = _open(path, timeout)
        # Read-only connections of threads that read while another thread holds ``lock``.
        self._readers: dict[int, sqlite3.Connection] = {}
        self._readers_lock = threading.Lock()

    @property
    def memo(self) -> dict[tuple[str, str], Any] | None:
        """The memo of the read scope open in this thread (None elsewhere and in writes)."""
        return self._memo if self._memo_thread == threading.get_ident() else None

    @memo.setter
    def memo(self, value: dict[tuple[str, str], Any] | None) -> None:
        self._memo = value
        self._memo_thread = threading.get_ident()

    def _reader(self) -> sqlite3.Connection | None:
        """The calling thread's read-only connection (None for an in-memory database).

        Used when another thread holds the connection (inside a write scope or a read):
        the read then sees the last committed state at once instead of waiting, as a
        reader on its own connection would.
        """
        if self.path == ":memory:" or self._conn is None:
            return None
        key = threading.get_ident()
        with self._readers_lock:
            conn = self._readers.get(key)
            if conn is None:
                conn = _open_reader(self.path, self.timeout)
                self._readers[key] = conn
        return conn

    @property
    def conn(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StorageError("the store is closed", entity=self.path)
        return self._conn

    def close(self) -> None:
        with self.lock:
            with self._readers_lock:
                readers, self._readers = list(self._readers.values()), {}
            for reader in readers:
                reader.close()
            if self._conn is not None:
                try:
                    self._conn.close()
                except sqlite3.Error as exc:  # pragma: no cover - close rarely fails
                    raise StorageError(f"close failed: {exc}", entity=self.path) from exc
                finally:
                    self._conn = None

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write scope: the outermost takes the write lock, inner ones are savepoints."""
        with self.lock:
            conn = self.conn
            depth = self.depth
            name = f"sp{depth}"
            try:
                conn.execute("BEGIN IMMEDIATE" if depth == 0 else f"SAVEPOINT {name}")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
            self.depth += 1
            memo, self.memo = self.memo, None
            try:
                yield conn
            except BaseException as exc:
                self.depth -= 1
                self.memo = None if memo is None else {}  # writes invalidate it
                try:
                    if depth == 0:
                        conn.execute("ROLLBACK")
                    else:
                        conn.execute(f"ROLLBACK TO {name}")
                        conn.execute(f"RELEASE {name}")
                except sqlite3.Error:  # pragma: no cover - the connection is broken
                    pass
                if isinstance(exc, sqlite3.Error):
                    raise _translate(exc, self.path) from exc
                raise
            else:
                self.depth -= 1
                self.memo = None if memo is None else {}  # writes invalidate it
                try:
                    conn.execute("COMMIT" if depth == 0 else f"RELEASE {name}")
                except sqlite3.Error as exc:
                    if depth == 0 and conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise _translate(exc, self.path) from exc
                if depth == 0 and self.cleanup_pending:
                    self.cleanup_pending = False
                    self.scrub()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read scope: one snapshot for several statements (joins an open transaction).

        While another thread holds the connection (a file database only), the scope runs
        on this thread's own read-only connection and sees the last committed state.
        """
        if not self.lock.acquire(blocking=False):
            reader = self._reader()
            if reader is not None:
                with self._read_on(reader) as conn:
                    yield conn
                return
            self.lock.acquire()
        try:
            conn = self.conn
            if self.depth > 0 or conn.in_transaction:
                try:
                    yield conn
                except sqlite3.Error as exc:
                    raise _translate(exc, self.path) from exc
                return
            try:
                conn.execute("BEGIN")
                self.depth += 1
                self.memo = {}
                try:
                    yield conn
                finally:
                    self.depth -= 1
                    self.memo = None
                    if conn.in_transaction:
                        conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise _translate(exc, self.path) from exc
        finally:
            self.lock.release()

    @contextmanager
    def _read_on(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                if conn.in_transaction:
                    conn.execute("COMMIT")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc

    def query_one(self, sql: str, args: Sequence[Any] = ()) -> Any:
        """The first row of one statement (or None), without a BEGIN/COMMIT of its own.

        A single statement reads one consistent snapshot by itself (inside an open
        transaction it joins it), so hot one-statement lookups skip the two extra round
        trips of :meth:`read`. Like :meth:`read`, it does not wait for another thread.
        """
        if self.lock.acquire(blocking=False):
            try:
                return self._first(self.conn, sql, args)
            finally:
                self.lock.release()
        reader = self._reader()
        if reader is not None:
            return self._first(reader, sql, args)
        with self.lock:
            return self._first(self.conn, sql, args)

    def _first(self, conn: sqlite3.Connection, sql: str, args: Sequence[Any]) -> Any:
        try:
            # fetchall() runs the statement to completion, so it ends its read at once.
            rows = conn.execute(sql, args).fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        return rows[0] if rows else None

    def scrub(self) -> None:
        """Flush the WAL into the database and truncate it, so deleted bytes leave the files."""
        conn = self.conn
        try:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc


def _translate(exc: sqlite3.Error, path: str) -> EcomcrmError:
    text = str(exc)
    if isinstance(exc, sqlite3.IntegrityError):
        return ConflictError(f"constraint failed: {text}", entity=path)
    if isinstance(exc, sqlite3.OperationalError) and ("locked" in text or "busy" in text):
        return StorageBusyError(
            f"the database stayed locked by another writer: {text}", entity=path
        )
    return StorageError(f"{type(exc).__name__}: {text}", entity=path)


_MAGIC = b"SQLite format 3\x00"


_MMAP_SIZE = 1 << 34


def _inspect(path: str) -> tuple[int, int] | None:
    """(application_id, user_version) from the file header, read without opening SQLite.

    None for a file that is missing or empty (a new database). Reading the 100-byte header
    directly guarantees that a foreign file is refused without SQLite creating ``-wal`` or
    ``-shm`` files next to it; the header is checked again inside the first transaction.
    """
    if path == ":memory:" or not os.path.exists(path) or os.path.getsize(path) == 0:
        return None
    try:
        with open(path, "rb") as handle:
            header = handle.read(100)
    except OSError as exc:
        raise StorageError(f"cannot read the file: {exc}", entity=path) from exc
    if len(header) < 100 or not header.startswith(_MAGIC):
        raise StorageError("not an ecomcrm database (not a SQLite file)", entity=path)
    version = int.from_bytes(header[60:64], "big", signed=True)
    app = int.from_bytes(header[68:72], "big", signed=True)
    wal = path + "-wal"
    if app == 0 and header[18] == 2 and os.path.exists(wal) and os.path.getsize(wal) > 0:
        # A WAL database whose first page may still live only in the log (another
        # connection has it open): decide inside the first transaction instead.
        return None
    return app, version


def _check_identity(path: str, found: tuple[int, int] | None) -> None:
    if found is None:
        return
    app, version = found
    if app != APPLICATION_ID:
        raise StorageError(
            "not an ecomcrm database (another application's SQLite file)",
            entity=path,
            field="application_id",
            value=app,
        )
    if version > SCHEMA_VERSION:
        raise SchemaVersionError(
            f"written by a newer ecomcrm (schema {version}; this version reads up to "
            f"{SCHEMA_VERSION}); upgrade ecomcrm to open it",
            entity=path,
            field="schema_version",
            value=version,
        )


def _open(path: str, timeout: float) -> sqlite3.Connection:
    _check_identity(path, _inspect(path))
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
    except sqlite3.Error as exc:
        raise StorageError(f"cannot open the file: {exc}", entity=path) from exc
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA cache_size = -65536")
        conn.execute("PRAGMA temp_store = MEMORY")
        # Memory-mapped reads of the database file (up to SQLite's compile-time cap):
        # large reads such as the columnar cache skip one read() call per page.
        conn.execute(f"PRAGMA mmap_size = {_MMAP_SIZE}").fetchall()
        conn.execute("BEGIN IMMEDIATE")
        try:
            app = conn.execute("PRAGMA application_id").fetchone()[0]
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
            if app == 0 and version == 0 and tables == 0:
                migrate(conn, 0)
            else:
                _check_identity(path, (app, version))
                if version < SCHEMA_VERSION:
                    migrate(conn, version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    except sqlite3.Error as exc:
        conn.close()
        raise _translate(exc, path) from exc
    except BaseException:
        conn.close()
        raise
    return conn


def _open_reader(path: str, timeout: float) -> sqlite3.Connection:
    """A second, read-only connection to an open database (for another thread's reads)."""
    try:
        conn = sqlite3.connect(path, timeout=timeout, isolation_level=None, check_same_thread=False)
        conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
        conn.execute("PRAGMA query_only = ON")
        conn.execute(f"PRAGMA mmap_size = {_MMAP_SIZE}").fetchall()
    except sqlite3.Error as exc:
        raise _translate(exc, path) from exc
    return conn
