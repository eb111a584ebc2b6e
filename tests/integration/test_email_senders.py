"""The two transports against real servers: an SMTP sink and a local Notify API."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from shared.email import (
    Attachment,
    EmailDeliveryError,
    EmailMessage,
    EmailRejected,
    NotifySender,
    SmtpSender,
)
from tests.support.mail import NotifyStandIn, SmtpSink, free_port

TEMPLATE_ID = "9d1c6f3e-5b0a-4c47-9a53-2f8e3c7d1b20"
PDF = Attachment("order-CB-1234.pdf", "application/pdf", b"%PDF-1.7\n\x00\xffbinary\n%%EOF")
MESSAGE = EmailMessage(
    "worker@example.org",
    "Your CARE badge is on its way",
    "Hello,\n\nYour badge was posted today.\n",
    (PDF,),
)


@pytest.fixture(scope="module")
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as s:
        yield s


@pytest.fixture(scope="module")
def notify() -> Iterator[NotifyStandIn]:
    with NotifyStandIn() as n:
        yield n


@pytest.fixture(autouse=True)
def _fresh(sink: SmtpSink, notify: NotifyStandIn) -> None:
    sink.clear()
    notify.clear()


# --- SMTP -----------------------------------------------------------------------------------


async def test_smtp_delivers_the_message_with_its_attachment(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.host, sink.port, "care-badges@example.org")
    await sender.send(MESSAGE)

    [received] = sink.received
    assert received.mail_from == "care-badges@example.org"
    assert received.rcpt_tos == ["worker@example.org"]
    message = received.message
    assert message["Subject"] == "Your CARE badge is on its way"
    assert message["To"] == "worker@example.org"
    body = message.get_body(("plain",))
    assert body is not None
    assert body.get_content().replace("\r\n", "\n") == MESSAGE.body  # CRLF on the wire
    [part] = list(message.iter_attachments())
    assert (part.get_filename(), part.get_content_type()) == (
        "order-CB-1234.pdf",
        "application/pdf",
    )
    assert part.get_content() == PDF.data


async def test_smtp_refusals_of_the_recipient_are_permanent_and_others_transient(
    sink: SmtpSink,
) -> None:
    sender = SmtpSender(sink.host, sink.port, "care-badges@example.org")
    sink.refuse_next("550 5.1.1 <worker@example.org>: mailbox unavailable")
    with pytest.raises(EmailRejected) as rejected:
        await sender.send(MESSAGE)
    assert rejected.value.code == "smtp:550"
    assert "worker@" not in str(rejected.value)  # the server's text is not kept

    sink.refuse_next("451 4.7.1 greylisted, try later")
    with pytest.raises(EmailDeliveryError) as later:
        await sender.send(MESSAGE)
    assert later.value.code == "smtp:451"
    assert sink.received == []


async def test_smtp_sends_one_message_after_another_on_one_connection(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.host, sink.port, "care-badges@example.org")
    for n in range(3):
        await sender.send(EmailMessage(f"worker{n}@example.org", f"Message {n}", "Hello"))
    sink.refuse_next("550 5.1.1 <worker@example.org>: mailbox unavailable")
    with pytest.raises(EmailRejected):
        await sender.send(MESSAGE)
    await sender.send(MESSAGE)  # a refused message leaves the connection usable
    await sender.close()

    assert [r.rcpt_tos for r in sink.received] == [
        ["worker0@example.org"],
        ["worker1@example.org"],
        ["worker2@example.org"],
        ["worker@example.org"],
    ]
    assert sink.connections == 1


async def test_smtp_opens_a_new_connection_when_the_server_closed_the_kept_one(
    sink: SmtpSink,
) -> None:
    sender = SmtpSender(sink.host, sink.port, "care-badges@example.org")
    await sender.send(EmailMessage("first@example.org", "First", "Hello"))
    sink.hang_up()  # the server's idle timeout
    await sender.send(EmailMessage("second@example.org", "Second", "Hello"))
    await sender.close()

    assert [r.rcpt_tos for r in sink.received] == [["first@example.org"], ["second@example.org"]]
    assert sink.connections == 2


async def test_smtp_starts_a_new_connection_after_its_quota_of_messages(sink: SmtpSink) -> None:
    sender = SmtpSender(sink.host, sink.port, "care-badges@example.org", messages_per_connection=2)
    for n in range(5):
        await sender.send(EmailMessage(f"worker{n}@example.org", f"Message {n}", "Hello"))
    await sender.close()

    assert len(sink.received) == 5
    assert sink.connections == 3


async def test_smtp_unreachable_is_transient() -> None:
    sender = SmtpSender("127.0.0.1", free_port(), "care-badges@example.org", timeout=2)
    with pytest.raises(EmailDeliveryError):
        await sender.send(MESSAGE)


# --- GOV.UK Notify --------------------------------------------------------------------------


async def test_notify_gets_the_template_address_and_personalisation_signed_with_our_key(
    notify: NotifyStandIn,
) -> None:
    sender = NotifySender(notify.api_key, TEMPLATE_ID, base_url=notify.base_url)
    await sender.send(MESSAGE)
    await sender.send(EmailMessage("other@example.org", "No file", "Just text"))
    await sender.close()

    first, second = notify.requests
    assert first.issuer == notify.service_id  # the stand-in checked the signature
    assert first.body["template_id"] == TEMPLATE_ID
    assert first.body["email_address"] == "worker@example.org"
    values = first.body["personalisation"]
    assert values["subject"] == MESSAGE.subject and values["body"] == MESSAGE.body
    assert base64.b64decode(values["link_to_file"]["file"]) == PDF.data
    assert values["link_to_file"]["filename"] == "order-CB-1234.pdf"
    assert second.body["personalisation"] == {
        "subject": "No file",
        "body": "Just text",
        "link_to_file": "",
    }


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (500, EmailDeliveryError),
        (503, EmailDeliveryError),
        (429, EmailDeliveryError),
        (403, EmailDeliveryError),  # our key: configuration, not this message
        (400, EmailRejected),
        (404, EmailRejected),
    ],
)
async def test_notify_errors_map_to_retry_or_reject(
    notify: NotifyStandIn, status: int, expected: type[Exception]
) -> None:
    sender = NotifySender(notify.api_key, TEMPLATE_ID, base_url=notify.base_url)
    notify.fail_next(status)
    with pytest.raises(expected) as caught:
        await sender.send(MESSAGE)
    assert str(caught.value) == f"notify:{status}"
    await sender.send(MESSAGE)  # the next call goes through
    assert len(notify.requests) == 2


async def test_a_key_with_the_wrong_secret_is_refused_by_notify_and_retried(
    notify: NotifyStandIn,
) -> None:
    wrong = notify.api_key[:-36] + "00000000-0000-4000-8000-000000000000"
    sender = NotifySender(wrong, TEMPLATE_ID, base_url=notify.base_url)
    with pytest.raises(EmailDeliveryError, match="notify:403"):
        await sender.send(MESSAGE)
    assert notify.requests == []


async def test_notify_sends_one_email_after_another_on_one_connection(
    notify: NotifyStandIn,
) -> None:
    sender = NotifySender(notify.api_key, TEMPLATE_ID, base_url=notify.base_url)
    for n in range(3):
        await sender.send(EmailMessage(f"worker{n}@example.org", f"Message {n}", "Hello"))
    notify.fail_next(400)
    with pytest.raises(EmailRejected):
        await sender.send(MESSAGE)
    await sender.send(MESSAGE)
    await sender.close()
    await sender.close()  # a relay stopped twice closes twice

    assert len(notify.requests) == 5
    assert len(set(notify.peers)) == 1  # no new connection, and no TLS handshake, per email


async def test_notify_unreachable_is_transient() -> None:
    api_key = f"care_test-{uuid.uuid4()}-{uuid.uuid4()}"
    sender = NotifySender(api_key, TEMPLATE_ID, base_url=f"http://127.0.0.1:{free_port()}")
    with pytest.raises(EmailDeliveryError, match="notify:503"):
        await sender.send(MESSAGE)
