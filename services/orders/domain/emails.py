"""The emails orders sends: when an order is placed, and when it is dispatched (with the
poster). Plain words; the reference in the subject so a person can find it later."""

from __future__ import annotations

from dataclasses import replace

from services.orders.domain.poster import WORKFORCE_APP, poster_pdf
from shared.email import EmailMessage
from shared.email.message import Attachment

HELP = (
    "If you have a question, call customer services on 0161 495 4879 (Monday to Friday, "
    "8:30am to 5pm) and give your reference."
)


def order_placed(
    to: str, reference: str, quantity: int, reviewed: bool, top_up: bool = False
) -> EmailMessage:
    checked = (
        "A member of our team will check your order before it is sent."
        if reviewed
        else "We check your order against the Care Quality Commission register."
    )
    what = "top-up order" if top_up else "order"
    extra = " This top-up adds to the badges we have already sent you." if top_up else ""
    body = (
        f"We have received your {what} for {quantity} CARE badge"
        f"{'s' if quantity != 1 else ''}.{extra}\n\n"
        f"Your reference is {reference}.\n\n"
        f"What happens next\n\n{checked} Badges are sent in the order that orders were placed, "
        "while stock lasts. We will email you again when the parcel is on its way, with a "
        "poster to print for your staff.\n\n"
        "You can follow your order, or cancel it before it is dispatched, by signing in to "
        "the service and choosing Your orders.\n\n"
        f"{HELP}\n\nThe badges and postage are free.\n"
    )
    return EmailMessage(to=to, subject=f"CARE badges order {reference} received", body=body)


#: Stand for the recipient and the order's reference in :func:`dispatched_template`: both
#: are read with the order, in the statement that queues the email.
RECIPIENT_SLOT = "recipient@recipient.invalid"
REFERENCE_SLOT = "{order reference}"


def dispatched_template(shipment: str) -> EmailMessage:
    """:func:`order_dispatched` before its order is read: the slots where the recipient and
    the reference go (:func:`filled` puts them in, as the statement that queues it does)."""
    return order_dispatched(RECIPIENT_SLOT, REFERENCE_SLOT, shipment)


def filled(template: EmailMessage, to: str, reference: str) -> EmailMessage:
    """A template's email for ``to`` about order ``reference``."""
    return replace(
        template,
        to=to,
        subject=template.subject.replace(REFERENCE_SLOT, reference),
        body=template.body.replace(REFERENCE_SLOT, reference),
    )


def order_dispatched(to: str, reference: str, shipment: str) -> EmailMessage:
    body = (
        f"Your CARE badges (order {reference}) are on their way.\n\n"
        f"The courier's reference is {shipment}. The parcel also holds leaflets about "
        "wellbeing support and getting ready for winter: please share them with your staff.\n\n"
        "We have attached a poster to print and put up where your staff will see it. It links "
        "to wellbeing resources and to the CARE workforce app, which has guidance and "
        f"practical support for everyone working in adult social care: {WORKFORCE_APP}\n\n"
        f"{HELP}\n"
    )
    return EmailMessage(
        to=to,
        subject=f"CARE badges order {reference} dispatched",
        body=body,
        attachments=(Attachment("care-poster.pdf", "application/pdf", poster_pdf()),),
    )
