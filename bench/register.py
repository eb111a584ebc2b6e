"""A synthetic CQC register in the real "HSCA Active Locations" layout, of any size.

Benchmarks need more distinct locations than the sample holds (each location orders once).
Written as CSV, or as XLSX with numbers and dates typed as Excel types them.
"""

from __future__ import annotations

import csv
import random
from datetime import datetime
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]

HEADER_SOURCE = Path(__file__).resolve().parents[1] / "data" / "cqc-register-sample.csv"
AREAS = ["LS", "M", "B", "E", "N", "SE", "BS", "NE", "S", "NG", "LE", "OX", "BN", "PL", "YO"]
#: Columns an XLSX extract holds as numbers and dates rather than text.
_NUMBERS = ("Care homes beds",)
_DATES = ("Location HSCA start date",)


#: Letters a postcode's unit uses (never C, I, K, M, O or V).
_UNIT = "ABDEFGHJLNPQRSTUWXYZ"


def _postcode(i: int) -> str:
    """A postcode of its own for location ``i`` (5.9 million before any repeats).

    Real locations rarely share one. When 31,000 generated locations shared 1,215 postcodes
    (and names that differ only by a number), verification rightly took most of them for one
    organisation ordering twice and referred them, which no real launch would see.
    """
    i, area = divmod(i, len(AREAS))
    i, district = divmod(i, 99)
    i, sector = divmod(i, 10)
    first, second = divmod(i % len(_UNIT) ** 2, len(_UNIT))
    return f"{AREAS[area]}{district + 1} {sector}{_UNIT[first]}{_UNIT[second]}"


def header() -> list[str]:
    with HEADER_SOURCE.open(newline="", encoding="utf-8-sig") as f:
        return next(csv.reader(f))


def generate(count: int, seed: int = 7) -> list[dict[str, str]]:
    """``count`` active adult social care locations, every column of the layout filled or
    empty. The first ``n`` rows are the same whatever ``count`` is, so a longer register is the
    shorter one with new locations added."""
    rng = random.Random(seed)
    columns = header()
    rows: list[dict[str, str]] = []
    for i in range(count):
        care_home = i % 3 == 0
        row = dict.fromkeys(columns, "")
        row.update(
            {
                "Location ID": f"1-9{i:09d}",
                "Location HSCA start date": "01/04/2015",
                "Dormant (Y/N)": "N",
                "Care home?": "Y" if care_home else "N",
                "Location Name": f"Bench Care {i}",
                "Location ODS Code": f"B{i:06X}"[:7],
                "Care homes beds": str(rng.randint(20, 90)) if care_home else "",
                "Location Type/Sector": "Social Care Org",
                "Location Inspection Directorate": "Adult social care",
                "Location Primary Inspection Category": (
                    "Residential social care"
                    if care_home
                    else "Community based adult social care services"
                ),
                "Location Region": "North East",
                "Location Local Authority": "Bench LA",
                "Location Street Address": f"{i % 200 + 1} Bench Road",
                "Location City": "Benchton",
                "Location Postal Code": _postcode(i),
                "Provider ID": f"1-8{i:09d}",
                "Provider Name": f"Bench Provider {i}",
                "Provider Type/Sector": "Social Care Org",
                "Location Email": f"manager{i}@bench-care.example",
            }
        )
        rows.append(row)
    return rows


def save(path: Path, rows: list[dict[str, str]]) -> None:
    """Write the rows as CSV or XLSX, by the path's suffix."""
    columns = header()
    if path.suffix.lower() == ".xlsx":
        workbook = openpyxl.Workbook(write_only=True)
        sheet = workbook.create_sheet("HSCA_Active_Locations")
        sheet.append(columns)
        for row in rows:
            sheet.append([_typed(column, row[column]) for column in columns])
        workbook.save(path)
        return
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _typed(column: str, value: str) -> object:
    if not value:
        return None
    if column in _NUMBERS:
        return int(value)
    if column in _DATES:
        return datetime.strptime(value, "%d/%m/%Y")
    return value


def write_register(path: Path, count: int, seed: int = 7) -> list[dict[str, str]]:
    """Write ``count`` active adult social care locations; returns email and ODS per row."""
    rows = generate(count, seed)
    save(path, rows)
    return [
        {
            "email": row["Location Email"],
            "ods": row["Location ODS Code"],
            "location_id": row["Location ID"],
        }
        for row in rows
    ]
