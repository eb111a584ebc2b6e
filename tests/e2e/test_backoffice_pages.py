"""The back office in a real browser: a reviewer signs in with a password, filters the queue,
approves one order, rejects another with a reason, corrects a third's delivery address, finds
orders for a caller, and sees each step in the order's audit trail; every page at 0 axe
violations. Someone signed in without the customer services role is refused."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Page
from sqlalchemy import text

from services.identity.domain.accounts import Role
from shared.events import AccountKind, AccountRegistered, OrderPlaced
from tests.e2e.steps import STAFF_PASSWORD as PASSWORD
from tests.e2e.steps import accept_invitation, staff_sign_in
from tests.support.browser import check_page
from tests.support.events import order_placed
from tests.support.identity import invite_staff, staff_account
from tests.support.mail import free_port
from tests.support.platform import Platform, eventually
from tests.support.serve import serving

pytestmark = pytest.mark.e2e


@dataclass
class BackOffice:
    platform: Platform
    url: str
    reviewer_email: str
    analyst_email: str
    analyst_id: uuid.UUID


async def staff(platform: Platform, role: Role) -> tuple[str, uuid.UUID]:
    return await staff_account(platform, role, PASSWORD)


@pytest.fixture(scope="module")
async def back_office() -> AsyncIterator[BackOffice]:
    async with Platform() as platform:
        identity_port = free_port()
        await platform.start("identity", uniform_response_seconds=0.05)
        await platform.start("verification", identity_url=f"http://127.0.0.1:{identity_port}")
        await platform.start("dispatch")
        await platform.receive_stock(10_000)
        reviewer, _ = await staff(platform, Role.CUSTOMER_SERVICE)
        analyst, analyst_id = await staff(platform, Role.DHSC_ANALYST)
        async with (
            serving(platform.apps["identity"][0], identity_port),
            serving(platform.apps["verification"][0]) as url,
        ):
            yield BackOffice(platform, url, reviewer, analyst, analyst_id)


@pytest.fixture(scope="module")
def site_url(back_office: BackOffice) -> str:
    return back_office.url


async def referred(
    platform: Platform, quantity: int, email: str | None = None, phone: str | None = None
) -> OrderPlaced:
    event = order_placed(quantity=quantity, kind=AccountKind.NON_CQC)
    if email:
        await platform.publish(
            AccountRegistered(
                account_id=event.account_id, kind=AccountKind.NON_CQC, email=email, phone=phone
            )
        )
    await platform.publish(event)

    async def queued() -> bool:
        async with platform.service("verification").db.transaction() as session:
            state = await session.scalar(
                text("SELECT state FROM orders WHERE order_id = :o"), {"o": event.order_id}
            )
        return state == "referred"

    await eventually(queued)
    return event


async def sign_in(page: Page, email: str) -> None:
    await staff_sign_in(page, email, "/", shot="backoffice-sign-in")


async def audit_rows(page: Page) -> list[str]:
    return await page.locator("#audit-trail tbody tr").all_inner_texts()


async def test_a_reviewer_approves_rejects_corrects_and_searches(
    page: Page, back_office: BackOffice
) -> None:
    platform = back_office.platform
    large = await referred(platform, 30)
    small = await referred(platform, 8)
    moving = await referred(platform, 12, email="caller@kind-care.example")

    await sign_in(page, back_office.reviewer_email)
    await page.wait_for_url(back_office.url + "/")
    await check_page(page, "backoffice-queue")
    assert large.reference in await page.locator("main").inner_text()

    await page.get_by_label("Reason").select_option("address_and_phone")
    await page.get_by_role("button", name="Filter the queue").click()
    listed = await page.locator("main table").inner_text()
    assert large.reference in listed and small.reference not in listed
    await check_page(page, "backoffice-queue-filtered")

    # Approve the large order.
    await page.get_by_role("link", name=large.reference).click()
    await check_page(page, "backoffice-order")
    main = await page.locator("main").inner_text()
    assert "not registered with CQC" in main and "address and phone" in main
    await page.get_by_label("Approve: send the badges").check()
    await page.get_by_role("button", name="Save decision").click()
    await page.wait_for_url("**?done=approved")
    await check_page(page, "backoffice-approved")
    assert any("verified" in row for row in await audit_rows(page))

    # Reject the small one: without a reason first, then with one.
    await page.goto("/")
    await page.get_by_role("link", name=small.reference).click()
    await page.get_by_label("Reject").check()
    await page.get_by_role("button", name="Save decision").click()
    await check_page(page, "backoffice-reject-error")
    assert (
        "Enter the reason for rejecting" in await page.locator(".govuk-error-summary").inner_text()
    )
    await page.get_by_label("Reject").check()
    reason = "We could not confirm that the organisation provides adult social care."
    await page.get_by_label("Reason the person who ordered will see").fill(reason)
    await page.get_by_role("button", name="Save decision").click()
    await page.wait_for_url("**?done=rejected")
    rows = await audit_rows(page)
    assert any("rejected" in row and reason in row for row in rows)

    # Correct the third order's delivery address.
    await page.goto("/")
    await page.get_by_role("link", name=moving.reference).click()
    await page.get_by_role("link", name="Change delivery address").click()
    await check_page(page, "backoffice-address")
    await page.get_by_label("Postcode").fill("CF10 1AA")
    await page.get_by_role("button", name="Save the new address").click()
    await check_page(page, "backoffice-address-error")
    assert "outside England" in await page.locator(".govuk-error-summary").inner_text()
    await page.get_by_label("Address line 1").fill("2 New Street")
    await page.get_by_label("Postcode").fill("LS2 7AA")
    await page.get_by_role("button", name="Save the new address").click()
    await page.wait_for_url("**?done=address")
    await check_page(page, "backoffice-address-changed")
    assert "2 New Street" in await page.locator("main").inner_text()
    assert any("delivery address changed" in row for row in await audit_rows(page))

    # Find orders for a caller: by email, then by reference.
    await page.get_by_role("link", name="Find an order").click()
    await page.get_by_label("Order reference, email address or postcode").fill(
        "Caller@Kind-Care.example"
    )
    await page.get_by_role("button", name="Search").click()
    await check_page(page, "backoffice-search")
    assert moving.reference in await page.locator("main table").inner_text()
    await page.get_by_label("Order reference, email address or postcode").fill("not a thing")
    await page.get_by_role("button", name="Search").click()
    await check_page(page, "backoffice-search-error")
    await page.get_by_label("Order reference, email address or postcode").fill(
        large.reference.lower()
    )
    await page.get_by_role("button", name="Search").click()
    await page.get_by_role("link", name=large.reference).click()
    assert any("verified" in row for row in await audit_rows(page))

    await page.get_by_role("link", name="Follow-ups").click()
    await check_page(page, "backoffice-follow-ups")
    missing = await page.goto(f"/orders/{uuid.uuid4()}")
    assert missing is not None and missing.status == 404
    assert await page.locator("h1").inner_text() == "Page not found"


async def test_staff_without_the_customer_services_role_are_refused(
    page: Page, back_office: BackOffice
) -> None:
    await sign_in(page, back_office.analyst_email)
    answer = await page.goto("/")
    assert answer is not None and answer.status == 403
    await check_page(page, "backoffice-forbidden")
    assert "do not have access" in await page.locator("h1").inner_text()


async def test_a_reviewer_disables_an_account_through_identity(
    page: Page, back_office: BackOffice
) -> None:
    await sign_in(page, back_office.reviewer_email)
    await page.wait_for_url(back_office.url + "/")
    await page.goto(f"/accounts/{back_office.analyst_id}")
    await check_page(page, "backoffice-account")
    await page.get_by_role("button", name="Confirm").click()
    await check_page(page, "backoffice-account-error")
    assert "Select disable or anonymise" in await page.locator(".govuk-error-summary").inner_text()
    await page.get_by_label("Disable it").check()
    await page.get_by_label("Why").fill("Asked by phone")
    await page.get_by_role("button", name="Confirm").click()
    await check_page(page, "backoffice-account-disabled")
    assert "Account disabled" in await page.locator(".govuk-panel").inner_text()
    async with back_office.platform.client("identity") as identity:
        refused = await identity.post(
            "/api/sign-in", json={"email": back_office.analyst_email, "password": PASSWORD}
        )
    assert refused.status_code != 200


async def test_the_order_shows_the_phone_to_check_and_names_the_reviewer(
    page: Page, back_office: BackOffice
) -> None:
    """Issue 16, item 7: the address and phone check needs the phone the account registered,
    and "Decided by" and the audit trail name the reviewer, not an id."""
    platform = back_office.platform
    event = await referred(platform, 40, "office@bright-care.example", "01632 960 123")

    async def phone_known() -> bool:
        async with platform.service("verification").db.transaction() as session:
            phone = await session.scalar(
                text("SELECT phone FROM accounts WHERE account_id = :a"), {"a": event.account_id}
            )
        return bool(phone == "01632 960 123")

    await eventually(phone_known)
    await sign_in(page, back_office.reviewer_email)
    await page.wait_for_url(back_office.url + "/")
    await page.goto(f"/orders/{event.order_id}")
    summary = await page.locator("main dl").first.inner_text()
    assert "Phone" in summary and "01632 960 123" in summary
    await page.get_by_label("Approve: send the badges").check()
    await page.get_by_role("button", name="Save decision").click()
    await page.wait_for_url("**?done=approved")
    summary = await page.locator("main dl").first.inner_text()
    assert f"Decided by\t{back_office.reviewer_email}" in summary
    rows = await audit_rows(page)
    assert any(back_office.reviewer_email in row and "verified" in row for row in rows)
    await check_page(page, "backoffice-reviewer-named")


async def test_a_new_reviewer_sets_their_password_on_the_back_office_and_lands_there(
    page: Page, back_office: BackOffice
) -> None:
    """Issue 16, item 8: the invitation links to the back office, not the public site, and
    names the back office's address; the new password leads to its sign-in page."""
    email, link, body = await invite_staff(
        back_office.platform, Role.CUSTOMER_SERVICE, back_office.url
    )
    assert link.startswith(back_office.url + "/reset-password")
    assert f"sign in at {back_office.url}/sign-in" in body

    await accept_invitation(page, link, email, "backoffice-choose-password")
    await page.wait_for_url(back_office.url + "/")


async def test_a_throttled_member_of_staff_is_told_why_and_how_long_to_wait(
    page: Page, back_office: BackOffice
) -> None:
    """Issue 17, item 2: not "Enter a correct email address and password" but the real
    reason, in the GOV.UK error summary, with how long to wait."""
    email, _ = await staff(back_office.platform, Role.CUSTOMER_SERVICE)
    await page.goto("/sign-in")
    for _ in range(6):  # 5 free failures lock the account for a minute
        await page.get_by_label("Email address").fill(email)
        await page.get_by_label("Password").fill("not my password at all")
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
    summary = await page.locator(".govuk-error-summary").inner_text()
    assert "too many times" in summary and "Wait 1 minute" in summary, summary
    assert "Enter a correct email address" not in summary
    await check_page(page, "backoffice-sign-in-throttled")
