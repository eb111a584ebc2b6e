"""How an order's badges are packed: parcels the courier can carry, each with the leaflets.

Every parcel carries one wellbeing leaflet and one winter-preparedness leaflet, so whoever
opens any one of an organisation's parcels finds the signposting the FAQ promises.
"""

from __future__ import annotations

from shared.events import Parcel

WELLBEING_LEAFLETS_PER_PARCEL = 1
WINTER_LEAFLETS_PER_PARCEL = 1


def split(quantity: int, parcel_size: int) -> list[Parcel]:
    """Pack ``quantity`` badges into as few parcels as hold at most ``parcel_size`` each."""
    if quantity <= 0:
        raise ValueError("an order holds at least one badge")
    if parcel_size <= 0:
        raise ValueError("a parcel holds at least one badge")
    full, rest = divmod(quantity, parcel_size)
    sizes = [parcel_size] * full + ([rest] if rest else [])
    return [
        Parcel(
            number=number,
            badges=badges,
            wellbeing_leaflets=WELLBEING_LEAFLETS_PER_PARCEL,
            winter_leaflets=WINTER_LEAFLETS_PER_PARCEL,
        )
        for number, badges in enumerate(sizes, start=1)
    ]
