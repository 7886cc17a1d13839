"""The storage adapter toolkit: the adapter-independent rules every store reuses.

Build an adapter on :class:`BaseStore` and the base repositories
(:class:`BaseCustomerRepository`, :class:`BaseOrderRepository`, ...): they derive every
method of the contract that follows from others, including merge and erasure (written
once, over small per-repository primitives), so an adapter writes
:func:`required_methods` methods (40) instead of the contract's 57.

An adapter stores and fetches; the rules that decide *what* is stored live here, once, so
the memory, SQLite and third-party stores behave identically and pass the same
conformance kit (``ecomcrm.testing.StoreConformance``). Nothing here touches a database:
functions take domain objects, plain per-column Python lists, or a
:class:`~ecomcrm.storage.Store` used only through its public methods. One module per
concern:

- **base classes**: :class:`BaseStore`, the base repositories, :func:`required_methods`;
- **time conversion**: :func:`to_micros`, :func:`from_micros` (aware datetimes to and from
  integer microseconds since the epoch) and :func:`check_aware`;
- **suppression**: :func:`tombstone_key` (a keyed one-way hash of ``kind:value``),
  :func:`customer_id_identity`, :func:`erasure_tombstones`, :func:`check_not_suppressed`,
  :func:`check_id_not_erased`;
- **merge rules**: :func:`follow_merges` (cycle-safe resolution of merge chains),
  :func:`merge_profiles` (which profile fields the survivor takes),
  :func:`merge_record_to_dict`;
- **erasure anonymisation**: :func:`state_owners_of` (which state records go),
  :func:`anonymous_customer`, :func:`anonymise_order`, :func:`anonymise_refund`,
  :func:`new_anonymous_id` (which facts stay, anonymous);
- **consents**: :func:`latest_consents`, :func:`consent_key`;
- **audit log**: :class:`BaseAuditLog` (three primitives), :func:`write_audit`,
  :func:`audit_consents`, :func:`pseudonymise_audit`, :func:`audit_pseudonym`,
  :func:`lift_suppression` (``SupportsSuppressionRemoval`` over a delete primitive);
- **the state area**: :func:`check_state_key`, :func:`check_state_owner`,
  :func:`check_event_mark` (a mark of ``SupportsEventMarks``), :func:`freeze_state_value`
  (read-only :class:`FrozenDict` / :class:`FrozenList` values shared between readers) and
  :func:`check_expected_version` (compare-and-set);
- **retention**: :func:`apply_retention` over an adapter's :class:`RetentionPurger`
  bulk primitives, :func:`retention_cutoffs`;
- **documents**: :func:`build_export` and :func:`build_customer_360`, from repository
  reads only (:func:`customer_360_from` assembles the view from parts an adapter read
  its own way);
- **columnar builders**: :func:`order_row`, :func:`refund_row`,
  :func:`order_facts_from_columns`, :func:`line_facts_from_columns` (and
  :func:`line_facts_from_objects` for adapters that keep domain objects),
  :func:`event_facts_from_columns`, :func:`customer_table_from_columns`,
  :func:`ticket_facts_from_tickets` (and :func:`ticket_facts_from_store`, through the
  contract; :func:`read_ticket_facts` picks the capability when claimed), with the
  currency conversion of :func:`conversion_rates` and its mixed-currency
  :class:`~ecomcrm.errors.ValidationError`.

Example:
    >>> from datetime import datetime, timezone
    >>> from ecomcrm.domain import Identity
    >>> from ecomcrm.storage import toolkit
    >>> toolkit.to_micros(datetime(1970, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    1000000
    >>> toolkit.tombstone_key(Identity.email("Ada@Example.com")) == toolkit.tombstone_key(
    ...     Identity.email("ada@example.com"))
    True
"""

from __future__ import annotations

from ecomcrm.storage._capabilities import StateChange
from ecomcrm.storage.toolkit._audit import (
    BaseAuditLog,
    audit_consents,
    audit_entry,
    audit_pseudonym,
    check_audit_filters,
    consent_entries,
    lift_suppression,
    pseudonymise_audit,
    pseudonymised,
    write_audit,
)
from ecomcrm.storage.toolkit._columnar import (
    NO_CURRENCY,
    OrderRow,
    RefundRow,
    conversion_rates,
    customer_table_from_columns,
    event_facts_from_columns,
    event_names,
    event_product,
    line_facts_from_columns,
    line_facts_from_objects,
    order_facts_from_columns,
    order_row,
    refund_row,
)
from ecomcrm.storage.toolkit._consents import consent_key, latest_consents
from ecomcrm.storage.toolkit._documents import (
    EXPORT_SCHEMA_VERSION,
    LOYALTY_TIER_ATTRIBUTE,
    build_customer_360,
    build_export,
    customer_360_from,
)
from ecomcrm.storage.toolkit._erasure import (
    ANONYMOUS_ID_PREFIX,
    anonymise_order,
    anonymise_refund,
    anonymous_customer,
    new_anonymous_id,
    state_owners_of,
)
from ecomcrm.storage.toolkit._merges import follow_merges, merge_profiles, merge_record_to_dict
from ecomcrm.storage.toolkit._repositories import (
    BaseConsentRepository,
    BaseCustomerRepository,
    BaseEventRepository,
    BaseLoyaltyRepository,
    BaseMessageRepository,
    BaseOrderRepository,
    BaseRepository,
    BaseStateRepository,
    BaseTicketRepository,
)
from ecomcrm.storage.toolkit._retention import (
    RetentionPurger,
    apply_retention,
    retention_cutoffs,
)
from ecomcrm.storage.toolkit._state import (
    FrozenDict,
    FrozenList,
    check_event_mark,
    check_expected_version,
    check_state_key,
    check_state_owner,
    freeze_state_value,
)
from ecomcrm.storage.toolkit._store import (
    BaseStore,
    check_customer_id,
    check_merge_arguments,
    required_method_names,
    required_methods,
)
from ecomcrm.storage.toolkit._suppression import (
    ERASED_ID_PREFIX,
    SUPPRESSED_KINDS,
    TOMBSTONE_SALT,
    check_id_not_erased,
    check_not_suppressed,
    customer_id_identity,
    erasure_tombstones,
    tombstone_key,
)
from ecomcrm.storage.toolkit._tickets import (
    read_ticket_facts,
    ticket_facts_from_store,
    ticket_facts_from_tickets,
)
from ecomcrm.storage.toolkit._time import check_aware, from_micros, to_micros

__all__ = [
    "ANONYMOUS_ID_PREFIX",
    "ERASED_ID_PREFIX",
    "EXPORT_SCHEMA_VERSION",
    "LOYALTY_TIER_ATTRIBUTE",
    "NO_CURRENCY",
    "SUPPRESSED_KINDS",
    "TOMBSTONE_SALT",
    "BaseAuditLog",
    "BaseConsentRepository",
    "BaseCustomerRepository",
    "BaseEventRepository",
    "BaseLoyaltyRepository",
    "BaseMessageRepository",
    "BaseOrderRepository",
    "BaseRepository",
    "BaseStateRepository",
    "BaseStore",
    "BaseTicketRepository",
    "FrozenDict",
    "FrozenList",
    "OrderRow",
    "RefundRow",
    "RetentionPurger",
    "StateChange",
    "anonymise_order",
    "anonymise_refund",
    "anonymous_customer",
    "apply_retention",
    "audit_consents",
    "audit_entry",
    "audit_pseudonym",
    "build_customer_360",
    "build_export",
    "check_audit_filters",
    "check_aware",
    "check_customer_id",
    "check_event_mark",
    "check_expected_version",
    "check_id_not_erased",
    "check_merge_arguments",
    "check_not_suppressed",
    "check_state_key",
    "check_state_owner",
    "consent_entries",
    "consent_key",
    "conversion_rates",
    "customer_360_from",
    "customer_id_identity",
    "customer_table_from_columns",
    "erasure_tombstones",
    "event_facts_from_columns",
    "event_names",
    "event_product",
    "follow_merges",
    "freeze_state_value",
    "from_micros",
    "latest_consents",
    "lift_suppression",
    "line_facts_from_columns",
    "line_facts_from_objects",
    "merge_profiles",
    "merge_record_to_dict",
    "new_anonymous_id",
    "order_facts_from_columns",
    "order_row",
    "pseudonymise_audit",
    "pseudonymised",
    "read_ticket_facts",
    "refund_row",
    "required_method_names",
    "required_methods",
    "retention_cutoffs",
    "state_owners_of",
    "ticket_facts_from_store",
    "ticket_facts_from_tickets",
    "to_micros",
    "tombstone_key",
    "write_audit",
]
