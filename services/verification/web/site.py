"""The back office's renderer and routers: every page needs a signed-in reviewer."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from services.verification.web import account_pages, auth, order_pages, queue_pages
from shared.identity import IdentityClient
from shared.runtime import Service
from shared.web import Site, web_session
from shared.web.csrf import require_csrf
from shared.web.staff_sign_in import add_password_pages

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_NAME = "CARE badges back office"


def navigation(request: Request) -> list[dict[str, Any]]:
    if not web_session(request).get(auth.AUTH_KEY):
        return []
    path = request.url.path
    items = [("/", "Review queue"), ("/follow-ups", "Follow-ups"), ("/search", "Find an order")]
    links = [
        {
            "href": href,
            "text": text,
            "active": path == href or (href != "/" and path.startswith(href)),
        }
        for href, text in items
    ]
    return [*links, {"href": "/sign-out", "text": "Sign out"}]


def build() -> Site:
    return Site(SERVICE_NAME, TEMPLATES, navigation=navigation)


def routers(service: Service, link: IdentityClient, pages: Site) -> list[APIRouter]:
    """The sign-in pages, and the reviewer's pages behind the role check; CSRF on every form."""
    reviewers = auth.Reviewers(service, link)
    csrf = Depends(require_csrf)
    public = APIRouter(dependencies=[csrf], include_in_schema=False)
    account_pages.add_sign_in(public, pages, link)
    add_password_pages(public, pages, link)
    private = APIRouter(dependencies=[csrf], include_in_schema=False)
    queue_pages.add(private, pages, service, reviewers)
    order_pages.add(private, pages, service, reviewers)
    account_pages.add_account_actions(private, pages, service, link, reviewers)
    return [public, private]


def handle_auth_errors(app: FastAPI, pages: Site) -> None:
    @app.exception_handler(auth.SignInNeeded)
    async def _sign_in(request: Request, exc: auth.SignInNeeded) -> Response:
        return RedirectResponse("/sign-in?" + urlencode({"next": exc.back_to}), status_code=303)

    @app.exception_handler(auth.NotAReviewer)
    async def _forbidden(request: Request, exc: auth.NotAReviewer) -> Response:
        return pages.render(
            request,
            "error.html",
            status_code=403,
            title="You do not have access to the back office",
            message="Only customer services staff can use these pages. Sign out and sign in "
            "with a customer services account.",
        )
