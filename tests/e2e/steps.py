"""Steps the browser tests take on the sites, written once: a test module keeps only what is
its own. The fixtures that open the browser and the site are in ``conftest.py`` beside this."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

import httpx
from playwright.async_api import Page

from tests.support.browser import check_page
from tests.support.platform import Platform, eventually
from tests.support.serve import serving
from tests.support.site import SitePlatform

#: The password every member of staff in the back office and MI tests is given.
STAFF_PASSWORD = "correct horse battery staple 7"


@asynccontextmanager
async def orders_alone(**settings: Any) -> AsyncIterator[str]:
    """Only the orders service, served over HTTP: enough for the pages before sign-in."""
    async with Platform() as platform:
        await platform.start("orders", **settings)
        async with serving(platform.apps["orders"][0]) as url:
            yield url


def site_client(site: SitePlatform) -> httpx.AsyncClient:
    """The site over HTTPS, as its ``__Host-`` cookies require (identity over real HTTP)."""
    transport = httpx.ASGITransport(app=site.platform.apps["orders"][0])
    return httpx.AsyncClient(transport=transport, base_url="https://orders.test")


async def continue_(page: Page) -> None:
    await page.get_by_role("button", name="Continue").click()


async def sign_in(
    page: Page,
    email: str,
    password: str,
    shot: str = "",
    lands_on: str | None = "**/order/locations",
) -> None:
    """Sign in on the ordering site; by default wait for the first page of an order."""
    await page.goto("/sign-in")
    if shot:
        await check_page(page, shot)
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password, ODS code or postcode").fill(password)
    await page.get_by_role("button", name="Sign in").click()
    if lands_on:
        await page.wait_for_url(lands_on)


async def staff_sign_in(page: Page, email: str, start: str, shot: str = "") -> None:
    """Open ``start`` signed out, which sends staff to the shared sign-in, and sign in."""
    await page.goto(start)
    await page.wait_for_url(f"**/sign-in?next={quote(start, safe='')}")
    if shot:
        await check_page(page, shot)
    await _staff_credentials(page, email)


async def accept_invitation(page: Page, link: str, email: str, shot: str) -> None:
    """Follow a new member of staff's invitation link, choose the password, and sign in on
    the sign-in page that follows (the caller checks where that lands)."""
    await page.goto(link)
    await check_page(page, shot)
    await page.get_by_label("New password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Set password").click()
    await page.wait_for_url("**/sign-in?password=set")
    assert "Your password is set" in await page.locator("main").inner_text()
    await _staff_credentials(page, email)


async def _staff_credentials(page: Page, email: str) -> None:
    await page.get_by_label("Email address").fill(email)
    await page.get_by_label("Password").fill(STAFF_PASSWORD)
    await page.get_by_role("button", name="Sign in").click()


async def past_setting_up(page: Page, shot: str = "") -> None:
    """Orders hears of a new account within seconds; until then the page says to wait."""

    async def ready() -> bool:
        if await page.locator("h1").inner_text() == "We are still setting up your account":
            if shot:
                await check_page(page, shot)
            await page.get_by_role("link", name="Try again").click()
            return False
        return True

    await eventually(ready)


async def mail_to(site: SitePlatform, address: str, subject_part: str) -> EmailMessage:
    """The first message to ``address`` whose subject has ``subject_part``, once it arrives."""

    async def arrived() -> EmailMessage | None:
        for message in site.mail.messages:
            if message["To"] == address and subject_part in str(message["Subject"]):
                return message
        return None

    found = await eventually(arrived, timeout=60)
    assert found is not None
    return found
