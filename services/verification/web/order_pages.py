"""An order's page and what a reviewer does there: decide, ask for more, correct the address.

Each form carries the order's version, so a reviewer acting on a page someone else has since
changed is told so instead of overwriting; the rules are the same use cases the API calls.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException

from services.verification.usecases import casework, reviews
from services.verification.usecases.reviewers import Reviewer
from services.verification.web import auth
from services.verification.web.queue_pages import KIND_NAMES, REASON_NAMES
from shared.events import Delivery
from shared.http.problems import problem_from
from shared.runtime import Service
from shared.usecases import NotFound, Refused
from shared.web import FormErrors, Site

ADDRESS_FIELDS = (
    (
        "recipient_name",
        "Name of the person receiving the parcel",
        "Enter the name of the person receiving the parcel",
    ),
    ("organisation_name", "Organisation", "Enter the organisation's name"),
    ("address_line_1", "Address line 1", "Enter address line 1, typically the building and street"),
    ("address_line_2", "Address line 2 (optional)", ""),
    ("city", "Town or city", ""),
    ("postcode", "Postcode", "Enter a full UK postcode, like LS1 4AP"),
)


def _version(form: FormData) -> int:
    try:
        return int(str(form.get("version", "")))
    except ValueError:
        return -1


def add(web: APIRouter, pages: Site, service: Service, reviewers: auth.Reviewers) -> None:
    async def load(order_id: uuid.UUID) -> dict[str, Any]:
        try:
            return await casework.order_story(service, order_id)
        except NotFound as exc:
            raise HTTPException(404, "There is no such order.") from exc  # the HTML "not found"

    async def show(
        request: Request,
        order_id: uuid.UUID,
        errors: FormErrors | None = None,
        status_code: int = 200,
        **form: Any,
    ) -> HTMLResponse:
        order = await load(order_id)
        return pages.render(
            request,
            "order.html",
            status_code=status_code,
            errors=errors,
            title=f"Order {order['reference']}",
            order=order,
            reason_names=REASON_NAMES,
            kind_names=KIND_NAMES,
            form=form,
            done=request.query_params.get("done", ""),
        )

    def reviewer(request: Request, who: auth.SignedIn) -> Reviewer:
        return Reviewer(who.principal.account_id, request.state.correlation_id, who.principal.name)

    async def refused(
        request: Request, order_id: uuid.UUID, refusal: Refused, field: str, **form: Any
    ) -> HTMLResponse:
        """The order's page again, the refusal in its error summary, with the status the API
        would answer."""
        errors = FormErrors()
        errors.add(refusal.field or field, refusal.message)
        return await show(request, order_id, errors, problem_from(refusal).status, **form)

    @web.get("/orders/{order_id}")
    async def order_page(
        order_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> HTMLResponse:
        return await show(request, order_id)

    @web.post("/orders/{order_id}/decision")
    async def decide(
        order_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> Response:
        form = await request.form()
        decision, reason = str(form.get("decision", "")), str(form.get("reason", "")).strip()
        errors = FormErrors()
        if decision not in ("approve", "reject"):
            errors.add("decision", "Select approve or reject")
        elif decision == "reject" and not reason:
            errors.add("reason", "Enter the reason for rejecting: the person who ordered sees it")
        if errors:
            return await show(request, order_id, errors, 400, decision=decision, reason=reason)
        try:
            if decision == "approve":
                await reviews.approve(service, order_id, _version(form), reviewer(request, who))
            else:
                await reviews.reject(
                    service, order_id, _version(form), reason, reviewer(request, who)
                )
        except Refused as refusal:
            return await refused(request, order_id, refusal, "decision", reason=reason)
        done = "approved" if decision == "approve" else "rejected"
        return RedirectResponse(f"/orders/{order_id}?done={done}", status_code=303)

    @web.post("/orders/{order_id}/notes")
    async def ask(
        order_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> Response:
        form = await request.form()
        note = str(form.get("note", "")).strip()
        if not note:
            errors = FormErrors()
            errors.add("note", "Enter what information is needed")
            return await show(request, order_id, errors, 400)
        try:
            await reviews.ask_for_information(
                service, order_id, _version(form), note, reviewer(request, who)
            )
        except Refused as refusal:
            return await refused(request, order_id, refusal, "note", note=note)
        return RedirectResponse(f"/orders/{order_id}?done=note", status_code=303)

    async def address_page(
        request: Request,
        order_id: uuid.UUID,
        values: dict[str, Any],
        errors: FormErrors | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        order = await load(order_id)
        return pages.render(
            request,
            "address.html",
            status_code=status_code,
            errors=errors,
            title="Correct the delivery address",
            order=order,
            fields=[
                {"name": name, "label": label, "value": values.get(name, "")}
                for name, label, _ in ADDRESS_FIELDS
            ],
            version=values.get("version", order["version"]),
            back_url=f"/orders/{order_id}",
        )

    @web.get("/orders/{order_id}/address")
    async def address_form(
        order_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> HTMLResponse:
        order = await load(order_id)
        return await address_page(
            request, order_id, {**order["delivery"], "version": order["version"]}
        )

    @web.post("/orders/{order_id}/address")
    async def correct(
        order_id: uuid.UUID, request: Request, who: auth.SignedIn = Depends(reviewers)
    ) -> Response:
        form = await request.form()
        values = {name: str(form.get(name, "")).strip() for name, _, _ in ADDRESS_FIELDS}
        errors = FormErrors()
        for name, _, missing in ADDRESS_FIELDS:
            if missing and not values[name]:
                errors.add(name, missing)
        if errors:
            return await address_page(request, order_id, values, errors, 400)
        try:
            delivery = Delivery(**values)
            await casework.correct_address(
                service, order_id, _version(form), delivery, reviewer(request, who)
            )
        except ValidationError:
            errors.add("postcode", "Check the address: a field is too long")
            return await address_page(request, order_id, values, errors, 400)
        except Refused as refusal:
            errors.add(refusal.field or "postcode", refusal.message)
            status = problem_from(refusal).status
            return await address_page(request, order_id, values, errors, status)
        return RedirectResponse(f"/orders/{order_id}?done=address", status_code=303)
