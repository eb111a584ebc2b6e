"""The start page and the footer pages: what the service is for, privacy, cookies,
accessibility and how to get help."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from shared.web import Site


def router(pages: Site) -> APIRouter:
    web = APIRouter(include_in_schema=False)

    def page(path: str, template: str) -> None:
        async def show(request: Request) -> HTMLResponse:
            return pages.render(request, template)

        web.add_api_route(path, show, methods=["GET"], name=template.removesuffix(".html"))

    page("/", "start.html")
    page("/privacy", "privacy.html")
    page("/cookies", "cookies.html")
    page("/accessibility", "accessibility.html")
    page("/contact", "contact.html")
    return web
