"""Privacy: export and erasure (a behaviour group of the storage conformance kit)."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest

from ecomcrm.domain import (
    Address,
    Identity,
    LoyaltyEntry,
    Refund,
    to_dict,
)
from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import customer_id_identity
from ecomcrm.testing._conformance._fixtures import (
    StoreFixtures,
    at,
    consent,
    customer,
    event,
    message,
    order,
    ticket,
)

_SECRET_EMAIL = "zebulonia.quattlebaum@example.org"
_SECRET_PHONE = "+33687654321"
_SECRETS = (_SECRET_EMAIL, _SECRET_PHONE, "Zebulonia", "Quattlebaum", "Rue Fictive", "ext-zq-77")


class ExportEraseBehaviour(StoreFixtures):
    """Privacy: complete exports and complete erasure with suppression."""

    def _write_person(self, store: Store) -> None:
        store.customers.put(
            customer(
                "p1",
                Identity.email(_SECRET_EMAIL),
                Identity.phone(_SECRET_PHONE),
                Identity(kind="external", value="ext-zq-77"),
                Identity(kind="anonymous", value="cookie-zq"),
                first_name="Zebulonia",
                last_name="Quattlebaum",
                addresses=[Address(line1="12 Rue Fictive", city="Lyon", country="FR")],
                attributes={"note": "Zebulonia likes tea"},
                tags={"vip"},
            )
        )
        store.customers.put(customer("p2", Identity(kind="anonymous", value="cookie-old")))
        store.orders.upsert(order("o-p2", "p2", 0.5, price="7.00"))
        store.merge("p1", "p2", at=at(0.6))
        store.customers.put(
            customer("other", Identity.email("other@example.com"), first_name="Bob")
        )
        store.orders.upsert(
            order(
                "o1",
                "p1",
                1,
                price="20.00",
                shipping_address=Address(line1="12 Rue Fictive", city="Lyon"),
                discount_codes=["ZEBULONIA"],
            )
        )
        store.orders.upsert(order("o2", "other", 2, price="5.00"))
        store.orders.add_refund(
            Refund(
                id="r1",
                order_id="o1",
                customer_id="p1",
                at=at(3),
                amount="5.00",
                currency="EUR",
                reason="Zebulonia Quattlebaum says torn",
            )
        )
        store.events.append(
            event("Identify", 1, cid="p1", email=_SECRET_EMAIL, full_name="Zebulonia Quattlebaum")
        )
        store.events.append(event("Product Viewed", 0.2, anon="cookie-zq", phone=_SECRET_PHONE))
        store.events.append(event("Product Viewed", 0.3, anon="cookie-old"))
        store.consents.record(consent("p1", True, 1, source=f"form of {_SECRET_EMAIL}"))
        store.tickets.upsert(ticket("t1", "p1", 2, subject="Zebulonia Quattlebaum: parcel lost"))
        store.loyalty.append(
            LoyaltyEntry(
                id="l1", customer_id="p1", kind="earn", points=10, at=at(1), description="Zebulonia"
            )
        )
        store.messages.upsert(
            message("m1", "p1", 2, params={"first_name": "Zebulonia", "to": _SECRET_EMAIL})
        )
        store.state.put(
            "enrollment:welcome:p1", {"email": _SECRET_EMAIL}, expected_version=None, owner="p1"
        )
        store.state.put(
            "enrollment:welcome:p2", {"phone": _SECRET_PHONE}, expected_version=None, owner="p2"
        )
        store.state.put(  # an unidentified visitor's record, owned by the anonymous identity
            "enr:browse:anonymous:cookie-zq", {"props": _SECRET_PHONE}, expected_version=None,
            owner="anonymous:cookie-zq",
        )  # fmt: skip
        store.state.put("global:config", {"ok": True}, expected_version=None)

    def test_export_holds_everything_and_is_json(self, store: Store) -> None:
        """Contract: export holds everything and is json."""
        self._write_person(store)
        doc = store.export("p2")
        text = json.dumps(doc)
        assert doc["customer_id"] == "p1"
        assert doc["customer"]["first_name"] == "Zebulonia"
        assert [o["id"] for o in doc["orders"]] == ["o-p2", "o1"]
        assert [r["id"] for r in doc["refunds"]] == ["r1"]
        assert len(doc["events"]) == 3
        assert len(doc["consents"]) == 1
        assert [t["id"] for t in doc["tickets"]] == ["t1"]
        assert doc["loyalty"]["balance"] == 10
        assert [m["id"] for m in doc["messages"]] == ["m1"]
        assert [m["merged_id"] for m in doc["merges"]] == ["p2"]
        assert _SECRET_PHONE in text and "other@example.com" not in text
        with pytest.raises(NotFoundError):
            store.export("ghost")

    def _assert_gone(self, store: Store, text: str) -> None:
        for secret in _SECRETS:
            assert secret not in text, f"{secret!r} survived the erasure"

    def _everything_readable(self, store: Store) -> str:
        parts = [json.dumps(store.export(c.id)) for c in store.customers.iterate()]
        parts += [json.dumps(to_dict(e)) for e in store.events.for_anonymous("cookie-zq")]
        parts += [json.dumps(to_dict(e)) for e in store.events.for_anonymous("cookie-old")]
        parts += [json.dumps(dict(r.value)) + r.key for r in store.state.scan()]
        for oid in ("o1", "o-p2"):
            with contextlib.suppress(NotFoundError):
                parts.append(json.dumps(to_dict(store.orders.get(oid))))
        parts.append(repr(store.order_facts(currency="EUR")))
        parts.append(repr(store.event_facts()))
        parts.append(repr(store.customer_table()))
        return "\n".join(parts)

    def test_erase_removes_everything_and_suppresses(self, store: Store) -> None:
        """Contract: erase removes everything and suppresses."""
        self._write_person(store)
        receipt = store.erase("p2")
        assert receipt.customer_id == "p1"
        assert receipt.kept_order_facts is False
        assert len(receipt.tombstones) >= 2 and _SECRET_EMAIL not in "".join(receipt.tombstones)
        for cid in ("p1", "p2"):
            assert store.customers.find(cid) is None
            assert store.orders.for_customer(cid) == []
            assert store.events.for_customer(cid) == []
            assert store.consents.history(cid) == []
            assert store.tickets.for_customer(cid) == []
            assert store.loyalty.entries(cid) == []
            assert store.messages.for_customer(cid) == []
        assert store.customers.count() == 1
        assert store.orders.count() == 1
        assert store.events.for_anonymous("cookie-zq") == []
        assert store.state.get("enrollment:welcome:p1") is None
        assert store.state.get("global:config") is not None
        assert not store.loyalty.has("l1")
        with pytest.raises(NotFoundError):
            store.orders.get("o1")
        for identity in (Identity.email(_SECRET_EMAIL), Identity.phone(_SECRET_PHONE)):
            assert store.customers.find_by_identity(identity) is None
            assert store.is_suppressed(identity)
        assert not store.is_suppressed(Identity.email("other@example.com"))
        self._assert_gone(store, self._everything_readable(store))

    def test_suppressed_identities_are_refused(self, store: Store) -> None:
        """Contract: suppressed identities are refused."""
        self._write_person(store)
        store.erase("p1")
        with pytest.raises(ValidationError):
            store.customers.put(customer("new", Identity.email(_SECRET_EMAIL.upper())))
        with pytest.raises(ValidationError):
            store.customers.upsert(customer("new", Identity.phone(_SECRET_PHONE)))
        with pytest.raises(ValidationError):
            store.link_identity("other", Identity.email(_SECRET_EMAIL))
        assert store.customers.find("new") is None
        store.customers.put(customer("new", Identity.email("fresh@example.com")))

    def test_an_erased_customer_id_is_not_brought_back(self, store: Store) -> None:
        """Contract: the erased id (and ids merged into it) can no longer be created."""
        self._write_person(store)
        store.erase("p1")
        for cid in ("p1", "p2"):
            assert store.is_suppressed(customer_id_identity(cid))
            with pytest.raises(ValidationError, match="erased"):
                store.customers.put(customer(cid))
            with pytest.raises(ValidationError):
                store.customers.upsert(customer(cid))
            with pytest.raises(ValidationError):
                store.customers.put_many([customer("fresh-1"), customer(cid)])
            assert store.customers.find(cid) is None
        assert store.customers.find("fresh-1") is None  # the batch was refused whole
        assert not store.is_suppressed(customer_id_identity("other"))
        store.customers.put_many([customer("fresh-1"), customer("p1x")])
        assert store.customers.count() == 3

    def test_erase_can_keep_anonymous_order_facts(self, store: Store) -> None:
        """Contract: erase can keep anonymous order facts."""
        self._write_person(store)
        before = store.order_facts()
        receipt = store.erase("p1", keep_order_facts=True)
        assert receipt.kept_order_facts is True
        after = store.order_facts()
        assert sorted(after.order_id.tolist()) == sorted(before.order_id.tolist())
        assert after.amount.sum() == pytest.approx(before.amount.sum())
        assert after.refunded.sum() == pytest.approx(before.refunded.sum())
        assert not {"p1", "p2"} & set(after.customer_ids.tolist())
        kept = store.orders.get("o1")
        assert kept.customer_id not in ("p1", "p2") and kept.shipping_address is None
        assert store.customers.find(kept.customer_id) is not None
        self._assert_gone(store, self._everything_readable(store))

    def test_raw_storage_holds_no_personal_data_after_erase(self, store: Store) -> None:
        """Contract: raw storage holds no personal data after erase."""
        self.require("raw_dump")
        self._write_person(store)
        assert _SECRET_EMAIL.encode() in self.raw_dump(store)
        store.erase("p1")
        raw = self.raw_dump(store)
        for secret in _SECRETS:
            assert secret.encode("utf-8") not in raw, f"{secret!r} is still in the raw storage"

    def _engine_records(self, store: Store, cid: str, n: int) -> set[str]:
        """Write the records the rules engine keeps about ``cid`` (its key layouts)."""
        keys: dict[str, dict[str, Any]] = {
            f"enr:cart:{cid}": {"cust": cid, "ctx": {"note": f"secret of {cid}"}},
            f"trg:welcome:{cid}": {"cust": cid},
            f"cnt:enr:{cid}": {"_ids": [f"e-{n}"]},
            f"cap:{cid}": {"sends": [["email", n]]},
            f"timer:{n:017d}:enr:cart:{cid}": {"k": f"enr:cart:{cid}"},
            f"act:act_{n:06d}": {"customer_id": cid, "idempotency_key": f"cart:v2:{n}"},
            f"cart:v2:{cid}": {"why": "an app's own record about the person"},
        }
        for key, value in keys.items():
            store.state.put(key, value, expected_version=None, owner=cid)
        return set(keys)

    _AWKWARD_IDS = (
        "cart", "enr", "timer", "act", "cap", "welcome", "bob", "alice:bob", "alice",
        "a:b:c", "b:c", "%3A", "a%3Ab", "a:b", "100%", "anonymous", "v2",
    )  # fmt: skip

    def test_erase_touches_only_its_subject(self, store: Store) -> None:
        """Contract: erasing a person deletes their state records and nobody else's.

        Ids equal to parts of other records' keys (``cart``, ``enr``, ``timer``, ``bob``
        beside ``alice:bob``, ids with ``:`` and ``%``) never match those parts.
        """
        records: dict[str, set[str]] = {}
        for n, cid in enumerate(self._AWKWARD_IDS):
            store.customers.put(customer(cid, Identity.email(f"person{n}@example.com")))
            records[cid] = self._engine_records(store, cid, n)
        store.state.put("flowdef:cart:000001", {"id": "cart"}, expected_version=None)
        for cid in self._AWKWARD_IDS:
            receipt = store.erase(cid)
            assert receipt.counts.get("state") == len(records.pop(cid)), cid
            expected = set().union(*records.values(), {"flowdef:cart:000001"})
            left = {r.key for r in store.state.scan()}
            assert left == expected, f"erasing {cid!r} changed {sorted(left ^ expected)}"
            assert all(r.owner in records for r in store.state.scan() if r.owner is not None)

    def test_erase_deletes_records_of_merged_ids_and_anonymous_identities(
        self, store: Store
    ) -> None:
        """Contract: the state of ids merged into the person and of their cookies goes too."""
        store.customers.put(customer("p:1", Identity(kind="anonymous", value="ck:9")))
        store.customers.put(customer("p:2"))
        store.customers.put(customer("ck:9"))  # a customer whose id is the cookie's value
        store.merge("p:1", "p:2", at=at(1))
        for key, owner in (("enr:f:p:1", "p:1"), ("enr:f:p:2", "p:2"),
                           ("enr:f:anonymous:ck:9", "anonymous:ck:9"), ("enr:f:ck:9", "ck:9")):  # fmt: skip
            store.state.put(key, {"x": 1}, expected_version=None, owner=owner)
        assert store.erase("p:2").counts.get("state") == 3
        assert [r.key for r in store.state.scan()] == ["enr:f:ck:9"]

    def test_raw_storage_holds_no_engine_state_of_the_erased(self, store: Store) -> None:
        """Contract: after erase, no byte of an erased person's state values is stored."""
        self.require("raw_dump")
        for n, cid in enumerate(("alice:bob", "bob")):
            store.customers.put(customer(cid, Identity.email(f"p{n}@example.com")))
            self._engine_records(store, cid, n)
        secret = b"secret of alice:bob"
        assert secret in self.raw_dump(store)
        store.erase("alice:bob")
        raw = self.raw_dump(store)
        assert secret not in raw and b"secret of bob" in raw

    def test_erase_unknown(self, store: Store) -> None:
        """Contract: erase unknown."""
        with pytest.raises(NotFoundError):
            store.erase("ghost")

    def test_erase_checks_the_id(self, store: Store) -> None:
        """Contract: erase of an id that is not a non-empty string: ValidationError."""
        store.customers.put(customer("p1"))
        for bad in ("", None, 1):
            with pytest.raises(ValidationError):
                store.erase(bad)  # type: ignore[arg-type]
        assert store.customers.count() == 1

    def test_erase_twice(self, store: Store) -> None:
        """Contract: an erased customer is unknown: a second erase raises NotFoundError."""
        store.customers.put(customer("p1", Identity.email("p1@example.com")))
        store.erase("p1")
        with pytest.raises(NotFoundError):
            store.erase("p1")
