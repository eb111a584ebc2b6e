"""The Jinja environment: a service's own templates, then the shared layout, then GOV.UK's.

GOV.UK components come only from govuk-frontend-jinja's macros (imported as
``govuk_frontend_jinja/components/NAME/macro.html``), so the markup tracks govuk-frontend.
"""

from __future__ import annotations

from pathlib import Path

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)

SHARED_TEMPLATES = Path(__file__).parent / "templates"


def environment(*template_dirs: Path) -> Environment:
    """A Jinja environment over ``template_dirs`` (searched first), the layout and GOV.UK."""
    loader = ChoiceLoader(
        [
            *(FileSystemLoader(d) for d in template_dirs),
            FileSystemLoader(SHARED_TEMPLATES),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    )
    return Environment(
        loader=loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )
