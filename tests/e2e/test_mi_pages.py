"""The MI page in a real browser: a DHSC analyst signs in with the shared staff sign-in,
sees the figures in the site's GOV.UK layout at 0 axe violations, downloads a CSV behind the
same session, and signs out; operations staff get in too, customer services do not.
With one day of data the charts draw bars and say a line needs more days."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Page

from services.identity.domain.accounts import Role
from shared.events import (
    AccountKind,
    OrderDispatched,
    OrderPlacedForReporting,
    StockReceived,
    StockReserved,
)
from shared.events.reporting import NON_CQC_PROVIDER
from tests.e2e.steps import STAFF_PASSWORD as PASSWORD
from tests.e2e.steps import accept_invitation, staff_sign_in
from tests.support.browser import check_page
from tests.support.events import order_placed
from tests.support.identity import invite_staff, staff_account
from tests.support.keys import staff as staff_headers
from tests.support.mail import free_port
from tests.support.platform import Platform, eventually
from tests.support.serve import serving

pytestmark = pytest.mark.e2e


@dataclass
class Reporting:
    platform: Platform
    url: str
    emails: dict[Role, str]


@pytest.fixture(scope="module")
async def reporting() -> AsyncIterator[Reporting]:
    async with Platform() as platform:
        identity_port = free_port()
        await platform.start("identity", uniform_response_seconds=0.05)
        await platform.start(
            "reporting", identity_url=f"http://127.0.0.1:{identity_port}", rounding_base=1
        )
        emails = {
            role: (await staff_account(platform, role, PASSWORD))[0]
            for role in (Role.DHSC_ANALYST, Role.OPERATIONS, Role.CUSTOMER_SERVICE)
        }
        await platform.publish(StockReceived(item="badge", quantity=10_000))
        await platform.publish(StockReserved(order_id=uuid.uuid4(), quantity=24))
        for _ in range(6):  # one day of orders, each dispatched straight away
            order = order_placed(4, AccountKind.NON_CQC)
            await platform.publish(OrderPlacedForReporting.of(order, NON_CQC_PROVIDER))
            await platform.publish(
                OrderDispatched(
                    order_id=order.order_id, shipment_reference="S", parcel_count=1, quantity=4
                )
            )

        async with platform.client("reporting") as client:

            async def counted() -> bool:
                answer = await client.get("/api/mi/figures", headers=staff_headers("dhsc_analyst"))
                return bool(answer.json()["placed_to_dispatched"]["orders"] == 6)

            await eventually(counted)
        async with (
            serving(platform.apps["identity"][0], identity_port),
            serving(platform.apps["reporting"][0]) as url,
        ):
            yield Reporting(platform, url, emails)


@pytest.fixture(scope="module")
def site_url(reporting: Reporting) -> str:
    return reporting.url


async def sign_in(page: Page, email: str, check: bool = False) -> None:
    await staff_sign_in(page, email, "/mi", shot="mi-sign-in" if check else "")


async def test_an_analyst_signs_in_and_reads_the_figures_in_the_sites_layout(
    page: Page, reporting: Reporting
) -> None:
    await page.goto("/sign-in")
    await page.get_by_role("button", name="Sign in").click()
    await check_page(page, "mi-sign-in-error")
    assert "Enter your email address" in await page.locator(".govuk-error-summary").inner_text()

    await sign_in(page, reporting.emails[Role.DHSC_ANALYST], check=True)
    await page.wait_for_url(reporting.url + "/mi")
    await check_page(page, "mi")
    assert await page.locator("h1").inner_text() == "CARE badges: progress to date"
    # The current GOV.UK header and service navigation, as on the site and the back office.
    assert await page.locator(".govuk-header").count() == 1
    assert "Sign out" in await page.locator(".govuk-service-navigation").inner_text()
    times = await page.locator("#times").inner_text()
    assert "seconds or less" in times and " h " not in times
    assert "not enough data" in await page.locator("#forecast").inner_text()
    charts = page.locator("svg.chart")
    assert await charts.count() == 6
    description = await page.locator("#pipeline-d").text_content() or ""
    assert "shown as bars until there are 2 days" in description
    # Each chart's data is in a table under it.
    await page.get_by_text("Show the data: time from placed to dispatched").click()
    assert (
        "Under 1 second" in await page.locator("table").filter(has_text="Time taken").inner_text()
    )

    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="Summary figures (CSV)").click()
    download = await waiting.value
    path = await download.path()
    assert "placed_to_dispatched.median.text" in path.read_text()

    await page.get_by_role("link", name="Sign out").click()
    await page.wait_for_url("**/sign-in")
    answer = await page.goto("/mi")
    assert answer is not None and "/sign-in" in page.url


async def test_operations_get_in_and_customer_services_are_refused(
    page: Page, reporting: Reporting
) -> None:
    await sign_in(page, reporting.emails[Role.OPERATIONS])
    await page.wait_for_url(reporting.url + "/mi")
    await page.get_by_role("link", name="Sign out").click()
    await page.wait_for_url("**/sign-in")

    await sign_in(page, reporting.emails[Role.CUSTOMER_SERVICE])
    await page.wait_for_load_state()
    answer = await page.goto("/mi")
    assert answer is not None and answer.status == 403
    await check_page(page, "mi-forbidden")
    assert "do not have access" in await page.locator("h1").inner_text()


async def test_a_new_analyst_sets_their_password_on_the_mi_pages_and_lands_there(
    page: Page, reporting: Reporting
) -> None:
    """Issue 16, item 8: an analyst's invitation links to the MI pages, not the public site or
    the back office, and the new password leads to the MI pages' own sign-in."""
    email, link, _ = await invite_staff(reporting.platform, Role.DHSC_ANALYST, reporting.url)
    assert link.startswith(reporting.url + "/reset-password")

    await accept_invitation(page, link, email, "mi-choose-password")
    await page.wait_for_url(reporting.url + "/mi")
