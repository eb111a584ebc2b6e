"""Server-side sessions behind a cookie that holds only an opaque random id.

Why server-side: the session holds identity's tokens and the answers given so far, none of
which belongs in a browser, and signing out or an idle timeout must end it for certain. The
table lives in the service's own database (added to its metadata like the outbox), keyed by
a SHA-256 of the id so a copy of the table cannot be replayed as cookies. The cookie is
``__Host-`` prefixed, Secure, HttpOnly and SameSite=Lax.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

from fastapi import Request
from sqlalchemy import Column, DateTime, MetaData, String, Table
from sqlalchemy.dialects.postgresql import JSONB
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.logging import get_logger
from shared.store import prepared
from shared.store.db import Database

log = get_logger(__name__)

COOKIE = "__Host-care-session"
STATE_KEY = "web_session"
#: Requests that never need a session: the JSON API, assets and the operational routes.
SKIPPED_PREFIXES = ("/api/", "/assets/", "/healthz", "/readyz", "/metrics", "/docs", "/openapi")
#: An active user's expiry is pushed back at most this often, not on every request.
_TOUCH_EVERY = timedelta(minutes=1)

#: The table every site keeps its sessions in (in its own service's database).
TABLE = "web_sessions"

_LOAD = f"SELECT data, expires_at FROM {TABLE} WHERE id_hash = $1"  # noqa: S608 - fixed names
#: A write, and on a rotation the old id's row deleted in the same statement.
_SAVE = (
    f"WITH rotated AS (DELETE FROM {TABLE} WHERE id_hash = $4::varchar) "  # noqa: S608
    f"INSERT INTO {TABLE} (id_hash, data, expires_at) VALUES ($1, $2::jsonb, $3) "
    "ON CONFLICT (id_hash) DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at"
)
_DELETE = f"DELETE FROM {TABLE} WHERE id_hash = ANY($1::varchar[])"  # noqa: S608
_PURGE = (
    f"WITH gone AS (DELETE FROM {TABLE} WHERE expires_at <= now() RETURNING 1) "  # noqa: S608
    "SELECT count(*) FROM gone"
)


def web_sessions_table(metadata: MetaData) -> Table:
    """The sessions table, added to a service's own metadata (and so its migrations)."""
    if TABLE in metadata.tables:
        return metadata.tables[TABLE]
    return Table(
        TABLE,
        metadata,
        Column("id_hash", String(64), primary_key=True),
        Column("data", JSONB, nullable=False),
        Column("expires_at", DateTime(timezone=True), nullable=False, index=True),
    )


def _hash(session_id: str) -> str:
    return hashlib.sha256(session_id.encode()).hexdigest()


class WebSession:
    """One visitor's session data; changes are saved when the response starts."""

    def __init__(self, session_id: str | None, data: dict[str, Any], expires_at: datetime) -> None:
        self.id = session_id
        self.data = data
        self.expires_at = expires_at
        self.modified = False
        self.ended = False
        self._previous_id: str | None = None

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def __getitem__(self, key: str) -> Any:
        return self.data[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.data[key] = value
        self.modified = True

    def pop(self, key: str, default: Any = None) -> Any:
        self.modified = True
        return self.data.pop(key, default)

    def rotate(self) -> None:
        """Give the session a new id (on sign-in), so an id planted before cannot follow it."""
        if self.id is not None and self._previous_id is None:
            self._previous_id = self.id
        self.id = None
        self.modified = True

    def end(self) -> None:
        """Forget everything (sign out): the row is deleted and the cookie expired."""
        self.data = {}
        self.ended = True


def web_session(request: Request) -> WebSession:
    """The request's session (the middleware always sets one on page requests)."""
    session: WebSession = request.scope["state"][STATE_KEY]
    return session


class SessionStore:
    """The sessions table, read and written one statement at a time.

    Every page request loads its session and many save it, so each is one prepared statement
    run as its own transaction (:func:`~shared.store.prepared.fetch_alone`): one round trip,
    where a SQLAlchemy transaction took three (BEGIN, the statement, COMMIT) and about a
    millisecond more of the service's CPU. A rotation's delete of the old row and write of the
    new one stay atomic as one statement.
    """

    def __init__(self, db: Database, idle: timedelta) -> None:
        self.db = db
        self.idle = idle

    def new(self) -> WebSession:
        return WebSession(None, {}, datetime.now(UTC) + self.idle)

    async def load(self, session_id: str) -> WebSession | None:
        rows = await prepared.fetch_alone(self.db.engine, _LOAD, _hash(session_id))
        if not rows or rows[0]["expires_at"] <= datetime.now(UTC):
            return None
        loaded = WebSession(session_id, dict(rows[0]["data"]), rows[0]["expires_at"])
        if loaded.expires_at - datetime.now(UTC) < self.idle - _TOUCH_EVERY:
            loaded.modified = True  # active: push the idle expiry back
        return loaded

    async def save(self, web: WebSession) -> str:
        """Write the session (under a new id if it has none); returns the id."""
        if web.id is None:
            web.id = secrets.token_urlsafe(32)
        web.expires_at = datetime.now(UTC) + self.idle
        previous = _hash(web._previous_id) if web._previous_id is not None else None
        await prepared.fetch_alone(
            self.db.engine,
            _SAVE,
            _hash(web.id),
            json.dumps(web.data),
            web.expires_at,
            previous,
        )
        return web.id

    async def delete(self, web: WebSession) -> None:
        ids = [_hash(i) for i in (web.id, web._previous_id) if i is not None]
        if ids:  # a session never saved has no row
            await prepared.fetch_alone(self.db.engine, _DELETE, ids)

    async def purge_expired(self) -> int:
        """Delete sessions past their expiry; returns how many."""
        rows = await prepared.fetch_alone(self.db.engine, _PURGE)
        return int(rows[0][0])


def _cookie_header(value: str, max_age: int, secure: bool) -> bytes:
    attributes = f"{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax"
    return (attributes + ("; Secure" if secure else "")).encode("latin-1")


class WebSessionMiddleware:
    """Loads the session before the page runs and saves it as the response starts."""

    def __init__(self, app: ASGIApp, store: SessionStore, *, secure: bool = True) -> None:
        self.app = app
        self.store = store
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(SKIPPED_PREFIXES):
            await self.app(scope, receive, send)
            return
        web = await self._load(scope)
        scope.setdefault("state", {})[STATE_KEY] = web

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if web.ended:
                    await self.store.delete(web)
                    headers.append((b"set-cookie", _cookie_header("", 0, self.secure)))
                elif web.modified:
                    session_id = await self.store.save(web)
                    max_age = int(self.store.idle.total_seconds())
                    headers.append(
                        (b"set-cookie", _cookie_header(session_id, max_age, self.secure))
                    )
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_wrapper)

    async def _load(self, scope: Scope) -> WebSession:
        cookies: SimpleCookie = SimpleCookie()
        for key, value in scope.get("headers") or []:
            if key == b"cookie":
                try:
                    cookies.load(value.decode("latin-1"))
                except Exception:  # noqa: S112 - a malformed cookie header means no session
                    continue
        morsel = cookies.get(COOKIE)
        if morsel is not None and morsel.value:
            loaded = await self.store.load(morsel.value)
            if loaded is not None:
                return loaded
        return self.store.new()


class ExpiredSessionPurger:
    """Deletes expired sessions now and then, so abandoned answers and tokens do not linger.

    A :class:`shared.runtime.Component`: attach it to the service that owns the table.
    """

    def __init__(self, store: SessionStore, every_seconds: float = 300.0) -> None:
        self.store = store
        self.every_seconds = every_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            try:
                await self.store.purge_expired()
            except Exception as exc:  # a database blip: try again next time
                log.warning("expired sessions not purged", error=type(exc).__name__)
            await asyncio.sleep(self.every_seconds)
