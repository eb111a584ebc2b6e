"""Packing an order's badges into parcels, each with its two leaflets."""

import pytest

from services.dispatch.domain.parcels import split


def test_exact_multiple_fills_every_parcel() -> None:
    parcels = split(600, 200)
    assert [p.badges for p in parcels] == [200, 200, 200]
    assert [p.number for p in parcels] == [1, 2, 3]


def test_remainder_goes_in_a_last_smaller_parcel() -> None:
    parcels = split(450, 200)
    assert [p.badges for p in parcels] == [200, 200, 50]
    assert sum(p.badges for p in parcels) == 450


def test_one_badge_is_one_parcel() -> None:
    (parcel,) = split(1, 200)
    assert parcel.badges == 1
    assert parcel.number == 1


def test_fewer_badges_than_a_parcel_holds_is_one_parcel() -> None:
    assert [p.badges for p in split(199, 200)] == [199]


def test_every_parcel_carries_one_of_each_leaflet() -> None:
    for parcel in split(1001, 200):
        assert parcel.wellbeing_leaflets == 1
        assert parcel.winter_leaflets == 1


@pytest.mark.parametrize(("quantity", "size"), [(0, 200), (-5, 200), (10, 0)])
def test_nothing_to_pack_or_no_room_is_an_error(quantity: int, size: int) -> None:
    with pytest.raises(ValueError):
        split(quantity, size)
