"""A password is taken as typed at sign-in, as at registration (issue 17, item 9: the site kept
the spaces a user typed around their password when creating the account, then trimmed them at
sign-in, so that user could never sign in on the site).

As typed is the right one of the two: NIST SP 800-63B 5.1.1.2 and OWASP's Authentication Cheat
Sheet ask that spaces count like any other character and that a secret is never altered, and
identity's API already takes it as typed (the site's registration sends it so).
"""

from __future__ import annotations

import httpx
import pytest

from tests.e2e.steps import site_client
from tests.support.identity import registration
from tests.support.own_address import create_account
from tests.support.site import SitePlatform, submit

pytestmark = pytest.mark.e2e

EMAIL = "spaces@hilltop-example.org"
PASSWORD = "  quiet lantern meadow  "
SITE_STOCK = 0  # nothing here orders


async def sign_in(site: SitePlatform, password: str) -> httpx.Response:
    async with site_client(site) as client:
        return await submit(client, "/sign-in", {"email": EMAIL, "password": password})


async def test_a_password_with_spaces_around_it_signs_in_exactly_as_it_was_chosen(
    site: SitePlatform,
) -> None:
    await create_account(site.platform, site.mail, registration(EMAIL, password=PASSWORD))
    signed_in = await sign_in(site, PASSWORD)
    assert signed_in.status_code == 303, signed_in.text[:500]
    assert signed_in.headers["location"] == "/order/locations"
    trimmed = await sign_in(site, PASSWORD.strip())  # not the password that was chosen
    assert trimmed.status_code == 400
    assert "Enter the right email address and password" in trimmed.text
