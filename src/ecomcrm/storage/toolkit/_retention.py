"""Applying a retention policy, once, over an adapter's bulk purge primitives.

An adapter that claims :class:`~ecomcrm.storage.SupportsRetention` writes the
:class:`RetentionPurger` primitives (one bulk statement or array operation each) and
calls :func:`apply_retention` from its ``apply_retention``; the cut-offs, the order of
the steps, the anonymous-profile erasure, the audit entry and the report live here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

from ecomcrm.storage._audit import AuditAction
from ecomcrm.storage._retention import RetentionPolicy, RetentionReport
from ecomcrm.storage.toolkit._audit import write_audit
from ecomcrm.storage.toolkit._time import check_aware, to_micros


class RetentionPurger(Protocol):
    """The bulk primitives of a retention purge; instants are microseconds since the epoch.

    Each returns how many records it deleted or changed, and changes nothing that is
    already as the policy wants it (so a second run returns 0).
    """

    def purge_events(self, named: Mapping[str, int], default: int | None) -> int:
        """Delete events older than their name's cut-off (``default`` for other names)."""
        ...

    def purge_messages(self, cutoff: int) -> int:
        """Delete messages older than ``cutoff``."""
        ...

    def purge_tickets(self, cutoff: int) -> int:
        """Delete tickets closed before ``cutoff``."""
        ...

    def strip_orders(self, cutoff: int) -> tuple[int, int]:
        """Remove personal fields of orders placed and refunds made before ``cutoff``."""
        ...

    def purge_consents(self, cutoff: int) -> int:
        """Delete decisions older than ``cutoff`` that are not current for their key."""
        ...

    def anonymous_profiles(self, cutoff: int) -> Sequence[str]:
        """Ids of live never-identified profiles created before ``cutoff``, silent since."""
        ...


def retention_cutoffs(policy: RetentionPolicy, now: datetime) -> dict[str, Any]:
    """The cut-off instant (microseconds) of each data class of ``policy`` at ``now``.

    ``events`` maps event names (``"*"`` for the others) to their cut-off.

    Example:
        >>> from datetime import datetime, timezone
        >>> c = retention_cutoffs(RetentionPolicy(messages="1d"), datetime(1970, 1, 2, tzinfo=timezone.utc))
        >>> c["messages"], c["events"]
        (0, None)
    """
    check_aware(now, entity="RetentionPolicy", field="now")

    def cut(period: Any) -> int | None:
        return None if period is None else to_micros(now - period)

    return {
        "events": None
        if policy.events is None
        else {name: to_micros(now - p) for name, p in policy.events.items()},
        "messages": cut(policy.messages),
        "tickets": cut(policy.tickets),
        "order_personal_fields": cut(policy.order_personal_fields),
        "anonymous_profiles": cut(policy.anonymous_profiles),
        "consent_history": cut(policy.consent_history),
    }


def apply_retention(
    store: Any, policy: RetentionPolicy, now: datetime, purger: RetentionPurger
) -> RetentionReport:
    """Apply ``policy`` at ``now`` in one transaction of ``store``, through ``purger``.

    Anonymous profiles go first (with their events), then events, messages, tickets,
    orders' personal fields and superseded consents. One ``retention.purge`` audit
    entry records the counts and the policy.

    Example:
        >>> from datetime import datetime, timezone
        >>> import ecomcrm
        >>> store = ecomcrm.open_store("memory://")
        >>> store.apply_retention(RetentionPolicy(messages="1y"),
        ...                       datetime(2024, 1, 1, tzinfo=timezone.utc)).counts["messages"]
        0
    """
    if not isinstance(policy, RetentionPolicy):
        raise_policy(policy)
    cut = retention_cutoffs(policy, now)
    counts: dict[str, int] = {}
    with store.transaction():
        if cut["anonymous_profiles"] is not None:
            ids = list(purger.anonymous_profiles(cut["anonymous_profiles"]))
            for customer_id in ids:  # each one is an erasure (suppression, audit, facts kept)
                store.erase(customer_id, keep_order_facts=True)
            counts["anonymous_profiles"] = len(ids)
        if cut["events"] is not None:
            named = {k: v for k, v in cut["events"].items() if k != "*"}
            counts["events"] = purger.purge_events(named, cut["events"].get("*"))
        if cut["messages"] is not None:
            counts["messages"] = purger.purge_messages(cut["messages"])
        if cut["tickets"] is not None:
            counts["tickets"] = purger.purge_tickets(cut["tickets"])
        if cut["order_personal_fields"] is not None:
            orders, refunds = purger.strip_orders(cut["order_personal_fields"])
            counts["orders"], counts["refunds"] = orders, refunds
        if cut["consent_history"] is not None:
            counts["consents"] = purger.purge_consents(cut["consent_history"])
        counts = dict(sorted(counts.items()))
        write_audit(
            store,
            AuditAction.RETENTION_PURGE,
            None,
            {"now": now.isoformat(), "counts": counts, "policy": policy.to_dict()},
        )
    return RetentionReport(now=now, counts=counts)


def raise_policy(policy: Any) -> None:
    """ValidationError for something that is not a :class:`RetentionPolicy`.

    Example:
        >>> raise_policy("2y")
        Traceback (most recent call last):
        ...
        ecomcrm.errors.ValidationError: RetentionPolicy.policy: must be a RetentionPolicy (got '2y')
    """
    from ecomcrm.errors import ValidationError

    raise ValidationError(
        "must be a RetentionPolicy", entity="RetentionPolicy", field="policy", value=policy
    )
