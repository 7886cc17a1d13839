"""One unit of the engine's work: a read-through cache, buffered writes, one compare-and-set commit.

Exactly-once intent: each unit of work (one event, one batch, one due timer) reads what
it needs, computes, then writes everything in one store transaction with compare-and-set
on every record it read (new records must not exist yet). A second process that did the
same work first makes the commit fail with ConflictError; the unit is then recomputed
from the fresh state, where the work is visibly done.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ecomcrm.errors import ConflictError, StorageBusyError
from ecomcrm.rules._actions import Action
from ecomcrm.rules._context import CustomerData
from ecomcrm.rules._keys import TIMER, TIMER_END, owner_of
from ecomcrm.storage import StateRecord
from ecomcrm.storage.toolkit import FrozenDict, freeze_state_value

LOST_RACE = (ConflictError, StorageBusyError)  # nothing was written: compute again


class Work:
    """One unit of work: read-through cache, buffered writes, CAS commit.

    ``decisions`` holds ``(flow, customer, enrollment, log entry)`` for the observer; it
    is None (nothing collected) when the engine has no observer. With ``drafts`` the
    values written are kept as given until the commit serialises them (a database store
    validates and encodes them there); otherwise each is frozen when written.
    """

    __slots__ = (
        "actions", "apply", "data", "decisions", "drafts", "first_timer", "marks", "owners",
        "reads", "resolved", "state", "writes",
    )  # fmt: skip

    def __init__(
        self,
        state: Any,
        observed: bool,
        drafts: bool = False,
        batches: bool = False,
        marks: bool = False,
    ) -> None:
        self.state = state
        # ``batches``: the state repository claims SupportsStateBatches (checked once)
        self.apply: Callable[[list[tuple[str, Any, int | None, str | None]]], None] | None = (
            state.apply if batches else None
        )
        self.drafts = drafts
        self.reads: dict[str, StateRecord | None] = {}
        self.writes: dict[str, Mapping[str, Any] | None] = {}
        # the owner of a written key, when the writer knew it (else derived at commit)
        self.owners: dict[str, str | None] = {}
        self.actions: list[Action] = []
        self.decisions: list[tuple[str, str, str | None, list[Any]]] | None = (
            [] if observed else None
        )
        self.data: dict[str, CustomerData] = {}
        self.resolved: dict[tuple[str | None, str | None], str] = {}
        self.first_timer = TIMER_END  # the earliest timer key this unit wrote (keys sort by due)
        # ``marks``: the state repository claims SupportsEventMarks; the ``seen:`` marks
        # then wait here as ``key: (at µs, owner)`` and are committed by ``apply_marked``
        self.marks: dict[str, tuple[int, str]] | None = {} if marks else None

    def has_writes(self) -> bool:
        """Whether the unit writes anything at commit (records or marks)."""
        return bool(self.writes or self.marks)

    def get(self, key: str) -> Mapping[str, Any] | None:
        """The value of ``key`` as this unit sees it (its own writes first)."""
        writes = self.writes
        if key in writes:
            return writes[key]
        reads = self.reads
        if key in reads:
            record = reads[key]
        else:
            record = reads[key] = self.state.get(key)
        return None if record is None else record.value

    def put(self, key: str, value: Mapping[str, Any]) -> None:
        """Write ``key`` at commit (compare-and-set against the version read)."""
        if key not in self.reads:
            self.reads[key] = self.state.get(key)
        if key < self.first_timer and key.startswith(TIMER):
            self.first_timer = key
        # frozen now (validated, read-only, sharing the unchanged parts of what was read):
        # the caller's draft is freed at once and an in-memory store keeps it as it is
        self.writes[key] = value if self.drafts else freeze_state_value(value)

    def put_owned(self, key: str, value: Mapping[str, Any], owner: str | None) -> None:
        """``put`` by a writer that built ``key`` from its owner (no key parsing at commit)."""
        self.put(key, value)
        self.owners[key] = owner

    def mark_seen(self, key: str, cid: str, at_us: int) -> bool:
        """Write the ``seen:`` mark ``key`` of an event; False when it was there already.

        The mark joins the unit's other writes (one commit); its read is the batch's
        read-ahead when there was one. The value is built frozen and its owner is known,
        so nothing is copied, checked or parsed again before the store keeps it.
        """
        marks = self.marks
        pending: Mapping[str, Any] = self.writes if marks is None else marks
        if key in pending:
            return False  # the same event earlier in this unit (marks are never deleted)
        reads = self.reads
        if key in reads:
            if reads[key] is not None:
                return False
        elif (reads.setdefault(key, self.state.get(key))) is not None:
            return False
        if marks is not None:
            marks[key] = (at_us, cid)  # a mark: written compactly by ``apply_marked``
            return True
        self.writes[key] = FrozenDict(at=at_us, cust=cid)
        self.owners[key] = cid
        return True

    def delete(self, key: str) -> None:
        """Delete ``key`` at commit (when it exists)."""
        if self.get(key) is not None:
            self.writes[key] = None

    def commit(self, state: Any, transaction: Callable[[], Any]) -> None:
        """Write everything, each record compare-and-set against the version read."""
        marks = self.marks
        if not self.writes and not marks:
            return
        reads = self.reads
        owners = self.owners
        apply = self.apply
        if apply is not None:
            # the batch capability: every compare-and-set checked, then all applied, atomically
            changes: list[tuple[str, Mapping[str, Any] | None, int | None, str | None]] = []
            append = changes.append
            for key, value in self.writes.items():
                record = reads[key]
                if value is None:
                    if record is not None:
                        append((key, None, record.version, None))
                    continue
                owner = owners[key] if key in owners else owner_of(key, value)
                append((key, value, None if record is None else record.version, owner))
            if marks:
                state.apply_marked(changes, [(k, at, c) for k, (at, c) in marks.items()])
            else:
                apply(changes)
            return
        with transaction():
            for key, value in self.writes.items():
                record = reads[key]
                if value is None:
                    if record is not None:
                        state.delete(key, expected_version=record.version)
                else:
                    version = None if record is None else record.version
                    owner = owners[key] if key in owners else owner_of(key, value)
                    state.put(key, value, expected_version=version, owner=owner)


def gave_up(exc: ConflictError | StorageBusyError, text: str, tries: int = 0) -> Exception:
    """The lost-race error the engine raises after its last try: same class and fields."""
    counted = f" ({tries} tries)" if tries else ""
    kwargs: dict[str, Any] = {"entity": exc.entity, "field": exc.field, "row": exc.row}
    if exc.has_value:
        kwargs["value"] = exc.value
    return type(exc)(f"{text}{counted}: {exc.message}", **kwargs)
