"""Text PostgreSQL cannot store, sent to every text field of every API, is a 422 naming the field
(issue 17, item 4: a NUL character in contact_name, the recipient, sign-in's email, a new
account or corrected details answered 500, and the error log then held the personal data).

Every service's OpenAPI document is walked: for each operation with a JSON request body, each
string field in it (nested objects and list items included) is sent in turn holding a NUL
character, then a lone surrogate (``"\\ud800"``, which JSON allows and UTF-8 cannot encode),
the other fields holding values their schema allows; every query parameter is sent a NUL too.
As each role in turn, so no refusal for the role hides what the route would do.
"""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support.keys import bearer, mint
from tests.support.platform import SERVICES, Platform

pytestmark = pytest.mark.integration

ROLES = ("provider", "customer_service", "operations", "dhsc_analyst")
METHODS = ("post", "put", "patch", "delete", "get")
BAD = {"NUL": "Sam\x00Carer", "lone surrogate": "Sam\ud800Carer"}

Path = tuple[str | int, ...]


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """The schema itself: ``$ref`` followed, the non-null branch of an optional field taken."""
    while True:
        if "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[1]]
            continue
        for key in ("anyOf", "oneOf", "allOf"):
            if key in schema:
                options = [s for s in schema[key] if s.get("type") != "null"]
                schema = options[0]
                break
        else:
            return schema


def example(schema: dict[str, Any], components: dict[str, Any]) -> Any:
    """A value the schema accepts, so only the field under test is wrong."""
    schema = resolve(schema, components)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "object" or "properties" in schema:
        return {
            name: example(sub, components) for name, sub in schema.get("properties", {}).items()
        }
    if kind == "array":
        return [example(schema.get("items", {}), components)]
    if kind in ("integer", "number"):
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    if fmt == "uuid":
        return str(uuid.uuid4())
    if fmt == "date-time":
        return "2026-01-01T00:00:00Z"
    if fmt == "email":
        return "someone@example.org"
    return "a" * max(1, int(schema.get("minLength", 1)))


def string_fields(
    schema: dict[str, Any], components: dict[str, Any], at: Path = ()
) -> Iterator[Path]:
    """Where each free-text string sits in a body the schema describes."""
    schema = resolve(schema, components)
    if "enum" in schema or "const" in schema:
        return
    if schema.get("type") == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield from string_fields(sub, components, (*at, name))
    elif schema.get("type") == "array":
        yield from string_fields(schema.get("items", {}), components, (*at, 0))
    elif schema.get("type") == "string":
        yield at


def with_value(body: Any, at: Path, value: str) -> Any:
    changed = copy.deepcopy(body)
    target = changed
    for step in at[:-1]:
        target = target[step]
    target[at[-1]] = value
    return changed


def dotted(at: Path) -> str:
    return ".".join(str(step) for step in at)


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in document["paths"].items():
        for method in METHODS:
            if method in methods:
                yield path, method, methods[method]


def fill_path(path: str, operation: dict[str, Any], components: dict[str, Any]) -> str:
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = example(parameter.get("schema", {}), components)
            path = path.replace("{" + parameter["name"] + "}", str(value))
    return path


async def send_as_each_role(
    client: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    answer: httpx.Response | None = None
    for role in ROLES:
        answer = await client.request(
            method.upper(),
            url,
            headers={**kwargs.pop("headers", {}), **bearer(mint(role))},
            **kwargs,
        )
        if answer.status_code not in (401, 403):
            break
    assert answer is not None
    return answer


def names_field(answer: httpx.Response, field: str) -> bool:
    if answer.status_code != 422 or "problem+json" not in answer.headers.get("content-type", ""):
        return False
    return any(e.get("field") == field for e in answer.json().get("errors", []))


async def test_unstorable_text_in_any_api_field_is_a_422_naming_the_field(
    platform: Platform,
) -> None:
    tried: list[str] = []
    failures: list[str] = []
    for name in SERVICES:
        async with platform.client(name) as client:
            document = (await client.get("/openapi.json")).json()
            components = document.get("components", {}).get("schemas", {})
            for path, method, operation in operations(document):
                url = fill_path(path, operation, components)
                content = operation.get("requestBody", {}).get("content", {})
                schema = content.get("application/json", {}).get("schema")
                if schema is not None:
                    valid = example(schema, components)
                    for at in string_fields(schema, components):
                        for kind, bad in BAD.items():
                            body = json.dumps(with_value(valid, at, bad)).encode()
                            answer = await send_as_each_role(
                                client,
                                method,
                                url,
                                content=body,
                                headers={"content-type": "application/json"},
                            )
                            tried.append(f"{name} {method.upper()} {path} {dotted(at)} ({kind})")
                            if not names_field(answer, dotted(at)):
                                failures.append(
                                    f"{tried[-1]}: {answer.status_code} {answer.text[:200]}"
                                )
                for parameter in operation.get("parameters", []):
                    if parameter["in"] != "query":
                        continue
                    answer = await send_as_each_role(
                        client, method, url, params={parameter["name"]: BAD["NUL"]}
                    )
                    tried.append(f"{name} {method.upper()} {path}?{parameter['name']} (NUL)")
                    if not names_field(answer, parameter["name"]):
                        failures.append(f"{tried[-1]}: {answer.status_code} {answer.text[:200]}")
    print(f"{len(tried)} fields tried", flush=True)
    assert not failures, "\n".join(failures)
    # The fields the security test found answering 500 are among those walked.
    for expected in (
        "orders POST /api/orders contact_name (NUL)",
        "orders PUT /api/orders/{order_id}/recipient",
        "identity POST /api/sign-in email (NUL)",
        "identity POST /api/accounts contact_name (NUL)",
        "identity PUT /api/account/details",
    ):
        assert any(t.startswith(expected) for t in tried), (expected, tried)


async def test_a_real_sign_in_and_order_with_a_nul_is_refused_by_field_and_nothing_is_stored(
    platform: Platform,
) -> None:
    """The routes behind the walk, with a real account: sign-in, then an order."""
    async with platform.client("identity") as identity:
        answer = await identity.post(
            "/api/sign-in", json={"email": "someone\x00@example.org", "password": "x" * 12}
        )
        assert names_field(answer, "email"), answer.text
    async with platform.client("orders") as orders:
        answer = await orders.post(
            "/api/orders",
            json={"staff_count": 3, "contact_name": "Sam\x00Carer"},
            headers=bearer(mint("provider", kind="non_cqc")),
        )
        assert names_field(answer, "contact_name"), answer.text
