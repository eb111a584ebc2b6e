"""The waiting room in a real browser: with one place in the order journey, a second visitor
(JavaScript off) is shown the queue page with their place, and the page takes them on to
sign in by itself once the first visitor signs out. The queue page has 0 axe violations,
updating and not."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser

from tests.e2e.steps import orders_alone
from tests.support.browser import check_page, screenshot

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def site() -> AsyncIterator[str]:
    async with orders_alone(
        waiting_room_limit=1, waiting_room_admit_per_second=0.0, waiting_room_tick_seconds=0.5
    ) as url:
        yield url


async def test_the_next_visitor_waits_with_a_place_and_goes_in_when_one_leaves(
    browser: Browser, site: str
) -> None:
    first = await browser.new_context(base_url=site)
    second = await browser.new_context(base_url=site, java_script_enabled=False)
    third = await browser.new_context(base_url=site)
    try:
        inside = await first.new_page()
        await inside.goto("/sign-in")
        assert await inside.locator("h1").inner_text() == "Sign in"

        waiting = await second.new_page()
        await waiting.goto("/sign-in")
        assert waiting.url.endswith("/waiting-room")
        assert await waiting.locator("h1").inner_text() == "You are in a queue"
        place = waiting.locator(".govuk-summary-list__row", has_text="Your place in the queue")
        assert (await place.locator("dd").inner_text()).strip() == "1"
        assert "Estimated wait" in await waiting.locator("main").inner_text()
        await screenshot(waiting, "waiting-room-no-javascript")

        # A third visitor (JavaScript on, so axe can run) is behind them.
        behind = await third.new_page()
        await behind.goto("/order/locations")
        place = behind.locator(".govuk-summary-list__row", has_text="Your place in the queue")
        assert (await place.locator("dd").inner_text()).strip() == "2"
        await check_page(behind, "waiting-room")
        await behind.get_by_role("link", name="Stop this page updating by itself").click()
        assert behind.url.endswith("/waiting-room?refresh=off")
        assert "does not update by itself" in await behind.locator("main").inner_text()
        await check_page(behind, "waiting-room-not-updating")

        # The first visitor leaves; the second's page, with no JavaScript, moves on by itself.
        await inside.goto("/sign-out")
        await inside.get_by_role("button", name="Sign out").click()
        await inside.wait_for_url("**/signed-out")
        await waiting.wait_for_url("**/sign-in", timeout=60_000)
        assert await waiting.locator("h1").inner_text() == "Sign in"
        await behind.get_by_role("button", name="Check your place in the queue").click()
        assert (await place.locator("dd").inner_text()).strip() == "1"
    finally:
        for context in (first, second, third):
            await context.close()
