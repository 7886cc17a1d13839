"""The audit log: an append-only record of privacy-relevant operations, in the store.

Contract of the optional capability :class:`SupportsAuditLog` (a store with an ``audit``
member, an :class:`AuditLog`): the store appends an :class:`AuditEntry` for every consent
decision recorded (``consent.granted`` / ``consent.withdrawn``), merge, export, erasure
(and the suppression of the erased identities), retention purge and schema migration.
Entries are never changed or deleted through the API; the only rewrite is the store's
own: erasing a person replaces the subject of the entries about them by a pseudonym
(``toolkit.audit_pseudonym``, a keyed one-way hash of their id) and drops their details,
so the log still proves *that* an erasure happened without naming who.

Who did it: the ``actor`` (default ``"system"``), ``reason`` and ``source`` of the
entries come from the innermost :func:`audit_context` block, set by the application
around the call (a web request, a support tool, a CLI run).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import attrs

from ecomcrm.domain._validation import aware_datetime, to_utc
from ecomcrm.errors import ValidationError


class AuditAction(StrEnum):
    """The actions the stores record; an application may append its own action names."""

    CONSENT_GRANTED = "consent.granted"
    CONSENT_WITHDRAWN = "consent.withdrawn"
    MERGE = "merge"
    EXPORT = "export"
    ERASURE = "erasure"
    SUPPRESSION_ADDED = "suppression.added"
    SUPPRESSION_REMOVED = "suppression.removed"
    RETENTION_PURGE = "retention.purge"
    SCHEMA_MIGRATION = "schema.migration"


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str):
        raise ValidationError(
            "must be a string", entity="AuditEntry", field=attribute.name, value=value
        )


def _action(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, str) or not value:
        raise ValidationError(
            "must be a non-empty string", entity="AuditEntry", field="action", value=value
        )


def _subject(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ValidationError(
            "must be a non-empty string or None", entity="AuditEntry", field="subject", value=value
        )


def _details(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise ValidationError(
            "must be a mapping with string keys", entity="AuditEntry", field="details", value=value
        )
    return dict(sorted(value.items()))


@attrs.frozen
class AuditEntry:
    """One entry of the audit log.

    Attributes:
        at: When it happened (aware; stored in UTC).
        action: What happened (an :class:`AuditAction` value or the app's own name).
        subject: The customer id it is about (a pseudonym after their erasure), or None
            for store-wide operations (a retention purge, a migration).
        actor: Who did it, as the application names them (default ``"system"``).
        reason: Why (free text given by the application).
        source: Where from (a form id, a tool, ``"cli"``...).
        details: JSON-compatible facts of the operation (counts, channel and purpose).

    Example:
        >>> from datetime import datetime, timezone
        >>> e = AuditEntry(at=datetime(2024, 1, 1, tzinfo=timezone.utc), action="export",
        ...                subject="c1", actor="support:ann")
        >>> e.action, e.actor, e.details
        ('export', 'support:ann', {})
    """

    at: datetime = attrs.field(converter=to_utc, validator=aware_datetime)
    action: str = attrs.field(validator=_action)
    subject: str | None = attrs.field(default=None, validator=_subject)
    actor: str = attrs.field(default="system", validator=_text)
    reason: str = attrs.field(default="", validator=_text)
    source: str = attrs.field(default="", validator=_text)
    details: Mapping[str, Any] = attrs.field(factory=dict, converter=_details, eq=True)

    def to_dict(self) -> dict[str, Any]:
        """The entry as a JSON-serialisable dict (``at`` in ISO 8601).

        Example:
            >>> from datetime import datetime, timezone
            >>> AuditEntry(at=datetime(2024, 1, 1, tzinfo=timezone.utc), action="merge").to_dict()["at"]
            '2024-01-01T00:00:00+00:00'
        """
        return {
            "at": self.at.isoformat(),
            "action": self.action,
            "subject": self.subject,
            "actor": self.actor,
            "reason": self.reason,
            "source": self.source,
            "details": dict(self.details),
        }


@runtime_checkable
class AuditLog(Protocol):
    """The append-only audit log of a store (``store.audit``).

    Example:
        >>> import ecomcrm
        >>> isinstance(ecomcrm.open_store("memory://").audit, AuditLog)
        True
    """

    def append(self, entry: AuditEntry) -> None:
        """Append an entry (an application's own action, say); never replaces one.

        Example:
            >>> from datetime import datetime, timezone
            >>> import ecomcrm
            >>> audit = ecomcrm.open_store("memory://").audit
            >>> audit.append(AuditEntry(at=datetime(2024, 1, 1, tzinfo=timezone.utc),
            ...                         action="app.login", subject="c1"))
            >>> [e.action for e in audit.entries(subject="c1")]
            ['app.login']
        """
        ...

    def entries(
        self,
        *,
        subject: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[AuditEntry]:
        """The entries matching every filter given, by ``at`` then as appended.

        ``since`` is inclusive and ``until`` exclusive.

        Example:
            >>> import ecomcrm
            >>> ecomcrm.open_store("memory://").audit.entries(action="erasure")
            []
        """
        ...


@runtime_checkable
class SupportsAuditLog(Protocol):
    """A store that keeps an audit log of privacy operations (see the module docstring).

    Without it, a store does everything else the same and simply keeps no trail.

    Example:
        >>> import ecomcrm
        >>> isinstance(ecomcrm.open_store("memory://"), SupportsAuditLog)
        True
    """

    @property
    def audit(self) -> AuditLog:
        """The store's audit log."""
        ...


@attrs.frozen
class AuditContext:
    """Who, why and from where: what the entries written inside :func:`audit_context` carry.

    Example:
        >>> AuditContext().actor
        'system'
    """

    actor: str = attrs.field(default="system", validator=_text)
    reason: str = attrs.field(default="", validator=_text)
    source: str = attrs.field(default="", validator=_text)


_SYSTEM = AuditContext()
_CONTEXT: contextvars.ContextVar[AuditContext] = contextvars.ContextVar("ecomcrm_audit_context")


@contextmanager
def audit_context(actor: str = "system", *, reason: str = "", source: str = "") -> Iterator[None]:
    """A block whose audited operations name this actor, reason and source.

    Example:
        >>> from ecomcrm.domain import Customer
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> store.customers.put(Customer(id="c1", created_at=datetime(2024, 1, 1, tzinfo=timezone.utc)))
        >>> with audit_context("support:ann", reason="ticket 42", source="helpdesk"):
        ...     _ = store.export("c1")
        >>> [(e.action, e.actor, e.reason) for e in store.audit.entries(subject="c1")]
        [('export', 'support:ann', 'ticket 42')]
    """
    token = _CONTEXT.set(AuditContext(actor=actor, reason=reason, source=source))
    try:
        yield
    finally:
        _CONTEXT.reset(token)


def current_audit_context() -> AuditContext:
    """The innermost :func:`audit_context` (``actor="system"`` outside any block).

    Example:
        >>> current_audit_context().actor
        'system'
    """
    return _CONTEXT.get(_SYSTEM)
