"""The order journey: locations, staff numbers, where to deliver, who receives it, check
your answers, confirmation. One question per page; answers wait in the session until the
order is placed through the same use case as the JSON API.

An account not on CQC's register (a non-CQC provider, a personal assistant, a local
authority) has no locations: it checks the address it registered, gives one number (for a
local authority's top-up, the badges needed on top of those sent) and who receives the
parcel."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.orders.domain.answers import badges_needed, contact_name, staff_count
from services.orders.domain.order import LocationNotAuthorised, OrderRefused
from services.orders.domain.own_address import EarlierOrderWaiting, orders_to_own_address
from services.orders.usecases import placing, reading
from services.orders.usecases.orderable import (
    Orderable,
    OwnAddressPlan,
    orderable,
    own_address_plan,
)
from services.orders.web.auth import SiteAuth
from shared.http.auth import Principal
from shared.runtime import Service
from shared.web import FormErrors, Site, web_session

ORDER = "order"


def _go(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _answers(request: Request) -> dict[str, Any]:
    return dict(web_session(request).get(ORDER) or {})


def _save(request: Request, **changes: Any) -> None:
    web_session(request)[ORDER] = {**_answers(request), **changes}


def _next_missing(answers: dict[str, Any]) -> str | None:
    """The first page whose answer is missing, so no step can be skipped by URL."""
    if answers.get("own_address"):
        if not answers.get("badges"):
            return "/order/staff"
        if not answers.get("contact_name"):
            return "/order/contact"
        return None
    if not answers.get("locations"):
        return "/order/locations"
    if set(answers.get("staff", {})) != set(answers["locations"]):
        return "/order/staff"
    if answers.get("deliver_to") not in answers["locations"]:
        return "/order/deliver-to"
    if not answers.get("contact_name"):
        return "/order/contact"
    return None


def router(service: Service, pages: Site, auth: SiteAuth) -> APIRouter:
    web = APIRouter(prefix="/order", include_in_schema=False)
    signed_in = Depends(auth.principal)

    def selected(request: Request) -> list[dict[str, Any]]:
        known = auth.locations(request)
        return [known[i] for i in _answers(request).get("locations", []) if i in known]

    # --- which locations --------------------------------------------------------------

    async def own_address_start(
        request: Request, principal: Principal
    ) -> tuple[OwnAddressPlan, HTMLResponse | None]:
        """The account's next order, and the page that stops it before it starts, if any."""
        plan = await own_address_plan(service, principal)
        if plan.registered is None:
            return plan, not_ready(request)
        if plan.already_ordered:
            return plan, already_ordered(request, principal, status_code=200)
        if plan.waiting is not None:
            return plan, earlier_waiting(request, plan.waiting.reference, status_code=200)
        return plan, None

    def not_ready(request: Request) -> HTMLResponse:
        return pages.render(
            request,
            "order_not_ready.html",
            title="We are still setting up your account",
            back_url="/",
        )

    def already_ordered(
        request: Request, principal: Principal, status_code: int = 409
    ) -> HTMLResponse:
        own = orders_to_own_address(principal.kind)
        return pages.render(
            request,
            "order_already.html",
            status_code=status_code,
            title=(
                "Your organisation has already ordered badges"
                if own
                else "You have already ordered badges for this location"
            ),
            own_address=own,
        )

    def earlier_waiting(request: Request, reference: str, status_code: int = 409) -> HTMLResponse:
        return pages.render(
            request,
            "order_waiting.html",
            status_code=status_code,
            title="Your earlier order has not been sent yet",
            reference=reference,
        )

    async def address_page(request: Request, principal: Principal) -> HTMLResponse:
        plan, stopped = await own_address_start(request, principal)
        if stopped is not None:
            return stopped
        return pages.render(
            request,
            "order_address.html",
            title="Check where we will send the badges",
            registered=plan.registered,
            top_up=plan.top_up,
            back_url="/",
        )

    def nothing_to_order(request: Request, why: str) -> HTMLResponse:
        """Said before the first question, not after the last (issue 16, item 9)."""
        return pages.render(
            request,
            "order_already.html",
            title="You have already ordered badges",
            own_address=False,
            reason=why,
        )

    def locations_page(
        request: Request, can: Orderable, errors: FormErrors | None = None
    ) -> HTMLResponse:
        known = list(can.locations.values())
        chosen = set(_answers(request).get("locations", []))
        return pages.render(
            request,
            "order_locations.html",
            errors=errors,
            title=(
                "Check your location's details"
                if len(known) == 1
                else "Which locations are you ordering for?"
            ),
            locations=known,
            ordered=can.ordered,
            chosen=chosen,
            back_url="/",
        )

    @web.get("/locations")
    async def locations(request: Request, principal: Principal = signed_in) -> HTMLResponse:
        if orders_to_own_address(principal.kind):
            return await address_page(request, principal)
        can = await orderable(service, principal, auth.locations(request))
        if not can.anything:
            return nothing_to_order(request, can.why_not)
        return locations_page(request, can)

    @web.post("/locations")
    async def choose_locations(request: Request, principal: Principal = signed_in) -> Response:
        if orders_to_own_address(principal.kind):
            plan, stopped = await own_address_start(request, principal)
            if stopped is not None:
                return stopped
            answers = _answers(request)
            _save(
                request,
                own_address=True,
                top_up=plan.top_up,
                badges_sent=plan.badges_sent,
                contact_name=answers.get("contact_name")
                or (plan.registered or {}).get("contact_name")
                or "",
            )
            return _go("/order/staff")
        can = await orderable(service, principal, auth.locations(request))
        if not can.anything:
            return nothing_to_order(request, can.why_not)
        known = can.locations
        if len(known) == 1:
            chosen = list(known)
        else:
            form = await request.form()
            chosen = [str(v) for v in form.getlist("locations") if str(v) in known]
            if not chosen:
                errors = FormErrors()
                errors.add("locations", "Select the locations you are ordering badges for")
                return locations_page(request, can, errors)
        answers = _answers(request)
        staff = {k: v for k, v in answers.get("staff", {}).items() if k in chosen}
        deliver_to = chosen[0] if len(chosen) == 1 else answers.get("deliver_to")
        _save(request, locations=chosen, staff=staff, deliver_to=deliver_to)
        return _go("/order/staff")

    # --- how many staff ---------------------------------------------------------------

    def staff_page(
        request: Request, values: dict[str, str], errors: FormErrors | None = None
    ) -> HTMLResponse:
        chosen = selected(request)
        return pages.render(
            request,
            "order_staff.html",
            errors=errors,
            title=(
                f"How many members of staff do you employ at {chosen[0]['name']}?"
                if len(chosen) == 1
                else "How many members of staff do you employ at each location?"
            ),
            locations=chosen,
            values=values,
            back_url="/order/locations",
        )

    def badges_page(request: Request, value: str, errors: FormErrors | None = None) -> HTMLResponse:
        answers = _answers(request)
        return pages.render(
            request,
            "order_badges.html",
            errors=errors,
            title=(
                "How many more badges do you need?"
                if answers.get("top_up")
                else "How many members of staff do you employ?"
            ),
            top_up=answers.get("top_up", False),
            badges_sent=answers.get("badges_sent", 0),
            value=value,
            back_url="/order/locations",
        )

    @web.get("/staff")
    async def staff(request: Request, _: Principal = signed_in) -> Response:
        answers = _answers(request)
        if answers.get("own_address"):
            return badges_page(request, str(answers.get("badges") or ""))
        if not answers.get("locations"):
            return _go("/order/locations")
        saved = answers.get("staff", {})
        return staff_page(request, {k: str(v) for k, v in saved.items()})

    @web.post("/staff")
    async def count_staff(request: Request, _: Principal = signed_in) -> Response:
        answers = _answers(request)
        if answers.get("own_address"):
            form = await request.form()
            typed = str(form.get("badges", ""))
            needed = badges_needed(typed, bool(answers.get("top_up")))
            if needed.error:
                errors = FormErrors()
                errors.add("badges", needed.error)
                return badges_page(request, typed, errors)
            _save(request, badges=needed.value)
            return _go("/order/contact")
        chosen = selected(request)
        if not chosen:
            return _go("/order/locations")
        form = await request.form()
        errors, values, counts = FormErrors(), {}, {}
        for location in chosen:
            field = f"staff-{location['location_id']}"
            values[location["location_id"]] = str(form.get(field, ""))
            answer = staff_count(values[location["location_id"]], location["name"])
            if answer.error:
                errors.add(field, answer.error)
            else:
                counts[location["location_id"]] = answer.value
        if errors:
            return staff_page(request, values, errors)
        _save(request, staff=counts)
        return _go("/order/contact" if len(chosen) == 1 else "/order/deliver-to")

    # --- where to deliver -------------------------------------------------------------

    def deliver_page(request: Request, errors: FormErrors | None = None) -> HTMLResponse:
        return pages.render(
            request,
            "order_deliver_to.html",
            errors=errors,
            title="Which location should we deliver the badges to?",
            locations=selected(request),
            chosen=_answers(request).get("deliver_to"),
            back_url="/order/staff",
        )

    @web.get("/deliver-to")
    async def deliver_to(request: Request, _: Principal = signed_in) -> HTMLResponse:
        return deliver_page(request)

    @web.post("/deliver-to")
    async def choose_delivery(request: Request, _: Principal = signed_in) -> Response:
        form = await request.form()
        choice = str(form.get("deliver-to", ""))
        if choice not in _answers(request).get("locations", []):
            errors = FormErrors()
            errors.add("deliver-to", "Select the location to deliver the badges to")
            return deliver_page(request, errors)
        _save(request, deliver_to=choice)
        return _go("/order/contact")

    # --- who receives it --------------------------------------------------------------

    def contact_page(
        request: Request, value: str, errors: FormErrors | None = None
    ) -> HTMLResponse:
        several = len(_answers(request).get("locations", [])) > 1
        own = bool(_answers(request).get("own_address"))
        return pages.render(
            request,
            "order_contact.html",
            errors=errors,
            title="Who should we address the parcel to?",
            value=value,
            hint=(
                "The courier will ask for this person when they deliver. We have filled in "
                "the name you gave when you created your account: change it if someone else "
                "will receive the parcel"
                if own
                else "The courier will ask for this person when they deliver"
            ),
            back_url="/order/deliver-to" if several else "/order/staff",
        )

    @web.get("/contact")
    async def contact(request: Request, _: Principal = signed_in) -> HTMLResponse:
        return contact_page(request, _answers(request).get("contact_name", ""))

    @web.post("/contact")
    async def name_contact(request: Request, _: Principal = signed_in) -> Response:
        form = await request.form()
        typed = str(form.get("contact-name", ""))
        errors = FormErrors()
        errors.refuse_unstorable(form, {"contact-name": "The name"})
        answer = contact_name(typed)
        if answer.error:
            errors.add("contact-name", answer.error)
        if errors:
            return contact_page(request, typed, errors)
        _save(request, contact_name=answer.value)
        return _go("/order/check")

    # --- check your answers and place -------------------------------------------------

    async def check_page(
        request: Request, principal: Principal, errors: FormErrors | None = None
    ) -> Response:
        answers = _answers(request)
        missing = _next_missing(answers)
        if missing:
            return _go(missing)
        if answers.get("own_address"):
            plan = await own_address_plan(service, principal)
            if plan.registered is None:
                return not_ready(request)
            return pages.render(
                request,
                "order_check_own.html",
                errors=errors,
                title="Check your answers before placing your order",
                badges=answers["badges"],
                top_up=answers.get("top_up", False),
                badges_sent=answers.get("badges_sent", 0),
                registered=plan.registered,
                contact_name=answers["contact_name"],
            )
        known = auth.locations(request)
        return pages.render(
            request,
            "order_check.html",
            errors=errors,
            title="Check your answers before placing your order",
            locations=[known[i] for i in answers["locations"]],
            staff=answers["staff"],
            total=sum(answers["staff"].values()),
            deliver_to=known[answers["deliver_to"]],
            contact_name=answers["contact_name"],
        )

    @web.get("/check")
    async def check(request: Request, principal: Principal = signed_in) -> Response:
        return await check_page(request, principal)

    @web.post("/check")
    async def place(request: Request, principal: Principal = signed_in) -> Response:
        answers = _answers(request)
        if _next_missing(answers):
            return await check_page(request, principal)

        async def refused(message: str) -> Response:
            errors = FormErrors()
            errors.add("place-order", message)
            return await check_page(request, principal, errors)

        try:
            if answers.get("own_address"):
                placed = await placing.place_order(
                    service,
                    principal,
                    answers["contact_name"],
                    request.state.correlation_id,
                    staff_count=int(answers["badges"]),
                    notify_email=auth.email(request),
                )
            else:
                placed = await placing.place_order(
                    service,
                    principal,
                    answers["contact_name"],
                    request.state.correlation_id,
                    lines=[(loc, int(answers["staff"][loc])) for loc in answers["locations"]],
                    deliver_to=answers["deliver_to"],
                    notify_email=auth.email(request),
                )
        except placing.AlreadyOrdered:
            return already_ordered(request, principal)
        except EarlierOrderWaiting as waiting:
            return earlier_waiting(request, waiting.reference)
        except (OrderRefused, LocationNotAuthorised) as refusal:
            return await refused(refusal.message)
        except placing.OrderingHeld as held:
            return await refused(f"{held.title}. {held.message}")
        except placing.AccountNotReady:
            return await refused(
                "We are still setting up your account. Wait a few seconds and try again"
            )
        web_session(request).pop(ORDER)
        return _go(f"/order/confirmation/{placed.order_id}")

    @web.get("/confirmation/{order_id}")
    async def confirmation(
        request: Request, order_id: uuid.UUID, principal: Principal = signed_in
    ) -> HTMLResponse:
        try:
            order = await reading.your_order(service, principal, order_id)
        except reading.NotYours:
            raise HTTPException(404) from None
        return pages.render(
            request,
            "order_confirmation.html",
            title="Top-up order placed" if order["top_up"] else "Order placed",
            order=order,
            reviewed=order["account_kind"] != "cqc",
        )

    return web
