"""The key ring: one data key per person, wrapped by the master key, in its own SQLite file.

Personal values are encrypted (AES-GCM) with their person's data key; the key ring keeps
those keys, each wrapped by the application's master key (:class:`KeyProvider`), in a file
apart from the data. Erasing a person destroys their data key (:meth:`KeyRing.destroy`):
every copy of the data, backups taken before included, then holds only ciphertext nobody
can open. Rotating the master key re-wraps the data keys (:meth:`KeyRing.rotate`); the
data is not rewritten. Identities are looked up by a keyed hash (:meth:`KeyRing.blind`,
HMAC-SHA256 under an index key kept wrapped in the ring), so find-by-email still works.

The file runs with ``secure_delete`` and a rollback journal, so a destroyed key's bytes
are overwritten in the file at once. Back the key ring up on its own schedule: restoring
an old key ring brings erased people back (that is what makes erasure reach backups of
the data file).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ecomcrm.errors import NotFoundError, StorageError, ValidationError
from ecomcrm.privacy.shredding._providers import NONCE, KeyProvider

PREFIX = "enc1:"
"""How an encrypted value starts: ``enc1:<subject, base64url>:<base64 of nonce + ciphertext>``."""

_INDEX = "\x00index"  # the ring's own row: the wrapped HMAC key of blind indexes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS data_keys (subject TEXT PRIMARY KEY, wrapped BLOB NOT NULL)
"""


class KeyRing:
    """Per-person data keys in a SQLite file, wrapped by ``provider``'s master key.

    Example:
        >>> import tempfile, pathlib
        >>> from ecomcrm.privacy.shredding import StaticKeyProvider
        >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "keys.db",
        ...                StaticKeyProvider({"k1": bytes(32)}))
        >>> token = ring.encrypt("c1", "Ada Lovelace")
        >>> token.startswith("enc1:"), ring.decrypt(token)
        (True, 'Ada Lovelace')
        >>> ring.destroy(["c1"])
        1
        >>> ring.decrypt(token)
        Traceback (most recent call last):
        ...
        ecomcrm.errors.NotFoundError: KeyRing.subject: the data key was destroyed (the person was erased) (got 'c1')
    """

    def __init__(self, path: str | Path, provider: KeyProvider) -> None:
        self.path = str(path)
        self.provider = provider
        self._lock = threading.RLock()
        self._cache: dict[str, AESGCM] = {}
        try:
            self._conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._conn.execute("PRAGMA secure_delete = ON")
            self._conn.execute("PRAGMA journal_mode = DELETE")
            self._conn.execute(_SCHEMA)
        except sqlite3.Error as exc:
            raise StorageError(str(exc), entity="KeyRing", field="path", value=self.path) from exc
        self._index = hmac.new(self._index_key(), digestmod=hashlib.sha256)

    # --- keys ---------------------------------------------------------------------------

    def _row(self, subject: str) -> bytes | None:
        row = self._conn.execute(
            "SELECT wrapped FROM data_keys WHERE subject = ?", (subject,)
        ).fetchone()
        return None if row is None else bytes(row[0])

    def _index_key(self) -> bytes:
        with self._lock:
            wrapped = self._row(_INDEX)
            if wrapped is None:
                key = secrets.token_bytes(32)
                self._conn.execute(
                    "INSERT INTO data_keys (subject, wrapped) VALUES (?, ?)",
                    (_INDEX, self.provider.wrap(key)),
                )
                return key
            return self.provider.unwrap(wrapped)

    def _key(self, subject: str, *, create: bool) -> AESGCM:
        self._key_check(subject)
        with self._lock:
            found = self._cache.get(subject)
            if found is not None:
                return found
            wrapped = self._row(subject)
            if wrapped is None:
                if not create:
                    raise NotFoundError(
                        "the data key was destroyed (the person was erased)",
                        entity="KeyRing",
                        field="subject",
                        value=subject,
                    )
                raw = secrets.token_bytes(32)
                self._conn.execute(
                    "INSERT INTO data_keys (subject, wrapped) VALUES (?, ?)",
                    (subject, self.provider.wrap(raw)),
                )
            else:
                raw = self.provider.unwrap(wrapped)
            found = self._cache[subject] = AESGCM(raw)
            return found

    def prepare(self, subjects: Iterable[str]) -> None:
        """Make the missing data keys of ``subjects`` in one transaction (before a batch).

        One key at a time costs a transaction (and a sync of the file) per new person;
        an import calls this once per batch.

        Example:
            >>> import tempfile, pathlib
            >>> from ecomcrm.privacy.shredding import StaticKeyProvider
            >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.db",
            ...                StaticKeyProvider({"k1": bytes(32)}))
            >>> ring.prepare(["c1", "c2"]); ring.has_key("c2")
            True
        """
        with self._lock:
            wanted = sorted({s for s in subjects if s not in self._cache})
            for subject in wanted:
                self._key_check(subject)
            if not wanted:
                return
            known: set[str] = set()
            for start in range(0, len(wanted), 500):
                chunk = wanted[start : start + 500]
                marks = ",".join("?" * len(chunk))
                known.update(
                    r[0]
                    for r in self._conn.execute(
                        f"SELECT subject FROM data_keys WHERE subject IN ({marks})", chunk
                    )
                )
            fresh = [(s, secrets.token_bytes(32)) for s in wanted if s not in known]
            if not fresh:
                return
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT INTO data_keys (subject, wrapped) VALUES (?, ?)",
                    [(s, self.provider.wrap(raw)) for s, raw in fresh],
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            for s, raw in fresh:
                self._cache[s] = AESGCM(raw)

    def _key_check(self, subject: str) -> None:
        if not isinstance(subject, str) or not subject or subject == _INDEX:
            raise ValidationError(
                "must be a non-empty string", entity="KeyRing", field="subject", value=subject
            )

    def has_key(self, subject: str) -> bool:
        """True when ``subject`` has a data key (it was encrypted for and not destroyed).

        Example:
            >>> import tempfile, pathlib
            >>> from ecomcrm.privacy.shredding import StaticKeyProvider
            >>> KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.db",
            ...         StaticKeyProvider({"k1": bytes(32)})).has_key("c1")
            False
        """
        with self._lock:
            return subject in self._cache or self._row(subject) is not None

    # --- values -------------------------------------------------------------------------

    def encrypt(self, subject: str, value: str) -> str:
        """``value`` encrypted with ``subject``'s data key (made on first use).

        The token names its subject (so a value moved to another person by a merge still
        decrypts) and binds it (AES-GCM associated data: a token edited to name another
        subject does not decrypt).
        """
        nonce = secrets.token_bytes(NONCE)
        body = self._key(subject, create=True).encrypt(nonce, value.encode(), subject.encode())
        name = base64.urlsafe_b64encode(subject.encode()).decode("ascii")
        return f"{PREFIX}{name}:{base64.b64encode(nonce + body).decode('ascii')}"

    def decrypt(self, token: str) -> str:
        """The value of an :meth:`encrypt` token; NotFoundError once its key is destroyed.

        A string that is not a token is returned as it is (a value written before
        encryption was turned on).
        """
        if not token.startswith(PREFIX):
            return token
        name, _, body = token[len(PREFIX) :].partition(":")
        subject = base64.urlsafe_b64decode(name).decode()
        raw = base64.b64decode(body)
        try:
            plain = self._key(subject, create=False).decrypt(
                raw[:NONCE], raw[NONCE:], subject.encode()
            )
        except InvalidTag:
            raise ValidationError(
                "does not decrypt with its subject's data key",
                entity="KeyRing",
                field="token",
                value=subject,
            ) from None
        return plain.decode()

    def blind(self, value: str) -> str:
        """The keyed hash (HMAC-SHA256, hex) that stands for ``value`` in lookups.

        Equal values give equal hashes, so an identity is found by its hash; without the
        ring's index key nobody can compute or reverse it.

        Example:
            >>> import tempfile, pathlib
            >>> from ecomcrm.privacy.shredding import StaticKeyProvider
            >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.db",
            ...                StaticKeyProvider({"k1": bytes(32)}))
            >>> ring.blind("a@b.co") == ring.blind("a@b.co"), len(ring.blind("a@b.co"))
            (True, 64)
        """
        mac = self._index.copy()
        mac.update(value.encode())
        return mac.hexdigest()

    # --- erasure and rotation -------------------------------------------------------------

    def destroy(self, subjects: Iterable[str]) -> int:
        """Destroy these subjects' data keys (crypto-shredding); how many existed.

        Their values, in this store and in every copy of it, can no longer be decrypted.
        """
        wanted = [s for s in set(subjects) if s != _INDEX]
        with self._lock:
            for subject in wanted:
                self._cache.pop(subject, None)
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                gone = sum(
                    self._conn.execute("DELETE FROM data_keys WHERE subject = ?", (s,)).rowcount
                    for s in wanted
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
        return gone

    def rotate(self, provider: KeyProvider) -> int:
        """Re-wrap every data key (and the index key) with ``provider``'s current master key.

        ``provider`` must still hold the old master key (to unwrap); the data is not
        touched. Returns how many data keys were re-wrapped.
        """
        with self._lock:
            rows = self._conn.execute("SELECT subject, wrapped FROM data_keys").fetchall()
            rewrapped = [(provider.wrap(provider.unwrap(bytes(w))), s) for s, w in rows]
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "UPDATE data_keys SET wrapped = ? WHERE subject = ?", rewrapped
                )
                self._conn.execute("COMMIT")
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self.provider = provider
        return sum(1 for _, s in rewrapped if s != _INDEX)

    def close(self) -> None:
        """Close the key ring's file."""
        with self._lock:
            self._cache.clear()
            self._conn.close()
