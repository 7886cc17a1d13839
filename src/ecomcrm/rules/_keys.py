"""The engine's state layout: every key it writes and the record stored under it, defined once.

Keys of :class:`~ecomcrm.storage.StateRepository` (values are JSON mappings):

- ``enr:<flow>:<customer>``: the customer's current or last enrollment in a flow
  (:class:`EnrollmentRecord`);
- ``run:<flow>:<enrollment id>:<customer>``: an earlier enrollment of the customer in a
  flow, kept for performance reports when a new one replaced it in ``enr:``
  (:class:`RunRecord`);
- ``timer:<due µs, 17 digits>:<target key>``: a wake-up (:class:`TimerRecord`); keys sort
  by due time, so ``advance(now)`` reads exactly the due ones with one range scan;
- ``trg:<flow>:<customer>``: the next date or inactivity trigger of a customer
  (:class:`TriggerRecord`);
- ``seg:<flow>:<customer>``: last segment/threshold membership (:class:`SegmentRecord`);
- ``cnt:<flow>:<customer>``: recent matching events of a repeated-event trigger
  (:data:`CountRecord`);
- ``cap:<customer>``: recent marketing sends, for frequency caps (:class:`CapRecord`);
- ``act:<action id>``: every action handed out, with its acknowledgement
  (``Action.to_dict()`` plus :class:`ActionStatus`);
- ``seen:<event id>``: every event the engine handled (:class:`SeenRecord`);
- ``flowdef:<flow>:<version, 6 digits>``: every flow version ever run (``Flow.to_dict()``);
- ``win:<flow>:<split step>``: the winner of an A/B split, once decided, with how and
  the history of decisions (:class:`WinnerRecord`).

Flow ids hold no ``:``, so whatever follows the flow id is the whole customer key, colons
and all. Every record names its owner (the person it is about, which erasure deletes
by); :func:`owner_of` reads it from the layout, and the builders here are the only
place keys are spelled.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypedDict

ENR = "enr:"
TIMER = "timer:"
TIMER_END = "timer;"  # ';' follows ':' in code-point order: the end of the timer range
TRG = "trg:"
SEG = "seg:"
CNT = "cnt:"
CAP = "cap:"
ACT = "act:"
SEEN = "seen:"
FLOWDEF = "flowdef:"
RUN = "run:"
WIN = "win:"
_DUE_DIGITS = 17
_DUE_END = len(TIMER) + _DUE_DIGITS
_PERSONAL = frozenset({"enr", "trg", "seg", "cnt"})  # <kind>:<flow>:<person> records

#: One decision in an enrollment's log: ``[micros, kind, step, reason, text, data]``.
LogEntry = list[Any]


class EnrollmentRecord(TypedDict, total=False):
    """``enr:<flow>:<customer>``: one customer's run through one flow.

    ``status`` is ``none`` (only rejected so far), ``active``, ``holdout``, ``done`` or
    ``exited``; ``step`` the next step to run and ``due`` when (µs, None for now);
    ``timer`` the key of the pending wake-up; ``log`` the recent :data:`LogEntry`
    decisions; ``recent`` the last trigger ids (a trigger seen again is ignored).
    """

    flow: str
    cust: str
    status: str
    count: int
    log: list[LogEntry]
    recent: list[str]
    id: str
    v: int
    step: str | None
    due: int | None
    timer: str | None
    started: int
    ended: int | None
    ctx: Mapping[str, Any]
    trig: str
    visits: Mapping[str, int]
    variants: Mapping[str, str]
    holdout: bool


class RunRecord(TypedDict, total=False):
    """``run:<flow>:<enrollment id>:<customer>``: an ended enrollment, for reports.

    The fields of :class:`EnrollmentRecord` that reports read: ``flow``, ``cust``,
    ``id``, ``v``, ``status``, ``started``, ``ended``, ``holdout``, ``variants`` and
    ``skips`` (skipped actions per ``"<step>:<reason>"``).
    """

    flow: str
    cust: str
    id: str
    v: int
    status: str
    started: int
    ended: int | None
    holdout: bool
    variants: Mapping[str, str]
    skips: Mapping[str, int]


class WinnerRecord(TypedDict, total=False):
    """``win:<flow>:<step>``: the decision on an A/B split's winner.

    ``variant`` (None once reverted), ``status`` (``decided`` or
    ``reverted``), ``by`` (``auto`` or ``manual``), ``at`` (µs), ``p`` (P(best)), ``n``
    (enrollments per variant) and ``history`` (the earlier decisions).
    """

    variant: str | None
    status: str
    by: str
    at: int
    p: float | None
    n: Mapping[str, int]
    history: list[Mapping[str, Any]]


class TimerRecord(TypedDict):
    """``timer:...``: the key (``k``) of the enrollment or trigger it wakes."""

    k: str


class TriggerRecord(TypedDict):
    """``trg:<flow>:<customer>``: a date or inactivity trigger's next firing (``due`` µs)."""

    due: int
    timer: str | None
    kind: str
    flow: str
    cust: str


class SegmentRecord(TypedDict):
    """``seg:<flow>:<customer>``: whether the customer was ``in`` at ``at`` (µs)."""

    at: int


class CapRecord(TypedDict):
    """``cap:<customer>``: recent marketing sends as ``[channel, µs]`` pairs."""

    sends: list[list[Any]]


class ActionStatus(TypedDict, total=False):
    """What ``act:<id>`` adds to ``Action.to_dict()``: delivery status and outcome.

    ``times`` holds when each outcome was first reported (µs by outcome name), for
    attribution windows counted from a send, delivery, open or click.
    """

    status: str
    outcome: str | None
    emitted_at: int
    acked_at: int
    times: Mapping[str, int]


class SeenRecord(TypedDict):
    """``seen:<event id>``: when the event happened (``at`` µs) and whose it was (``cust``)."""

    at: int
    cust: str


#: ``cnt:<flow>:<customer>``: ``_ids`` (the latest event ids) and, per group, the recent
#: matching times (µs); group names come from event properties, so no fixed fields.
CountRecord = Mapping[str, Any]


def enr_key(flow_id: str, customer: str) -> str:
    """The key of a customer's enrollment in a flow."""
    return f"{ENR}{flow_id}:{customer}"


def run_key(flow_id: str, enrollment_id: str, customer: str) -> str:
    """The key of an earlier enrollment kept for reports."""
    return f"{RUN}{flow_id}:{enrollment_id}:{customer}"


def win_key(flow_id: str, step_id: str) -> str:
    """The key of an A/B split's winner."""
    return f"{WIN}{flow_id}:{step_id}"


def trg_key(flow_id: str, customer: str) -> str:
    """The key of a customer's date or inactivity trigger of a flow."""
    return f"{TRG}{flow_id}:{customer}"


def seg_key(flow_id: str, customer: str) -> str:
    """The key of a customer's last membership in a segment flow's condition."""
    return f"{SEG}{flow_id}:{customer}"


def cnt_key(flow_id: str, customer: str) -> str:
    """The key of a customer's recent matching events of a repeated-event trigger."""
    return f"{CNT}{flow_id}:{customer}"


def cap_key(customer: str) -> str:
    """The key of a customer's recent marketing sends."""
    return CAP + customer


def act_key(action_id: str) -> str:
    """The key of an action handed out."""
    return ACT + action_id


def seen_key(event_id: str) -> str:
    """The key of an event the engine handled."""
    return SEEN + event_id


def flowdef_key(flow_id: str, version: int) -> str:
    """The key of a flow version's definition."""
    return f"{FLOWDEF}{flow_id}:{version:06d}"


def timer_key(due_us: int, target: str) -> str:
    """The key of the wake-up of ``target`` at ``due_us`` (sorts by due time)."""
    return f"{TIMER}{due_us:017d}:{target}"


def timer_due(key: str) -> int:
    """The due time (µs) of a timer key."""
    return int(key[len(TIMER) : _DUE_END])


def owner_of(key: str, value: Mapping[str, Any] | None) -> str | None:
    """The person a state record is about (its ``owner``, which erasure deletes by).

    Read from the key layouts above; an action or seen record names its customer in its
    value. Flow definitions are about nobody.
    """
    kind, _, rest = key.partition(":")
    if kind in _PERSONAL:
        return rest.partition(":")[2] or None
    if kind == "cap":
        return rest or None
    if kind == "run":  # run:<flow>:<enrollment id>:<person>
        return rest.partition(":")[2].partition(":")[2] or None
    if kind == "timer":  # timer:<due, 17 digits>:<target key>
        return owner_of(rest[_DUE_DIGITS + 1 :], None)
    if kind in ("act", "seen") and value is not None:
        found = value.get("customer_id" if kind == "act" else "cust")
        return found if isinstance(found, str) and found else None
    return None
