"""Triggers: what enrolls a customer, per event and per customer, and over all customers with arrays.

Event triggers (with an optional condition, or a count of matching events within a
window) are judged as each event is handled. Date triggers (birthdays, sign-up
anniversaries) and inactivity triggers keep one ``trg:<flow>:<customer>`` record with a
timer each; segment and threshold triggers keep the last membership in
``seg:<flow>:<customer>`` and enroll on a change. ``refresh`` re-judges the
customer-based ones.

Over all customers, ``refresh`` chooses candidates with array operations: the
per-customer path reads each customer's profile, orders and loyalty entries one at a
time, which is the slow part while almost nothing changes between two refreshes. Here
the same decisions are taken from the store's columnar reads (``customer_table``,
``order_facts`` and the loyalty ledger) with numpy:

- date triggers: each customer's next local occurrence (computed once per distinct
  month, day and time zone with the same :func:`next_anniversary`, and reused until it
  passes); only customers whose stored trigger differs get a write;
- inactivity triggers: customers without a trigger record get their clock from their
  last order (or sign-up) as in the per-customer path;
- segment and threshold triggers: the condition is evaluated as a mask over a feature
  table of the fields it reads and compared with the stored membership records; only
  customers whose membership changes (and anyone whose case the arrays cannot decide)
  go through the per-customer path, which keeps every guarantee (re-entry policy,
  compare-and-set, recorded decisions).

The writes are the ones the per-customer path makes (``Triggers.set_timer``), so the
state, the actions and the enrollments are the same.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.domain import Event
from ecomcrm.errors import ValidationError
from ecomcrm.rules._actions import Action
from ecomcrm.rules._conditions import CUSTOMER_FIELDS
from ecomcrm.rules._context import Record
from ecomcrm.rules._enrollments import Enrollments
from ecomcrm.rules._flow import Flow, TriggerKind
from ecomcrm.rules._goal import ORDER_EVENT
from ecomcrm.rules._keys import cnt_key, enr_key, seg_key, timer_key, trg_key
from ecomcrm.rules._runtime import Runtime
from ecomcrm.rules._schedule import (
    format_duration,
    from_micros,
    next_anniversary,
    to_micros,
    zone,
)
from ecomcrm.rules._work import Work
from ecomcrm.segments import CUSTOMER_FIELD_REGISTRY, order_fields, profile_fields
from ecomcrm.segments._fields import MONEY_FIELDS
from ecomcrm.storage import OrderFacts, SupportsBulkFacts
from ecomcrm.storage.toolkit import FrozenDict, FrozenList

if TYPE_CHECKING:
    from ecomcrm.storage import Store

#: What one event name touches: (exit flow ids, trigger flows, inactivity flows whose
#: clock it restarts with their lengths in µs, flows it rechecks).
Plan = tuple[tuple[str, ...], tuple[Flow, ...], tuple[tuple[Flow, int], ...], tuple[Flow, ...]]

_US_PER_DAY = 86_400_000_000
_NONE = np.iinfo(np.int64).min
# customer fields the arrays reproduce exactly (others send the flow down the per-customer
# path): the registry's order and profile fields, computed by the same definitions. In a
# backtest (as of a past instant) the fields that need refund times or past consents are
# left to the per-customer path (the columnar reads carry only current ones).
_ORDER_FIELDS = frozenset(n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.source == "orders")
_PROFILE_FIELDS = frozenset(n for n, f in CUSTOMER_FIELD_REGISTRY.items() if f.source == "profile")
_AS_OF_UNKNOWN = frozenset(
    {"total_spent", "aov", "refunded_amount", "return_rate"}
    | {n for n in _PROFILE_FIELDS if n.startswith("consent_")}
)
_VECTOR_FIELDS = _ORDER_FIELDS | _PROFILE_FIELDS | {"loyalty_points", "known"}
_CHUNK = 500


def _order_times(
    store: Store, currency: str | None, rates: Mapping[str, float] | None
) -> tuple[OrderFacts, bool]:
    """The order facts in the engine's currency, and whether their amounts can be used.

    A store of several currencies refuses ``order_facts()`` without rates; the times do
    not depend on them, so without the engine's ``currency`` that store is read with
    every currency at rate 1 and its amounts (meaningless then) are never looked at: the
    money fields go down the per-customer path (which refuses to add them).
    """
    if currency is not None:
        return store.order_facts(currency=currency, rates=rates), True
    try:
        return store.order_facts(), True
    except ValidationError as exc:
        if exc.field != "currency" or not isinstance(exc.value, list) or not exc.value:
            raise
        codes = [str(code) for code in exc.value]
        return store.order_facts(currency=codes[0], rates=dict.fromkeys(codes, 1.0)), False


class _Columns:
    """What the refresh reads of every customer, as arrays in customer-table order."""

    __slots__ = (
        "birthday", "created_us", "facts", "ids", "money_exact", "orders", "points", "row_of",
        "table", "tz", "tz_codes", "tz_names",
    )  # fmt: skip

    def __init__(
        self,
        store: Store,
        default_tz: str,
        currency: str | None = None,
        rates: Mapping[str, float] | None = None,
    ) -> None:
        table = store.customer_table()
        self.table = table
        self.ids: NDArray[np.object_] = table.ids
        self.created_us: NDArray[np.int64] = table.created_at.astype("datetime64[us]").astype(
            np.int64
        )
        self.tz: NDArray[np.object_] = np.array(
            [t or default_tz for t in table.timezone.tolist()], dtype=object
        )
        names, codes = np.unique(self.tz.astype(str), return_inverse=True)
        self.tz_names: list[str] = [str(t) for t in names.tolist()]
        self.tz_codes: NDArray[np.int64] = codes.astype(np.int64).reshape(-1)
        self.row_of: dict[str, int] = {c: r for r, c in enumerate(self.ids.tolist())}
        self.birthday: NDArray[np.datetime64] = table.birthday.astype("datetime64[D]")
        facts, self.money_exact = _order_times(store, currency, rates)
        # every order re-indexed to rows of the customer table (others dropped)
        all_rows = _rows_of(self.ids, facts.customer_ids[facts.customer_index])
        known = all_rows >= 0
        self.facts: OrderFacts = attrs.evolve(
            facts,
            customer_ids=self.ids,
            customer_index=all_rows[known],
            **{
                f.name: getattr(facts, f.name)[known]
                for f in attrs.fields(OrderFacts)
                if f.name not in ("currency", "customer_ids", "customer_index")
            },
        )
        keep = ~self.facts.cancelled
        rows = self.facts.customer_index[keep]
        placed = self.facts.placed_at[keep].astype("datetime64[us]").astype(np.int64)
        # (row, placed µs) of every counted order; as-of filtering happens per refresh
        self.orders: tuple[NDArray[np.int64], NDArray[np.int64]] = (rows, placed)
        self.points = _loyalty_columns(store, self.ids)

    def order_stats(
        self, now_us: int | None
    ) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
        """Per customer: order count, first and last order µs (``_NONE`` without orders)."""
        rows, placed = self.orders
        if now_us is not None:
            keep = placed <= now_us
            rows, placed = rows[keep], placed[keep]
        n = len(self.ids)
        count = np.bincount(rows, minlength=n).astype(np.int64)
        first = np.full(n, np.iinfo(np.int64).max, dtype=np.int64)
        last = np.full(n, _NONE, dtype=np.int64)
        np.minimum.at(first, rows, placed)
        np.maximum.at(last, rows, placed)
        first[count == 0] = _NONE
        return count, first, last

    def order_columns(self, now: datetime, as_of_us: int | None) -> dict[str, NDArray[Any]]:
        """The registry's order fields of every row at ``now`` (orders up to ``as_of_us``)."""
        facts = self.facts
        if as_of_us is not None:
            keep = facts.placed_at.astype("datetime64[us]").astype(np.int64) <= as_of_us
            facts = attrs.evolve(
                facts,
                **{
                    f.name: getattr(facts, f.name)[keep]
                    for f in attrs.fields(OrderFacts)
                    if f.name not in ("currency", "customer_ids")
                },
            )
        return order_fields(facts, len(self.ids), np.datetime64(to_micros(now), "us"))

    def loyalty(self, now_us: int | None) -> NDArray[np.int64] | None:
        """Per customer: the loyalty balance (entries at or before ``now_us``)."""
        if self.points is None:
            return None
        rows, points, at = self.points
        if now_us is not None:
            keep = at <= now_us
            rows, points = rows[keep], points[keep]
        return np.bincount(rows, weights=points, minlength=len(self.ids)).astype(np.int64)


def _rows_of(ids: NDArray[np.object_], wanted: NDArray[Any]) -> NDArray[np.int64]:
    """Row of each ``wanted`` id in ``ids`` (-1 when absent)."""
    if len(ids) == 0:
        return np.full(len(wanted), -1, dtype=np.int64)
    keys = ids.astype(str)
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    probe = np.asarray(wanted).astype(str)
    pos = np.clip(np.searchsorted(sorted_keys, probe), 0, len(keys) - 1)
    found = sorted_keys[pos] == probe
    return np.where(found, order[pos], -1).astype(np.int64)


def _loyalty_columns(
    store: Store, ids: NDArray[np.object_]
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]] | None:
    """(row, points, at µs) of every ledger entry of the customers ``ids``.

    Read as columns from a store that claims ``SupportsBulkFacts`` (owners are surviving
    ids already); for another store None (the segment flows reading loyalty points then
    take the per-customer path).
    """
    if not isinstance(store, SupportsBulkFacts):
        return None
    facts = store.loyalty_facts()
    rows = _rows_of(ids, facts.customer_id)
    ok = rows >= 0
    points = facts.points.astype(np.float64)
    at = facts.at.astype("datetime64[us]").astype(np.int64)
    return rows[ok], points[ok], at[ok]


def _stored_rows(
    rt: Runtime, prefix: str, cols: _Columns
) -> tuple[NDArray[np.int64], list[Mapping[str, Any]]]:
    """Rows (in ``cols``) and values of the state records under ``prefix`` of its customers.

    Records of ids that are not rows of ``cols`` are left out, as a walk over the
    customers' ids would never look them up.
    """
    row_of = cols.row_of
    cut = len(prefix)
    rows: list[int] = []
    values: list[Mapping[str, Any]] = []
    for record in rt.state.scan(prefix):
        row = row_of.get(record.key[cut:])
        if row is not None:
            rows.append(row)
            values.append(record.value)
    return np.asarray(rows, dtype=np.int64), values


def _date_dues(
    rt: Runtime, flow: Flow, cols: _Columns, now: datetime, now_us: int
) -> NDArray[np.int64]:
    """Each customer's next occurrence (µs) of the flow's date, ``_NONE`` without a date."""
    trigger = flow.trigger
    n = len(cols.ids)
    if trigger.field == "birthday":
        days = cols.birthday
        valid = ~np.isnat(days)
        month = np.zeros(n, dtype=np.int64)
        day = np.zeros(n, dtype=np.int64)
        years = days[valid].astype("datetime64[Y]")
        months = days[valid].astype("datetime64[M]")
        month[valid] = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
        day[valid] = (days[valid] - months.astype("datetime64[D]")).astype(np.int64) + 1
    else:
        valid = np.ones(n, dtype=bool)
        month, day = _local_month_day(rt, cols)
    tz_names, tz_codes = cols.tz_names, cols.tz_codes
    key = (tz_codes * 13 + month) * 32 + day
    uniq, inverse = np.unique(key[valid], return_inverse=True)
    cache: dict[tuple[Any, ...], int] = rt.refresh_cache.setdefault("dates", {})
    dues = np.empty(len(uniq), dtype=np.int64)
    for i, k in enumerate(uniq.tolist()):
        tz_name = tz_names[k // (13 * 32)]
        m, d = (k // 32) % 13, k % 32
        ck = (flow.trigger.field, trigger.at, trigger.days_before, trigger.feb29, tz_name, m, d)
        due = cache.get(ck)
        if due is None or due <= now_us:  # an occurrence stays next until it passes
            due = to_micros(
                next_anniversary(
                    m, d, now, trigger.at, tz_name,
                    days_before=trigger.days_before, feb29=trigger.feb29,
                )
            )  # fmt: skip
            cache[ck] = due
        dues[i] = due
    out = np.full(n, _NONE, dtype=np.int64)
    out[valid] = dues[inverse]
    return out


def _local_month_day(rt: Runtime, cols: _Columns) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Month and day of each customer's sign-up in their time zone (UTC offsets per zone)."""
    cache = rt.refresh_cache.setdefault("signup", {})
    if cache.get("for") is cols:
        found: tuple[NDArray[np.int64], NDArray[np.int64]] = cache["value"]
        return found
    n = len(cols.ids)
    local_days = np.empty(n, dtype=np.int64)
    for tz_name in np.unique(cols.tz.astype(str)).tolist():
        rows = np.flatnonzero(cols.tz.astype(str) == tz_name)
        created = cols.created_us[rows]
        info = zone(tz_name)
        # the zone's UTC offset at each instant: offsets change only at transitions, so
        # one offset per distinct hour is exact (transitions fall on whole minutes, and
        # are found below by comparing both ends of the hour)
        hours, hour_inverse = np.unique(created // 3_600_000_000, return_inverse=True)
        offsets = np.empty(len(hours), dtype=np.int64)
        exact = np.zeros(len(hours), dtype=bool)
        for j, h in enumerate(hours.tolist()):
            a = from_micros(h * 3_600_000_000).astimezone(info).utcoffset()
            b = from_micros(h * 3_600_000_000 + 3_599_999_999).astimezone(info).utcoffset()
            assert a is not None and b is not None
            offsets[j] = a // _td_us()
            exact[j] = a == b
        off = offsets[hour_inverse]
        local = (created + off) // _US_PER_DAY
        odd = np.flatnonzero(~exact[hour_inverse])
        for r in odd.tolist():  # an instant inside an hour with a transition
            when = from_micros(int(created[r])).astimezone(info)
            local[r] = when.date().toordinal() - 719_163
        local_days[rows] = local
    dates = local_days.astype("datetime64[D]")
    months = dates.astype("datetime64[M]")
    month = (months - dates.astype("datetime64[Y]").astype("datetime64[M]")).astype(np.int64) + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    cache["for"], cache["value"] = cols, (month, day)
    return month, day


def _td_us() -> Any:
    from datetime import timedelta

    return timedelta(microseconds=1)


def _segment_candidates(
    rt: Runtime, flow: Flow, cols: _Columns, now: datetime, now_us: int | None
) -> NDArray[np.bool_]:
    """Customers whose stored membership the flow's condition may change now."""
    from ecomcrm.segments import FeatureTable

    n = len(cols.ids)
    everyone = np.ones(n, dtype=bool)
    expression = flow.condition("trigger")._expression
    fields = set(expression.fields)
    if not fields <= _VECTOR_FIELDS:
        return everyone
    if now_us is not None and fields & _AS_OF_UNKNOWN:
        return everyone
    if not cols.money_exact and fields & MONEY_FIELDS:
        return everyone  # several currencies and no rates: each customer decides (or raises)
    columns: dict[str, Any] = {}
    if fields & _ORDER_FIELDS:
        columns.update(cols.order_columns(now, now_us))
    if fields & _PROFILE_FIELDS:
        columns.update(profile_fields(cols.table))
    if "loyalty_points" in fields:
        points = cols.loyalty(now_us)
        if points is None:
            return everyone
        columns["loyalty_points"] = points
    if "known" in fields:
        columns["known"] = np.ones(n, dtype=bool)
    columns = {k: v for k, v in columns.items() if k in fields}
    table = FeatureTable(cols.ids, columns, {k: CUSTOMER_FIELDS[k] for k in columns})
    try:
        member = np.asarray(expression.mask(table, now), dtype=bool)
    except Exception:  # undecidable by arrays: every customer is checked
        return everyone
    rows, values = _stored_rows(rt, seg_key(flow.id, ""), cols)
    before = np.zeros(n, dtype=bool)
    before[rows] = np.asarray([bool(v.get("in")) for v in values], dtype=bool)
    return np.asarray(member != before, dtype=bool)


class Triggers:
    """Judges every kind of trigger and enrolls through :class:`Enrollments` (internal).

    Built once per engine: the flows indexed by what triggers them, and ``plans``, per
    event name, everything an event of that name touches.
    """

    def __init__(self, rt: Runtime, enrollments: Enrollments) -> None:
        self.rt = rt
        self.enrollments = enrollments
        on_event: dict[str, list[Flow]] = {}
        exit_flows: dict[str, list[str]] = {}
        activity: dict[str, list[Flow]] = {}
        recheck: dict[str, list[Flow]] = {}
        self.date_flows: list[Flow] = []
        self.inactivity_flows: list[Flow] = []
        self.segment_flows: list[Flow] = []
        for flow in rt.flows.values():
            kind = flow.trigger.kind
            if kind is TriggerKind.EVENT:
                assert flow.trigger.event is not None
                on_event.setdefault(flow.trigger.event, []).append(flow)
            elif kind is TriggerKind.DATE:
                self.date_flows.append(flow)
            elif kind is TriggerKind.INACTIVITY:
                self.inactivity_flows.append(flow)
                activity.setdefault(flow.trigger.activity_event, []).append(flow)
            else:
                self.segment_flows.append(flow)
                for name in flow.trigger.recheck_on:
                    recheck.setdefault(name, []).append(flow)
        for (flow_id, _), flow in rt.versions.items():
            for ex in flow.all_exits:
                exit_event = ORDER_EVENT if ex.ordered else ex.event
                if exit_event is not None:
                    ids = exit_flows.setdefault(exit_event, [])
                    if flow_id not in ids:
                        ids.append(flow_id)
        names = set(on_event) | set(exit_flows) | set(activity) | set(recheck)
        self.plans: dict[str, Plan] = {
            name: (
                tuple(exit_flows.get(name, ())),
                tuple(on_event.get(name, ())),
                tuple((f, micros_of(f.trigger.inactive_for)) for f in activity.get(name, ())),
                tuple(recheck.get(name, ())),
            )
            for name in names
        }  # fmt: skip

    @property
    def customer_based(self) -> bool:
        """Whether any flow has a date, inactivity, segment or threshold trigger."""
        return bool(self.date_flows or self.inactivity_flows or self.segment_flows)

    # --- per event ---------------------------------------------------------------------------

    def prefetch_keys(self, cid: str, plan: Plan) -> Iterable[str]:
        """The records an event of ``plan`` for ``cid`` will read (for a batch's read-ahead)."""
        exits, triggers, activity, recheck = plan
        for flow_id in exits:
            yield enr_key(flow_id, cid)
        for flow in triggers:
            yield enr_key(flow.id, cid)
            if flow.trigger.count > 1:
                yield cnt_key(flow.id, cid)
        for flow, _ in activity:
            yield trg_key(flow.id, cid)
        for flow in recheck:
            yield seg_key(flow.id, cid)
            yield enr_key(flow.id, cid)

    def event_trigger(
        self, work: Work, flow: Flow, cid: str, event: Event, props: dict[str, Any], now: datetime
    ) -> None:
        trigger = flow.trigger
        rt = self.rt
        if flow.has_condition("trigger"):
            record = Record(rt.data(work, cid, now), props, now)
            if not rt.matches(flow, "trigger", record, now):
                return
        if trigger.count > 1:
            key = cnt_key(flow.id, cid)
            current = work.get(key)
            counts = dict(current) if current else {}
            ids = counts.get("_ids", ())
            if event.id in ids:
                return
            group = str(props.get(trigger.group_by)) if trigger.group_by else "*"
            now_us = to_micros(now)
            window_start = now_us - _window_us(trigger.within)
            seen = [t for t in counts.get(group, ()) if t > window_start]
            seen.append(now_us)
            recent_ids = [*ids[-(trigger.count - 1) :], event.id]
            # read frozen (every part checked and immutable): the update is built frozen
            frozen = (current is None or type(current) is FrozenDict) and type(event.id) is str
            counts["_ids"] = FrozenList(recent_ids) if frozen else recent_ids
            if len(seen) < trigger.count:
                counts[group] = FrozenList(seen) if frozen else seen
            else:
                counts.pop(group, None)
            work.put_owned(key, FrozenDict(counts) if frozen else counts, cid)
            if len(seen) < trigger.count:
                return
        self.enrollments.enter(
            work, flow, cid, f"event:{event.id}", props, now, f"event {event.name!r}"
        )

    # --- per customer ------------------------------------------------------------------------

    def set_timer(self, work: Work, flow: Flow, cid: str, due: int, kind: str) -> None:
        """Set the customer's date or inactivity trigger of ``flow`` to fire at ``due`` µs."""
        key = trg_key(flow.id, cid)
        current = work.get(key)
        if current is not None and current.get("due") == due:
            return
        if current is not None and current.get("timer"):
            work.delete(current["timer"])
        timer = timer_key(due, key)
        # built frozen (str and int values only): stored as they are, no copy walk
        work.put_owned(timer, FrozenDict(k=key), cid)
        work.put_owned(
            key, FrozenDict(due=due, timer=timer, kind=kind, flow=flow.id, cust=cid), cid
        )

    def refresh_customer(self, work: Work, cid: str, now: datetime, only: Flow | None) -> None:
        """Re-judge one customer's customer-based triggers (only ``only``'s date, if given)."""
        rt = self.rt
        data = rt.data(work, cid, now)
        customer = data.customer
        if customer is None:
            return
        tz = data.timezone(rt.policies.default_timezone)
        for flow in self.date_flows:
            if only is not None and flow is not only:
                continue
            trigger = flow.trigger
            if trigger.field == "birthday":
                day = customer.birthday
            else:
                day = customer.created_at.astimezone(zone(tz)).date()
            key = trg_key(flow.id, cid)
            if day is None:
                current = work.get(key)
                if current is not None:
                    if current.get("timer"):
                        work.delete(current["timer"])
                    work.delete(key)
                continue
            due = next_anniversary(
                day.month, day.day, now, trigger.at, tz,
                days_before=trigger.days_before, feb29=trigger.feb29,
            )  # fmt: skip
            self.set_timer(work, flow, cid, to_micros(due), "date")
        if only is None:
            for flow in self.inactivity_flows:
                inactive_for = flow.trigger.inactive_for
                assert inactive_for is not None
                last = data.field("last_order_at", now)
                current = work.get(trg_key(flow.id, cid))
                if current is not None and (
                    current.get("timer")
                    or last is None
                    or to_micros(last + inactive_for) <= current.get("due", 0)
                ):
                    continue  # a clock runs, or it fired and no order came since
                base = last if last is not None else customer.created_at
                due_us = to_micros(base + inactive_for)
                self.set_timer(work, flow, cid, max(due_us, to_micros(now)), "inactive")
            for flow in self.segment_flows:
                self.check_segment(work, flow, cid, now)

    def check_segment(self, work: Work, flow: Flow, cid: str, now: datetime) -> None:
        rt = self.rt
        record = Record(rt.data(work, cid, now), {}, now)
        member = rt.matches(flow, "trigger", record, now)
        key = seg_key(flow.id, cid)
        current = work.get(key)
        before = current.get("in") if current is not None else None
        if before == member or (current is None and not member):
            return  # no change (never a member needs no record: absent means "not in")
        work.put_owned(key, {"in": member, "at": to_micros(now)}, cid)
        kind = flow.trigger.kind
        stamp = to_micros(now)
        enter = self.enrollments.enter
        if member and not before and kind in (TriggerKind.SEGMENT_ENTRY, TriggerKind.THRESHOLD):
            enter(work, flow, cid, f"seg:in:{stamp}", {}, now, f"{kind.value} matched")
        elif before and not member and kind is TriggerKind.SEGMENT_EXIT:
            enter(work, flow, cid, f"seg:out:{stamp}", {}, now, "segment exit")

    def fire(self, work: Work, key: str, target: Mapping[str, Any], now: datetime) -> None:
        """The timer of trigger ``key`` (value ``target``) fired: enroll, or restart its clock."""
        trg = dict(target)
        flow = self.rt.flows.get(trg["flow"])
        cid = trg["cust"]
        due = trg["due"]
        trg["timer"] = None
        work.put_owned(key, trg, cid)
        if flow is None:
            return
        when = from_micros(due)
        enter = self.enrollments.enter
        if trg["kind"] == "date":
            enter(work, flow, cid, f"date:{due}", {}, now, f"{flow.trigger.field} date")
            self.refresh_customer(work, cid, max(now, when), flow)
        else:
            inactive_for = flow.trigger.inactive_for
            assert inactive_for is not None
            if flow.trigger.activity_event == ORDER_EVENT:
                # an order that reached the store without an event restarts the clock too
                last = self.rt.data(work, cid, now).field("last_order_at", now)
                if last is not None and to_micros(last + inactive_for) > to_micros(now):
                    self.set_timer(work, flow, cid, to_micros(last + inactive_for), "inactive")
                    return
            enter(
                work, flow, cid, f"inactive:{due}", {}, now,
                f"no {flow.trigger.activity_event!r} for {format_duration(inactive_for)}",
            )  # fmt: skip

    # --- refresh -----------------------------------------------------------------------------

    def refresh(self, now: datetime, customer_ids: Iterable[str] | None) -> list[Action]:
        """``Engine.refresh``: every customer (with arrays) or the given ones."""
        rt = self.rt
        if customer_ids is None and rt.vector_refresh:
            return self._refresh_all(now)
        if customer_ids is None:
            ids = [c.id for c in rt.store.customers.iterate()]
        else:
            ids = [rt.store.resolve(c) for c in customer_ids]
        out: list[Action] = []
        for start in range(0, len(ids), 200):
            chunk = ids[start : start + 200]

            def unit(work: Work, chunk: list[str] = chunk) -> None:
                for cid in chunk:
                    self.refresh_customer(work, cid, now, None)

            out.extend(rt.run(unit, hold=True))
        return out

    def _refresh_all(self, now: datetime) -> list[Action]:
        """``refresh(now)`` for every customer, with candidates chosen by arrays."""
        rt = self.rt
        now_us = to_micros(now)
        as_of = now_us if rt.as_of else None
        cache = rt.refresh_cache
        cols: _Columns | None = cache.get("columns") if rt.as_of else None
        if cols is None:
            # a backtest's store is read-only: its columns are read once for every refresh
            cols = _Columns(rt.store, rt.policies.default_timezone, rt.currency, rt.rates)
            if rt.as_of:
                cache["columns"] = cols
        ids = cols.ids.tolist()
        n = len(ids)
        writes: list[tuple[Flow, int, int, str]] = []  # (flow, row, due µs, kind)
        candidates = np.zeros(n, dtype=bool)
        for flow in self.date_flows:
            dues = _date_dues(rt, flow, cols, now, now_us)
            rows, values = _stored_rows(rt, trg_key(flow.id, ""), cols)
            before = np.full(n, _NONE, dtype=np.int64)
            before[rows] = np.asarray([v.get("due", _NONE) for v in values], dtype=np.int64)
            has_record = np.zeros(n, dtype=bool)
            has_record[rows] = True
            has_day = dues != _NONE
            candidates |= ~has_day & has_record
            writes.extend(
                (flow, int(r), int(dues[r]), "date")
                for r in np.flatnonzero(has_day & (dues != before))
            )
        if self.inactivity_flows:
            _, _, last = cols.order_stats(as_of)
            base = np.where(last != _NONE, last, cols.created_us)
            for flow in self.inactivity_flows:
                rows, values = _stored_rows(rt, trg_key(flow.id, ""), cols)
                assert flow.trigger.inactive_for is not None
                length = int(flow.trigger.inactive_for / _td_us())
                due = np.maximum(base + length, now_us)
                need = np.ones(n, dtype=bool)
                need[rows] = False
                # a trigger that fired (no timer left) restarts from an order placed since it
                # fired, however the order arrived (an import writes no event)
                fired = np.asarray([not v.get("timer") for v in values], dtype=bool)
                fired_due = np.asarray([v.get("due", 0) for v in values], dtype=np.int64)
                last_rows = last[rows]
                need[rows[fired & (last_rows != _NONE) & (last_rows + length > fired_due)]] = True
                writes.extend((flow, int(r), int(due[r]), "inactive") for r in np.flatnonzero(need))
        for flow in self.segment_flows:
            candidates |= _segment_candidates(rt, flow, cols, now, as_of)

        out: list[Action] = []
        writes.sort(key=lambda w: w[1])
        for start in range(0, len(writes), _CHUNK):
            chunk = writes[start : start + _CHUNK]

            def unit(work: Work, chunk: list[tuple[Flow, int, int, str]] = chunk) -> None:
                keys = [trg_key(flow.id, ids[r]) for flow, r, _, _ in chunk]
                values = rt.prefetch(work, keys)
                rt.prefetch(work, [v["timer"] for v in values if v.get("timer")])
                for flow, r, due, kind in chunk:
                    self.set_timer(work, flow, ids[r], due, kind)

            out.extend(rt.run(unit, hold=True))
        picked = np.flatnonzero(candidates).tolist()
        for start in range(0, len(picked), 200):
            chunk_ids = [ids[r] for r in picked[start : start + 200]]

            def check(work: Work, chunk_ids: list[str] = chunk_ids) -> None:
                for cid in chunk_ids:
                    self.refresh_customer(work, cid, now, None)

            out.extend(rt.run(check, hold=True))
        return out


@functools.lru_cache(maxsize=256)
def micros_of(value: timedelta | None) -> int:
    """A duration in whole microseconds (0 for None)."""
    if value is None:
        return 0
    return (value.days * 86_400 + value.seconds) * 1_000_000 + value.microseconds


# a repeated-event trigger's window, converted once per length (every matching event asks)
_window_us = functools.lru_cache(maxsize=256)(micros_of)
