"""How reviewers slice the queue and what the search box takes."""

from datetime import UTC, datetime, timedelta

import pytest

from services.verification.domain.queue import (
    SearchKind,
    SizeBand,
    UnsearchableQuery,
    reference_key,
    search_kind,
)
from services.verification.web.queue_pages import age


@pytest.mark.parametrize(
    ("query", "kind"),
    [
        ("CB-7KQ2-9XWM", SearchKind.REFERENCE),
        (" cb-7kq29xwm ", SearchKind.REFERENCE),
        ("Manager@Example.org", SearchKind.EMAIL),
        ("ls1 4ap", SearchKind.POSTCODE),
        ("LS14AP", SearchKind.POSTCODE),
    ],
)
def test_what_the_reviewer_typed(query: str, kind: SearchKind) -> None:
    assert search_kind(query) is kind


def test_anything_else_says_what_to_enter() -> None:
    with pytest.raises(UnsearchableQuery, match="order reference"):
        search_kind("hello")


def test_references_match_whatever_the_case_and_dashes() -> None:
    assert reference_key(" cb-7kq2 9xwm") == reference_key("CB-7KQ2-9XWM") == "CB7KQ29XWM"


def test_size_bands_meet_without_gaps_and_start_where_the_address_check_does() -> None:
    assert SizeBand.UP_TO_25.bounds == (1, 25)
    assert SizeBand.FROM_26_TO_100.bounds == (26, 100)
    assert SizeBand.OVER_100.bounds == (101, None)


def test_ages_read_in_the_largest_whole_unit() -> None:
    now = datetime(2026, 11, 23, 12, tzinfo=UTC)
    assert age(now - timedelta(seconds=30), now) == "0 minutes"
    assert age(now - timedelta(minutes=1), now) == "1 minute"
    assert age(now - timedelta(hours=5, minutes=3), now) == "5 hours"
    assert age(now - timedelta(days=2, hours=1), now) == "2 days"
