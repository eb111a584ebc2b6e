"""Operator commands for identity.

``python -m services.identity.cli register import FILE`` replaces the register copy with a CQC
extract and reports what it skipped (an extract that would deactivate more than 5% of the
active locations needs ``--confirm-deactivation``; ``--only-if-empty`` loads it only into an
empty register, as the run command does with the sample);
``python -m services.identity.cli keys generate --out DIR`` makes the key pair tokens are
signed with; ``python -m services.identity.cli staff create --email ADDRESS --role ROLE``
makes a staff account (staff never register themselves).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from services.identity.domain.accounts import STAFF_ROLES, Role
from services.identity.domain.contact import checked_email
from services.identity.domain.register import (
    RegisterFormatError,
    RegisterLocation,
    parse_register,
)
from services.identity.domain.register_files import UnsupportedFormat, reader_for
from services.identity.domain.tokens import generate_key_pair
from services.identity.settings import IdentitySettings
from services.identity.store import MIGRATIONS
from services.identity.store.register import ImportCounts
from services.identity.usecases import register, staff
from services.identity.usecases.register import MAX_DEACTIVATED_SHARE, DeactivatesTooMany
from shared.store.db import Database
from shared.store.migrations import ensure_database, upgrade
from shared.usecases import Conflict

PRIVATE_KEY_FILE = "token-private.pem"
PUBLIC_KEY_FILE = "token-public.pem"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m services.identity.cli", description="CARE badges identity operations."
    )
    groups = parser.add_subparsers(dest="group", required=True)

    register_group = groups.add_parser(
        "register", help="the copy of CQC's register used to sign in"
    )
    register_commands = register_group.add_subparsers(dest="command", required=True)
    load = register_commands.add_parser(
        "import", help="replace the register with a CQC extract (CSV or XLSX)"
    )
    load.add_argument("file", type=Path, help="the extract as CQC sent it: .csv or .xlsx")
    load.add_argument(
        "--confirm-deactivation",
        action="store_true",
        help=f"import even if it deactivates more than {MAX_DEACTIVATED_SHARE:.0%} of the "
        "active locations",
    )
    load.add_argument(
        "--only-if-empty",
        action="store_true",
        help="do nothing if the register already holds locations (how the sample is loaded)",
    )
    load.set_defaults(run=_register_import)

    keys = groups.add_parser("keys", help="the key pair tokens are signed with")
    key_commands = keys.add_subparsers(dest="command", required=True)
    generate = key_commands.add_parser(
        "generate", help=f"write {PRIVATE_KEY_FILE} and {PUBLIC_KEY_FILE}"
    )
    generate.add_argument("--out", type=Path, required=True, help="folder to write them to")
    generate.add_argument(
        "--force", action="store_true", help="replace existing keys (signs everyone out)"
    )
    generate.set_defaults(run=_keys_generate)

    staff_group = groups.add_parser(
        "staff", help="accounts for DHSC, customer services, operations"
    )
    staff_commands = staff_group.add_subparsers(dest="command", required=True)
    create = staff_commands.add_parser(
        "create", help="make a staff account and email its holder a link to choose a password"
    )
    create.add_argument("--email", required=True, help="the holder's work email address")
    create.add_argument("--role", required=True, choices=[r.value for r in STAFF_ROLES])
    create.set_defaults(run=_staff_create)

    args = parser.parse_args(argv)
    code: int = args.run(args)
    return code


def _register_import(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    path: Path = args.file
    try:
        reader = reader_for(path.name)
        extract = parse_register(reader(path.read_bytes()))
    except OSError as exc:
        return _fail(f"Cannot read {path}: {exc.strerror}")
    except (UnsupportedFormat, RegisterFormatError) as exc:
        return _fail(f"{exc} Nothing was imported.")
    if not extract.locations:
        return _fail(
            "The extract has no adult social care locations to import. Nothing was imported, "
            "so the register is unchanged."
        )
    try:
        counts = asyncio.run(
            _store(
                IdentitySettings(), extract.locations, args.confirm_deactivation, args.only_if_empty
            )
        )
    except DeactivatesTooMany as exc:
        return _fail(
            f"{path.name} would deactivate {exc.deactivating:,} of the {exc.active:,} active "
            f"locations ({exc.deactivating / exc.active:.0%}): those providers could no longer "
            "sign in. Nothing was imported. Check it is the whole, current extract; if it is, "
            "run the import again with --confirm-deactivation."
        )
    if counts is None:
        print(f"The register already holds locations: kept them and did not import {path.name}.")
        return 0
    print(f"Imported {path.name} in {time.perf_counter() - started:.1f} s")
    print(f"  loaded (new): {counts.loaded}")
    print(f"  updated:      {counts.updated}")
    print(f"  unchanged:    {counts.unchanged}")
    print(f"  deactivated:  {counts.deactivated}")
    print(f"  skipped:      {len(extract.skipped)}")
    for row in extract.skipped:
        print(f"line {row.line}: {row.reason}")
    return 0


async def _store(
    settings: IdentitySettings,
    locations: Sequence[RegisterLocation],
    confirmed: bool,
    only_if_empty: bool,
) -> ImportCounts | None:
    """Import in one transaction (see :func:`register.import_extract`)."""
    url = settings.resolved_database_url()
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            return await register.import_extract(
                session, locations, confirmed=confirmed, only_if_empty=only_if_empty
            )
    finally:
        await db.dispose()


def _staff_create(args: argparse.Namespace) -> int:
    try:
        email = checked_email(args.email)
    except ValueError as exc:
        return _fail(f"{exc}. No account was made.")
    settings = IdentitySettings()
    created = asyncio.run(_create_staff(settings, email, Role(args.role)))
    if not created:
        return _fail(f"There is already an account for {email}. No account was made.")
    print(
        f"Made a {args.role} account for {email} and emailed a link to choose a password "
        f"(it works for {settings.reset_link_minutes} minutes)."
    )
    return 0


async def _create_staff(settings: IdentitySettings, email: str, role: Role) -> bool:
    """One transaction: the account, its first reset link, the invitation email, the audit
    row. The running identity service's email relay sends the email."""
    url = settings.resolved_database_url()
    await ensure_database(url)
    await upgrade(MIGRATIONS, url)
    db = Database(url, pool_size=1)
    try:
        async with db.transaction() as session:
            await staff.invite(session, settings, email, role, datetime.now(UTC))
        return True
    except Conflict:
        return False
    finally:
        await db.dispose()


def _keys_generate(args: argparse.Namespace) -> int:
    out: Path = args.out
    private_path, public_path = out / PRIVATE_KEY_FILE, out / PUBLIC_KEY_FILE
    if private_path.exists() and public_path.exists() and not args.force:
        print(f"Keys already in {out}: kept them (--force replaces them and signs everyone out).")
        return 0
    private_pem, public_pem = generate_key_pair()
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(private_pem)
    private_path.chmod(0o600)  # os.open's mode does not apply to a file that already existed
    public_path.write_bytes(public_pem)
    print(f"Wrote {private_path} (keep it secret) and {public_path}")
    return 0


def _fail(message: str) -> int:
    print(message, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
