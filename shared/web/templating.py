"""The Jinja environment: a service's own templates, then the shared layout, then GOV.UK's.

GOV.UK components come only from govuk-frontend-jinja's macros (imported as
``govuk_frontend_jinja/components/NAME/macro.html``), so the markup tracks govuk-frontend.
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import KeysView, MutableMapping
from pathlib import Path
from typing import Any

from jinja2 import (
    ChoiceLoader,
    Environment,
    FileSystemLoader,
    PackageLoader,
    PrefixLoader,
    select_autoescape,
)

SHARED_TEMPLATES = Path(__file__).parent / "templates"


class _Globals(ChainMap[str, Any]):
    """A template's globals, whose keys are a dict's.

    Every ``{% from ... import %}`` (a GOV.UK page runs 15 to 35, as each component's macro
    imports its helpers) subtracts the template's global names from a set; on a ChainMap's
    keys that is a Python-level membership test per name, about a tenth of a page's render.
    A dict's keys subtract in C. Still a ChainMap over the environment's globals, as Jinja
    documents.
    """

    def keys(self) -> KeysView[str]:
        return dict.fromkeys(self).keys()


class _Environment(Environment):
    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return _Globals({} if d is None else d, self.globals)


def environment(*template_dirs: Path) -> Environment:
    """A Jinja environment over ``template_dirs`` (searched first), the layout and GOV.UK."""
    loader = ChoiceLoader(
        [
            *(FileSystemLoader(d) for d in template_dirs),
            FileSystemLoader(SHARED_TEMPLATES),
            PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
        ]
    )
    return _Environment(
        loader=loader,
        autoescape=select_autoescape(default=True, default_for_string=True),
        auto_reload=False,
    )
