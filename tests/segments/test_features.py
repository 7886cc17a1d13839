"""FeatureTable: storage forms, conversions, derived tables and refresh by update."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecomcrm.errors import NotFoundError, ValidationError
from ecomcrm.segments import (
    CUSTOMER_FEATURES_SCHEMA,
    FeatureTable,
    StringColumn,
    TagsColumn,
    compile_expression,
)

UTC = dt.UTC
SCHEMA = {
    "spent": "number",
    "n": "integer",
    "country": "category",
    "ok": "bool",
    "at": "datetime",
    "gap": "duration",
    "tags": "tags",
}


def small() -> FeatureTable:
    return FeatureTable(
        [10, 11, 12],
        {
            "spent": [1.5, None, 3.0],
            "n": np.array([1, 2, 3]),
            "country": ["US", None, "DE"],
            "ok": [True, None, False],
            "at": [dt.datetime(2024, 1, 1, tzinfo=UTC), None, dt.datetime(2024, 2, 1, tzinfo=UTC)],
            "gap": np.array([1, 2, "NaT"], dtype="timedelta64[D]"),
            "tags": [["vip"], None, ["a", "vip"]],
        },
        SCHEMA,
    )


def test_storage_forms() -> None:
    t = small()
    assert t.column("spent").dtype == np.float64
    assert np.isnan(t.column("spent")[1])
    assert t.column("n").dtype == np.int64
    assert t.column("ok").tolist() == [1, -1, 0]
    country = t.column("country")
    assert isinstance(country, StringColumn)
    assert country.vocabulary == ("DE", "US")
    assert country.codes.tolist() == [1, -1, 0]
    assert t.column("at").dtype == np.dtype("datetime64[us]")
    assert t.column("gap").dtype == np.dtype("timedelta64[us]")
    tags = t.column("tags")
    assert isinstance(tags, TagsColumn)
    assert tags.indptr.tolist() == [0, 1, 1, 3]
    assert t.schema["spent"].value == "number"
    assert t.names == tuple(SCHEMA)


def test_to_record_round_trips_python_values() -> None:
    t = small()
    assert t.to_record(0) == {
        "spent": 1.5,
        "n": 1,
        "country": "US",
        "ok": True,
        "at": dt.datetime(2024, 1, 1, tzinfo=UTC),
        "gap": dt.timedelta(days=1),
        "tags": ("vip",),
    }
    assert t.to_record(1) == {
        "spent": None,
        "n": 2,
        "country": None,
        "ok": None,
        "at": None,
        "gap": dt.timedelta(days=2),
        "tags": (),
    }
    assert t.record_for(12)["tags"] == ("a", "vip")
    with pytest.raises(ValidationError):
        t.to_record(3)


def test_select_filter_take_positions() -> None:
    t = small()
    assert t.select(["n"]).names == ("n",)
    f = t.filter(np.array([True, False, True]))
    assert f.ids.tolist() == [10, 12]
    assert f.to_record(1)["tags"] == ("a", "vip")
    assert t.take([2, 0]).column("n").tolist() == [3, 1]
    assert t.positions([12, 10]).tolist() == [2, 0]
    with pytest.raises(NotFoundError):
        t.positions([99])
    with pytest.raises(ValidationError, match="mask"):
        t.filter(np.array([True]))


def test_update_replaces_changed_rows_and_appends_new_ones() -> None:
    t = small()
    changed = FeatureTable(
        [11, 13],
        {
            "spent": [9.0, 7.0],
            "n": np.array([5, 6]),
            "country": ["FR", "US"],
            "ok": [True, True],
            "at": [None, None],
            "gap": np.array([1, 1], dtype="timedelta64[D]"),
            "tags": [["new"], []],
        },
        SCHEMA,
    )
    u = t.update(changed)
    assert u.ids.tolist() == [10, 11, 12, 13]
    assert u.column("n").tolist() == [1, 5, 3, 6]
    assert u.to_record(1)["country"] == "FR"
    assert u.to_record(1)["tags"] == ("new",)
    assert u.to_record(2)["tags"] == ("a", "vip")
    assert u.to_record(0)["country"] == "US"
    expr = compile_expression("'vip' in tags or country == 'FR'", SCHEMA)
    assert expr.mask(u).tolist() == [True, True, True, False]
    with pytest.raises(ValidationError, match="same columns"):
        t.update(t.select(["n"]))


@given(
    st.lists(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), min_size=1, max_size=8),
    st.data(),
)
def test_tags_take_matches_python(lists: list[list[str]], data: st.DataObject) -> None:
    col = TagsColumn.from_lists(lists)
    index = data.draw(st.lists(st.integers(0, len(lists) - 1), max_size=10))
    taken = col.take(np.array(index, dtype=np.intp))
    assert [taken.row(i) for i in range(len(index))] == [tuple(lists[i]) for i in index]


def test_concat() -> None:
    a = FeatureTable([1], {"c": ["x"]}, {"c": "string"})
    b = FeatureTable([2], {"c": ["a"]}, {"c": "string"})
    both = FeatureTable.concat([a, b])
    assert [both.to_record(i)["c"] for i in range(2)] == ["x", "a"]
    with pytest.raises(ValidationError, match="unique"):
        FeatureTable.concat([a, a])


@pytest.mark.parametrize(
    ("columns", "schema", "message"),
    [
        ({"x": [1.0]}, {}, "not in the schema"),
        ({"x": [1.0, 2.0]}, {"x": "number"}, "has 2 rows"),
        ({"x": ["a"]}, {"x": "number"}, "numeric"),
        ({"x": [2]}, {"x": "bool"}, "true, false or null"),
        ({"x": [dt.datetime(2024, 1, 1)]}, {"x": "datetime"}, "timezone-aware"),
        ({"x": ["2024"]}, {"x": "datetime"}, "not a datetime"),
        ({"x": [[1]]}, {"x": "tags"}, "strings"),
    ],
)
def test_bad_columns(columns: dict, schema: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        FeatureTable([1], columns, schema)


def test_ids_must_be_unique() -> None:
    with pytest.raises(ValidationError, match="unique") as info:
        FeatureTable([1, 2, 1], {}, {})
    assert info.value.row == 2


def test_column_validation() -> None:
    with pytest.raises(ValidationError, match="sorted"):
        StringColumn(np.array([0], dtype=np.int32), ("b", "a"))
    with pytest.raises(ValidationError, match="out of range"):
        StringColumn(np.array([2], dtype=np.int32), ("a",))
    with pytest.raises(ValidationError, match="indptr"):
        TagsColumn(np.array([0, 2]), np.array([0], dtype=np.int32), ("a",))


def test_customer_schema_has_the_documented_columns() -> None:
    for name in [
        "orders_count", "total_spent", "aov", "first_order_at", "last_order_at",
        "days_since_last_order", "r_score", "f_score", "m_score", "rfm_segment", "p_alive",
        "predicted_clv", "tags", "country", "consent_email", "consent_sms", "consent_push",
        "consent_whatsapp", "cart_abandon_count", "browse_abandon_count", "categories",
        "return_rate", "discount_order_share", "created_at",
    ]:  # fmt: skip
        assert name in CUSTOMER_FEATURES_SCHEMA
