"""OpenTelemetry tracing across HTTP and RabbitMQ, cheap when nobody collects the spans.

One order is one trace: the HTTP request that places it starts the trace (or continues the
caller's W3C ``traceparent``), each event it causes carries ``traceparent`` in its AMQP
headers, and every consumer, handler and database transaction on the way is a span of it.
Each log line written meanwhile carries the trace id (``trace_id``), so an operator can follow
an order through the five services' logs by one id, and in Jaeger by its spans
(docs/operations.md, "Following an order").

The outbox decouples the handler that emits an event from the relay that publishes it, so the
emitting span's ``traceparent`` is stored with the outbox row (the ``traceparent`` column) and
the relay sends it with the message.

Cost (docs/adr/0072-tracing.md): spans are recorded and exported only when an OTLP endpoint is
configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, the
standard variables; ``OTEL_TRACES_SAMPLER``/``_ARG`` choose the sampling). Without one the
tracer samples nothing: every span is a non-recording span that still has its trace id and a
fresh span id, so ids propagate into headers and logs at the price of two random numbers and
a context switch per span, and no attribute, event or export work is done.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from contextvars import Token
from typing import Any

import structlog
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider, sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, NonRecordingSpan, Span, SpanContext, SpanKind, TraceFlags

__all__ = [
    "SpanKind",
    "child_span",
    "configure_tracing",
    "context_from_traceparent",
    "current_context",
    "current_trace_id",
    "current_traceparent",
    "follow_order",
    "span",
    "traceparent_of",
    "use_processor",
]

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


_RANDOM = random.Random()  # ids, not secrets: what the SDK's RandomIdGenerator uses too


class _State:
    provider: TracerProvider = TracerProvider(sampler=sampling.ALWAYS_OFF)
    tracer: trace.Tracer = provider.get_tracer("care")
    recording = False
    service = ""


def configure_tracing(service: str, *, environ: Mapping[str, str] | None = None) -> bool:
    """Set up this process's tracer; True when spans are exported (an endpoint is set).

    Called once per process by each service's startup (shared.runtime). A second call (tests
    run five services in one process) keeps the first exporter.
    """
    env = os.environ if environ is None else environ
    _State.service = _State.service or service
    if _State.recording or not any(env.get(v) for v in _ENDPOINT_VARIABLES):
        return _State.recording
    # Imported only when exporting: protobuf and the HTTP exporter cost import time and
    # memory a service that does not export should not pay.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    name = env.get("OTEL_SERVICE_NAME") or f"care-{service}"
    _install(name, BatchSpanProcessor(OTLPSpanExporter()))
    return True


def use_processor(processor: SpanProcessor, service: str = "care") -> TracerProvider:
    """Record every span into ``processor`` (tests: an in-memory exporter's processor)."""
    return _install(service, processor)


def _install(name: str, processor: SpanProcessor) -> TracerProvider:
    # The SDK's default sampler: ``OTEL_TRACES_SAMPLER`` or parent-based always-on.
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    provider.add_span_processor(processor)
    _State.provider, _State.tracer, _State.recording = provider, provider.get_tracer("care"), True
    return provider


def reset() -> None:
    """Back to non-recording spans (tests), flushing what the current provider holds."""
    _State.provider.shutdown()
    _State.provider = TracerProvider(sampler=sampling.ALWAYS_OFF)
    _State.tracer = _State.provider.get_tracer("care")
    _State.recording = False


def shutdown() -> None:
    """Export what is buffered; called when the service stops."""
    if _State.recording:
        _State.provider.force_flush(5000)


def recording() -> bool:
    return _State.recording


# --- spans --------------------------------------------------------------------------------


def span(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    parent: otel_context.Context | None = None,
    attributes: Mapping[str, Any] | None = None,
    links: Sequence[SpanContext] = (),
) -> AbstractContextManager[Span]:
    """A span made current for the block (child of ``parent`` or of the current span).

    Attributes and links are added only when spans are recorded. An exception leaving the
    block is recorded on the span (class and status; not its message, which may echo data).
    """
    if not _State.recording:
        return _Unrecorded(parent)
    return _recorded(name, kind, parent, attributes, links)


@contextmanager
def _recorded(
    name: str,
    kind: SpanKind,
    parent: otel_context.Context | None,
    attributes: Mapping[str, Any] | None,
    links: Sequence[SpanContext],
) -> Iterator[Span]:
    current = _State.tracer.start_span(
        name,
        context=parent,
        kind=kind,
        attributes=attributes or None,
        links=[Link(c) for c in links] if links else None,
        record_exception=False,
        set_status_on_exception=False,
    )
    token = otel_context.attach(trace.set_span_in_context(current, parent))
    try:
        yield current
    except BaseException as exc:
        current.set_attribute("error.type", type(exc).__name__)
        current.set_status(trace.StatusCode.ERROR, type(exc).__name__)
        raise
    finally:
        otel_context.detach(token)
        current.end()


class _Unrecorded:
    """Nobody records spans: only the trace id matters, for headers and logs (ADR 0072).

    A span inside a trace is the trace's current span again (no new object, no context
    switch); a remote parent (from a header) becomes current as it is; with neither, a new
    trace id starts. The W3C parent id sent on is then the upstream one: nothing records the
    spans in between, so none could be pointed at.

    A plain class rather than a generator-based context manager: every delivery and every
    handler enters one, and the generator machinery cost more than the work (ADR 0053).
    """

    __slots__ = ("_parent", "_token")

    def __init__(self, parent: otel_context.Context | None) -> None:
        self._parent = parent
        self._token: Token[otel_context.Context] | None = None

    def __enter__(self) -> Span:
        parent = self._parent
        if parent is None:
            current = trace.get_current_span()
            if current.get_span_context().is_valid:
                return current
            current = NonRecordingSpan(
                SpanContext(
                    _RANDOM.getrandbits(128) or 1,
                    _RANDOM.getrandbits(64) or 1,
                    is_remote=False,
                    trace_flags=TraceFlags(0),
                )
            )
            parent = trace.set_span_in_context(current)
        else:
            current = trace.get_current_span(parent)
        self._token = otel_context.attach(parent)
        return current

    def __exit__(self, *_exc: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            otel_context.detach(token)


@contextmanager
def child_span(name: str, **attributes: Any) -> Iterator[None]:
    """A span only inside a trace already going (a database transaction of a request or a
    handler); nothing at all for background work such as the outbox relay's polling."""
    if not _State.recording or not trace.get_current_span().get_span_context().is_valid:
        yield
        return
    with span(name, attributes=attributes or None):
        yield


# --- propagation --------------------------------------------------------------------------


def traceparent_of(context: SpanContext) -> str:
    """The W3C ``traceparent`` header value for ``context``."""
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{int(context.trace_flags):02x}"


def current_traceparent() -> str | None:
    """``traceparent`` of the current span, or None outside any trace."""
    context = trace.get_current_span().get_span_context()
    return traceparent_of(context) if context.is_valid else None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None


def current_context() -> otel_context.Context:
    return otel_context.get_current()


def context_from_traceparent(value: Any) -> otel_context.Context | None:
    """A parent context from a ``traceparent`` header (str or bytes); None if absent or bad.

    Parsed by hand (version 00: four dash-separated hex fields) rather than through the
    propagator's regular expression and carrier getter: this runs for every message.
    """
    if not value:
        return None
    if isinstance(value, bytes | bytearray):
        value = value.decode("latin-1")
    if not isinstance(value, str) or len(value) < 55 or value[2] != "-":
        return None
    try:
        trace_id = int(value[3:35], 16)
        span_id = int(value[36:52], 16)
        flags = int(value[53:55], 16)
    except ValueError:
        return None
    if not trace_id or not span_id or value[35] != "-" or value[52] != "-":
        return None
    remote = SpanContext(trace_id, span_id, is_remote=True, trace_flags=TraceFlags(flags & 1))
    return trace.set_span_in_context(NonRecordingSpan(remote))


def inject(headers: MutableMapping[str, str]) -> None:
    """Add the current ``traceparent`` to outgoing HTTP headers (when inside a trace)."""
    value = current_traceparent()
    if value is not None:
        headers["traceparent"] = value


def trace_id_of(current: Span) -> str:
    return f"{current.get_span_context().trace_id:032x}"


def follow_order(order_id: Any) -> None:
    """Mark the work in hand as this order's: its id on the current span and on every line
    logged for the rest of the request (the HTTP middleware unbinds it when the request ends).
    """
    structlog.contextvars.bind_contextvars(order_id=str(order_id))
    current = trace.get_current_span()
    if current.is_recording():
        current.set_attribute("care.order_id", str(order_id))
