"""Forgotten password: ask for a link, then choose a new password from it (identity's API).

The request page answers the same whether or not the address has an account, as identity
does, and choosing the password does not sign the user in (they sign in afterwards).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.identity import IdentityClient, IdentityRefused
from shared.web import FormErrors, Site

LINK_NOT_VALID = "This link has expired or has been used. Ask for a new one"


def router(pages: Site, identity: IdentityClient) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    def ask_page(
        request: Request, email: str = "", errors: FormErrors | None = None
    ) -> HTMLResponse:
        return pages.render(
            request,
            "password_forgotten.html",
            errors=errors,
            title="Reset your password",
            email=email,
            back_url="/sign-in",
        )

    @web.get("/forgotten-password")
    async def forgotten(request: Request) -> HTMLResponse:
        return ask_page(request)

    @web.post("/forgotten-password")
    async def send_link(request: Request) -> Response:
        form = await request.form()
        email = str(form.get("email", "")).strip()
        errors = FormErrors()
        errors.refuse_unstorable(form, {"email": "Email address"})
        if errors:
            return ask_page(request, email, errors)
        if "@" not in email:
            errors.add(
                "email",
                "Enter your email address"
                if not email
                else "Enter an email address in the correct format, like name@example.com",
            )
            return ask_page(request, email, errors)
        try:
            await identity.request_reset(email, request.state.correlation_id)
        except IdentityRefused as refused:
            errors = FormErrors()
            errors.add("email", refused.field_errors().get("email") or "Try again in a few minutes")
            return ask_page(request, email, errors)
        return pages.render(request, "password_link_sent.html", title="Check your email")

    def choose_page(request: Request, token: str, errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "password_choose.html",
            errors=errors,
            title="Choose a new password",
            token=token,
        )

    @web.get("/reset-password")
    async def choose(request: Request, token: str = "") -> HTMLResponse:
        return choose_page(request, token)

    @web.post("/reset-password")
    async def set_password(request: Request) -> Response:
        form = await request.form()
        token, password = str(form.get("token", "")), str(form.get("password", ""))
        errors = FormErrors()
        errors.refuse_unstorable(form, {"password": "Password"})
        if not password:
            errors.add("password", "Enter a new password")
        if errors:
            return choose_page(request, token, errors)
        try:
            await identity.confirm_reset(token, password)
        except IdentityRefused as refused:
            if refused.status == 422:
                errors.add(
                    "password",
                    refused.field_errors().get("password", "Choose a different password"),
                )
            else:
                errors.add("password", LINK_NOT_VALID)
            return choose_page(request, token, errors)
        return RedirectResponse("/password-changed", status_code=303)

    @web.get("/password-changed")
    async def changed(request: Request) -> HTMLResponse:
        return pages.render(
            request, "password_changed.html", title="Your password has been changed"
        )

    return web
