"""Reporting's answer to a subject access request: it holds nothing that can be linked to a
person (ADR 0027), so it is not asked; the copy says so (services/identity/domain/
subject_access.py). Every table is listed here with the reason, and a test fails if a new one
is not."""

from __future__ import annotations

from shared.subject_access import TRANSPORT_NOT_IN_THE_COPY

COPIED: frozenset[str] = frozenset()

NOT_IN_THE_COPY = TRANSPORT_NOT_IN_THE_COPY | {
    "daily_figures": "National totals by day: about no one.",
    "daily_breakdown": "Totals by day under a region, local authority, organisation type or "
    "CQC registration: about no one.",
    "breakdown_totals": "Totals to date under the same categories: about no one.",
    "dispatch_durations": "How many orders took how long, by day: about no one.",
    "open_items": "How many orders wait, by the second they started waiting: about no one.",
    "event_log": "Each step's numbers, times and categories under reporting's own number for "
    "the order; no order, account, event or location id (ADR 0027).",
    "order_progress": "Each order's numbers, times and categories under reporting's own "
    "number, linked by a keyed hash of the order id only while it is in progress (ADR 0027).",
    "link_key": "The key of those hashes: random bytes, about no one.",
    "outbox": "Empty: reporting emits no event.",
    "web_sessions": "Analysts' and operations staff's signed-in sessions of the MI pages.",
}
