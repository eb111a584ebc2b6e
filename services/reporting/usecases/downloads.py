"""The CSV files analysts download, written from the report's figures: the API's and the
page's downloads are the same files, with the same names and suppression."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CsvFile:
    name: str
    text: str


def csv_field(value: object) -> str:
    """One CSV field, quoted when it must be (a local authority's name may hold a comma)."""
    text = str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text


def table_file(header: list[str], rows: Iterable[Iterable[Any]], name: str) -> CsvFile:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return CsvFile(name, out.getvalue())


def series_file(
    header: list[str], data: dict[str, Any], by_series_first: bool, name: str
) -> CsvFile:
    """Columns of per-day figures as CSV rows, written directly (27,000 rows for local
    authorities by day: the csv module's per-row cost would be most of the answer's time)."""
    days: list[str] = data["days"]
    lines = [",".join(header)]
    if by_series_first:
        for series_name, columns in data["series"].items():
            label = csv_field(series_name)
            lines += [
                f"{label},{day},{value},{running}"
                for day, value, running in zip(
                    days, columns["value"], columns["cumulative"], strict=True
                )
            ]
    else:
        series = [(csv_field(n), c["value"], c["cumulative"]) for n, c in data["series"].items()]
        for i, day in enumerate(days):
            lines += [f"{day},{label},{value[i]},{running[i]}" for label, value, running in series]
    return CsvFile(name, "\n".join(lines) + "\n")


#: The key that names each item of a list in the figures (an age band, a time band, a day).
_LIST_LABELS = ("age", "time", "day")


def _flatten(prefix: str, value: Any) -> Iterable[tuple[str, Any]]:
    """Nested figures as (dotted.name[label], value) rows for the summary CSV."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), inner)
    elif isinstance(value, list):
        for item in value:
            key = next(k for k in _LIST_LABELS if k in item)
            rest = {k: v for k, v in item.items() if k != key}
            yield from _flatten(f"{prefix}[{item[key]}]", rest)
    else:
        yield prefix, "" if value is None else value


def figures_file(data: dict[str, Any]) -> CsvFile:
    """The summary's figures as (figure, value) rows: the same names and values as the JSON."""
    return table_file(["figure", "value"], _flatten("", data), "care-badges-figures.csv")


def daily_file(data: dict[str, Any]) -> CsvFile:
    return series_file(
        ["day", "metric", "value", "cumulative"], data, False, "care-badges-daily.csv"
    )


def breakdown_file(dimension: str, rows: list[dict[str, Any]]) -> CsvFile:
    metrics = list(rows[0]["figures"]) if rows else []
    return table_file(
        [dimension, *metrics],
        ([r["value"], *(r["figures"][m] for m in metrics)] for r in rows),
        f"care-badges-by-{dimension.replace('_', '-')}.csv",
    )
