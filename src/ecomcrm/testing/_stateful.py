"""A Hypothesis state machine that drives any store against a plain dict model.

Random sequences of customer writes, identity claims, orders, loyalty entries,
compare-and-set state writes, merges, erasures and failing transactions run against the
store and against a model made of dicts; after every step the store must agree with the
model. Every id and identity a run creates carries a run-unique prefix, so many runs can
share one store (the kit uses the adapter's single ``store`` fixture).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import attrs
from hypothesis import settings as Settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from ecomcrm.domain import Customer, Identity, LoyaltyEntry, Order, OrderLine
from ecomcrm.errors import ConflictError, NotFoundError, ValidationError
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import follow_merges, merge_profiles

__all__ = ["StoreStateMachine", "run_state_machine"]

_T0 = datetime(2024, 1, 1, tzinfo=UTC)
_runs = itertools.count()


class _Rollback(Exception):
    """Raised inside a transaction on purpose."""


class StoreStateMachine(RuleBasedStateMachine):
    """Runs a store against a dict model; bind ``make_store`` (or use :func:`run_state_machine`).

    Example:
        >>> from ecomcrm.storage import MemoryStore
        >>> from hypothesis import settings
        >>> run_state_machine(MemoryStore, settings=settings(max_examples=3, stateful_step_count=5))
    """

    make_store: ClassVar[Callable[[], Store] | None] = None
    customer_ids = Bundle("customer_ids")

    def __init__(self) -> None:
        super().__init__()
        factory = type(self).make_store
        if factory is None:
            raise TypeError("bind StoreStateMachine.make_store (see run_state_machine)")
        self.store = factory()
        self.prefix = f"sm{next(_runs)}-"
        self.baseline = self.store.customers.count()
        self.counter = itertools.count()
        self.customers: dict[str, Customer] = {}
        self.alias: dict[str, str] = {}
        self.owner: dict[str, str] = {}
        self.orders: dict[str, Order] = {}
        self.ledger: dict[str, LoyaltyEntry] = {}
        self.state: dict[str, tuple[dict[str, Any], int]] = {}
        self.state_owner: dict[str, str] = {}  # key -> owner, for the owned records
        self.erased: set[str] = set()
        self.suppressed: set[str] = set()

    # --- model helpers ------------------------------------------------------------------

    def _resolve(self, cid: str) -> str:
        return follow_merges(cid, self.alias.get)

    def _live(self, cid: str) -> str | None:
        target = self._resolve(cid)
        return target if target in self.customers else None

    def _email(self, k: int) -> Identity:
        return Identity.email(f"{self.prefix}e{k}@example.com")

    def _at(self) -> datetime:
        return _T0 + timedelta(minutes=next(self.counter))

    # --- rules --------------------------------------------------------------------------

    @rule(
        target=customer_ids,
        k=st.integers(0, 3),
        with_email=st.booleans(),
        points=st.integers(0, 50),
    )
    def add_customer(self, k: int, with_email: bool, points: int) -> str:
        """Create a customer, maybe claiming a (possibly taken or suppressed) email.

        A created customer also gets an order and (with ``points``) a ledger entry, so
        that merges and erasures always have records to move or delete.
        """
        cid = f"{self.prefix}c{next(self.counter)}"
        identities = (self._email(k),) if with_email else ()
        person = Customer(id=cid, created_at=self._at(), identities=identities)
        keys = [i.key for i in identities]
        if any(key in self.suppressed for key in keys):
            try:
                self.store.customers.put(person)
            except ValidationError:
                return cid
            raise AssertionError("a suppressed identity was accepted")
        if any(key in self.owner for key in keys):
            try:
                self.store.customers.put(person)
            except ConflictError:
                return cid
            raise AssertionError("an identity was given to two customers")
        self.store.customers.put(person)
        self.customers[cid] = person
        for key in keys:
            self.owner[key] = cid
        self.add_order(cid, points)
        if points:
            self.add_points(cid, points, reuse=False)
        return cid

    @precondition(lambda self: bool(self.suppressed))
    @rule(pick=st.integers(0, 100), link=st.booleans())
    def reclaim_erased_identity(self, pick: int, link: bool) -> None:
        """Re-importing an erased person's email is refused, as a new customer or a link."""
        key = sorted(self.suppressed)[pick % len(self.suppressed)]
        identity = Identity.email(key.split(":", 1)[1])
        if link and self.customers:
            target = sorted(self.customers)[pick % len(self.customers)]
            try:
                self.store.link_identity(target, identity)
            except ValidationError:
                return
            raise AssertionError("a suppressed identity was linked")
        person = Customer(
            id=f"{self.prefix}c{next(self.counter)}", created_at=self._at(), identities=[identity]
        )
        try:
            self.store.customers.put(person)
        except ValidationError:
            return
        raise AssertionError("a suppressed identity was accepted")

    @rule(cid=customer_ids, name=st.sampled_from(["Ada", "Bea", "", "Çelik"]))
    def rename(self, cid: str, name: str) -> None:
        """Upsert a live customer with a new first name."""
        target = self._live(cid)
        if target is None:
            return
        changed = attrs.evolve(self.customers[target], first_name=name)
        assert self.store.customers.upsert(changed) is False
        self.customers[target] = changed

    @rule(cid=customer_ids, price=st.integers(0, 500))
    def add_order(self, cid: str, price: int) -> None:
        """Add an order for the customer's current (resolved) id."""
        oid = f"{self.prefix}o{next(self.counter)}"
        target = self._live(cid)
        placed = Order(
            id=oid,
            customer_id=target or cid,
            placed_at=self._at(),
            currency="EUR",
            lines=[OrderLine(sku="A", quantity=1, unit_price=str(price))],
        )
        if target is None:
            try:
                self.store.orders.upsert(placed)
            except NotFoundError:
                return
            raise AssertionError("an order for a missing customer was accepted")
        assert self.store.orders.upsert(placed) is True
        self.orders[oid] = placed

    @rule(cid=customer_ids, points=st.integers(1, 100), reuse=st.booleans())
    def add_points(self, cid: str, points: int, reuse: bool) -> None:
        """Append a ledger entry, sometimes reusing an existing id (a no-op)."""
        target = self._live(cid)
        if target is None:
            return
        if reuse and self.ledger:
            eid = sorted(self.ledger)[0]
            again = attrs.evolve(self.ledger[eid], points=points, customer_id=target)
            assert self.store.loyalty.append(again) is False
            return
        item = LoyaltyEntry(
            id=f"{self.prefix}l{next(self.counter)}",
            customer_id=target,
            kind="earn",
            points=points,
            at=self._at(),
        )
        assert self.store.loyalty.append(item) is True
        self.ledger[item.id] = item

    @rule(k=st.integers(0, 2), correct=st.booleans(), n=st.integers(0, 9))
    def put_state(self, k: int, correct: bool, n: int) -> None:
        """Compare-and-set a state record with the right or a stale version."""
        key = f"{self.prefix}key{k}"
        current = self.state.get(key)
        version = None if current is None else current[1]
        expected = version if correct else (1 if version is None else version + 1)
        if correct:
            record = self.store.state.put(key, {"n": n}, expected_version=expected)
            assert record.version == (1 if version is None else version + 1)
            self.state[key] = ({"n": n}, record.version)
        else:
            try:
                self.store.state.put(key, {"n": n}, expected_version=expected)
            except ConflictError:
                return
            raise AssertionError("a stale compare-and-set write succeeded")

    @rule(cid=customer_ids, n=st.integers(0, 9))
    def put_owned_state(self, cid: str, n: int) -> None:
        """Write a state record owned by a customer id (live, merged away or erased)."""
        key = f"{self.prefix}enr:{cid}"
        current = self.state.get(key)
        version = None if current is None else current[1]
        record = self.store.state.put(key, {"n": n}, expected_version=version, owner=cid)
        assert record.owner == cid
        self.state[key] = ({"n": n}, record.version)
        self.state_owner[key] = cid

    @rule(survivor=customer_ids, merged=customer_ids)
    def merge(self, survivor: str, merged: str) -> None:
        """Merge two live customers (or re-merge: a no-op)."""
        s, m = self._live(survivor), self._live(merged)
        if s is None or m is None or (s == m and survivor == merged):
            return
        record = self.store.merge(survivor, merged, at=self._at())
        if s == m:
            assert self.store.resolve(record.merged_id) == s
            return
        assert (record.survivor_id, record.merged_id) == (s, m)
        self.customers[s] = merge_profiles(self.customers[s], self.customers.pop(m))
        self.alias[m] = s
        for key, owner in list(self.owner.items()):
            if owner == m:
                self.owner[key] = s
        for oid, placed in list(self.orders.items()):
            if placed.customer_id == m:
                self.orders[oid] = attrs.evolve(placed, customer_id=s)
        for eid, item in list(self.ledger.items()):
            if item.customer_id == m:
                self.ledger[eid] = attrs.evolve(item, customer_id=s)

    @rule(survivor=customer_ids, merged=customer_ids)
    def merge_again(self, survivor: str, merged: str) -> None:
        """A second merge rule, so merges (the subtlest operation) are drawn more often."""
        self.merge(survivor, merged)

    @rule(cid=customer_ids)
    def erase(self, cid: str) -> None:
        """Erase a live customer: everything of theirs goes, their emails are suppressed."""
        target = self._live(cid)
        if target is None:
            return
        self.store.erase(cid)
        gone = {target, *(a for a in self.alias if self._resolve(a) == target)}
        person = self.customers.pop(target)
        for identity in person.identities:
            self.owner.pop(identity.key, None)
            self.suppressed.add(identity.key)
        self.orders = {k: o for k, o in self.orders.items() if o.customer_id != target}
        self.ledger = {k: e for k, e in self.ledger.items() if e.customer_id != target}
        for alias in gone - {target}:
            del self.alias[alias]
        self.erased |= gone
        for key in [k for k, owner in self.state_owner.items() if owner in gone]:
            del self.state[key], self.state_owner[key]  # erased with the person, nobody else's

    @rule(cid=customer_ids, k=st.integers(0, 2))
    def failing_transaction(self, cid: str, k: int) -> None:
        """Write to several repositories in a transaction that then fails: nothing stays."""
        target = self._live(cid)
        try:
            with self.store.transaction():
                self.store.customers.put(
                    Customer(id=f"{self.prefix}tx{next(self.counter)}", created_at=self._at())
                )
                if target is not None:
                    self.store.loyalty.append(
                        LoyaltyEntry(
                            id=f"{self.prefix}txl{next(self.counter)}",
                            customer_id=target,
                            kind="earn",
                            points=5,
                            at=self._at(),
                        )
                    )
                    self.store.erase(target)
                key = f"{self.prefix}key{k}"
                current = self.state.get(key)
                self.store.state.put(
                    key, {"n": -1}, expected_version=None if current is None else current[1]
                )
                raise _Rollback
        except _Rollback:
            pass

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def store_agrees_with_model(self) -> None:
        """Profiles, orders, balances, resolution, state and suppression all agree."""
        store = self.store
        assert store.customers.count() - self.baseline == len(self.customers)
        for cid, person in self.customers.items():
            assert store.customers.get(cid) == person
            mine = sorted(
                (o for o in self.orders.values() if o.customer_id == cid),
                key=lambda o: (o.placed_at, o.id),
            )
            assert store.orders.for_customer(cid) == mine
            expected = sum(e.points for e in self.ledger.values() if e.customer_id == cid)
            assert store.loyalty.balance(cid) == expected
        for alias in self.alias:
            assert store.resolve(alias) == self._resolve(alias)
        for key, owner in self.owner.items():
            found = store.customers.find_by_identity(Identity.email(key.split(":", 1)[1]))
            assert found is not None and found.id == owner
        for cid in self.erased:
            assert store.customers.find(cid) is None
        for key in self.suppressed:
            assert store.is_suppressed(Identity.email(key.split(":", 1)[1]))
        for key, (value, version) in self.state.items():
            record = store.state.get(key)
            assert record is not None and dict(record.value) == value
            assert record.version == version
            assert record.owner == self.state_owner.get(key)
        owned = {r.key for r in store.state.scan(f"{self.prefix}enr:")}
        assert owned == set(self.state_owner)


def run_state_machine(make_store: Callable[[], Store], *, settings: Settings | None = None) -> None:
    """Run :class:`StoreStateMachine` against stores made by ``make_store``.

    ``make_store`` may return the same store every time: each run uses its own id prefix.

    Example:
        >>> from ecomcrm.storage import MemoryStore
        >>> from hypothesis import settings
        >>> run_state_machine(MemoryStore, settings=settings(max_examples=2, stateful_step_count=4))
    """
    machine = type(
        "BoundStoreStateMachine", (StoreStateMachine,), {"make_store": staticmethod(make_store)}
    )
    run_state_machine_as_test(
        machine,
        settings=settings or Settings(max_examples=30, stateful_step_count=25, deadline=None),
    )
