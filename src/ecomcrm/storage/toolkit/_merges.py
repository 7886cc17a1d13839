"""Merge rules: how merge chains resolve and which profile fields a survivor takes."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import attrs

from ecomcrm.domain import (
    Customer,
)
from ecomcrm.errors import StorageError
from ecomcrm.storage._records import (
    MergeRecord,
)

if TYPE_CHECKING:
    pass


def follow_merges(customer_id: str, merged_into: Callable[[str], str | None]) -> str:
    """Follow ``merged_into`` links from ``customer_id`` to the survivor, cycle-safe.

    ``merged_into(x)`` returns the id ``x`` was merged into, or None. A cycle (which a
    correct store never writes) raises StorageError instead of looping.

    Example:
        >>> follow_merges("a", {"a": "b", "b": "c"}.get)
        'c'
    """
    seen = {customer_id}
    current = customer_id
    while (target := merged_into(current)) is not None:
        if target in seen:
            raise StorageError("merge chain has a cycle", entity="merges", value=customer_id)
        seen.add(target)
        current = target
    return current


def merge_profiles(survivor: Customer, merged: Customer) -> Customer:
    """The survivor's profile after folding ``merged`` into it.

    Rules: the survivor keeps its id and every non-empty field; empty text fields and
    None fields (names, birthday, timezone, locale, country, acquisition channel) are
    filled from ``merged``; identities and addresses are united (survivor's first, no
    duplicates); tags are united; attributes are united with the survivor winning on a
    shared key; ``created_at`` is the earlier of the two.

    Example:
        >>> from datetime import datetime, timezone
        >>> from ecomcrm.domain import Customer, Identity
        >>> t = datetime(2024, 1, 1, tzinfo=timezone.utc)
        >>> a = Customer(id="a", created_at=t, first_name="Ada", tags={"vip"})
        >>> b = Customer(id="b", created_at=t, last_name="Lovelace",
        ...              identities=[Identity.email("ada@example.com")], tags={"new"})
        >>> m = merge_profiles(a, b)
        >>> m.id, m.full_name, m.email, sorted(m.tags)
        ('a', 'Ada Lovelace', 'ada@example.com', ['new', 'vip'])
    """
    keys = {i.key for i in survivor.identities}
    identities = (*survivor.identities, *(i for i in merged.identities if i.key not in keys))
    addresses = (*survivor.addresses, *(a for a in merged.addresses if a not in survivor.addresses))
    filled: dict[str, Any] = {}
    for name in ("first_name", "last_name"):
        if not getattr(survivor, name):
            filled[name] = getattr(merged, name)
    for name in ("birthday", "timezone", "locale", "country", "acquisition_channel"):
        if getattr(survivor, name) is None:
            filled[name] = getattr(merged, name)
    return attrs.evolve(
        survivor,
        created_at=min(survivor.created_at, merged.created_at),
        identities=identities,
        addresses=addresses,
        tags=survivor.tags | merged.tags,
        attributes={**merged.attributes, **survivor.attributes},
        **filled,
    )


def merge_record_to_dict(record: MergeRecord) -> dict[str, str]:
    """A JSON-compatible dict of a merge record (used by exports and adapters).

    Example:
        >>> from datetime import datetime, timezone
        >>> r = MergeRecord(survivor_id="a", merged_id="b", at=datetime(2024, 1, 1, tzinfo=timezone.utc))
        >>> merge_record_to_dict(r)["at"]
        '2024-01-01T00:00:00+00:00'
    """
    return {
        "survivor_id": record.survivor_id,
        "merged_id": record.merged_id,
        "at": record.at.isoformat(),
    }
