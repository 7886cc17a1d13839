"""The CSV readers: read_groups groups and numbers rows exactly as read_rows does."""

from __future__ import annotations

import csv
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from ecomcrm.io._csvfile import read_groups, read_rows
from ecomcrm.io._rows import RowError

_cell = st.text(alphabet='ab,"\n\r x', max_size=6)
_name = st.sampled_from(["#1", "#2", '"#3"', "#4,x", "", "#5\nb"])


def _text(rows: list[list[str]], blank_lines: list[int]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["Name", "Email", "Other"])
    for i, row in enumerate(rows):
        if i in blank_lines:
            out.write("\r\n")
        writer.writerow(row)
    return out.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(_name, _cell, _cell).map(list), max_size=25),
    st.lists(st.integers(0, 25), max_size=3),
    st.sets(st.sampled_from(["", "a", "b", "ab", 'a"b', "a,b"])),
)
def test_groups_match_read_rows(
    rows: list[list[str]], blank_lines: list[int], refused: set[str]
) -> None:
    text = _text(rows, blank_lines)
    header, expected_rows = read_rows(io.StringIO(text, newline=""))
    expected: list[list[tuple[int, list[str]]]] = []
    current = None
    for line, row in expected_rows:
        name = row[0] if row else ""
        if not expected or name != current:
            expected.append([])
        current = name
        expected[-1].append((line, row))
    expected = [g for g in expected if (g[0][1][1] if len(g[0][1]) > 1 else "") not in refused]
    got_header, groups = read_groups(
        io.StringIO(text, newline=""), lambda names: (0, 1), lambda email: email not in refused
    )
    assert got_header == header
    assert list(groups) == expected


_raw_cell = st.text(alphabet='ab,"\n x', max_size=5)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(_raw_cell, min_size=1, max_size=4), max_size=12))
def test_groups_match_read_rows_on_hostile_text(rows: list[list[str]]) -> None:
    # Text written by hand, not by a csv writer: stray quotes inside cells, quotes that
    # open and never close, lines swallowed. Both readers must agree line for line, reject
    # the same records, and account for every line.
    text = "Name,Email,Other,More\n" + "".join(",".join(r) + "\n" for r in rows)
    header, expected_rows = read_rows(io.StringIO(text, newline=""))
    flat = list(expected_rows)
    got_header, groups = read_groups(
        io.StringIO(text, newline=""), lambda names: (0, 1), lambda email: True
    )
    got = [pair for group in groups for pair in group]
    assert got_header == header
    assert [(line, str(r) if isinstance(r, RowError) else r) for line, r in got] == [
        (line, str(r) if isinstance(r, RowError) else r) for line, r in flat
    ]
