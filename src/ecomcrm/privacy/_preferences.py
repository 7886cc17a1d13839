"""Consent topics and the preference centre: what a person agreed to, topic by topic.

An application defines its :class:`ConsentTopic` s (``"newsletter"``, ``"offers"``,
``"product_updates"``, ``"reviews"``...), each under a purpose, on its channels, with the
lawful basis and the version of the wording shown. A :class:`PreferenceCentre` holds them,
records a person's choice with its proof (:meth:`PreferenceCentre.record`) and reads back a
:class:`ConsentState`: every topic x channel with the decision in force, its source, basis
and wording version, as a preference page needs.

The decision in force is :func:`ecomcrm.domain.current_decision`, the rule the rules
engine applies to a flow that declares the topic (``Flow.topic``): the latest decision
about the topic or about its whole purpose on that channel. Nothing is in force without
a decision: consent is opt-in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import attrs

from ecomcrm.domain import (
    Channel,
    Consent,
    LawfulBasis,
    Purpose,
    current_decision,
    is_consent_topic,
)
from ecomcrm.errors import ValidationError
from ecomcrm.storage import Store


def _name(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not is_consent_topic(value):
        raise ValidationError(
            "must be a consent topic name: 1-64 of a-z, 0-9, '_', '.', '-'",
            entity="ConsentTopic",
            field="name",
            value=value,
        )


def _to_channels(value: Any) -> Any:
    if isinstance(value, str | Channel):
        value = [value]
    try:
        return tuple(sorted({Channel(c) for c in value}))
    except (TypeError, ValueError):
        raise ValidationError(
            "must be channel names", entity="ConsentTopic", field="channels", value=value
        ) from None


def _channels(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not value:
        raise ValidationError(
            "needs at least one channel", entity="ConsentTopic", field="channels", value=value
        )


@attrs.frozen(kw_only=True)
class ConsentTopic:
    """One purpose a person can opt in to or out of, as the application defines it.

    Attributes:
        name: Stable key (``"newsletter"``), stored in ``Consent.topic`` and declared by
            flows (``Flow.topic``).
        channels: The channels it is offered on.
        purpose: The purpose it belongs to (a purpose-wide decision covers it).
        basis: The lawful basis its messages rest on (GDPR Art. 6(1)).
        wording_version: The version of the text currently shown for it; a decision
            given on another version is reported as outdated.
        title: The label of the preference page.

    Example:
        >>> t = ConsentTopic(name="newsletter", channels=["email", "sms"], wording_version="v2")
        >>> [c.value for c in t.channels], t.basis.value
        (['email', 'sms'], 'consent')
    """

    name: str = attrs.field(validator=_name)
    channels: tuple[Channel, ...] = attrs.field(
        default=(Channel.EMAIL,), converter=_to_channels, validator=_channels
    )
    purpose: Purpose = attrs.field(default=Purpose.MARKETING, converter=Purpose)
    basis: LawfulBasis = attrs.field(default=LawfulBasis.CONSENT, converter=LawfulBasis)
    wording_version: str = ""
    title: str = ""


@attrs.frozen(kw_only=True)
class TopicChoice:
    """The decision in force for one topic on one channel (a row of :class:`ConsentState`).

    ``granted`` is False and ``decision`` None when the person never decided; ``scope``
    says whether the decision in force was about the topic (``"topic"``) or the whole
    purpose (``"purpose"``); ``outdated`` is True when it was given on a wording version
    other than the topic's current one.

    Example:
        >>> TopicChoice(topic="newsletter", channel=Channel.EMAIL, decision=None).granted
        False
    """

    topic: str
    channel: Channel
    decision: Consent | None
    current_wording: str = ""

    @property
    def granted(self) -> bool:
        """True when the decision in force is a grant."""
        return self.decision is not None and self.decision.granted

    @property
    def scope(self) -> str | None:
        """``"topic"``, ``"purpose"`` or None (no decision)."""
        if self.decision is None:
            return None
        return "purpose" if self.decision.topic is None else "topic"

    @property
    def outdated(self) -> bool:
        """True when the decision was given on another wording than the current one."""
        return (
            self.decision is not None
            and bool(self.current_wording)
            and self.decision.wording_version != self.current_wording
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form: the decision's time, source, basis, wording and proof, or None.

        Example:
            >>> TopicChoice(topic="offers", channel=Channel.SMS, decision=None).to_dict()["at"] is None
            True
        """
        d = self.decision
        return {
            "topic": self.topic,
            "channel": self.channel.value,
            "granted": self.granted,
            "scope": self.scope,
            "at": None if d is None else d.at.isoformat(),
            "source": None if d is None else d.source,
            "basis": None if d is None or d.basis is None else d.basis.value,
            "wording_version": None if d is None else d.wording_version,
            "outdated": self.outdated,
            "proof": {} if d is None else d.proof,
        }


@attrs.frozen(kw_only=True)
class ConsentState:
    """Every topic x channel of a preference centre for one person, with the decision in force.

    Example:
        >>> from datetime import datetime, timezone
        >>> topics = [ConsentTopic(name="newsletter", channels=["email"])]
        >>> c = Consent(customer_id="c1", channel="email", purpose="marketing", granted=True,
        ...             topic="newsletter", at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> state = ConsentState.from_history("c1", [c], topics)
        >>> state.granted("newsletter", "email"), len(state.choices)
        (True, 1)
    """

    customer_id: str
    choices: tuple[TopicChoice, ...]

    @classmethod
    def from_history(
        cls, customer_id: str, history: Iterable[Consent], topics: Iterable[ConsentTopic]
    ) -> ConsentState:
        """The state a consent history (in ledger order) implies for these topics.

        Example:
            >>> ConsentState.from_history("c1", [], [ConsentTopic(name="offers")]).choices[0].granted
            False
        """
        decisions = list(history)
        choices = [
            TopicChoice(
                topic=topic.name,
                channel=channel,
                decision=current_decision(decisions, channel, topic.purpose, topic.name),
                current_wording=topic.wording_version,
            )
            for topic in topics
            for channel in topic.channels
        ]
        return cls(customer_id=customer_id, choices=tuple(choices))

    def choice(self, topic: str, channel: Channel | str) -> TopicChoice:
        """The row of ``topic`` on ``channel``; ValidationError when the centre has none.

        Example:
            >>> ConsentState.from_history("c1", [], [ConsentTopic(name="offers")]).choice(
            ...     "offers", "email").scope is None
            True
        """
        wanted = Channel(channel)
        for found in self.choices:
            if found.topic == topic and found.channel is wanted:
                return found
        raise ValidationError(
            "is not a topic x channel of the preference centre",
            entity="ConsentState",
            field="topic",
            value=f"{topic}/{wanted.value}",
        )

    def granted(self, topic: str, channel: Channel | str) -> bool:
        """True when the decision in force for ``topic`` on ``channel`` is a grant.

        Example:
            >>> ConsentState.from_history("c1", [], [ConsentTopic(name="offers")]).granted(
            ...     "offers", "email")
            False
        """
        return self.choice(topic, channel).granted

    def to_dict(self) -> dict[str, Any]:
        """JSON form, as a preference page or an export reads it.

        Example:
            >>> ConsentState(customer_id="c1", choices=()).to_dict()
            {'customer_id': 'c1', 'choices': []}
        """
        return {"customer_id": self.customer_id, "choices": [c.to_dict() for c in self.choices]}


def _unique(value: Any) -> tuple[ConsentTopic, ...]:
    topics = tuple(value)
    names = [t.name for t in topics if isinstance(t, ConsentTopic)]
    if len(names) != len(topics):
        raise ValidationError(
            "must be ConsentTopic objects", entity="PreferenceCentre", field="topics", value=value
        )
    if len(set(names)) != len(names):
        raise ValidationError(
            "topic names must be unique", entity="PreferenceCentre", field="topics", value=names
        )
    return topics


@attrs.frozen
class PreferenceCentre:
    """The application's consent topics: records choices with proof, reads a person's state.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer
        >>> store = ecomcrm.open_store("memory://")
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> store.customers.put(Customer(id="c1", created_at=t))
        >>> centre = PreferenceCentre([ConsentTopic(name="offers", channels=["email", "sms"],
        ...                                         wording_version="offers-v3")])
        >>> centre.record(store, "c1", "offers", "email", True, at=t, source="preference page",
        ...               ip_address="203.0.113.9")
        >>> state = centre.state(store, "c1")
        >>> state.granted("offers", "email"), state.granted("offers", "sms")
        (True, False)
        >>> state.choice("offers", "email").decision.wording_version
        'offers-v3'
    """

    topics: tuple[ConsentTopic, ...] = attrs.field(converter=_unique)

    def topic(self, name: str) -> ConsentTopic:
        """The topic called ``name``; ValidationError naming the known ones otherwise.

        Example:
            >>> PreferenceCentre([ConsentTopic(name="offers")]).topic("offers").name
            'offers'
        """
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise ValidationError(
            f"is not a topic of the preference centre (known: {sorted(t.name for t in self.topics)})",
            entity="PreferenceCentre",
            field="topic",
            value=name,
        )

    def decision(
        self,
        customer_id: str,
        topic: str,
        channel: Channel | str,
        granted: bool,
        *,
        at: datetime,
        source: str = "",
        ip_address: str = "",
        form_id: str = "",
    ) -> Consent:
        """The consent decision for ``topic``, with its basis and current wording version.

        ValidationError for an unknown topic or a channel it is not offered on.

        Example:
            >>> from datetime import datetime, timezone
            >>> centre = PreferenceCentre([ConsentTopic(name="offers", wording_version="v1")])
            >>> c = centre.decision("c1", "offers", "email", False,
            ...                     at=datetime(2024, 1, 1, tzinfo=timezone.utc))
            >>> c.topic, c.basis.value, c.wording_version
            ('offers', 'consent', 'v1')
        """
        found = self.topic(topic)
        if Channel(channel) not in found.channels:
            raise ValidationError(
                f"is not offered for topic {topic!r}",
                entity="PreferenceCentre",
                field="channel",
                value=str(channel),
            )
        return Consent(
            customer_id=customer_id,
            channel=channel,
            purpose=found.purpose,
            granted=granted,
            at=at,
            source=source,
            topic=found.name,
            basis=found.basis,
            wording_version=found.wording_version,
            ip_address=ip_address,
            form_id=form_id,
        )

    def record(
        self,
        store: Store,
        customer_id: str,
        topic: str,
        channel: Channel | str,
        granted: bool,
        *,
        at: datetime,
        source: str = "",
        ip_address: str = "",
        form_id: str = "",
    ) -> None:
        """Record a person's choice (:meth:`decision`) in the store's consent ledger.

        Example:
            >>> PreferenceCentre([]).topics
            ()
        """
        store.consents.record(
            self.decision(
                customer_id,
                topic,
                channel,
                granted,
                at=at,
                source=source,
                ip_address=ip_address,
                form_id=form_id,
            )
        )

    def state(self, store: Store, customer_id: str) -> ConsentState:
        """The person's :class:`ConsentState` for every topic x channel of the centre.

        NotFoundError for an unknown customer (``customer_id`` is resolved through merges).

        Example:
            >>> import ecomcrm
            >>> from datetime import datetime, timezone
            >>> from ecomcrm.domain import Customer
            >>> store = ecomcrm.open_store("memory://")
            >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
            >>> PreferenceCentre([ConsentTopic(name="offers")]).state(store, "c1").to_dict()["choices"][0]["granted"]
            False
        """
        person = store.customers.get(customer_id)
        return ConsentState.from_history(person.id, store.consents.history(person.id), self.topics)
