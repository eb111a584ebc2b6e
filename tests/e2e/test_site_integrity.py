"""What a provider is told on the site's pages when an order cannot go ahead as typed
(issue 16): over the online ceiling, the way to order anyway."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.support.browser import check_page, chromium
from tests.support.journeys import RegisterRow, single_location_rows
from tests.support.site import SitePlatform, site_platform

pytestmark = pytest.mark.e2e

ROWS = single_location_rows()


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[SitePlatform]:
    async with site_platform() as s:
        yield s


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture
async def page(browser: Browser, site: SitePlatform) -> AsyncIterator[Page]:
    context: BrowserContext = await browser.new_context(base_url=site.site_url)
    yield await context.new_page()
    await context.close()


async def sign_in(page: Page, row: RegisterRow) -> None:
    await page.goto("/sign-in")
    await page.get_by_label("Email address").fill(row.email)
    await page.get_by_label("Password, ODS code or postcode").fill(row.ods_code)
    await page.get_by_role("button", name="Sign in").click()


async def test_more_than_ten_thousand_staff_says_how_to_order_anyway(page: Page) -> None:
    await sign_in(page, ROWS[30])
    await page.wait_for_url("**/order/locations")
    await page.get_by_role("button", name="Continue").click()
    await page.wait_for_url("**/order/staff")
    await page.get_by_role("textbox").fill("12,000")
    await page.get_by_role("button", name="Continue").click()
    summary = page.locator(".govuk-error-summary")
    await summary.wait_for()
    text = await summary.inner_text()
    assert "10,000 or fewer" in text
    assert "call customer services on 0161 495 4879" in text
    await check_page(page, "integrity-over-the-online-limit")
