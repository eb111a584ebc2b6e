"""Driving the site's pages over HTTP without a browser: forms with their CSRF tokens."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from shared.email import EmailSettings
from tests.support.mail import SmtpSink, free_port
from tests.support.platform import Platform
from tests.support.serve import serving

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_token(page: str) -> str | None:
    """The CSRF token of the page's form, None if it has none: for callers (the launch
    benchmark's browsers) that report a missing form rather than fail a test."""
    found = _CSRF.search(page)
    return html.unescape(found.group(1)) if found else None


def csrf_from(page: str) -> str:
    """The CSRF token of the page's form; a page without one fails the test."""
    token = csrf_token(page)
    assert token, "the page has no form with a CSRF token"
    return token


async def submit(
    client: httpx.AsyncClient, path: str, data: dict[str, Any] | None = None
) -> httpx.Response:
    """GET the form at ``path``, then POST ``data`` with the token the page carried."""
    page = await client.get(path)
    assert page.status_code == 200, page.text
    return await client.post(path, data={**(data or {}), "csrf_token": csrf_from(page.text)})


@dataclass
class SitePlatform:
    """The whole platform with identity and the orders site on real ports, and a mail sink."""

    platform: Platform
    mail: SmtpSink
    site_url: str
    identity_url: str


@asynccontextmanager
async def site_platform(stock: int = 100_000) -> AsyncIterator[SitePlatform]:
    """All five services (real RabbitMQ and PostgreSQL), identity and orders served over HTTP."""
    site_port, identity_port = free_port(), free_port()
    site_url = f"http://127.0.0.1:{site_port}"
    with SmtpSink() as mail:
        email = EmailSettings(smtp_port=mail.port, relay_poll_seconds=0.1)
        async with Platform() as platform:
            await platform.start(
                "identity", public_site_url=site_url, email=email, uniform_response_seconds=0.05
            )
            identity_url = f"http://127.0.0.1:{identity_port}"
            await platform.start("orders", identity_url=identity_url, email=email)
            for name in ("verification", "dispatch", "reporting"):
                await platform.start(name)
            await platform.load_register()
            if stock:
                await platform.receive_stock(stock)
            async with (
                serving(platform.apps["identity"][0], identity_port),
                serving(platform.apps["orders"][0], site_port),
            ):
                yield SitePlatform(platform, mail, site_url, identity_url)
