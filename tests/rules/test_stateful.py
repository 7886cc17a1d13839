"""Random events, clock moves, consent changes, duplicates, restarts and a second process.

Invariants checked on every action handed out: no marketing without a current consent,
no idempotency key twice, the frequency cap never exceeded, quiet hours never violated,
exits honoured; and nothing lost: after advance(now) no timer is overdue, and in the end
every enrollment finishes.
"""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import hypothesis.strategies as st
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import ecomcrm
from ecomcrm.domain import Consent, Event, Purpose
from ecomcrm.rules import (
    Action,
    ActionStep,
    BranchStep,
    Engine,
    Exit,
    Flow,
    FrequencyCap,
    Policies,
    QuietHours,
    Trigger,
    WaitStep,
)
from ecomcrm.rules._schedule import in_window

from .conftest import add_customer

START = datetime(2024, 3, 9, 12, tzinfo=UTC)  # US DST starts the next night
CUSTOMERS = {
    "c0": "America/New_York",
    "c1": "Europe/London",
    "c2": "Asia/Tokyo",
    "c3": None,
}
CAP = timedelta(hours=16)
QUIET = QuietHours(start="21:00", end="08:00", channels=["sms"])
POLICIES = Policies(caps=[FrequencyCap(limit=1, per=CAP)], quiet_hours=[QUIET])

FLOWS = [
    Flow(
        id="cart",
        trigger=Trigger.on_event("Checkout Started"),
        steps=[
            WaitStep(id="w1", duration="1h"),
            ActionStep(id="r1", channel="email", template="cart1"),
            WaitStep(id="w2", duration="24h"),
            BranchStep(id="first", condition="orders_count == 0", then="r2", otherwise="r2b"),
            ActionStep(id="r2", channel="sms", template="cart2", on_cap="defer", next="end"),
            ActionStep(id="r2b", channel="email", template="cart2b"),
        ],
        exits=[Exit(event="Order Completed")],
        reentry="always",
    ),
    Flow(
        id="promo",
        trigger=Trigger.on_event("Product Viewed"),
        steps=[
            WaitStep(id="w", duration="3h"),
            ActionStep(id="sms", channel="sms", template="promo", on_cap="defer"),
        ],
        reentry={"mode": "cooldown", "cooldown": "1d"},
    ),
    Flow(
        id="receipt",
        trigger=Trigger.on_event("Order Completed"),
        steps=[ActionStep(id="r", channel="email", purpose="transactional", template="receipt")],
        reentry="always",
    ),
]


class EngineMachine(RuleBasedStateMachine):
    url = "memory://"

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        url = self.url.replace("{tmp}", str(Path(self.tmp.name) / "s.db"))
        self.store = ecomcrm.open_store(url)
        for cid, tz in CUSTOMERS.items():
            add_customer(
                self.store,
                cid,
                phone=True,
                tz=tz,
                consent=("email", "sms"),
                at=START - timedelta(days=1),
            )
        self.engine = Engine(self.store, FLOWS, POLICIES)
        self.other = Engine(self.store, FLOWS, POLICIES)
        self.now = START
        self.keys: set[str] = set()
        self.marketing: dict[str, list[datetime]] = {c: [] for c in CUSTOMERS}
        self.exited: set[str] = set()  # cart enrollment ids that must never act again
        self.last_event: Event | None = None
        self.counter = 0

    def teardown(self) -> None:
        self.store.close()
        self.tmp.cleanup()

    # --- checking ---------------------------------------------------------------------

    def check(self, actions: list[Action]) -> None:
        for a in actions:
            assert a.idempotency_key not in self.keys, a
            self.keys.add(a.idempotency_key)
            assert a.enrollment_id not in self.exited, a
            if a.purpose is Purpose.MARKETING:
                assert a.channel is not None
                assert self.store.consents.is_granted(a.customer_id, a.channel, "marketing"), a
                recent = [t for t in self.marketing[a.customer_id] if t > self.now - CAP]
                assert not recent, (a, recent)
                self.marketing[a.customer_id].append(self.now)
                if a.channel.value == "sms":
                    tz = CUSTOMERS[a.customer_id]
                    assert not in_window(self.now, QUIET.start, QUIET.end, tz), (a, self.now)

    # --- rules ------------------------------------------------------------------------

    @rule(
        name=st.sampled_from(["Checkout Started", "Product Viewed", "Order Completed", "Other"]),
        cid=st.sampled_from(sorted(CUSTOMERS)),
        minutes=st.integers(0, 600),
        batch=st.booleans(),
    )
    def event(self, name: str, cid: str, minutes: int, batch: bool) -> None:
        self.now += timedelta(minutes=minutes)
        self.check(self.engine.advance(self.now))
        self.counter += 1
        event = Event(name=name, customer_id=cid, at=self.now, properties={"n": self.counter})
        if name == "Order Completed":
            before = self.engine.explain(cid, "cart")
            if before.status == "active" and before.enrollment_id:
                self.exited.add(before.enrollment_id)
        out = self.engine.handle_many([event]) if batch else self.engine.handle(event)
        self.check(out)
        self.last_event = event

    @precondition(lambda self: self.last_event is not None)
    @rule()
    def duplicate(self) -> None:
        assert self.last_event is not None
        self.check(self.engine.handle(self.last_event, now=self.now))

    @rule(hours=st.integers(0, 40), other=st.booleans())
    def advance(self, hours: int, other: bool) -> None:
        self.now += timedelta(hours=hours, minutes=7)
        engine = self.other if other else self.engine
        self.check(engine.advance(self.now))

    @rule()
    def advance_twice_concurrently(self) -> None:
        self.now += timedelta(hours=1)
        self.check(self.engine.advance(self.now) + self.other.advance(self.now))

    @rule(
        cid=st.sampled_from(sorted(CUSTOMERS)),
        channel=st.sampled_from(["email", "sms"]),
        granted=st.booleans(),
    )
    def consent(self, cid: str, channel: str, granted: bool) -> None:
        self.now += timedelta(minutes=1)
        self.store.consents.record(
            Consent(
                customer_id=cid, channel=channel, purpose="marketing", granted=granted, at=self.now
            )
        )

    @rule()
    def restart(self) -> None:
        self.engine = Engine(self.store, FLOWS, POLICIES)

    @invariant()
    def nothing_overdue_after_advance(self) -> None:
        self.check(self.engine.advance(self.now))
        due = self.engine.next_due()
        assert due is None or due > self.now


class SqliteMachine(EngineMachine):
    url = "sqlite:///{tmp}"


def _final(machine: EngineMachine) -> None:
    # catching up can defer (caps, quiet hours) past the new clock: keep the clock moving.
    # One customer's three pending messages (cart email, cart sms, promo sms) may each wait
    # a 16 h cap and then up to 11 h of quiet hours: 48 hours were found too short (the
    # promo sms of a case Hypothesis found was due 3 hours after them), 96 are enough
    machine.now += timedelta(days=30)
    for _ in range(96):
        machine.now += timedelta(hours=1)
        machine.check(machine.engine.advance(machine.now))
    for cid in CUSTOMERS:
        for flow in ("cart", "promo"):
            assert machine.engine.explain(cid, flow).status != "active"


class FinishingMemory(EngineMachine):
    def teardown(self) -> None:
        _final(self)
        super().teardown()


class FinishingSqlite(SqliteMachine):
    def teardown(self) -> None:
        _final(self)
        super().teardown()


FinishingMemory.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
FinishingSqlite.TestCase.settings = settings(
    max_examples=12, stateful_step_count=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)  # fmt: skip
TestMemoryEngine = FinishingMemory.TestCase
TestSqliteEngine = FinishingSqlite.TestCase
