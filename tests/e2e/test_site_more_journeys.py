"""More providers through the site in a real browser: an email covering several CQC
locations ordering for three in one go, a hospice signing in with its postcode, and a user
who mistypes every field once and is told exactly what to fix; the order emails (the
dispatch one with the poster) reach the signed-in address; a provider not on CQC's register
creates an account and orders to its own address. 0 axe violations on each page."""

from __future__ import annotations

import csv
import re

import pytest
from playwright.async_api import BrowserContext

from tests.e2e.steps import continue_, mail_to, past_setting_up, sign_in
from tests.support.browser import check_page
from tests.support.journeys import register_rows
from tests.support.platform import REGISTER_SAMPLE
from tests.support.site import SitePlatform

pytestmark = pytest.mark.e2e


async def test_one_email_orders_for_three_locations_in_one_go(
    context: BrowserContext, site: SitePlatform
) -> None:
    email = "registered.manager@heatherhealthcare18.org.uk"
    locations = [r for r in register_rows() if r.email.lower() == email][:3]
    page = await context.new_page()
    for row in locations:  # FAQ 4: try each location's ODS code as the password
        await sign_in(page, row.email, row.ods_code)
    await check_page(page, "multi-locations")
    for row in locations:
        await page.locator(f"input[value='{row.location_id}']").check()
    await continue_(page)
    await page.wait_for_url("**/order/staff")
    await check_page(page, "multi-staff")
    inputs = page.get_by_role("textbox")
    assert await inputs.count() == 3
    for i, count in enumerate(("5", "8", "11")):
        await inputs.nth(i).fill(count)
    await continue_(page)
    await page.wait_for_url("**/order/deliver-to")
    await check_page(page, "multi-deliver-to")
    await page.locator(f"input[value='{locations[1].location_id}']").check()
    await continue_(page)
    await page.get_by_role("textbox").fill("Pat Coordinator")
    await continue_(page)
    await page.wait_for_url("**/order/check")
    await check_page(page, "multi-check-answers")
    summary = await page.locator(".govuk-summary-list").inner_text()
    assert "Total badges" in summary and "24" in summary
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")
    assert "24 badges" in await page.locator("main").inner_text()

    # Ordering again is explained at the start (issue 16, item 9), not after four pages.
    await page.goto("/order/locations")
    assert await page.locator("h1").inner_text() == "You have already ordered badges"
    assert await page.get_by_role("button", name="Continue").count() == 0
    await check_page(page, "already-ordered")


async def test_a_hospice_signs_in_with_its_postcode(
    context: BrowserContext, site: SitePlatform
) -> None:
    with REGISTER_SAMPLE.open(newline="", encoding="utf-8-sig") as f:
        hospice = next(
            r
            for r in csv.DictReader(f)
            if r["Location Primary Inspection Category"] == "Hospice services"
            and r["Dormant (Y/N)"] != "Y"
        )
    page = await context.new_page()
    await sign_in(page, hospice["Location Email"], hospice["Location Postal Code"].lower())
    assert hospice["Location ID"] in await page.locator("main").inner_text()
    await continue_(page)
    await page.get_by_role("textbox").fill("40")
    await continue_(page)
    await page.get_by_role("textbox").fill("Hospice Lead")
    await continue_(page)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")


async def test_every_field_mistyped_once_gets_the_right_error_then_the_order_goes_through(
    context: BrowserContext, site: SitePlatform
) -> None:
    rows = [r for r in register_rows() if r.email.lower().startswith("manager")]
    row = next(r for r in rows if sum(x.email == r.email for x in rows) == 1)
    page = await context.new_page()

    async def errors_shown(name: str) -> tuple[str, str]:
        await check_page(page, f"mistyped-{name}")
        assert (await page.title()).startswith("Error: ")
        summary = await page.locator(".govuk-error-summary").inner_text()
        inline = await page.locator(".govuk-error-message").first.inner_text()
        # The summary links to the field with the problem.
        link = page.locator(".govuk-error-summary a").first
        target = (await link.get_attribute("href") or "").lstrip("#")
        assert await page.locator(f"[id='{target}']").count() == 1
        return summary, inline

    await page.goto("/eligibility/who")
    await continue_(page)
    summary, _ = await errors_shown("who")
    assert "Select who you are ordering badges for" in summary

    await page.goto("/sign-in")
    await page.get_by_label("Email address").fill("not-an-email")
    await page.get_by_role("button", name="Sign in").click()
    summary, _ = await errors_shown("sign-in-format")
    assert "correct format" in summary and "Enter your password, ODS code or postcode" in summary
    await page.get_by_label("Email address").fill(row.email)
    await page.get_by_label("Password, ODS code or postcode").fill("WRONG1")
    await page.get_by_role("button", name="Sign in").click()
    summary, _ = await errors_shown("sign-in-wrong")
    assert "Enter the right email address and password" in summary
    assert await page.get_by_label("Email address").input_value() == row.email  # kept
    await page.get_by_label("Password, ODS code or postcode").fill(row.ods_code)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url("**/order/locations")
    await continue_(page)

    await page.get_by_role("textbox").fill("twelve")
    await continue_(page)
    _, inline = await errors_shown("staff")
    assert "must be a whole number" in inline
    await page.get_by_role("textbox").fill("0")
    await continue_(page)
    assert "must be 1 or more" in await page.locator(".govuk-error-summary").inner_text()
    await page.get_by_role("textbox").fill("9")
    await continue_(page)

    await continue_(page)  # no name
    summary, _ = await errors_shown("contact")
    assert "Enter the name of the person who will receive the badges" in summary
    await page.get_by_role("textbox").fill("Chris Careful")
    await continue_(page)
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")
    reference = re.search(r"CB-[0-9A-Z]{4}-[0-9A-Z]{4}", await page.locator("main").inner_text())
    assert reference

    placed = await mail_to(site, row.email, "received")
    assert reference.group(0) in str(placed["Subject"])
    dispatched = await mail_to(site, row.email, "dispatched")
    attachments = list(dispatched.iter_attachments())
    assert [a.get_content_type() for a in attachments] == ["application/pdf"]
    pdf = attachments[0].get_content()
    assert b"/URI (https://workforce.adultsocialcare.uk)" in pdf
    assert "https://workforce.adultsocialcare.uk" in dispatched.get_body(("plain",)).get_content()


async def test_a_forgotten_password_is_reset_from_the_emailed_link(
    context: BrowserContext, site: SitePlatform
) -> None:
    rows = [r for r in register_rows() if r.email.lower().startswith("manager")]
    row = [r for r in rows if sum(x.email == r.email for x in rows) == 1][1]
    page = await context.new_page()
    await page.goto("/sign-in")
    await page.get_by_role("link", name="I have forgotten my password").click()
    await check_page(page, "forgotten-password")
    await page.get_by_label("Email address").fill(row.email)
    await page.get_by_role("button", name="Send the link").click()
    await check_page(page, "reset-link-sent")
    message = await mail_to(site, row.email, "")
    link = re.search(
        r"https?://\S+/reset-password\?token=\S+", message.get_body(("plain",)).get_content()
    )
    assert link, message
    await page.goto(link.group(0))
    await check_page(page, "choose-password")
    await page.get_by_label("New password").fill("short")
    await page.get_by_role("button", name="Change password").click()
    assert await page.locator(".govuk-error-summary").count() == 1
    await page.get_by_label("New password").fill("amber kettle orchard lighthouse")
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url("**/password-changed")
    await sign_in(page, row.email, "amber kettle orchard lighthouse")


async def test_a_provider_not_on_the_cqc_register_creates_an_account(
    context: BrowserContext, site: SitePlatform
) -> None:
    email = "lee.officer@northshire.example"
    password = "amber kettle orchard lighthouse"
    page = await context.new_page()
    await page.goto("/eligibility/who")
    await page.get_by_label("Staff that my organisation pays to work in adult social care").check()
    await continue_(page)
    await page.get_by_label("England", exact=True).check()
    await continue_(page)
    await page.get_by_label("No", exact=True).check()
    await continue_(page)
    await page.wait_for_url("**/create-account")
    await page.get_by_role("button", name="Create account").click()
    await check_page(page, "create-account-errors")
    summary = await page.locator(".govuk-error-summary").inner_text()
    assert "Select the kind of organisation you are" in summary
    assert "Enter the postcode" in summary and "Enter a password" in summary
    await page.get_by_label("A care provider not registered with CQC").check()
    for label, value in [
        ("Organisation name", "Willow Home Support"),
        ("Your full name", "Lee Manager"),
        ("Address line 1", "1 Market Street"),
        ("Town or city", "Leeds"),
        ("Postcode", "LS1 4AP"),
        ("Phone number", "0113 496 0000"),
        ("Email address", email),
        ("Create a password", password),
    ]:
        await page.get_by_label(label, exact=True).fill(value)
    await page.get_by_role("button", name="Create account").click()
    assert await page.locator("h1").inner_text() == "Check your email"
    message = await mail_to(site, email, "")
    link = re.search(
        r"https?://\S+(/create-account/confirm\?token=\S+)",
        message.get_body(("plain",)).get_content(),
    )
    assert link, message
    await page.goto(link.group(1))
    await check_page(page, "create-account-confirm")
    await page.get_by_role("button", name="Create my account").click()
    await page.wait_for_url("**/create-account/done")
    await sign_in(page, email, password)

    # Not on CQC's register: the badges go to the address given above.
    await past_setting_up(page, shot="own-address-not-ready")
    await check_page(page, "own-address")
    main = await page.locator("main").inner_text()
    assert "Willow Home Support" in main and "1 Market Street" in main and "LS1 4AP" in main
    await continue_(page)
    await page.wait_for_url("**/order/staff")
    assert await page.locator("h1").inner_text() == "How many members of staff do you employ?"
    await check_page(page, "own-address-staff")
    await page.get_by_role("textbox").fill("fourteen")
    await continue_(page)
    await check_page(page, "own-address-staff-error")
    assert (
        "Number of staff must be a whole number"
        in await page.locator(".govuk-error-summary").inner_text()
    )
    await page.get_by_role("textbox").fill("14")
    await continue_(page)
    await page.wait_for_url("**/order/contact")
    await check_page(page, "own-address-contact")
    assert await page.get_by_role("textbox").input_value() == "Lee Manager"  # as registered
    await continue_(page)
    await page.wait_for_url("**/order/check")
    await check_page(page, "own-address-check")
    summary = await page.locator(".govuk-summary-list").inner_text()
    assert "14" in summary and "Willow Home Support" in summary and "Lee Manager" in summary
    await page.get_by_role("button", name="Place order").click()
    await page.wait_for_url("**/order/confirmation/*")
    await check_page(page, "own-address-confirmation")
    main = await page.locator("main").inner_text()
    reference = re.search(r"CB-[0-9A-Z]{4}-[0-9A-Z]{4}", main)
    assert reference and "14 badges" in main
    assert "A member of our team will check your order" in main
    placed = await mail_to(site, email, f"{reference.group(0)} received")
    assert "A member of our team will check your order" in placed.get_body(("plain",)).get_content()
