"""The site's renderer: the shared layout, the footer links and a navigation that fits
who is looking (signed in or not)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request

from shared.web import Site, web_session

TEMPLATES = Path(__file__).parent / "templates"
SERVICE_NAME = "Order CARE badges"
FOOTER_LINKS = [
    {"href": "/privacy", "text": "Privacy"},
    {"href": "/cookies", "text": "Cookies"},
    {"href": "/accessibility", "text": "Accessibility statement"},
    {"href": "/contact", "text": "Contact"},
]


def navigation(request: Request) -> list[dict[str, Any]]:
    signed_in = bool(web_session(request).get("auth"))
    items = (
        [("/orders", "Your orders"), ("/sign-out", "Sign out")]
        if signed_in
        else [("/sign-in", "Sign in")]
    )
    path = request.url.path
    return [{"href": href, "text": text, "active": path.startswith(href)} for href, text in items]


def build() -> Site:
    return Site(SERVICE_NAME, TEMPLATES, footer_links=FOOTER_LINKS, navigation=navigation)
