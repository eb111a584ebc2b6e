"""Structured JSON logs with the correlation id and order id of whatever is being handled.

Values are bound in contextvars (one set per HTTP request or consumed message), so every line
logged while handling it, by our code or a library's, carries them. A last processor drops keys
that name personal data, a safety net under the rule that logs carry ids only.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator, MutableMapping
from contextlib import contextmanager
from typing import Any

import structlog

PERSONAL_KEYS = frozenset(
    {
        "email",
        "password",
        "secret",
        "token",
        "name",
        "recipient_name",
        "contact_name",
        "address",
        "phone",
        "postcode",
        "delivery",
    }
)


def _drop_personal_data(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    for key in PERSONAL_KEYS.intersection(event_dict):
        event_dict[key] = "[redacted]"
    return event_dict


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route structlog and the standard library (uvicorn, faststream) to one JSON stream."""
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _drop_personal_data,
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Per-message access lines from the libraries would dwarf our own; metrics count those.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("uvicorn.access", "faststream", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


@contextmanager
def log_context(**values: Any) -> Iterator[None]:
    """Bind values (correlation_id, order_id, ...) for the duration of one unit of work."""
    clean = {k: str(v) for k, v in values.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**clean):
        yield


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)
