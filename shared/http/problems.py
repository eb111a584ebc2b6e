"""RFC 9457 problem details for every error an API returns.

A client gets a stable ``type``, a sentence saying what to fix, and for invalid input the
list of fields at fault; never a stack trace.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.logging import get_logger
from shared.store.errors import is_transient
from shared.usecases import (
    Conflict,
    Invalid,
    NotAllowed,
    NotFound,
    Refused,
    Unavailable,
    UpstreamRefused,
)

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://care-badges.example/problems/"
INVALID_TITLE = "Your request has fields that need correcting"


class Problem(Exception):
    """Raise from a route to answer with a problem document."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.slug = slug
        self.title = title
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def problem_response(
    status: int,
    slug: str,
    title: str,
    detail: str,
    instance: str,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _field(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


_FRIENDLY = {
    "extra_forbidden": "is not a field this API accepts: remove it",
    "missing": "is required",
    "json_invalid": "is not valid JSON",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than": "must be greater than {gt}",
    "greater_than_equal": "must be {ge} or more",
    "string_too_short": "must not be empty",
    "string_too_long": "must be {max_length} characters or fewer",
    "string_type": "must be text",
    "literal_error": "must be one of: {expected}",
    "model_attributes_type": "must be a JSON object",
    "dict_type": "must be a JSON object",
}


def _message(err: dict[str, Any]) -> str:
    if err.get("type") == "value_error" and "error" in (err.get("ctx") or {}):
        return str(err["ctx"]["error"])  # our validators' own words, without pydantic's prefix
    if err.get("type") == "string_too_short" and (err.get("ctx") or {}).get("min_length", 1) > 1:
        return "must be at least {min_length} characters".format(**err["ctx"])
    template = _FRIENDLY.get(err.get("type", ""))
    if template:
        return template.format(**(err.get("ctx") or {}))
    return str(err.get("msg", "is not valid"))


def install(app: FastAPI) -> None:
    """Answer validation errors, HTTP errors, Problems and crashes as problem+json."""

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [{"field": _field(tuple(e["loc"])), "message": _message(e)} for e in exc.errors()]
        summary = "; ".join(f"{e['field']} {e['message']}" for e in errors[:5])
        return problem_response(
            422,
            "invalid-request",
            INVALID_TITLE,
            summary,
            request.url.path,
            errors=errors,
        )

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.slug,
            exc.title,
            exc.detail,
            request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(Refused)
    async def _refused(request: Request, exc: Refused) -> JSONResponse:
        # A use case's refusal that the route did not word itself.
        statuses = getattr(request.app.state, REFUSAL_STATUSES, None)
        return await _problem(request, problem_from(exc, statuses))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        titles = {404: "Not found", 405: "Method not allowed", 401: "Sign in required"}
        return problem_response(
            exc.status_code,
            f"http-{exc.status_code}",
            titles.get(exc.status_code, "Request refused"),
            str(exc.detail),
            request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(Exception)
    async def _crash(request: Request, exc: Exception) -> JSONResponse:
        if is_transient(exc):
            # A deadlock's loser, a lost connection, a database restarting: a passing fault,
            # not the request's; the same request shortly will very likely succeed.
            log.warning("passing fault, request refused", path=request.url.path, exc_info=True)
            return problem_response(
                503,
                "try-again",
                "Please try again",
                "The service could not finish this just now. Try again in a moment.",
                request.url.path,
                headers={"Retry-After": "1"},
            )
        log.exception("unhandled error", path=request.url.path)
        return problem_response(
            500,
            "internal-error",
            "Something went wrong on our side",
            "Nothing was changed. Try again in a moment; if it keeps happening, "
            "contact customer services.",
            request.url.path,
        )


#: Where an app keeps its own kinds of refusal and their statuses (see ``answer_refusals``).
REFUSAL_STATUSES = "refusal_statuses"


def answer_refusals(app: FastAPI, statuses: Mapping[type[Refused], int]) -> None:
    """Make ``app`` answer its own kinds of refusal with these statuses (the rest as shared)."""
    setattr(app.state, REFUSAL_STATUSES, dict(statuses))


_STATUS_OF_REFUSAL: dict[type[Refused], int] = {
    Invalid: 422,
    NotFound: 404,
    Conflict: 409,
    NotAllowed: 403,
    Unavailable: 503,
    UpstreamRefused: 502,
}


def problem_from(
    refusal: Refused, statuses: Mapping[type[Refused], int] | None = None, **extra: Any
) -> Problem:
    """The API's answer to a use case's refusal: its kind decides the status.

    ``statuses`` adds a service's own kinds (identity's 401 and 429), looked up before the
    shared ones, so a service states which status each of its kinds means and nothing else.
    """
    kinds = [*(statuses or {}).items(), *_STATUS_OF_REFUSAL.items()]
    status = next((code for kind, code in kinds if isinstance(refusal, kind)), 422)
    details = {**refusal.extra, **extra}
    if refusal.field is not None:
        details.setdefault("errors", [{"field": refusal.field, "message": refusal.message}])
    retry = details.pop("retry_after", None)
    headers = {"Retry-After": str(retry)} if retry is not None else None
    return Problem(status, refusal.code, refusal.title, refusal.message, headers=headers, **details)
