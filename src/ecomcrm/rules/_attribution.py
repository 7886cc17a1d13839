"""Attribution settings, and the engine's action and enrollment records read as columns.

:class:`Attribution` says which orders a message earns: per channel, a window counted
from an outcome (sent, delivered, opened or clicked). The readers turn the engine's
state (``act:`` records, which keep when each outcome was first reported, and the
``enr:``/``run:`` enrollment records) into row-aligned arrays, in one range scan each,
for the vectorized functions of :mod:`ecomcrm.metrics`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import Channel, MessageOutcome
from ecomcrm.errors import ValidationError
from ecomcrm.rules._keys import ACT, ENR, RUN
from ecomcrm.rules._schedule import format_duration, parse_duration
from ecomcrm.storage import StateRepository

#: The outcomes a window may count from, in funnel order (a click implies an open, ...).
FUNNEL: tuple[str, ...] = ("sent", "delivered", "opened", "clicked")
#: Outcomes that mean the message never reached the person: never a touch.
_FAILED = ("bounced", "failed", "skipped")


@attrs.frozen(kw_only=True)
class AttributionWindow:
    """Orders within ``within`` after a message on ``channel`` reached ``outcome`` are its.

    Example:
        >>> AttributionWindow(channel="sms", outcome="clicked", within="1d").to_dict()
        {'channel': 'sms', 'outcome': 'clicked', 'within': '1d'}
    """

    channel: Channel = attrs.field(converter=Channel)
    outcome: MessageOutcome = attrs.field(default=MessageOutcome.OPENED, converter=MessageOutcome)
    within: timedelta = attrs.field(default=timedelta(days=5), converter=parse_duration)

    def __attrs_post_init__(self) -> None:
        if self.outcome.value not in FUNNEL:
            raise ValidationError(
                f"must be one of {', '.join(FUNNEL)}",
                entity="AttributionWindow", field="outcome", value=self.outcome.value,
            )  # fmt: skip
        if self.within <= timedelta(0):
            raise ValidationError(
                "must be positive", entity="AttributionWindow", field="within", value=self.within
            )

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "channel": self.channel.value,
            "outcome": self.outcome.value,
            "within": format_duration(self.within),
        }


def _windows(
    value: Iterable[AttributionWindow | Mapping[str, Any]],
) -> tuple[AttributionWindow, ...]:
    out = tuple(
        v if isinstance(v, AttributionWindow) else AttributionWindow(**dict(v)) for v in value
    )
    channels = [w.channel for w in out]
    if len(set(channels)) != len(channels):
        raise ValidationError(
            "names a channel twice", entity="Attribution", field="windows",
            value=[c.value for c in channels],
        )  # fmt: skip
    return out


_DEFAULT_WINDOWS = (
    AttributionWindow(channel="email", outcome="opened", within="5d"),
    AttributionWindow(channel="sms", outcome="clicked", within="1d"),
    AttributionWindow(channel="push", outcome="opened", within="1d"),
    AttributionWindow(channel="whatsapp", outcome="clicked", within="1d"),
    AttributionWindow(channel="web_push", outcome="clicked", within="1d"),
    AttributionWindow(channel="in_app", outcome="clicked", within="1d"),
)


@attrs.frozen(kw_only=True)
class Attribution:
    """How orders are credited to messages: last touch within per-channel windows.

    An order goes to the latest message of its customer that reached its channel's
    outcome strictly before the order and whose window still covers it
    (:func:`ecomcrm.metrics.last_touch`): one message at most, across every flow, so no
    order is counted twice. Messages on a channel without a window earn nothing; a
    message reported bounced, failed or skipped is never a touch.

    The default follows Klaviyo's: email opened 5 days, SMS clicked 1 day, push opened
    1 day, WhatsApp, web push and in-app clicked 1 day. Apple Mail Privacy Protection
    reports opens for messages nobody read; :meth:`counted_from` ``"sent"`` counts every
    window from the send instead.

    Example:
        >>> Attribution().window_for("email").within.days
        5
        >>> Attribution.counted_from("sent").window_for("sms").outcome.value
        'sent'
    """

    windows: tuple[AttributionWindow, ...] = attrs.field(
        default=_DEFAULT_WINDOWS, converter=_windows
    )

    @classmethod
    def counted_from(cls, outcome: MessageOutcome | str) -> Attribution:
        """The default windows, each counted from ``outcome`` instead.

        Example:
            >>> Attribution.counted_from("delivered").window_for("email").outcome.value
            'delivered'
        """
        return cls(
            windows=[attrs.evolve(w, outcome=MessageOutcome(outcome)) for w in _DEFAULT_WINDOWS]
        )

    def window_for(self, channel: Channel | str) -> AttributionWindow | None:
        """The window of a channel, or None when its messages earn nothing.

        Example:
            >>> Attribution().window_for("direct_mail") is None
            True
        """
        wanted = Channel(channel)
        return next((w for w in self.windows if w.channel is wanted), None)

    def to_dict(self) -> dict[str, Any]:
        """JSON form.

        Example:
            >>> Attribution(windows=[{"channel": "email", "within": "3d"}]).to_dict()
            {'windows': [{'channel': 'email', 'outcome': 'opened', 'within': '3d'}]}
        """
        return {"windows": [w.to_dict() for w in self.windows]}


@attrs.frozen(kw_only=True)
class ActionColumns:
    """The engine's actions as row-aligned columns (one ``act:`` record per row).

    ``times`` maps each outcome to when it was first reported (µs, -1 when never);
    ``due`` is when the action was handed out (µs).
    """

    action_id: NDArray[np.object_]
    customer: NDArray[np.object_]
    flow: NDArray[np.object_]
    step: NDArray[np.object_]
    channel: NDArray[np.object_]
    enrollment: NDArray[np.object_]
    due: NDArray[np.int64]
    times: Mapping[str, NDArray[np.int64]]
    failed: NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.action_id)

    def touch_times(self, outcome: str, *, assume_sent: bool) -> NDArray[np.int64]:
        """When each action reached ``outcome`` or a later funnel stage (-1: never).

        For ``sent`` that is the first ``sent`` report, or the due instant of an action
        reported only at a later stage; with ``assume_sent`` (a backtest, where nothing is
        reported) every action counts as reaching ``outcome`` when it was due. A later
        stage is taken at its first report (a click implies the open, but its instant is
        the click's).
        """
        if assume_sent:
            return self.due.copy()
        level = FUNNEL.index(outcome)
        never = np.iinfo(np.int64).max
        best = np.full(len(self), never, dtype=np.int64)
        for stage in FUNNEL[level:]:
            t = self.times[stage]
            best = np.minimum(best, np.where(t >= 0, t, never))
        if level == 0:
            reached = best < never
            sent = self.times["sent"]
            best = np.where(sent >= 0, sent, np.where(reached, self.due, never))
        best[self.failed] = never
        return np.where(best < never, best, -1)


def read_actions(state: StateRepository) -> ActionColumns:
    """Every action the engine handed out, as columns (one scan of ``act:``)."""
    ids: list[str] = []
    customer: list[str] = []
    flow: list[str | None] = []
    step: list[str | None] = []
    channel: list[str] = []
    enrollment: list[str | None] = []
    due: list[int] = []
    stamps: dict[str, list[int]] = {name: [] for name in FUNNEL}
    failed: list[bool] = []
    for record in state.scan(ACT):
        v = record.value
        ids.append(v["id"])
        customer.append(v["customer_id"])
        flow.append(v.get("flow_id"))
        step.append(v.get("step_id"))
        channel.append(v.get("channel") or "")
        enrollment.append(v.get("enrollment_id"))
        due.append(v["due_at"])
        times = v.get("times") or {}
        for name in FUNNEL:
            stamps[name].append(times.get(name, -1))
        failed.append(any(name in times for name in _FAILED))
    return ActionColumns(
        action_id=np.array(ids, dtype=object),
        customer=np.array(customer, dtype=object),
        flow=np.array(flow, dtype=object),
        step=np.array(step, dtype=object),
        channel=np.array(channel, dtype=object),
        enrollment=np.array(enrollment, dtype=object),
        due=np.array(due, dtype=np.int64),
        times={name: np.array(values, dtype=np.int64) for name, values in stamps.items()},
        failed=np.array(failed, dtype=bool),
    )


@attrs.frozen(kw_only=True)
class EnrollmentColumns:
    """Every enrollment the engine recorded (current ``enr:`` and earlier ``run:``), as columns.

    ``variants`` maps each split step id to the variant of each row ("" when the row did
    not reach it); the ``skip_*`` columns count skipped actions per row, step and reason.
    """

    flow: NDArray[np.object_]
    enrollment: NDArray[np.object_]
    customer: NDArray[np.object_]
    started: NDArray[np.int64]
    holdout: NDArray[np.bool_]
    variants: Mapping[str, Mapping[str, NDArray[np.object_]]]
    skip_row: NDArray[np.int64]
    skip_step: NDArray[np.object_]
    skip_reason: NDArray[np.object_]
    skip_count: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.enrollment)


def read_enrollments(state: StateRepository) -> EnrollmentColumns:
    """Every enrollment of every flow, as columns (one scan of ``enr:``, one of ``run:``)."""
    flow: list[str] = []
    ids: list[str] = []
    customer: list[str] = []
    started: list[int] = []
    holdout: list[bool] = []
    chosen: dict[str, dict[str, list[tuple[int, str]]]] = {}
    skips: Counter[tuple[int, str, str]] = Counter()
    for prefix in (ENR, RUN):
        for record in state.scan(prefix):
            v = record.value
            if v.get("id") is None or v.get("started") is None:
                continue  # only rejected triggers so far: never entered
            row = len(ids)
            flow.append(v["flow"])
            ids.append(v["id"])
            customer.append(v["cust"])
            started.append(v["started"])
            holdout.append(bool(v.get("holdout")))
            for split, name in (v.get("variants") or {}).items():
                chosen.setdefault(v["flow"], {}).setdefault(split, []).append((row, name))
            for slot, count in (v.get("skips") or {}).items():
                step, _, reason = slot.partition(":")
                skips[(row, step, reason)] += count
    n = len(ids)
    variants: dict[str, dict[str, NDArray[np.object_]]] = {}
    for flow_id, splits in chosen.items():
        for split, pairs in splits.items():
            column = np.full(n, "", dtype=object)
            rows = np.array([r for r, _ in pairs], dtype=np.int64)
            column[rows] = np.array([name for _, name in pairs], dtype=object)
            variants.setdefault(flow_id, {})[split] = column
    return EnrollmentColumns(
        flow=np.array(flow, dtype=object),
        enrollment=np.array(ids, dtype=object),
        customer=np.array(customer, dtype=object),
        started=np.array(started, dtype=np.int64),
        holdout=np.array(holdout, dtype=bool),
        variants=variants,
        skip_row=np.array([k[0] for k in skips], dtype=np.int64),
        skip_step=np.array([k[1] for k in skips], dtype=object),
        skip_reason=np.array([k[2] for k in skips], dtype=object),
        skip_count=np.array(list(skips.values()), dtype=np.int64),
    )
