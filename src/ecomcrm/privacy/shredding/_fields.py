"""Which fields are personal, and how each domain object is encrypted and decrypted.

Encrypted, each under the data key of the person it belongs to: names, every address
field but the country, string attributes (free-text notes), emails and phones (stored as
the keyed hash ``blind:<kind>:<hmac>``, an external identity the store can look up, with
the value itself encrypted in the attribute ``ecomcrm.id.<hash prefix>``),
a ticket's subject, an order's shipping address, and the event properties the application
marks personal. Kept in clear, for analytics: ids, times, amounts, country, time zone,
locale, birthday, tags, acquisition channel, external and anonymous ids (pseudonymous
keys of other systems) and every other property.

A value whose key was destroyed reads back as ``""`` (its identity is dropped): what a
copy of the data taken before the erasure still shows of the person.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs

from ecomcrm.domain import (
    Address,
    Customer,
    Event,
    Identity,
    IdentityKind,
    Order,
    SupportTicket,
)
from ecomcrm.errors import NotFoundError
from ecomcrm.privacy.shredding._keyring import PREFIX, KeyRing

BLIND = "blind:"
"""Prefix of the external identity that stands for an encrypted email, phone or external id."""

ID_ATTRIBUTE = "ecomcrm.id."
"""Prefix of the attributes that hold the encrypted identities of a customer."""

_ADDRESS_FIELDS = ("line1", "line2", "city", "region", "postal_code")
_BLINDED = frozenset({IdentityKind.EMAIL, IdentityKind.PHONE})

ANONYMOUS_SUBJECT = "anonymous:"
"""Subject of the events of an anonymous id (``"anonymous:<id>"``)."""


def blind_identity(ring: KeyRing, identity: Identity) -> Identity:
    """The identity the store keeps for ``identity``: the hash of an email or phone, else itself.

    Example:
        >>> import tempfile, pathlib
        >>> from ecomcrm.privacy.shredding import StaticKeyProvider
        >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.db", StaticKeyProvider({"k": bytes(32)}))
        >>> blind_identity(ring, Identity.email("a@b.co")).value.startswith("blind:email:")
        True
    """
    if identity.kind not in _BLINDED:
        return identity
    kind = identity.kind.value
    return Identity(kind=IdentityKind.EXTERNAL, value=f"{BLIND}{kind}:{ring.blind(identity.key)}")


class FieldCipher:
    """Encrypts domain objects on the way into a store and decrypts them on the way out.

    Example:
        >>> import tempfile, pathlib
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.privacy.shredding import StaticKeyProvider
        >>> ring = KeyRing(pathlib.Path(tempfile.mkdtemp()) / "k.db", StaticKeyProvider({"k": bytes(32)}))
        >>> cipher = FieldCipher(ring)
        >>> ada = Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...                first_name="Ada", identities=[Identity.email("ada@example.com")])
        >>> stored = cipher.customer_in(ada)
        >>> stored.first_name.startswith("enc1:"), stored.email
        (True, None)
        >>> cipher.customer_out(stored) == ada
        True
    """

    def __init__(self, ring: KeyRing, personal_properties: Collection[str] = ()) -> None:
        self.ring = ring
        self.personal_properties = frozenset(personal_properties)

    # --- values ---------------------------------------------------------------------------

    def seal(self, subject: str, value: str) -> str:
        """``value`` encrypted for ``subject`` (``""`` stays ``""``)."""
        return self.ring.encrypt(subject, value) if value else value

    def open(self, value: str) -> str:
        """A sealed value in clear; ``""`` when its key was destroyed."""
        if not value.startswith(PREFIX):
            return value
        try:
            return self.ring.decrypt(value)
        except NotFoundError:
            return ""

    def _address_in(self, subject: str, address: Address) -> Address:
        changes = {f: self.seal(subject, getattr(address, f)) for f in _ADDRESS_FIELDS}
        return attrs.evolve(address, **changes)

    def _address_out(self, address: Address) -> Address:
        changes = {f: self.open(getattr(address, f)) for f in _ADDRESS_FIELDS}
        return attrs.evolve(address, **changes)

    # --- customers --------------------------------------------------------------------------

    def customer_in(self, customer: Customer) -> Customer:
        """The customer as the store keeps it (personal fields sealed, identities hashed)."""
        if not isinstance(customer, Customer):
            return customer  # the store refuses it with its own error
        cid = customer.id
        attributes: dict[str, Any] = {
            k: self.seal(cid, v) if isinstance(v, str) else v
            for k, v in customer.attributes.items()
            if not k.startswith(ID_ATTRIBUTE)
        }
        identities = []
        for identity in customer.identities:
            stored = blind_identity(self.ring, identity)
            identities.append(stored)
            if stored is not identity:
                key = ID_ATTRIBUTE + stored.value.rsplit(":", 1)[1][:24]
                attributes[key] = self.ring.encrypt(
                    cid, json.dumps([identity.kind.value, identity.value])
                )
        return attrs.evolve(
            customer,
            identities=identities,
            first_name=self.seal(cid, customer.first_name),
            last_name=self.seal(cid, customer.last_name),
            addresses=[self._address_in(cid, a) for a in customer.addresses],
            attributes=attributes,
        )

    def customer_out(self, customer: Customer) -> Customer:
        """The customer in clear (what a destroyed key sealed reads as ``""``, or is dropped)."""
        real: dict[str, Identity] = {}
        attributes: dict[str, Any] = {}
        for key, value in customer.attributes.items():
            if key.startswith(ID_ATTRIBUTE):
                opened = self.open(value) if isinstance(value, str) else ""
                if opened:
                    kind, text = json.loads(opened)
                    real[key[len(ID_ATTRIBUTE) :]] = Identity(kind=kind, value=text)
            else:
                attributes[key] = self.open(value) if isinstance(value, str) else value
        identities = []
        for identity in customer.identities:
            if identity.kind is IdentityKind.EXTERNAL and identity.value.startswith(BLIND):
                found = real.get(identity.value.rsplit(":", 1)[1][:24])
                if found is not None:
                    identities.append(found)
            else:
                identities.append(identity)
        return attrs.evolve(
            customer,
            identities=identities,
            first_name=self.open(customer.first_name),
            last_name=self.open(customer.last_name),
            addresses=[self._address_out(a) for a in customer.addresses],
            attributes=attributes,
        )

    # --- events, tickets, orders ----------------------------------------------------------------

    def _event_subject(self, event: Event) -> str | None:
        if event.customer_id is not None:
            return event.customer_id
        if event.anonymous_id is not None:
            return ANONYMOUS_SUBJECT + event.anonymous_id
        return None

    def prepare_events(self, events: Iterable[Any]) -> None:
        """Make, in one go, the data keys the personal properties of ``events`` need."""
        self.ring.prepare(
            subject
            for e in events
            if isinstance(e, Event)
            and self.personal_properties.intersection(e.properties)
            and (subject := self._event_subject(e)) is not None
        )

    def event_in(self, event: Event) -> Event:
        """The event with its personal properties' string values sealed."""
        if not isinstance(event, Event):
            return event
        subject = self._event_subject(event)
        mine = self.personal_properties.intersection(event.properties)
        if subject is None or not mine:
            return event
        properties: Mapping[str, Any] = {
            k: self.seal(subject, v) if k in mine and isinstance(v, str) else v
            for k, v in event.properties.items()
        }
        return attrs.evolve(event, properties=properties)

    def event_out(self, event: Event) -> Event:
        """The event with its sealed properties in clear."""
        if not any(isinstance(v, str) and v.startswith(PREFIX) for v in event.properties.values()):
            return event
        properties = {
            k: self.open(v) if isinstance(v, str) else v for k, v in event.properties.items()
        }
        return attrs.evolve(event, properties=properties)

    def ticket_in(self, ticket: SupportTicket) -> SupportTicket:
        """The ticket with its subject (free text) sealed."""
        if not isinstance(ticket, SupportTicket):
            return ticket
        return attrs.evolve(ticket, subject=self.seal(ticket.customer_id, ticket.subject))

    def ticket_out(self, ticket: SupportTicket) -> SupportTicket:
        """The ticket in clear."""
        return attrs.evolve(ticket, subject=self.open(ticket.subject))

    def order_in(self, order: Order) -> Order:
        """The order with its shipping address sealed."""
        if not isinstance(order, Order) or order.shipping_address is None:
            return order
        address = self._address_in(order.customer_id, order.shipping_address)
        return attrs.evolve(order, shipping_address=address)

    def order_out(self, order: Order) -> Order:
        """The order in clear."""
        if order.shipping_address is None:
            return order
        return attrs.evolve(order, shipping_address=self._address_out(order.shipping_address))
