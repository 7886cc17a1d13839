"""The state-area paths the engine's throughput rests on, checked against simple models.

- ``freeze_state_value`` gives exactly what a JSON round trip gives, as read-only
  containers, and shares parts that are already frozen;
- MemoryStore keeps its state values read-only (no copy on read), its sorted key index
  in step with every write and rollback (scan against a sorted dict), and its batched
  compare-and-set ``state.apply`` all-or-nothing;
- the engine gives the same actions with and without the batch capability, and redoes a
  unit whose commit lost a race.
"""

from __future__ import annotations

import copy
import json
import pickle
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

import ecomcrm
from ecomcrm.errors import ConflictError, ValidationError
from ecomcrm.rules import ActionStep, Engine, Exit, Flow, ReentryPolicy, Trigger, WaitStep
from ecomcrm.storage import Store
from ecomcrm.storage.toolkit import FrozenDict, FrozenList, freeze_state_value
from ecomcrm.testing.strategies import json_scalars

from .conftest import T0, add_customer, ev

H = timedelta(hours=1)

json_values = st.recursive(
    json_scalars(),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(
            st.one_of(st.text(max_size=4), st.integers(-5, 5), st.booleans(), st.none()),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=12,
)
json_objects = st.dictionaries(st.text(max_size=6), json_values, max_size=5)


def round_trip(value: Any) -> Any:
    return json.loads(json.dumps(value, allow_nan=False))


# --- freeze_state_value -------------------------------------------------------------------


@settings(max_examples=150, deadline=None)
@given(value=json_objects)
def test_freeze_equals_a_json_round_trip(value: dict[str, Any]) -> None:
    frozen = freeze_state_value(value)
    expected = round_trip(value)
    assert frozen == expected
    assert json.dumps(frozen) == json.dumps(expected)
    assert type(frozen) is FrozenDict
    assert freeze_state_value(frozen) is frozen  # already frozen: no copy
    assert copy.deepcopy(frozen) == expected and pickle.loads(pickle.dumps(frozen)) == expected


def test_freeze_normalises_like_json_and_shares_frozen_parts() -> None:
    value = {"t": (1, 2), 3: "a", 2.5: "b", True: "c", None: "d", "n": {"x": [()]}}
    assert freeze_state_value(value) == round_trip(value) == {
        "t": [1, 2], "3": "a", "2.5": "b", "true": "c", "null": "d", "n": {"x": [[]]},
    }  # fmt: skip
    first = freeze_state_value({"log": [[1, "a"], [2, "b"]], "ctx": {"sku": "x"}})
    draft = dict(first)
    draft["log"] = [*first["log"], [3, "c"]]
    second = freeze_state_value(draft)
    assert second["ctx"] is first["ctx"]
    assert second["log"][0] is first["log"][0] and second["log"][1] is first["log"][1]
    assert type(second["log"][2]) is FrozenList


@pytest.mark.parametrize(
    "bad",
    [
        {"x": float("nan")},
        {"x": [float("inf")]},
        {"x": object()},
        {(1, 2): 1},
        {float("nan"): 1},
        {"x": {"y": {1, 2}}},
        ["not", "a", "mapping"],
    ],
)
def test_freeze_refuses_what_json_refuses(bad: Any) -> None:
    with pytest.raises(ValidationError):
        freeze_state_value(bad)


def test_freeze_refuses_circular_values() -> None:
    loop: dict[str, Any] = {}
    loop["self"] = loop
    with pytest.raises(ValidationError, match="circular"):
        freeze_state_value(loop)


def test_frozen_values_are_read_only() -> None:
    value = freeze_state_value({"a": [1, {"b": 2}]})
    attempts = [
        lambda: value.__setitem__("x", 1),
        lambda: value.update(x=1),
        lambda: value.pop("a"),
        lambda: value.setdefault("x", 1),
        lambda: value.clear(),
        lambda: value["a"].append(2),
        lambda: value["a"].__setitem__(0, 2),
        lambda: value["a"].sort(),
        lambda: value["a"][1].__delitem__("b"),
    ]
    for attempt in attempts:
        with pytest.raises(TypeError, match="read-only"):
            attempt()
    assert value == {"a": [1, {"b": 2}]}
    changed = dict(value) | {"x": 1}  # copies are ordinary, mutable containers
    assert type(changed) is dict and type(value.copy()) is dict


# --- MemoryStore state ------------------------------------------------------------------------


def test_memory_state_reads_share_the_stored_read_only_value(mem: Store) -> None:
    written = mem.state.put("k", {"seen": ["a"]}, expected_version=None)
    read = mem.state.get("k")
    assert read is not None and read.value is written.value
    assert mem.state.scan("k")[0].value is written.value
    with pytest.raises(TypeError):
        read.value["seen"].append("b")  # type: ignore[attr-defined]
    assert mem.state.get("k").value == {"seen": ["a"]}  # type: ignore[union-attr]


def test_memory_apply_is_all_or_nothing(mem: Store) -> None:
    state: Any = mem.state
    state.apply([("a", {"v": 1}, None), ("b", {"v": 1}, None)])
    assert [(r.key, r.version) for r in mem.state.scan()] == [("a", 1), ("b", 1)]
    with pytest.raises(ConflictError):  # the stale version of "b" stops the new "c" too
        state.apply([("c", {"v": 1}, None), ("a", {"v": 2}, 1), ("b", {"v": 2}, 7)])
    assert [(r.key, r.version, dict(r.value)) for r in mem.state.scan()] == [
        ("a", 1, {"v": 1}),
        ("b", 1, {"v": 1}),
    ]
    with pytest.raises(ValidationError):
        state.apply([("a", {"v": 2}, 1), ("a", {"v": 3}, 2)])
    with pytest.raises(ValidationError):
        state.apply([("a", None, None)])
    with pytest.raises(ValidationError):
        state.apply([("c", {"when": object()}, None)])
    for version in (0, True, "1"):
        with pytest.raises(ValidationError):
            state.apply([("a", {"v": 2}, version)])
    assert mem.state.get("c") is None
    state.apply([("a", None, 1), ("b", {"v": 2}, 1)])
    assert [(r.key, r.version) for r in mem.state.scan()] == [("b", 2)]
    with pytest.raises(RuntimeError), mem.transaction():
        state.apply([("b", None, 2), ("z", {"v": 1}, None)])
        raise RuntimeError("boom")
    assert [(r.key, r.version) for r in mem.state.scan()] == [("b", 2)]


_KEYS = st.sampled_from(["a", "a:1", "a:10", "a:2", "ab", "b", "b:1", "timer:1", "timer:2", "z"])


class MemoryStateModel(RuleBasedStateMachine):
    """MemoryStore's state area against a plain dict, including rolled-back blocks."""

    def __init__(self) -> None:
        super().__init__()
        self.store = ecomcrm.open_store("memory://")
        self.model: dict[str, tuple[dict[str, Any], int]] = {}

    def _expected(self, key: str) -> int | None:
        return self.model[key][1] if key in self.model else None

    @rule(key=_KEYS, n=st.integers(0, 9))
    def put(self, key: str, n: int) -> None:
        record = self.store.state.put(key, {"n": n}, expected_version=self._expected(key))
        self.model[key] = ({"n": n}, record.version)

    @rule(key=_KEYS)
    def delete(self, key: str) -> None:
        if key in self.model:
            self.store.state.delete(key, expected_version=self.model.pop(key)[1])

    @rule(keys=st.lists(_KEYS, min_size=1, max_size=4, unique=True), fail=st.booleans())
    def batch(self, keys: list[str], fail: bool) -> None:
        changes = [
            (k, None if k in self.model and len(k) % 2 else {"k": k}, self._expected(k))
            for k in keys
        ]
        changes = [c for c in changes if c[1] is not None or c[2] is not None]
        try:
            with self.store.transaction():
                self.store.state.apply(changes)  # type: ignore[attr-defined]
                if fail:
                    raise RuntimeError("roll back")
        except RuntimeError:
            return
        for key, value, expected in changes:
            if value is None:
                del self.model[key]
            else:
                self.model[key] = (value, 1 if expected is None else expected + 1)

    @rule(
        prefix=st.sampled_from(["", "a", "a:", "b", "timer:", "y"]),
        start=st.one_of(st.none(), _KEYS),
        stop=st.one_of(st.none(), _KEYS),
        limit=st.one_of(st.none(), st.integers(-1, 4)),
    )
    def scan(self, prefix: str, start: str | None, stop: str | None, limit: int | None) -> None:
        got = [
            (r.key, dict(r.value), r.version)
            for r in self.store.state.scan(prefix, start=start, stop=stop, limit=limit)
        ]
        want = [
            (k, v, n)
            for k, (v, n) in sorted(self.model.items())
            if k.startswith(prefix) and (start is None or k >= start) and (stop is None or k < stop)
        ]
        if limit is not None:
            want = want[: max(limit, 0)]
        assert got == want

    @invariant()
    def agrees(self) -> None:
        assert [r.key for r in self.store.state.scan()] == sorted(self.model)
        for key, (value, version) in self.model.items():
            record = self.store.state.get(key)
            assert record is not None and dict(record.value) == value
            assert record.version == version


def test_memory_state_against_a_dict_model() -> None:
    run_state_machine_as_test(
        MemoryStateModel,
        settings=settings(max_examples=40, stateful_step_count=30, deadline=None),
    )


def test_sorted_index_with_small_blocks_splits_and_merges() -> None:
    from ecomcrm.storage.memory._tables import _SortedKeys

    keys = _SortedKeys(load=2)  # tiny blocks: every path of split and removal
    present: set[str] = set()
    for i in [5, 3, 9, 1, 7, 2, 8, 6, 4, 0, 11, 10]:
        keys.add(f"k{i:02d}")
        present.add(f"k{i:02d}")
    for i in [0, 11, 5, 6, 7, 99]:
        keys.remove(f"k{i:02d}")
        present.discard(f"k{i:02d}")
    assert list(keys.range("", None)) == sorted(present)
    assert list(keys.range("k03", "k09")) == [k for k in sorted(present) if "k03" <= k < "k09"]
    assert list(keys.range("zz", None)) == [] and list(keys.range("k05", "k05")) == []


# --- engine -----------------------------------------------------------------------------


def _cart() -> Flow:
    return Flow(
        id="cart",
        trigger=Trigger.on_event("Checkout Started"),
        steps=[WaitStep(id="wait", duration="1h"), ActionStep(id="remind", channel="email",
                                                               template="cart_1")],
        exits=[Exit(event="Order Completed")],
        reentry=ReentryPolicy.always(),
    )  # fmt: skip


class _StateWithoutBatches:
    """A state repository that offers only the required protocol (no ``apply``)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def get(self, key: str) -> Any:
        return self._inner.get(key)

    def put(
        self, key: str, value: Any, *, expected_version: int | None, owner: str | None = None
    ) -> Any:
        return self._inner.put(key, value, expected_version=expected_version, owner=owner)

    def delete(self, key: str, *, expected_version: int) -> None:
        self._inner.delete(key, expected_version=expected_version)

    def scan(self, prefix: str = "", **kwargs: Any) -> Any:
        return self._inner.scan(prefix, **kwargs)


class _StateWithReadAhead(_StateWithoutBatches):
    """Adds ``get_many`` and ``apply`` (as a database adapter would), counting reads."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner)
        self.single_reads = 0
        self.batch_reads: list[int] = []

    def get(self, key: str) -> Any:
        self.single_reads += 1
        return self._inner.get(key)

    def get_many(self, keys: Any) -> dict[str, Any]:
        keys = list(keys)
        self.batch_reads.append(len(keys))
        return {k: r for k in keys if (r := self._inner.get(k)) is not None}

    def apply(self, changes: Any) -> None:
        self._inner.apply(changes)


def _run_story(store: Store) -> list[tuple[str, str]]:
    for i in range(6):
        add_customer(store, f"c{i}")
    engine = Engine(store, [_cart()])
    events = [ev("Checkout Started", f"c{i}", T0 + timedelta(minutes=i)) for i in range(6)]
    events.append(ev("Order Completed", "c2", T0 + timedelta(minutes=20)))
    engine.handle_many(events[:3])
    for e in events[3:]:
        engine.handle(e)
    actions = engine.advance(T0 + 2 * H) + engine.advance(T0 + 3 * H)
    return sorted((a.customer_id, a.idempotency_key) for a in actions)


def test_engine_same_actions_without_the_batch_capability() -> None:
    with_batches = ecomcrm.open_store("memory://")
    without = ecomcrm.open_store("memory://")
    without.state = _StateWithoutBatches(without.state)  # type: ignore[misc]
    assert not hasattr(without.state, "apply")
    expected = _run_story(with_batches)
    assert [cid for cid, _ in expected] == ["c0", "c1", "c3", "c4", "c5"]
    assert _run_story(without) == expected
    ahead = ecomcrm.open_store("memory://")
    reader = ahead.state = _StateWithReadAhead(ahead.state)  # type: ignore[misc]
    assert _run_story(ahead) == expected
    assert reader.batch_reads and sum(reader.batch_reads) >= 3


def test_read_ahead_batches_match_one_by_one() -> None:
    """A batch read ahead in one transaction gives what handling each event gives."""
    from ecomcrm.rules import builtin_flows

    def story(store: Store, batched: bool) -> list[tuple[str, str, str]]:
        for i in range(8):
            add_customer(store, f"c{i}")
        engine = Engine(store, builtin_flows())
        names = ["Checkout Started", "Product Viewed", "Order Completed", "Signed Up",
                 "Order Delivered", "Product Viewed", "Product Viewed"]  # fmt: skip
        events = [
            ev(names[k % len(names)], f"c{k % 8}", T0 + timedelta(minutes=7 * k), sku="S1")
            for k in range(120)
        ]
        out = []
        for start in range(0, len(events), 40):
            part = events[start : start + 40]
            if batched:
                out += engine.handle_many(part)
            else:
                for e in part:
                    out += engine.handle(e)
            out += engine.advance(part[-1].at)
        out += engine.advance(T0 + timedelta(days=40))
        return sorted((a.customer_id, a.flow_id, a.idempotency_key) for a in out)

    plain = story(ecomcrm.open_store("memory://"), batched=False)
    ahead = ecomcrm.open_store("memory://")
    reader = ahead.state = _StateWithReadAhead(ahead.state)  # type: ignore[misc]
    assert story(ahead, batched=True) == plain and len(plain) > 10
    assert reader.batch_reads


def test_handle_redoes_a_unit_that_lost_a_race(store: Store) -> None:
    """Another engine enrolls the customer between our reads and our commit."""
    add_customer(store, "c1")
    a, b = Engine(store, [_cart()]), Engine(store, [_cart()])
    original = a._event_trigger
    raced: list[bool] = []

    def racing(work: Any, flow: Any, cid: str, event: Any, props: Any, now: Any) -> None:
        original(work, flow, cid, event, props, now)  # a has read and computed
        if not raced:
            raced.append(True)
            b.handle(event)  # b commits first: a's compare-and-set must fail

    a._event_trigger = racing  # type: ignore[method-assign]
    assert a.handle(ev("Checkout Started", "c1", T0)) == []
    actions = a.advance(T0 + H) + b.advance(T0 + H)
    assert raced and len(actions) == 1
    assert "already" not in a.explain("c1", "cart").text  # the redo saw the same trigger


@pytest.mark.parametrize("batched", [True, False])
def test_advance_race_inside_a_batch_never_duplicates(store: Store, batched: bool) -> None:
    """Another engine fires our due timer after we read it, inside our batch's unit."""
    add_customer(store, "c1")
    if not batched:
        store.state = _StateWithoutBatches(store.state)  # type: ignore[misc]
    a, b = Engine(store, [_cart()]), Engine(store, [_cart()])
    a.handle(ev("Checkout Started", "c1", T0))
    original = a._fire
    out_b: list[Any] = []

    def racing_fire(work: Any, key: str, now: Any) -> None:
        original(work, key, now)  # a has read the timer and computed the action
        if not out_b:
            out_b.extend(b.advance(now))

    a._fire = racing_fire  # type: ignore[method-assign]
    out_a = a.advance(T0 + H)
    keys = [x.idempotency_key for x in out_a + out_b + a.advance(T0 + 2 * H)]
    assert len(keys) == len(set(keys)) == 1
    assert [x.id for x in a.pending()] == [x.id for x in out_a + out_b]


def test_handle_many_race_inside_the_batch_never_duplicates(store: Store) -> None:
    add_customer(store, "c1")
    a, b = Engine(store, [_cart()]), Engine(store, [_cart()])
    original = a._event_trigger
    raced: list[bool] = []

    def racing(work: Any, flow: Any, cid: str, event: Any, props: Any, now: Any) -> None:
        original(work, flow, cid, event, props, now)
        if not raced:
            raced.append(True)
            b.handle(event)

    a._event_trigger = racing  # type: ignore[method-assign]
    a.handle_many([ev("Checkout Started", "c1", T0), ev("Cart Viewed", "c1", T0)])
    actions = a.advance(T0 + H) + b.advance(T0 + 2 * H)
    assert raced and [x.customer_id for x in actions] == ["c1"]


# --- SQLite batch capabilities ---------------------------------------------------------------


@pytest.fixture
def lite(tmp_path: Any) -> Any:
    s = ecomcrm.open_store(f"sqlite:///{tmp_path / 'state.db'}")
    yield s
    s.close()


def test_sqlite_get_many_and_apply(lite: Store, tmp_path: Any) -> None:
    state: Any = lite.state
    assert state.get_many([]) == {}
    state.apply([("a", {"v": (1, 2)}, None), ("b", {"v": 1}, None), ("c", {"v": 1}, None)])
    found = state.get_many(["c", "a", "zz", "a"])
    assert sorted(found) == ["a", "c"]
    assert (dict(found["a"].value), found["a"].version) == ({"v": [1, 2]}, 1)
    with pytest.raises(ConflictError):  # one stale version: nothing of the batch happens
        state.apply([("d", {"v": 1}, None), ("a", None, 1), ("b", {"v": 2}, 9)])
    assert [(r.key, r.version) for r in lite.state.scan()] == [("a", 1), ("b", 1), ("c", 1)]
    for bad in (
        [("a", {"v": float("nan")}, 1)],
        [("a", {"when": object()}, 1)],
        [("a", ["not", "a", "mapping"], 1)],
        [("a", None, None)],
        [("b", {"v": 2}, 1), ("b", {"v": 3}, 2)],
        [("", {"v": 1}, None)],
    ):
        with pytest.raises(ValidationError):
            state.apply(bad)
    state.apply([("a", None, 1), ("b", {"v": 2}, 1)])
    with pytest.raises(RuntimeError), lite.transaction():
        state.apply([("b", None, 2), ("z", {"v": 1}, None)])
        raise RuntimeError("boom")
    assert [(r.key, r.version) for r in lite.state.scan()] == [("b", 2), ("c", 1)]
    many = [(f"k{i:04d}", {"i": i}, None) for i in range(1200)]  # more than one IN (...) chunk
    state.apply(many)
    assert len(state.get_many(k for k, _, _ in many)) == 1200
    lite.close()
    again = ecomcrm.open_store(f"sqlite:///{tmp_path / 'state.db'}")
    record = again.state.get("k0042")
    assert record is not None and dict(record.value) == {"i": 42} and record.version == 1
    again.close()


def test_sqlite_batches_match_memory(tmp_path: Any) -> None:
    """The same story on SQLite (read ahead, held transactions, batched commits) and memory."""
    lite = ecomcrm.open_store(f"sqlite:///{tmp_path / 'story.db'}")
    assert _run_story(lite) == _run_story(ecomcrm.open_store("memory://"))
    lite.close()


def test_two_sqlite_handles_batches_never_duplicate(tmp_path: Any) -> None:
    """Two connections (as two processes would have) feed the same batches and advance."""
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    first, second = ecomcrm.open_store(url), ecomcrm.open_store(url)
    for i in range(12):
        add_customer(first, f"c{i}")
    a, b = Engine(first, [_cart()]), Engine(second, [_cart()])
    events = [ev("Checkout Started", f"c{i}", T0 + timedelta(minutes=i)) for i in range(12)]
    a.handle_many(events[:8])
    b.handle_many(events[4:])  # half of them again, through the other handle
    a.handle_many(events)
    out = b.advance(T0 + H + timedelta(minutes=5)) + a.advance(T0 + 2 * H)
    out += b.advance(T0 + 2 * H)
    keys = [x.idempotency_key for x in out]
    assert len(keys) == len(set(keys)) == 12
    assert sorted(x.id for x in a.pending()) == sorted(x.id for x in out)
    first.close()
    second.close()


def test_owners_given_at_write_time_equal_the_owner_read_from_the_key(store: Store) -> None:
    # the engine names each record's owner where it builds the key (seen marks, counters,
    # trigger clocks and their timers, segment marks, actions, caps); erasure deletes by
    # that owner alone, so it must be exactly what the key layout says
    from ecomcrm.rules import builtin_flows
    from ecomcrm.rules._keys import owner_of as _owner_of

    for cid in ("c1", "c2"):
        add_customer(store, cid)
    counting = Flow.from_dict(
        {"id": "twice", "trigger": {"kind": "event", "event": "Product Added", "count": 2,
                                    "within": "1d"},
         "steps": [{"type": "action", "id": "a", "channel": "email", "template": "t"}],
         "reentry": {"mode": "always"}}
    )  # fmt: skip
    engine = Engine(store, [*builtin_flows(), counting])
    names = ["Product Added", "Product Viewed", "Checkout Started", "Signed Up", "Cart Viewed"]
    events = [
        ev(name, cid, T0 + timedelta(minutes=n))
        for n, name in enumerate(names * 3)
        for cid in ("c1", "c2", None)
    ]
    engine.handle_many(events)
    engine.advance(T0 + timedelta(days=3))
    records = store.state.scan("")
    kinds = {r.key.partition(":")[0] for r in records}
    assert {"seen", "cnt", "enr", "timer", "act", "cap"} <= kinds, kinds
    for record in records:
        assert record.owner == _owner_of(record.key, record.value), record.key
