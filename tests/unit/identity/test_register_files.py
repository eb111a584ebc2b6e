"""Register files as operators really have them, CSV or XLSX, read into the same locations.

``tests/fixtures/register/messy.csv`` holds the mess the issue lists (a BOM, title rows, extra
and reordered columns, stray and non-breaking spaces, mixed case, CRLF); its XLSX twin is built
here from the same rows, with numbers and dates typed as Excel types them, so both formats must
give the same locations and report the same skipped lines.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Callable
from datetime import date, datetime, time
from pathlib import Path

import openpyxl  # type: ignore[import-untyped]
import pytest

from services.identity import cli
from services.identity.domain.register import (
    RegisterExtract,
    RegisterFormatError,
    SkippedRow,
    parse_register,
)
from services.identity.domain.register_files import (
    UnsupportedFormat,
    cell_text,
    read_csv,
    read_xlsx,
    reader_for,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "register"
MESSY = FIXTURES / "messy.csv"
HEADER = [
    "Location ID",
    "Dormant (Y/N)",
    "Location Name",
    "Location ODS Code",
    "Location Inspection Directorate",
    "Location Primary Inspection Category",
    "Location Street Address",
    "Location Postal Code",
    "Provider ID",
    "Provider Name",
    "Location Email",
]
_DIGITS = re.compile(r"^[0-9]+$")
_DATE = re.compile(r"^[0-9]{2}/[0-9]{2}/[0-9]{4}$")

Sheet = dict[int, list[object]]


def location(location_id: str = "1-100", dormant: str = "N") -> list[object]:
    return [
        location_id,
        dormant,
        "Rose House",
        "VABC1",
        "Adult social care",
        "Residential social care",
        "1 High Street",
        "E18 2NS",
        "1-900",
        "Rose Care Ltd",
        "manager@example.org",
    ]


def workbook(sheets: dict[str, Sheet]) -> bytes:
    """An .xlsx with the given sheets, each a map of Excel row number to its cells."""
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for number, cells in rows.items():
            for column, value in enumerate(cells, start=1):
                if value not in (None, ""):
                    sheet.cell(row=number, column=column, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_excel_types(value: str) -> object:
    """A CSV cell as Excel would hold it once typed in: numbers as floats, dates as dates."""
    if _DIGITS.match(value):
        return float(value)
    if _DATE.match(value):
        return datetime.strptime(value, "%d/%m/%Y")
    return value


_INLINE = re.compile(rb'<c r="([A-Z]+[0-9]+)"([^>]*) t="inlineStr"><is><t[^>]*>(.*?)</t></is></c>')
_SST_TYPE = b"application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
_SST_REL = b"http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def with_shared_strings(data: bytes) -> bytes:
    """The workbook as Excel saves it: text in one shared table that cells point into (openpyxl
    writes it inline in each cell)."""
    strings: list[bytes] = []

    def point(match: re.Match[bytes]) -> bytes:
        strings.append(match.group(3))
        return b'<c r="%s"%s t="s"><v>%d</v></c>' % (match[1], match[2], len(strings) - 1)

    data = rewrite_part(data, "xl/worksheets/sheet1.xml", lambda xml: _INLINE.sub(point, xml))
    table = b"".join(b'<si><t xml:space="preserve">%s</t></si>' % text for text in strings)
    data = rewrite_part(
        data,
        "[Content_Types].xml",
        lambda xml: xml.replace(
            b"</Types>",
            b'<Override PartName="/xl/sharedStrings.xml" ContentType="%s"/></Types>' % _SST_TYPE,
        ),
    )
    data = rewrite_part(
        data,
        "xl/_rels/workbook.xml.rels",
        lambda xml: xml.replace(
            b"</Relationships>",
            b'<Relationship Id="rIdSst" Type="%s" Target="sharedStrings.xml"/></Relationships>'
            % _SST_REL,
        ),
    )
    out = io.BytesIO(data)
    with zipfile.ZipFile(out, "a") as archive:
        archive.writestr(
            "xl/sharedStrings.xml",
            b'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">%s</sst>'
            % table,
        )
    return out.getvalue()


def messy_xlsx() -> bytes:
    csv_rows = read_csv(MESSY.read_bytes())
    rows = {line: [as_excel_types(cell) for cell in cells] for line, cells in csv_rows}
    return with_shared_strings(workbook({"HSCA_Active_Locations": rows}))


def rewrite_part(data: bytes, part: str, change: Callable[[bytes], bytes]) -> bytes:
    """The workbook with one of its zip parts changed."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            content = source.read(item)
            target.writestr(item, change(content) if item.filename == part else content)
    return out.getvalue()


# --- the messy extract, both formats --------------------------------------------------------


@pytest.fixture(params=["csv", "xlsx"])
def messy(request: pytest.FixtureRequest) -> RegisterExtract:
    if request.param == "csv":
        return parse_register(read_csv(MESSY.read_bytes()))
    return parse_register(read_xlsx(messy_xlsx()))


def test_messy_extract_keeps_the_adult_social_care_locations(messy: RegisterExtract) -> None:
    assert [loc.location_id for loc in messy.locations] == ["1-101", "1-103", "1-106", "1-109"]
    rose, oak, hospice, ash = messy.locations
    assert (rose.name, rose.ods_code, rose.postcode) == ("Rose House", "VABC1", "E18 2NS")
    assert (rose.email, rose.provider_name) == ("manager@rose.example", "Rose Care Ltd")
    assert (rose.care_home, rose.care_home_beds) == (True, 79)
    assert (oak.care_home, oak.care_home_beds) == (True, 12)
    assert (hospice.ods_code, hospice.postcode) == (None, "PL1 1AA")
    assert ash.location_id == "1-109"
    # Columns this extract leaves out are empty, not an error.
    assert (rose.city, rose.county, rose.region, rose.local_authority) == ("", "", "", "")


def test_messy_extract_reports_each_skip_on_the_line_the_operator_sees(
    messy: RegisterExtract,
) -> None:
    assert messy.skipped == [
        SkippedRow(6, "dormant location"),
        SkippedRow(8, "not adult social care (directorate 'Hospitals')"),
        SkippedRow(9, "dormant location"),
        SkippedRow(12, "location 1-101 repeats line 5"),
        SkippedRow(13, "no email address"),
    ]


def test_windows_1252_fixture_keeps_accents_and_curly_quotes() -> None:
    extract = parse_register(read_csv((FIXTURES / "windows-1252.csv").read_bytes()))
    assert extract.skipped == []
    cafe, st_johns = extract.locations
    assert cafe.name == "Café Rose"
    assert st_johns.name == "St John\u2019s House"
    assert st_johns.address_line_2 == "\u201cThe Old Vicarage\u201d"
    assert st_johns.provider_name == "St John\u2019s Trust"


# --- CSV hardening ----------------------------------------------------------------------------


def test_unbalanced_quote_stops_the_import_at_its_line() -> None:
    """Leniently parsed, the open quote would swallow the rows below it into one cell, and
    the import would then deactivate those locations."""
    header = ",".join(HEADER)
    rows = [",".join(str(c) for c in location(f"1-{i}")) for i in range(3)]
    rows[1] = rows[1].replace("Rose House", '"Rose House')
    with pytest.raises(RegisterFormatError, match="from line 3 on"):
        parse_register(read_csv("\n".join([header, *rows]).encode()))


def test_yes_no_columns_and_exported_numbers_are_read_as_meant() -> None:
    header = ",".join([*HEADER, "Care home?", "Care homes beds"])
    rows = [
        ",".join([*(str(c) for c in location("1-1", dormant="no")), "YES", "79.0"]),
        ",".join([*(str(c) for c in location("1-2", dormant="Yes")), "n", ""]),
        ",".join([*(str(c) for c in location("1-3")), "y", "about 40"]),
    ]
    extract = parse_register(read_csv("\n".join([header, *rows]).encode()))
    one, three = extract.locations
    assert (one.care_home, one.care_home_beds) == (True, 79)
    assert (three.care_home, three.care_home_beds) == (True, None)
    assert extract.skipped == [SkippedRow(3, "dormant location")]


def test_a_header_repeated_below_the_data_is_reported_not_loaded() -> None:
    header = ",".join(HEADER)
    rows = [",".join(str(c) for c in location(f"1-{i}")) for i in range(2)]
    extract = parse_register(read_csv("\n".join([header, rows[0], header, rows[1]]).encode()))
    assert len(extract.locations) == 2
    assert extract.skipped == [SkippedRow(3, "the header row again")]


def test_invisible_characters_in_the_header_do_not_hide_a_column() -> None:
    header = ",".join(["\u200bLocation ID", *HEADER[1:-1], "Location\u00a0Email\u2060"])
    row = ",".join(str(c) for c in location())
    [loc] = parse_register(read_csv(f"{header}\n{row}".encode())).locations
    assert loc.email == "manager@example.org"


# --- XLSX -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, ""),
        ("  as typed ", "  as typed "),
        (79, "79"),
        (79.0, "79"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.3"),
        (1265862673.0, "1265862673"),
        (True, "TRUE"),
        (datetime(2011, 7, 18), "18/07/2011"),
        (datetime(2011, 7, 18, 9, 30), "18/07/2011 09:30:00"),
        (date(2011, 7, 18), "18/07/2011"),
        (time(9, 30), "09:30:00"),
    ],
)
def test_cells_become_the_text_excel_shows(value: object, text: str) -> None:
    assert cell_text(value) == text


def test_xlsx_rows_are_numbered_as_excel_numbers_them_and_typed_cells_read_as_text() -> None:
    data = workbook(
        {
            "Locations": {
                2: ["HSCA Active Locations"],
                4: [*HEADER, "Care homes beds", "Location HSCA start date"],
                5: [*location("1-1"), 79.0, datetime(2011, 7, 18)],
                9: location("1-2", dormant="Y"),
            }
        }
    )
    rows = [(line, cells) for line, cells in read_xlsx(data) if cells]
    assert [line for line, _ in rows] == [4, 5, 9]
    assert rows[1][1][-2:] == ["79", "18/07/2011"]
    extract = parse_register(read_xlsx(data))
    assert extract.locations[0].care_home_beds == 79
    assert extract.skipped == [SkippedRow(9, "dormant location")]


def test_numbers_typed_into_text_columns_keep_no_decimal_point() -> None:
    row = location("1-1")
    row[3] = 12345.0  # an ODS code Excel took for a number
    [loc] = parse_register(read_xlsx(workbook({"Sheet1": {1: HEADER, 2: row}}))).locations
    assert loc.ods_code == "12345"


def test_the_sheet_holding_the_header_is_read_when_it_is_not_the_first() -> None:
    data = workbook(
        {
            "Read me": {1: ["Notes on this extract"], 2: ["Location ID is CQC's key"]},
            "Locations": {3: HEADER, 4: location("1-1")},
            "Pivot": {1: HEADER, 2: location("1-9")},
        }
    )
    extract = parse_register(read_xlsx(data))
    assert [loc.location_id for loc in extract.locations] == ["1-1"]


def test_a_workbook_without_the_header_names_the_sheets_it_searched() -> None:
    data = workbook({"Summary": {1: ["Total", 30000]}, "Chart data": {1: ["a", "b"]}})
    with pytest.raises(RegisterFormatError, match=r"No header row .*'Summary', 'Chart data'"):
        parse_register(read_xlsx(data))


def test_a_wrongly_recorded_sheet_size_does_not_cut_rows_off() -> None:
    data = workbook({"Sheet1": {1: HEADER, 2: location("1-1"), 3: location("1-2")}})
    data = rewrite_part(
        data,
        "xl/worksheets/sheet1.xml",
        lambda xml: re.sub(rb'<dimension ref="[^"]*"', b'<dimension ref="A1"', xml),
    )
    assert b'<dimension ref="A1"' in zipfile.ZipFile(io.BytesIO(data)).read(
        "xl/worksheets/sheet1.xml"
    )
    assert len(parse_register(read_xlsx(data)).locations) == 2


def _good_workbook() -> bytes:
    rows: Sheet = {1: HEADER, **{n: location(f"1-{n}") for n in range(2, 50)}}
    return with_shared_strings(workbook({"Sheet1": rows}))


def test_the_workbooks_these_tests_damage_are_readable_undamaged() -> None:
    data = _good_workbook()
    assert b"sharedStrings.xml" in data
    assert len(parse_register(read_xlsx(data)).locations) == 48


def _zip_of(name: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, content)
    return out.getvalue()


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(b"PK", id="two bytes"),
        pytest.param(b"Location ID,Location ODS Code\n", id="a CSV named .xlsx"),
        pytest.param(_good_workbook()[:2000], id="truncated"),
        pytest.param(_zip_of("hello.txt", b"hello"), id="a zip but no workbook"),
        pytest.param(
            rewrite_part(
                _good_workbook(), "xl/worksheets/sheet1.xml", lambda xml: xml[: len(xml) // 2]
            ),
            id="sheet cut short",
        ),
        pytest.param(
            rewrite_part(_good_workbook(), "xl/workbook.xml", lambda _: b"not xml"),
            id="workbook part not xml",
        ),
        pytest.param(
            rewrite_part(_good_workbook(), "xl/sharedStrings.xml", lambda xml: xml[:-30]),
            id="shared strings cut short",
        ),
        pytest.param(
            rewrite_part(
                _good_workbook(),
                "xl/sharedStrings.xml",
                lambda xml: re.sub(rb"<si>.*</si>", b"<si><t>only one</t></si>", xml),
            ),
            id="cells point past the shared strings",
        ),
    ],
)
def test_a_damaged_workbook_is_refused_with_a_message(data: bytes) -> None:
    with pytest.raises(RegisterFormatError, match="not an Excel workbook that can be read"):
        parse_register(read_xlsx(data))


def test_an_old_xls_named_xlsx_is_refused_with_what_to_do() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    with pytest.raises(UnsupportedFormat, match=r"save it as an Excel Workbook \(\.xlsx\)"):
        read_xlsx(ole2)


# --- choosing the reader, and the command -----------------------------------------------------


def test_readers_by_extension() -> None:
    assert reader_for("Extract.CSV") is read_csv
    assert reader_for("HSCA_Active_Locations.XLSX") is read_xlsx
    with pytest.raises(UnsupportedFormat, match=r"\.xls files .* save it as .*\.xlsx.* or .*CSV"):
        reader_for("extract.xls")
    with pytest.raises(UnsupportedFormat, match=r"reads \.csv, \.xlsx"):
        reader_for("extract.ods")


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("extract.xlsx", b"PK\x03\x04 damaged", "not an Excel workbook that can be read"),
        ("extract.xls", b"\xd0\xcf\x11\xe0", "Excel 97-2003"),
        ("extract.xlsx", workbook({"Sheet1": {1: ["a", "b"]}}), "No header row"),
        ("extract.csv", (",".join(HEADER) + '\n"1-1,\n').encode(), "quote mark"),
    ],
)
def test_the_command_refuses_an_unreadable_file_and_imports_nothing(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    name: str,
    data: bytes,
    message: str,
) -> None:
    async def must_not_store(*_: object) -> None:
        raise AssertionError("nothing may be imported")

    monkeypatch.setattr(cli, "_store", must_not_store)
    path = tmp_path / name
    path.write_bytes(data)
    assert cli.main(["register", "import", str(path)]) == 1
    err = capsys.readouterr().err
    assert message in err
    assert "Nothing was imported" in err
    assert "Traceback" not in err
