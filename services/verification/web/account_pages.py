"""Signing in and out of the back office, and disabling or anonymising an account."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.verification.usecases import casework
from services.verification.usecases import identity_accounts as identity
from services.verification.usecases.reviewers import Reviewer
from services.verification.web import auth
from shared.identity import IdentityClient
from shared.runtime import Service
from shared.usecases import Refused
from shared.web import FormErrors, Site, web_session
from shared.web.devices import device_tokens, keep_device
from shared.web.staff_sign_in import TooManyAttempts, staff_sign_in


def _safe_next(value: object) -> str:
    """Only a path on this site: never an open redirect."""
    text = str(value or "/")
    return text if text.startswith("/") and not text.startswith("//") else "/"


def add_sign_in(web: APIRouter, pages: Site, link: IdentityClient) -> None:
    def show(request: Request, errors: FormErrors | None = None, email: str = "") -> HTMLResponse:
        return pages.render(
            request,
            "sign_in.html",
            status_code=400 if errors else 200,
            errors=errors,
            title="Sign in to the back office",
            email=email,
            password_set=request.query_params.get("password") == "set",
            next=_safe_next(request.query_params.get("next")),
        )

    @web.get("/sign-in")
    async def sign_in_page(request: Request) -> HTMLResponse:
        return show(request)

    @web.post("/sign-in")
    async def sign_in(request: Request) -> Response:
        form = await request.form()
        email, password = str(form.get("email", "")).strip(), str(form.get("password", ""))
        errors = FormErrors()
        if not email:
            errors.add("email", "Enter your email address")
        if not password:
            errors.add("password", "Enter your password")
        tokens = None
        if not errors:
            try:
                tokens = await staff_sign_in(
                    link,
                    email,
                    password,
                    request.client.host if request.client else "",
                    device_tokens(request),
                )
            except TooManyAttempts as refused:  # the real reason, and how long to wait
                errors.add("email", refused.message())
        if not errors and tokens is None:
            errors.add("email", "Enter a correct email address and password")
        if errors or tokens is None:
            return show(request, errors, email)
        auth.remember(request, tokens)
        done = RedirectResponse(_safe_next(form.get("next")), status_code=303)
        keep_device(request, done, tokens.get("device_token"))
        return done

    @web.get("/sign-out")
    async def sign_out(request: Request) -> Response:
        session = web_session(request)
        signed_in = session.get(auth.AUTH_KEY)
        if isinstance(signed_in, dict):
            await link.sign_out(signed_in[auth.ACCESS_TOKEN])
        session.end()
        return RedirectResponse("/sign-in", status_code=303)


def add_account_actions(
    web: APIRouter,
    pages: Site,
    service: Service,
    link: IdentityClient,
    reviewers: auth.Reviewers,
) -> None:
    def show(
        request: Request, account_id: uuid.UUID, errors: FormErrors | None = None, done: str = ""
    ) -> HTMLResponse:
        return pages.render(
            request,
            "account.html",
            status_code=400 if errors else 200,
            errors=errors,
            title="Disable or anonymise an account",
            account_id=account_id,
            done=done,
        )

    @web.get("/accounts/{account_id}")
    async def account_page(
        account_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> HTMLResponse:
        return show(request, account_id)

    @web.post("/accounts/{account_id}")
    async def act(
        account_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> Response:
        form = await request.form()
        reason = str(form.get("reason", "")).strip()
        chosen = str(form.get("action", ""))
        errors = FormErrors()
        if chosen not in {a.value for a in identity.AccountAction}:
            errors.add("action", "Select disable or anonymise")
        if not reason:
            errors.add("reason", "Enter why, for the audit trail (for example 'asked by phone')")
        elif len(reason) > identity.REASON_MAX_LENGTH:
            errors.add(
                "reason", f"The reason must be {identity.REASON_MAX_LENGTH} characters or fewer"
            )
        if errors:
            return show(request, account_id, errors)
        action = identity.AccountAction(chosen)
        try:
            await identity.act_on_account(link, action, account_id, reason, who.access_token)
        except Refused as refusal:
            errors.add("action", refusal.message)
            return show(request, account_id, errors)
        reviewer = Reviewer(
            who.principal.account_id, request.state.correlation_id, who.principal.name
        )
        await casework.record_account_action(service, account_id, action.value, reason, reviewer)
        return show(request, account_id, done=action.value)
