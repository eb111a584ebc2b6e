"""What identity's routes read off a request besides its body: identity's context, the
correlation id, and the caller's address the brute-force limits count by."""

from __future__ import annotations

from fastapi import Request

from services.identity.usecases.context import Identity


async def identity(request: Request) -> Identity:
    """Identity's context (a FastAPI dependency): kept on the app so tests can move its
    clock. A coroutine, so FastAPI calls it in the request's task: a plain function
    dependency is run on a worker thread, a thread hand-off on every request."""
    found: Identity = request.app.state.identity
    return found


def correlation_id(request: Request) -> str:
    found: str = request.state.correlation_id
    return found


def client_host(request: Request) -> str:
    """The caller's address: X-Forwarded-For from a trusted proxy, already applied."""
    return request.client.host if request.client else "unknown"
