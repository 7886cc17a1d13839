"""Reading delimited exports row by row with their line numbers and a checked header."""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO

from ecomcrm.errors import ValidationError
from ecomcrm.io._common import PathLike

csv.field_size_limit(1 << 24)


class Header:
    """Column positions of a CSV header, looked up by any of several accepted names."""

    def __init__(self, names: Sequence[str], file: str) -> None:
        self.names = [n.strip().lstrip("\ufeff") for n in names]
        self.file = file
        self._index = {n.lower(): i for i, n in enumerate(self.names)}

    def find(self, *names: str) -> int | None:
        """Index of the first of ``names`` present (case-insensitive), or None."""
        for name in names:
            i = self._index.get(name.lower())
            if i is not None:
                return i
        return None

    def require(self, *names: str) -> int:
        """Index of the first of ``names`` present; ValidationError when none is."""
        i = self.find(*names)
        if i is None:
            raise ValidationError(
                f"required column is missing (the header has: {', '.join(self.names)})",
                entity=self.file,
                field=names[0],
                row=1,
            )
        return i


class TruncatedRow(list[str]):
    """The cells of a file's last record when the file ends inside a quoted field.

    The csv module reads such a record without complaint, the rest of the file becoming
    one cell; readers yield it as this marker so that importers reject the record.
    """

    reason = "the file ends inside a quoted field (it was cut short): the record is incomplete"


def _ends_inside_quotes(text: str) -> bool:
    """True when ``text`` (the physical lines of a record) stops inside a quoted field."""
    if text.count('"') % 2 == 0:
        return False
    try:
        for _ in csv.reader(io.StringIO(text), strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


class _Lines:
    """The lines of a file, keeping those of the record the csv reader is on."""

    __slots__ = ("handle", "record")

    def __init__(self, handle: IO[str]) -> None:
        self.handle = handle
        self.record: list[str] = []

    def __iter__(self) -> Iterator[str]:
        for line in self.handle:
            self.record.append(line)
            yield line


def open_text(path: PathLike) -> IO[str]:
    """Open an export for reading: UTF-8 (with or without BOM), universal newlines for csv.

    A file whose name ends in ``.gz`` is decompressed as it is read.
    """
    if Path(path).suffix.lower() == ".gz":
        return gzip.open(path, "rt", encoding="utf-8-sig", newline="")
    return Path(path).open(encoding="utf-8-sig", newline="")


#: The ``delimiter`` that splits a line at every run of spaces and tabs (fixed-width-ish
#: text such as the CDNOW master file); leading and trailing blanks are ignored.
WHITESPACE = "whitespace"


def read_rows(
    handle: IO[str], *, delimiter: str = ",", columns: Sequence[str] | None = None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of ``(line, row)``; ``line`` is where the row starts (1-based).

    ``columns`` names the columns of a file that has no header line (its first line is
    then a data row); ``delimiter="whitespace"`` splits at runs of blanks (no quoting). A
    last record cut short inside a quoted field comes as a :class:`TruncatedRow`.
    """
    if delimiter == WHITESPACE:
        return _whitespace_rows(handle, columns)
    lines = _Lines(handle)
    reader = csv.reader(lines, delimiter=delimiter)
    if columns is not None:
        header = list(columns)
    else:
        try:
            header = next(reader)
        except StopIteration:
            return [], iter(())

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        held: tuple[int, list[str]] | None = None  # a row is yielded once the next is read
        record: list[str] = []
        for row in reader:
            if row and any(row):
                if held is not None:
                    yield held
                held = (start, row)
                record = lines.record
            lines.record = []
            start = reader.line_num + 1
        if held is not None:
            if _ends_inside_quotes("".join(record)):
                held = (held[0], TruncatedRow(held[1]))
            yield held

    return header, rows()


def _whitespace_rows(
    handle: IO[str], columns: Sequence[str] | None
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    lines = enumerate(handle, start=1)
    if columns is not None:
        header = list(columns)
    else:
        header = []
        for _, text in lines:
            header = text.split()
            if header:
                break

    def rows() -> Iterator[tuple[int, list[str]]]:
        for line, text in lines:
            row = text.split()
            if row:
                yield line, row

    return header, rows()


def cell(row: list[str], index: int | None) -> str:
    """The cell at ``index``, or "" when the column is absent or the row is short."""
    if index is None or index >= len(row):
        return ""
    return row[index]


def read_groups(
    handle: IO[str],
    columns: Callable[[list[str]], tuple[int, int]],
    wanted: Callable[[str], bool],
) -> tuple[list[str], Iterator[list[tuple[int, list[str]]]]]:
    """The header and the groups of consecutive rows sharing a key column that ``wanted`` takes.

    ``columns(header)`` gives the indexes of the key column and of a probe column;
    ``wanted`` sees the first row's cell in the probe column; the rows of groups it refuses
    are not parsed beyond those two cells (a record without a quote is split at its first
    commas), which is what makes one worker of a parallel import cheap on the others'
    rows. Groups, rows and line numbers are exactly those of :func:`read_rows` (records
    with quotes, even spanning lines, are parsed by the csv module; blank rows skipped).
    """
    lines = iter(handle)
    header_lines = _record(lines)
    if header_lines is None:
        return [], iter(())
    header = next(csv.reader(header_lines))
    if not any(header):
        return [], iter(())
    key, probe = columns(header)
    cut = max(key, probe) + 1

    def groups() -> Iterator[list[tuple[int, list[str]]]]:
        line = 1 + len(header_lines)
        current: str | None = None
        taking = False
        group: list[tuple[int, list[str]]] = []
        for first in lines:
            start = line
            if '"' in first:  # quoted fields, perhaps spanning lines: the csv module reads it
                text = _complete(first, lines)
                line += len(text)
                row: list[str] | None = next(csv.reader(text), [])
                if (
                    row
                    and sum(t.count('"') for t in text) % 2
                    and _ends_inside_quotes("".join(text))
                ):
                    row = TruncatedRow(row)
                head = row or []
            else:  # no quotes: the cells are exactly the comma-separated pieces
                line += 1
                first = first.rstrip("\r\n")
                row = None
                head = first.split(",", cut)
            if not any(head[:cut]):
                if row is None:
                    row = first.split(",")
                if not any(row):
                    continue  # a blank row
            name = head[key] if key < len(head) else ""
            if name != current:
                if group:
                    yield group
                    group = []
                current = name
                taking = wanted(head[probe] if probe < len(head) else "")
            if taking:
                group.append((start, row if row is not None else first.split(",")))
        if group:
            yield group

    return header, groups()


def _record(lines: Iterator[str]) -> list[str] | None:
    """The physical lines of the next CSV record (a quoted field may span lines), or None."""
    try:
        first = next(lines)
    except StopIteration:
        return None
    return _complete(first, lines)


def _complete(first: str, lines: Iterator[str]) -> list[str]:
    """``first`` and the lines that follow it up to the end of its record (even quotes)."""
    quotes = first.count('"')
    text = [first]
    if quotes % 2:
        for more in lines:
            text.append(more)
            quotes += more.count('"')
            if quotes % 2 == 0:
                break
    return text
