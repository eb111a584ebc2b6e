"""A CQC-registered provider with one location orders badges in a real browser, end to end
on the real services: eligibility, sign in with the ODS code, the location's details read
only, staff numbers, the parcel's addressee, check your answers (with a Change link),
confirmation, the order's timeline through dispatch, cancelling before dispatch, signing out,
and no way into another account's order. Every page: 0 axe violations and a screenshot."""

from __future__ import annotations

import re

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.e2e import steps
from tests.e2e.steps import continue_
from tests.support.browser import check_page
from tests.support.journeys import RegisterRow, single_location_rows
from tests.support.platform import eventually
from tests.support.site import SitePlatform, csrf_from

pytestmark = pytest.mark.e2e

ROWS = single_location_rows()
SITE_STOCK = 0  # no stock yet: orders wait, so can be cancelled


async def sign_in(page: Page, row: RegisterRow, shots: str = "") -> None:
    await steps.sign_in(page, row.email, row.ods_code, f"{shots}sign-in" if shots else "")


async def order(page: Page, staff: str, contact: str, shots: str = "") -> str:
    """From the location page to the confirmation; returns the order's reference."""
    if shots:
        await check_page(page, f"{shots}location")
    await continue_(page)
    await page.wait_for_url("**/order/staff")
    if shots:
        await check_page(page, f"{shots}staff")
    await page.get_by_role("textbox").fill(staff)
    await continue_(page)
    await page.wait_for_url("**/order/contact")
    if shots:
        await check_page(page, f"{shots}contact")
    await page.get_by_label("Who should we address the parcel to?").fill(contact)
    await continue_(page)
    await page.wait_for_url("**/order/check")
    if shots:
        await check_page(page, f"{shots}check-answers")
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")
    if shots:
        await check_page(page, f"{shots}confirmation")
    panel = await page.locator(".govuk-panel").inner_text()
    found = re.search(r"CB-[0-9A-Z]{4}-[0-9A-Z]{4}", panel)
    assert found, panel
    return found.group(0)


async def open_order(page: Page, reference: str) -> None:
    await page.goto("/orders")
    await page.get_by_role("link", name=reference).click()
    await page.wait_for_url("**/orders/*")


async def test_a_provider_cancels_an_order_before_it_is_dispatched(
    context: BrowserContext,
) -> None:
    page = await context.new_page()
    await sign_in(page, ROWS[1])
    reference = await order(page, "7", "Alex Manager")
    await open_order(page, reference)
    await page.get_by_role("button", name="Cancel this order").click()
    await check_page(page, "cancel-order")
    await page.get_by_role("button", name="Yes, cancel the order").click()
    await page.wait_for_url(re.compile(r".*/orders/[0-9a-f-]+$"))
    main = await page.locator("main").inner_text()
    assert "Cancelled" in main and "can no longer be cancelled" in main
    # The location can be ordered for again.
    await page.goto("/order/locations")
    assert await order(page, "7", "Alex Manager") != reference


async def test_a_cqc_provider_with_one_location_orders_and_follows_the_order(
    context: BrowserContext, site: SitePlatform
) -> None:
    row = ROWS[0]
    page = await context.new_page()
    await page.goto("/")
    await check_page(page, "start")
    await page.get_by_role("button", name="Start now").click()
    await check_page(page, "eligibility-who")
    await page.get_by_label("Staff that my organisation pays to work in adult social care").check()
    await continue_(page)
    await page.get_by_label("England", exact=True).check()
    await continue_(page)
    await check_page(page, "eligibility-registered")
    await page.get_by_label("Yes").check()
    await continue_(page)
    await page.wait_for_url("**/sign-in")

    await sign_in(page, row, shots="cqc-")
    details = await page.locator("main").inner_text()
    assert row.location_id in details and row.postcode in details
    assert (
        "Ask CQC to update your registration" in await page.locator("details").inner_text()
        or "These details are wrong" in details
    )
    assert await page.locator("input[type=text]").count() == 0  # read only

    # A first pass with a Change link from check your answers.
    await continue_(page)
    await page.get_by_role("textbox").fill("12")
    await continue_(page)
    await page.get_by_role("textbox").fill("Sam Carer")
    await continue_(page)
    await page.wait_for_url("**/order/check")
    await page.get_by_role("link", name="Change who the parcel is addressed to").click()
    await page.get_by_role("textbox").fill("Sam Manager")
    await continue_(page)
    await page.wait_for_url("**/order/check")
    summary = await page.locator(".govuk-summary-list").inner_text()
    assert "Sam Manager" in summary and "12" in summary
    await page.goto("/order/locations")
    reference = await order(page, "12", "Sam Manager", shots="cqc-")

    await open_order(page, reference)
    await check_page(page, "order-timeline")

    async def waiting() -> bool:
        await page.reload()
        return "Waiting for stock" in await page.locator("main").inner_text()

    await eventually(waiting, timeout=30)
    await site.platform.receive_stock(1_000)

    async def dispatched() -> bool:
        await page.reload()
        return "Dispatched" in await page.locator("main").inner_text()

    await eventually(dispatched, timeout=60)
    await check_page(page, "order-dispatched")
    main = await page.locator("main").inner_text()
    assert "can no longer be cancelled" in main and "Order placed" in main

    await page.goto("/orders")
    await check_page(page, "your-orders")
    await page.get_by_role("link", name="Sign out").click()
    await check_page(page, "sign-out")
    await page.get_by_role("button", name="Sign out").click()
    await page.wait_for_url("**/signed-out")
    await check_page(page, "signed-out")
    await page.goto("/orders")
    assert page.url.endswith("/sign-in")


async def test_nobody_can_see_or_cancel_another_accounts_order(
    browser: Browser, site: SitePlatform
) -> None:
    owner = await browser.new_context(base_url=site.site_url)
    other = await browser.new_context(base_url=site.site_url)
    try:
        page = await owner.new_page()
        await sign_in(page, ROWS[2])
        await order(page, "3", "Jo Owner")
        order_url = page.url.replace("/order/confirmation/", "/orders/")
        order_path = order_url.removeprefix(site.site_url)

        intruder = await other.new_page()
        await sign_in(intruder, ROWS[3])
        for path in (
            order_path,
            f"{order_path}/cancel",
            order_path.replace("/orders/", "/order/confirmation/"),
        ):
            response = await intruder.goto(path)
            assert response is not None and response.status == 404, path
            assert "Page not found" in await intruder.locator("h1").inner_text()
        # A forged cancel, with the intruder's own valid CSRF token, is refused too.
        await intruder.goto("/orders")
        token = (
            csrf_from(await intruder.content())
            if "csrf_token" in await intruder.content()
            else None
        )
        if token is None:
            await intruder.goto("/sign-out")
            token = csrf_from(await intruder.content())
        cookies = {c["name"]: c["value"] for c in await other.cookies()}
        async with httpx.AsyncClient(base_url=site.site_url, cookies=cookies) as raw:
            forged = await raw.post(f"{order_path}/cancel", data={"csrf_token": token})
        assert forged.status_code == 404

        await page.goto(order_path)  # the owner's order is untouched
        assert "Cancelled" not in await page.locator("main").inner_text()
    finally:
        await owner.close()
        await other.close()
