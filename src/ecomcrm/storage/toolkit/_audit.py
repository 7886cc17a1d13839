"""The audit log's rules, once: the base repository, the pseudonym, and what gets written.

An adapter keeps the log with three primitives of :class:`BaseAuditLog` (``add`` rows,
``scan`` them in append order, ``rename_subjects`` for an erasure); the filters, the
argument checks and the entries the store writes (:func:`write_audit`,
:func:`audit_consents`) are here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from ecomcrm.domain import Consent, Identity, IdentityKind
from ecomcrm.errors import ValidationError
from ecomcrm.storage._audit import (
    AuditAction,
    AuditEntry,
    SupportsAuditLog,
    current_audit_context,
)
from ecomcrm.storage.toolkit._repositories import BaseRepository
from ecomcrm.storage.toolkit._suppression import (
    ERASED_ID_PREFIX,
    SUPPRESSED_KINDS,
    customer_id_identity,
    tombstone_key,
)
from ecomcrm.storage.toolkit._time import check_aware


def audit_pseudonym(customer_id: str) -> str:
    """The subject that replaces an erased person's id in the audit log.

    ``"erased:"`` and the keyed one-way hash of the id (the suppression tombstone of the
    id), so whoever still knows the id can find the trail of its erasure, and nobody can
    read the id from it.

    Example:
        >>> p = audit_pseudonym("c1")
        >>> p.startswith("erased:"), "c1" in p[7:9], p == audit_pseudonym("c1")
        (True, False, True)
    """
    return "erased:" + tombstone_key(customer_id_identity(customer_id))[:32]


def check_audit_filters(since: datetime | None, until: datetime | None) -> None:
    """ValidationError when ``since`` or ``until`` is given and not an aware datetime.

    Example:
        >>> check_audit_filters(None, None)
    """
    for name, value in (("since", since), ("until", until)):
        if value is not None:
            check_aware(value, entity="audit", field=name)


def matches(
    entry: AuditEntry,
    subject: str | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
) -> bool:
    """True when ``entry`` passes every filter given (``since`` inclusive, ``until`` not).

    Example:
        >>> from datetime import datetime, timezone
        >>> e = AuditEntry(at=datetime(2024, 1, 1, tzinfo=timezone.utc), action="merge")
        >>> matches(e, None, "merge", None, None), matches(e, "c1", None, None, None)
        (True, False)
    """
    return (
        (subject is None or entry.subject == subject)
        and (action is None or entry.action == action)
        and (since is None or entry.at >= since)
        and (until is None or entry.at < until)
    )


class BaseAuditLog(BaseRepository, ABC):
    """An audit log from three primitives: ``add``, ``scan`` and ``rename_subjects``.

    Example:
        >>> sorted(BaseAuditLog.__abstractmethods__)
        ['add', 'rename_subjects', 'scan']
    """

    @abstractmethod
    def add(self, entries: Sequence[AuditEntry]) -> None:
        """Primitive: keep these entries after every kept one, in order."""

    @abstractmethod
    def scan(self) -> Iterator[AuditEntry]:
        """Primitive: every kept entry, in the order it was added."""

    @abstractmethod
    def rename_subjects(self, subjects: Collection[str], to: str) -> None:
        """Primitive: pseudonymise the entries about one of ``subjects`` (:func:`pseudonymised`)."""

    def append(self, entry: AuditEntry) -> None:
        """Append an entry; ValidationError for anything but an :class:`AuditEntry`."""
        if not isinstance(entry, AuditEntry):
            raise ValidationError(
                "must be an AuditEntry", entity="AuditEntry", field="entry", value=entry
            )
        self.add([entry])

    def entries(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """The entries matching every filter given, by ``at`` then as appended."""
        check_audit_filters(since, until)
        found = [e for e in self.scan() if matches(e, subject, action, since, until)]
        return sorted(found, key=lambda e: e.at)  # stable: append order breaks ties


def pseudonymised(entry: AuditEntry, subjects: Collection[str], to: str) -> AuditEntry:
    """An erased person's entry: subject ``to``; details, reason and source emptied.

    Those free texts can name the person (a consent form's source, a ticket's reason);
    an actor that is one of ``subjects`` (the person acting on their own data) becomes
    ``to`` too. What stays is when, what, and which staff or system did it.

    Example:
        >>> from datetime import datetime, timezone
        >>> e = AuditEntry(at=datetime(2024, 1, 1, tzinfo=timezone.utc), action="consent.granted",
        ...                subject="c1", actor="c1", source="form of ada@example.com")
        >>> p = pseudonymised(e, ["c1"], "erased:x")
        >>> p.subject, p.actor, p.source
        ('erased:x', 'erased:x', '')
    """
    return attrs.evolve(
        entry,
        subject=to,
        actor=to if entry.actor in subjects else entry.actor,
        reason="",
        source="",
        details={},
    )


def _audit_of(store: Any) -> BaseAuditLog | None:
    if not isinstance(store, SupportsAuditLog):
        return None
    audit = store.audit
    return audit if isinstance(audit, BaseAuditLog) else None


def audit_entry(
    action: AuditAction | str,
    subject: str | None,
    details: Mapping[str, Any] | None = None,
    *,
    at: datetime | None = None,
    source: str | None = None,
) -> AuditEntry:
    """An entry stamped now with the current :func:`~ecomcrm.storage.audit_context`.

    ``source`` (when given) wins over the context's, for records that carry their own
    (a consent's form).

    Example:
        >>> audit_entry("export", "c1").actor
        'system'
    """
    context = current_audit_context()
    return AuditEntry(
        at=at or datetime.now(UTC),
        action=str(action),
        subject=subject,
        actor=context.actor,
        reason=context.reason,
        source=source or context.source,
        details=dict(details or {}),
    )


def write_audit(
    store: Any,
    action: AuditAction | str,
    subject: str | None,
    details: Mapping[str, Any] | None = None,
) -> None:
    """Append one entry to ``store``'s audit log; nothing when the store keeps none.

    The stores call it inside the transaction of the operation, so the entry is written
    exactly when the operation is.

    Example:
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> write_audit(store, "retention.purge", None, {"events": 3})
        >>> store.audit.entries()[0].details
        {'events': 3}
    """
    audit = _audit_of(store)
    if audit is not None:
        audit.add([audit_entry(action, subject, details)])


def consent_entries(consents: Iterable[Consent]) -> list[AuditEntry]:
    """The ``consent.granted`` / ``consent.withdrawn`` entries of recorded decisions.

    The subject is the decision's customer id (as stored: the survivor of merges) and
    the source the decision's own ``source`` (its form), else the context's.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = Consent(customer_id="c1", channel="email", purpose="marketing", granted=False,
        ...             at=datetime(2024, 1, 1, tzinfo=timezone.utc), source="footer link")
        >>> [(e.action, e.source, e.details["channel"]) for e in consent_entries([c])]
        [('consent.withdrawn', 'footer link', 'email')]
    """
    out = []
    for consent in consents:
        action = AuditAction.CONSENT_GRANTED if consent.granted else AuditAction.CONSENT_WITHDRAWN
        details = {
            "channel": consent.channel.value,
            "purpose": consent.purpose.value,
            "decided_at": consent.at.isoformat(),
        }
        out.append(audit_entry(action, consent.customer_id, details, source=consent.source))
    return out


def audit_consents(store: Any, consents: Sequence[Consent]) -> None:
    """Append the entries of recorded consent decisions (:func:`consent_entries`).

    Consent repositories call it in the transaction that records them, with the
    decisions as stored (re-pointed to the surviving customer id).

    Example:
        >>> import ecomcrm
        >>> audit_consents(ecomcrm.open_store("memory://"), [])
    """
    audit = _audit_of(store)
    if audit is not None and consents:
        audit.add(consent_entries(consents))


def pseudonymise_audit(store: Any, customer_ids: Collection[str], pseudonym: str) -> None:
    """Replace these ids, as subjects of ``store``'s audit log, by ``pseudonym``.

    Erasure calls it; the entries stay (the trail of what was done) without naming
    the person (:func:`pseudonymised`).

    Example:
        >>> import ecomcrm
        >>> pseudonymise_audit(ecomcrm.open_store("memory://"), ["c1"], audit_pseudonym("c1"))
    """
    audit = _audit_of(store)
    if audit is not None and customer_ids:
        audit.rename_subjects(customer_ids, pseudonym)


def lift_suppression(store: Any, identity: Identity, delete: Callable[[str], bool]) -> bool:
    """``remove_suppression`` (``SupportsSuppressionRemoval``) over a delete primitive.

    ``delete(key)`` drops the tombstone key and tells whether it was kept; call this
    inside the store's transaction, so the ``suppression.removed`` entry is written
    exactly when the tombstone goes. The entry's details hold the identity's kind and
    tombstone key (the erasure receipt's), never its value; the subject is the erasure's
    pseudonym for an erased customer id, else None.

    Example:
        >>> import ecomcrm
        >>> from ecomcrm.domain import Identity
        >>> store = ecomcrm.open_store("memory://")
        >>> lift_suppression(store, Identity.email("a@b.co"), lambda key: True)
        True
        >>> store.audit.entries()[0].details["kind"]
        'email'
    """
    if not isinstance(identity, Identity):
        raise ValidationError(
            "must be an Identity", entity="suppression", field="identity", value=identity
        )
    if identity.kind not in SUPPRESSED_KINDS:
        return False
    key = tombstone_key(identity)
    if not delete(key):
        return False
    subject = None
    if identity.kind is IdentityKind.EXTERNAL and identity.value.startswith(ERASED_ID_PREFIX):
        subject = audit_pseudonym(identity.value[len(ERASED_ID_PREFIX) :])
    write_audit(
        store,
        AuditAction.SUPPRESSION_REMOVED,
        subject,
        {"kind": identity.kind.value, "tombstone": key},
    )
    return True
