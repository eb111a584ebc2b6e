"""The shared staff sign-in's identity client: one pooled HTTP client per app, not one per
request, rebuilt when a test points it elsewhere, and closed with the service."""

from __future__ import annotations

import httpx

from shared.identity import IdentityClient
from shared.web.staff_sign_in import safe_next


async def test_every_request_goes_through_one_pooled_client() -> None:
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path == "/api/sign-in":
            return httpx.Response(200, json={"access_token": "a", "refresh_token": "r"})
        return httpx.Response(401)

    identity = IdentityClient("http://identity.test", 5.0)
    identity.transport = httpx.MockTransport(answer)
    first = identity.http()
    assert await identity.sign_in("a@example.org", "pw") == {
        "access_token": "a",
        "refresh_token": "r",
    }
    assert await identity.refresh("r") is None  # identity said no
    await identity.sign_out("a")
    assert identity.http() is first and seen == ["/api/sign-in", "/api/token", "/api/sign-out"]

    identity.transport = httpx.MockTransport(answer)  # pointed elsewhere: a new client
    assert identity.http() is not first
    await identity.stop()
    assert identity._client is None


def test_only_a_path_on_this_site_is_followed_after_sign_in() -> None:
    assert safe_next("/mi?x=1", "/mi") == "/mi?x=1"
    assert safe_next("//evil.example/", "/mi") == "/mi"
    assert safe_next("https://evil.example/", "/mi") == "/mi"
    assert safe_next(None, "/mi") == "/mi"
