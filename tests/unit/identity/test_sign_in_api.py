"""The sign-in API over an in-memory store: what a provider sees, what events it causes, and
that an unknown email and a wrong code are indistinguishable."""

import uuid
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI

from services.identity.api import sign_in
from services.identity.domain.register import RegisterLocation
from services.identity.domain.tokens import generate_key_pair
from services.identity.settings import IdentitySettings
from services.identity.store import register as register_store
from services.identity.store import repository
from shared.events import AccountKind, AccountRegistered, EventPayload, LocationsAuthorised
from shared.http import problems
from shared.http.auth import TokenVerifier
from shared.http.middleware import ObservabilityMiddleware

EMAIL = "manager@rose.example"


def location(location_id: str, ods: str | None, **changes: Any) -> RegisterLocation:
    base = RegisterLocation(
        location_id=location_id,
        ods_code=ods,
        name=f"Rose House {location_id}",
        address_line_1="1 High Street",
        address_line_2="",
        city="Town",
        county="",
        postcode="E18 2NS",
        email=EMAIL,
        provider_id="1-900",
        provider_name="Rose Care Ltd",
        care_home=True,
        care_home_beds=20,
        inspection_category="Residential social care",
        region="London",
        local_authority="Camden",
    )
    return replace(base, **changes)


@dataclass
class FakeStore:
    """Stands in for identity's tables with the same functions the API calls."""

    register: list[RegisterLocation]
    accounts: dict[str, repository.Account] = field(default_factory=dict)
    authorised: dict[UUID, set[str]] = field(default_factory=dict)

    async def active_locations_for_email(self, _s: object, email: str) -> list[RegisterLocation]:
        return [loc for loc in self.register if loc.email == email]

    async def get_or_create_account(
        self, _s: object, email: str, kind: str, role: str
    ) -> repository.Account:
        if email in self.accounts:
            return replace(self.accounts[email], created=False)
        account = repository.Account(uuid.uuid4(), email, kind, role, "active", created=True)
        self.accounts[email] = account
        return account

    async def authorise_locations(
        self, _s: object, account_id: UUID, location_ids: Iterable[str]
    ) -> list[str]:
        held = self.authorised.setdefault(account_id, set())
        added = [loc for loc in location_ids if loc not in held]
        held.update(added)
        return added

    async def authorised_locations(self, _s: object, account_id: UUID) -> list[RegisterLocation]:
        held = self.authorised.get(account_id, set())
        return [loc for loc in self.register if loc.location_id in held]


class FakeDatabase:
    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[object]:
        yield object()


class FakeService:
    def __init__(self) -> None:
        self.db = FakeDatabase()
        self.emitted: list[EventPayload] = []

    async def emit(self, _session: object, payload: EventPayload, _correlation_id: str) -> None:
        self.emitted.append(payload)


@pytest.fixture(scope="module")
def keys() -> tuple[str, str]:
    private, public = generate_key_pair()
    return private.decode(), public.decode()


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> FakeStore:
    fake = FakeStore(
        register=[
            location("1-1", "VAAA1"),
            location("1-2", "VAAA2"),
            location("1-3", None, inspection_category="Hospice services", postcode="OX45 3DY"),
            location("1-4", "VBBB4", email="other@elsewhere.example"),
        ]
    )
    monkeypatch.setattr(
        register_store, "active_locations_for_email", fake.active_locations_for_email
    )
    for name in ("get_or_create_account", "authorise_locations", "authorised_locations"):
        monkeypatch.setattr(repository, name, getattr(fake, name))
    return fake


@pytest.fixture
def service() -> FakeService:
    return FakeService()


@pytest.fixture
async def client(
    service: FakeService, keys: tuple[str, str], store: FakeStore
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IdentitySettings(token_private_key=keys[0], token_public_key=keys[1])
    app = FastAPI()
    problems.install(app)
    app.include_router(sign_in.router(service, settings))  # type: ignore[arg-type]
    app.add_middleware(ObservabilityMiddleware, service="identity")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://identity") as http:
        yield http


async def test_sign_in_with_email_and_ods_code(
    client: httpx.AsyncClient, service: FakeService, keys: tuple[str, str]
) -> None:
    response = await client.post(
        "/api/sign-in", json={"email": " Manager@Rose.EXAMPLE ", "password": "vaaa 1"}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert [loc["location_id"] for loc in body["locations"]] == ["1-1"]
    assert body["locations"][0]["name"] == "Rose House 1-1"
    assert "email" not in body["locations"][0]

    principal = TokenVerifier(keys[1], "care-identity").verify(body["access_token"])
    assert str(principal.account_id) == body["account_id"]
    assert (principal.role, principal.kind) == ("provider", "cqc")
    assert principal.locations == frozenset({"1-1"})

    registered, authorised = service.emitted
    assert isinstance(registered, AccountRegistered)
    assert registered.email == "manager@rose.example"
    assert registered.kind == AccountKind.CQC
    assert isinstance(authorised, LocationsAuthorised)
    assert [loc.location_id for loc in authorised.locations] == ["1-1"]


async def test_each_locations_code_adds_it_to_the_same_account(
    client: httpx.AsyncClient, service: FakeService, keys: tuple[str, str]
) -> None:
    first = (await client.post("/api/sign-in", json={"email": EMAIL, "password": "VAAA1"})).json()
    second = (await client.post("/api/sign-in", json={"email": EMAIL, "password": "VAAA2"})).json()
    assert second["account_id"] == first["account_id"]
    assert [loc["location_id"] for loc in second["locations"]] == ["1-1", "1-2"]
    assert TokenVerifier(keys[1], "care-identity").verify(second["access_token"]).locations == {
        "1-1",
        "1-2",
    }
    kinds = [type(e).__name__ for e in service.emitted]
    assert kinds == ["AccountRegistered", "LocationsAuthorised", "LocationsAuthorised"]
    last = service.emitted[-1]
    assert isinstance(last, LocationsAuthorised)
    assert [loc.location_id for loc in last.locations] == ["1-1", "1-2"]


async def test_hospice_signs_in_with_its_postcode(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sign-in", json={"email": EMAIL, "password": "ox45 3dy"})
    assert response.status_code == 200
    [loc] = response.json()["locations"]
    assert loc["location_id"] == "1-3"
    assert loc["ods_code"] == ""


async def test_postcode_does_not_open_an_ordinary_location(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/sign-in", json={"email": EMAIL, "password": "E18 2NS"})
    assert response.status_code == 401


async def test_unknown_email_and_wrong_code_get_the_same_answer(
    client: httpx.AsyncClient, service: FakeService
) -> None:
    unknown = await client.post(
        "/api/sign-in", json={"email": "nobody@x.example", "password": "VAAA1"}
    )
    wrong = await client.post("/api/sign-in", json={"email": EMAIL, "password": "VAAA9"})
    other_email = await client.post("/api/sign-in", json={"email": EMAIL, "password": "VBBB4"})
    for response in (unknown, wrong, other_email):
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json() == unknown.json()
    assert "Check them and try again" in unknown.json()["detail"]
    assert service.emitted == []


async def test_register_codes_never_open_a_staff_or_disabled_account(
    client: httpx.AsyncClient, store: FakeStore, service: FakeService
) -> None:
    store.accounts[EMAIL] = repository.Account(
        uuid.uuid4(), EMAIL, "staff", "customer_service", "active"
    )
    staff = await client.post("/api/sign-in", json={"email": EMAIL, "password": "VAAA1"})
    store.accounts[EMAIL] = repository.Account(uuid.uuid4(), EMAIL, "cqc", "provider", "disabled")
    disabled = await client.post("/api/sign-in", json={"email": EMAIL, "password": "VAAA1"})
    assert staff.status_code == disabled.status_code == 401
    assert service.emitted == []


@pytest.mark.parametrize(
    "body",
    [
        {"email": EMAIL},
        {"email": EMAIL, "password": "VAAA1", "role": "operations"},
        {"email": EMAIL, "password": "x" * 129},
        {"email": "a" * 321, "password": "VAAA1"},
        {"email": EMAIL, "password": ""},
    ],
)
async def test_malformed_requests_are_refused(
    client: httpx.AsyncClient, body: dict[str, str]
) -> None:
    response = await client.post("/api/sign-in", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
