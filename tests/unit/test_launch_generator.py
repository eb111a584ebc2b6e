"""The launch benchmark's generator measures what it says (bench/launch.py, bench/register.py).

Its figures are only as good as its visitors: a register whose locations share postcodes
makes verification refer most orders; a waiting room that lets everyone in is no waiting
room; a mailbox that misses a confirmation link strands a non-CQC visitor.
"""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from httpcore import _synchronization as httpcore_sync

from bench import harness
from bench.launch import IN_FLIGHT, Journeys, Mailbox, Tally, client
from bench.launch_register import Provider, account_form
from bench.register import generate
from services.identity.domain.contact import checked_postcode


def test_generated_locations_each_have_a_postcode_of_their_own_that_identity_accepts() -> None:
    postcodes = [row["Location Postal Code"] for row in generate(31_250)]
    assert len(set(postcodes)) == len(postcodes)
    assert all(checked_postcode(p) == p for p in postcodes)


def _email(folder: Path, name: str, to: str, body: str) -> None:
    message = EmailMessage()
    message["To"] = to
    message["Subject"] = "CARE badges"
    message.set_content(body)
    (folder / name).write_bytes(message.as_bytes())


def test_the_mailbox_finds_each_visitors_link_among_other_emails(tmp_path: Path) -> None:
    _email(tmp_path, "1", "a@example.test", "Confirm: https://site.test/confirm?token=abc_1-x")
    _email(tmp_path, "2", "b@example.test", "Your order CB-AAAA-BBBB has been placed.")
    _email(tmp_path, "3", "Carer Cee <c@example.test>", "Open https://site.test/?token=c3")
    mailbox = Mailbox(tmp_path)

    assert mailbox.token_for("a@example.test") == "abc_1-x"
    assert mailbox.token_for("c@example.test") == "c3"
    assert mailbox.token_for("b@example.test") is None

    _email(tmp_path, "4", "d@example.test", "https://site.test/confirm?token=d4")
    mailbox.scan()
    assert mailbox.token_for("d@example.test") == "d4"
    assert mailbox.seen == {"1", "2", "3", "4"}


async def test_a_visitor_waits_for_their_link_and_gives_up_when_none_comes(
    tmp_path: Path,
) -> None:
    mailbox = Mailbox(tmp_path)
    waiting = asyncio.create_task(mailbox.token("late@example.test", wait=5))
    await asyncio.sleep(0.1)
    _email(tmp_path, "1", "late@example.test", "https://site.test/confirm?token=late1")
    assert await waiting == "late1"
    with pytest.raises(RuntimeError, match="no confirmation email"):
        await mailbox.token("never@example.test", wait=0.6)


class FakeSite:
    """Identity and orders as far as one CQC visitor's journey needs them."""

    def __init__(self, state: Path, expire_first_order_of: str = "") -> None:
        self.state = state
        self.on_site: set[str] = set()
        self.most_on_site = 0
        self.expire_first_order_of = expire_first_order_of
        self.accounts: list[dict[str, str]] = []  # each create-account request's answers
        self.confirmed: list[str] = []  # the tokens accounts were confirmed with

    def url(self, service: str, path: str) -> str:
        return f"http://{service}.test{path}"

    async def answer(self, request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)  # let other visitors' requests interleave
        who = request.headers.get("Authorization", "").removeprefix("Bearer ")
        path = request.url.path
        if path == "/api/accounts":
            self.accounts.append(httpx.Response(200, content=request.content).json())
            return httpx.Response(202)
        if path == "/api/accounts/confirm":
            self.confirmed.append(httpx.Response(200, content=request.content).json()["token"])
            return httpx.Response(201)
        if path == "/api/sign-in":
            email = httpx.Response(200, content=request.content).json()["email"]
            self.on_site.add(email)
            self.most_on_site = max(self.most_on_site, len(self.on_site))
            return httpx.Response(200, json={"access_token": email})
        if request.method == "POST" and path == "/api/orders":
            if who == self.expire_first_order_of:
                self.expire_first_order_of = ""
                return httpx.Response(401, json={"title": "Sign in again"})
            return httpx.Response(201, json={"order_id": str(uuid.uuid4())})
        if path.startswith("/api/orders/"):
            self.on_site.discard(who)  # the journey's last request
        return httpx.Response(200, json={})


async def _visit_all(site: FakeSite, visitors: int, admit: int) -> Tally:
    tally = Tally()
    transport = httpx.MockTransport(site.answer)
    async with httpx.AsyncClient(transport=transport) as http:
        journeys = Journeys(site, http, tally, think=0, admit=admit)
        now = time.perf_counter()
        people = [
            Provider("cqc_single", f"p{i}@example.test", "X1", [("1-1", 5)])
            for i in range(visitors)
        ]
        await asyncio.gather(*(journeys.visit(person, now) for person in people))
    return tally


async def test_the_waiting_room_lets_only_so_many_visitors_on_at_once(tmp_path: Path) -> None:
    site = FakeSite(tmp_path)
    tally = await _visit_all(site, visitors=10, admit=3)
    assert site.most_on_site == 3
    assert len(tally.placed_at) == 10 and not tally.errors
    assert len(tally.waited) == 10 and max(tally.waited) > min(tally.waited)


async def test_without_a_waiting_room_every_visitor_is_on_at_once(tmp_path: Path) -> None:
    site = FakeSite(tmp_path)
    tally = await _visit_all(site, visitors=10, admit=0)
    assert site.most_on_site == 10 and not tally.waited


async def test_a_visitor_whose_session_expired_signs_in_again_and_orders(tmp_path: Path) -> None:
    site = FakeSite(tmp_path, expire_first_order_of="p0@example.test")
    tally = await _visit_all(site, visitors=1, admit=0)
    assert tally.signed_in_again == 1 and len(tally.placed_at) == 1
    assert tally.errors == {"order: 401": 1}  # the refused request still counts


def test_figures_are_kept_under_their_name_and_only_printed_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(harness, "RESULTS", tmp_path / "results")
    harness.write_results("", {"orders": 1})
    assert not (tmp_path / "results").exists()
    harness.write_results("run.json", {"orders": 2})
    assert (tmp_path / "results" / "run.json").read_text() == '{\n  "orders": 2\n}\n'
    assert capsys.readouterr().out.count('"orders"') == 2


async def test_a_non_cqc_visitor_creates_their_account_confirms_it_from_the_email_and_orders(
    tmp_path: Path,
) -> None:
    inbox = tmp_path / "mail" / "new"
    inbox.mkdir(parents=True)
    person = Provider("non_cqc", "manager0@non-cqc-care.example", "pw", [("", 7)])
    _email(inbox, "1", person.email, "https://site.test/create-account/confirm?token=t0k")
    site = FakeSite(tmp_path)
    tally = Tally()
    async with httpx.AsyncClient(transport=httpx.MockTransport(site.answer)) as http:
        await Journeys(site, http, tally, think=0).visit(person, time.perf_counter())

    assert not tally.errors and len(tally.placed_at) == 1
    assert site.accounts == [account_form(person)] and site.confirmed == ["t0k"]
    assert tally.latency.keys() >= {"create_account", "confirm_account", "sign_in_password"}


async def test_the_visitors_client_keeps_only_so_many_requests_in_flight() -> None:
    """Thousands of visitors queued in httpcore's pool cost the generator a core; the shared
    client lets only IN_FLIGHT out at once and the rest wait their turn, each answered."""
    in_flight = most = 0

    async def answer(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return httpx.Response(200)

    async with client() as http:
        http._transport = httpx.MockTransport(answer)  # the same send, no sockets
        answers = await asyncio.gather(
            *(http.get("http://site.test/waiting-room") for _ in range(3 * IN_FLIGHT))
        )
    assert [a.status_code for a in answers] == [200] * (3 * IN_FLIGHT)
    assert most == IN_FLIGHT


async def test_httpcore_names_the_event_loop_from_an_imported_module() -> None:
    """httpcore asks sniffio which event loop runs on every connection check; without it
    installed each ask was a failed import that searched the whole path (a sixth of the load
    generator's CPU, and of the sites' calls to identity)."""
    assert httpcore_sync.current_async_library() == "asyncio"
    assert "sniffio" in sys.modules  # kept after the first import, not searched for again
