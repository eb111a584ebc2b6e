"""Reading CQC's register of locations into the locations that may sign in.

CQC's extracts are made by hand in spreadsheets: title rows above the header, a byte-order
mark, extra or reordered columns, stray spaces and mixed case all occur. The parser finds the
header by what it says, reads every column by name, and explains each row it leaves out so an
operator can check the import. It takes rows (line number and cells), so every file format that
can produce rows (CSV and XLSX, see ``register_files``) shares it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field

from services.identity.domain.credentials import signs_in_with_postcode
from shared.events import Location

#: One row of a register file: its line number (for the operator) and its cells.
Row = tuple[int, Sequence[str]]

ADULT_SOCIAL_CARE = "adult social care"

#: Header wording (folded) of each column the import reads, by the field it fills.
COLUMNS = {
    "location_id": "location id",
    "ods_code": "location ods code",
    "dormant": "dormant (y/n)",
    "care_home": "care home?",
    "name": "location name",
    "care_home_beds": "care homes beds",
    "directorate": "location inspection directorate",
    "inspection_category": "location primary inspection category",
    "region": "location region",
    "local_authority": "location local authority",
    "address_line_1": "location street address",
    "address_line_2": "location address line 2",
    "city": "location city",
    "county": "location county",
    "postcode": "location postal code",
    "provider_id": "provider id",
    "provider_name": "provider name",
    "email": "location email",
}
#: Columns that may be absent from an extract: their fields are then left empty.
OPTIONAL_COLUMNS = frozenset(
    {"care_home", "care_home_beds", "region", "local_authority", "address_line_2", "city", "county"}
)
_HEADER_MARKERS = (COLUMNS["location_id"], COLUMNS["ods_code"])


class RegisterFormatError(ValueError):
    """The file is not a register extract the import can read; nothing is imported."""


@dataclass(frozen=True)
class RegisterLocation:
    """One location as identity keeps it. ``ods_code`` is None for the locations CQC gives
    none, which sign in with their postcode instead."""

    location_id: str
    ods_code: str | None
    name: str
    address_line_1: str
    address_line_2: str
    city: str
    county: str
    postcode: str
    email: str
    provider_id: str
    provider_name: str
    care_home: bool
    care_home_beds: int | None
    inspection_category: str
    region: str
    local_authority: str

    def as_event(self) -> Location:
        """The location as events carry it: organisational data only, so no email."""
        fields = asdict(self)
        del fields["email"]
        fields["ods_code"] = self.ods_code or ""
        return Location(**fields)


@dataclass(frozen=True)
class SkippedRow:
    line: int
    reason: str


@dataclass
class RegisterExtract:
    locations: list[RegisterLocation] = field(default_factory=list)
    skipped: list[SkippedRow] = field(default_factory=list)


#: Characters that print as nothing (a stray BOM, zero-width spaces pasted from web pages).
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"))


def fold_header(cell: str) -> str:
    """Header text compared case-insensitively, spaces collapsed, invisible characters ignored."""
    return clean(cell).casefold()


def is_header_row(cells: Sequence[str]) -> bool:
    """Whether a row is the extract's header: it names the location ID and ODS code columns."""
    folded = {fold_header(cell) for cell in cells}
    return all(marker in folded for marker in _HEADER_MARKERS)


def fold_email(email: str) -> str:
    """Email as accounts and the register key it: case and surrounding spaces do not count."""
    return email.strip().lower()


def clean(value: str) -> str:
    """A cell's text with stray spaces (non-breaking ones too) collapsed and invisible
    characters removed."""
    return " ".join(value.translate(_INVISIBLE).split())


def _yes(value: str) -> bool:
    """CQC's Y/N columns, however the spreadsheet's author typed them."""
    return value.casefold() in {"y", "yes"}


_COMPACT_POSTCODE = re.compile(r"^[A-Z0-9]{5,7}$")


def tidy_postcode(postcode: str) -> str:
    """Upper case with the single space before the inward code, as Royal Mail writes it."""
    compact = "".join(postcode.split()).upper()
    if _COMPACT_POSTCODE.match(compact):
        return f"{compact[:-3]} {compact[-3:]}"
    return clean(postcode).upper()


def parse_register(rows: Iterable[Row]) -> RegisterExtract:
    """The adult social care locations of an extract, and every data row left out with why."""
    iterator = iter(rows)
    columns = _find_header(iterator)
    extract = RegisterExtract()
    seen: dict[str, int] = {}
    for line, cells in iterator:
        if not any(cell.strip() for cell in cells):
            continue
        values = {
            name: clean(cells[index]) if index < len(cells) else ""
            for name, index in columns.items()
        }
        if values["location_id"].casefold() == COLUMNS["location_id"]:
            # Extracts pasted one under another repeat the header; it is not a location.
            extract.skipped.append(SkippedRow(line, "the header row again"))
            continue
        reason = _reason_to_skip(values)
        if reason is None and values["location_id"] in seen:
            reason = f"location {values['location_id']} repeats line {seen[values['location_id']]}"
        if reason is not None:
            extract.skipped.append(SkippedRow(line, reason))
            continue
        seen[values["location_id"]] = line
        extract.locations.append(_location(values))
    return extract


def _find_header(rows: Iterator[Row]) -> dict[str, int]:
    """Consume rows up to and including the header; map each field to its column index."""
    for _line, cells in rows:
        if not is_header_row(cells):
            continue
        folded = [fold_header(cell) for cell in cells]
        columns = {
            name: folded.index(header) for name, header in COLUMNS.items() if header in folded
        }
        missing = [
            header
            for name, header in COLUMNS.items()
            if name not in columns and name not in OPTIONAL_COLUMNS
        ]
        if missing:
            raise RegisterFormatError(
                "The header row has no column for: " + ", ".join(repr(m) for m in missing)
            )
        return columns
    raise RegisterFormatError(
        "No header row found: expected a row with 'Location ID' and 'Location ODS Code'."
    )


def _reason_to_skip(values: dict[str, str]) -> str | None:
    if values["directorate"].casefold() != ADULT_SOCIAL_CARE:
        return f"not adult social care (directorate {values['directorate'] or 'empty'!r})"
    if _yes(values["dormant"]):
        return "dormant location"
    if not values["location_id"]:
        return "no location ID"
    if not values["ods_code"] and not signs_in_with_postcode(values["inspection_category"]):
        return "no ODS code, and its inspection category does not sign in with the postcode"
    if not values["email"]:
        return "no email address"
    if "@" not in values["email"]:
        return "email address is not valid"
    if not values["postcode"]:
        return "no postcode"
    return None


_WHOLE_NUMBER = re.compile(r"^([0-9]+)(?:\.0*)?$")


def _whole_number(value: str) -> int | None:
    """A count as typed ("79") or as a spreadsheet exported it ("79.0"); None if neither."""
    match = _WHOLE_NUMBER.match(value)
    return int(match.group(1)) if match else None


def _location(values: dict[str, str]) -> RegisterLocation:
    return RegisterLocation(
        location_id=values["location_id"],
        ods_code="".join(values["ods_code"].split()).upper() or None,
        name=values["name"],
        address_line_1=values["address_line_1"],
        address_line_2=values.get("address_line_2", ""),
        city=values.get("city", ""),
        county=values.get("county", ""),
        postcode=tidy_postcode(values["postcode"]),
        email=fold_email(values["email"]),
        provider_id=values["provider_id"],
        provider_name=values["provider_name"],
        care_home=_yes(values.get("care_home", "")),
        care_home_beds=_whole_number(values.get("care_home_beds", "")),
        inspection_category=values["inspection_category"],
        region=values.get("region", ""),
        local_authority=values.get("local_authority", ""),
    )
