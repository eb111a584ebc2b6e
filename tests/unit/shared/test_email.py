"""Email: building messages for each transport, choosing a transport, the retry schedule."""

from __future__ import annotations

import base64
import email
import email.policy
from datetime import timedelta

import aiosmtplib
import pytest

from shared.email import (
    Attachment,
    EmailDeliveryError,
    EmailMessage,
    EmailRejected,
    EmailSettings,
    NotifySender,
    SmtpSender,
    retry_delay,
    sender_from_settings,
)
from shared.email.notify import personalisation
from shared.email.smtp import _classify, build_mime

PDF = Attachment("badge-order.pdf", "application/pdf", b"%PDF-1.7\x00\xffbinary")
SERVICE_ID = "26785a09-ab16-4eb0-8407-a37497a57506"
SECRET = "3d844edf-8d35-48ac-975b-e847b4f122b0"
API_KEY = f"care_live-{SERVICE_ID}-{SECRET}"


def test_the_mime_message_has_a_plain_body_and_the_attachment_as_its_own_part() -> None:
    message = EmailMessage("worker@example.org", "Your CARE badge", "Hello\nThanks", (PDF,))
    mime = build_mime(message, "care-badges@example.org")
    parsed = email.message_from_bytes(mime.as_bytes(), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)

    assert parsed["From"] == "care-badges@example.org"
    assert parsed["To"] == "worker@example.org"
    assert parsed["Subject"] == "Your CARE badge"
    assert parsed["Message-ID"].endswith("@example.org>")
    body = parsed.get_body(("plain",))
    assert body is not None and body.get_content() == "Hello\nThanks\n"
    [part] = list(parsed.iter_attachments())
    assert part.get_content_type() == "application/pdf"
    assert part.get_filename() == "badge-order.pdf"
    assert part.get_content() == PDF.data


def test_a_body_beyond_ascii_or_in_long_lines_subject_and_file_name_are_encoded() -> None:
    body = "Dear Zoë,\n\n" + "Your badges are on their way. " * 12 + "\n"
    attachment = Attachment("affiche-été.pdf", "application/pdf", b"%PDF-1.7")
    message = EmailMessage("zoe@example.org", "Commande reçue", body, (attachment,))
    raw = build_mime(message, "care-badges@example.org").as_bytes()

    assert raw.isascii() and max(len(line) for line in raw.splitlines()) <= 78
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    assert parsed["Subject"] == "Commande reçue"
    text = parsed.get_body(("plain",))
    assert text is not None and text.get_content() == body
    [part] = list(parsed.iter_attachments())
    assert part.get_filename() == "affiche-été.pdf"
    assert part.get_content() == b"%PDF-1.7"


def test_a_short_ascii_body_is_sent_as_it_is() -> None:
    mime = build_mime(EmailMessage("a@example.org", "s", "Hello\nThanks"), "care-badges@x.org")
    assert mime["Content-Transfer-Encoding"] == "7bit"
    assert mime.get_payload() == "Hello\nThanks\n"


def test_a_message_without_attachments_is_plain_text() -> None:
    mime = build_mime(EmailMessage("a@example.org", "s", "b"), "care-badges@localhost")
    assert mime.get_content_type() == "text/plain"


@pytest.mark.parametrize(
    "to",
    [
        "worker@example.org, other@example.org",
        "worker@example.org\r\nBcc: other@example.org",
        "Worker <worker@example.org>",
        "not-an-address",
        "",
    ],
)
def test_a_recipient_that_could_add_recipients_or_headers_is_refused(to: str) -> None:
    with pytest.raises(ValueError, match="one bare email address") as caught:
        EmailMessage(to, "subject", "body")
    assert "example.org" not in str(caught.value)  # never quotes personal data


def test_a_subject_must_be_one_line_and_an_attachment_needs_a_type() -> None:
    with pytest.raises(ValueError):
        EmailMessage("a@example.org", "Hi\nBcc: x@example.org", "body")
    with pytest.raises(ValueError):
        Attachment("x.pdf", "pdf", b"")
    with pytest.raises(ValueError):
        Attachment("../x.pdf", "application/pdf", b"")


def test_notify_personalisation_fills_the_generic_template() -> None:
    plain = personalisation(EmailMessage("a@example.org", "Subject", "Body"))
    assert plain == {"subject": "Subject", "body": "Body", "link_to_file": ""}

    with_file = personalisation(EmailMessage("a@example.org", "Subject", "Body", (PDF,)))
    link = with_file["link_to_file"]
    assert base64.b64decode(link["file"]) == PDF.data
    assert link["filename"] == "badge-order.pdf"


def test_notify_takes_one_file_of_at_most_2_mb() -> None:
    two = EmailMessage("a@example.org", "s", "b", (PDF, PDF))
    with pytest.raises(EmailRejected, match="too-many-attachments"):
        personalisation(two)
    big = Attachment("big.pdf", "application/pdf", b"x" * (2 * 1024 * 1024 + 1))
    with pytest.raises(EmailRejected, match="file-too-large"):
        personalisation(EmailMessage("a@example.org", "s", "b", (big,)))


@pytest.mark.parametrize(
    ("error", "expected", "code"),
    [
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(550, "no such user", "a@example.org")]
            ),
            EmailRejected,
            "smtp:550",
        ),
        (
            aiosmtplib.SMTPRecipientsRefused(
                [aiosmtplib.SMTPRecipientRefused(451, "greylisted", "a@example.org")]
            ),
            EmailDeliveryError,
            "smtp:451",
        ),
        (aiosmtplib.SMTPDataError(552, "too big"), EmailRejected, "smtp:552"),
        (aiosmtplib.SMTPDataError(421, "busy"), EmailDeliveryError, "smtp:421"),
        (aiosmtplib.SMTPAuthenticationError(535, "bad password"), EmailDeliveryError, "smtp:535"),
        (aiosmtplib.SMTPSenderRefused(553, "no", "x@y"), EmailDeliveryError, "smtp:553"),
        (aiosmtplib.SMTPConnectError("refused"), EmailDeliveryError, "smtp:SMTPConnectError"),
        (ConnectionRefusedError(), EmailDeliveryError, "smtp:ConnectionRefusedError"),
    ],
)
def test_smtp_failures_are_permanent_only_when_the_message_itself_is_refused(
    error: Exception, expected: type[Exception], code: str
) -> None:
    mapped = _classify(error)
    assert type(mapped) is expected
    assert mapped.code == code


def test_the_default_settings_send_to_a_local_smtp_catcher(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("CARE_EMAIL_BACKEND", raising=False)
    sender = sender_from_settings(EmailSettings())
    assert isinstance(sender, SmtpSender)
    assert (sender.host, sender.port, sender.sender_address) == (
        "127.0.0.1",
        1025,
        "care-badges@localhost",
    )


def test_smtp_settings_come_from_care_email_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CARE_EMAIL_SMTP_HOST", "smtp.example.org")
    monkeypatch.setenv("CARE_EMAIL_SMTP_PORT", "587")
    monkeypatch.setenv("CARE_EMAIL_SMTP_START_TLS", "true")
    monkeypatch.setenv("CARE_EMAIL_SMTP_PASSWORD", "hunter2")
    settings = EmailSettings()
    sender = sender_from_settings(settings)
    assert isinstance(sender, SmtpSender)
    assert (sender.host, sender.port) == ("smtp.example.org", 587)
    assert "hunter2" not in repr(settings) and "hunter2" not in repr(sender)


def test_notify_needs_its_key_and_template_and_says_which_variable_is_missing() -> None:
    with pytest.raises(ValueError, match="CARE_EMAIL_NOTIFY_API_KEY") as both:
        sender_from_settings(EmailSettings(backend="notify"))
    assert "CARE_EMAIL_NOTIFY_TEMPLATE_ID" in str(both.value)
    with pytest.raises(ValueError, match="CARE_EMAIL_NOTIFY_TEMPLATE_ID") as one:
        sender_from_settings(EmailSettings(backend="notify", notify_api_key=API_KEY))
    assert "API_KEY" not in str(one.value)


def test_notify_settings_build_a_notify_sender_that_keeps_its_key_to_itself() -> None:
    settings = EmailSettings(
        backend="notify", notify_api_key=API_KEY, notify_template_id="f3b0c2e4-template"
    )
    sender = sender_from_settings(settings)
    assert isinstance(sender, NotifySender)
    assert sender.template_id == "f3b0c2e4-template"
    assert SECRET not in repr(sender) and SECRET not in repr(settings)


@pytest.mark.parametrize("key", ["", "not-a-key", f"{SERVICE_ID}-{SECRET}", f"x-{SECRET}-nope"])
def test_a_malformed_notify_key_fails_at_startup_without_echoing_it(key: str) -> None:
    with pytest.raises(ValueError) as caught:
        NotifySender(key, "template")
    assert SECRET not in str(caught.value)


def test_retries_back_off_exponentially_from_5_seconds_to_at_most_10_minutes() -> None:
    schedule = [retry_delay(n).total_seconds() for n in range(1, 11)]
    assert schedule == [5, 10, 20, 40, 80, 160, 320, 600, 600, 600]
    assert retry_delay(10_000) == timedelta(minutes=10)
