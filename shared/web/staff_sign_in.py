"""Staff sign-in for every service's staff pages: the back office, the MI page, operations.

Identity checks the password; the page session keeps identity's tokens (never sent to the
browser) and every page checks the role. Identity's access tokens last five minutes, so a page
request with an expired one swaps the refresh token for new ones: someone working all day is
not thrown out. One :class:`IdentityClient` per app keeps a pool of connections to identity
rather than opening one per request.

A service adds :func:`add_sign_in_pages` to a CSRF-protected router, guards its pages with a
:class:`StaffPages` dependency for the roles allowed, and calls :func:`handle_sign_in_errors`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.http.auth import Principal, TokenVerifier
from shared.http.problems import Problem
from shared.web.devices import device_tokens, keep_device
from shared.web.forms import FormErrors
from shared.web.sessions import web_session
from shared.web.site import Site

AUTH_KEY = "auth"


class IdentityUnavailable(Exception):
    """Identity did not answer (down, or too slow)."""


class TooManyAttempts(Exception):
    """Identity is refusing sign-ins for this account or address for ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after

    def message(self) -> str:
        minutes = max(1, (self.retry_after + 59) // 60)
        return (
            f"You have tried to sign in too many times. Wait {minutes} "
            f"minute{'s' if minutes != 1 else ''} and try again"
        )


class IdentityClient:
    """Identity's API over one pooled HTTP client, made on first use and closed with the
    service (it is a :class:`shared.runtime.Component`). Tests that run identity in process
    set ``transport`` to reach it there."""

    def __init__(self, base_url: str, timeout: float) -> None:
        self.base_url = base_url
        self.timeout = timeout
        self._transport: httpx.AsyncBaseTransport | None = None
        self._client: httpx.AsyncClient | None = None

    @property
    def transport(self) -> httpx.AsyncBaseTransport | None:
        return self._transport

    @transport.setter
    def transport(self, value: httpx.AsyncBaseTransport | None) -> None:
        self._transport = value
        self._client = None  # the next request builds a client over the new transport

    def http(self) -> httpx.AsyncClient:
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, transport=self._transport
            )
        return self._client

    async def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        client_ip: str = "",
    ) -> httpx.Response:
        """POST to identity; :class:`IdentityUnavailable` when it does not answer.

        ``client_ip`` is the browser's address, which identity counts sign-in failures by; it
        believes the header only from the proxies it is configured to trust (ADR 0065)."""
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        try:
            return await self.http().post(path, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise IdentityUnavailable from exc

    async def sign_in(
        self,
        email: str,
        password: str,
        client_ip: str = "",
        device_tokens: list[str] | None = None,
    ) -> dict[str, Any] | None:
        """Staff sign in with a password: identity's tokens, or None if it said no;
        :class:`TooManyAttempts` when identity is refusing attempts for a while."""
        body = {"email": email, "password": password, "device_tokens": device_tokens or []}
        return await self._tokens("/api/sign-in", body, client_ip)

    async def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for a page session whose 5-minute access token has expired."""
        return await self._tokens("/api/token", {"refresh_token": refresh_token})

    async def sign_out(self, access_token: str) -> None:
        """End the identity session (best effort: the page session is deleted regardless)."""
        try:
            await self.post("/api/sign-out", token=access_token)
        except IdentityUnavailable:
            return

    async def choose_password(self, token: str, password: str) -> str | None:
        """Set a staff member's password from their emailed link: None when done, else what to
        tell them (the password's problem, or that the link no longer works)."""
        try:
            answer = await self.post(
                "/api/password-reset/confirm", {"token": token, "password": password}
            )
        except IdentityUnavailable as exc:
            raise Problem(
                503, "identity-unavailable", "The sign-in service did not answer", "Try again."
            ) from exc
        if answer.status_code < 300:
            return None
        problem = answer.json() if answer.content else {}
        for error in problem.get("errors", []):
            if error.get("field") == "password":
                return f"Password {error.get('message', 'is not allowed')}"
        return "This link has expired or has already been used: ask for a new one"

    async def _tokens(
        self, path: str, body: dict[str, Any], client_ip: str = ""
    ) -> dict[str, Any] | None:
        try:
            answer = await self.post(path, body, client_ip=client_ip)
        except IdentityUnavailable as exc:
            raise Problem(
                503,
                "identity-unavailable",
                "The sign-in service did not answer",
                "Try again in a minute.",
            ) from exc
        if answer.status_code == 429:
            raise TooManyAttempts(_retry_after(answer))
        if answer.status_code != 200:
            return None
        tokens: dict[str, Any] = answer.json()
        return tokens

    def start(self) -> None:
        """Nothing to start: the client is made on first use."""

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None


def _retry_after(answer: httpx.Response) -> int:
    try:
        return max(1, int(answer.headers.get("retry-after", "60")))
    except ValueError:
        return 60


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
    session = web_session(request)
    session.rotate()  # a new session id at sign-in: no fixation
    session[AUTH_KEY] = {"access": tokens["access_token"], "refresh": tokens["refresh_token"]}


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
        auth = session.get(AUTH_KEY)
        if not isinstance(auth, dict):
            raise SignInNeeded(_back_to(request))
        try:
            principal = self.verifier().verify(auth["access"])
        except Problem:
            tokens = await self.identity.refresh(auth["refresh"])
            if tokens is None:
                session.pop(AUTH_KEY)
                raise SignInNeeded(_back_to(request)) from None
            session[AUTH_KEY] = {
                "access": tokens["access_token"],
                "refresh": tokens["refresh_token"],
            }
            principal = self.verifier().verify(tokens["access_token"])
        return self._allowed(SignedIn(principal, session[AUTH_KEY]["access"]))

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
                tokens = await identity.sign_in(
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
        session = web_session(request)
        auth = session.get(AUTH_KEY)
        if isinstance(auth, dict):
            await identity.sign_out(auth["access"])
        session.end()
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
        refused = await identity.choose_password(token, password)
        if refused:
            errors.add("password", refused)
            return show(request, token, errors)
        return RedirectResponse("/sign-in?password=set", status_code=303)


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
