"""Identity's JSON API as the site's pages use it: sign in, renew, sign out, create an
account, reset a password. The site never sees a password hash or decides who may sign in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from shared import tracing


@dataclass(frozen=True)
class Refused(Exception):
    """Identity said no; ``status`` and its problem document say why."""

    status: int
    problem: dict[str, Any]

    @property
    def retry_after_seconds(self) -> int:
        return int(self.problem.get("retry_after", 0) or 0)

    def field_errors(self) -> dict[str, str]:
        """Identity's per-field messages (RFC 9457 ``errors``), keyed by field name."""
        return {
            str(e.get("field")): str(e.get("message"))
            for e in self.problem.get("errors", [])
            if e.get("field")
        }


class IdentityClient:
    """One pooled HTTP client per orders instance; closed when the service stops."""

    def __init__(self, base_url: str, timeout: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout)

    def start(self) -> None:
        """Nothing to start: connections open on first use."""

    async def stop(self) -> None:
        await self._http.aclose()

    async def _post(
        self,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        correlation_id: str = "",
        client_ip: str = "",
    ) -> dict[str, Any]:
        headers = {"X-Correlation-ID": correlation_id} if correlation_id else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if client_ip:
            headers["X-Forwarded-For"] = client_ip
        tracing.inject(headers)  # identity's span joins the visitor's request's trace
        response = await self._http.post(path, json=body, headers=headers)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {}
            if "retry-after" in response.headers:
                problem["retry_after"] = response.headers["retry-after"]
            raise Refused(response.status_code, problem)
        return response.json() if response.content else {}

    async def sign_in(
        self,
        email: str,
        password: str,
        correlation_id: str,
        client_ip: str,
        device_tokens: list[str] | None = None,
    ) -> dict[str, Any]:
        """``device_tokens``: what this browser's device cookie holds (ADR 0064)."""
        return await self._post(
            "/api/sign-in",
            {"email": email, "password": password, "device_tokens": device_tokens or []},
            correlation_id=correlation_id,
            client_ip=client_ip,
        )

    async def add_location(
        self, access_token: str, code: str, correlation_id: str, client_ip: str
    ) -> dict[str, Any]:
        """Another of the account's locations by its code; answers fresh tokens."""
        return await self._post(
            "/api/account/locations",
            {"code": code},
            token=access_token,
            correlation_id=correlation_id,
            client_ip=client_ip,
        )

    async def renew(self, refresh_token: str) -> dict[str, Any]:
        return await self._post("/api/token", {"refresh_token": refresh_token})

    async def sign_out(self, access_token: str) -> None:
        await self._post("/api/sign-out", token=access_token)

    async def create_account(self, body: dict[str, Any], correlation_id: str) -> dict[str, Any]:
        return await self._post("/api/accounts", body, correlation_id=correlation_id)

    async def confirm_account(self, token: str) -> dict[str, Any]:
        return await self._post("/api/accounts/confirm", {"token": token})

    async def request_reset(self, email: str, correlation_id: str) -> None:
        await self._post("/api/password-reset", {"email": email}, correlation_id=correlation_id)

    async def confirm_reset(self, token: str, password: str) -> None:
        await self._post("/api/password-reset/confirm", {"token": token, "password": password})
