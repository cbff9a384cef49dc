"""The SDK's span, baggage and distributed-tracing methods of ``HoneyHiveTracer``, on the current context.

They need of the tracer only its OpenTelemetry tracer and its current session, so they live here,
apart from the session lifecycle (``lifecycle``): ``HoneyHiveTracer`` is the facade that puts the two
together under the SDK's names.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, Tracer, use_span

from . import propagation
from ._log import logger
from .attributes import NAMESPACES, enrichment_attributes, to_json
from .carriers import header_carrier
from .scope import note_handed_on


class TracerMethods:
    """Spans, baggage and trace context under the SDK's method names. Every method contains its own
    failures: tracing never breaks the caller."""

    #: The OpenTelemetry tracer spans are started with (the facade's, on its provider).
    otel_tracer: Tracer

    @property
    def session_id(self) -> str | None:
        """The session spans started now would join (the facade's)."""
        raise NotImplementedError

    def enrich_span(
        self,
        inputs: Any = None,
        outputs: Any = None,
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        feedback: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        error: Any = None,
        user_properties: dict[str, Any] | None = None,
    ) -> None:
        """Add HoneyHive attributes to the current span (flattened as the SDK does)."""
        try:
            span = trace.get_current_span()
            if not span.is_recording():
                return
            span.set_attributes(
                enrichment_attributes(
                    inputs=inputs,
                    outputs=outputs,
                    metadata=metadata,
                    metrics=metrics,
                    feedback=feedback,
                    config=config,
                    user_properties=user_properties,
                )
            )
            if error is not None:
                span.set_attribute("honeyhive_error", error if isinstance(error, str) else to_json(error))
        except Exception:
            logger.exception("honeyhive: enrich_span failed")

    # -- distributed tracing, under the SDK's names ----------------------------------------------

    def inject_context(self, carrier: MutableMapping[str, str]) -> None:
        """Write the current trace context into ``carrier`` (``traceparent``, ``tracestate``, and
        ``baggage`` with the current session as ``session_id``), for a call to another service."""
        try:
            propagation.inject(carrier, session_id=self.session_id)
            note_handed_on()
        except Exception:
            logger.exception("honeyhive: inject_context failed")

    def inject(self, carrier: dict[str, Any]) -> dict[str, Any]:
        """:meth:`inject_context`, returning the carrier (the SDK's older name)."""
        self.inject_context(carrier)
        return carrier

    def extract_context(self, carrier: Mapping[str, Any]) -> otel_context.Context | None:
        """The caller's context in ``carrier`` (headers in any case): its span, and its baggage with the
        session under ``session_id``. None when the carrier holds no usable context."""
        try:
            remote = self._remote(carrier)
            return remote.context if remote.span_context is not None or remote.session else None
        except Exception:
            logger.exception("honeyhive: extract_context failed")
            return None

    def link(self, carrier: Mapping[str, Any]) -> object:
        """Continue the caller's trace and session from ``carrier`` in this context until
        :meth:`unlink` with the token returned. (HoneyHive's SDK 1.7 has ``link`` inject instead,
        leaving ``link_carrier`` without effect; this is the linking its docs describe.)"""
        try:
            return otel_context.attach(self._remote(carrier).context)
        except Exception:
            logger.exception("honeyhive: link failed")
            return None

    def unlink(self, token: object) -> None:
        """End what :meth:`link` began: the context is what it was before."""
        try:
            if isinstance(token, contextvars.Token):  # what link() returned (None if it failed)
                otel_context.detach(token)
        except Exception:
            logger.exception("honeyhive: unlink failed")

    def _remote(self, carrier: Mapping[str, Any]) -> propagation.Remote:
        found = header_carrier(carrier.items(), "carrier")
        remote = propagation.extract(found.carrier, otel_context.get_current())
        if remote.problems:
            logger.warning("honeyhive: ignoring trace context in the carrier: %s", "; ".join(remote.problems))
        return remote

    def get_baggage(self, key: str) -> str | None:
        """The current context's baggage under ``key``, or under the spelling :meth:`set_baggage` gives it."""
        try:
            entries = baggage.get_all()
            for variant in (key, _baggage_key(key), key.lower(), key.upper()):
                if variant in entries:
                    return str(entries[variant])
        except Exception:
            logger.exception("honeyhive: get_baggage failed")
        return None

    def set_baggage(self, key: str, value: str) -> None:
        """Put ``value`` in the current context's baggage (so spans started now carry it and it
        propagates), the key spelled as the SDK spells it: lower case, ``_`` for ``-``, ``.`` and space."""
        if not key or value is None:
            return
        try:
            otel_context.attach(baggage.set_baggage(_baggage_key(key), str(value)))
        except Exception:
            logger.exception("honeyhive: set_baggage failed")

    @contextmanager
    def start_span(
        self,
        name: str,
        *,
        kind: SpanKind | None = None,
        attributes: Mapping[str, Any] | None = None,
        links: Sequence[Link] | None = None,
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> Iterator[Span]:
        """A span of this tracer (so it carries the session), current inside the block and ended on exit;
        an exception from inside is recorded on it and propagates unchanged."""
        try:
            span = self.otel_tracer.start_span(
                name, kind=kind or SpanKind.INTERNAL, attributes=attributes, links=links, start_time=start_time
            )
        except Exception:  # the block runs, untraced
            logger.exception("honeyhive: could not start the span %s", name)
            span = INVALID_SPAN
        with use_span(
            span, end_on_exit=True, record_exception=record_exception, set_status_on_exception=set_status_on_exception
        ):
            yield span

    def trace(self, name: str, event_type: str | None = None, **kwargs: Any) -> AbstractContextManager[Span]:
        """:meth:`start_span` as a HoneyHive event named ``name`` of ``event_type`` (``tool`` unless given,
        as ``@trace``). ``inputs=``, ``outputs=``, ``metadata=`` and the other ``enrich_span`` fields are
        set as ``enrich_span`` sets them; any other keyword becomes an attribute of that name."""
        attributes: dict[str, Any] = {"honeyhive_event_type": event_type or "tool", "honeyhive_event_name": name}
        try:
            attributes.update(enrichment_attributes(**{k: v for k, v in kwargs.items() if k in NAMESPACES}))
            for key, value in kwargs.items():
                if key not in NAMESPACES and value is not None:
                    attributes[key] = value if isinstance(value, str | bool | int | float) else to_json(value)
        except Exception:
            logger.exception("honeyhive: could not set the attributes of the span %s", name)
        return self.start_span(name, attributes=attributes)


def _baggage_key(key: str) -> str:
    """A baggage key as the SDK's ``set_baggage`` spells it."""
    return key.replace("-", "_").replace(".", "_").replace(" ", "_").lower()
