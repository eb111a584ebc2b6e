"""Turning a register file's bytes into numbered rows for :func:`parse_register`.

One reader per format, chosen by the file's extension. Each numbers its rows the way the
operator sees them (CSV by the line a row starts on, XLSX by Excel's row number), so the
import's "line N" points at the row to look at. A file a reader cannot make sense of raises
:class:`RegisterFormatError` (or :class:`UnsupportedFormat`) with a message for the operator,
never openpyxl's or the csv module's own exception.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time
from pathlib import PurePath
from typing import Any

import openpyxl  # type: ignore[import-untyped]

from services.identity.domain.register import RegisterFormatError, Row, is_header_row

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
    """Rows of CSV text, each numbered by the line it starts on (quoted cells may span lines).

    Strict, because a quote mark without its partner would otherwise swallow every row up to
    the next quote into one cell without a word, and the import would deactivate them all.
    """
    reader = csv.reader(lines, strict=True)
    start = 1
    try:
        for cells in reader:
            yield start, cells
            start = reader.line_num + 1
    except csv.Error as exc:
        raise RegisterFormatError(
            f"The CSV cannot be read from line {start} on ({exc}): often a quote mark without "
            "its partner. Correct that row (or save the extract from Excel again)."
        ) from None


def read_csv(data: bytes) -> Iterator[Row]:
    return csv_rows(io.StringIO(decode(data), newline=""))


# --- XLSX ----------------------------------------------------------------------------------

#: How Microsoft's older binary files begin: .xls, and also any password-protected workbook.
_OLE2_SIGNATURE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_SAVE_AGAIN = (
    "Open it in Excel and save it as an Excel Workbook (.xlsx), or save the extract as CSV "
    "and import that."
)
_OLD_EXCEL = (
    "Cannot read .xls files (the Excel 97-2003 format) or password-protected workbooks. "
    + _SAVE_AGAIN
)


def cell_text(value: object) -> str:
    """A cell's value as the text the parser reads, close to what Excel shows.

    Numbers typed into a text column come back as floats (79 as 79.0), dates as datetimes.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return f"{value:.15g}"  # Excel's own precision: 0.1 + 0.2 shows as 0.3
    if isinstance(value, datetime):
        if value.time() == time():
            return value.strftime("%d/%m/%Y")
        return value.strftime("%d/%m/%Y %H:%M:%S")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, time):
        return value.isoformat()
    return str(value)


def read_xlsx(data: bytes) -> Iterator[Row]:
    """Rows of the first sheet that holds the register's header (the first sheet, usually),
    numbered as Excel numbers them; cells as :func:`cell_text` writes them."""
    if data.startswith(_OLE2_SIGNATURE):
        raise UnsupportedFormat(_OLD_EXCEL)
    try:
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:
        raise _unreadable(exc) from None
    return _workbook_rows(workbook)


def _workbook_rows(workbook: Any) -> Iterator[Row]:
    try:
        for sheet in workbook.worksheets:
            rows = _sheet_rows(sheet)
            for line, cells in rows:
                if is_header_row(cells):
                    yield line, cells
                    yield from rows
                    return
        names = ", ".join(repr(sheet.title) for sheet in workbook.worksheets)
        raise RegisterFormatError(
            f"No header row found in any sheet ({names}): expected a row with 'Location ID' "
            "and 'Location ODS Code'."
        )
    except RegisterFormatError:
        raise
    except Exception as exc:
        # A damaged workbook fails inside openpyxl in many ways (zip, XML, missing parts),
        # some only when its rows are read, since read-only mode streams them.
        raise _unreadable(exc) from None
    finally:
        workbook.close()


def _sheet_rows(sheet: Any) -> Iterator[Row]:
    # The size a workbook records for a sheet can be wrong (some tools write "A1"), and
    # openpyxl would stop reading there: read every row the sheet really has instead.
    sheet.reset_dimensions()
    for line, values in enumerate(sheet.iter_rows(values_only=True), start=1):
        yield line, [cell_text(value) for value in values]


def _unreadable(exc: Exception) -> RegisterFormatError:
    detail = str(exc) or type(exc).__name__
    return RegisterFormatError(
        f"The file is not an Excel workbook that can be read ({detail}). {_SAVE_AGAIN}"
    )


READERS: dict[str, RowReader] = {".csv": read_csv, ".xlsx": read_xlsx}
#: Formats recognised only to say what to do instead.
REFUSED = {".xls": _OLD_EXCEL}


def reader_for(filename: str) -> RowReader:
    suffix = PurePath(filename).suffix.lower()
    if suffix in REFUSED:
        raise UnsupportedFormat(REFUSED[suffix])
    reader = READERS.get(suffix)
    if reader is None:
        known = ", ".join(sorted(READERS))
        raise UnsupportedFormat(
            f"Cannot read {suffix or 'this kind of'} files (this import reads {known}): save "
            "the extract as CSV or as an Excel Workbook (.xlsx) and import that."
        )
    return reader
