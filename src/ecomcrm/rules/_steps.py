"""Flow steps: wait, wait until, branch, split and action, each immutable and validated when built.

Steps run in list order unless a step names its ``next`` step; ``"end"`` ends the flow.
Branches name both their targets; splits name one target per variant
(:func:`stable_fraction` of the customer picks it). ``Flow`` (``rules._flow``) holds them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import time, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, ClassVar, TypeAlias

import attrs

from ecomcrm.domain import Channel, Purpose
from ecomcrm.errors import ValidationError
from ecomcrm.rules._conditions import config_error
from ecomcrm.rules._schedule import (
    WEEKDAYS,
    format_duration,
    format_time_of_day,
    parse_duration,
    parse_time_of_day,
    parse_weekdays,
)


class OnCap(StrEnum):
    """What an action step does when a frequency cap blocks it."""

    SKIP = "skip"
    DEFER = "defer"


def _frozen_map(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _opt_duration(value: Any) -> timedelta | None:
    return None if value is None else parse_duration(value)


def _opt_time(value: Any) -> time | None:
    return None if value is None else parse_time_of_day(value)


def _opt_channel(value: Channel | str | None) -> Channel | None:
    return None if value is None else Channel(value)


def _variant_tuple(value: Iterable[Variant]) -> tuple[Variant, ...]:
    return tuple(value)


def _opt_weekdays(value: Any) -> frozenset[int] | None:
    return None if value is None else parse_weekdays(value)


@attrs.frozen(kw_only=True)
class Step:
    """Base of the step kinds; ``id`` is unique in its flow, ``next`` None means the following step."""

    kind: ClassVar[str] = ""
    id: str
    next: str | None = None

    def targets(self) -> tuple[str | None, ...]:
        """The step ids this step can continue to (None: the following step)."""
        return (self.next,)

    def _base_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.kind, "id": self.id}
        if self.next is not None:
            out["next"] = self.next
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return self._base_dict()


@attrs.frozen(kw_only=True)
class WaitStep(Step):
    """Wait a fixed duration, or a number of days read from a field (``days_field``).

    With ``days_field`` (an event property or customer field holding days, such as
    ``reorder_interval_days``) the wait is that many days, or ``duration`` when null.

    Example:
        >>> WaitStep(id="w", duration="1h").duration
        datetime.timedelta(seconds=3600)
    """

    kind: ClassVar[str] = "wait"
    duration: timedelta | None = attrs.field(default=None, converter=_opt_duration)
    days_field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = self._base_dict()
        if self.duration is not None:
            out["duration"] = format_duration(self.duration)
        if self.days_field is not None:
            out["days_field"] = self.days_field
        return out


@attrs.frozen(kw_only=True)
class WaitUntilStep(Step):
    """Wait until a local time of day (in the customer's zone), optionally on given weekdays.

    Example:
        >>> WaitUntilStep(id="morning", at="09:00", weekdays=["sat", "sun"]).weekdays
        frozenset({5, 6})
    """

    kind: ClassVar[str] = "wait_until"
    at: time = attrs.field(converter=parse_time_of_day)
    weekdays: frozenset[int] | None = attrs.field(default=None, converter=_opt_weekdays)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = self._base_dict()
        out["at"] = format_time_of_day(self.at)
        if self.weekdays is not None:
            out["weekdays"] = [WEEKDAYS[d] for d in sorted(self.weekdays)]
        return out


@attrs.frozen(kw_only=True)
class BranchStep(Step):
    """Go to ``then`` when ``condition`` holds for the customer (and trigger event), else ``otherwise``.

    Example:
        >>> BranchStep(id="first?", condition="orders_count == 0", then="a", otherwise="b").targets()
        ('a', 'b')
    """

    kind: ClassVar[str] = "branch"
    condition: str
    then: str
    otherwise: str

    def targets(self) -> tuple[str | None, ...]:
        """Both arms."""
        return (self.then, self.otherwise)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "type": self.kind,
            "id": self.id,
            "condition": self.condition,
            "then": self.then,
            "otherwise": self.otherwise,
        }


@attrs.frozen(kw_only=True)
class Variant:
    """One arm of a :class:`SplitStep`: a name, a positive weight and the step it leads to.

    Example:
        >>> Variant(name="A", weight=50, next="send_a").weight
        50.0
    """

    name: str
    weight: float = attrs.field(converter=float)
    next: str


@attrs.frozen(kw_only=True)
class AutoWinner:
    """When an A/B split stops splitting: every variant has ``min_recipients`` and one is best.

    :meth:`~ecomcrm.rules.Engine.decide_winners` picks a variant once each variant has at
    least ``min_recipients`` enrollments and that variant's posterior probability of the
    best conversion rate (:func:`ecomcrm.metrics.prob_best`, uniform ``Beta(1, 1)``
    priors) is at least ``probability``; new enrollments then all take it. Klaviyo's
    defaults: 500 and 0.90.

    Example:
        >>> AutoWinner().min_recipients, AutoWinner().probability
        (500, 0.9)
    """

    min_recipients: int = 500
    probability: float = attrs.field(default=0.90, converter=float)

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.min_recipients, int) or self.min_recipients < 1:
            raise ValidationError("must be a positive integer", entity="AutoWinner",
                                  field="min_recipients", value=self.min_recipients)  # fmt: skip
        if not 0.5 <= self.probability < 1.0:
            raise ValidationError("must be in [0.5, 1)", entity="AutoWinner",
                                  field="probability", value=self.probability)  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {"min_recipients": self.min_recipients, "probability": self.probability}


def _opt_auto(value: AutoWinner | Mapping[str, Any] | None) -> AutoWinner | None:
    if value is None or isinstance(value, AutoWinner):
        return value
    return AutoWinner(**dict(value))


@attrs.frozen(kw_only=True)
class SplitStep(Step):
    """A random split for A/B tests, stable per customer (a hash of flow, step and customer).

    With ``auto_winner`` the engine may end the test (:meth:`Engine.decide_winners`); a
    winner can also be set or reverted by hand (:meth:`Engine.set_winner`,
    :meth:`Engine.revert_winner`). Once decided, new enrollments all take the winner.

    Example:
        >>> s = SplitStep(id="ab", variants=[Variant(name="A", weight=1, next="a"),
        ...                                  Variant(name="B", weight=1, next="b")])
        >>> s.choose("c1") in ("A", "B")
        True
    """

    kind: ClassVar[str] = "split"
    variants: tuple[Variant, ...] = attrs.field(converter=_variant_tuple)
    salt: str = ""
    auto_winner: AutoWinner | None = attrs.field(default=None, converter=_opt_auto)

    def targets(self) -> tuple[str | None, ...]:
        """One target per variant."""
        return tuple(v.next for v in self.variants)

    def choose(self, customer_id: str) -> str:
        """The variant name this customer always gets."""
        total = sum(v.weight for v in self.variants)
        point = stable_fraction(f"{self.salt}:{self.id}:{customer_id}") * total
        acc = 0.0
        for variant in self.variants:
            acc += variant.weight
            if point < acc:
                return variant.name
        return self.variants[-1].name

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out: dict[str, Any] = {
            "type": self.kind,
            "id": self.id,
            "variants": [
                {"name": v.name, "weight": v.weight, "next": v.next} for v in self.variants
            ],
        }
        if self.auto_winner is not None:
            out["auto_winner"] = self.auto_winner.to_dict()
        return out


@attrs.frozen(kw_only=True)
class ActionStep(Step):
    """Produce an action: a message on a channel for a purpose, or an internal task (no channel).

    ``template`` names what the app renders; ``params`` are passed through (plus the
    trigger event's properties under ``"event"``). ``on_cap`` says whether a frequency
    cap skips the message or defers it until the cap allows it.

    Example:
        >>> ActionStep(id="remind", channel="email", template="cart_reminder_1").purpose
        <Purpose.MARKETING: 'marketing'>
    """

    kind: ClassVar[str] = "action"
    template: str
    channel: Channel | None = attrs.field(default=None, converter=_opt_channel)
    purpose: Purpose = attrs.field(default=Purpose.MARKETING, converter=Purpose)
    action: str = "send"
    params: Mapping[str, Any] = attrs.field(factory=dict, converter=_frozen_map)
    on_cap: OnCap = attrs.field(default=OnCap.SKIP, converter=OnCap)

    @property
    def is_marketing(self) -> bool:
        """True for marketing messages (consent, caps and quiet hours apply)."""
        return self.purpose is Purpose.MARKETING and self.channel is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        out = self._base_dict()
        out["template"] = self.template
        if self.channel is not None:
            out["channel"] = self.channel.value
        out["purpose"] = self.purpose.value
        if self.action != "send":
            out["action"] = self.action
        if self.params:
            out["params"] = dict(self.params)
        if self.on_cap is not OnCap.SKIP:
            out["on_cap"] = self.on_cap.value
        return out


StepType: TypeAlias = WaitStep | WaitUntilStep | BranchStep | SplitStep | ActionStep
STEP_TYPES: Mapping[str, type[StepType]] = MappingProxyType(
    {
        "wait": WaitStep,
        "wait_until": WaitUntilStep,
        "branch": BranchStep,
        "split": SplitStep,
        "action": ActionStep,
    }
)


def stable_fraction(text: str) -> float:
    """A number in [0, 1) fixed by ``text`` (blake2b), for splits and holdouts.

    Example:
        >>> stable_fraction("x") == stable_fraction("x")
        True
    """
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def step_from_dict(flow_id: str, position: int, data: Any) -> StepType:
    if not isinstance(data, Mapping):
        raise config_error(flow_id, f"step #{position}", "must be a mapping", data)
    step_id = data.get("id", f"#{position}")
    kind = data.get("type")
    cls = STEP_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise config_error(
            flow_id,
            f"step {step_id!r}",
            f"unknown step type {kind!r}; expected one of {', '.join(sorted(STEP_TYPES))}",
        )
    fields = {k: v for k, v in data.items() if k != "type"}
    if cls is SplitStep and "variants" in fields:
        fields["variants"] = [
            v if isinstance(v, Variant) else Variant(**dict(v)) for v in fields["variants"]
        ]
    try:
        return cls(**fields)
    except (ValidationError, ValueError, TypeError) as exc:
        raise config_error(flow_id, f"step {step_id!r}", f"invalid step: {exc}") from exc
