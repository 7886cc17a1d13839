"""``Engine.refresh`` over all customers: candidates chosen with array operations.

The per-customer refresh (``Engine._refresh_customer``) reads each customer's profile,
orders and loyalty entries from the store one at a time. Over every customer that is
the slow part, while almost nothing changes between two refreshes. Here the same
decisions are taken from the store's columnar reads (``customer_table``,
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

The writes are the ones the per-customer path makes (``_set_trigger_timer``), so the
state, the actions and the enrollments are the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs
import numpy as np
from numpy.typing import NDArray

from ecomcrm.errors import ValidationError
from ecomcrm.rules._conditions import CUSTOMER_FIELDS
from ecomcrm.rules._flow import Flow
from ecomcrm.rules._schedule import from_micros, next_anniversary, to_micros, zone
from ecomcrm.segments import CUSTOMER_FIELD_REGISTRY, order_fields, profile_fields
from ecomcrm.segments._fields import MONEY_FIELDS
from ecomcrm.storage import OrderFacts

if TYPE_CHECKING:
    from ecomcrm.rules._actions import Action
    from ecomcrm.rules._engine import Engine, _Work
    from ecomcrm.storage import Store

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
    """(row, points, at µs) of every ledger entry, owners resolved through merges.

    Only the built-in stores are read this way; for another store None (the segment
    flows reading loyalty points then take the per-customer path).
    """
    from ecomcrm.storage import MemoryStore, SqliteStore

    if isinstance(store, MemoryStore):
        entries = [e for _, e in store._loyalty.values()]
        owners = [e.customer_id for e in entries]
        points = [e.points for e in entries]
        at = [to_micros(e.at) for e in entries]
    elif isinstance(store, SqliteStore):
        with store._db.read() as conn:
            raw = conn.execute("SELECT customer_id, points, at FROM loyalty").fetchall()
        owners = [r[0] for r in raw]
        points = [r[1] for r in raw]
        at = [r[2] for r in raw]
    else:
        return None
    # a live customer (every id of the customer table) is its own survivor: only the
    # other owners (merged away, or unknown) need the store's resolve
    live = set(ids.tolist())
    resolved = {o: o if o in live else store.resolve(o) for o in set(owners)}
    rows = _rows_of(ids, np.array([resolved[o] for o in owners], dtype=object))
    pts = np.asarray(points, dtype=np.float64)
    ats = np.asarray(at, dtype=np.int64)
    ok = rows >= 0
    return rows[ok], pts[ok], ats[ok]


def _stored_rows(
    engine: Engine, prefix: str, cols: _Columns
) -> tuple[NDArray[np.int64], list[Mapping[str, Any]]]:
    """Rows (in ``cols``) and values of the state records under ``prefix`` of its customers.

    Records of ids that are not rows of ``cols`` are left out, as a walk over the
    customers' ids would never look them up.
    """
    row_of = cols.row_of
    cut = len(prefix)
    rows: list[int] = []
    values: list[Mapping[str, Any]] = []
    for record in engine._state.scan(prefix):
        row = row_of.get(record.key[cut:])
        if row is not None:
            rows.append(row)
            values.append(record.value)
    return np.asarray(rows, dtype=np.int64), values


def _date_dues(
    engine: Engine, flow: Flow, cols: _Columns, now: datetime, now_us: int
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
        month, day = _local_month_day(engine, cols)
    tz_names, tz_codes = cols.tz_names, cols.tz_codes
    key = (tz_codes * 13 + month) * 32 + day
    uniq, inverse = np.unique(key[valid], return_inverse=True)
    cache: dict[tuple[Any, ...], int] = engine._refresh_cache.setdefault("dates", {})
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


def _local_month_day(engine: Engine, cols: _Columns) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Month and day of each customer's sign-up in their time zone (UTC offsets per zone)."""
    cache = engine._refresh_cache.setdefault("signup", {})
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
    engine: Engine, flow: Flow, cols: _Columns, now: datetime, now_us: int | None
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
    rows, values = _stored_rows(engine, f"seg:{flow.id}:", cols)
    before = np.zeros(n, dtype=bool)
    before[rows] = np.asarray([bool(v.get("in")) for v in values], dtype=bool)
    return np.asarray(member != before, dtype=bool)


def refresh_all(engine: Engine, now: datetime) -> list[Action]:
    """``engine.refresh(now)`` for every customer, with candidates chosen by arrays."""
    now_us = to_micros(now)
    as_of = now_us if engine._as_of else None
    cache = engine._refresh_cache
    cols: _Columns | None = cache.get("columns") if engine._as_of else None
    if cols is None:
        # a backtest's store is read-only: its columns are read once for every refresh
        cols = _Columns(
            engine.store, engine.policies.default_timezone, engine.currency, engine.rates
        )
        if engine._as_of:
            cache["columns"] = cols
    ids = cols.ids.tolist()
    n = len(ids)
    writes: list[tuple[Flow, int, int, str]] = []  # (flow, row, due µs, kind)
    candidates = np.zeros(n, dtype=bool)
    for flow in engine._date_flows:
        dues = _date_dues(engine, flow, cols, now, now_us)
        rows, values = _stored_rows(engine, f"trg:{flow.id}:", cols)
        before = np.full(n, _NONE, dtype=np.int64)
        before[rows] = np.asarray([v.get("due", _NONE) for v in values], dtype=np.int64)
        has_record = np.zeros(n, dtype=bool)
        has_record[rows] = True
        has_day = dues != _NONE
        candidates |= ~has_day & has_record
        writes.extend(
            (flow, int(r), int(dues[r]), "date") for r in np.flatnonzero(has_day & (dues != before))
        )
    if engine._inactivity_flows:
        _, _, last = cols.order_stats(as_of)
        base = np.where(last != _NONE, last, cols.created_us)
        for flow in engine._inactivity_flows:
            rows, values = _stored_rows(engine, f"trg:{flow.id}:", cols)
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
    for flow in engine._segment_flows:
        candidates |= _segment_candidates(engine, flow, cols, now, as_of)

    out: list[Action] = []
    writes.sort(key=lambda w: w[1])
    for start in range(0, len(writes), _CHUNK):
        chunk = writes[start : start + _CHUNK]

        def unit(work: _Work, chunk: list[tuple[Flow, int, int, str]] = chunk) -> None:
            keys = [f"trg:{flow.id}:{ids[r]}" for flow, r, _, _ in chunk]
            values = engine._prefetch(work, keys)
            engine._prefetch(work, [v["timer"] for v in values if v.get("timer")])
            for flow, r, due, kind in chunk:
                engine._set_trigger_timer(work, flow, ids[r], due, kind)

        out.extend(engine._run(unit, hold=True))
    picked = np.flatnonzero(candidates).tolist()
    for start in range(0, len(picked), 200):
        chunk_ids = [ids[r] for r in picked[start : start + 200]]

        def check(work: _Work, chunk_ids: list[str] = chunk_ids) -> None:
            for cid in chunk_ids:
                engine._refresh_customer(work, cid, now, None)

        out.extend(engine._run(check, hold=True))
    return out
