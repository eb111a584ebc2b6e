"""A synthetic CQC register in the real "HSCA Active Locations" layout, of any size.

Benchmarks need more distinct locations than the sample holds (each location orders once).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

HEADER_SOURCE = Path(__file__).resolve().parents[1] / "data" / "cqc-register-sample.csv"
AREAS = ["LS", "M", "B", "E", "N", "SE", "BS", "NE", "S", "NG", "LE", "OX", "BN", "PL", "YO"]


def _postcode(rng: random.Random) -> str:
    return f"{rng.choice(AREAS)}{rng.randint(1, 9)} {rng.randint(1, 9)}AB"


def write_register(path: Path, count: int, seed: int = 7) -> list[dict[str, str]]:
    """Write ``count`` active adult social care locations; returns email and ODS per row."""
    rng = random.Random(seed)
    with HEADER_SOURCE.open(newline="", encoding="utf-8-sig") as f:
        header = next(csv.reader(f))
    rows: list[dict[str, str]] = []
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header)
        writer.writeheader()
        for i in range(count):
            care_home = i % 3 == 0
            row = dict.fromkeys(header, "")
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
                    "Location Postal Code": _postcode(rng),
                    "Provider ID": f"1-8{i:09d}",
                    "Provider Name": f"Bench Provider {i}",
                    "Provider Type/Sector": "Social Care Org",
                    "Location Email": f"manager{i}@bench-care.example",
                }
            )
            writer.writerow(row)
            rows.append(
                {
                    "email": row["Location Email"],
                    "ods": row["Location ODS Code"],
                    "location_id": row["Location ID"],
                }
            )
    return rows
