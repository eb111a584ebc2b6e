"""Operations' command line for dispatch.

``python -m services.dispatch.cli stock receive N [--item wellbeing_leaflet]`` records a
delivery of N badges (or leaflets) to the warehouse exactly as the API does (the
StockReceived event waits in the outbox for a running dispatch's relay).
``python -m services.dispatch.cli courier sign --secret S --body FILE`` prints the headers
that authenticate a courier callback with that body.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from services.dispatch.domain.courier_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from services.dispatch.domain.stock import BADGE, ITEMS
from services.dispatch.settings import DispatchSettings
from services.dispatch.store import MIGRATIONS
from services.dispatch.store.tables import metadata
from services.dispatch.usecases import EMITS
from services.dispatch.usecases.stock import Stock
from shared.logging import configure_logging
from shared.runtime import Service
from shared.store.migrations import ensure_database, upgrade


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number above zero")
    return value


def parser() -> argparse.ArgumentParser:
    cli = argparse.ArgumentParser(
        prog="python -m services.dispatch.cli",
        description="Operations' command line for dispatch: stock receipts, courier signing.",
    )
    topics = cli.add_subparsers(dest="topic", required=True)

    stock = topics.add_parser("stock", help="the badge stock")
    stock_do = stock.add_subparsers(dest="action", required=True)
    receive = stock_do.add_parser("receive", help="record stock received at the warehouse")
    receive.add_argument("quantity", type=_positive)
    receive.add_argument("--item", choices=ITEMS, default=BADGE)

    courier = topics.add_parser("courier", help="the courier integration")
    courier_do = courier.add_subparsers(dest="action", required=True)
    signer = courier_do.add_parser("sign", help="print the headers that sign a callback body")
    signer.add_argument("--secret", required=True, help="the shared courier secret")
    signer.add_argument("--body", required=True, type=Path, help="file holding the exact body")
    signer.add_argument("--timestamp", type=int, help="unix seconds (default: now)")
    return cli


async def receive_stock(quantity: int, item: str = BADGE) -> None:
    # Built here: dispatch's settings (the courier secret among them) are needed to record
    # stock, not to sign a callback.
    service = Service(DispatchSettings(), metadata, MIGRATIONS, emits=EMITS)
    configure_logging(service.name, service.settings.log_level)
    url = service.settings.resolved_database_url()
    await ensure_database(url)
    await upgrade(service.migrations_dir, url)
    try:
        async with service.db.transaction() as session:
            balance = await Stock(service).receive(
                session, quantity, f"cli-{uuid.uuid4()}", item=item, actor="cli"
            )
    finally:
        await service.db.dispose()
    print(
        f"received {quantity} {item}: received={balance.received} reserved={balance.reserved} "
        f"allocated={balance.allocated} available={balance.available}"
    )


def sign_headers(secret: str, body: bytes, timestamp: int) -> list[str]:
    return [
        f"{TIMESTAMP_HEADER}: {timestamp}",
        f"{SIGNATURE_HEADER}: {sign(secret, timestamp, body)}",
    ]


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.topic == "stock":
        asyncio.run(receive_stock(args.quantity, args.item))
    else:
        timestamp = args.timestamp if args.timestamp is not None else int(time.time())
        print("\n".join(sign_headers(args.secret, args.body.read_bytes(), timestamp)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
