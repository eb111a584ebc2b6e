"""Contact details a self-registering organisation types, checked with messages that say
what to fix."""

import pytest

from services.identity.domain.contact import checked_email, checked_phone, checked_postcode
from services.identity.domain.secrets import digest, keyed_hash, new_secret


def test_emails_are_folded_and_checked() -> None:
    assert checked_email("  Jo.Bloggs@Example.ORG ") == "jo.bloggs@example.org"


@pytest.mark.parametrize(
    "bad", ["", "jo", "jo@", "@example.org", "jo bloggs@example.org", "jo@@x.org"]
)
def test_malformed_emails_say_the_format(bad: str) -> None:
    with pytest.raises(ValueError, match="Enter an email address"):
        checked_email(bad)


@pytest.mark.parametrize(
    ("typed", "tidy"), [("sw1a2aa", "SW1A 2AA"), (" e18 2ns ", "E18 2NS"), ("M1 1AE", "M1 1AE")]
)
def test_postcodes_are_tidied(typed: str, tidy: str) -> None:
    assert checked_postcode(typed) == tidy


@pytest.mark.parametrize("bad", ["", "12345", "SW1A", "not a postcode"])
def test_bad_postcodes_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="postcode"):
        checked_postcode(bad)


@pytest.mark.parametrize(
    "typed", ["01632 960 001", "07700900982", "+44 7700 900982", "(01632) 960001"]
)
def test_uk_phone_numbers_pass(typed: str) -> None:
    assert checked_phone(typed)


@pytest.mark.parametrize("bad", ["", "123", "call me", "0770090098212345"])
def test_bad_phone_numbers_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match="phone number"):
        checked_phone(bad)


def test_secrets_are_random_and_only_their_digest_is_kept() -> None:
    token, stored = new_secret()
    other, _ = new_secret()
    assert token != other
    assert len(token) >= 43  # 256 bits in URL-safe base64
    assert stored == digest(token) and token.encode() not in stored


def test_keyed_hashes_depend_on_key_and_scope() -> None:
    a = keyed_hash(b"k1", "account", "jo@example.org")
    assert a == keyed_hash(b"k1", "account", "jo@example.org")
    assert a != keyed_hash(b"k2", "account", "jo@example.org")
    assert a != keyed_hash(b"k1", "source", "jo@example.org")
