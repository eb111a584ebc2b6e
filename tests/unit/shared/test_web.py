"""The web foundation's pure parts: error summaries and the content security policy."""

from __future__ import annotations

from pathlib import Path

from starlette.requests import Request

from shared.web import FormErrors, Site
from shared.web.security import content_security_policy
from shared.web.templating import environment


def test_summary_and_inline_messages_come_from_one_ordered_list() -> None:
    errors = FormErrors()
    assert not errors and errors.message("email") is None
    errors.add("email", "Enter an email address")
    errors.add("password", "Enter your password")
    errors.add("email", "a second problem with the same field is not shown")
    assert errors and "email" in errors
    assert errors.summary() == [
        {"text": "Enter an email address", "href": "#email"},
        {"text": "Enter your password", "href": "#password"},
    ]
    assert errors.message("password") == {"text": "Enter your password"}


def test_the_policy_allows_only_own_scripts_and_the_nonced_one() -> None:
    policy = content_security_policy("abc")
    assert "script-src 'self' 'nonce-abc'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "frame-ancestors 'none'" in policy and "form-action 'self'" in policy


def _page(site: Site, path: str = "/") -> str:
    request = Request({"type": "http", "method": "GET", "path": path, "headers": [], "state": {}})
    return bytes(site.render(request, "error.html", title="T", message="M").body).decode()


def test_every_page_has_one_gov_uk_header_and_footer_around_its_own_navigation(
    tmp_path: Path,
) -> None:
    links = [{"href": "/privacy", "text": "Privacy"}]
    site = Site(
        "Order things",
        tmp_path,
        footer_links=links,
        navigation=lambda request: [{"href": "/a", "text": request.url.path}],
    )
    first, second = _page(site, "/first"), _page(site, "/second")
    for page, path in ((first, "/first"), (second, "/second")):
        assert page.count('class="govuk-template__header"') == 1
        assert page.count('<div class="govuk-header"') == 1
        assert page.count('class="govuk-template__footer"') == 1
        assert page.count('<div class="govuk-footer"') == 1
        assert 'href="https://www.gov.uk/"' in page
        assert 'href="/privacy"' in page and "Support links" in page
        assert page.index("govuk-header") < page.index(path) < page.index("govuk-footer")


def test_imported_macros_see_the_globals_as_jinja_documents(tmp_path: Path) -> None:
    """The environment's globals map (kept cheap to import through) still behaves as Jinja's."""
    (tmp_path / "helpers.html").write_text("{% macro hello() %}{{ greeting }}{% endmacro %}")
    (tmp_path / "page.html").write_text(
        '{% from "helpers.html" import hello %}{{ hello() }} {{ greeting }} {{ extra }}'
    )
    env = environment(tmp_path)
    env.globals["greeting"] = "Hello"
    page = env.get_template("page.html", globals={"extra": "own"})
    assert page.render() == "Hello Hello own"
    env.globals["greeting"] = "Hi"  # a change to the environment's globals is seen
    assert page.render() == "Hi Hi own"
    assert set(page.globals.keys()) >= {"greeting", "extra", "range"}
    assert "extra" not in env.globals
