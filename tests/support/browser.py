"""A real browser for the site tests: Debian's Chromium driven by Playwright, headless.

The machine's network is closed, so Playwright's own browser download is never used: the
tests drive /usr/bin/chromium (scripts/bootstrap.sh --browser installs it). Every page a test
visits can be checked with axe-core (from node_modules, installed by scripts/assets.sh)
against the WCAG 2.2 A and AA rules, and saved as a screenshot in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, Page, async_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
ARTIFACTS = ROOT / "test-artifacts"


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """One headless Chromium for a test module (starting one costs about a second)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Run axe-core on the page as it is now; returns the WCAG 2.2 A/AA violations.

    axe is evaluated through the DevTools protocol, which the page's CSP does not govern, so
    the check needs no weakening of the policy under test.
    """
    if not await page.evaluate("() => typeof window.axe !== 'undefined'"):
        await page.evaluate(AXE.read_text(encoding="utf-8"))
    # axe runs on the page's timers: with JavaScript off it never finishes, so fail fast.
    result: dict[str, Any] = await asyncio.wait_for(
        page.evaluate(
            "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
            WCAG_TAGS,
        ),
        60,
    )
    return list(result["violations"])


async def assert_accessible(page: Page) -> None:
    """Fail with a readable list when the page has any WCAG 2.2 A/AA violation."""
    violations = await axe_violations(page)
    summary = [
        {
            "rule": v["id"],
            "impact": v.get("impact"),
            "help": v["help"],
            "targets": [n["target"] for n in v["nodes"][:5]],
        }
        for v in violations
    ]
    assert not violations, f"{page.url}: " + json.dumps(summary, indent=2)


async def screenshot(page: Page, name: str) -> Path:
    """Save the whole page as test-artifacts/NAME.png (kept by CI as an artefact)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def check_page(page: Page, name: str) -> None:
    """The checks every main page gets: 0 axe violations, and a screenshot."""
    await assert_accessible(page)
    await screenshot(page, name)
