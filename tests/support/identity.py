"""Identity on its own for its integration tests: a register, a real SMTP sink for its email,
a clock the tests move, and the links its emails carry."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from typing import Any

from sqlalchemy import text

from services.identity.domain.accounts import Role
from services.identity.domain.passwords import hash_password
from services.identity.domain.register import RegisterLocation
from services.identity.store import repository as identity_accounts
from services.identity.store.register import replace_register
from services.identity.usecases.context import Identity
from shared.email import EmailSettings
from shared.events import AccountKind
from shared.runtime import Service
from tests.support.mail import SmtpSink
from tests.support.platform import Platform, eventually


def location(location_id: str, email: str, ods: str | None, **changes: Any) -> RegisterLocation:
    """A register row for a Leeds care home; ``changes`` override any field."""
    base = RegisterLocation(
        location_id=location_id,
        ods_code=ods,
        name=f"Willow House {location_id}",
        address_line_1="1 High Street",
        address_line_2="",
        city="Leeds",
        county="",
        postcode="LS1 4AP",
        email=email,
        provider_id="1-900",
        provider_name="Willow Care Ltd",
        care_home=True,
        care_home_beds=20,
        inspection_category="Residential social care",
        region="Yorkshire and The Humber",
        local_authority="Leeds",
    )
    return replace(base, **changes)


def registration(email: str, /, **changes: Any) -> dict[str, Any]:
    """A self-registration body for a non-CQC provider; ``changes`` override any field."""
    return {
        "organisation_type": "non_cqc",
        "organisation_name": "Hilltop Home Care",
        "contact_name": "Sam Patel",
        "address_line_1": "4 Mill Lane",
        "city": "York",
        "postcode": "yo1 7hh",
        "phone": "01632 960 001",
        "email": email,
        "password": "quiet lantern meadow",
        **changes,
    }


class Clock:
    """Identity's clock, moved by tests."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@asynccontextmanager
async def identity_platform(
    mail: SmtpSink, register: list[RegisterLocation]
) -> AsyncIterator[Platform]:
    """Identity alone, emailing into ``mail``, with ``register`` loaded."""
    async with Platform() as p:
        await p.start(
            "identity",
            email=EmailSettings(smtp_port=mail.port, relay_poll_seconds=0.1),
            uniform_response_seconds=0.15,
        )
        async with p.service("identity").db.transaction() as session:
            await replace_register(session, register)
        yield p


def context(platform: Platform) -> Identity:
    """The running identity's context, where tests replace the clock."""
    ctx: Identity = platform.apps["identity"][0].state.identity
    return ctx


async def mail_to(sink: SmtpSink, address: str, subject: str) -> EmailMessage:
    """The latest message to ``address`` with ``subject``, waiting up to 10 s for it."""

    async def arrived() -> EmailMessage | None:
        for message in reversed(sink.messages):
            if message["To"] == address and message["Subject"] == subject:
                return message
        return None

    found: EmailMessage = await eventually(arrived, timeout=10)
    return found


def token_in(message: EmailMessage) -> str:
    """The single-use token in an emailed link."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    match = re.search(r"token=([A-Za-z0-9_\-]+)", body.get_content())
    assert match, body.get_content()
    return match.group(1)


async def scalar(service: Service, sql: str, **params: Any) -> Any:
    async with service.db.transaction() as session:
        return (await session.execute(text(sql), params)).scalar()


async def staff_account(platform: Platform, role: Role, password: str) -> tuple[str, uuid.UUID]:
    """A staff account with ``role`` and a password, made in identity's store; its email and id."""
    email = f"{role.value}-{uuid.uuid4().hex[:6]}@care-badges.example"
    async with platform.service("identity").db.transaction() as session:
        account = await identity_accounts.create_account(
            session,
            email,
            AccountKind.STAFF,
            role,
            password_hash=hash_password(password),
            now=datetime.now(UTC),
        )
    assert account is not None
    return email, account.id


async def invite_staff(platform: Platform, role: Role, site_url: str) -> tuple[str, str, str]:
    """Invite a new staff member with ``role`` as the staff CLI does, their pages at
    ``site_url``: their email, the emailed link to choose a password, and the email's body."""
    from services.identity.cli import _create_staff
    from services.identity.settings import IdentitySettings

    email = f"new-{role.value}-{uuid.uuid4().hex[:6]}@care-badges.example"
    settings = IdentitySettings(
        database_url=platform.database_url("identity"), staff_site_urls={role.value: site_url}
    )
    assert await _create_staff(settings, email, role)
    async with platform.service("identity").db.transaction() as session:
        body = await session.scalar(
            text("SELECT body FROM email_outbox WHERE recipient = :r"), {"r": email}
        )
    assert body is not None
    link = re.search(r"(\S+/reset-password\?token=\S+)", body)
    assert link, body
    return email, link.group(1), str(body)
