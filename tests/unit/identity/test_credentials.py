"""Which code opens which location (FAQ 4): the ODS code, or the postcode for four categories."""

from dataclasses import dataclass

import pytest

from services.identity.domain.accounts import may_sign_in_with_register
from services.identity.domain.credentials import (
    POSTCODE_SIGN_IN_CATEGORIES,
    normalise_code,
    password_matches,
    signs_in_with_postcode,
)


@dataclass(frozen=True)
class Loc:
    ods_code: str | None
    postcode: str
    inspection_category: str


CARE_HOME = Loc("VABC1", "E18 2NS", "Residential social care")


@pytest.mark.parametrize("typed", ["VABC1", "vabc1", " v abc1 ", "VABC1\t"])
def test_ods_code_matches_whatever_the_case_and_spacing(typed: str) -> None:
    assert password_matches(CARE_HOME, typed)


@pytest.mark.parametrize("typed", ["VABC2", "", "   ", "VABC", "VABC12", "E18 2NS", "e182ns"])
def test_other_codes_and_the_postcode_do_not_open_an_ordinary_location(typed: str) -> None:
    assert not password_matches(CARE_HOME, typed)


def test_the_four_postcode_categories_are_worded_as_in_the_extract() -> None:
    assert POSTCODE_SIGN_IN_CATEGORIES == {
        "Hospice services",
        "Community substance misuse",
        "Residential substance misuse",
        "Mental health - community & hospital independent",
    }


@pytest.mark.parametrize("category", sorted(POSTCODE_SIGN_IN_CATEGORIES))
@pytest.mark.parametrize("typed", ["OX45 3DY", "ox453dy", " OX4 53DY "])
def test_postcode_opens_the_four_categories(category: str, typed: str) -> None:
    assert password_matches(Loc(None, "OX45 3DY", category), typed)


@pytest.mark.parametrize(
    "category",
    [
        "HOSPICE SERVICES",
        " community  substance misuse ",
        "Mental health - community & hospital - independent",
        "Mental health - community and hospital independent",
    ],
)
def test_category_wording_varies_in_case_spacing_and_punctuation(category: str) -> None:
    assert signs_in_with_postcode(category)


@pytest.mark.parametrize(
    "category",
    [
        "Residential social care",
        "Community based adult social care services",
        "Mental health - inpatient",
        "Hospice",
        "",
    ],
)
def test_postcode_is_refused_for_other_categories(category: str) -> None:
    assert not signs_in_with_postcode(category)
    assert not password_matches(Loc("VABC1", "OX45 3DY", category), "OX45 3DY")


def test_postcode_category_with_an_ods_code_opens_with_either() -> None:
    hospice = Loc("VHOS1", "OX45 3DY", "Hospice services")
    assert password_matches(hospice, "vhos1")
    assert password_matches(hospice, "ox45 3dy")
    assert not password_matches(hospice, "OX45 3DZ")


def test_a_location_without_an_ods_code_never_matches_an_empty_password() -> None:
    assert not password_matches(Loc(None, "OX45 3DY", "Hospice services"), " ")


def test_normalise_code() -> None:
    assert normalise_code(" ab 1\tc ") == "AB1C"


@pytest.mark.parametrize(
    ("kind", "status", "allowed"),
    [
        ("cqc", "active", True),
        ("cqc", "disabled", False),
        ("staff", "active", False),
        ("non_cqc", "active", False),
        ("local_authority", "active", False),
    ],
)
def test_only_active_cqc_accounts_sign_in_with_register_codes(
    kind: str, status: str, allowed: bool
) -> None:
    assert may_sign_in_with_register(kind, status) is allowed
