"""Staff sign-in for every service's staff pages: the back office, the MI page, operations.

Identity checks the password; the page session keeps identity's tokens (never sent to the
browser) and every page checks the role. Tokens are kept and renewed as on every site
(:mod:`shared.identity`): a page renews an access token about to expire, so someone working
all day is not thrown out. One :class:`IdentityClient` per app keeps a pool of connections to
identity rather than opening one per request.

A service adds :func:`add_sign_in_pages` to a CSRF-protected router, guards its pages with a
:class:`StaffPages` dependency for the roles allowed, and calls :func:`handle_sign_in_errors`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.http.auth import Principal, TokenVerifier
from shared.http.problems import Problem
from shared.identity import (
    ACCESS_TOKEN,
    AUTH_KEY,
    IdentityClient,
    IdentityRefused,
    IdentityUnavailable,
    TooManyAttempts,
    end_session,
    signed_in_tokens,
)
from shared.identity import remember as remember_tokens
from shared.web.devices import device_tokens, keep_device
from shared.web.forms import FormErrors
from shared.web.sessions import web_session
from shared.web.site import Site

__all__ = [
    "AUTH_KEY",
    "IdentityClient",
    "IdentityUnavailable",
    "NotPermitted",
    "SignInNeeded",
    "SignedIn",
    "StaffPages",
    "TooManyAttempts",
    "add_password_pages",
    "add_sign_in_pages",
    "handle_sign_in_errors",
    "remember",
    "safe_next",
    "signed_in",
    "staff_sign_in",
]

T = TypeVar("T")


async def _answered(call: Awaitable[T], detail: str = "Try again in a minute.") -> T:
    """Identity's answer; a page that cannot go on without it says identity did not answer."""
    try:
        return await call
    except IdentityUnavailable as exc:
        raise Problem(
            503, "identity-unavailable", "The sign-in service did not answer", detail
        ) from exc


async def staff_sign_in(
    identity: IdentityClient,
    email: str,
    password: str,
    client_ip: str = "",
    device_tokens: list[str] | None = None,
) -> dict[str, Any] | None:
    """A member of staff's tokens, or None if identity said no; :class:`TooManyAttempts`
    while identity is refusing attempts for a while. ``client_ip`` is the browser's, so each
    member of staff is their own source at identity (ADR 0065)."""
    try:
        return await _answered(identity.sign_in(email, password, client_ip, device_tokens))
    except TooManyAttempts:
        raise
    except IdentityRefused:
        return None


class NotPermitted(Exception):
    """Signed in, but without a role these pages allow: 403, deny by default."""


class SignInNeeded(Exception):
    """No valid staff session: the page sends the member of staff to sign in, then back."""

    def __init__(self, back_to: str) -> None:
        super().__init__(back_to)
        self.back_to = back_to


@dataclass(frozen=True)
class SignedIn:
    principal: Principal
    access_token: str


def remember(request: Request, tokens: dict[str, Any]) -> None:
    """Keep a member of staff's fresh tokens, in a new session id (no fixation)."""
    remember_tokens(web_session(request), tokens)


def signed_in(request: Request) -> bool:
    """Whether the page session holds staff tokens (for navigation: not a permission check)."""
    return isinstance(web_session(request).get(AUTH_KEY), dict)


class StaffPages:
    """The dependency a staff page uses to know who is signed in, with one of ``roles``.

    ``bearer_too`` also accepts an identity token in the Authorization header (for scripts
    that read a page as an API client would); browsers use the session.
    """

    def __init__(
        self,
        verifier: Callable[[], TokenVerifier],
        identity: IdentityClient,
        roles: Collection[str],
        *,
        bearer_too: bool = False,
    ) -> None:
        self.verifier = verifier
        self.identity = identity
        self.roles = frozenset(roles)
        self.bearer_too = bearer_too

    async def __call__(self, request: Request) -> SignedIn:
        header = request.headers.get("authorization", "")
        if self.bearer_too and header.lower().startswith("bearer "):
            token = header[7:].strip()
            return self._allowed(SignedIn(self.verifier().verify(token), token))
        session = web_session(request)
        kept = await _answered(signed_in_tokens(session, self.identity))
        if kept is None:
            raise SignInNeeded(_back_to(request))
        try:
            principal = self.verifier().verify(kept[ACCESS_TOKEN])
        except Problem:
            session.pop(AUTH_KEY)
            raise SignInNeeded(_back_to(request)) from None
        return self._allowed(SignedIn(principal, kept[ACCESS_TOKEN]))

    def _allowed(self, who: SignedIn) -> SignedIn:
        if who.principal.role not in self.roles:
            raise NotPermitted
        return who


def _back_to(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def safe_next(value: object, default: str = "/") -> str:
    """Only a path on this site: never an open redirect."""
    text = str(value or default)
    return text if text.startswith("/") and not text.startswith("//") else default


def add_sign_in_pages(
    web: APIRouter,
    pages: Site,
    identity: IdentityClient,
    *,
    title: str,
    who_for: str,
    home: str = "/",
    template: str = "staff_sign_in.html",
) -> None:
    """``/sign-in`` (GET and POST) and ``/sign-out`` on ``web``, which must check CSRF."""

    def show(request: Request, errors: FormErrors | None = None, email: str = "") -> HTMLResponse:
        return pages.render(
            request,
            template,
            status_code=400 if errors else 200,
            errors=errors,
            title=title,
            who_for=who_for,
            email=email,
            next=safe_next(request.query_params.get("next"), home),
            password_set=request.query_params.get("password") == "set",
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
                    identity,
                    email,
                    password,
                    request.client.host if request.client else "",
                    device_tokens(request),
                )
            except TooManyAttempts as refused:
                errors.add("email", refused.message())
        if not errors and tokens is None:
            errors.add("email", "Enter a correct email address and password")
        if errors or tokens is None:
            return show(request, errors, email)
        remember(request, tokens)
        done = RedirectResponse(safe_next(form.get("next"), home), status_code=303)
        keep_device(request, done, tokens.get("device_token"))
        return done

    @web.get("/sign-out")
    async def sign_out(request: Request) -> Response:
        await end_session(web_session(request), identity)
        return RedirectResponse("/sign-in", status_code=303)


def add_password_pages(web: APIRouter, pages: Site, identity: IdentityClient) -> None:
    """``/reset-password`` (GET and POST) on ``web``, which must check CSRF: staff invitation
    and reset emails link to the pages of their own role (issue 16, item 8), and the new
    password leads to that site's own sign-in page, never the public site's."""

    def show(request: Request, token: str, errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "staff_password_choose.html",
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
        refused = await _choose_password(identity, token, password)
        if refused:
            errors.add("password", refused)
            return show(request, token, errors)
        return RedirectResponse("/sign-in?password=set", status_code=303)


async def _choose_password(identity: IdentityClient, token: str, password: str) -> str | None:
    """None when the password is set from the emailed link, else what to tell the member of
    staff (the password's problem, or that the link no longer works)."""
    try:
        await _answered(identity.confirm_reset(token, password), "Try again.")
    except IdentityRefused as refused:
        problem = refused.field_errors().get("password")
        if problem is not None:
            return f"Password {problem}"
        return "This link has expired or has already been used: ask for a new one"
    return None


def handle_sign_in_errors(app: FastAPI, pages: Site, forbidden_title: str, who_may: str) -> None:
    """Send a visitor without a session to sign in (and back); refuse the wrong role with 403."""

    @app.exception_handler(SignInNeeded)
    async def _sign_in(request: Request, exc: SignInNeeded) -> Response:
        return RedirectResponse("/sign-in?" + urlencode({"next": exc.back_to}), status_code=303)

    @app.exception_handler(NotPermitted)
    async def _forbidden(request: Request, exc: NotPermitted) -> Response:
        return pages.render(
            request,
            "error.html",
            status_code=403,
            title=forbidden_title,
            message=f"{who_may} Sign out and sign in with an account that has access.",
        )
