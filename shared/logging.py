"""Structured JSON logs with the correlation id and order id of whatever is being handled.

Values are bound in contextvars (one set per HTTP request or consumed message), so every line
logged while handling it, by our code or a library's, carries them. A last processor drops keys
that name personal data, a safety net under the rule that logs carry ids only.

Exceptions are rendered by ``render_exception``: the stack as usual, but each message with the
values a failing statement or validation echoes (SQL parameters, PostgreSQL's ``DETAIL`` line,
pydantic's ``input_value``, anything shaped like an email address) replaced by ``[redacted]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import sys
import traceback
from collections.abc import Mapping, MutableMapping
from datetime import UTC, datetime
from types import TracebackType
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


#: Where an exception's message echoes the data that made it fail, and what to keep of it.
_ECHOES = (
    # SQLAlchemy's bound parameters (hidden by the engines too: hide_parameters=True).
    (re.compile(r"\[parameters: .*?\](?=\n|$)", re.S), "[parameters: [redacted]]"),
    # PostgreSQL's detail ("Key (email)=(...)", "Failing row contains (...)") to line end.
    (re.compile(r"(DETAIL:|Failing row contains|Key \().*"), r"\1 [redacted]"),
    # pydantic's ValidationError quotes what it was given.
    (re.compile(r"input_value=.*?(?=, input_type=|\]$|$)", re.M), "input_value=[redacted]"),
    # A value PostgreSQL could not parse: 'invalid input syntax for type uuid: "..."'.
    (re.compile(r'(invalid input[^:\n]*: )".*?"'), r'\1"[redacted]"'),
    (re.compile(r"[^\s@'\"()<>,;:]+@[^\s@'\"()<>,;:]+"), "[redacted-email]"),
)


def redact(message: str) -> str:
    """``message`` without the values errors echo (a safety net: values stay out of errors)."""
    for pattern, replacement in _ECHOES:
        message = pattern.sub(replacement, message)
    return message


def render_exception(
    exc_info: tuple[type[BaseException], BaseException, TracebackType | None],
) -> str:
    """The traceback as Python prints it, chained causes included, each message redacted."""
    lines: list[str] = []
    seen: set[int] = set()

    def walk(exc: BaseException) -> None:
        seen.add(id(exc))
        if exc.__cause__ is not None and id(exc.__cause__) not in seen:
            walk(exc.__cause__)
            lines.append("\nThe above exception was the direct cause of the following:\n\n")
        elif (
            exc.__context__ is not None
            and not exc.__suppress_context__
            and id(exc.__context__) not in seen
        ):
            walk(exc.__context__)
            lines.append("\nDuring handling of the above exception, another occurred:\n\n")
        lines.append("Traceback (most recent call last):\n")
        lines.extend(traceback.format_tb(exc.__traceback__))
        module = type(exc).__module__
        name = (
            type(exc).__qualname__ if module == "builtins" else f"{module}.{type(exc).__qualname__}"
        )
        lines.append(f"{name}: {redact(str(exc))}\n")

    walk(exc_info[1])
    return "".join(lines).rstrip("\n")


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
                structlog.processors.ExceptionRenderer(render_exception),
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _LINES.handler = handler
    root.setLevel(level.upper())
    # Per-message access lines from the libraries would dwarf our own; metrics count those.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for noisy in ("uvicorn.access", "faststream", "aiormq", "aio_pika"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.contextvars.bind_contextvars(service=service)


def log_context(**values: Any) -> LogFields:
    """Bind values (correlation_id, order_id, ...) for the duration of one unit of work."""
    return LogFields({k: str(v) for k, v in values.items() if v is not None})


class LogFields:
    """Log fields bound to the context while the ``with`` block runs, then unbound.

    What ``structlog.contextvars.bound_contextvars`` does, restoring each variable with the
    token its ``set`` returned rather than reading the whole context first (a copy of every
    context variable) and binding the old values again after: every consumed message binds
    its ids twice (ADR 0053). ``fields`` are kept, already strings, so a consumer can hand
    them on to the worker that runs its handler.
    """

    __slots__ = ("_tokens", "fields")

    def __init__(self, fields: dict[str, Any]) -> None:
        self.fields = fields
        self._tokens: Mapping[str, Any] = {}

    def __enter__(self) -> None:
        self._tokens = structlog.contextvars.bind_contextvars(**self.fields)

    def __exit__(self, *_exc: object) -> None:
        tokens, self._tokens = self._tokens, {}
        structlog.contextvars.reset_contextvars(**tokens)


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    return structlog.stdlib.get_logger(name)


class _Lines:
    """Lines rendered by :func:`info_line`, written together once per event-loop turn."""

    def __init__(self) -> None:
        self.handler: logging.StreamHandler[Any] | None = None
        self.pending: list[str] = []

    def add(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) > 1:
            return  # already scheduled
        try:
            asyncio.get_running_loop().call_soon(self.flush)
        except RuntimeError:  # no loop: write at once
            self.flush()

    def flush(self) -> None:
        lines, self.pending = self.pending, []
        handler = self.handler
        if handler is None or not lines:
            return
        with handler.lock or contextlib.nullcontext():
            handler.stream.write("\n".join(lines) + "\n")
            handler.flush()


_LINES = _Lines()
#: The standard loggers :func:`info_line` asks for their level (``getLogger`` takes a lock).
_LOGGERS: dict[str, logging.Logger] = {}
#: ``json.dumps(line, default=str)``'s encoder, made once: ``dumps`` with any option builds a
#: new encoder on every call.
_ENCODER = json.JSONEncoder(default=str)


def info_line(logger: str, event: str, **fields: Any) -> None:
    """One info line, as ``get_logger(logger).info(event, **fields)`` writes it, for lines
    written per message (each handled event's).

    The same JSON object (the fields, the bound context, level and UTC timestamp, personal
    keys dropped) without the processor chain, a LogRecord and a flush per line: the lines of
    one event-loop turn are written and flushed together (docs/adr/0072-tracing.md measured
    the standard path at most of the added cost per hop). Before :func:`configure_logging`
    or below INFO it falls back to, or does, what the standard path would.
    """
    if _LINES.handler is None:
        get_logger(logger).info(event, **fields)
        return
    standard = _LOGGERS.get(logger)
    if standard is None:
        standard = _LOGGERS[logger] = logging.getLogger(logger)
    if not standard.isEnabledFor(logging.INFO):
        return
    line: dict[str, Any] = {**fields, "event": event, **structlog.contextvars.get_contextvars()}
    line["level"] = "info"
    line["timestamp"] = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    _drop_personal_data(None, "info", line)
    _LINES.add(_ENCODER.encode(line))
