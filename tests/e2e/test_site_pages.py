"""The site's public pages in a real browser: the start page, the footer pages and an
ineligible visitor (an unpaid carer, someone working outside England), each page at 0 axe
violations, with JavaScript and without, and by keyboard alone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page

from tests.e2e.steps import orders_alone
from tests.support.browser import check_page, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def site_url() -> AsyncIterator[str]:
    async with orders_alone() as url:
        yield url


async def test_the_start_and_footer_pages_are_accessible(page: Page) -> None:
    await page.goto("/")
    await check_page(page, "start")
    assert await page.locator("h1").inner_text() == "Order CARE badges for your staff"
    assert await page.evaluate("document.body.classList.contains('govuk-frontend-supported')")
    for link, name in [
        ("Privacy", "privacy"),
        ("Cookies", "cookies"),
        ("Accessibility statement", "accessibility"),
        ("Contact", "contact"),
    ]:
        await page.goto("/")
        await page.get_by_role("contentinfo").get_by_role("link", name=link).click()
        await check_page(page, name)


async def test_an_unpaid_carer_is_told_they_cannot_use_the_service(page: Page) -> None:
    await page.goto("/")
    await page.get_by_role("button", name="Start now").click()
    await page.get_by_role("button", name="Continue").click()
    await check_page(page, "eligibility-error")
    summary = page.locator(".govuk-error-summary")
    assert "Select who you are ordering badges for" in await summary.inner_text()
    await page.get_by_label("Myself: I look after someone without being paid for it").check()
    await page.get_by_role("button", name="Continue").click()
    await check_page(page, "cannot-use-unpaid-carer")
    assert await page.locator("h1").inner_text() == "You cannot use this service"
    assert "Unpaid carers cannot order them" in await page.locator("main").inner_text()
    # axe needs JavaScript: the pages the keyboard-only test visits are checked here.
    for path in ("/eligibility/where", "/eligibility/registered", "/cannot-use/outside-england"):
        await page.goto(path)
        await check_page(page, path.strip("/").replace("/", "-"))


async def test_someone_outside_england_by_keyboard_without_javascript(
    browser: Browser, site_url: str
) -> None:
    """Keyboard only, JavaScript off (axe cannot run there: the test above checks these
    pages with it)."""
    context = await browser.new_context(base_url=site_url, java_script_enabled=False)
    page = await context.new_page()
    try:
        await page.goto("/eligibility/who")
        await _choose_by_keyboard(
            page, "Staff that my organisation pays to work in adult social care"
        )
        await _continue_by_keyboard(page)
        await page.wait_for_url("**/eligibility/where")
        await screenshot(page, "eligibility-where-no-javascript")
        await _choose_by_keyboard(page, "Scotland, Wales, Northern Ireland or outside the UK")
        await _continue_by_keyboard(page)
        await page.wait_for_url("**/cannot-use/outside-england")
        await screenshot(page, "cannot-use-outside-england-no-javascript")
        assert "only for people who work in adult social care in England" in (
            await page.locator("main").inner_text()
        )
    finally:
        await context.close()


async def _choose_by_keyboard(page: Page, label: str) -> None:
    """Tab to the radio group and arrow to ``label``: what a keyboard user does."""
    target = page.get_by_label(label)
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.type === 'radio'"):
            break
    for _ in range(5):
        if await target.evaluate("el => el === document.activeElement"):
            break
        await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Space")
    assert await target.is_checked()


async def _continue_by_keyboard(page: Page) -> None:
    """Tab on to the Continue button and press Enter."""
    for _ in range(10):
        await page.keyboard.press("Tab")
        if await page.evaluate("document.activeElement.textContent.trim() === 'Continue'"):
            await page.keyboard.press("Enter")
            return
    raise AssertionError("the Continue button cannot be reached with Tab")
