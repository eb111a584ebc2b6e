"""The CLI's courier signer produces headers the callback endpoint accepts."""

from pathlib import Path

import pytest

from services.dispatch.cli import main
from services.dispatch.domain.courier_signature import verify


def test_sign_prints_headers_that_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    body = b'{"shipment_reference":"SH-7KQ29XWM","status":"delivered"}'
    path = tmp_path / "body.json"
    path.write_bytes(body)
    assert (
        main(
            [
                "courier",
                "sign",
                "--secret",
                "s3cret",
                "--body",
                str(path),
                "--timestamp",
                "1800000000",
            ]
        )
        == 0
    )
    headers = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    assert set(headers) == {"X-Courier-Timestamp", "X-Courier-Signature"}
    verify(
        "s3cret",
        signature=headers["X-Courier-Signature"],
        timestamp=headers["X-Courier-Timestamp"],
        body=body,
        now=1_800_000_000,
        tolerance_seconds=300,
    )


def test_stock_receive_refuses_a_non_positive_quantity() -> None:
    with pytest.raises(SystemExit):
        main(["stock", "receive", "0"])


def test_stock_receive_takes_badges_by_default_and_the_leaflets_by_name() -> None:
    from services.dispatch.cli import parser

    assert parser().parse_args(["stock", "receive", "5"]).item == "badge"
    args = parser().parse_args(["stock", "receive", "500", "--item", "winter_leaflet"])
    assert (args.quantity, args.item) == (500, "winter_leaflet")
    with pytest.raises(SystemExit):
        main(["stock", "receive", "5", "--item", "mugs"])
