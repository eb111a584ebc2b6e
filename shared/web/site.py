"""Putting the web foundation on a service's app and rendering its pages.

:func:`install` adds the middleware (CSP nonce, sessions), the GOV.UK assets and HTML error
pages for page routes (the JSON API keeps its problem documents). :class:`Site` renders a
template with what every page needs: the nonce, the service's name, the navigation, the CSRF
token helper and the form's errors.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException

from shared.store.db import Database
from shared.web.assets import mount_assets
from shared.web.csrf import CsrfFailed, csrf_token
from shared.web.forms import FormErrors
from shared.web.security import NONCE_KEY, PageSecurityMiddleware
from shared.web.sessions import SKIPPED_PREFIXES, SessionStore, WebSessionMiddleware
from shared.web.templating import environment

#: A service's navigation for this request, as govukServiceNavigation ``navigation`` items.
Navigation = Callable[[Request], list[dict[str, Any]]]

_TITLES = {404: "Page not found", 405: "Page not found", 401: "You need to sign in"}
_HEADER = """{% from "govuk_frontend_jinja/components/header/macro.html" import govukHeader %}
{{- govukHeader({"homepageUrl": "https://www.gov.uk/"}) -}}"""
_FOOTER = """{% from "govuk_frontend_jinja/components/footer/macro.html" import govukFooter %}
{{- govukFooter({"meta": {"items": footer_links, "visuallyHiddenTitle": "Support links"}}) -}}"""


class Chrome(NamedTuple):
    """The parts of every page that do not change: the layout places them."""

    header: Markup
    footer: Markup


class Site:
    """Renders one service's pages inside the shared GOV.UK layout."""

    def __init__(
        self,
        service_name: str,
        template_dir: Path,
        *,
        service_url: str = "/",
        footer_links: Sequence[dict[str, str]] = (),
        navigation: Navigation = lambda _request: [],
    ) -> None:
        self.navigation = navigation
        self.env = environment(template_dir)
        self.env.globals.update(
            serviceName=service_name,
            serviceUrl=service_url,
            footer_links=list(footer_links),
            csrf_token=csrf_token,
        )
        self.env.globals["chrome"] = self.chrome()

    def chrome(self) -> Chrome:
        """The GOV.UK header and footer, rendered once: they are the same on every page and
        were about half of a page's rendering (GOV.UK's template renders each twice)."""
        # Safe markup: rendered by the autoescaping environment from GOV.UK's macros.
        return Chrome(
            header=Markup(self.env.from_string(_HEADER).render()),  # noqa: S704
            footer=Markup(self.env.from_string(_FOOTER).render()),  # noqa: S704
        )

    def render(
        self,
        request: Request,
        template: str,
        *,
        status_code: int | None = None,
        errors: FormErrors | None = None,
        headers: dict[str, str] | None = None,
        **context: Any,
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            request=request,
            cspNonce=request.scope.get("state", {}).get(NONCE_KEY, ""),
            errors=errors or FormErrors(),
            navigation=self.navigation(request),
            **context,
        )
        if status_code is None:  # a form shown again with its errors is a 400
            status_code = 400 if errors else 200
        return HTMLResponse(html, status_code=status_code, headers=headers)


def install(
    app: FastAPI,
    site: Site,
    db: Database,
    *,
    idle: timedelta = timedelta(minutes=30),
    secure_cookies: bool = True,
) -> SessionStore:
    """Add sessions, the CSP nonce, the assets and HTML error pages to ``app``."""
    store = SessionStore(db, idle)
    mount_assets(app)
    app.add_middleware(WebSessionMiddleware, store=store, secure=secure_cookies)
    app.add_middleware(PageSecurityMiddleware)
    api_http_error = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(CsrfFailed)
    async def _csrf_failed(request: Request, exc: CsrfFailed) -> Response:
        return site.render(
            request,
            "error.html",
            status_code=400,
            title="Your answers could not be sent",
            message="This can happen if the page was open for a long time. Go back, "
            "reload the page and try again.",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
        location = (exc.headers or {}).get("Location")
        if 300 <= exc.status_code < 400 and location:  # e.g. "sign in first"
            return RedirectResponse(location, status_code=exc.status_code)
        if request.url.path.startswith(SKIPPED_PREFIXES):
            answered = api_http_error(request, exc)
            return await answered if inspect.isawaitable(answered) else answered
        title = _TITLES.get(exc.status_code, "Sorry, there is a problem with the service")
        message = (
            "If you typed the web address, check it is correct."
            if exc.status_code in (404, 405)
            else "Try again later."
        )
        return site.render(
            request, "error.html", status_code=exc.status_code, title=title, message=message
        )

    return store
