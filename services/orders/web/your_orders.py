"""Your orders: each order's progress as a timeline, and cancelling one before dispatch.

Every read and change is checked against the signed-in account; another account's order
answers "page not found", exactly like one that does not exist.
"""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from services.orders.domain.order import Status
from services.orders.usecases import cancelling, reading
from services.orders.usecases.orderable import orderable
from services.orders.web.auth import SiteAuth
from shared.http.auth import Principal
from shared.runtime import Service
from shared.web import Site

#: What each step means to the person who ordered, and its tag colour.
STEPS: dict[str, tuple[str, str]] = {
    Status.PLACED: ("Order placed", "blue"),
    Status.WAITLISTED: ("Waiting for stock: your order keeps its place in the queue", "yellow"),
    Status.IN_REVIEW: ("Being checked by our team", "yellow"),
    Status.VERIFIED: ("Checked and approved", "turquoise"),
    Status.DISPATCHED: ("Dispatched: the badges are with the courier", "purple"),
    Status.DELIVERED: ("Delivered", "green"),
    Status.REJECTED: ("Refused", "red"),
    Status.CANCELLED: ("Cancelled", "grey"),
}


def step_label(status: str) -> str:
    return STEPS.get(status, (status, "grey"))[0]


def router(service: Service, pages: Site, auth: SiteAuth) -> APIRouter:
    web = APIRouter(prefix="/orders", include_in_schema=False)
    signed_in = Depends(auth.principal)

    async def own_order(order_id: uuid.UUID, principal: Principal) -> dict[str, Any]:
        try:
            return await reading.your_order(service, principal, order_id)
        except reading.NotYours:
            raise HTTPException(404) from None

    @web.get("")
    async def list_orders(request: Request, principal: Principal = signed_in) -> HTMLResponse:
        orders = await reading.your_orders(service, principal)
        can = await orderable(service, principal, auth.locations(request))
        return pages.render(
            request,
            "orders.html",
            title="Your orders",
            orders=orders,
            steps=STEPS,
            why_not=can.why_not,
        )

    @web.get("/{order_id}")
    async def show_order(
        request: Request, order_id: uuid.UUID, principal: Principal = signed_in
    ) -> HTMLResponse:
        order = await own_order(order_id, principal)
        return pages.render(
            request,
            "order.html",
            title=f"Order {order['reference']}",
            order=order,
            steps=STEPS,
            cancellable=order["status"] in cancelling.CANCELLABLE,
            back_url="/orders",
        )

    @web.get("/{order_id}/cancel")
    async def confirm_cancel(
        request: Request, order_id: uuid.UUID, principal: Principal = signed_in
    ) -> Response:
        order = await own_order(order_id, principal)
        if order["status"] not in cancelling.CANCELLABLE:
            return RedirectResponse(f"/orders/{order_id}", status_code=303)
        return pages.render(
            request,
            "order_cancel.html",
            title=f"Are you sure you want to cancel order {order['reference']}?",
            order=order,
            back_url=f"/orders/{order_id}",
        )

    @web.post("/{order_id}/cancel")
    async def cancel(
        request: Request, order_id: uuid.UUID, principal: Principal = signed_in
    ) -> Response:
        try:
            await cancelling.cancel_order(
                service, principal, order_id, request.state.correlation_id
            )
        except reading.NotYours:
            raise HTTPException(404) from None
        except cancelling.TooLateToCancel:
            pass  # the order page says why there is no cancel button any more
        return RedirectResponse(f"/orders/{order_id}", status_code=303)

    return web
