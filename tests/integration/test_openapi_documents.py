"""Every service's OpenAPI document builds, and every query parameter it documents can be
called without a server error (issue 16: dispatch's document and ``?limit=`` answered 500).

Each documented GET with query parameters is called with every parameter given a value its
schema allows, as each role in turn, until one is let in; the answer must not be a 5xx.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from tests.support.keys import bearer, mint
from tests.support.platform import SERVICES, Platform

pytestmark = pytest.mark.integration

ROLES = ("operations", "customer_service", "dhsc_analyst", "provider")


def sample(schema: dict[str, Any], components: dict[str, Any]) -> str:
    """A value the parameter's schema accepts."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            return sample(options[0], components)
    if "enum" in schema:
        return str(schema["enum"][0])
    if "default" in schema and schema["default"] is not None:
        value = schema["default"]
        return str(value).lower() if isinstance(value, bool) else str(value)
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "integer":
        return str(schema.get("minimum", 1))
    if kind == "number":
        return str(schema.get("minimum", 1))
    if kind == "boolean":
        return "true"
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return datetime.now(UTC).isoformat()
    if fmt == "date":
        return datetime.now(UTC).date().isoformat()
    return "a" * max(1, int(schema.get("minLength", 1)))


async def test_every_documented_query_parameter_answers_without_a_server_error(
    platform: Platform,
) -> None:
    called: list[str] = []
    failures: list[str] = []
    for name in SERVICES:
        async with platform.client(name) as client:
            response = await client.get("/openapi.json")
            assert response.status_code == 200, f"{name}: {response.text[:300]}"
            document = response.json()
            components = document.get("components", {}).get("schemas", {})
            for path, operations in document["paths"].items():
                get = operations.get("get")
                if not get:
                    continue
                params = get.get("parameters", [])
                query = {
                    p["name"]: sample(p.get("schema", {}), components)
                    for p in params
                    if p["in"] == "query"
                }
                if not query:
                    continue
                url = path
                for p in params:
                    if p["in"] == "path":
                        url = url.replace(
                            "{" + p["name"] + "}", sample(p.get("schema", {}), components)
                        )
                for role in ROLES:
                    answer = await asyncio.wait_for(
                        client.get(url, params=query, headers=bearer(mint(role))), 30
                    )
                    if answer.status_code not in (401, 403):
                        break
                called.append(f"{name} GET {path}?{'&'.join(query)} -> {answer.status_code}")
                print(called[-1], flush=True)
                if answer.status_code >= 500:
                    failures.append(f"{name} GET {url} {query}: {answer.status_code}")
    assert not failures, failures
    assert any("/api/shipments?" in c and "limit" in c for c in called), called
    assert any("/api/courier/unmatched-reports?limit" in c for c in called), called
