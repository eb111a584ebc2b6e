"""Sign in and sign out pages, over identity's API."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.orders.domain.answers import sign_in_problems
from services.orders.web.auth import SiteAuth
from shared.identity import IdentityRefused, TooManyAttempts
from shared.web import FormErrors, Site
from shared.web.devices import device_tokens, keep_device

NOT_RIGHT = (
    "Enter the right email address and password. If you have not chosen a password, use the "
    "email address CQC holds for your location and its ODS code, or its postcode"
)


def router(pages: Site, auth: SiteAuth) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    def form(request: Request, email: str = "", errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "sign_in.html",
            errors=errors,
            title="Sign in",
            email=email,
        )

    @web.get("/sign-in")
    async def sign_in_page(request: Request) -> HTMLResponse:
        return form(request)

    @web.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        data = await request.form()
        email, password = str(data.get("email", "")), str(data.get("password", ""))
        errors = FormErrors()
        errors.refuse_unstorable(data, {"email": "Email address", "password": "Password"})
        for field, message in sign_in_problems(email, password).items():
            errors.add(field, message)
        if errors:
            return form(request, email, errors)
        try:
            signed_in = await auth.identity.sign_in(
                email.strip(),
                # As typed, as registration and identity take it: spaces are part of a
                # password (NIST SP 800-63B 5.1.1.2, OWASP Authentication Cheat Sheet), and
                # identity itself ignores spaces in an ODS code or postcode.
                password,
                request.client.host if request.client else "",
                device_tokens(request),
                request.state.correlation_id,
            )
        except IdentityRefused as refused:
            errors.add("email", _refusal_message(refused))
            return form(request, email, errors)
        auth.keep(request, signed_in, email.strip())
        done = RedirectResponse("/order/locations", status_code=303)
        keep_device(request, done, signed_in.get("device_token"))
        return done

    @web.get("/sign-out")
    async def sign_out_page(request: Request) -> HTMLResponse:
        return pages.render(request, "sign_out.html", title="Sign out")

    @web.post("/sign-out")
    async def sign_out(request: Request) -> Response:
        await auth.sign_out(request)
        return RedirectResponse("/signed-out", status_code=303)

    @web.get("/signed-out")
    async def signed_out(request: Request) -> HTMLResponse:
        return pages.render(request, "signed_out.html", title="You have signed out")

    return web


def _refusal_message(refused: IdentityRefused) -> str:
    if isinstance(refused, TooManyAttempts):
        return f"{refused.message()}, or reset your password"
    if refused.is_a("portal-closed"):
        return f"{refused.problem['title']}. {refused.problem['detail']}".rstrip(".")
    return NOT_RIGHT
