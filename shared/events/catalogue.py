"""Every integration event of the platform, version 1.

Routing keys are ``<aggregate>.<past-tense verb>``; the exchange is the domain-events topic
exchange except for CourierHandoff, which goes to the courier's own exchange so the courier
integration can be given access to that and nothing else.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from shared.events.envelope import COURIER_EXCHANGE, EventPayload, register

__all__ = [
    "AccountAnonymised",
    "AccountDetailsCorrected",
    "AccountHoldApplied",
    "AccountKind",
    "AccountRegistered",
    "AccountRestricted",
    "AccountRestrictionLifted",
    "CourierHandoff",
    "Delivery",
    "DeliveryAddressChangeRefused",
    "DeliveryAddressChanged",
    "Location",
    "LocationsAuthorised",
    "OrderCancelled",
    "OrderDelivered",
    "OrderDispatched",
    "OrderLine",
    "OrderPlaced",
    "OrderReferred",
    "OrderRejected",
    "OrderVerified",
    "Parcel",
    "ParcelReturned",
    "PortalClosed",
    "StockReceived",
    "StockReleased",
    "StockReserved",
    "StockWaitlisted",
    "SubjectAccessRequested",
    "SubjectDataProvided",
]


class AccountKind(StrEnum):
    """Who holds an account: it decides how they sign in and how their orders are checked."""

    CQC = "cqc"
    NON_CQC = "non_cqc"
    PERSONAL_ASSISTANT = "personal_assistant"
    LOCAL_AUTHORITY = "local_authority"
    STAFF = "staff"


class Location(EventPayload):
    """A CQC location as the register describes it: organisational data, not personal data."""

    location_id: str
    ods_code: str
    name: str
    address_line_1: str
    address_line_2: str = ""
    city: str = ""
    county: str = ""
    postcode: str
    provider_id: str
    provider_name: str
    care_home: bool = False
    care_home_beds: int | None = None
    inspection_category: str = ""
    region: str = ""
    local_authority: str = ""


class Delivery(EventPayload):
    """Where a parcel goes and who signs for it."""

    recipient_name: str
    organisation_name: str
    address_line_1: str
    address_line_2: str = ""
    city: str = ""
    postcode: str
    location_id: str | None = None


class OrderLine(EventPayload):
    location_id: str | None = None
    staff_count: int = Field(gt=0)


class Parcel(EventPayload):
    """One parcel of a shipment: badges plus one of each leaflet."""

    number: int = Field(gt=0, description="1, 2, ... within the shipment.")
    badges: int = Field(ge=0)
    wellbeing_leaflets: int = Field(ge=0)
    winter_leaflets: int = Field(ge=0, description="Winter-preparedness leaflets.")


# --- identity --------------------------------------------------------------------------------


class _AccountRegistration(EventPayload):
    TYPE: ClassVar[str] = "AccountRegistered"
    ROUTING_KEY: ClassVar[str] = "account.registered"
    # A self-employed personal assistant's organisation address is their home's.
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"email", "phone", "postcode", "contact_name", "address_line_1", "address_line_2", "city"}
    )

    account_id: UUID
    kind: AccountKind
    email: str
    organisation_name: str | None = None
    postcode: str | None = None
    phone: str | None = None
    #: Accounts that registered themselves (not CQC's register) give who and where to send to.
    contact_name: str | None = None
    address_line_1: str | None = None
    address_line_2: str | None = None
    city: str | None = None


@register
class AccountRegisteredV1(_AccountRegistration):
    """Version 1: a CQC account's locations followed in a LocationsAuthorised of their own."""

    VERSION: ClassVar[int] = 1


@register
class AccountRegistered(_AccountRegistration):
    """Version 2: the locations a first sign-in authorised travel with the account (ADR 0082).

    Orders and verification need both to take an order, and a LocationsAuthorised of its own
    was one more delivery to each of them for every new provider. Later changes to an
    account's locations still come as LocationsAuthorised. A new version, not a new optional
    field: a consumer still on version 1 would drop the locations and wait for a
    LocationsAuthorised that no longer comes, so it parks version 2 instead, until it is
    upgraded (consumers roll out before identity).
    """

    VERSION: ClassVar[int] = 2

    #: The locations the account may order for from the start; empty for other kinds.
    locations: list[Location] = []

    @classmethod
    def from_previous(cls, previous: EventPayload) -> AccountRegistered:
        assert isinstance(previous, AccountRegisteredV1)
        return cls(**previous.model_dump())


@register
class LocationsAuthorised(EventPayload):
    TYPE: ClassVar[str] = "LocationsAuthorised"
    ROUTING_KEY: ClassVar[str] = "account.locations-authorised"

    account_id: UUID
    locations: list[Location]


@register
class AccountAnonymised(EventPayload):
    TYPE: ClassVar[str] = "AccountAnonymised"
    ROUTING_KEY: ClassVar[str] = "account.anonymised"

    account_id: UUID


@register
class AccountDetailsCorrected(EventPayload):
    """The holder of a self-registered account corrected who they are or where they are
    (privacy policy, right 2). CQC accounts' details are CQC's and are corrected there."""

    TYPE: ClassVar[str] = "AccountDetailsCorrected"
    ROUTING_KEY: ClassVar[str] = "account.details-corrected"
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset(
        {"contact_name", "address_line_1", "address_line_2", "city", "postcode", "phone"}
    )

    account_id: UUID
    organisation_name: str
    contact_name: str
    address_line_1: str
    address_line_2: str = ""
    city: str = ""
    postcode: str
    phone: str


@register
class AccountRestricted(EventPayload):
    """The holder restricted, or objected to, the use of their data (privacy policy, rights 3
    and 4): it is kept, but nothing new is done with it (no order placed, nothing dispatched)
    until AccountRestrictionLifted."""

    TYPE: ClassVar[str] = "AccountRestricted"
    ROUTING_KEY: ClassVar[str] = "account.restricted"

    account_id: UUID
    #: "restriction" (limit how it is used) or "objection" (do not use it).
    ground: str
    #: Which restriction this is: orders answers with AccountHoldApplied naming it, and only
    #: then does identity acknowledge the request (ADR 0061).
    restriction_id: UUID | None = None


@register
class AccountHoldApplied(EventPayload):
    """Orders will accept no new order from the account: the restriction named is in force,
    and no order that read the account before it is still being placed."""

    TYPE: ClassVar[str] = "AccountHoldApplied"
    ROUTING_KEY: ClassVar[str] = "account.hold-applied"

    account_id: UUID
    restriction_id: UUID


@register
class AccountRestrictionLifted(EventPayload):
    TYPE: ClassVar[str] = "AccountRestrictionLifted"
    ROUTING_KEY: ClassVar[str] = "account.restriction-lifted"

    account_id: UUID


@register
class SubjectAccessRequested(EventPayload):
    TYPE: ClassVar[str] = "SubjectAccessRequested"
    ROUTING_KEY: ClassVar[str] = "account.subject-access-requested"

    request_id: UUID
    account_id: UUID


@register
class SubjectDataProvided(EventPayload):
    TYPE: ClassVar[str] = "SubjectDataProvided"
    ROUTING_KEY: ClassVar[str] = "account.subject-data-provided"
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"data"})

    request_id: UUID
    account_id: UUID
    service: str
    data: dict[str, object]


@register
class PortalClosed(EventPayload):
    TYPE: ClassVar[str] = "PortalClosed"
    ROUTING_KEY: ClassVar[str] = "portal.closed"

    closed_at: datetime


# --- orders ----------------------------------------------------------------------------------


@register
class OrderPlaced(EventPayload):
    TYPE: ClassVar[str] = "OrderPlaced"
    ROUTING_KEY: ClassVar[str] = "order.placed"
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"delivery"})

    order_id: UUID
    reference: str
    account_id: UUID
    account_kind: AccountKind
    placed_at: datetime
    #: Position in the order of placement, assigned by the orders database; stock is served by it.
    placement_seq: int
    lines: list[OrderLine] = Field(min_length=1)
    quantity: int = Field(gt=0)
    delivery: Delivery
    top_up: bool = False
    region: str = ""
    local_authority: str = ""


@register
class OrderCancelled(EventPayload):
    TYPE: ClassVar[str] = "OrderCancelled"
    ROUTING_KEY: ClassVar[str] = "order.cancelled"

    order_id: UUID


# --- verification ----------------------------------------------------------------------------


@register
class OrderVerified(EventPayload):
    TYPE: ClassVar[str] = "OrderVerified"
    ROUTING_KEY: ClassVar[str] = "order.verified"

    order_id: UUID
    #: "automatic" for the automatic checks, otherwise the reviewer's staff account id.
    decided_by: str


@register
class OrderReferred(EventPayload):
    TYPE: ClassVar[str] = "OrderReferred"
    ROUTING_KEY: ClassVar[str] = "order.referred"

    order_id: UUID
    reasons: list[str] = Field(min_length=1)


@register
class OrderRejected(EventPayload):
    """A refusal: only ever made by a named person (privacy policy, automated decisions)."""

    TYPE: ClassVar[str] = "OrderRejected"
    ROUTING_KEY: ClassVar[str] = "order.rejected"

    order_id: UUID
    reviewer_id: UUID
    reason: str = Field(min_length=1)


@register
class DeliveryAddressChanged(EventPayload):
    TYPE: ClassVar[str] = "DeliveryAddressChanged"
    ROUTING_KEY: ClassVar[str] = "order.delivery-address-changed"
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"delivery"})

    order_id: UUID
    changed_by: UUID
    delivery: Delivery


# --- dispatch --------------------------------------------------------------------------------


@register
class StockReceived(EventPayload):
    TYPE: ClassVar[str] = "StockReceived"
    ROUTING_KEY: ClassVar[str] = "stock.received"

    item: str
    quantity: int = Field(gt=0)


@register
class StockReserved(EventPayload):
    TYPE: ClassVar[str] = "StockReserved"
    ROUTING_KEY: ClassVar[str] = "stock.reserved"

    order_id: UUID
    quantity: int = Field(gt=0)


@register
class StockWaitlisted(EventPayload):
    TYPE: ClassVar[str] = "StockWaitlisted"
    ROUTING_KEY: ClassVar[str] = "stock.waitlisted"

    order_id: UUID
    quantity: int = Field(gt=0)


@register
class StockReleased(EventPayload):
    TYPE: ClassVar[str] = "StockReleased"
    ROUTING_KEY: ClassVar[str] = "stock.released"

    order_id: UUID
    quantity: int = Field(ge=0)


class _Dispatch(EventPayload):
    """Carries no personal data: who and where stay in CourierHandoff."""

    TYPE: ClassVar[str] = "OrderDispatched"
    ROUTING_KEY: ClassVar[str] = "order.dispatched"

    order_id: UUID
    shipment_reference: str
    parcel_count: int = Field(gt=0)
    quantity: int = Field(gt=0)


@register
class OrderDispatchedV1(_Dispatch):
    """Version 1: every reservation had a StockReserved of its own before the dispatch."""

    VERSION: ClassVar[int] = 1


@register
class OrderDispatched(_Dispatch):
    """Carries no personal data: who and where stay in CourierHandoff.

    Version 2: an order verified before its placement was decided is reserved and handed
    over in one step, with no StockReserved of its own; the dispatch says how many badges it
    reserved (ADR 0054, "Eighth step"). A new version, not only a new field: reporting still
    on version 1 would count the allocation and miss the reservation, so it parks version 2
    until it is upgraded. Its consumers (orders, reporting) roll out before dispatch: orders
    on version 1 would park it too, and hold back the step and its email until upgraded."""

    VERSION: ClassVar[int] = 2

    #: Badges reserved in the same step as the dispatch, which no StockReserved announced.
    reserved_with_dispatch: int = Field(default=0, ge=0)

    @classmethod
    def from_previous(cls, previous: EventPayload) -> OrderDispatched:
        assert isinstance(previous, OrderDispatchedV1)
        return cls(**previous.model_dump())


@register
class OrderDelivered(EventPayload):
    TYPE: ClassVar[str] = "OrderDelivered"
    ROUTING_KEY: ClassVar[str] = "order.delivered"

    order_id: UUID
    shipment_reference: str
    delivered_at: datetime


@register
class CourierHandoff(EventPayload):
    """The courier's contract: exactly what delivery needs and nothing more.

    One message per shipment, on the courier's own exchange (care.courier, routing key
    courier.handoff; the courier integration reads the queue courier.courier.handoff and is
    given access to nothing else). Delivery is at least once: the same shipment may be sent
    again after a fault, with the same event_id and shipment_reference, so the courier keys
    its bookings on shipment_reference and books each one once. An order above the parcel
    size travels as several parcels under one shipment_reference. The courier reports
    delivered, failed_attempt and returned for a shipment_reference to dispatch's signed HTTP
    callback, POST /api/courier/status.
    """

    TYPE: ClassVar[str] = "CourierHandoff"
    ROUTING_KEY: ClassVar[str] = "courier.handoff"
    EXCHANGE: ClassVar[str] = COURIER_EXCHANGE
    PERSONAL_FIELDS: ClassVar[frozenset[str]] = frozenset({"recipient_name", "address", "postcode"})

    shipment_reference: str = Field(
        description="Our reference for the shipment (e.g. SH-7KQ29XWM): the idempotency key, "
        "printed on every parcel label and quoted in every status callback."
    )
    recipient_name: str = Field(description="Who signs for the parcels.")
    address: list[str] = Field(
        min_length=1, description="The label's address lines, organisation first; no blanks."
    )
    postcode: str
    parcels: list[Parcel] = Field(
        min_length=1, description="What to pack and carry: one entry per parcel."
    )


@register
class ParcelReturned(EventPayload):
    """The courier brought a shipment back undelivered: it needs a person in customer services.

    No personal data: the back office finds the order, its contact and address by ``order_id``.
    Nothing is re-sent automatically; the badges are back in the warehouse only when operations
    count them in.
    """

    TYPE: ClassVar[str] = "ParcelReturned"
    ROUTING_KEY: ClassVar[str] = "order.parcel-returned"

    order_id: UUID
    shipment_reference: str
    returned_at: datetime
    parcel_count: int = Field(gt=0)
    quantity: int = Field(gt=0)


@register
class DeliveryAddressChangeRefused(EventPayload):
    """Customer services changed an order's delivery address too late for it to be used.

    ``reason`` says why in plain words, for the person who made the change; the address itself
    is not repeated (it is in the DeliveryAddressChanged this answers).
    """

    TYPE: ClassVar[str] = "DeliveryAddressChangeRefused"
    ROUTING_KEY: ClassVar[str] = "order.delivery-address-change-refused"

    order_id: UUID
    #: The staff account that made the change (from DeliveryAddressChanged.changed_by).
    changed_by: UUID
    reason: str = Field(min_length=1)
    #: The shipment already with the courier, when that is why.
    shipment_reference: str | None = None
