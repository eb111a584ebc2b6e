"""The copy of CQC's register that providers sign in with: replacing it with an extract.

An extract that leaves out more of the active register than a month's changes would is most
likely the wrong file (a sample, a partial extract): it is refused unless the operator
confirms, because every location it deactivates stops signing in.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.identity.domain.register import RegisterLocation
from services.identity.store.register import (
    ImportCounts,
    WouldDeactivateTooMany,
    register_holds_locations,
    replace_register,
)
from shared.usecases import Conflict

#: An import that would deactivate more of the active register than this needs confirming: a
#: month's real changes are a few percent; a sample or partial extract is far more.
MAX_DEACTIVATED_SHARE = 0.05


class DeactivatesTooMany(Conflict):
    """The extract would deactivate ``deactivating`` of the ``active`` locations."""

    def __init__(self, deactivating: int, active: int) -> None:
        super().__init__(
            "would-deactivate-too-many",
            f"The extract would deactivate {deactivating:,} of the {active:,} active locations.",
            deactivating=deactivating,
            active=active,
        )
        self.deactivating, self.active = deactivating, active


async def import_extract(
    session: AsyncSession,
    locations: Sequence[RegisterLocation],
    *,
    confirmed: bool,
    only_if_empty: bool,
) -> ImportCounts | None:
    """Replace the register in the caller's transaction; None if ``only_if_empty`` and the
    register holds locations (checked under the import's lock, so two runs cannot both find
    it empty). Unless ``confirmed``, refuses an extract deactivating too many locations."""
    if only_if_empty and await register_holds_locations(session):
        return None
    share = None if confirmed else MAX_DEACTIVATED_SHARE
    try:
        return await replace_register(session, locations, max_deactivated_share=share)
    except WouldDeactivateTooMany as exc:
        raise DeactivatesTooMany(exc.deactivating, exc.active) from exc
