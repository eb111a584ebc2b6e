"""Looking straight into every service's database for what it holds about someone.

The privacy tests do not trust the services' own queries: they scan every table of every
database for rows whose text mentions an account's id, its orders, its email or its name,
and compare what they find with what the services say (a copy of the data) or expect to
find nothing (after deletion or closure).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import text

from tests.support.platform import SERVICES, Platform, courier_headers

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d")


async def table_names(platform: Platform, service: str) -> list[str]:
    async with platform.service(service).db.transaction() as session:
        rows = await session.execute(
            text(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = 'public' AND table_type = 'BASE TABLE' "
                "AND table_name <> 'alembic_version' ORDER BY table_name"
            )
        )
        return list(rows.scalars())


async def rows_mentioning(
    platform: Platform, service: str, needles: list[str], *, skip: frozenset[str] = frozenset()
) -> dict[str, list[dict[str, Any]]]:
    """Every row of the service's tables (bar ``skip``) whose text contains a needle,
    case-insensitively, as JSON objects, by table."""
    patterns = [f"%{needle.lower()}%" for needle in needles if needle]
    found: dict[str, list[dict[str, Any]]] = {}
    for table in await table_names(platform, service):
        if table in skip:
            continue
        async with platform.service(service).db.transaction() as session:
            rows = await session.execute(
                text(
                    f'SELECT row_to_json(t)::text FROM "{table}" t '
                    "WHERE lower(t::text) LIKE ANY(:patterns)"
                ),
                {"patterns": patterns},
            )
            hits = [json.loads(r) for r in rows.scalars()]
        if hits:
            found[table] = hits
    return found


async def everywhere(
    platform: Platform, needles: list[str], *, skip: frozenset[str] = frozenset()
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """:func:`rows_mentioning` across every service's database, by service."""
    found = {}
    for service in SERVICES:
        hits = await rows_mentioning(platform, service, needles, skip=skip)
        if hits:
            found[service] = hits
    return found


def scalars(value: Any) -> set[str]:
    """Every plain value inside ``value`` as text, leaving out timestamps (PostgreSQL and
    Python write the same instant differently) and nulls."""
    if isinstance(value, dict):
        return set().union(*(scalars(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(scalars(v) for v in value)) if value else set()
    if value is None or (isinstance(value, str) and _TIMESTAMP.match(value)):
        return set()
    return {str(value).lower()}


async def courier_reports(platform: Platform, shipment: str, status: str) -> None:
    """The courier's signed status callback for ``shipment``, as DX sends it."""
    body = json.dumps(
        {"shipment_reference": shipment, "status": status, "occurred_at": "2026-11-23T12:00Z"}
    ).encode()
    async with platform.client("dispatch") as dispatch:
        answer = await dispatch.post(
            "/api/courier/status", content=body, headers=courier_headers(body)
        )
    assert answer.status_code in (200, 202, 204), answer.text
