"""The web foundation (shared/web) as the orders site uses it: headers, sessions, CSRF,
error summaries and the assets."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from services.orders.store.tables import web_sessions
from shared.web.sessions import COOKIE
from tests.support.platform import Platform
from tests.support.site import csrf_from, submit


@pytest.fixture(scope="module")
async def platform() -> AsyncIterator[Platform]:
    async with Platform() as p:
        await p.start("orders")
        yield p


@pytest.fixture
async def client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=platform.apps["orders"][0])
    async with httpx.AsyncClient(transport=transport, base_url="https://orders.test") as c:
        yield c


async def test_each_page_gets_its_own_nonce_and_no_unsafe_inline(
    client: httpx.AsyncClient,
) -> None:
    nonces = []
    for _ in range(2):
        page = await client.get("/")
        csp = page.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        nonce = re.search(r"'nonce-([^']+)'", csp)
        assert nonce, csp
        assert f'<script nonce="{nonce.group(1)}">' in page.text
        nonces.append(nonce.group(1))
        assert page.headers.get_list("content-security-policy") == [csp]
        assert page.headers["strict-transport-security"].startswith("max-age=")
        assert page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
        assert page.headers["cache-control"] == "no-store"
    assert nonces[0] != nonces[1]


async def test_the_session_cookie_is_opaque_secure_httponly_and_lax(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    page = await client.get("/eligibility/who")
    cookie = page.headers["set-cookie"]
    assert cookie.startswith(f"{COOKIE}=")
    for attribute in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"):
        assert attribute in cookie
    session_id = client.cookies[COOKIE]
    async with platform.service("orders").db.transaction() as session:
        stored = (await session.execute(select(web_sessions.c.id_hash))).scalars().all()
    assert session_id not in stored  # only its hash is kept
    assert hashlib.sha256(session_id.encode()).hexdigest() in stored


async def test_a_form_without_the_sessions_csrf_token_is_refused(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/eligibility/who")
    token = csrf_from(page.text)
    missing = await client.post("/eligibility/who", data={"who": "employer"})
    forged = await client.post("/eligibility/who", data={"who": "employer", "csrf_token": "x"})
    assert missing.status_code == forged.status_code == 400
    assert "Your answers could not be sent" in missing.text
    again = await client.get("/eligibility/who")
    assert "checked" not in again.text  # nothing was stored
    other = httpx.AsyncClient(transport=client._transport, base_url="https://orders.test")
    async with other:  # another visitor's session cannot use this one's token
        await other.get("/eligibility/who")
        stolen = await other.post("/eligibility/who", data={"who": "employer", "csrf_token": token})
    assert stolen.status_code == 400
    sent = await client.post("/eligibility/who", data={"who": "employer", "csrf_token": token})
    assert sent.status_code == 303 and sent.headers["location"] == "/eligibility/where"


async def test_a_missing_answer_shows_the_error_summary_and_the_inline_error(
    client: httpx.AsyncClient,
) -> None:
    page = await submit(client, "/eligibility/who", {})
    assert page.status_code == 400
    assert page.text.count("Select who you are ordering badges for") == 2  # summary + inline
    assert 'href="#who"' in page.text and 'id="who"' in page.text
    assert "<title>Error: " in page.text
    assert "govuk-error-summary" in page.text and "govuk-error-message" in page.text


async def test_govuk_frontend_assets_are_served_by_the_service(client: httpx.AsyncClient) -> None:
    for path, kind in [
        ("/assets/govuk-frontend.min.css", "text/css"),
        ("/assets/govuk-frontend.min.js", "text/javascript"),
        ("/assets/site/init.mjs", "text/javascript"),
        ("/assets/images/favicon.svg", "image/svg+xml"),
    ]:
        response = await client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(kind)
        assert "set-cookie" not in response.headers


async def test_unknown_pages_are_html_and_the_api_keeps_problem_json(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/no-such-page")
    assert page.status_code == 404 and "Page not found" in page.text
    api = await client.get("/api/no-such-thing")
    assert api.status_code == 404
    assert api.headers["content-type"] == "application/problem+json"
