"""Choosing a staff password on the back office itself (issue 16, item 8): the invitation and
reset emails for customer services link here, and the new password leads to the back office's
own sign-in page, never the public site's."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.verification.api import identity
from shared.web import FormErrors, Site


def add(web: APIRouter, pages: Site, link: identity.IdentityLink) -> None:
    def show(request: Request, token: str, errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "password_choose.html",
            status_code=400 if errors else 200,
            errors=errors,
            title="Choose your password",
            token=token,
        )

    @web.get("/reset-password")
    async def choose_page(request: Request) -> HTMLResponse:
        return show(request, request.query_params.get("token", ""))

    @web.post("/reset-password")
    async def choose(request: Request) -> Response:
        form = await request.form()
        token, password = str(form.get("token", "")), str(form.get("password", ""))
        errors = FormErrors()
        if not password:
            errors.add("password", "Enter a password")
            return show(request, token, errors)
        refused = await identity.choose_password(link, token, password)
        if refused:
            errors.add("password", refused)
            return show(request, token, errors)
        return RedirectResponse("/sign-in?password=set", status_code=303)
