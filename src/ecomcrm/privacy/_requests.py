"""Data-subject requests end to end: access and portability (export), erasure (report).

Both go through the store's public contract (``export``, ``erase``) inside an
:func:`~ecomcrm.storage.audit_context`, so a store with an audit log records who asked,
why and from where; the erasure report says what was deleted, what was pseudonymised
and what was kept, each with its legal reason.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import attrs

from ecomcrm.privacy._preferences import PreferenceCentre
from ecomcrm.storage import (
    AuditAction,
    ErasureReceipt,
    Store,
    SupportsAuditLog,
    audit_context,
)
from ecomcrm.storage.toolkit import audit_pseudonym

EXPORT_FORMAT = "ecomcrm.data-subject-export"
"""The ``format`` of :func:`export_person` documents."""

KEPT_REASONS = {
    "suppression_tombstones": (
        "GDPR Art. 17(1) and 21(3): one-way keyed hashes of the erased identities, kept so "
        "that the person is never re-imported or contacted again; they cannot be reversed"
    ),
    "anonymous_order_facts": (
        "GDPR Art. 17(3)(b) and (e): orders and refunds kept for accounting and legal "
        "claims, re-pointed to a random id without address, discount codes or free text"
    ),
    "audit_entries": (
        "GDPR Art. 5(2) accountability: the audit trail of what was done, under a "
        "pseudonym, without details, reasons or sources that could name the person"
    ),
}
"""Why each kind of kept record is kept, as :func:`erase_person` reports it."""


def export_person(
    store: Store,
    customer_id: str,
    *,
    actor: str = "system",
    reason: str = "",
    source: str = "",
    now: datetime | None = None,
    preferences: PreferenceCentre | None = None,
) -> dict[str, Any]:
    """Everything stored about the person as one machine-readable JSON document (Art. 15, 20).

    The store's export (every record, the consent decisions with their sources) as
    ``data``, wrapped with ``format``, ``generated_at``, the legal bases and, on a store
    that keeps an audit log, ``audit``: the entries about the person or an id merged
    into them, this export included. Recorded as ``export`` in the audit log. Every
    consent decision in ``data["consents"]`` carries its proof (source, topic, basis,
    wording version, IP address, form id); with ``preferences`` the document also holds
    ``consent_state``, the person's :class:`~ecomcrm.privacy.ConsentState`.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> doc = export_person(store, "c1", actor="dpo", reason="access request 17")
        >>> doc["format"], doc["data"]["customer"]["id"], doc["audit"][-1]["actor"]
        ('ecomcrm.data-subject-export', 'c1', 'dpo')
    """
    with audit_context(actor, reason=reason, source=source):
        data = store.export(customer_id)
    document: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "generated_at": (now or datetime.now(UTC)).isoformat(),
        "legal_basis": ["GDPR Art. 15 (right of access)", "GDPR Art. 20 (portability)"],
        "subject": data["customer_id"],
        "data": data,
    }
    if preferences is not None:
        document["consent_state"] = preferences.state(store, data["customer_id"]).to_dict()
    if isinstance(store, SupportsAuditLog):
        subjects = sorted({data["customer_id"], *(m["merged_id"] for m in data["merges"])})
        entries = [e for s in subjects for e in store.audit.entries(subject=s)]
        document["audit"] = [e.to_dict() for e in sorted(entries, key=lambda e: e.at)]
    return document


@attrs.frozen
class ErasureReport:
    """What an erasure deleted, pseudonymised and kept, with the legal reason of each kept part.

    Attributes:
        customer_id: The erased (resolved) id.
        pseudonym: The subject the audit log now uses for the person.
        deleted: Counts of the records deleted, by kind (the receipt's counts, minus the
            orders and refunds that were kept as anonymous facts).
        pseudonymised: Counts of records kept without the person (``orders``,
            ``refunds`` kept as anonymous facts; ``audit_entries``).
        kept: Kind of kept record -> ``{"count": n, "reason": legal reason}``.

    Example:
        >>> r = ErasureReport(customer_id="c1", pseudonym="erased:x", deleted={"events": 2})
        >>> r.to_dict()["deleted"]
        {'events': 2}
    """

    customer_id: str
    pseudonym: str
    deleted: dict[str, int] = attrs.field(factory=dict)
    pseudonymised: dict[str, int] = attrs.field(factory=dict)
    kept: dict[str, dict[str, Any]] = attrs.field(factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON.

        Example:
            >>> ErasureReport(customer_id="c1", pseudonym="erased:x").to_dict()["pseudonym"]
            'erased:x'
        """
        return attrs.asdict(self)


def _report(store: Store, receipt: ErasureReceipt) -> ErasureReport:
    pseudonym = audit_pseudonym(receipt.customer_id)
    counts = dict(receipt.counts)
    pseudonymised: dict[str, int] = {}
    kept: dict[str, dict[str, Any]] = {
        "suppression_tombstones": {
            "count": len(receipt.tombstones),
            "reason": KEPT_REASONS["suppression_tombstones"],
        }
    }
    if receipt.kept_order_facts:
        for kind in ("orders", "refunds"):
            pseudonymised[kind] = counts.pop(kind, 0)
        kept["anonymous_order_facts"] = {
            "count": pseudonymised["orders"] + pseudonymised["refunds"],
            "reason": KEPT_REASONS["anonymous_order_facts"],
        }
    if isinstance(store, SupportsAuditLog):
        trail = store.audit.entries(subject=pseudonym)
        written = (AuditAction.ERASURE, AuditAction.SUPPRESSION_ADDED)  # by this erasure
        before = [e for e in trail if e.action not in written]
        pseudonymised["audit_entries"] = len(before)
        kept["audit_entries"] = {"count": len(trail), "reason": KEPT_REASONS["audit_entries"]}
    return ErasureReport(
        customer_id=receipt.customer_id,
        pseudonym=pseudonym,
        deleted=counts,
        pseudonymised=pseudonymised,
        kept=kept,
    )


def erase_person(
    store: Store,
    customer_id: str,
    *,
    keep_order_facts: bool = False,
    actor: str = "system",
    reason: str = "",
    source: str = "",
) -> ErasureReport:
    """Erase the person (Art. 17, CCPA deletion) and report what went and what stayed, and why.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> from ecomcrm.domain import Customer, Identity
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc),
        ...                              identities=[Identity.email("ada@example.com")]))
        >>> report = erase_person(store, "c1", actor="dpo", reason="erasure request 18")
        >>> report.deleted["customers"], report.kept["suppression_tombstones"]["count"]
        (1, 2)
    """
    with audit_context(actor, reason=reason, source=source):
        receipt = store.erase(customer_id, keep_order_facts=keep_order_facts)
    return _report(store, receipt)
