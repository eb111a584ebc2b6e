"""Identity's API as every other service's pages call it: the orders site for providers, and
the staff pages (back office, management information) for staff.

One client so that a page reaches identity the same way whichever site it is on:

- **One pool.** A service attaches one :class:`IdentityClient` (``service.attach``): its
  ``httpx.AsyncClient`` opens when the service starts and closes when it stops, so a page
  reuses a kept-alive connection instead of opening one per call.
- **The browser's address.** A sign-in or an added location carries the browser's address in
  ``X-Forwarded-For``; identity counts failed attempts by it, and believes the header only
  from the proxies it is configured to trust (ADR 0065). The correlation id and the trace go
  with every call, so identity's logs and spans join the visitor's request.
- **One answer to a refusal.** Anything but a 2xx is :class:`IdentityRefused`, with identity's
  status and problem document; a 429 is :class:`TooManyAttempts`, with how long to wait.
  Identity not answering at all is :class:`IdentityUnavailable`.
- **One renewal policy.** A page session keeps identity's tokens under :data:`AUTH_KEY`, with
  the same keys on every site (:func:`remember`). Access tokens live five minutes; the page
  that needs one renews it with the refresh token when it expires within
  :data:`RENEW_WITHIN_SECONDS` (:func:`signed_in_tokens`), so the token a page acts with does
  not expire during its request, and someone filling in a form is not signed out midway (the
  session's own idle limit still applies). If identity will not renew, the person signs in
  again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import httpx

from shared import tracing
from shared.web.sessions import WebSession

#: Where a page session keeps identity's tokens, on every site.
AUTH_KEY = "auth"
ACCESS_TOKEN = "access_token"  # noqa: S105 - a session key, not a secret
REFRESH_TOKEN = "refresh_token"  # noqa: S105 - a session key, not a secret
#: When the access token expires, in seconds since the epoch (this server's clock).
EXPIRES_AT = "expires_at"
#: Renew an access token that expires within this many seconds: long enough for the slowest
#: page to finish with it, short against its five-minute life.
RENEW_WITHIN_SECONDS = 30


class IdentityUnavailable(Exception):
    """Identity did not answer (down, or too slow)."""


class IdentityRefused(Exception):
    """Identity said no; ``status`` and its problem document say why."""

    def __init__(
        self, status: int, problem: dict[str, Any], retry_after: str | None = None
    ) -> None:
        super().__init__(status)
        self.status = status
        self.problem = problem
        self._retry_after = retry_after

    @property
    def retry_after_seconds(self) -> int:
        """Identity's Retry-After (a minute if it gave none that reads as seconds)."""
        try:
            return max(1, int(self._retry_after or "60"))
        except ValueError:
            return 60

    def wait(self) -> str:
        """ "Wait 2 minutes": how long identity asked for, as a page says it."""
        minutes = max(1, math.ceil(self.retry_after_seconds / 60))
        return f"Wait {minutes} minute{'s' if minutes != 1 else ''}"

    def field_errors(self) -> dict[str, str]:
        """Identity's per-field messages (RFC 9457 ``errors``), keyed by field name."""
        return {
            str(e.get("field")): str(e.get("message"))
            for e in self.problem.get("errors", [])
            if isinstance(e, dict) and e.get("field")
        }

    def is_a(self, slug: str) -> bool:
        """Whether identity's problem is of this type (``portal-closed``, ...)."""
        return str(self.problem.get("type", "")).endswith(f"/{slug}")


class TooManyAttempts(IdentityRefused):
    """Identity is refusing attempts for this account or address for a while (a 429)."""

    def message(self) -> str:
        return f"You have tried to sign in too many times. {self.wait()} and try again"


class IdentityClient:
    """Identity's API over one pooled HTTP client, kept for the service's life (it is a
    :class:`shared.runtime.Component`). Tests that run identity in process set ``transport``
    to reach it there."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
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
        """The pooled client (made again if the service was stopped and started)."""
        if self._client is None or self._client.is_closed:
            self._client = httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, transport=self._transport
            )
        return self._client

    def start(self) -> None:
        self.http()

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        token: str | None = None,
        *,
        client_ip: str = "",
        correlation_id: str = "",
    ) -> httpx.Response:
        """POST to identity and return its answer, whatever its status;
        :class:`IdentityUnavailable` when it does not answer.

        ``client_ip`` is the browser's address (never set it to anything else)."""
        headers = {"X-Correlation-ID": correlation_id} if correlation_id else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        tracing.inject(headers)  # identity's span joins the visitor's request's trace
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
        correlation_id: str = "",
    ) -> dict[str, Any]:
        """Identity's tokens for the email and password (or, for a provider, ODS code).

        ``device_tokens``: what this browser's device cookie holds (ADR 0064)."""
        body = {"email": email, "password": password, "device_tokens": device_tokens or []}
        sent = await self.post(
            "/api/sign-in", body, client_ip=client_ip, correlation_id=correlation_id
        )
        return accepted(sent)

    async def refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """New tokens for the refresh token; None when identity will not renew them (the
        session ended, or the account was disabled): the person signs in again."""
        try:
            return accepted(await self.post("/api/token", {"refresh_token": refresh_token}))
        except IdentityRefused:
            return None

    async def sign_out(self, access_token: str) -> None:
        """End identity's session: best effort, the page session ends regardless."""
        try:
            await self.post("/api/sign-out", token=access_token)
        except IdentityUnavailable:
            return

    async def add_location(
        self, access_token: str, code: str, correlation_id: str, client_ip: str
    ) -> dict[str, Any]:
        """Another of the account's locations by its code; answers fresh tokens."""
        sent = await self.post(
            "/api/account/locations",
            {"code": code},
            access_token,
            client_ip=client_ip,
            correlation_id=correlation_id,
        )
        return accepted(sent)

    async def create_account(self, body: dict[str, Any], correlation_id: str) -> dict[str, Any]:
        return accepted(await self.post("/api/accounts", body, correlation_id=correlation_id))

    async def confirm_account(self, token: str) -> dict[str, Any]:
        return accepted(await self.post("/api/accounts/confirm", {"token": token}))

    async def request_reset(self, email: str, correlation_id: str) -> None:
        body = {"email": email}
        accepted(await self.post("/api/password-reset", body, correlation_id=correlation_id))

    async def confirm_reset(self, token: str, password: str) -> None:
        """Set a password from an emailed link (a reset, or a staff invitation)."""
        body = {"token": token, "password": password}
        accepted(await self.post("/api/password-reset/confirm", body))


def accepted(answer: httpx.Response) -> dict[str, Any]:
    """Identity's JSON answer; :class:`IdentityRefused` (:class:`TooManyAttempts` for a 429)
    unless it answered 2xx."""
    if answer.status_code >= 300:
        refusal = TooManyAttempts if answer.status_code == 429 else IdentityRefused
        raise refusal(answer.status_code, _problem(answer), answer.headers.get("retry-after"))
    found: dict[str, Any] = answer.json() if answer.content else {}
    return found


def _problem(answer: httpx.Response) -> dict[str, Any]:
    try:
        found = answer.json()
    except ValueError:
        return {}
    return found if isinstance(found, dict) else {}


def kept_tokens(answer: Mapping[str, Any], *fields: str) -> dict[str, Any]:
    """What a page session keeps of identity's answer: the tokens, when the access token
    expires, and the answer's ``fields`` the site's pages read (an account's locations)."""
    return {
        ACCESS_TOKEN: answer["access_token"],
        REFRESH_TOKEN: answer["refresh_token"],
        EXPIRES_AT: time.time() + int(answer["expires_in"]),
        **{name: answer[name] for name in fields},
    }


def remember(session: WebSession, answer: Mapping[str, Any], *fields: str, **extra: Any) -> None:
    """Keep a fresh sign-in's tokens, in a new session id so one planted before is useless.

    ``extra``: what else the site keeps beside them (the email identity just accepted)."""
    session.rotate()
    session[AUTH_KEY] = {**kept_tokens(answer, *fields), **extra}


def renewal_due(kept: Mapping[str, Any], now: float | None = None) -> bool:
    """Whether the kept access token expires within :data:`RENEW_WITHIN_SECONDS`."""
    return float(kept[EXPIRES_AT]) - (time.time() if now is None else now) < RENEW_WITHIN_SECONDS


async def signed_in_tokens(
    session: WebSession, identity: IdentityClient, *fields: str
) -> dict[str, Any] | None:
    """The session's tokens, renewed first when due (with the answer's ``fields`` updated);
    None, with the tokens forgotten, when nobody is signed in or identity will not renew."""
    kept = session.get(AUTH_KEY)
    if not isinstance(kept, dict):
        return None
    if not {ACCESS_TOKEN, REFRESH_TOKEN, EXPIRES_AT} <= kept.keys():
        session.pop(AUTH_KEY)  # kept in another shape by an earlier release: sign in again
        return None
    if renewal_due(kept):
        renewed = await identity.refresh(kept[REFRESH_TOKEN])
        if renewed is None:
            session.pop(AUTH_KEY)
            return None
        kept = {**kept, **kept_tokens(renewed, *fields)}
        session[AUTH_KEY] = kept
    return kept


async def end_session(session: WebSession, identity: IdentityClient) -> None:
    """Sign out at identity, then forget the page session.

    The access token is renewed first when due: one kept past its five minutes would be
    refused at sign-out and leave identity's session, and its refresh token, alive. Best
    effort when identity does not answer; the page session ends either way.
    """
    try:
        kept = await signed_in_tokens(session, identity)
        if kept is not None:
            await identity.sign_out(kept[ACCESS_TOKEN])
    except IdentityUnavailable:
        pass
    session.end()
