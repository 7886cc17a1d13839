"""The contact-policy gate (``Policies.gate``): a pure decision, checked case by case and as a property."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomcrm.domain import Channel, Customer, Identity
from ecomcrm.rules import (
    ActionStep,
    Defer,
    ExitFlow,
    FrequencyCap,
    Policies,
    QuietHours,
    Send,
    Skip,
)
from ecomcrm.rules._schedule import to_micros

NOON = datetime(2024, 5, 6, 12, tzinfo=UTC)  # a Monday
NIGHT = datetime(2024, 5, 6, 23, tzinfo=UTC)
H = timedelta(hours=1)


@attrs.frozen
class Person:
    """A recipient as the gate sees it: plain values (the engine's reads them lazily)."""

    customer: Customer | None
    anonymous: bool = False
    suppressed: bool = False
    consents: frozenset[Channel] = frozenset(Channel)
    tz: str | None = None

    def is_suppressed(self) -> bool:
        return self.suppressed

    def consent(self, channel: Channel) -> bool:
        return channel in self.consents

    def timezone(self, default: str) -> str:
        return self.tz or default


def _customer(email: bool = True, phone: bool = True) -> Customer:
    identities = []
    if email:
        identities.append(Identity.email("a@example.com"))
    if phone:
        identities.append(Identity.phone("+447700900123"))
    return Customer(id="c1", created_at=NOON - 30 * 24 * H, identities=identities)


KNOWN = Person(_customer())
MAIL = ActionStep(id="a", channel="email", template="t")
SMS = ActionStep(id="a", channel="sms", template="t")
DEFER_SMS = ActionStep(id="a", channel="sms", template="t", on_cap="defer")
RECEIPT = ActionStep(id="a", channel="email", template="t", purpose="transactional")
TASK = ActionStep(id="a", template="t", action="task", purpose="transactional")
SENT_1H_AGO = [("email", to_micros(NOON - H))]

# (case, step, person, sends, now, expected verdict type, reason, gate keyword arguments)
CASES: list[
    tuple[
        str, ActionStep, Person, list[tuple[str, int]], datetime, type, str | None, dict[str, Any]
    ]
] = [
    ("all clear", MAIL, KNOWN, [], NOON, Send, None, {}),
    (
        "anonymous visitor",
        MAIL,
        Person(None, anonymous=True),
        [],
        NOON,
        Skip,
        "unknown_customer",
        {},
    ),
    ("unknown customer", MAIL, Person(None), [], NOON, ExitFlow, "unknown_customer", {}),
    (
        "erased, transactional too",
        RECEIPT,
        Person(None),
        [],
        NOON,
        ExitFlow,
        "unknown_customer",
        {},
    ),
    (
        "suppressed",
        MAIL,
        attrs.evolve(KNOWN, suppressed=True),
        [],
        NOON,
        ExitFlow,
        "suppressed",
        {},
    ),
    (
        "suppressed, transactional too",
        RECEIPT,
        attrs.evolve(KNOWN, suppressed=True),
        [],
        NOON,
        ExitFlow,
        "suppressed",
        {},
    ),
    ("no email address", MAIL, Person(_customer(email=False)), [], NOON, Skip, "no_address", {}),
    ("no phone number", SMS, Person(_customer(phone=False)), [], NOON, Skip, "no_address", {}),
    ("no consent", MAIL, attrs.evolve(KNOWN, consents=frozenset()), [], NOON, Skip, "consent", {}),
    (
        "no consent, flow exits on withdrawal",
        MAIL,
        attrs.evolve(KNOWN, consents=frozenset()),
        [],
        NOON,
        ExitFlow,
        "consent",
        {"exit_on_consent_withdrawn": True},
    ),
    (
        "consent on another channel only",
        SMS,
        attrs.evolve(KNOWN, consents=frozenset({Channel.EMAIL})),
        [],
        NOON,
        Skip,
        "consent",
        {},
    ),
    (
        "transactional needs no consent",
        RECEIPT,
        attrs.evolve(KNOWN, consents=frozenset()),
        [],
        NOON,
        Send,
        None,
        {},
    ),
    (
        "a task has no channel",
        TASK,
        Person(_customer(email=False, phone=False)),
        [],
        NIGHT,
        Send,
        None,
        {},
    ),
    ("quiet hours for sms", SMS, KNOWN, [], NIGHT, Defer, "quiet_hours", {}),
    (
        "quiet hours are local",
        SMS,
        attrs.evolve(KNOWN, tz="America/New_York"),
        [],
        NIGHT,
        Send,
        None,
        {},
    ),
    ("email has no quiet hours", MAIL, KNOWN, [], NIGHT, Send, None, {}),
    (
        "transactional ignores quiet hours",
        ActionStep(id="a", channel="sms", template="t", purpose="transactional"),
        KNOWN,
        [],
        NIGHT,
        Send,
        None,
        {},
    ),
    ("frequency cap skips", MAIL, KNOWN, SENT_1H_AGO, NOON, Skip, "frequency_cap", {}),
    (
        "frequency cap defers when the step says",
        DEFER_SMS,
        KNOWN,
        SENT_1H_AGO,
        NOON,
        Defer,
        "frequency_cap",
        {},
    ),
    (
        "a send outside the cap window",
        MAIL,
        KNOWN,
        [("email", to_micros(NOON - 17 * H))],
        NOON,
        Send,
        None,
        {},
    ),
    ("transactional ignores caps", RECEIPT, KNOWN, SENT_1H_AGO, NOON, Send, None, {}),
    (
        "consent is checked before quiet hours",
        SMS,
        attrs.evolve(KNOWN, consents=frozenset()),
        [],
        NIGHT,
        Skip,
        "consent",
        {},
    ),
    (
        "quiet hours are checked before caps",
        SMS,
        KNOWN,
        SENT_1H_AGO,
        NIGHT,
        Defer,
        "quiet_hours",
        {},
    ),
]


@pytest.mark.parametrize(
    ("step", "person", "sends", "now", "kind", "reason", "options"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_gate_decides_each_case(
    step: ActionStep,
    person: Person,
    sends: list[tuple[str, int]],
    now: datetime,
    kind: type,
    reason: str | None,
    options: dict[str, Any],
) -> None:
    verdict = Policies.default().gate(step, person, sends, now, **options)
    assert type(verdict) is kind
    assert getattr(verdict, "reason", None) == reason
    if isinstance(verdict, Defer):
        assert verdict.until > now


def test_gate_defers_to_when_the_cap_frees_up() -> None:
    verdict = Policies.default().gate(DEFER_SMS, KNOWN, SENT_1H_AGO, NOON)
    assert verdict == Defer("frequency_cap", "at most 1 marketing message per 16h; deferred",
                            NOON - H + 16 * H)  # fmt: skip


def test_gate_without_consent_checks_when_switched_off() -> None:
    policies = attrs.evolve(Policies.default(), require_consent=False)
    assert policies.gate(MAIL, attrs.evolve(KNOWN, consents=frozenset()), [], NOON) == Send()


CHANNELS = [None, "email", "sms", "whatsapp", "push"]


@st.composite
def situations(
    draw: st.DrawFn,
) -> tuple[Policies, ActionStep, Person, list[tuple[str, int]], datetime]:
    now = NOON + timedelta(minutes=draw(st.integers(0, 7 * 24 * 60)))
    channel = draw(st.sampled_from(CHANNELS))
    purpose = draw(st.sampled_from(["marketing", "transactional"])) if channel else "transactional"
    step = ActionStep(
        id="a", channel=channel, template="t", purpose=purpose,
        action="message" if channel else "task", on_cap=draw(st.sampled_from(["skip", "defer"])),
    )  # fmt: skip
    known = draw(st.booleans())
    person = Person(
        _customer(email=draw(st.booleans()), phone=draw(st.booleans())) if known else None,
        anonymous=draw(st.booleans()),
        suppressed=draw(st.booleans()),
        consents=frozenset(draw(st.sets(st.sampled_from(list(Channel))))),
        tz=draw(st.sampled_from([None, "Europe/Paris", "Asia/Tokyo", "America/New_York"])),
    )
    sends = [
        (draw(st.sampled_from(["email", "sms", "push"])), to_micros(now) - ago)
        for ago in draw(st.lists(st.integers(1, 48 * 3_600_000_000), max_size=3))
    ]
    policies = Policies(
        caps=[FrequencyCap(limit=draw(st.integers(1, 2)), per=f"{draw(st.integers(1, 24))}h")],
        quiet_hours=[QuietHours(start="21:00", end="08:00", channels=["sms", "whatsapp", "push"])],
    )
    return policies, step, person, sends, now


@given(situations())
def test_send_only_when_every_rule_holds(
    situation: tuple[Policies, ActionStep, Person, list[tuple[str, int]], datetime],
) -> None:
    policies, step, person, sends, now = situation
    verdict = policies.gate(step, person, sends, now)
    channel = step.channel
    customer = person.customer
    reachable = (
        customer is not None
        and not person.suppressed
        and (
            channel is None
            or (
                (channel is not Channel.EMAIL or customer.email is not None)
                and (channel not in (Channel.SMS, Channel.WHATSAPP) or customer.phone is not None)
            )
        )
    )
    allowed = reachable
    if reachable and step.is_marketing:
        assert channel is not None
        tz = person.timezone(policies.default_timezone)
        allowed = (
            channel in person.consents
            and not any(q.is_quiet(channel, now, tz) for q in policies.quiet_hours)
            and policies.cap_until(channel, sends, now) is None
        )
    assert isinstance(verdict, Send) == allowed
    if isinstance(verdict, Defer):
        assert verdict.until > now and step.is_marketing
    if not step.is_marketing:
        assert not isinstance(verdict, Defer)  # caps and quiet hours concern marketing only
