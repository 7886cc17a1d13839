"""Reading delimited exports row by row with their line numbers and a checked header."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
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


def open_text(path: PathLike) -> IO[str]:
    """Open an export for reading: UTF-8 (with or without BOM), universal newlines for csv."""
    return Path(path).open(encoding="utf-8-sig", newline="")


def read_rows(
    handle: IO[str], *, delimiter: str = ","
) -> tuple[list[str], Iterator[tuple[int, list[str]]]]:
    """The header and an iterator of ``(line, row)``; ``line`` is where the row starts (1-based)."""
    reader = csv.reader(handle, delimiter=delimiter)
    try:
        header = next(reader)
    except StopIteration:
        return [], iter(())

    def rows() -> Iterator[tuple[int, list[str]]]:
        start = reader.line_num + 1
        for row in reader:
            if row and any(row):
                yield start, row
            start = reader.line_num + 1

    return header, rows()


def cell(row: list[str], index: int | None) -> str:
    """The cell at ``index``, or "" when the column is absent or the row is short."""
    if index is None or index >= len(row):
        return ""
    return row[index]
