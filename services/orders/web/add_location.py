"""Adding another location from inside the account (issue 16, item 12): one code at a time,
checked by identity exactly as a sign-in is; the fresh tokens it answers replace the
session's, so the new location can be ordered for straight away."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.orders.web.auth import SiteAuth
from shared.http.auth import Principal
from shared.identity import ACCESS_TOKEN, AUTH_KEY, IdentityRefused, TooManyAttempts
from shared.web import FormErrors, Site, web_session

PATH = "/order/add-location"


def router(pages: Site, auth: SiteAuth) -> APIRouter:
    web = APIRouter(include_in_schema=False)
    signed_in = Depends(auth.principal)

    def form(request: Request, code: str = "", errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "add_location.html",
            errors=errors,
            title="Add another location",
            code=code,
            locations=list(auth.locations(request).values()),
            back_url="/order/locations",
        )

    @web.get(PATH)
    async def add_location_page(request: Request, _: Principal = signed_in) -> HTMLResponse:
        return form(request)

    @web.post(PATH)
    async def add_location(request: Request, _: Principal = signed_in) -> Response:
        submitted = await request.form()
        code = str(submitted.get("code", "")).strip()
        errors = FormErrors()
        errors.refuse_unstorable(submitted, {"code": "The ODS code or postcode"})
        if not code:
            errors.add("code", "Enter the location's ODS code or postcode")
        if errors:
            return form(request, code, errors)
        session = web_session(request)
        try:
            signed_in_again = await auth.identity.add_location(
                session[AUTH_KEY][ACCESS_TOKEN],
                code,
                request.state.correlation_id,
                request.client.host if request.client else "",
            )
        except IdentityRefused as refused:
            errors.add("code", _refusal_message(refused))
            return form(request, code, errors)
        auth.keep(request, signed_in_again, str(session[AUTH_KEY].get("email") or ""))
        return RedirectResponse("/order/locations", status_code=303)

    return web


def _refusal_message(refused: IdentityRefused) -> str:
    if isinstance(refused, TooManyAttempts):
        return f"You have tried too many codes. {refused.wait()} and try again"
    if refused.status == 403:
        return str(refused.problem.get("title", "You cannot add a location")).rstrip(".")
    return (
        "Enter the ODS code (or, for a hospice, substance misuse or mental health community "
        "and hospital location, the postcode) of a location whose email address on the CQC "
        "register is the one you signed in with"
    )
