"""What a provider is told on the site's pages (issue 16): over the online ceiling, the way
to order anyway; that a location has already ordered, at the start rather than the last step,
and on "Your orders" instead of an "Order badges" button; after closure, that the service has
closed (this one runs last: it closes the portal)."""

from __future__ import annotations

import pytest
from playwright.async_api import Page

from tests.e2e import steps
from tests.support import journeys
from tests.support.browser import check_page
from tests.support.journeys import RegisterRow, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.site import SitePlatform

pytestmark = pytest.mark.e2e

ROWS = single_location_rows()


async def sign_in(page: Page, row: RegisterRow) -> None:
    await steps.sign_in(page, row.email, row.ods_code, lands_on=None)


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


async def test_a_location_that_has_ordered_is_told_at_the_start_and_not_offered_to_order(
    page: Page, site: SitePlatform
) -> None:
    row = ROWS[31]
    session = await journeys.sign_in(site.platform, row.email, row.ods_code)
    await journeys.place_order(
        site.platform, session["access_token"], [(row.location_id, 5)], row.location_id
    )

    await sign_in(page, row)
    await page.wait_for_url("**/order/locations")
    assert await page.locator("h1").inner_text() == "You have already ordered badges"
    assert "Every location on your account already has an order" in await page.inner_text("main")
    assert await page.get_by_role("button", name="Continue").count() == 0
    await check_page(page, "integrity-already-ordered-at-the-start")

    await page.goto("/orders")
    assert await page.get_by_role("button", name="Order badges").count() == 0
    assert await page.get_by_role("link", name="Order badges").count() == 0
    why = await page.locator("#nothing-to-order").inner_text()
    assert "Every location on your account already has an order" in why
    await check_page(page, "integrity-your-orders-nothing-to-order")


async def test_a_location_that_can_order_is_offered_to(page: Page) -> None:
    await sign_in(page, ROWS[32])
    await page.wait_for_url("**/order/locations")
    await page.goto("/orders")
    assert await page.get_by_role("button", name="Order badges").count() == 1


def shared_email_rows() -> list[RegisterRow]:
    """Two locations of the sample register under one email, each with an ODS code."""
    by_email: dict[str, list[RegisterRow]] = {}
    for row in journeys.register_rows():
        by_email.setdefault(row.email.lower(), []).append(row)
    return next(rows[:2] for rows in by_email.values() if len(rows) >= 2)


async def test_a_provider_adds_another_location_from_inside_the_account(page: Page) -> None:
    first, second = shared_email_rows()
    await sign_in(page, first)
    await page.wait_for_url("**/order/locations")
    await page.get_by_role("link", name="add another location").click()
    await page.wait_for_url("**/order/add-location")
    await check_page(page, "integrity-add-location")
    await page.get_by_label("ODS code or postcode of the location to add").fill("NOTACODE")
    await page.get_by_role("button", name="Add location").click()
    summary = page.locator(".govuk-error-summary")
    await summary.wait_for()
    assert "the one you signed in with" in await summary.inner_text()
    await check_page(page, "integrity-add-location-error")
    await page.get_by_label("ODS code or postcode of the location to add").fill(second.ods_code)
    await page.get_by_role("button", name="Add location").click()
    await page.wait_for_url("**/order/locations")
    assert await page.locator(f"input[value='{first.location_id}']").count() == 1
    assert await page.locator(f"input[value='{second.location_id}']").count() == 1


async def test_after_closure_signing_in_says_the_service_has_closed(
    page: Page, site: SitePlatform
) -> None:
    async with site.platform.client("identity") as identity:
        closed = await identity.post("/api/portal/close", headers=bearer(mint("operations")))
    assert closed.status_code == 200, closed.text
    await sign_in(page, ROWS[33])
    summary = page.locator(".govuk-error-summary")
    await summary.wait_for()
    assert "The CARE badges service has closed" in await summary.inner_text()
    await check_page(page, "integrity-sign-in-after-closure")
