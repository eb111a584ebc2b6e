"""Turning a register file's bytes into numbered rows for :func:`parse_register`.

One reader per format, chosen by the file's extension; XLSX joins :data:`READERS` as another
function from bytes to rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import PurePath

from services.identity.domain.register import Row

RowReader = Callable[[bytes], Iterable[Row]]


class UnsupportedFormat(ValueError):
    """No reader for this kind of file."""


def decode(data: bytes) -> str:
    """File bytes as text. Excel saves "CSV UTF-8" with a BOM and plain "CSV" as Windows-1252,
    so both are accepted."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def csv_rows(lines: Iterable[str]) -> Iterator[Row]:
    """Rows of CSV text, each numbered by the line it starts on (quoted cells may span lines)."""
    reader = csv.reader(lines)
    start = 1
    for cells in reader:
        yield start, cells
        start = reader.line_num + 1


def read_csv(data: bytes) -> Iterator[Row]:
    return csv_rows(io.StringIO(decode(data), newline=""))


READERS: dict[str, RowReader] = {".csv": read_csv}


def reader_for(filename: str) -> RowReader:
    suffix = PurePath(filename).suffix.lower()
    reader = READERS.get(suffix)
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise UnsupportedFormat(
            f"Cannot read {suffix or 'this kind of'} files (this import reads {known}): save "
            "the extract as CSV and import that."
        )
    return reader
