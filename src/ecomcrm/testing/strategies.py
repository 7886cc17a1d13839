"""Hypothesis strategies that build valid ecomcrm domain objects.

Plugin authors use them to feed their adapters random but valid data; the project's own
property tests use them too. Every strategy yields objects that pass validation, with
awkward-but-legal values mixed in (non-UTC offsets, unicode names, zero amounts,
microsecond timestamps, several currencies).

Example:
    >>> from hypothesis import given
    >>> from ecomcrm.testing import strategies as crm
    >>> @given(crm.customers())
    ... def test_ids_non_empty(customer):
    ...     assert customer.id
    >>> test_ids_non_empty()
"""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import attrs

try:
    from hypothesis import strategies as st
except ImportError as exc:  # pragma: no cover - exercised only without hypothesis
    raise ImportError(
        "ecomcrm.testing.strategies needs Hypothesis: pip install 'ecomcrm[test]'"
    ) from exc

from ecomcrm.domain import (
    ECOMMERCE_EVENTS,
    Address,
    Channel,
    Consent,
    Customer,
    Direction,
    Event,
    Identity,
    IdentityKind,
    LawfulBasis,
    LoyaltyEntry,
    LoyaltyKind,
    Message,
    MessageOutcome,
    Order,
    OrderLine,
    OrderStatus,
    Product,
    Purpose,
    Refund,
    ReturnLine,
    SupportTicket,
    TicketStatus,
)

__all__ = [
    "CustomerGraph",
    "addresses",
    "aware_datetimes",
    "consents",
    "currencies",
    "customer_graphs",
    "customer_ids",
    "customers",
    "emails",
    "events",
    "identities",
    "json_scalars",
    "loyalty_entries",
    "messages",
    "money",
    "order_lines",
    "orders",
    "phones",
    "products",
    "refunds",
    "tickets",
]

_ZONES = (
    "UTC",
    "Europe/Paris",
    "America/New_York",
    "Asia/Kolkata",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "America/St_Johns",
    "Asia/Kathmandu",
)
_MIN = datetime(2000, 1, 1)
_MAX = datetime(2035, 12, 31)

_id_text = st.text(
    alphabet=st.characters(min_codepoint=48, max_codepoint=122, categories=["Lu", "Ll", "Nd"]),
    min_size=1,
    max_size=12,
)
_free_text = st.text(alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), max_size=20)
_names = st.text(
    alphabet=st.characters(categories=["L"], exclude_characters="\x00"), max_size=12
).map(str.strip)


def customer_ids() -> st.SearchStrategy[str]:
    """Non-empty ASCII-alphanumeric ids such as ``"c8Ka"``."""
    return _id_text.map(lambda s: "c" + s)


def aware_datetimes(
    min_value: datetime = _MIN, max_value: datetime = _MAX
) -> st.SearchStrategy[datetime]:
    """Timezone-aware datetimes in several zones (odd offsets and DST included)."""
    return st.datetimes(
        min_value=min_value,
        max_value=max_value,
        timezones=st.sampled_from([zoneinfo.ZoneInfo(z) for z in _ZONES]),
    )


def currencies() -> st.SearchStrategy[str]:
    """A few ISO 4217 codes with 0, 2 and 3 minor digits."""
    return st.sampled_from(["EUR", "USD", "GBP", "JPY", "KWD", "SEK"])


def money(max_value: int = 10_000, places: int = 2) -> st.SearchStrategy[Decimal]:
    """Non-negative exact amounts with at most ``places`` decimals."""
    return st.decimals(min_value=0, max_value=max_value, places=places, allow_nan=False)


def json_scalars() -> st.SearchStrategy[str | int | float | bool | None]:
    """JSON scalars: strings, integers, finite floats, booleans and null."""
    return st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**53), max_value=2**53),
        st.floats(allow_nan=False, allow_infinity=False),
        _free_text,
    )


def emails() -> st.SearchStrategy[str]:
    """Valid emails, sometimes with upper case and surrounding spaces (normalised later)."""
    local = st.text(
        alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789._+-", min_size=1, max_size=10
    )
    local = local.filter(lambda s: not s.startswith(".") and not s.endswith(".") and ".." not in s)
    domain = st.sampled_from(["example.com", "Example.ORG", "mail.co.uk", "x-y.io"])
    pad = st.sampled_from(["", " ", "  "])
    return st.builds(lambda p, a, d: f"{p}{a}@{d}{p}", pad, local, domain)


def phones() -> st.SearchStrategy[str]:
    """Valid international phone numbers in assorted punctuation."""
    digits = st.integers(min_value=10_000_000, max_value=999_999_999_999)
    styles = st.sampled_from(["+{}", "00{}", "+{} ", "+({})"])
    return st.builds(lambda n, s: s.format(n), digits, styles)


def identities(kind: IdentityKind | None = None) -> st.SearchStrategy[Identity]:
    """Identities of every kind (or only ``kind``)."""
    by_kind: dict[IdentityKind, st.SearchStrategy[Identity]] = {
        IdentityKind.EMAIL: emails().map(Identity.email),
        IdentityKind.PHONE: phones().map(Identity.phone),
        IdentityKind.EXTERNAL: _id_text.map(lambda s: Identity(kind="external", value="ext-" + s)),
        IdentityKind.ANONYMOUS: _id_text.map(
            lambda s: Identity(kind="anonymous", value="anon-" + s)
        ),
    }
    if kind is not None:
        return by_kind[IdentityKind(kind)]
    return st.one_of(*by_kind.values())


def addresses() -> st.SearchStrategy[Address]:
    """Postal addresses."""
    return st.builds(
        Address,
        line1=_free_text,
        city=_names,
        postal_code=st.text(alphabet="0123456789 ABC", max_size=8),
        country=st.none() | st.sampled_from(["FR", "US", "GB", "JP", "IN", "BR"]),
    )


@st.composite
def customers(draw: st.DrawFn, customer_id: str | None = None) -> Customer:
    """Customer profiles with 0-3 distinct identities, tags and attributes."""
    found = draw(st.lists(identities(), max_size=3))
    unique = list({i.key: i for i in found}.values())
    return Customer(
        id=customer_id if customer_id is not None else draw(customer_ids()),
        created_at=draw(aware_datetimes()),
        identities=unique,
        first_name=draw(_names),
        last_name=draw(_names),
        birthday=draw(
            st.none() | st.dates(min_value=date(1930, 1, 1), max_value=date(2010, 12, 31))
        ),
        timezone=draw(st.none() | st.sampled_from(_ZONES)),
        locale=draw(st.none() | st.sampled_from(["en-US", "fr-FR", "de", "pt-BR", "ja-JP"])),
        country=draw(st.none() | st.sampled_from(["FR", "US", "GB", "JP", "IN", "BR", "AU"])),
        acquisition_channel=draw(
            st.none() | st.sampled_from(["organic", "paid_social", "email", "referral"])
        ),
        addresses=draw(st.lists(addresses(), max_size=2)),
        tags=draw(
            st.frozensets(
                st.sampled_from(["vip", "wholesale", "newsletter", "b2b", "ü-tag"]), max_size=3
            )
        ),
        attributes=draw(
            st.dictionaries(
                st.sampled_from(["plan", "score", "source", "ok"]), json_scalars(), max_size=3
            )
        ),
    )


def products(currency: str | None = None) -> st.SearchStrategy[Product]:
    """Catalogue products."""
    return st.builds(
        Product,
        sku=_id_text.map(lambda s: "SKU-" + s),
        title=_free_text,
        category=st.lists(
            st.sampled_from(["Apparel", "Tops", "Shoes", "Home", "Kitchen"]), max_size=3
        ).map(tuple),
        price=money(),
        currency=st.just(currency) if currency else currencies(),
        brand=st.none() | st.sampled_from(["Acme", "Zed"]),
        in_stock=st.booleans(),
        consumable=st.booleans(),
    )


def _places(currency: str) -> int:
    from ecomcrm.domain import MINOR_UNITS

    return MINOR_UNITS[currency]


@st.composite
def order_lines(draw: st.DrawFn, currency: str = "EUR") -> OrderLine:
    """Order lines whose discount never exceeds the line amount."""
    places = _places(currency)
    quantity = draw(st.integers(min_value=1, max_value=20))
    unit_price = draw(money(max_value=2_000, places=places))
    discount = draw(st.decimals(min_value=0, max_value=unit_price * quantity, places=places))
    return OrderLine(
        sku=draw(st.sampled_from(["SKU-A", "SKU-B", "SKU-C", "SKU-D", "SKU-E"])),
        title=draw(_free_text),
        quantity=quantity,
        unit_price=unit_price,
        discount=discount,
        category=draw(
            st.lists(st.sampled_from(["Apparel", "Home", "Toys"]), max_size=2).map(tuple)
        ),
    )


@st.composite
def orders(
    draw: st.DrawFn,
    customer_id: str | None = None,
    order_id: str | None = None,
    currency: str | None = None,
    placed_at: st.SearchStrategy[datetime] | None = None,
) -> Order:
    """Orders whose totals agree with their lines."""
    cur = currency or draw(currencies())
    places = _places(cur)
    lines = draw(st.lists(order_lines(currency=cur), min_size=1, max_size=4))
    subtotal = sum((line.total for line in lines), Decimal(0))
    discount = draw(st.decimals(min_value=0, max_value=subtotal, places=places))
    when = draw(placed_at if placed_at is not None else aware_datetimes())
    status = draw(st.sampled_from(list(OrderStatus)))
    cancelled = when + timedelta(hours=1) if status is OrderStatus.CANCELLED else None
    return Order(
        id=order_id if order_id is not None else draw(_id_text.map(lambda s: "o" + s)),
        customer_id=customer_id if customer_id is not None else draw(customer_ids()),
        placed_at=when,
        currency=cur,
        lines=lines,
        discount=discount,
        shipping=draw(money(max_value=50, places=places)),
        tax=draw(money(max_value=200, places=places)),
        taxes_included=draw(st.booleans()),
        status=status,
        sales_channel=draw(st.none() | st.sampled_from(["web", "pos", "app"])),
        discount_codes=draw(
            st.lists(st.sampled_from(["WELCOME10", "VIP"]), max_size=2, unique=True)
        ),
        cancelled_at=cancelled,
    )


@st.composite
def refunds(draw: st.DrawFn, order: Order, refund_id: str | None = None) -> Refund:
    """A refund or return on ``order`` for at most its total."""
    places = _places(order.currency)
    returned = draw(st.booleans())
    lines = (
        [
            ReturnLine(
                sku=line.sku,
                quantity=draw(st.integers(1, line.quantity)),
                reason=draw(st.none() | st.sampled_from(["too small", "damaged", "changed mind"])),
            )
            for line in order.lines[:2]
        ]
        if returned
        else []
    )
    return Refund(
        id=refund_id if refund_id is not None else draw(_id_text.map(lambda s: "r" + s)),
        order_id=order.id,
        customer_id=order.customer_id,
        at=order.placed_at
        + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=60))),
        amount=draw(st.decimals(min_value=0, max_value=order.total, places=places)),
        currency=order.currency,
        reason=draw(st.none() | st.sampled_from(["damaged", "late", "not as described"])),
        returned=returned,
        lines=lines,
    )


_properties = st.dictionaries(
    st.sampled_from(["sku", "product_id", "price", "quantity", "cart_id", "category", "url"]),
    json_scalars(),
    max_size=4,
)


@st.composite
def events(
    draw: st.DrawFn, customer_id: str | None = None, anonymous_id: str | None = None
) -> Event:
    """Events with standard and custom names; anonymous ones when no customer is given."""
    cid = customer_id
    aid = anonymous_id
    if cid is None and aid is None:
        if draw(st.booleans()):
            cid = draw(customer_ids())
        else:
            aid = draw(_id_text.map(lambda s: "anon-" + s))
    return Event(
        name=draw(st.sampled_from([*ECOMMERCE_EVENTS[:12], "Review Written", "Référence ✓"])),
        at=draw(aware_datetimes()),
        customer_id=cid,
        anonymous_id=aid,
        properties=draw(_properties),
        source=draw(st.none() | st.sampled_from(["web", "ios", "import"])),
    )


def consents(customer_id: str | None = None) -> st.SearchStrategy[Consent]:
    """Consent decisions on every channel and purpose, purpose-wide or about a topic, with proof."""
    return st.builds(
        Consent,
        customer_id=st.just(customer_id) if customer_id else customer_ids(),
        channel=st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.PUSH, Channel.WHATSAPP]),
        purpose=st.sampled_from(list(Purpose)),
        granted=st.booleans(),
        at=aware_datetimes(),
        source=_free_text,
        topic=st.none() | st.sampled_from(["newsletter", "offers", "product_updates", "reviews"]),
        basis=st.none() | st.sampled_from(list(LawfulBasis)),
        wording_version=st.sampled_from(["", "v1", "newsletter-2024-05"]),
        ip_address=st.sampled_from(["", "203.0.113.9", "2001:db8::1"]),
        form_id=st.sampled_from(["", "signup-form", "footer-7"]),
    )


@st.composite
def tickets(draw: st.DrawFn, customer_id: str | None = None) -> SupportTicket:
    """Support tickets with consistent timing."""
    # arithmetic in UTC: adding a timedelta to a local time across a DST change could put
    # the response before the opening once both are converted to UTC
    opened = draw(aware_datetimes(max_value=datetime(2034, 1, 1))).astimezone(UTC)
    responded = draw(st.none() | st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=5)))
    status = draw(st.sampled_from(list(TicketStatus)))
    closed = (
        opened + draw(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)))
        if status in (TicketStatus.SOLVED, TicketStatus.CLOSED)
        else None
    )
    return SupportTicket(
        id=draw(_id_text.map(lambda s: "t" + s)),
        customer_id=customer_id if customer_id else draw(customer_ids()),
        channel=draw(st.sampled_from([Channel.EMAIL, Channel.CHAT, Channel.PHONE])),
        subject=draw(_free_text),
        tags=draw(st.frozensets(st.sampled_from(["shipping", "refund", "sizing"]), max_size=2)),
        status=status,
        opened_at=opened,
        first_response_at=None if responded is None else opened + responded,
        closed_at=closed,
        satisfaction=draw(st.none() | st.integers(1, 5)) if closed else None,
        order_id=draw(st.none() | _id_text.map(lambda s: "o" + s)),
    )


@st.composite
def loyalty_entries(draw: st.DrawFn, customer_id: str | None = None) -> LoyaltyEntry:
    """Ledger entries whose sign matches their kind."""
    kind = draw(st.sampled_from(list(LoyaltyKind)))
    size = draw(st.integers(min_value=1, max_value=10_000))
    points = size if kind is LoyaltyKind.EARN else -size
    if kind is LoyaltyKind.ADJUST and draw(st.booleans()):
        points = size
    at = draw(aware_datetimes(max_value=datetime(2034, 1, 1)))
    return LoyaltyEntry(
        id=draw(_id_text.map(lambda s: "le-" + s)),
        customer_id=customer_id if customer_id else draw(customer_ids()),
        kind=kind,
        points=points,
        at=at,
        expires_at=at + timedelta(days=365) if kind is LoyaltyKind.EARN else None,
        source=draw(st.none() | _id_text.map(lambda s: "order:" + s)),
        description=draw(_free_text),
    )


def messages(customer_id: str | None = None) -> st.SearchStrategy[Message]:
    """Message log entries."""
    return st.builds(
        Message,
        id=_id_text.map(lambda s: "m" + s),
        customer_id=st.just(customer_id) if customer_id else customer_ids(),
        channel=st.sampled_from([Channel.EMAIL, Channel.SMS, Channel.PUSH]),
        at=aware_datetimes(),
        template=st.sampled_from(["welcome_1", "cart_1", "winback_2"]),
        direction=st.sampled_from(list(Direction)),
        purpose=st.sampled_from(list(Purpose)),
        outcome=st.sampled_from(list(MessageOutcome)),
        flow_id=st.none() | st.just("welcome"),
        params=st.dictionaries(st.sampled_from(["name", "code"]), json_scalars(), max_size=2),
    )


@attrs.frozen(kw_only=True)
class CustomerGraph:
    """A customer with everything that hangs off them, all consistent with each other.

    Example:
        >>> CustomerGraph.__name__
        'CustomerGraph'
    """

    customer: Customer
    orders: tuple[Order, ...]
    refunds: tuple[Refund, ...]
    events: tuple[Event, ...]
    consents: tuple[Consent, ...]
    tickets: tuple[SupportTicket, ...]
    loyalty: tuple[LoyaltyEntry, ...]
    messages: tuple[Message, ...]

    def objects(self) -> tuple[Any, ...]:
        """Every object of the graph, the customer first."""
        return (
            self.customer,
            *self.orders,
            *self.refunds,
            *self.events,
            *self.consents,
            *self.tickets,
            *self.loyalty,
            *self.messages,
        )


@st.composite
def customer_graphs(draw: st.DrawFn, customer_id: str | None = None) -> CustomerGraph:
    """A customer with orders, refunds, events, consents, tickets, ledger and messages.

    Ids of child records are unique within the graph and prefixed by the customer id, so
    several graphs can be written to one store.
    """
    customer = draw(customers(customer_id=customer_id))
    cid = customer.id
    currency = draw(currencies())
    order_list = [
        draw(orders(customer_id=cid, order_id=f"{cid}-o{i}", currency=currency))
        for i in range(draw(st.integers(0, 4)))
    ]
    refund_list = [
        draw(refunds(order, refund_id=f"{order.id}-r"))
        for order in order_list
        if draw(st.booleans())
    ]
    event_list = list(
        {e.id: e for e in draw(st.lists(events(customer_id=cid), max_size=5))}.values()
    )
    ticket_list = [
        attrs.evolve(t, id=f"{cid}-t{i}")
        for i, t in enumerate(draw(st.lists(tickets(customer_id=cid), max_size=2)))
    ]
    ledger = [
        attrs.evolve(e, id=f"{cid}-le{i}")
        for i, e in enumerate(draw(st.lists(loyalty_entries(customer_id=cid), max_size=3)))
    ]
    message_list = [
        attrs.evolve(m, id=f"{cid}-m{i}")
        for i, m in enumerate(draw(st.lists(messages(customer_id=cid), max_size=3)))
    ]
    return CustomerGraph(
        customer=customer,
        orders=tuple(order_list),
        refunds=tuple(refund_list),
        events=tuple(event_list),
        consents=tuple(draw(st.lists(consents(customer_id=cid), max_size=4))),
        tickets=tuple(ticket_list),
        loyalty=tuple(ledger),
        messages=tuple(message_list),
    )
