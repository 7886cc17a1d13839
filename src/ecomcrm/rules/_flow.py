"""Flow definitions: trigger -> steps (wait, wait until, branch, split, action) with exits.

The steps are defined in ``rules._steps``; their names are re-exported here with the
flow's own (trigger, exits, re-entry, holdout).

A :class:`Flow` is immutable and validated when it is built (or loaded with
:meth:`Flow.from_dict`): an unknown step type, a step no path reaches, a negative wait,
a condition that does not compile or a jump to a missing step raise
:class:`~ecomcrm.errors.ConfigurationError` naming the flow and the step.

Steps run in list order unless a step names its ``next`` step; ``"end"`` ends the flow.
Branches name both their targets; splits name one target per variant. Flows are acyclic.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import attrs

from ecomcrm.domain import Purpose, is_consent_topic
from ecomcrm.errors import ConfigurationError, ValidationError
from ecomcrm.rules._conditions import (
    CUSTOMER_FIELDS,
    EVENT_PROPERTIES,
    Condition,
    compile_condition,
    config_error,
)
from ecomcrm.rules._goal import ORDER_EVENT, Goal, Holdout, _to_goal, _to_holdout
from ecomcrm.rules._schedule import (
    format_duration,
    format_time_of_day,
    parse_time_of_day,
)
from ecomcrm.rules._steps import (
    ActionStep,
    BranchStep,
    SplitStep,
    Step,
    StepType,
    WaitStep,
    _frozen_map,
    _opt_duration,
    step_from_dict,
)

END = "end"


class TriggerKind(StrEnum):
    """What starts a flow for a customer."""

    EVENT = "event"
    SEGMENT_ENTRY = "segment_entry"
    SEGMENT_EXIT = "segment_exit"
    DATE = "date"
    INACTIVITY = "inactivity"
    THRESHOLD = "threshold"


class ReentryMode(StrEnum):
    """Whether a customer who went through a flow may enter it again."""

    NEVER = "never"
    COOLDOWN = "cooldown"
    ALWAYS = "always"


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _step_tuple(value: Iterable[StepType]) -> tuple[StepType, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class Trigger:
    """What enrolls a customer: an event, a segment entry or exit, a date, inactivity, a threshold.

    Build one with the class methods. ``condition`` filters event triggers (event
    properties plus customer fields) and defines the segment or threshold of the others
    (customer fields). ``count``/``within``/``group_by`` make an event trigger fire only
    on the ``count``-th matching event inside ``within`` (per value of ``group_by``).

    Example:
        >>> Trigger.on_event("Checkout Started", condition="total > 0").kind
        <TriggerKind.EVENT: 'event'>
        >>> Trigger.date("birthday", at="09:00").field
        'birthday'
    """

    kind: TriggerKind = attrs.field(converter=TriggerKind)
    event: str | None = None
    condition: str | None = None
    properties: Mapping[str, str] = attrs.field(factory=dict, converter=_frozen_map)
    count: int = 1
    within: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    group_by: str | None = None
    field: str | None = None
    at: time = attrs.field(default=time(9), converter=parse_time_of_day)
    days_before: int = 0
    feb29: str = "feb28"
    inactive_for: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    activity_event: str = "Order Completed"
    recheck_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)

    @classmethod
    def on_event(
        cls,
        name: str,
        *,
        condition: str | None = None,
        properties: Mapping[str, str] | None = None,
        count: int = 1,
        within: timedelta | str | None = None,
        group_by: str | None = None,
    ) -> Trigger:
        """An event by name, with an optional condition and repeat count.

        Example:
            >>> Trigger.on_event("Product Viewed", count=3, within="7d", group_by="sku").count
            3
        """
        return cls(
            kind=TriggerKind.EVENT,
            event=name,
            condition=condition,
            properties=properties or {},
            count=count,
            within=within,
            group_by=group_by,
        )

    @classmethod
    def segment_entry(cls, condition: str, *, recheck_on: Iterable[str] = ()) -> Trigger:
        """Enroll when a customer starts matching ``condition`` (checked by ``refresh``).

        Example:
            >>> Trigger.segment_entry("total_spent >= 1000").kind.value
            'segment_entry'
        """
        return cls(kind=TriggerKind.SEGMENT_ENTRY, condition=condition, recheck_on=recheck_on)

    @classmethod
    def segment_exit(cls, condition: str, *, recheck_on: Iterable[str] = ()) -> Trigger:
        """Enroll when a customer stops matching ``condition``.

        Example:
            >>> Trigger.segment_exit("'vip' in tags").kind.value
            'segment_exit'
        """
        return cls(kind=TriggerKind.SEGMENT_EXIT, condition=condition, recheck_on=recheck_on)

    @classmethod
    def threshold(cls, condition: str, *, recheck_on: Iterable[str] = ()) -> Trigger:
        """Enroll when a numeric condition is crossed, e.g. points near the next tier.

        Example:
            >>> Trigger.threshold("loyalty_points >= 400", recheck_on=["Order Completed"]).recheck_on
            ('Order Completed',)
        """
        return cls(kind=TriggerKind.THRESHOLD, condition=condition, recheck_on=recheck_on)

    @classmethod
    def date(
        cls,
        field: str,
        *,
        at: time | str = "09:00",
        days_before: int = 0,
        feb29: str = "feb28",
    ) -> Trigger:
        """Yearly on ``"birthday"`` or ``"signup"`` (anniversary of ``created_at``), local time.

        Example:
            >>> Trigger.date("signup", at="10:00").at
            datetime.time(10, 0)
        """
        return cls(kind=TriggerKind.DATE, field=field, at=at, days_before=days_before, feb29=feb29)

    @classmethod
    def inactivity(
        cls, inactive_for: timedelta | str, *, activity_event: str = "Order Completed"
    ) -> Trigger:
        """Enroll when ``activity_event`` has not happened for ``inactive_for``.

        Example:
            >>> Trigger.inactivity("90d").inactive_for.days
            90
        """
        return cls(
            kind=TriggerKind.INACTIVITY, inactive_for=inactive_for, activity_event=activity_event
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON form (only the fields this kind uses).

        Example:
            >>> Trigger.on_event("Signed Up").to_dict()
            {'kind': 'event', 'event': 'Signed Up'}
        """
        out: dict[str, Any] = {"kind": self.kind.value}
        if self.kind is TriggerKind.EVENT:
            out["event"] = self.event
            if self.condition is not None:
                out["condition"] = self.condition
            if self.properties:
                out["properties"] = dict(self.properties)
            if self.count != 1:
                out["count"] = self.count
            if self.within is not None:
                out["within"] = format_duration(self.within)
            if self.group_by is not None:
                out["group_by"] = self.group_by
        elif self.kind is TriggerKind.DATE:
            out.update(field=self.field, at=format_time_of_day(self.at))
            if self.days_before:
                out["days_before"] = self.days_before
            if self.feb29 != "feb28":
                out["feb29"] = self.feb29
        elif self.kind is TriggerKind.INACTIVITY:
            assert self.inactive_for is not None
            out["inactive_for"] = format_duration(self.inactive_for)
            if self.activity_event != "Order Completed":
                out["activity_event"] = self.activity_event
        else:
            out["condition"] = self.condition
            if self.recheck_on:
                out["recheck_on"] = list(self.recheck_on)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Trigger:
        """Inverse of :meth:`to_dict`.

        Example:
            >>> Trigger.from_dict({"kind": "inactivity", "inactive_for": "60d"}).inactive_for.days
            60
        """
        return cls(**dict(data))


@attrs.frozen(kw_only=True)
class Exit:
    """Ends an enrollment: on an event, when a customer condition holds, or on any purchase.

    Event exits are applied when the event is handled; condition exits are checked
    whenever the enrollment wakes up and before every action.

    ``ordered=True`` (build it with :meth:`on_order`) ends the enrollment when the
    customer orders after entering, however the order arrives: an ``Order Completed``
    event handled by the engine ends it at once, and an order written to the store
    (an import, ``store.orders.upsert``) with ``placed_at`` after the entry instant ends
    it when the enrollment next wakes up, before any further step runs. Cancelled orders
    do not count.

    Example:
        >>> Exit(event="Order Completed").to_dict()
        {'event': 'Order Completed'}
        >>> Exit.on_order().to_dict()
        {'ordered': True}
    """

    event: str | None = None
    condition: str | None = None
    ordered: bool = False

    @classmethod
    def on_order(cls) -> Exit:
        """End the enrollment when the customer orders after entering (event or store).

        Example:
            >>> Exit.on_order().ordered
            True
        """
        return cls(ordered=True)

    def ends_on(self, event_name: str) -> bool:
        """True when handling an event of this name applies this exit.

        Example:
            >>> Exit.on_order().ends_on("Order Completed")
            True
        """
        if self.ordered:
            return event_name == ORDER_EVENT
        return self.event == event_name

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {}
        if self.event is not None:
            out["event"] = self.event
        if self.condition is not None:
            out["condition"] = self.condition
        if self.ordered:
            out["ordered"] = True
        return out


@attrs.frozen(kw_only=True)
class ReentryPolicy:
    """Whether a customer may enter a flow again once their enrollment ended.

    A customer is never in one flow twice at the same time.

    Example:
        >>> ReentryPolicy.cooldown("30d").cooldown_for.days
        30
    """

    mode: ReentryMode = attrs.field(default=ReentryMode.NEVER, converter=ReentryMode)
    cooldown_for: timedelta | None = attrs.field(default=None, converter=_opt_duration)

    @classmethod
    def never(cls) -> ReentryPolicy:
        """Once per customer, ever."""
        return cls(mode=ReentryMode.NEVER)

    @classmethod
    def always(cls) -> ReentryPolicy:
        """Again as soon as the last enrollment ended."""
        return cls(mode=ReentryMode.ALWAYS)

    @classmethod
    def cooldown(cls, duration: timedelta | str) -> ReentryPolicy:
        """Again once ``duration`` has passed since the last enrollment started."""
        return cls(mode=ReentryMode.COOLDOWN, cooldown_for=duration)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {"mode": self.mode.value}
        if self.cooldown_for is not None:
            out["cooldown"] = format_duration(self.cooldown_for)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReentryPolicy:
        """Inverse of :meth:`to_dict`."""
        return cls(mode=data.get("mode", "never"), cooldown_for=data.get("cooldown"))


def _to_trigger(value: Trigger | Mapping[str, Any]) -> Trigger:
    return value if isinstance(value, Trigger) else Trigger.from_dict(value)


def _to_reentry(value: ReentryPolicy | Mapping[str, Any] | str) -> ReentryPolicy:
    if isinstance(value, ReentryPolicy):
        return value
    if isinstance(value, str):
        return ReentryPolicy(mode=value)
    return ReentryPolicy.from_dict(value)


def _to_exits(values: Iterable[Exit | Mapping[str, Any]]) -> tuple[Exit, ...]:
    return tuple(v if isinstance(v, Exit) else Exit(**dict(v)) for v in values)


@attrs.frozen(kw_only=True)
class Flow:
    """A lifecycle flow: who enters (trigger, filter), what happens (steps), what ends it (exits).

    Args:
        id: Stable identifier, part of every idempotency key.
        version: Bump it when the steps change; running enrollments finish on theirs.
        trigger: What enrolls a customer.
        steps: The steps, run in order unless a step says otherwise.
        exits: Events, conditions or a purchase (:meth:`Exit.on_order`) that end an
            enrollment.
        filter: Customer condition checked at entry and again before every action.
        reentry: Whether a customer may go through the flow again.
        holdout: A control group, for uplift.
        goal: What counts as a conversion (default: the holdout's goal, else any order
            within 7 days), and whether reaching it ends the enrollment.
        exit_on_consent_withdrawn: End the enrollment (instead of skipping the message)
            when a marketing action finds no consent on its channel.
        topic: The consent topic its marketing messages need (``"newsletter"``,
            ``"offers"``...; see ``ecomcrm.domain.Consent.topic``): each is sent only
            while the decision in force for that topic on the channel is a grant. None
            (the default): a grant for marketing as a whole.
        name: A label for people.
        description: What the flow is for.

    Raises:
        ConfigurationError: Naming the flow and step for any invalid part.

    Example:
        >>> flow = Flow(
        ...     id="cart",
        ...     trigger=Trigger.on_event("Checkout Started"),
        ...     steps=[WaitStep(id="wait", duration="1h"),
        ...            ActionStep(id="remind", channel="email", template="cart_1")],
        ...     exits=[Exit(event="Order Completed")],
        ... )
        >>> Flow.from_dict(flow.to_dict()) == flow
        True
    """

    id: str
    trigger: Trigger = attrs.field(converter=_to_trigger)
    steps: tuple[StepType, ...] = attrs.field(converter=_step_tuple)
    version: int = 1
    exits: tuple[Exit, ...] = attrs.field(default=(), converter=_to_exits)
    filter: str | None = None
    reentry: ReentryPolicy = attrs.field(factory=ReentryPolicy, converter=_to_reentry)
    holdout: Holdout | None = attrs.field(default=None, converter=_to_holdout)
    exit_on_consent_withdrawn: bool = True
    topic: str | None = None
    name: str = ""
    description: str = ""
    goal: Goal | None = attrs.field(default=None, converter=_to_goal)
    _all_exits: tuple[Exit, ...] = attrs.field(init=False, repr=False, eq=False)
    _index: Mapping[str, int] = attrs.field(init=False, repr=False, eq=False)
    _successors: Mapping[str, tuple[str | None, ...]] = attrs.field(
        init=False, repr=False, eq=False
    )
    _conditions: Mapping[str, Condition] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        _validate(self)

    # --- navigation ---------------------------------------------------------------------

    @property
    def first_step(self) -> str | None:
        """The id of the first step (None for a flow without steps)."""
        return self.steps[0].id if self.steps else None

    def step(self, step_id: str) -> StepType:
        """The step with this id.

        Raises:
            KeyError: No such step.
        """
        return self.steps[self._index[step_id]]

    def has_step(self, step_id: str) -> bool:
        """True when the flow has a step with this id."""
        return step_id in self._index

    def successor(self, step_id: str, target: str | None = None) -> str | None:
        """Where a step goes (``target`` resolved: None means the following step); None is the end."""
        if target is None:
            position = self._index[step_id] + 1
            return self.steps[position].id if position < len(self.steps) else None
        return None if target == END else target

    def condition(self, key: str) -> Condition:
        """A compiled condition: ``"trigger"``, ``"filter"``, ``"exit:<n>"`` or ``"step:<id>"``."""
        return self._conditions[key]

    def has_condition(self, key: str) -> bool:
        """True when the flow has a compiled condition under ``key``."""
        return key in self._conditions

    @property
    def event_schema(self) -> Mapping[str, str]:
        """Fields event conditions can read: customer fields, standard and declared properties."""
        schema = dict(CUSTOMER_FIELDS)
        schema.update(EVENT_PROPERTIES)
        schema.update(self.trigger.properties)
        return schema

    @property
    def conversion_goal(self) -> Goal:
        """The goal conversions are measured on: ``goal``, else the holdout's, else any order in 7 days.

        Example:
            >>> Flow(id="f", trigger=Trigger.on_event("X"), steps=[]).conversion_goal
            Goal(event='Order Completed', within=datetime.timedelta(days=7), exit=False)
        """
        if self.goal is not None:
            return self.goal
        if self.holdout is not None:
            return Goal(event=self.holdout.goal, within=self.holdout.within)
        return Goal()

    @property
    def all_exits(self) -> tuple[Exit, ...]:
        """The exits the engine applies: ``exits``, then the goal's when it exits on goal.

        Conditions of exit ``n`` of this tuple compile under ``"exit:<n>"``.

        Example:
            >>> Flow(id="f", trigger=Trigger.on_event("X"), steps=[],
            ...      goal=Goal(exit=True)).all_exits
            (Exit(event=None, condition=None, ordered=True),)
        """
        return self._all_exits

    @property
    def is_marketing(self) -> bool:
        """True when any action step sends a marketing message."""
        return any(isinstance(s, ActionStep) and s.is_marketing for s in self.steps)

    # --- JSON ---------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON-serialisable definition (``from_dict`` reads it back equal).

        Example:
            >>> Flow(id="f", trigger=Trigger.on_event("X"), steps=[]).to_dict()["trigger"]
            {'kind': 'event', 'event': 'X'}
        """
        out: dict[str, Any] = {"id": self.id, "version": self.version}
        if self.name:
            out["name"] = self.name
        if self.description:
            out["description"] = self.description
        out["trigger"] = self.trigger.to_dict()
        if self.filter is not None:
            out["filter"] = self.filter
        out["steps"] = [s.to_dict() for s in self.steps]
        if self.exits:
            out["exits"] = [e.to_dict() for e in self.exits]
        out["reentry"] = self.reentry.to_dict()
        if self.holdout is not None:
            out["holdout"] = self.holdout.to_dict()
        if not self.exit_on_consent_withdrawn:
            out["exit_on_consent_withdrawn"] = False
        if self.topic is not None:
            out["topic"] = self.topic
        if self.goal is not None:
            out["goal"] = self.goal.to_dict()
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Flow:
        """Load a definition; ConfigurationError naming the flow and step when it is invalid.

        Example:
            >>> Flow.from_dict({"id": "f", "trigger": {"kind": "event", "event": "X"},
            ...                 "steps": [{"type": "teleport", "id": "s1"}]})
            Traceback (most recent call last):
            ...
            ecomcrm.errors.ConfigurationError: flow 'f': step 's1': unknown step type 'teleport'; expected one of action, branch, split, wait, wait_until
        """
        if not isinstance(data, Mapping):
            raise ConfigurationError("a flow definition must be a mapping", value=data)
        flow_id = data.get("id")
        if not isinstance(flow_id, str) or not flow_id.strip():
            raise ConfigurationError(
                "needs a non-empty 'id'", entity="flow", field="id", value=flow_id
            )
        known = {
            "id", "version", "name", "description", "trigger", "filter", "steps", "exits",
            "reentry", "holdout", "exit_on_consent_withdrawn", "topic", "goal",
        }  # fmt: skip
        unknown = sorted(set(data) - known)
        if unknown:
            raise config_error(flow_id, None, f"unknown keys {unknown}")
        raw_steps = data.get("steps", [])
        if not isinstance(raw_steps, Sequence) or isinstance(raw_steps, str):
            raise config_error(flow_id, "steps", "must be a list of steps", raw_steps)
        steps = [step_from_dict(flow_id, i, s) for i, s in enumerate(raw_steps)]
        try:
            return cls(
                id=flow_id,
                version=data.get("version", 1),
                name=data.get("name", ""),
                description=data.get("description", ""),
                trigger=data.get("trigger", {}),
                filter=data.get("filter"),
                steps=steps,
                exits=data.get("exits", ()),
                reentry=data.get("reentry", "never"),
                holdout=data.get("holdout"),
                exit_on_consent_withdrawn=data.get("exit_on_consent_withdrawn", True),
                topic=data.get("topic"),
                goal=data.get("goal"),
            )
        except ConfigurationError:
            raise
        except (ValidationError, ValueError, TypeError) as exc:
            raise config_error(flow_id, None, f"invalid definition: {exc}") from exc


def _validate(flow: Flow) -> None:
    fid = flow.id
    if not isinstance(fid, str) or not fid.strip() or ":" in fid:
        raise ConfigurationError(
            "must be a non-empty string without ':'", entity="Flow", field="id", value=fid
        )
    if not isinstance(flow.version, int) or isinstance(flow.version, bool) or flow.version < 1:
        raise config_error(fid, "version", "must be a positive integer", flow.version)
    if flow.topic is not None and not is_consent_topic(flow.topic):
        raise config_error(
            fid, "topic", "must be a consent topic name (a-z, 0-9, _ . -)", flow.topic
        )
    trigger = flow.trigger
    conditions: dict[str, Condition] = {}
    event_schema = flow.event_schema
    context_schema = event_schema if trigger.kind is TriggerKind.EVENT else dict(CUSTOMER_FIELDS)
    # trigger
    if trigger.kind is TriggerKind.EVENT:
        if not trigger.event:
            raise config_error(fid, "trigger", "an event trigger needs an event name")
        if trigger.count < 1:
            raise config_error(fid, "trigger", "count must be at least 1", trigger.count)
        if trigger.count > 1 and trigger.within is None:
            raise config_error(fid, "trigger", "a repeated event trigger needs 'within'")
        if trigger.within is not None and trigger.within <= timedelta(0):
            raise config_error(fid, "trigger", "'within' must be positive", trigger.within)
        if trigger.condition is not None:
            conditions["trigger"] = compile_condition(
                trigger.condition, event_schema, flow_id=fid, where="trigger"
            )
    elif trigger.kind is TriggerKind.DATE:
        if trigger.field not in ("birthday", "signup"):
            raise config_error(
                fid, "trigger", "date field must be 'birthday' or 'signup'", trigger.field
            )
        if trigger.feb29 not in ("feb28", "mar1", "skip"):
            raise config_error(
                fid, "trigger", "feb29 must be 'feb28', 'mar1' or 'skip'", trigger.feb29
            )
        if not 0 <= trigger.days_before <= 60:
            raise config_error(fid, "trigger", "days_before must be 0 to 60", trigger.days_before)
    elif trigger.kind is TriggerKind.INACTIVITY:
        if trigger.inactive_for is None or trigger.inactive_for <= timedelta(0):
            raise config_error(
                fid, "trigger", "inactive_for must be positive", trigger.inactive_for
            )
    else:
        if trigger.condition is None:
            raise config_error(fid, "trigger", f"a {trigger.kind.value} trigger needs a condition")
        conditions["trigger"] = compile_condition(
            trigger.condition, CUSTOMER_FIELDS, flow_id=fid, where="trigger"
        )
    if flow.filter is not None:
        conditions["filter"] = compile_condition(
            flow.filter, CUSTOMER_FIELDS, flow_id=fid, where="filter"
        )
    if flow.goal is not None:
        if not isinstance(flow.goal.event, str) or not flow.goal.event.strip():
            raise config_error(fid, "goal", "needs an event name", flow.goal.event)
        if flow.goal.within <= timedelta(0):
            raise config_error(fid, "goal", "'within' must be positive", flow.goal.within)
        if not isinstance(flow.goal.exit, bool):
            raise config_error(fid, "goal", "exit must be true or false", flow.goal.exit)
    all_exits = flow.exits
    if flow.goal is not None and flow.goal.exit:  # exit on goal: an event, or any order
        goal_exit = Exit.on_order() if flow.goal.counts_orders else Exit(event=flow.goal.event)
        all_exits = (*all_exits, goal_exit)
    object.__setattr__(flow, "_all_exits", all_exits)
    for n, ex in enumerate(flow.exits):
        if not isinstance(ex.ordered, bool):
            raise config_error(fid, f"exit #{n}", "ordered must be true or false", ex.ordered)
        if ex.ordered and (ex.event is not None or ex.condition is not None):
            raise config_error(
                fid, f"exit #{n}", "an 'ordered' exit takes no event or condition", ex.to_dict()
            )
        if ex.event is None and ex.condition is None and not ex.ordered:
            raise config_error(fid, f"exit #{n}", "needs an event, a condition or 'ordered'")
        if ex.condition is not None:
            schema = event_schema if ex.event is not None else context_schema
            conditions[f"exit:{n}"] = compile_condition(
                ex.condition, schema, flow_id=fid, where=f"exit #{n}"
            )
    if flow.holdout is not None and not 0.0 <= flow.holdout.percent < 100.0:
        raise config_error(fid, "holdout", "percent must be in [0, 100)", flow.holdout.percent)
    if flow.reentry.mode is ReentryMode.COOLDOWN and (
        flow.reentry.cooldown_for is None or flow.reentry.cooldown_for <= timedelta(0)
    ):
        raise config_error(fid, "reentry", "a cooldown needs a positive duration")
    # steps
    index: dict[str, int] = {}
    for position, step in enumerate(flow.steps):
        if not isinstance(step, Step):
            raise config_error(fid, f"step #{position}", f"unknown step type {type(step).__name__}")
        where = f"step {step.id!r}"
        if not isinstance(step.id, str) or not step.id or step.id == END or ":" in step.id:
            raise config_error(fid, where, "id must be a non-empty string, not 'end', without ':'")
        if step.id in index:
            raise config_error(fid, where, "duplicate step id")
        index[step.id] = position
        if isinstance(step, WaitStep):
            if step.duration is None and step.days_field is None:
                raise config_error(fid, where, "a wait needs a duration or a days_field")
            if step.duration is not None and step.duration < timedelta(0):
                raise config_error(
                    fid, where, "wait must not be negative", format_duration(step.duration)
                )
            if step.days_field is not None and step.days_field not in context_schema:
                raise config_error(fid, where, "days_field is not a known field", step.days_field)
        elif isinstance(step, BranchStep):
            conditions[f"step:{step.id}"] = compile_condition(
                step.condition, context_schema, flow_id=fid, where=where
            )
        elif isinstance(step, SplitStep):
            if len(step.variants) < 2 or any(v.weight <= 0 for v in step.variants):
                raise config_error(
                    fid, where, "a split needs two or more variants of positive weight"
                )
            if len({v.name for v in step.variants}) != len(step.variants):
                raise config_error(fid, where, "variant names must be unique")
        elif isinstance(step, ActionStep):
            if not step.template:
                raise config_error(fid, where, "an action needs a template")
            if step.channel is None and step.purpose is Purpose.MARKETING:
                raise config_error(fid, where, "a marketing action needs a channel")
    object.__setattr__(flow, "_index", MappingProxyType(index))
    object.__setattr__(flow, "_conditions", MappingProxyType(conditions))
    # edges, reachability and cycles
    successors: dict[str, tuple[str | None, ...]] = {}
    for step in flow.steps:
        where = f"step {step.id!r}"
        resolved: list[str | None] = []
        for target in step.targets():
            if target is not None and target != END and target not in index:
                raise config_error(fid, where, f"goes to unknown step {target!r}")
            resolved.append(flow.successor(step.id, target))
        successors[step.id] = tuple(resolved)
    object.__setattr__(flow, "_successors", MappingProxyType(successors))
    if flow.steps:
        seen: set[str] = set()
        stack = [flow.steps[0].id]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(t for t in successors[current] if t is not None)
        for step in flow.steps:
            if step.id not in seen:
                raise config_error(fid, f"step {step.id!r}", "is unreachable from the first step")
        _check_acyclic(flow, successors)


def _check_acyclic(flow: Flow, successors: Mapping[str, tuple[str | None, ...]]) -> None:
    state: dict[str, int] = {}
    for root in successors:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        state[root] = 1
        while stack:
            node, i = stack.pop()
            targets = [t for t in successors[node] if t is not None]
            if i < len(targets):
                stack.append((node, i + 1))
                nxt = targets[i]
                if state.get(nxt) == 1:
                    raise config_error(
                        flow.id, f"step {nxt!r}", "is part of a loop; flows must be acyclic"
                    )
                if not state.get(nxt):
                    state[nxt] = 1
                    stack.append((nxt, 0))
            else:
                state[node] = 2
