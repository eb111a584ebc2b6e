"""Every field of every form on the public site, sent a NUL character, is a GOV.UK error naming
the field, never a 500 (issue 17, item 4: the contact page answered 500, and that session's
check page broke after it, because the answer could no longer be saved).

Each page's own form is read from its HTML, so a field added later is covered too.
"""

from __future__ import annotations

from html.parser import HTMLParser

import httpx
import pytest

from tests.e2e.steps import site_client
from tests.support.journeys import register_rows
from tests.support.site import SitePlatform, csrf_from, submit

pytestmark = pytest.mark.e2e

NUL = "Sam\x00Carer"
CSRF_REFUSED = "Your answers could not be sent"
TEXT_TYPES = {"text", "email", "password", "tel", "number", "textarea"}
PUBLIC_FORMS = (
    "/sign-in",
    "/create-account",
    "/create-account/confirm?token=abc",
    "/forgotten-password",
    "/reset-password?token=abc",
    "/eligibility/who",
    "/eligibility/where",
    "/eligibility/registered",
)


class FormFields(HTMLParser):
    """The fields of the page's POST form: name -> input type (textarea for a text area)."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self._in_form = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self._in_form = (found.get("method") or "").lower() == "post"
        elif self._in_form and tag in ("input", "textarea", "select") and found.get("name"):
            kind = "textarea" if tag == "textarea" else (found.get("type") or "text")
            self.fields.setdefault(str(found["name"]), kind)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._in_form = False


def fields_of(html: str) -> dict[str, str]:
    parser = FormFields()
    parser.feed(html)
    return {name: kind for name, kind in parser.fields.items() if name != "csrf_token"}


async def every_field_refused(client: httpx.AsyncClient, path: str) -> list[str]:
    """Post the page's form with a NUL in every field; what went wrong, if anything."""
    page = await client.get(path)
    assert page.status_code == 200, (path, page.status_code)
    fields = fields_of(page.text)
    if not fields:  # a Continue button only (one location to choose from)
        return []
    answer = await client.post(
        path, data={**dict.fromkeys(fields, NUL), "csrf_token": csrf_from(page.text)}
    )
    if answer.status_code != 400 or "govuk-error-summary" not in answer.text:
        return [f"{path}: {answer.status_code}, not the form again with its errors"]
    assert CSRF_REFUSED not in answer.text, path
    problems = []
    for name, kind in fields.items():
        if kind in TEXT_TYPES and f'href="#{name}"' not in answer.text:
            problems.append(f"{path}: the error summary does not name {name}")
    return problems


async def test_every_public_form_refuses_a_nul_in_every_field_by_name(site: SitePlatform) -> None:
    problems: list[str] = []
    async with site_client(site) as client:
        for path in PUBLIC_FORMS:
            problems += await every_field_refused(client, path)
    assert not problems, problems


async def test_order_forms_refuse_a_nul_and_the_session_still_reaches_its_check_page(
    site: SitePlatform,
) -> None:
    row = next(r for r in register_rows() if r.ods_code)
    async with site_client(site) as client:
        signed_in = await submit(client, "/sign-in", {"email": row.email, "password": row.ods_code})
        assert signed_in.status_code == 303, signed_in.text[:500]
        # Each form in journey order, the session going on after each refusal.
        problems = await every_field_refused(client, "/order/add-location")
        problems += await every_field_refused(client, "/order/locations")
        await submit(client, "/order/locations", {"locations": row.location_id})
        problems += await every_field_refused(client, "/order/staff")
        staff = dict.fromkeys(fields_of((await client.get("/order/staff")).text), "5")
        assert (await submit(client, "/order/staff", staff)).status_code == 303
        problems += await every_field_refused(client, "/order/contact")
        assert not problems, problems

        # The refused name was never saved, so the check page still works for this session.
        check = await client.get("/order/check")
        assert check.status_code == 303 and check.headers["location"] == "/order/contact"
        named = await submit(client, "/order/contact", {"contact-name": "Sam Carer"})
        assert named.status_code == 303, named.text[:500]
        check = await client.get("/order/check")
        assert check.status_code == 200, check.text[:500]
        assert "Sam Carer" in check.text
