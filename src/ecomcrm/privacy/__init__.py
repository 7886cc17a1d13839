"""Privacy operations above the store: data-subject requests with their legal reasons.

- :func:`export_person` -- the machine-readable export of everything about a person
  (GDPR Art. 15 and 20), audited;
- :func:`erase_person` -- erasure (Art. 17, CCPA deletion) with an :class:`ErasureReport`
  of what was deleted, pseudonymised and kept, and why;
- :class:`PreferenceCentre` of the application's :class:`ConsentTopic` s: records a
  person's choice with its proof (Art. 7(1)) and reads their :class:`ConsentState`
  (every topic x channel with a :class:`TopicChoice`), as a preference page needs.

The store-level pieces live in :mod:`ecomcrm.storage`: the audit log
(:class:`~ecomcrm.storage.SupportsAuditLog`, :func:`~ecomcrm.storage.audit_context`) and
retention policies (:class:`~ecomcrm.storage.RetentionPolicy`,
:class:`~ecomcrm.storage.SupportsRetention`). See docs/privacy-operations.md.

Example:
    >>> from ecomcrm.privacy import KEPT_REASONS
    >>> sorted(KEPT_REASONS)
    ['anonymous_order_facts', 'audit_entries', 'suppression_tombstones']
"""

from ecomcrm.privacy._preferences import (
    ConsentState,
    ConsentTopic,
    PreferenceCentre,
    TopicChoice,
)
from ecomcrm.privacy._requests import (
    EXPORT_FORMAT,
    KEPT_REASONS,
    ErasureReport,
    erase_person,
    export_person,
)

__all__ = [
    "EXPORT_FORMAT",
    "KEPT_REASONS",
    "ConsentState",
    "ConsentTopic",
    "ErasureReport",
    "PreferenceCentre",
    "TopicChoice",
    "erase_person",
    "export_person",
]
