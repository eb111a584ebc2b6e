"""Two versions of one event, as a rollout has them: v2 splits v1's single count in two.

Test-only contracts, registered for the length of a test (``registered``) so they never show
in the catalogue other tests read.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import pytest

from shared.events import EventPayload
from shared.events import envelope as contracts


class _RolloutProbe(EventPayload):
    TYPE: ClassVar[str] = "RolloutProbe"
    ROUTING_KEY: ClassVar[str] = "test.rollout.probe"

    order_id: uuid.UUID


class ProbeV1(_RolloutProbe):
    VERSION: ClassVar[int] = 1

    badges: int


class Probe(_RolloutProbe):
    """Version 2: the badges and the parcels they travel in."""

    VERSION: ClassVar[int] = 2

    quantity: int
    parcels: int

    @classmethod
    def from_previous(cls, previous: EventPayload) -> Probe:
        assert isinstance(previous, ProbeV1)
        return cls(order_id=previous.order_id, quantity=previous.badges, parcels=1)


class ProbeV3(_RolloutProbe):
    """A version no consumer reads yet: a producer rolled out before its consumers."""

    VERSION: ClassVar[int] = 3


@contextmanager
def registered(*versions: type[EventPayload]) -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for cls in versions:
            patch.setitem(contracts._REGISTRY, (cls.TYPE, cls.VERSION), cls)
        yield
