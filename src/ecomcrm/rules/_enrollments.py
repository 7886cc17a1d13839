"""Enrollments: entering a flow, running its steps, and handing out actions past the policy gate.

An enrollment (``enr:<flow>:<customer>``, see ``rules._keys``) moves step by step: waits
schedule a timer, branches and splits choose the next step, action steps ask the
contact policies (:meth:`~ecomcrm.rules.Policies.gate`, a pure decision) and record what
it said. Every decision is logged in the record for ``Engine.explain`` (and given to the
observer once committed).
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import attrs

from ecomcrm.rules._actions import Action, action_id_for, idempotency_key
from ecomcrm.rules._context import ANONYMOUS_PREFIX, CustomerData, Record
from ecomcrm.rules._flow import Flow, ReentryMode
from ecomcrm.rules._keys import act_key, cap_key, enr_key, run_key, timer_key, win_key
from ecomcrm.rules._policies import Defer, ExitFlow, Skip
from ecomcrm.rules._runtime import Runtime
from ecomcrm.rules._schedule import format_duration, from_micros, next_local_time, to_micros
from ecomcrm.rules._steps import (
    ActionStep,
    BranchStep,
    SplitStep,
    WaitStep,
    WaitUntilStep,
    stable_fraction,
)
from ecomcrm.rules._work import Work
from ecomcrm.storage.toolkit import FrozenDict, FrozenList, freeze_state_value

ACTIVE = "active"
# a wait's length as text, once per length (a flow has a few; every enrollment logs them)
_duration_text = functools.lru_cache(maxsize=1024)(format_duration)
_FROZEN_EMPTY = freeze_state_value({})  # read-only: one shared empty mapping


class _Person:
    """A customer as the policy gate sees them (``rules._policies.Recipient``), read lazily."""

    __slots__ = ("_data", "_rt", "anonymous")

    def __init__(self, rt: Runtime, data: CustomerData, cid: str) -> None:
        self._rt = rt
        self._data = data
        self.anonymous = cid.startswith(ANONYMOUS_PREFIX)

    @property
    def customer(self) -> Any:
        return self._data.customer

    def is_suppressed(self) -> bool:
        return self._rt.is_suppressed(self._data)

    def consent(self, channel: Any) -> bool:
        return self._data.consent(channel)

    def topic_consent(self, channel: Any, topic: str) -> bool:
        return self._data.topic_consent(channel, topic)

    def timezone(self, default: str) -> str:
        return self._data.timezone(default)


class Enrollments:
    """Enters customers into flows and runs their steps (internal; see the module docstring)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    # --- the decision log ------------------------------------------------------------------

    def log(
        self,
        work: Work,
        enr: dict[str, Any],
        now: datetime,
        kind: str,
        step: str | None,
        reason: str,
        text: str,
        data: Mapping[str, Any] | None = None,
    ) -> None:
        """Append a decision to the enrollment's log (and to the unit's observed decisions)."""
        # built frozen (scalars and a frozen mapping): stored as is, shared by later versions
        entry = FrozenList(
            (
                to_micros(now),
                kind,
                step,
                reason,
                text,
                _FROZEN_EMPTY if not data else freeze_state_value(data),
            )
        )
        log = enr.get("log") or ()
        limit = self.rt.log_limit
        kept = log if len(log) < limit else log[len(log) - limit + 1 :]
        # a frozen log holds frozen entries only, so the new one is frozen as built; a log
        # read from a database (plain lists) is left for the store to copy and check
        frozen = not log or type(log) is FrozenList
        enr["log"] = FrozenList((*kept, entry)) if frozen else [*kept, entry]
        if kind == "skipped":  # counted per step and reason for performance reports
            skips = dict(enr.get("skips") or {})
            slot = f"{step}:{reason}"
            skips[slot] = skips.get(slot, 0) + 1
            enr["skips"] = skips
        if work.decisions is not None:
            work.decisions.append((enr["flow"], enr["cust"], enr.get("id"), entry))

    def _reject(
        self, work: Work, key: str, enr: dict[str, Any], now: datetime, reason: str, text: str
    ) -> None:
        """Record a rejected trigger, once per run of identical rejections (saves writes)."""
        if rejected_last(enr, reason):
            return
        self.log(work, enr, now, "rejected", None, reason, text)
        work.put_owned(key, enr, enr["cust"])

    # --- entering and leaving --------------------------------------------------------------

    def enter(
        self,
        work: Work,
        flow: Flow,
        cid: str,
        trigger_id: str,
        ctx: dict[str, Any],
        now: datetime,
        why: str,
    ) -> None:
        """A trigger of ``flow`` fired for ``cid``: enroll them, unless a rule says no."""
        rt = self.rt
        if rt.quiet:
            return
        key = enr_key(flow.id, cid)
        current = work.get(key)
        if current is None:
            enr: dict[str, Any] = {
                "flow": flow.id, "cust": cid, "status": "none", "count": 0, "log": [],
                "recent": [],
            }  # fmt: skip
        else:
            # judged on the record as read; copied only when something is written
            if trigger_id in current.get("recent", ()):
                return  # the same trigger delivered again
            if current.get("status") == ACTIVE:
                running = rt.flow_version(flow.id, current.get("v", flow.version)) or flow
                ordered = rt.ordered_since(work, running, current, now)
                if ordered is None:
                    if not rejected_last(current, "already_enrolled"):
                        self._reject(work, key, dict(current), now, "already_enrolled",
                                     f"{why}: already in the flow")  # fmt: skip
                    return
                # an order no event announced ended the running enrollment: it ends now
                enr = dict(current)
                self.finish(work, key, enr, now, "exited", "exit", ordered_text(ordered))
            else:
                enr = dict(current)
        if enr.get("count", 0) > 0:
            mode = flow.reentry.mode
            if mode is ReentryMode.NEVER:
                self._reject(work, key, enr, now, "reentry", f"{why}: re-entry is never allowed")
                return
            if mode is ReentryMode.COOLDOWN:
                assert flow.reentry.cooldown_for is not None
                until = enr["started"] + int(flow.reentry.cooldown_for / timedelta(microseconds=1))
                if to_micros(now) < until:
                    self._reject(
                        work, key, enr, now, "reentry",
                        f"{why}: in re-entry cool-down until {from_micros(until).isoformat()}",
                    )  # fmt: skip
                    return
        if flow.has_condition("filter"):
            record = Record(rt.data(work, cid, now), ctx, now)
            if not rt.matches(flow, "filter", record, now):
                self._reject(
                    work,
                    key,
                    enr,
                    now,
                    "filter",
                    f"{why}: flow filter {flow.filter!r} does not match",
                )
                return
        if enr.get("id") is not None:
            # the enrollment this one replaces stays readable for performance reports
            work.put_owned(run_key(flow.id, enr["id"], cid), run_summary(enr), cid)
        recent = enr.get("recent") or ()
        kept = [*recent[-4:], trigger_id]
        enr["recent"] = FrozenList(kept) if not recent or type(recent) is FrozenList else kept
        enr_id = _short_hash(f"{flow.id}:{flow.version}:{cid}:{trigger_id}")
        enr.update(
            id=enr_id, v=flow.version, status=ACTIVE, step=flow.first_step, due=None,
            timer=None, started=to_micros(now), ended=None, ctx=freeze_state_value(ctx), trig=trigger_id,
            visits=_FROZEN_EMPTY, variants=_FROZEN_EMPTY, holdout=False, count=enr.get("count", 0) + 1,
            skips=_FROZEN_EMPTY,
        )  # fmt: skip
        holdout = flow.holdout
        if (
            holdout is not None
            and holdout.percent > 0
            and stable_fraction(f"holdout:{flow.id}:{cid}") * 100.0 < holdout.percent
        ):
            enr.update(status="holdout", holdout=True, ended=to_micros(now), step=None)
            self.log(
                work, enr, now, "holdout", None, "holdout",
                f"{why}: in the {holdout.percent:g}% holdout group; no actions",
            )  # fmt: skip
            work.put_owned(key, enr, enr["cust"])
            return
        self.log(work, enr, now, "enrolled", None, "trigger", f"{why}: enrolled on v{flow.version}")
        self.proceed(work, key, enr, flow, now)

    def exit_on_event(
        self,
        work: Work,
        flow_id: str,
        cid: str,
        event_name: str,
        props: dict[str, Any],
        now: datetime,
    ) -> None:
        """End the customer's running enrollment in ``flow_id`` when one of its exits fits."""
        rt = self.rt
        key = enr_key(flow_id, cid)
        current = work.get(key)
        if current is None or current.get("status") != ACTIVE:
            return
        flow = rt.flow_version(flow_id, current["v"])
        if flow is None:
            return
        for n, ex in enumerate(flow.all_exits):
            if not ex.ends_on(event_name):
                continue
            if ex.condition is not None:
                record = Record(rt.data(work, cid, now), props, now)
                if not rt.matches(flow, f"exit:{n}", record, now):
                    continue
            enr = dict(current)
            text = f"exit on event {event_name!r}" + (
                f" where {ex.condition!r}" if ex.condition else ""
            )
            if n >= len(flow.exits):
                text = f"goal {event_name!r} reached: exit on goal"
            self.finish(work, key, enr, now, "exited", "exit", text)
            return

    def finish(
        self,
        work: Work,
        key: str,
        enr: dict[str, Any],
        now: datetime,
        status: str,
        reason: str,
        text: str,
    ) -> None:
        """End an enrollment (``done`` or ``exited``), deleting its pending timer."""
        if enr.get("timer"):
            work.delete(enr["timer"])
        enr.update(status=status, timer=None, due=None, ended=to_micros(now))
        kind = "completed" if status == "done" else "exited"
        self.log(work, enr, now, kind, enr.get("step"), reason, text)
        enr["step"] = None
        work.put_owned(key, enr, enr["cust"])

    def _schedule(self, work: Work, key: str, enr: dict[str, Any], due: int) -> None:
        timer = timer_key(due, key)
        if enr.get("timer") and enr["timer"] != timer:
            work.delete(enr["timer"])
        enr["timer"] = timer
        enr["due"] = due
        work.put_owned(timer, FrozenDict(k=key), enr["cust"])  # built frozen: no copy walk
        work.put_owned(key, enr, enr["cust"])

    def wake(self, work: Work, key: str, target: Mapping[str, Any], now: datetime) -> None:
        """The timer of enrollment ``key`` (value ``target``) fired: run its next steps."""
        rt = self.rt
        enr = dict(target)
        enr["timer"] = None
        if enr.get("status") != ACTIVE:
            work.put_owned(key, enr, enr["cust"])
            return
        flow = rt.flow_version(enr["flow"], enr["v"])
        if flow is None or enr["flow"] not in rt.flows:
            self.finish(
                work, key, enr, now, "exited", "flow_removed", "flow is no longer configured"
            )
            return
        self.proceed(work, key, enr, flow, now)

    # --- running steps ---------------------------------------------------------------------

    def proceed(self, work: Work, key: str, enr: dict[str, Any], flow: Flow, now: datetime) -> None:
        """Run the enrollment's steps due by ``now``, until a wait, the end, or an exit."""
        rt = self.rt
        now_us = to_micros(now)
        cid = enr["cust"]
        ctx = enr.get("ctx") or {}
        for _ in range(len(flow.steps) * 3 + 3):
            step_id = enr.get("step")
            if step_id is None:
                self.finish(work, key, enr, now, "done", "end", "reached the end of the flow")
                return
            due = enr.get("due")
            if due is not None and due > now_us:
                self._schedule(work, key, enr, due)
                return
            base = due if due is not None else now_us
            enr["due"] = None
            at = from_micros(base)
            if not flow.has_step(step_id):
                self.finish(work, key, enr, now, "exited", "invalid", f"step {step_id!r} missing")
                return
            step = flow.step(step_id)
            record = Record(rt.data(work, cid, at), ctx, at)
            # condition exits are honoured whenever the enrollment moves, and so is an order
            # placed since entering that no event announced (an import, a direct upsert)
            ordered = rt.ordered_since(work, flow, enr, at)
            if ordered is not None:
                self.finish(work, key, enr, now, "exited", "exit", ordered_text(ordered))
                return
            for key_n, ex in rt.condition_exits(flow):
                if rt.matches(flow, key_n, record, at):
                    self.finish(work, key, enr, now, "exited", "exit",
                                f"exit condition {ex.condition!r} holds")  # fmt: skip
                    return
            if isinstance(step, WaitStep):
                length = step.duration
                if step.days_field is not None:
                    days = record[step.days_field]
                    if isinstance(days, int | float) and not isinstance(days, bool) and days >= 0:
                        length = timedelta(days=float(days))
                if length is None:
                    length = timedelta(0)
                target = base + int(length / timedelta(microseconds=1))
                enr["step"] = flow.successor(step.id, step.next)
                enr["due"] = target
                self.log(work, enr, now, "waiting", step.id, "wait",
                         f"wait {_duration_text(length)} until {from_micros(target).isoformat()}")  # fmt: skip
            elif isinstance(step, WaitUntilStep):
                tz = rt.data(work, cid, at).timezone(rt.policies.default_timezone)
                when = next_local_time(at, step.at, tz, weekdays=step.weekdays)
                enr["step"] = flow.successor(step.id, step.next)
                enr["due"] = to_micros(when)
                self.log(work, enr, now, "waiting", step.id, "wait_until",
                         f"wait until {step.at.isoformat('minutes')} {tz}: {when.isoformat()}")  # fmt: skip
            elif isinstance(step, BranchStep):
                ok = rt.matches(flow, f"step:{step.id}", record, at)
                enr["step"] = flow.successor(step.id, step.then if ok else step.otherwise)
                enr["due"] = base if base < now_us else None
                self.log(work, enr, now, "branch", step.id, "branch",
                         f"{step.condition!r} is {'true' if ok else 'false'}",
                         {"result": ok})  # fmt: skip
            elif isinstance(step, SplitStep):
                won = work.get(win_key(flow.id, step.id))
                names = [v.name for v in step.variants]
                if (
                    won is not None
                    and won.get("status") == "decided"
                    and won.get("variant") in names
                ):
                    name = won["variant"]
                    how = "automatically" if won.get("by") == "auto" else "by hand"
                    text = (f"variant {name!r}: the split's winner, decided {how} at "
                            f"{from_micros(won['at']).isoformat()}")  # fmt: skip
                    if won.get("p") is not None:
                        text += f" (P(best) {won['p']:.3f})"
                else:
                    name = attrs.evolve(step, salt=flow.id).choose(cid)
                    text = f"variant {name!r}"
                variant = next(v for v in step.variants if v.name == name)
                enr["variants"] = {**enr.get("variants", {}), step.id: name}
                enr["step"] = flow.successor(step.id, variant.next)
                enr["due"] = base if base < now_us else None
                self.log(work, enr, now, "split", step.id, "split", text,
                         {"variant": name})  # fmt: skip
            else:
                assert isinstance(step, ActionStep)
                if not self._act(work, key, enr, flow, step, record, base, now):
                    return
        raise AssertionError("a flow is acyclic; the step loop is bounded")  # pragma: no cover

    def _act(
        self,
        work: Work,
        key: str,
        enr: dict[str, Any],
        flow: Flow,
        step: ActionStep,
        record: Record,
        base: int,
        now: datetime,
    ) -> bool:
        """Run an action step; False when the enrollment stopped (exited or deferred)."""
        rt = self.rt
        at = from_micros(base)
        cid = enr["cust"]
        if flow.has_condition("filter") and not rt.matches(flow, "filter", record, at):
            self.finish(work, key, enr, now, "exited", "filter",
                        f"flow filter {flow.filter!r} no longer matches")  # fmt: skip
            return False
        data = rt.data(work, cid, now)
        customer = data.customer
        ckey = cap_key(customer.id) if customer is not None else None
        sends: list[tuple[str, int]] = []
        if ckey is not None and step.is_marketing:
            cap_record = work.get(ckey)
            sends = [(str(s[0]), int(s[1])) for s in (cap_record or {}).get("sends", [])]
        verdict = rt.policies.gate(
            step, _Person(rt, data, cid), sends, now,
            exit_on_consent_withdrawn=flow.exit_on_consent_withdrawn, topic=flow.topic,
        )  # fmt: skip
        if isinstance(verdict, ExitFlow):
            self.finish(work, key, enr, now, "exited", verdict.reason, verdict.text)
            return False
        if isinstance(verdict, Skip):
            self.log(work, enr, now, "skipped", step.id, verdict.reason, verdict.text)
            enr["step"] = flow.successor(step.id, step.next)
            enr["due"] = base if base < to_micros(now) else None
            return True
        if isinstance(verdict, Defer):
            until = to_micros(verdict.until)
            self.log(work, enr, now, "deferred", step.id, verdict.reason, verdict.text,
                     {"until": verdict.until.isoformat()})  # fmt: skip
            enr["due"] = until
            self._schedule(work, key, enr, until)
            return False
        assert customer is not None and ckey is not None  # the gate let it through
        channel = step.channel
        visits = dict(enr.get("visits", {}))
        occurrence = visits.get(step.id, 0)
        idem = idempotency_key(flow.id, flow.version, enr["id"], step.id, occurrence)
        action_id = action_id_for(idem)
        akey = act_key(action_id)
        visits[step.id] = occurrence + 1
        enr["visits"] = visits
        enr["step"] = flow.successor(step.id, step.next)
        enr["due"] = base if base < to_micros(now) else None
        if work.get(akey) is not None:
            self.log(work, enr, now, "skipped", step.id, "duplicate",
                     f"action {action_id} was already handed out")  # fmt: skip
            return True
        params = dict(step.params)
        if enr.get("ctx"):
            params["event"] = enr["ctx"]
        variants = enr.get("variants") or {}
        action = Action(
            id=action_id,
            idempotency_key=idem,
            customer_id=customer.id,
            channel=channel,
            purpose=step.purpose,
            kind=step.action,
            template=step.template,
            params=params,
            flow_id=flow.id,
            flow_version=flow.version,
            step_id=step.id,
            enrollment_id=enr["id"],
            due_at=at,
            variant=",".join(f"{k}={v}" for k, v in sorted(variants.items())) or None,
        )
        stored = action.to_dict()
        stored.update(status="pending", outcome=None, emitted_at=to_micros(now))
        work.put_owned(akey, stored, customer.id)
        if step.is_marketing:
            assert channel is not None
            horizon = to_micros(now) - int(rt.policies.longest_cap / timedelta(microseconds=1))
            kept = [list(s) for s in sends if s[1] > horizon]
            kept.append([channel.value, to_micros(now)])
            work.put_owned(ckey, {"sends": kept}, customer.id)
        work.actions.append(action)
        what = f"{channel.value} " if channel else ""
        self.log(work, enr, now, "action", step.id, "sent",
                 f"{what}{step.purpose.value} {step.action} {step.template!r} as {action_id}",
                 {"action_id": action_id})  # fmt: skip
        return True


_RUN_FIELDS = ("flow", "cust", "id", "v", "status", "started", "ended", "holdout", "variants",
               "skips")  # fmt: skip


def run_summary(enr: Mapping[str, Any]) -> dict[str, Any]:
    """What a performance report reads of an enrollment (a ``run:`` record's value)."""
    return {name: enr.get(name) for name in _RUN_FIELDS}


def _short_hash(text: str) -> str:
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def rejected_last(enr: Mapping[str, Any], reason: str) -> bool:
    """True when an enrollment's latest decision is a rejection for ``reason``."""
    log: Sequence[Any] | None = enr.get("log")
    if not log:
        return False
    last = log[-1]
    return bool(last[1] == "rejected" and last[3] == reason)


def ordered_text(placed_at: datetime) -> str:
    """Why an enrollment ended on an order no event announced."""
    return f"ordered at {placed_at.isoformat()}, after entering (order in the store)"
