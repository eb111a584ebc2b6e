"""The register import copes with extracts as CQC really sends them and explains every skip."""

from pathlib import Path

import pytest

from services.identity.domain.register import (
    RegisterExtract,
    RegisterFormatError,
    SkippedRow,
    parse_register,
)
from services.identity.domain.register_files import csv_rows, decode, read_csv

HEADER = (
    "Location ID,Dormant (Y/N),Care home?,Location Name,Location ODS Code,Care homes beds,"
    "Location Inspection Directorate,Location Primary Inspection Category,Location Region,"
    "Location Local Authority,Location Street Address,Location Address Line 2,Location City,"
    "Location County,Location Postal Code,Provider ID,Provider Name,Location Email"
)


def row(
    location_id: str = "1-100",
    dormant: str = "N",
    ods: str = "VABC1",
    directorate: str = "Adult social care",
    category: str = "Residential social care",
    postcode: str = "E18 2NS",
    email: str = "manager@example.org",
) -> str:
    return (
        f"{location_id},{dormant},Y,Rose House,{ods},12,{directorate},{category},London,"
        f"Camden,1 High Street,,Town,,{postcode},1-900,Rose Care Ltd,{email}"
    )


def parse(text: str) -> RegisterExtract:
    return parse_register(read_csv(text.encode("utf-8")))


def test_clean_extract_gives_locations_with_every_field() -> None:
    extract = parse("\n".join([HEADER, row()]))
    assert extract.skipped == []
    [loc] = extract.locations
    assert loc.location_id == "1-100"
    assert loc.ods_code == "VABC1"
    assert loc.name == "Rose House"
    assert loc.postcode == "E18 2NS"
    assert loc.email == "manager@example.org"
    assert loc.provider_id == "1-900"
    assert loc.provider_name == "Rose Care Ltd"
    assert loc.care_home is True
    assert loc.care_home_beds == 12
    assert loc.region == "London"
    assert loc.local_authority == "Camden"
    assert loc.inspection_category == "Residential social care"


def test_bom_and_title_rows_above_the_header() -> None:
    text = "\n".join(["HSCA Active Locations,,", "Extract of 1 March,,", "", HEADER, row()])
    extract = parse_register(read_csv(b"\xef\xbb\xbf" + text.encode("utf-8")))
    assert [loc.location_id for loc in extract.locations] == ["1-100"]
    assert extract.skipped == []


def test_bom_on_the_header_itself_when_given_text() -> None:
    extract = parse_register(csv_rows(["\ufeff" + HEADER, row()]))
    assert len(extract.locations) == 1


def test_reordered_extra_mixed_case_and_spaced_headers_and_values() -> None:
    header = (
        "  provider NAME , Location  Email,Something New,LOCATION ID,location ods code,"
        "Location Postal Code ,Location Inspection Directorate,Dormant (y/n),Location Name,"
        "Location Street Address,Provider ID,Location Primary Inspection Category"
    )
    data = (
        " Rose Care Ltd ,  Manager@Example.ORG ,whatever, 1-200 , vab c2 ,e18  2ns, ADULT social "
        "CARE ,n, Rose   House ,1 High Street,1-900,Residential social care"
    )
    extract = parse("\n".join([header, data]))
    assert extract.skipped == []
    [loc] = extract.locations
    assert loc.location_id == "1-200"
    assert loc.ods_code == "VABC2"
    assert loc.email == "manager@example.org"
    assert loc.postcode == "E18 2NS"
    assert loc.name == "Rose House"
    assert loc.provider_name == "Rose Care Ltd"
    # Optional columns absent from this extract are left empty.
    assert (loc.city, loc.region, loc.care_home, loc.care_home_beds) == ("", "", False, None)


def test_postcode_written_without_a_space_is_tidied() -> None:
    [loc] = parse("\n".join([HEADER, row(postcode="ox453dy")])).locations
    assert loc.postcode == "OX45 3DY"


def test_skips_dormant_and_other_directorates_with_line_numbers() -> None:
    text = "\n".join(
        [
            "Title row",
            HEADER,
            row("1-1"),
            row("1-2", dormant="Y"),
            row("1-3", directorate="Hospitals"),
            row("1-4", dormant=" y "),
            row("1-5", directorate="adult SOCIAL care"),
        ]
    )
    extract = parse(text)
    assert [loc.location_id for loc in extract.locations] == ["1-1", "1-5"]
    assert extract.skipped == [
        SkippedRow(4, "dormant location"),
        SkippedRow(5, "not adult social care (directorate 'Hospitals')"),
        SkippedRow(6, "dormant location"),
    ]


def test_skips_rows_missing_what_sign_in_needs() -> None:
    text = "\n".join(
        [
            HEADER,
            row(location_id=""),
            row("1-2", ods=""),
            row("1-3", email=""),
            row("1-4", postcode=" "),
            row("1-5", email="not-an-address"),
        ]
    )
    extract = parse(text)
    assert extract.locations == []
    assert [(s.line, s.reason) for s in extract.skipped] == [
        (2, "no location ID"),
        (3, "no ODS code, and its inspection category does not sign in with the postcode"),
        (4, "no email address"),
        (5, "no postcode"),
        (6, "email address is not valid"),
    ]


def test_postcode_categories_are_kept_without_an_ods_code() -> None:
    """CQC gives hospices and the like no ODS code: they sign in with the postcode (FAQ 4)."""
    extract = parse("\n".join([HEADER, row(ods="", category="Hospice services")]))
    [loc] = extract.locations
    assert loc.ods_code is None
    assert loc.as_event().ods_code == ""


def test_repeated_location_is_skipped_with_the_line_it_repeats() -> None:
    extract = parse("\n".join([HEADER, row("1-1"), row("1-1")]))
    assert len(extract.locations) == 1
    assert extract.skipped == [SkippedRow(3, "location 1-1 repeats line 2")]


def test_blank_rows_are_ignored_and_short_rows_padded() -> None:
    short = "1-7,N,Y,Rose House,VABC7"
    extract = parse("\n".join([HEADER, "", ",,,", row("1-1"), short]))
    assert [loc.location_id for loc in extract.locations] == ["1-1"]
    assert extract.skipped == [
        SkippedRow(5, "not adult social care (directorate 'empty')"),
    ]


def test_line_numbers_count_cells_that_span_lines() -> None:
    multi = row("1-1").replace("Rose House", '"Rose\nHouse"')
    extract = parse("\n".join([HEADER, multi, row("1-2", dormant="Y")]))
    assert extract.locations[0].name == "Rose House"
    assert extract.skipped == [SkippedRow(4, "dormant location")]


def test_no_header_is_an_error() -> None:
    with pytest.raises(RegisterFormatError, match="No header row"):
        parse("a,b,c\n1,2,3")


def test_header_missing_a_needed_column_is_an_error() -> None:
    header = HEADER.replace(",Location Email", "")
    with pytest.raises(RegisterFormatError, match="'location email'"):
        parse("\n".join([header, row()]))


def test_windows_1252_file_is_read() -> None:
    text = "\n".join([HEADER, row().replace("Rose House", "Café Rose")])
    [loc] = parse_register(read_csv(text.encode("cp1252"))).locations
    assert loc.name == "Café Rose"
    assert decode("é".encode()) == "é"


SAMPLE = Path(__file__).resolve().parents[3] / "data" / "cqc-register-sample.csv"


def test_the_sample_extract_parses() -> None:
    path = SAMPLE
    extract = parse_register(read_csv(path.read_bytes()))
    assert len(extract.locations) + len(extract.skipped) == 2000
    assert len(extract.locations) > 1900
    assert {s.reason for s in extract.skipped} == {"dormant location"}
    no_ods = [loc for loc in extract.locations if loc.ods_code is None]
    assert no_ods, "the sample has postcode sign-in locations"
    assert all(loc.email == loc.email.strip().lower() for loc in extract.locations)
