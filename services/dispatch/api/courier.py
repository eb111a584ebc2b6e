"""The courier's status callback: authenticated by its HMAC signature alone (no token).

The signature covers the raw bytes, so the body is read as bytes and parsed here rather than
by FastAPI, which would parse it before the signature could be checked.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError, field_validator

from services.dispatch.domain import courier_signature
from services.dispatch.domain.courier_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
)
from services.dispatch.domain.shipment import ShipmentStatus
from services.dispatch.usecases import settings_of
from services.dispatch.usecases.courier import CallbackOutcome, CourierReports
from shared.http.problems import Problem
from shared.logging import get_logger, log_context
from shared.runtime import Service

log = get_logger(__name__)


class CourierStatusIn(BaseModel):
    """What the courier reports; fields it adds later are ignored, not refused."""

    model_config = ConfigDict(extra="ignore")

    shipment_reference: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)
    ]
    status: Literal["delivered", "failed_attempt", "returned"]
    occurred_at: datetime

    @field_validator("occurred_at")
    @classmethod
    def _utc_if_naive(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)


class CourierStatusOut(BaseModel):
    shipment_reference: str
    status: ShipmentStatus


_BODY_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": CourierStatusIn.model_json_schema()}},
    }
}


def router(service: Service) -> APIRouter:
    api = APIRouter(prefix="/api/courier", tags=["courier"])
    reports = CourierReports(service)
    settings = settings_of(service)

    @api.post("/status", response_model=CourierStatusOut, openapi_extra=_BODY_SCHEMA)
    async def courier_status(request: Request) -> CourierStatusOut:
        """A shipment was delivered, missed or returned. Signed with X-Courier-Signature
        (``sha256=`` HMAC of ``"{timestamp}." + body``) and X-Courier-Timestamp."""
        body = await request.body()
        try:
            digest = courier_signature.verify(
                settings.courier_hmac_secret,
                signature=request.headers.get(SIGNATURE_HEADER),
                timestamp=request.headers.get(TIMESTAMP_HEADER),
                body=body,
                now=time.time(),
                tolerance_seconds=settings.callback_tolerance_seconds,
            )
        except SignatureRejected as exc:
            log.warning("courier callback refused", reason=exc.reason)
            raise Problem(
                401,
                "courier-signature-invalid",
                "Callback not authenticated",
                f"Sign the exact body with the shared secret and send {SIGNATURE_HEADER} and "
                f"a current {TIMESTAMP_HEADER}.",
            ) from None
        try:
            report = CourierStatusIn.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError(exc.errors()) from None
        reference = report.shipment_reference
        with log_context(shipment_reference=reference):
            async with service.db.transaction() as session:
                result = await reports.apply_report(
                    session,
                    signature_digest=digest,
                    shipment_reference=reference,
                    status=ShipmentStatus(report.status),
                    occurred_at=report.occurred_at,
                    correlation_id=request.state.correlation_id,
                )
        if result.outcome is CallbackOutcome.REPLAY:
            log.warning("courier callback replayed", shipment_reference=reference)
            raise Problem(
                409,
                "courier-callback-replayed",
                "Callback already received",
                "This signed callback was received before; send a new report with a new "
                "timestamp instead.",
            )
        if result.outcome is CallbackOutcome.UNKNOWN_SHIPMENT or result.status is None:
            log.warning("courier callback for an unknown shipment", shipment_reference=reference)
            raise Problem(
                404,
                "shipment-not-found",
                "Shipment not found",
                f"There is no shipment {report.shipment_reference}. The report has been kept "
                "for investigation; check the reference on the parcel label.",
            )
        return CourierStatusOut(shipment_reference=report.shipment_reference, status=result.status)

    return api
