"""The courier callback's HMAC: only the holder of the secret, only this body, only now."""

import pytest

from services.dispatch.domain.courier_signature import (
    SignatureRejected,
    replay_key,
    sign,
    verify,
)

SECRET = "courier-shared-secret"
BODY = (
    b'{"shipment_reference":"SH-7KQ29XWM","status":"delivered",'
    b'"occurred_at":"2026-11-23T10:00:00Z"}'
)
NOW = 1_800_000_000
TOLERANCE = 300


def _verify(
    *,
    secret: str = SECRET,
    signature: str | None = None,
    timestamp: str | None = str(NOW),
    body: bytes = BODY,
    now: float = NOW,
) -> str:
    if signature is None:
        signature = sign(SECRET, NOW, BODY)
    return verify(
        secret,
        signature=signature,
        timestamp=timestamp,
        body=body,
        now=now,
        tolerance_seconds=TOLERANCE,
    )


def test_a_correct_signature_is_accepted_and_gives_a_replay_key() -> None:
    assert _verify() == replay_key(sign(SECRET, NOW, BODY))


def test_signature_format() -> None:
    value = sign(SECRET, NOW, BODY)
    assert value.startswith("sha256=")
    assert len(value) == len("sha256=") + 64


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="mismatch"):
        _verify(secret="another-secret")


def test_altered_body_is_refused() -> None:
    with pytest.raises(SignatureRejected, match="mismatch"):
        _verify(body=BODY.replace(b"delivered", b"returned"))


def test_timestamp_is_covered_by_the_signature() -> None:
    with pytest.raises(SignatureRejected, match="mismatch"):
        _verify(timestamp=str(NOW + 1), now=NOW + 1)


@pytest.mark.parametrize("offset", [-TOLERANCE - 1, TOLERANCE + 1, -86_400, 86_400])
def test_stale_or_future_timestamp_is_refused(offset: int) -> None:
    sent = NOW + offset
    with pytest.raises(SignatureRejected, match="tolerance"):
        _verify(signature=sign(SECRET, sent, BODY), timestamp=str(sent))


@pytest.mark.parametrize("offset", [-TOLERANCE, TOLERANCE])
def test_timestamp_at_the_edge_of_tolerance_is_accepted(offset: int) -> None:
    sent = NOW + offset
    _verify(signature=sign(SECRET, sent, BODY), timestamp=str(sent))


@pytest.mark.parametrize(
    ("signature", "timestamp"), [("", str(NOW)), ("sha256=00", ""), ("sha256=00", None)]
)
def test_missing_headers_are_refused(signature: str, timestamp: str | None) -> None:
    with pytest.raises(SignatureRejected, match="missing"):
        _verify(signature=signature, timestamp=timestamp)


@pytest.mark.parametrize("timestamp", ["1_800_000_000", "+1800000000", " 1800000000", "1.8e9"])
def test_malformed_timestamp_is_refused(timestamp: str) -> None:
    with pytest.raises(SignatureRejected, match="malformed"):
        _verify(timestamp=timestamp)


def test_other_schemes_are_refused() -> None:
    hexdigest = sign(SECRET, NOW, BODY).removeprefix("sha256=")
    with pytest.raises(SignatureRejected, match="scheme"):
        _verify(signature=f"sha1={hexdigest}")


def test_non_ascii_signature_is_refused_not_crashed() -> None:
    with pytest.raises(SignatureRejected, match="mismatch"):
        _verify(signature="sha256=\u00e9" * 3)
