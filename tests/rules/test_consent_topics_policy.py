"""Flows that declare a consent topic (``Flow.topic``): the contact policy checks that topic.

One table: a person's consent history, the flow's topic, what the engine does with the
flow's marketing message. The same table drives the pure gate (``Policies.gate`` with a
recipient read from the history) and the real engine over a store.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from ecomcrm.domain import Channel, Consent, Customer, Identity, current_decision
from ecomcrm.errors import ConfigurationError
from ecomcrm.rules import (
    ActionStep,
    Engine,
    ExitFlow,
    Flow,
    Policies,
    ReentryPolicy,
    Send,
    Trigger,
    WaitStep,
)
from ecomcrm.storage import Store

from .conftest import T0, add_customer, ev

H = timedelta(hours=1)


def _c(granted: bool, minutes: int, topic: str | None = None, channel: str = "email") -> Consent:
    return Consent(
        customer_id="c1",
        channel=channel,
        purpose="marketing",
        granted=granted,
        at=T0 - timedelta(days=1) + timedelta(minutes=minutes),
        topic=topic,
    )


# (case, history, flow topic, sent?)
CASES: list[tuple[str, list[Consent], str | None, bool]] = [
    ("no decision at all", [], "newsletter", False),
    ("marketing granted covers every topic", [_c(True, 0)], "newsletter", True),
    ("topic granted, marketing never decided", [_c(True, 0, "newsletter")], "newsletter", True),
    ("topic granted alone is not marketing as a whole", [_c(True, 0, "newsletter")], None, False),
    ("another topic's grant does not count", [_c(True, 0, "offers")], "newsletter", False),
    ("topic withdrawn after marketing granted", [_c(True, 0), _c(False, 1, "newsletter")],
     "newsletter", False),
    ("topic withdrawn leaves other topics", [_c(True, 0), _c(False, 1, "offers")],
     "newsletter", True),
    ("topic withdrawn leaves marketing as a whole", [_c(True, 0), _c(False, 1, "newsletter")],
     None, True),
    ("a later objection to all marketing wins", [_c(True, 0, "newsletter"), _c(False, 1)],
     "newsletter", False),
    ("a later topic grant after an objection", [_c(False, 0), _c(True, 1, "newsletter")],
     "newsletter", True),
    ("another channel's grant does not count", [_c(True, 0, "newsletter", "sms")],
     "newsletter", False),
]  # fmt: skip


class _Reader:
    """A recipient that answers from a consent history, the rule the engine reads."""

    anonymous = False

    def __init__(self, history: list[Consent]) -> None:
        self.history = history
        self.customer = Customer(
            id="c1", created_at=T0 - timedelta(days=30), identities=[Identity.email("c1@x.com")]
        )

    def is_suppressed(self) -> bool:
        return False

    def consent(self, channel: Channel) -> bool:
        found = current_decision(self.history, channel, "marketing")
        return found is not None and found.granted

    def topic_consent(self, channel: Channel, topic: str) -> bool:
        found = current_decision(self.history, channel, "marketing", topic)
        return found is not None and found.granted

    def timezone(self, default: str) -> str:
        return default


def _flow(topic: str | None) -> Flow:
    return Flow(
        id="news",
        topic=topic,
        trigger=Trigger.on_event("Subscribed"),
        steps=[
            WaitStep(id="wait", duration="1h"),
            ActionStep(id="send", channel="email", template="issue_1"),
        ],
        reentry=ReentryPolicy.always(),
    )


@pytest.mark.parametrize(("case", "history", "topic", "sent"), CASES, ids=[c[0] for c in CASES])
def test_the_gate_checks_the_flows_topic(
    case: str, history: list[Consent], topic: str | None, sent: bool
) -> None:
    step = ActionStep(id="send", channel="email", template="issue_1")
    verdict = Policies(caps=[]).gate(
        step, _Reader(history), [], T0, exit_on_consent_withdrawn=True, topic=topic
    )
    assert isinstance(verdict, Send if sent else ExitFlow), case
    if not sent:
        assert verdict.reason == "consent"  # type: ignore[union-attr]
        assert (topic is None) != (f"for topic {topic!r}" in verdict.text)  # type: ignore[union-attr]


@pytest.mark.parametrize(("case", "history", "topic", "sent"), CASES, ids=[c[0] for c in CASES])
def test_the_engine_sends_only_with_the_topics_consent(
    store: Store, case: str, history: list[Consent], topic: str | None, sent: bool
) -> None:
    add_customer(store, "c1", consent=())
    store.consents.record_many(history)
    engine = Engine(store, [_flow(topic)])
    engine.handle(ev("Subscribed", "c1", T0))
    actions = engine.advance(T0 + H)
    assert len(actions) == (1 if sent else 0), case
    if not sent:
        assert engine.explain("c1", "news").decisions[-1].reason == "consent"


def test_the_topic_is_part_of_the_flows_definition() -> None:
    flow = _flow("product_updates")
    assert flow.to_dict()["topic"] == "product_updates"
    assert Flow.from_dict(flow.to_dict()) == flow
    assert "topic" not in _flow(None).to_dict()
    with pytest.raises(ConfigurationError, match="topic"):
        _flow("Product Updates")


def test_a_backtest_reads_the_topics_decision_as_of_each_send(store: Store) -> None:
    from ecomcrm.rules import backtest

    add_customer(store, "c1", consent=())
    store.consents.record_many(
        [
            _c(True, 0),  # marketing as a whole, a day before
            _c(False, 24 * 60 + 30, "newsletter"),  # the newsletter withdrawn at T0 + 30 min
        ]
    )
    events = [ev("Subscribed", "c1", T0 - 2 * H), ev("Subscribed", "c1", T0)]
    free = Policies(caps=[])
    topical = backtest(store, [_flow("newsletter")], events, end=T0 + 2 * H, policies=free)
    assert [a.due_at for a in topical.actions] == [T0 - H]  # before the withdrawal only
    general = backtest(store, [_flow(None)], events, end=T0 + 2 * H, policies=free)
    assert len(general.actions) == 2
