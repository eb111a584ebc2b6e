"""Dispatch's part in the holder's rights: a copy of what it holds (privacy policy, right 1)."""

from __future__ import annotations

from services.dispatch.store import privacy
from shared.runtime import Service
from shared.subject_access import answer_requests


def register(service: Service) -> None:
    """Subscribe dispatch's privacy handlers on ``service``."""
    answer_requests(service, privacy.held_about)
