"""The web foundation's pure parts: error summaries and the content security policy."""

from __future__ import annotations

from shared.web import FormErrors
from shared.web.security import content_security_policy


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
