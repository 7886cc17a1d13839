"""A tiny dict-backed store following the storage Protocol, for io tests before adapters land."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs

from ecomcrm.domain import (
    Consent,
    Customer,
    Event,
    Identity,
    IdentityKind,
    LoyaltyEntry,
    Order,
    Refund,
    SupportTicket,
    to_dict,
)
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError


class _Repo:
    def __init__(self, store: FakeStore) -> None:
        self.s = store


class _Customers(_Repo):
    def _check(self, c: Customer) -> None:
        for i in c.identities:
            if self.s.is_suppressed(i):
                raise ValidationError(
                    "identity is suppressed", entity="Customer", field="identities", value=i.key
                )
            owner = self.s.d["identity"].get(i.key)
            if owner is not None and owner != c.id:
                raise ConflictError(f"identity {i.key} belongs to {owner}")

    def upsert(self, c: Customer) -> bool:
        self._check(c)
        created = c.id not in self.s.d["customers"]
        old = self.s.d["customers"].get(c.id)
        if old is not None:
            for i in old.identities:
                self.s.d["identity"].pop(i.key, None)
        self.s.d["customers"][c.id] = c
        for i in c.identities:
            self.s.d["identity"][i.key] = c.id
        return created

    def put(self, c: Customer) -> None:
        if c.id in self.s.d["customers"]:
            raise ConflictError("exists")
        self.upsert(c)

    def put_many(self, cs: Iterable[Customer]) -> int:
        with self.s.transaction():
            return sum(1 for c in cs if self.upsert(c) or True)

    def find(self, cid: str) -> Customer | None:
        return self.s.d["customers"].get(self.s.resolve(cid))

    def get(self, cid: str) -> Customer:
        c = self.find(cid)
        if c is None:
            raise NotFoundError(cid)
        return c

    def find_by_identity(self, identity: Identity) -> Customer | None:
        cid = self.s.d["identity"].get(identity.key)
        return None if cid is None else self.find(cid)

    def iterate(self) -> Iterator[Customer]:
        return iter(sorted(self.s.d["customers"].values(), key=lambda c: c.id))

    def count(self) -> int:
        return len(self.s.d["customers"])


class _Orders(_Repo):
    def upsert(self, o: Order) -> bool:
        if o.customer_id not in self.s.d["customers"]:
            raise NotFoundError(o.customer_id)
        created = o.id not in self.s.d["orders"]
        self.s.d["orders"][o.id] = o
        return created

    def put_many(self, orders: Iterable[Order]) -> int:
        with self.s.transaction():
            return sum(1 for o in orders if self.upsert(o) or True)

    def get(self, oid: str) -> Order:
        try:
            return self.s.d["orders"][oid]
        except KeyError:
            raise NotFoundError(oid) from None

    def for_customer(self, cid: str) -> list[Order]:
        cid = self.s.resolve(cid)
        return sorted(
            (o for o in self.s.d["orders"].values() if o.customer_id == cid),
            key=lambda o: (o.placed_at, o.id),
        )

    def count(self) -> int:
        return len(self.s.d["orders"])

    def add_refund(self, r: Refund) -> bool:
        if r.order_id not in self.s.d["orders"]:
            raise NotFoundError(r.order_id)
        if r.id in self.s.d["refunds"]:
            return False
        self.s.d["refunds"][r.id] = r
        return True

    def refunds_for_order(self, oid: str) -> list[Refund]:
        return [r for r in self.s.d["refunds"].values() if r.order_id == oid]

    def refunds_for_customer(self, cid: str) -> list[Refund]:
        return [r for r in self.s.d["refunds"].values() if r.customer_id == cid]


class _Events(_Repo):
    def append(self, e: Event) -> bool:
        if e.id in self.s.d["events"]:
            return False
        self.s.d["events"][e.id] = e
        return True

    def append_many(self, es: Iterable[Event]) -> int:
        with self.s.transaction():
            return sum(self.append(e) for e in es)

    def for_anonymous(self, aid: str) -> list[Event]:
        return sorted(
            (e for e in self.s.d["events"].values() if e.anonymous_id == aid), key=lambda e: e.at
        )

    def for_customer(self, cid: str, **_: Any) -> list[Event]:
        cid = self.s.resolve(cid)
        anon = {
            k.split(":", 1)[1]
            for k, v in self.s.d["identity"].items()
            if v == cid and k.startswith("anonymous:")
        }
        return sorted(
            (
                e
                for e in self.s.d["events"].values()
                if e.customer_id == cid or e.anonymous_id in anon
            ),
            key=lambda e: (e.at, e.id),
        )

    def count(self) -> int:
        return len(self.s.d["events"])


class _Consents(_Repo):
    def record(self, c: Consent) -> None:
        if c.customer_id not in self.s.d["customers"]:
            raise NotFoundError(c.customer_id)
        self.s.d["consents"].append(c)

    def history(self, cid: str) -> list[Consent]:
        return sorted((c for c in self.s.d["consents"] if c.customer_id == cid), key=lambda c: c.at)

    def current(self, cid: str) -> dict[Any, Consent]:
        out: dict[Any, Consent] = {}
        for c in self.history(cid):
            out[(c.channel, c.purpose)] = c
        return out

    def is_granted(self, cid: str, channel: Any, purpose: Any) -> bool:
        for (ch, pu), c in self.current(cid).items():
            if ch == channel and pu == purpose:
                return c.granted
        return False


class _Tickets(_Repo):
    def upsert(self, t: SupportTicket) -> bool:
        if t.customer_id not in self.s.d["customers"]:
            raise NotFoundError(t.customer_id)
        created = t.id not in self.s.d["tickets"]
        self.s.d["tickets"][t.id] = t
        return created

    def for_customer(self, cid: str) -> list[SupportTicket]:
        return [t for t in self.s.d["tickets"].values() if t.customer_id == cid]


class _Loyalty(_Repo):
    def append(self, e: LoyaltyEntry) -> bool:
        if e.id in self.s.d["loyalty"]:
            return False
        self.s.d["loyalty"][e.id] = e
        return True

    def has(self, eid: str) -> bool:
        return eid in self.s.d["loyalty"]

    def entries(self, cid: str) -> list[LoyaltyEntry]:
        return [e for e in self.s.d["loyalty"].values() if e.customer_id == cid]

    def balance(self, cid: str) -> int:
        return sum(e.points for e in self.entries(cid))


def _hash(identity: Identity) -> str:
    return hashlib.sha256(identity.key.encode()).hexdigest()


class FakeStore:
    def __init__(self) -> None:
        self.d: dict[str, Any] = {
            "customers": {},
            "identity": {},
            "orders": {},
            "refunds": {},
            "events": {},
            "consents": [],
            "tickets": {},
            "loyalty": {},
            "merged": {},
            "tombstones": set(),
        }
        self.customers = _Customers(self)
        self.orders = _Orders(self)
        self.events = _Events(self)
        self.consents = _Consents(self)
        self.tickets = _Tickets(self)
        self.loyalty = _Loyalty(self)
        self._depth = 0
        self.transactions = 0

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        saved = copy.copy({k: copy.copy(v) for k, v in self.d.items()})
        self._depth = 1
        self.transactions += 1
        try:
            yield
        except BaseException:
            self.d = saved
            raise
        finally:
            self._depth = 0

    def resolve(self, cid: str) -> str:
        while cid in self.d["merged"]:
            cid = self.d["merged"][cid]
        return cid

    def link_identity(self, cid: str, identity: Identity) -> None:
        cid = self.resolve(cid)
        c = self.customers.get(cid)
        if any(i.key == identity.key for i in c.identities):
            return
        self.customers.upsert(attrs.evolve(c, identities=[*c.identities, identity]))

    def merge(self, survivor: str, merged: str, *, at: Any) -> Any:
        survivor, merged = self.resolve(survivor), self.resolve(merged)
        if survivor == merged:
            return None
        m = self.d["customers"].pop(merged)
        for k, v in list(self.d["identity"].items()):
            if v == merged:
                self.d["identity"][k] = survivor
        s = self.d["customers"][survivor]
        self.d["customers"][survivor] = attrs.evolve(s, identities=[*s.identities, *m.identities])
        for oid, o in list(self.d["orders"].items()):
            if o.customer_id == merged:
                self.d["orders"][oid] = attrs.evolve(o, customer_id=survivor)
        for eid, e in list(self.d["events"].items()):
            if e.customer_id == merged:
                self.d["events"][eid] = attrs.evolve(e, customer_id=survivor)
        self.d["merged"][merged] = survivor
        return None

    def is_suppressed(self, identity: Identity) -> bool:
        return _hash(identity) in self.d["tombstones"]

    def erase(self, cid: str, *, keep_order_facts: bool = False) -> Any:
        c = self.customers.get(cid)
        for i in c.identities:
            if i.kind in (IdentityKind.EMAIL, IdentityKind.PHONE):
                self.d["tombstones"].add(_hash(i))
            self.d["identity"].pop(i.key, None)
        del self.d["customers"][c.id]
        self.d["orders"] = {k: o for k, o in self.d["orders"].items() if o.customer_id != c.id}
        return {"customer_id": c.id}

    def export(self, cid: str) -> dict[str, Any]:
        return {
            "customer": to_dict(self.customers.get(cid)),
            "orders": [to_dict(o) for o in self.orders.for_customer(cid)],
        }
