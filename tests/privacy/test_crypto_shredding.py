"""Crypto-shredding: erasure reaches copies of the data file taken before it (issue 20, part 4)."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ecomcrm.domain import (
    Address,
    Customer,
    Event,
    Identity,
    Order,
    OrderLine,
    SupportTicket,
)
from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.privacy.shredding import (
    KeyRing,
    StaticKeyProvider,
    encrypted_store,
    env_key_provider,
    file_key_provider,
    new_master_keys,
)
from ecomcrm.storage import SqliteStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SECRETS = {
    "email": "zelda.quixote-shred@example.org",
    "phone": "+15550199876",
    "first": "Zeldaquixote",
    "last": "Shreddington",
    "street": "17 Obliviongasse",
    "city": "Vergessenheim",
    "postcode": "XQ9 8ZZ",
    "note": "prefers-parcel-lockers-zq",
    "ticket": "Refund for zq order please",
    "event note": "gift for zq aunt",
}
MASTER = StaticKeyProvider({"2024": bytes(range(32))})


def _zelda() -> Customer:
    return Customer(
        id="zq-1",
        created_at=T0,
        identities=[Identity.email(SECRETS["email"]), Identity.phone(SECRETS["phone"])],
        first_name=SECRETS["first"],
        last_name=SECRETS["last"],
        addresses=[
            Address(
                line1=SECRETS["street"],
                city=SECRETS["city"],
                postal_code=SECRETS["postcode"],
                country="DE",
            )
        ],
        attributes={"note": SECRETS["note"], "visits": 3},
    )


def _fill(store: object) -> None:
    s = store  # an EncryptedStore
    s.customers.put(_zelda())  # type: ignore[attr-defined]
    s.customers.put(  # type: ignore[attr-defined]
        Customer(
            id="bob",
            created_at=T0,
            first_name="Bob",
            identities=[Identity.email("bob@example.com")],
        )
    )
    for cid in ("zq-1", "bob"):
        s.orders.upsert(  # type: ignore[attr-defined]
            Order(
                id=f"o-{cid}",
                customer_id=cid,
                placed_at=T0,
                currency="EUR",
                shipping_address=Address(
                    line1=SECRETS["street"] if cid == "zq-1" else "1 Main St",
                    city="Berlin",
                    country="DE",
                ),
                lines=[OrderLine(sku="A", quantity=1, unit_price="20.00")],
            )
        )
    s.tickets.upsert(  # type: ignore[attr-defined]
        SupportTicket(
            id="t1", customer_id="zq-1", channel="email", subject=SECRETS["ticket"], opened_at=T0
        )
    )
    s.events.append(  # type: ignore[attr-defined]
        Event(
            name="Gift Note", at=T0, customer_id="zq-1", properties={"note": SECRETS["event note"]}
        )
    )


def _leaks(text: str | bytes) -> list[str]:
    haystack = text if isinstance(text, bytes) else text.encode()
    return [name for name, value in SECRETS.items() if value.encode() in haystack]


def _file_bytes(path: Path) -> bytes:
    return b"".join(
        p.read_bytes() for p in path.parent.iterdir() if p.name.startswith(path.name)
    )  # the database and any -wal / -journal beside it


def test_a_copy_taken_before_an_erasure_reveals_nothing_of_the_person_after_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "keys").mkdir()
    data, ring_path = tmp_path / "data" / "crm.db", tmp_path / "keys" / "ring.db"
    store = encrypted_store(
        SqliteStore(data), KeyRing(ring_path, MASTER), personal_properties={"note"}
    )
    _fill(store)
    live = store.customers.find_by_identity(Identity.email(SECRETS["email"].upper()))
    assert live is not None and live.first_name == SECRETS["first"]  # readable while alive
    assert _leaks(json.dumps(store.export("zq-1"))) == list(SECRETS)
    assert _leaks(repr(store.customer_360("zq-1"))) == list(SECRETS)
    with sqlite3.connect(ring_path) as ring_db:
        (wrapped,) = ring_db.execute(
            "SELECT wrapped FROM data_keys WHERE subject = 'zq-1'"
        ).fetchone()

    backup = tmp_path / "backup.db"  # what a nightly backup holds: a consistent copy
    with sqlite3.connect(data) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    assert _leaks(backup.read_bytes()) == []  # sealed at rest already

    store.erase("zq-1")
    store.close()
    assert bytes(wrapped) not in _file_bytes(ring_path)  # the key's bytes left the key ring file

    restored = encrypted_store(
        SqliteStore(backup), KeyRing(ring_path, MASTER), personal_properties={"note"}
    )
    assert _leaks(_file_bytes(backup)) == []
    shell = restored.customers.get("zq-1")  # the row is in the copy, its values are not
    assert (shell.first_name, shell.last_name, shell.identities) == ("", "", ())
    assert shell.addresses[0].country == "DE" and shell.attributes == {"note": "", "visits": 3}
    reads = [
        json.dumps(restored.export("zq-1")),
        repr(restored.customer_360("zq-1")),
        repr(list(restored.customers.iterate())),
        repr(restored.customers.find_by_identity(Identity.email(SECRETS["email"]))),
        repr(restored.events.for_customer("zq-1")),
        repr(restored.tickets.for_customer("zq-1")),
        repr(restored.orders.for_customer("zq-1")),
    ]
    assert [_leaks(r) for r in reads] == [[]] * len(reads)
    assert restored.customers.get("bob").first_name == "Bob"  # everybody else reads as before
    assert restored.orders.get("o-bob").shipping_address.line1 == "1 Main St"  # type: ignore[union-attr]
    restored.close()


def test_find_by_email_and_phone_go_through_the_keyed_hash(tmp_path: Path) -> None:
    store = encrypted_store(SqliteStore(tmp_path / "crm.db"), KeyRing(tmp_path / "k.db", MASTER))
    _fill(store)
    by_phone = store.customers.find_by_identity(Identity.phone("+1 555 019 9876"))
    assert by_phone is not None and by_phone.id == "zq-1"
    assert by_phone.identities == _zelda().identities
    store.link_identity("bob", Identity.email("robert@example.com"))
    bob = store.customers.find_by_identity(Identity.email("Robert@Example.com"))
    assert bob is not None and [i.value for i in bob.identities] == [
        "bob@example.com",
        "robert@example.com",
    ]
    store.erase("zq-1")
    assert store.is_suppressed(Identity.email(SECRETS["email"]))
    with pytest.raises(ValidationError):
        store.customers.put(_zelda())
    store.close()


def test_rotating_the_master_key_rewraps_keys_without_rewriting_data(tmp_path: Path) -> None:
    data = tmp_path / "crm.db"
    store = encrypted_store(SqliteStore(data), KeyRing(tmp_path / "k.db", MASTER))
    _fill(store)
    store.close()
    before = hashlib.sha256(data.read_bytes()).hexdigest()
    both = StaticKeyProvider({"2024": bytes(range(32)), "2025": "ab" * 32}, current="2025")
    ring = KeyRing(tmp_path / "k.db", both)
    assert ring.rotate(both) == 2  # the data keys of zq-1 and bob
    ring.close()
    assert hashlib.sha256(data.read_bytes()).hexdigest() == before
    only_new = StaticKeyProvider({"2025": "ab" * 32})
    store = encrypted_store(SqliteStore(data), KeyRing(tmp_path / "k.db", only_new))
    assert store.customers.get("zq-1").first_name == SECRETS["first"]
    store.close()
    with pytest.raises(ValidationError, match="does not hold"):
        KeyRing(tmp_path / "k.db", MASTER)  # the old master key alone no longer opens it


def test_key_providers_from_a_file_and_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "master.json"
    path.write_text(new_master_keys("file-1"))
    provider = file_key_provider(path)
    assert provider.key_id == "file-1" and provider.unwrap(provider.wrap(b"x" * 32)) == b"x" * 32
    monkeypatch.setenv("ECOMCRM_MASTER_KEYS", path.read_text())
    assert env_key_provider().unwrap(provider.wrap(b"y" * 32)) == b"y" * 32
    monkeypatch.setenv("ECOMCRM_MASTER_KEYS", "not json")
    with pytest.raises(ValidationError):
        env_key_provider()
    monkeypatch.delenv("ECOMCRM_MASTER_KEYS")
    with pytest.raises(ValidationError, match="is not set"):
        env_key_provider()
    blob = bytearray(provider.wrap(b"z" * 32))
    blob[-1] ^= 1
    with pytest.raises(ValidationError, match="tampered"):
        provider.unwrap(bytes(blob))
    with pytest.raises(ValidationError):
        StaticKeyProvider({"short": b"123"})


def test_a_token_moved_to_another_person_does_not_open(tmp_path: Path) -> None:
    ring = KeyRing(tmp_path / "k.db", MASTER)
    token = ring.encrypt("a", "secret")
    forged = token.replace(token.split(":")[1], ring.encrypt("b", "x").split(":")[1], 1)
    with pytest.raises(ValidationError):
        ring.decrypt(forged)
    ring.destroy(["a"])
    with pytest.raises(NotFoundError):
        ring.decrypt(token)
    assert ring.decrypt("plain text") == "plain text"
    ring.close()


def test_the_core_never_imports_cryptography() -> None:
    code = (
        "import sys, ecomcrm, ecomcrm.privacy, ecomcrm.storage, ecomcrm.rules, ecomcrm.cli, "
        "ecomcrm.io; print('cryptography' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert out.stdout.strip() == "False"
