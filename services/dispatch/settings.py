"""Dispatch's settings, read from ``CARE_DISPATCH_*`` environment variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from shared.settings import ServiceSettings


class DispatchSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CARE_DISPATCH_", extra="ignore")

    service: str = "dispatch"
    #: Shared with the courier; authenticates its status callbacks. No default: a missing
    #: secret must stop the service rather than accept unsigned callbacks.
    courier_hmac_secret: str = Field(min_length=1, repr=False)
    #: Badges per parcel: more than this and the order goes as several parcels.
    parcel_size: int = Field(200, gt=0)
    #: How far a callback's timestamp may be from our clock before it counts as a replay.
    callback_tolerance_seconds: int = Field(300, gt=0)
    #: False (the rule as published): the waitlist is served strictly first come, first served,
    #: so an order that does not fit holds back every later one. True lets later orders that
    #: fit go ahead of it. An order is never split either way.
    waitlist_partial_fills: bool = False
    #: Placements the allocator decides per transaction (it holds the stock lock meanwhile).
    allocator_batch: int = Field(200, gt=0)
    #: The allocator looks for undecided placements at least this often, even unwoken.
    allocator_idle_seconds: float = Field(1.0, gt=0)
    #: How long a placement recorded after a hole in the placement numbers waits for the
    #: missing one before it is decided past it (ADR 0011): long enough for a replica's
    #: backlog to drain on a loaded machine, short enough that a number that never comes (an
    #: insert orders rolled back) delays the orders behind it only briefly.
    allocator_hole_wait_seconds: float = Field(2.0, ge=0)
    #: How often each replica re-reads the stock and waitlist gauges from the database.
    metrics_refresh_seconds: float = Field(5.0, gt=0)
    #: Days after the portal closes by which every name and address held for the courier is
    #: purged, whatever the courier has reported (ADR 0067; the privacy notice says the same).
    courier_data_days_after_closure: float = Field(30.0, ge=0)
    #: How often each replica checks whether that deadline has passed.
    courier_data_check_seconds: float = Field(3600.0, gt=0)
