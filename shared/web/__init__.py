"""The web foundation every service's pages share.

GOV.UK Design System pages rendered from govuk-frontend-jinja's macros, govuk-frontend's
assets served by the service itself, a server-side session behind an opaque cookie, CSRF
tokens on every form, a per-request CSP nonce, and the GOV.UK error summary helpers. A service
calls :func:`shared.web.site.install` on its app and renders pages with :class:`Site`.
"""

from shared.web.forms import FormErrors
from shared.web.sessions import WebSession, web_session, web_sessions_table
from shared.web.site import Site, install

__all__ = ["FormErrors", "Site", "WebSession", "install", "web_session", "web_sessions_table"]
