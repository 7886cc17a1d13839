"""Identity suppression: the tombstones an erasure keeps and the checks that refuse erased identities."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from ecomcrm.domain import (
    Identity,
    IdentityKind,
)
from ecomcrm.errors import ValidationError

if TYPE_CHECKING:
    pass


TOMBSTONE_SALT = b"ecomcrm/erasure-tombstone/v1"
"""Fixed application key of the tombstone hash. Changing it forgets every suppression."""

SUPPRESSED_KINDS = frozenset({IdentityKind.EMAIL, IdentityKind.PHONE, IdentityKind.EXTERNAL})
"""Identity kinds that erase() turns into tombstones (anonymous cookie ids are not kept)."""


def tombstone_key(identity: Identity) -> str:
    """The suppression key kept for an erased identity: keyed BLAKE2b of ``kind:value``.

    This is a *suppression key*, not encryption: it cannot be turned back into the email
    or phone, but anyone holding the same normalised value computes the same key, which
    is exactly what lets a later import of that person be recognised and refused. The
    identity is normalised by :class:`~ecomcrm.domain.Identity` first, so
    ``"Ada@Example.com "`` and ``"ada@example.com"`` give one key.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> key = tombstone_key(Identity.email("Ada@Example.com"))
        >>> key == tombstone_key(Identity.email("ada@example.com")), len(key)
        (True, 64)
        >>> "ada" in key
        False
    """
    digest = hashlib.blake2b(identity.key.encode("utf-8"), key=TOMBSTONE_SALT, digest_size=32)
    return digest.hexdigest()


ERASED_ID_PREFIX = "erased-customer-id:"
"""Prefix of the external identity an erased customer id is suppressed under."""


def customer_id_identity(customer_id: str) -> Identity:
    """The identity whose tombstone keeps an erased customer id from coming back.

    ``erase`` keeps :func:`tombstone_key` of it for the erased id and every id merged
    into it; creating a customer with that id again (an import naming only the id, a
    Segment ``userId`` equal to it) is then refused like a suppressed email, and
    ``store.is_suppressed(customer_id_identity(id))`` is True.

    Example:
        >>> customer_id_identity("c1").key
        'external:erased-customer-id:c1'
    """
    return Identity(kind=IdentityKind.EXTERNAL, value=ERASED_ID_PREFIX + customer_id)


def erasure_tombstones(identities: Iterable[Identity], customer_ids: Iterable[str]) -> list[str]:
    """The sorted tombstone keys ``erase`` keeps: suppressed identities and the ids themselves.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> len(erasure_tombstones([Identity.email("a@b.co"), Identity(kind="anonymous", value="x")], ["c1"]))
        2
    """
    keys = {tombstone_key(i) for i in identities if i.kind in SUPPRESSED_KINDS}
    keys.update(tombstone_key(customer_id_identity(cid)) for cid in customer_ids)
    return sorted(keys)


def check_not_suppressed(
    identities: Iterable[Identity], is_suppressed_key: Callable[[str], bool], *, entity: str
) -> None:
    """Raise ValidationError for the first identity whose tombstone key is suppressed.

    Example:
        >>> from ecomcrm.domain import Identity
        >>> check_not_suppressed([Identity.email("a@b.co")], lambda key: False, entity="Customer")
    """
    for identity in identities:
        if identity.kind in SUPPRESSED_KINDS and is_suppressed_key(tombstone_key(identity)):
            raise ValidationError(
                "belongs to an erased person and is suppressed",
                entity=entity,
                field="identities",
                value=identity.kind.value,
            )


def check_id_not_erased(customer_id: str, is_suppressed_key: Callable[[str], bool]) -> None:
    """Raise ValidationError when ``customer_id`` is the id of an erased person.

    Example:
        >>> check_id_not_erased("c1", lambda key: False)
    """
    if is_suppressed_key(tombstone_key(customer_id_identity(customer_id))):
        raise ValidationError(
            "is the id of an erased person and is suppressed",
            entity="Customer",
            field="id",
            value=customer_id,
        )
