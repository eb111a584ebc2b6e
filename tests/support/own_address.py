"""Accounts not on CQC's register, through the services' real HTTP APIs: create one from its
emailed link, order to its own address, and have a reviewer approve the order."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import text

from tests.support.identity import mail_to, token_in
from tests.support.journeys import sign_in
from tests.support.keys import bearer, mint
from tests.support.mail import SmtpSink
from tests.support.platform import Platform, eventually

CONFIRM_SUBJECT = "Confirm your email address to finish creating your account"


async def create_account(platform: Platform, mail: SmtpSink, body: dict[str, Any]) -> None:
    """Start an account and confirm it from the link emailed to ``mail``."""
    async with platform.client("identity") as identity:
        started = await identity.post("/api/accounts", json=body)
        assert started.status_code == 202, started.text
        message = await mail_to(mail, body["email"], CONFIRM_SUBJECT)
        created = await identity.post("/api/accounts/confirm", json={"token": token_in(message)})
        assert created.status_code == 201, created.text


async def register(platform: Platform, mail: SmtpSink, body: dict[str, Any]) -> dict[str, Any]:
    """Create and confirm an account, then sign in with its password."""
    await create_account(platform, mail, body)
    return await sign_in(platform, body["email"], body["password"])


async def order(platform: Platform, token: str, **body: Any) -> httpx.Response:
    """One attempt at placing an order through the API."""
    async with platform.client("orders") as orders:
        return await orders.post(
            "/api/orders", json={"contact_name": "Sam Patel", **body}, headers=bearer(token)
        )


async def order_when_ready(platform: Platform, token: str, staff: int) -> dict[str, Any]:
    """Place an own-address order, retrying while orders is still hearing of the account."""

    async def attempt() -> dict[str, Any] | None:
        answer = await order(platform, token, staff_count=staff)
        if answer.status_code == 409 and answer.json()["type"].endswith("/account-not-ready"):
            return None
        assert answer.status_code == 201, answer.text
        return answer.json()  # type: ignore[no-any-return]

    return await eventually(attempt)


async def verification_state(platform: Platform, order_id: str) -> dict[str, Any] | None:
    async with platform.service("verification").db.transaction() as s:
        row = (
            await s.execute(
                text("SELECT state, version, reasons FROM orders WHERE order_id = :id"),
                {"id": order_id},
            )
        ).first()
    return row._asdict() if row else None


async def referred(platform: Platform, order_id: str) -> dict[str, Any] | None:
    """Verification's record of the order once it is referred to a person."""
    state = await verification_state(platform, order_id)
    return state if state and state["state"] == "referred" else None


async def approve(platform: Platform, order_id: str) -> None:
    """A reviewer approves the referred order."""
    state = await eventually(lambda: referred(platform, order_id))
    async with platform.client("verification") as verification:
        done = await verification.post(
            f"/api/reviews/{order_id}/decision",
            json={"decision": "approve", "version": state["version"]},
            headers=bearer(mint("customer_service")),
        )
    assert done.status_code == 204, done.text
