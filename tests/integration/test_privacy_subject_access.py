"""A copy of their data (privacy policy, right 1), end to end on real RabbitMQ and PostgreSQL.

The copy is checked against the databases themselves: every row in any service's tables that
mentions the account, its orders or its shipments must be in the copy, column for column.
"""

import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from services.identity.store import subject_access
from services.identity.usecases.housekeeping import Housekeeping
from tests.support.journeys import order_status, place_order, sign_in, single_location_rows
from tests.support.keys import bearer, mint
from tests.support.platform import Platform, blocked_on_a_lock, eventually
from tests.support.privacy import courier_reports, everywhere, scalars

pytestmark = pytest.mark.integration

#: Not data held about the person: the inbox holds event ids only, and the gathered copies
#: are the copy itself (every other table is either in the copy or listed as left out with a
#: reason: tests/unit/test_subject_access_coverage.py).
NOT_HELD_DATA = frozenset({"inbox", "subject_access_contributions"})
#: A service's part of a copy, as it names the person.
PART = {"name": "Ada Lovelock"}
MARKER = "Plantpot Lane 07700 900555"
#: Left out of the copy on purpose: security secrets, not information about the holder.
SECRETS = frozenset(
    {"password_hash", "refresh_hash", "previous_hash", "token_hash", "subject_key", "source_key"}
)


async def _dispatched_and_delivered(platform: Platform, token: str, site: Any) -> dict[str, Any]:
    placed = await place_order(platform, token, [(site.location_id, 7)], site.location_id)

    async def dispatched() -> dict[str, Any] | None:
        order = await order_status(platform, token, placed["order_id"])
        return order if order["status"] == "dispatched" else None

    order = await eventually(dispatched)
    shipment = order["history"][-1]["detail"]
    await courier_reports(platform, shipment, "delivered")
    return order | {"shipment_reference": shipment}


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def _plant(platform: Platform, account_id: str, order_id: str, email: str) -> None:
    """Rows in every table that refers to an account or its orders and that a journey does
    not fill by itself: a reviewer's note and follow-up, an audited change, emails waiting,
    a registration link, an order waiting for details, a waiting-room ticket, a site session."""
    now = datetime.now(UTC)
    plants: dict[str, list[tuple[str, dict[str, Any]]]] = {
        "verification": [
            (
                "INSERT INTO notes (order_id, author, note) VALUES (:o, 'reviewer', :m)",
                {"o": order_id, "m": f"Rang them: {MARKER}"},
            ),
            (
                "INSERT INTO follow_ups (order_id, kind, detail, raised_at, raised_for)"
                " VALUES (:o, 'call_back', :m, now(), 'customer_service')",
                {"o": order_id, "m": MARKER},
            ),
            (
                "WITH a AS (INSERT INTO audit_trail (order_id, account_id, actor, action, at)"
                " VALUES (:o, :a, 'reviewer', 'corrected', now()) RETURNING id)"
                " INSERT INTO audit_personal (audit_id, account_id, before, after)"
                " SELECT id, :a, '{}', CAST(:after AS jsonb) FROM a",
                {"o": order_id, "a": account_id, "after": json.dumps({"phone": MARKER})},
            ),
        ],
        "identity": [
            (
                # Not due for a day: the relay leaves it as it is while the test reads it.
                "INSERT INTO email_outbox (id, recipient, subject, body, next_attempt_at)"
                " VALUES (gen_random_uuid(), :e, 'Your order', :m, now() + interval '1 day')",
                {"e": email, "m": MARKER},
            ),
            (
                "INSERT INTO pending_registrations"
                " (token_hash, email, kind, profile, password_hash, created_at, expires_at)"
                " VALUES ('x', :e, 'non_cqc', CAST(:p AS jsonb), 'x', :now, :later)",
                {
                    "e": email,
                    "p": json.dumps({"contact_name": MARKER}),
                    "now": now,
                    "later": now + timedelta(hours=1),
                },
            ),
        ],
        "orders": [
            (
                # Not due for a day: the relay leaves it as it is while the test reads it.
                "INSERT INTO email_outbox (id, recipient, subject, body, next_attempt_at)"
                " VALUES (gen_random_uuid(), :e, 'Your order', :m, now() + interval '1 day')",
                {"e": email, "m": MARKER},
            ),
            (
                "INSERT INTO awaiting_details"
                " (order_id, account_id, deliver_to, email_owed, correlation_id)"
                " VALUES (:o, :a, NULL, true, 'plant')",
                {"o": order_id, "a": account_id},
            ),
            (
                "INSERT INTO waiting_room (state, arrived_at, last_seen, api_caller)"
                " VALUES ('left', now(), now(), :h)",
                {"h": _sha256(account_id)},
            ),
            (
                "INSERT INTO web_sessions (id_hash, data, expires_at)"
                " VALUES ('plant', CAST(:d AS jsonb), :later)",
                {"d": json.dumps({"account_id": account_id}), "later": now + timedelta(hours=1)},
            ),
        ],
    }
    for service, statements in plants.items():
        async with platform.service(service).db.transaction() as session:
            for statement, params in statements:
                await session.execute(text(statement), params)


async def _complete_copy(platform: Platform, token: str, request_id: str) -> dict[str, Any]:
    async def complete() -> dict[str, Any] | None:
        async with platform.client("identity") as identity:
            copy = await identity.get(f"/api/subject-access/{request_id}", headers=bearer(token))
        assert copy.status_code == 200, copy.text
        document: dict[str, Any] = copy.json()
        return document if document["complete"] else None

    return await eventually(complete)


async def test_the_copy_holds_everything_every_service_holds_about_the_account(
    platform: Platform,
) -> None:
    site = single_location_rows()[1]
    session = await sign_in(platform, site.email, site.ods_code)
    token, account_id = session["access_token"], session["account_id"]
    order = await _dispatched_and_delivered(platform, token, site)

    async def delivered() -> bool:
        return (await order_status(platform, token, order["order_id"]))["status"] == "delivered"

    await eventually(delivered)
    await _plant(platform, account_id, order["order_id"], site.email.lower())

    started = time.monotonic()
    async with platform.client("identity") as identity:
        asked = await identity.post("/api/account/subject-access", headers=bearer(token))
    assert asked.status_code == 202, asked.text
    document = await _complete_copy(platform, token, asked.json()["request_id"])
    print(f"\nsubject access copy complete in {time.monotonic() - started:.2f} s")

    assert document["account_id"] == account_id
    assert set(document["services"]) == {"identity", "orders", "verification", "dispatch"}

    needles = [
        account_id,
        order["order_id"],
        order["reference"],
        order["shipment_reference"],
        site.email,
        MARKER,
        _sha256(account_id),
    ]
    held = await everywhere(platform, needles, skip=NOT_HELD_DATA)
    for tables in held.values():  # the parts of this copy, sent after it was read
        if "outbox" in tables:
            tables["outbox"] = [
                r for r in tables["outbox"] if r["event_type"] != "SubjectDataProvided"
            ]
            if not tables["outbox"]:
                del tables["outbox"]
    # Every planted row is there, in the copy, with the rest.
    planted = {
        ("identity", "email_outbox"),
        ("identity", "pending_registrations"),
        ("orders", "email_outbox"),
        ("orders", "awaiting_details"),
        ("orders", "waiting_room"),
        ("orders", "web_sessions"),
        ("verification", "notes"),
        ("verification", "follow_ups"),
        ("verification", "audit_personal"),
        ("dispatch", "outbox"),
    }
    assert {(svc, t) for svc, tables in held.items() for t in tables} >= planted
    # Who received the data, and what reporting holds.
    courier, dhsc = document["recipients"]
    assert courier["recipient"].startswith("DX") and courier["shipments"] == [
        order["shipment_reference"]
    ]
    assert "Anonymised" in dhsc["what"]
    assert "nothing that can be linked to you" in document["holds_nothing_linkable"]["reporting"]
    handoffs = [
        json.loads(r["body"])["payload"]
        for r in document["services"]["dispatch"]["outbox"]
        if r["event_type"] == "CourierHandoff"
    ]
    assert [h["shipment_reference"] for h in handoffs] == [order["shipment_reference"]]
    # Reporting holds anonymised figures: nothing in it names the account.
    assert "reporting" not in held or not any(
        account_id in json.dumps(rows) for rows in held["reporting"].values()
    )
    held.pop("reporting", None)
    assert set(held) == {"identity", "orders", "verification", "dispatch"}
    for service, tables in held.items():
        copied = document["services"][service]
        for table, rows in tables.items():
            assert table in copied, f"{service}.{table} holds the account's data; the copy omits it"
            assert len(copied[table]) == len(rows), f"{service}.{table}: rows missing"
            in_copy = scalars(copied[table])
            for row in rows:
                values = scalars({k: v for k, v in row.items() if k not in SECRETS})
                missing = values - in_copy
                assert not missing, f"{service}.{table} holds {missing} the copy leaves out"

    # What the user would recognise is there: their order, its delivery and its timeline.
    orders = document["services"]["orders"]
    assert orders["orders"][0]["reference"] == order["reference"]
    assert orders["orders"][0]["delivery"]["recipient_name"] == "Sam Carer"
    assert {s["status"] for s in orders["status_history"]} >= {"placed", "dispatched", "delivered"}
    assert document["services"]["identity"]["accounts"][0]["email"] == site.email.lower()
    assert "password_hash" not in document["services"]["identity"]["accounts"][0]


async def test_the_copy_reads_as_a_page_and_customer_services_can_ask_for_it(
    platform: Platform,
) -> None:
    site = single_location_rows()[2]
    session = await sign_in(platform, site.email, site.ods_code)
    token, account_id = session["access_token"], session["account_id"]
    placed = await place_order(platform, token, [(site.location_id, 3)], site.location_id)

    staff = mint("customer_service")
    async with platform.client("identity") as identity:
        asked = await identity.post(
            f"/api/accounts/{account_id}/subject-access", headers=bearer(staff)
        )
        assert asked.status_code == 202, asked.text
        request_id = asked.json()["request_id"]
        # Only customer services may ask on someone's behalf.
        refused = await identity.post(
            f"/api/accounts/{account_id}/subject-access", headers=bearer(token)
        )
        assert refused.status_code == 403
    await _complete_copy(platform, staff, request_id)

    async with platform.client("identity") as identity:
        page = await identity.get(f"/api/subject-access/{request_id}/page", headers=bearer(token))
        other = mint("provider", kind="cqc")
        stranger = await identity.get(f"/api/subject-access/{request_id}", headers=bearer(other))
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "A copy of your data" in page.text and "This copy is complete." in page.text
    assert placed["reference"] in page.text and "Sam Carer" in page.text
    # Another account's holder is told there is no such copy.
    assert stranger.status_code == 404
    assert stranger.headers["content-type"] == "application/problem+json"


async def test_a_copy_is_not_kept_beyond_its_retention(platform: Platform) -> None:
    site = single_location_rows()[2]
    session = await sign_in(platform, site.email, site.ods_code)
    token = session["access_token"]
    async with platform.client("identity") as identity:
        asked = await identity.post("/api/account/subject-access", headers=bearer(token))
    request_id = asked.json()["request_id"]
    await _complete_copy(platform, token, request_id)

    db = platform.service("identity").db
    await Housekeeping(db, lambda: datetime.now(UTC) + timedelta(days=6)).run_once()
    await _complete_copy(platform, token, request_id)  # still there within the week
    await Housekeeping(db, lambda: datetime.now(UTC) + timedelta(days=8)).run_once()
    async with platform.client("identity") as identity:
        gone = await identity.get(f"/api/subject-access/{request_id}", headers=bearer(token))
    assert gone.status_code == 404
    assert await _parts_of(platform, [uuid.UUID(request_id)]) == 0


async def test_a_part_that_arrives_after_its_request_was_forgotten_is_not_kept(
    platform: Platform,
) -> None:
    """Anonymising an account forgets its requests and the parts gathered so far; a service's
    part still on its way (its SubjectDataProvided delivered after the anonymisation) named
    the person and was kept, with nothing to assemble it for (seen in CI once the services'
    consumers waited 50 ms between transactions)."""
    account_id = uuid.uuid4()
    kept, late = uuid.uuid4(), uuid.uuid4()
    db = platform.service("identity").db
    async with db.transaction() as session:
        for request_id in (kept, late):
            await subject_access.add_request(session, request_id, account_id, account_id)
        await subject_access.save_contribution(session, kept, "orders", PART)
    async with db.transaction() as session:
        await subject_access.forget_account_requests(session, account_id)
    async with db.transaction() as session:
        await subject_access.save_contribution(session, late, "verification", PART)
    assert await _parts_of(platform, [kept, late]) == 0


async def test_a_part_saved_while_the_account_is_anonymised_goes_with_the_others(
    platform: Platform,
) -> None:
    """A part whose transaction has not committed when the anonymisation deletes the
    account's requests: the part holds its request's row, so the anonymisation waits for it,
    and deletes it with the requests' other parts once it has committed."""
    account_id, request_id = uuid.uuid4(), uuid.uuid4()
    db = platform.service("identity").db
    async with db.transaction() as session:
        await subject_access.add_request(session, request_id, account_id, account_id)
    anonymised: asyncio.Task[None] | None = None
    async with db.transaction() as saving:
        await subject_access.save_contribution(saving, request_id, "dispatch", PART)

        async def anonymise() -> None:
            async with db.transaction() as session:
                await subject_access.forget_account_requests(session, account_id)

        anonymised = asyncio.create_task(anonymise())
        # It waits for the part's transaction.
        assert await eventually(lambda: blocked_on_a_lock(db))
        assert not anonymised.done()
    await asyncio.wait_for(anonymised, 10)
    assert await _parts_of(platform, [request_id]) == 0


async def _parts_of(platform: Platform, request_ids: list[uuid.UUID]) -> int:
    """How many services' parts identity holds for these requests."""
    async with platform.service("identity").db.transaction() as session:
        left = await session.scalar(
            text(
                "SELECT count(*) FROM subject_access_contributions"
                " WHERE request_id = ANY(CAST(:ids AS uuid[]))"
            ),
            {"ids": request_ids},
        )
    return int(left or 0)
