"""The review queue with its filters, finding an order for a caller, and the follow-ups."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.verification.domain.checks import Check
from services.verification.domain.queue import QueueFilter, SizeBand
from services.verification.usecases import casework, reviews
from services.verification.usecases.follow_ups import open_follow_ups, resolve_follow_up
from services.verification.usecases.reviewers import Reviewer
from services.verification.web import auth
from shared.events import AccountKind
from shared.runtime import Service
from shared.usecases import Refused
from shared.web import FormErrors, Site

REASON_NAMES = {
    Check.NOT_CQC: "Not registered with CQC",
    Check.ADDRESS_AND_PHONE: "Address and phone check",
    Check.BED_COUNT: "More badges than beds suggest",
    Check.LOCATION_SIZE: "More badges than a location of its kind",
    Check.EARLIER_ORDER: "Earlier order for a location",
    Check.SAME_ORGANISATION: "Same organisation, another account",
    Check.BORDER_POSTCODE: "Postcode on the border",
    Check.OUTSIDE_ENGLAND: "Postcode outside England",
    Check.POSTCODE: "Postcode not valid",
}
KIND_NAMES = {
    AccountKind.CQC: "CQC-registered provider",
    AccountKind.NON_CQC: "Provider not registered with CQC",
    AccountKind.PERSONAL_ASSISTANT: "Personal assistant",
    AccountKind.LOCAL_AUTHORITY: "Local authority",
}
SIZE_NAMES = {
    SizeBand.UP_TO_25: "Up to 25 badges",
    SizeBand.FROM_26_TO_100: "26 to 100 badges",
    SizeBand.OVER_100: "More than 100 badges",
}


def age(placed_at: datetime, now: datetime) -> str:
    """How long an order has waited, in the largest whole unit a reviewer cares about."""
    seconds = max(int((now - placed_at).total_seconds()), 0)
    days, hours, minutes = seconds // 86400, seconds // 3600, seconds // 60
    if days:
        return f"{days} day{'s' if days != 1 else ''}"
    if hours:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _options(names: dict[Any, str], chosen: str | None, everything: str) -> list[dict[str, Any]]:
    return [{"value": "", "text": everything}] + [
        {"value": key.value, "text": text, "selected": key.value == chosen}
        for key, text in names.items()
    ]


def _choice(value: str | None, allowed: type[Any]) -> Any:
    try:
        return allowed(value) if value else None
    except ValueError:
        return None


def add(web: APIRouter, pages: Site, service: Service, reviewers: auth.Reviewers) -> None:
    @web.get("/")
    async def queue(request: Request, who: auth.SignedIn = Depends(reviewers)) -> HTMLResponse:
        params = request.query_params
        reason, kind = (
            _choice(params.get("reason"), Check),
            _choice(params.get("kind"), AccountKind),
        )
        size = _choice(params.get("size"), SizeBand)
        wanted = QueueFilter(
            reason=reason.value if reason else None, kind=kind.value if kind else None, size=size
        )
        rows = await reviews.review_queue(service, wanted)
        now = datetime.now(UTC)
        return pages.render(
            request,
            "queue.html",
            title="Review queue",
            orders=[{**row, "age": age(row["placed_at"], now)} for row in rows],
            reasons=_options(REASON_NAMES, wanted.reason, "Any reason"),
            kinds=_options(KIND_NAMES, wanted.kind, "Any type"),
            sizes=_options(SIZE_NAMES, size.value if size else None, "Any size"),
            reason_names=REASON_NAMES,
            kind_names=KIND_NAMES,
        )

    @web.get("/search")
    async def search(request: Request, who: auth.SignedIn = Depends(reviewers)) -> HTMLResponse:
        q = request.query_params.get("q")
        errors, results = FormErrors(), None
        if q is not None:
            try:
                results = await casework.find_orders(service, q)
            except Refused as refusal:
                errors.add(refusal.field or "q", refusal.message)
        return pages.render(
            request,
            "search.html",
            status_code=400 if errors else 200,
            errors=errors,
            title="Find an order",
            q=q or "",
            results=results,
            kind_names=KIND_NAMES,
        )

    @web.get("/follow-ups")
    async def follow_ups(request: Request, who: auth.SignedIn = Depends(reviewers)) -> HTMLResponse:
        items = await open_follow_ups(service)
        return pages.render(
            request,
            "follow_ups.html",
            title="Follow-ups",
            items=items,
        )

    @web.post("/follow-ups/{follow_up_id}/resolve")
    async def resolve(
        follow_up_id: int, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> Response:
        reviewer = Reviewer(
            who.principal.account_id, request.state.correlation_id, who.principal.name
        )
        try:
            await resolve_follow_up(service, follow_up_id, reviewer)
        except Refused:
            pass  # already dealt with by someone else: the list no longer shows it either way
        return RedirectResponse("/follow-ups", status_code=303)
