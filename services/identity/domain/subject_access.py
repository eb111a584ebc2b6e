"""A copy of someone's data (privacy policy, right 1), put together from every service's part.

Each service answers SubjectAccessRequested with everything it holds about the account, table
by table; identity adds its own and the copy is complete once every service that holds
personal data has answered. Reporting is not asked: it holds nothing linkable to a person
(ADR 0027), and the copy says so. The copy also names who received the person's data.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from typing import Any
from uuid import UUID

#: The services whose part a copy waits for, besides identity's own.
CONTRIBUTORS = ("orders", "verification", "dispatch")

#: Plain words for each part, so the page reads as more than table names.
EXPLANATIONS = {
    "identity": "Your account: how you sign in, the locations you may order for, your "
    "sign-ins and changes to your account.",
    "orders": "Your orders: what you ordered, where it goes and what has happened to it.",
    "verification": "The checks on your orders and any review by customer services.",
    "dispatch": "Stock held for your orders, the parcels sent, what was sent to the courier "
    "and the courier's reports.",
}


#: What the services that hold nothing linkable to the person say in the copy instead.
HOLDS_NOTHING_LINKABLE = {
    "reporting": "Reporting (the anonymised management information DHSC sees) holds nothing "
    "that can be linked to you: it receives no name, email, phone, address or account id, "
    "keeps only numbers, times and categories (region, local authority, type of "
    "organisation) under numbers of its own, and keeps no order id (docs/adr/0026 and 0027).",
}

COURIER = "DX, the delivery partner"
DHSC = "Department of Health and Social Care (DHSC)"


def recipients(parts: dict[str, Any]) -> list[dict[str, Any]]:
    """Who received the person's data, and what: the courier for each shipment, DHSC only
    anonymised figures. Emails are sent through the service's mail provider."""
    shipments = parts.get("dispatch", {}).get("shipments", [])
    return [
        {
            "recipient": COURIER,
            "what": "The name of the person who signs for the parcels, the delivery address "
            "and postcode, and what to pack, for each shipment below; nothing else.",
            "why": "To deliver the badges you ordered.",
            "shipments": [row.get("reference") for row in shipments],
        },
        {
            "recipient": DHSC,
            "what": "Anonymised figures only (orders and badges by region, local authority, "
            "type of organisation), rounded, with small numbers hidden. No personal data.",
            "why": "Management information about the campaign.",
            "shipments": [],
        },
    ]


def assemble(
    request_id: UUID,
    account_id: UUID,
    requested_at: datetime,
    identity_part: dict[str, Any],
    parts: dict[str, Any],
) -> dict[str, Any]:
    """The whole copy; ``complete`` says whether every service has answered yet."""
    waiting = [name for name in CONTRIBUTORS if name not in parts]
    services = {"identity": identity_part} | {n: parts[n] for n in CONTRIBUTORS if n in parts}
    return {
        "request_id": str(request_id),
        "account_id": str(account_id),
        "requested_at": requested_at.isoformat(),
        "complete": not waiting,
        "waiting_for": waiting,
        "services": services,
        "holds_nothing_linkable": HOLDS_NOTHING_LINKABLE,
        "recipients": recipients(parts),
    }


def render_html(document: dict[str, Any]) -> str:
    """The copy as a page a person can read: one section per service, one table per kind."""
    sections = "".join(_section(name, tables) for name, tables in document["services"].items())
    sections += "".join(
        f'<h2 class="govuk-heading-m">{escape(name.capitalize())}</h2>'
        f'<p class="govuk-body">{escape(text)}</p>'
        for name, text in document.get("holds_nothing_linkable", {}).items()
    )
    sections += '<h2 class="govuk-heading-m">Who received your data</h2>' + "".join(
        f'<h3 class="govuk-heading-s">{escape(r["recipient"])}</h3>'
        f'<p class="govuk-body">{escape(r["what"])} {escape(r["why"])}</p>'
        + (
            f'<p class="govuk-body">Shipments: {escape(", ".join(map(str, r["shipments"])))}</p>'
            if r["shipments"]
            else ""
        )
        for r in document.get("recipients", [])
    )
    status = (
        "This copy is complete."
        if document["complete"]
        else "Still gathering from: " + ", ".join(document["waiting_for"]) + ". Refresh soon."
    )
    return (
        '<!DOCTYPE html><html lang="en" class="govuk-template"><head><meta charset="utf-8">'
        "<title>A copy of your data - CARE badges - GOV.UK</title></head>"
        '<body class="govuk-template__body"><main class="govuk-main-wrapper" id="main-content">'
        '<h1 class="govuk-heading-l">A copy of your data</h1>'
        f'<p class="govuk-body">Request {escape(document["request_id"])}, made '
        f"{escape(document['requested_at'])}. {escape(status)}</p>"
        f"{sections}</main></body></html>"
    )


def _section(service: str, tables: dict[str, Any]) -> str:
    explanation = EXPLANATIONS.get(service, "")
    body = "".join(_table(name, rows) for name, rows in tables.items())
    return (
        f'<h2 class="govuk-heading-m">{escape(service.capitalize())}</h2>'
        f'<p class="govuk-body">{escape(explanation)}</p>{body}'
    )


def _table(name: str, rows: list[dict[str, Any]]) -> str:
    caption = f'<caption class="govuk-table__caption govuk-table__caption--s">{escape(name)}'
    if not rows:
        return f'<p class="govuk-body">{escape(name)}: nothing held.</p>'
    columns = sorted({key for row in rows for key in row})
    head = "".join(f'<th scope="col" class="govuk-table__header">{escape(c)}</th>' for c in columns)
    body = "".join(
        '<tr class="govuk-table__row">'
        + "".join(
            f'<td class="govuk-table__cell">{escape(_text(row.get(c)))}</td>' for c in columns
        )
        + "</tr>"
        for row in rows
    )
    return (
        f'<table class="govuk-table">{caption}</caption><thead class="govuk-table__head">'
        f'<tr class="govuk-table__row">{head}</tr></thead>'
        f'<tbody class="govuk-table__body">{body}</tbody></table>'
    )


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_text(v)}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_text(v) for v in value)
    return str(value)
