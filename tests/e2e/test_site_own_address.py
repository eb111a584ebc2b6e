"""Accounts not on CQC's register on the site, in a real browser: a local authority tops up
once its first order has been sent (FAQ 12), and a care provider's second order is explained
and not taken, even when two browsers race to place it. 0 axe violations on each page."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.e2e.steps import continue_, mail_to, past_setting_up, sign_in
from tests.support.browser import check_page
from tests.support.identity import registration
from tests.support.journeys import order_status
from tests.support.journeys import sign_in as api_sign_in
from tests.support.own_address import approve, create_account, order_when_ready
from tests.support.platform import eventually
from tests.support.site import SitePlatform

pytestmark = pytest.mark.e2e

PASSWORD = "amber kettle orchard lighthouse"


async def heading(page: Page) -> str:
    return await page.locator("h1").inner_text()


async def test_a_local_authority_tops_up_once_its_first_order_has_been_sent(
    context: BrowserContext, site: SitePlatform
) -> None:
    body = registration(
        "care.team@eastmoor.gov.example",
        organisation_type="local_authority",
        organisation_name="Eastmoor Council",
        contact_name="Dana Officer",
        address_line_1="Civic Centre",
        city="Leeds",
        postcode="LS2 8HD",
        password=PASSWORD,
    )
    await create_account(site.platform, site.mail, body)
    api = await api_sign_in(site.platform, body["email"], PASSWORD)
    first = await order_when_ready(site.platform, api["access_token"], 30)

    # While the first order is being checked, a second is explained and not started.
    page = await context.new_page()
    await sign_in(page, body["email"], PASSWORD)
    assert await heading(page) == "Your earlier order has not been sent yet"
    assert first["reference"] in await page.locator("main").inner_text()
    await check_page(page, "top-up-waiting")

    await approve(site.platform, first["order_id"])

    async def sent() -> bool:
        order = await order_status(site.platform, api["access_token"], first["order_id"])
        return order["status"] == "dispatched"

    await eventually(sent)

    await page.goto("/order/locations")
    assert await heading(page) == "Check where we will send the badges"
    main = await page.locator("main").inner_text()
    assert "Eastmoor Council" in main and "on top of those we have already sent" in main
    await check_page(page, "top-up-address")
    await continue_(page)
    await page.wait_for_url("**/order/staff")
    assert await heading(page) == "How many more badges do you need?"
    main = await page.locator("main").inner_text()
    assert "You have already been sent 30 badges" in main
    assert "Order only the badges you need on top of those you already have" in main
    await check_page(page, "top-up-staff")
    await continue_(page)
    summary = await page.locator(".govuk-error-summary").inner_text()
    assert "Enter how many more badges you need" in summary
    await check_page(page, "top-up-staff-error")
    await page.get_by_role("textbox").fill("6")
    await continue_(page)
    await page.wait_for_url("**/order/contact")
    assert await page.get_by_role("textbox").input_value() == "Dana Officer"
    await continue_(page)
    await page.wait_for_url("**/order/check")
    summary = await page.locator(".govuk-summary-list").inner_text()
    assert "Badges already sent" in summary and "30" in summary
    assert "More badges (top-up)" in summary and "6" in summary
    await check_page(page, "top-up-check")
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")
    main = await page.locator("main").inner_text()
    assert "Top-up order placed" in main
    assert "This is a top-up: 6 more badges on top of those we have already sent you" in main
    assert "A member of our team will check your order" in main
    await check_page(page, "top-up-confirmation")
    reference = re.search(r"CB-[0-9A-Z]{4}-[0-9A-Z]{4}", main)
    assert reference
    email = await mail_to(site, body["email"], f"{reference.group(0)} received")
    assert "top-up order for 6 CARE badges" in email.get_body(("plain",)).get_content()

    await page.goto("/orders")
    rows = await page.locator("tbody tr").all_inner_texts()
    assert len(rows) == 2
    assert first["reference"] in rows[0] and "top-up" not in rows[0]
    assert reference.group(0) in rows[1] and "(top-up)" in rows[1]
    await check_page(page, "top-up-your-orders")


async def test_a_providers_second_order_is_explained_and_not_taken(
    browser: Browser, site: SitePlatform
) -> None:
    body = registration(
        "office@meadow-support.example",
        organisation_name="Meadow Support",
        contact_name="Kit Organiser",
        address_line_1="3 Meadow Way",
        city="Leeds",
        postcode="LS7 3AB",
        password=PASSWORD,
    )
    await create_account(site.platform, site.mail, body)

    # Two people at the provider get as far as "Place order" at the same time.
    contexts = [await browser.new_context(base_url=site.site_url) for _ in range(2)]
    try:
        pages = [await c.new_page() for c in contexts]
        for page, staff in zip(pages, ("9", "12"), strict=True):
            await sign_in(page, body["email"], PASSWORD)
            await past_setting_up(page)
            await continue_(page)
            await page.get_by_role("textbox").fill(staff)
            await continue_(page)
            await continue_(page)
            await page.wait_for_url("**/order/check")
        await pages[0].get_by_role("button", name="Place order").click()
        await pages[0].wait_for_url("**/order/confirmation/*")
        await pages[1].get_by_role("button", name="Place order").click()
        assert await heading(pages[1]) == "Your organisation has already ordered badges"
        assert "we have not taken another one" in await pages[1].locator("main").inner_text()
        await check_page(pages[1], "organisation-already-ordered")

        # Starting again is stopped at the first page, with the same explanation.
        await pages[1].goto("/order/locations")
        assert await heading(pages[1]) == "Your organisation has already ordered badges"
        await pages[1].goto("/orders")
        rows = await pages[1].locator("tbody tr").all_inner_texts()
        assert len(rows) == 1
    finally:
        for c in contexts:
            await c.close()
