"""People: customers, their identities, addresses and consent records."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from types import MappingProxyType
from typing import Any

import attrs

import ecomcrm.domain._validation as v
from ecomcrm.domain._enums import (
    Channel,
    IdentityKind,
    LawfulBasis,
    Purpose,
    to_channel,
    to_identity_kind,
    to_lawful_basis,
    to_purpose,
)
from ecomcrm.errors import ValidationError

_LOCALE = re.compile(r"^[a-zA-Z]{2,3}([_-][a-zA-Z0-9]{2,8})*$")
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_TOPIC = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


def _to_country(value: Any) -> Any:
    return value.strip().upper() if isinstance(value, str) else value


@attrs.frozen(kw_only=True)
class Identity:
    """One way to recognise a customer: an email, a phone, an external id or an anonymous id.

    Emails are trimmed and lower-cased; phones are normalised to E.164 (``+`` and the
    country code, digits only). Construction fails with a ValidationError on a malformed
    value, so an Identity in hand is always normalised.

    Example:
        >>> Identity(kind="email", value="  Ada@Example.COM ").value
        'ada@example.com'
        >>> Identity(kind="phone", value="+44 (20) 7946-0958").value
        '+442079460958'
    """

    kind: IdentityKind = attrs.field(converter=to_identity_kind, validator=v.type_is(IdentityKind))
    value: str = attrs.field(validator=v.non_empty_text)

    def __attrs_post_init__(self) -> None:
        normalized: str | None
        if self.kind is IdentityKind.EMAIL:
            normalized = v.normalize_email(self.value)
            problem = "is not a valid email address"
        elif self.kind is IdentityKind.PHONE:
            normalized = v.normalize_phone(self.value)
            problem = "is not a phone number in international form (+ and country code)"
        else:
            normalized = self.value.strip()
            problem = "must not be blank"
        if not normalized:
            raise ValidationError(problem, entity="Identity", field="value", value=self.value)
        object.__setattr__(self, "value", normalized)

    @classmethod
    def email(cls, value: str) -> Identity:
        """An email identity.

        Example:
            >>> Identity.email("X@Y.io")
            Identity(kind=<IdentityKind.EMAIL: 'email'>, value='x@y.io')
        """
        return cls(kind=IdentityKind.EMAIL, value=value)

    @classmethod
    def phone(cls, value: str) -> Identity:
        """A phone identity in E.164.

        Example:
            >>> Identity.phone("0033 6 12 34 56 78").value
            '+33612345678'
        """
        return cls(kind=IdentityKind.PHONE, value=value)

    @property
    def key(self) -> str:
        """``kind:value``, the form stores index and suppress by.

        Example:
            >>> Identity.email("a@b.co").key
            'email:a@b.co'
        """
        return f"{self.kind._value_}:{self.value}"


@attrs.frozen(kw_only=True)
class Address:
    """A postal address.

    Example:
        >>> Address(line1="1 Rue de Rivoli", city="Paris", postal_code="75001", country="fr").country
        'FR'
    """

    line1: str = attrs.field(validator=v.text, converter=v.strip_text)
    line2: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    city: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    region: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    postal_code: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    country: str | None = attrs.field(
        default=None,
        converter=_to_country,
        validator=v.optional(
            v.check(lambda c: bool(_COUNTRY.match(c)), "must be ISO 3166 alpha-2")
        ),
    )


@attrs.frozen(kw_only=True)
class Customer:
    """A customer profile: who they are, how to reach them, and what we know about them.

    ``attributes`` holds app-specific JSON scalars (str, int, float, bool, None).
    ``timezone`` is an IANA name; flows use it for quiet hours and birthdays.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Customer(
        ...     id="c1",
        ...     identities=[Identity.email("ada@example.com")],
        ...     first_name="Ada",
        ...     timezone="Europe/London",
        ...     created_at=datetime(2024, 1, 5, tzinfo=timezone.utc),
        ...     tags={"vip"},
        ... )
        >>> c.email, c.full_name, sorted(c.tags)
        ('ada@example.com', 'Ada', ['vip'])
    """

    id: str = attrs.field(validator=v.non_empty_text)
    created_at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    identities: tuple[Identity, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(Identity)
    )
    first_name: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    last_name: str = attrs.field(default="", validator=v.text, converter=v.strip_text)
    birthday: date | None = attrs.field(
        default=None,
        validator=v.optional(
            v.check(lambda d: isinstance(d, date) and not isinstance(d, datetime), "must be a date")
        ),
    )
    timezone: str | None = attrs.field(default=None, validator=v.optional(v.time_zone))
    locale: str | None = attrs.field(
        default=None,
        validator=v.optional(
            v.check(lambda s: isinstance(s, str) and bool(_LOCALE.match(s)), "must be a BCP 47 tag")
        ),
    )
    country: str | None = attrs.field(
        default=None,
        converter=_to_country,
        validator=v.optional(
            v.check(
                lambda c: isinstance(c, str) and bool(_COUNTRY.match(c)), "must be ISO 3166 alpha-2"
            )
        ),
    )
    acquisition_channel: str | None = attrs.field(default=None, validator=v.optional(v.text))
    addresses: tuple[Address, ...] = attrs.field(
        default=(), converter=v.to_tuple, validator=v.tuple_of(Address)
    )
    tags: frozenset[str] = attrs.field(factory=frozenset, converter=v.to_tags, validator=v.tags)
    attributes: Mapping[str, v.JsonScalar] = attrs.field(
        factory=lambda: MappingProxyType({}),
        converter=v.freeze_mapping,
        validator=v.scalar_mapping,
    )

    def __attrs_post_init__(self) -> None:
        seen: set[str] = set()
        for identity in self.identities:
            if identity.key in seen:
                raise ValidationError(
                    "duplicate identity", entity="Customer", field="identities", value=identity.key
                )
            seen.add(identity.key)

    def _first(self, kind: IdentityKind) -> str | None:
        return next((i.value for i in self.identities if i.kind is kind), None)

    @property
    def email(self) -> str | None:
        """The first email identity, if any."""
        return self._first(IdentityKind.EMAIL)

    @property
    def phone(self) -> str | None:
        """The first phone identity, if any."""
        return self._first(IdentityKind.PHONE)

    @property
    def full_name(self) -> str:
        """First and last name joined by a space."""
        return " ".join(p for p in (self.first_name, self.last_name) if p)


def is_consent_topic(value: Any) -> bool:
    """True when ``value`` is a valid consent topic name (``Consent.topic``, ``Flow.topic``).

    1 to 64 characters of ``a-z``, ``0-9``, ``_``, ``.`` and ``-``, the first a letter or
    digit: a stable key the application defines (its wording lives in the app).

    Example:
        >>> is_consent_topic("product_updates"), is_consent_topic("Product Updates")
        (True, False)
    """
    return isinstance(value, str) and _TOPIC.match(value) is not None


def _to_topic(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


def _topic(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and not is_consent_topic(value):
        v.fail(
            instance,
            attribute,
            value,
            "must be None or a topic name: 1-64 of a-z, 0-9, '_', '.', '-' (first a letter or digit)",
        )


def _to_ip(value: Any) -> Any:
    if isinstance(value, str) and value.strip():
        try:
            return str(ipaddress.ip_address(value.strip()))
        except ValueError:
            return value
    return value.strip() if isinstance(value, str) else value


def _ip(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        v.fail(instance, attribute, value, "must be a string")
    elif value:
        try:
            ipaddress.ip_address(value)
        except ValueError:
            v.fail(instance, attribute, value, "must be an IPv4 or IPv6 address or empty")


@attrs.frozen(kw_only=True)
class Consent:
    """One consent decision, appended to the ledger; the latest covering decision wins.

    A decision is about a ``channel`` and a ``purpose``, and optionally one ``topic`` of
    that purpose that the application defines (``"newsletter"``, ``"offers"``...). A
    decision without a topic covers the whole purpose: every topic of it, and the
    purpose-wide checks (``store.consents.current`` / ``is_granted`` read only these).
    For a topic, the latest decision about that topic or about the whole purpose wins
    (:func:`current_decision`), so a purpose-wide withdrawal (an objection to direct
    marketing, GDPR Art. 21) withdraws every topic at once.

    Proof of consent (GDPR Art. 7(1)): ``source`` (where it was given), ``basis`` (the
    lawful basis, Art. 6(1)), ``wording_version`` (the text shown to the person),
    ``ip_address`` and ``form_id`` when the application passes them. All of them are
    optional, so decisions recorded before they existed read back unchanged.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Consent(customer_id="c1", channel="email", purpose="marketing", granted=True,
        ...             at=datetime(2024, 1, 1, tzinfo=timezone.utc), source="signup form")
        >>> c.channel, c.purpose, c.topic
        (<Channel.EMAIL: 'email'>, <Purpose.MARKETING: 'marketing'>, None)
        >>> n = Consent(customer_id="c1", channel="email", purpose="marketing", granted=True,
        ...             at=datetime(2024, 1, 1, tzinfo=timezone.utc), topic="Newsletter",
        ...             basis="consent", wording_version="nl-2024-01", ip_address="2001:DB8::1")
        >>> n.topic, n.basis, n.ip_address
        ('newsletter', <LawfulBasis.CONSENT: 'consent'>, '2001:db8::1')
    """

    customer_id: str = attrs.field(validator=v.non_empty_text)
    channel: Channel = attrs.field(converter=to_channel, validator=v.type_is(Channel))
    purpose: Purpose = attrs.field(converter=to_purpose, validator=v.type_is(Purpose))
    granted: bool = attrs.field(validator=v.type_is(bool))
    at: datetime = attrs.field(converter=v.to_utc, validator=v.aware_datetime)
    source: str = attrs.field(default="", validator=v.text)
    topic: str | None = attrs.field(default=None, converter=_to_topic, validator=_topic)
    basis: LawfulBasis | None = attrs.field(
        default=None, converter=to_lawful_basis, validator=v.optional(v.type_is(LawfulBasis))
    )
    wording_version: str = attrs.field(default="", converter=v.strip_text, validator=v.text)
    ip_address: str = attrs.field(default="", converter=_to_ip, validator=_ip)
    form_id: str = attrs.field(default="", converter=v.strip_text, validator=v.text)

    def covers(self, channel: Channel | str, purpose: Purpose | str, topic: str | None) -> bool:
        """True when this decision decides ``topic`` (None: the whole purpose) on ``channel``.

        Example:
            >>> from datetime import datetime, timezone
            >>> c = Consent(customer_id="c1", channel="email", purpose="marketing", granted=False,
            ...             at=datetime(2024, 1, 1, tzinfo=timezone.utc))
            >>> c.covers("email", "marketing", "offers"), c.covers("sms", "marketing", None)
            (True, False)
        """
        return (
            self.channel == Channel(channel)
            and self.purpose == Purpose(purpose)
            and (self.topic is None or self.topic == topic)
        )

    @property
    def proof(self) -> dict[str, str]:
        """What proves the decision (GDPR Art. 7(1)): the non-empty proof fields, by name.

        Example:
            >>> from datetime import datetime, timezone
            >>> Consent(customer_id="c1", channel="email", purpose="marketing", granted=True,
            ...         at=datetime(2024, 1, 1, tzinfo=timezone.utc), source="checkout",
            ...         form_id="f-7").proof
            {'source': 'checkout', 'form_id': 'f-7'}
        """
        found = {
            "source": self.source,
            "basis": "" if self.basis is None else self.basis.value,
            "wording_version": self.wording_version,
            "ip_address": self.ip_address,
            "form_id": self.form_id,
        }
        return {name: value for name, value in found.items() if value}


def current_decision(
    history: Iterable[Consent],
    channel: Channel | str,
    purpose: Purpose | str,
    topic: str | None = None,
) -> Consent | None:
    """The decision in force for ``topic`` (None: the whole purpose) on ``channel``.

    The latest decision that covers it (:meth:`Consent.covers`): a decision about the
    topic or one about the whole purpose, whichever is later (equal ``at``: the later in
    ``history``, which is in ledger order). None when nothing was decided. Without a
    topic only purpose-wide decisions count, as ``store.consents.is_granted`` reads them.

    Example:
        >>> from datetime import datetime, timezone
        >>> def c(granted, day, topic=None):
        ...     return Consent(customer_id="c1", channel="email", purpose="marketing",
        ...                    granted=granted, topic=topic,
        ...                    at=datetime(2024, 1, day, tzinfo=timezone.utc))
        >>> history = [c(True, 1), c(False, 2, "offers"), c(True, 3, "newsletter")]
        >>> [current_decision(history, "email", "marketing", t).granted
        ...  for t in ("offers", "newsletter", "reviews")]
        [False, True, True]
        >>> current_decision(history + [c(False, 4)], "email", "marketing", "newsletter").granted
        False
    """
    wanted_channel, wanted_purpose = Channel(channel), Purpose(purpose)
    found: Consent | None = None
    for consent in sorted(history, key=lambda c: c.at):
        if (
            consent.channel is wanted_channel
            and consent.purpose is wanted_purpose
            and (consent.topic is None or consent.topic == topic)
        ):
            found = consent
    return found
