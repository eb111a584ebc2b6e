"""Fixtures every browser test module shares: one Chromium per module, the module's site,
and a fresh browser context (and page) per test opened on that site.

``site`` is all five services with the ordering site and identity served over HTTP
(``tests/support/site.py``); a module whose orders must wait for stock sets
``SITE_STOCK = 0``. Pages open on ``site_url``, the site's address; a module that serves
something else (the back office, the MI pages, the orders service alone) overrides
``site_url`` with its own fixture.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.support.browser import chromium
from tests.support.site import SitePlatform, site_platform


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as b:
        yield b


@pytest.fixture(scope="module")
async def site(request: pytest.FixtureRequest) -> AsyncIterator[SitePlatform]:
    options: dict[str, int] = {}
    if hasattr(request.module, "SITE_STOCK"):
        options["stock"] = request.module.SITE_STOCK
    async with site_platform(**options) as s:
        yield s


@pytest.fixture(scope="module")
def site_url(site: SitePlatform) -> str:
    return site.site_url


@pytest.fixture
async def context(browser: Browser, site_url: str) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(base_url=site_url)
    yield context
    await context.close()


@pytest.fixture
async def page(context: BrowserContext) -> Page:
    return await context.new_page()
