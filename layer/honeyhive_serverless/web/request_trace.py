"""Tracing around one web request, for both middlewares: the session, the request's span, and the
export as the response body ends.

Under an invocation already traced by this tracer (an ASGI app under Mangum, inside
``@with_honeyhive_session``) the request joins the invocation's session and its spans leave with the
invocation's one request; otherwise the request is a scope of its own, sent as its body ends.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import replace
from typing import Any, Generic, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode

from .._log import logger, quote_prefix
from ..attributes import flatten, record_error
from ..budget import flush_deadline
from ..config import WrapperOptions, resolve_wrapper_options
from ..export.processors import session_attributes
from ..propagation import NOTHING_INCOMING, Incoming, in_process_headers, incoming
from ..scope import OPEN_AT_RETURN, SessionScope, current_scope
from ..sessions import choose_session
from ..tracer import HoneyHiveTracer, get_tracer
from ..wire import AUTO_CREATE_KEY, SESSION_KEY, SUPERSEDED_KEY
from .request import WebRequest, span_name, status_is_error

#: A session name: text, or a callable of the request's summary (method, path, query).
SessionName = str | Callable[[dict[str, Any]], str] | None


AppT = TypeVar("AppT")


class RequestMiddleware(Generic[AppT]):
    """What both middlewares share: their options (argument > ``HH_*`` variable > default, as the
    wrapper's), and each request's tracing begun from them."""

    def __init__(
        self,
        app: AppT,
        *,
        session_name: SessionName = None,
        capture_request: bool | None = None,
        capture_response: bool | None = None,
        return_session_id: bool | None = None,
        event_type: str | None = None,
        tracer: HoneyHiveTracer | None = None,
    ) -> None:
        self.app = app
        self._tracer = tracer
        self._session_name = session_name
        self._options = resolve_wrapper_options(
            capture_event=capture_request,
            capture_response=capture_response,
            return_session_id=return_session_id,
            event_type=event_type,
            session_name=session_name if isinstance(session_name, str) else None,
        )

    def begin_request(self, describe: Callable[[], WebRequest], supersedes: Any = None) -> RequestTrace | None:
        """The request's tracing, begun (see :meth:`RequestTrace.begin`); None when tracing is off, for a
        platform's probe, or when it could not even start."""
        try:
            tracer = self._tracer or get_tracer()
            if tracer.config.disable_tracing:
                return None
            described = describe()
            if described.invocation.readiness_check:
                return None
            request = RequestTrace(tracer, self._options, self._session_name)
            request.begin(described, supersedes)
        except Exception:
            logger.exception("honeyhive: could not start tracing this request; it runs untraced")
            return None
        return request


class RequestTrace:
    """One request's tracing. Every method contains its own failures: the app never sees them."""

    def __init__(self, tracer: HoneyHiveTracer, options: WrapperOptions, session_name: SessionName) -> None:
        self.tracer = tracer
        self._options = options
        self._session_name = session_name
        self._stack = ExitStack()
        self._scope: SessionScope | None = None
        #: Inside an invocation this tracer traces: its session, and its export.
        self._nested = False
        self._linked = False
        self._status: int | None = None
        self._ended = False
        self._method = ""
        self.session_id: str | None = None
        self.span: Span | None = None

    def begin(self, request: WebRequest, supersedes: Any = None) -> None:
        """Begin the request's tracing; ``supersedes`` is a request span the framework started before
        this middleware ran (FastAPI's own): the request's span stands for it, in its place in the trace,
        and it is not sent (it would end only after the response, and leave after it, on its own)."""
        tracer = self.tracer
        # The query is the one part of the request captured that may hold a credential (?api_key=...).
        request = replace(request, query=tracer.config.redaction.query(request.query))
        self._method = request.method
        outer = current_scope()
        self._nested = outer is not None and outer.owner is tracer
        deadline = outer.deadline if outer is not None and self._nested else None
        if deadline is None:
            deadline = request.deadline(tracer.config.timeout_margin_ms)
        scope = self._scope = self._stack.enter_context(tracer.session_scope(deadline))
        if not self._nested:
            tracer.prepare_connection(scope)
        if _span_context_of(supersedes) is None:
            supersedes = None
        else:
            supersedes.set_attribute(SUPERSEDED_KEY, True)
        if self._nested and outer is not None:
            # The invocation's own context: its span is the request's parent, its session the request's.
            otel_context.attach(outer.work_context or otel_context.get_current())  # put back as the scope closes
            caller = NOTHING_INCOMING
        else:
            caller = self._continue_caller(request, supersedes)
        self.session_id = self._open_session(request, scope, caller)
        attributes: dict[str, Any] = {
            **request.attributes(),
            "honeyhive_event_type": self._options.event_type,
            "honeyhive_event_name": span_name(request.method, None),
        }
        if self._options.capture_event:
            attributes.update(flatten("honeyhive_inputs", request.summary()))
        self.span = tracer.otel_tracer.start_span(
            span_name(request.method, None), kind=otel_trace.SpanKind.SERVER, attributes=attributes, links=caller.links
        )
        otel_context.attach(otel_trace.set_span_in_context(self.span))
        scope.work_context = otel_context.get_current()

    def _continue_caller(self, request: WebRequest, supersedes: Any) -> Incoming:
        """Run in the caller's trace, from the request's headers (where FastAPI's own request span would
        have been, when it stands for that span); returns what the caller's headers continue."""
        base = otel_context.get_current()
        if supersedes is not None:
            parent = getattr(supersedes, "parent", None)  # the SDK span's parent: the request's caller
            base = otel_trace.set_span_in_context(
                otel_trace.NonRecordingSpan(parent) if parent is not None else otel_trace.INVALID_SPAN, base
            )
        caller = incoming((request.carrier(),), batch=False, base=base)
        if caller.problems:
            logger.warning("honeyhive: ignoring trace context in the request's headers: %s", "; ".join(caller.problems))
        otel_context.attach(caller.context or base)  # the scope puts the context back as it closes
        return caller

    def _open_session(self, request: WebRequest, scope: SessionScope, caller: Incoming) -> str | None:
        tracer = self.tracer
        if self._nested:
            # The invocation's session (Mangum under the wrapper, which read the event): the request is part of it.
            self._linked = True
            joined = baggage.get_baggage(SESSION_KEY)
            return str(joined) if joined else None
        candidates = request.session_candidates(
            caller.session, caller.conversation, conversations=self._options.conversation_sessions
        )
        choice = choose_session(candidates, tracer.config.project)
        for rejected in choice.rejected:
            logger.warning(
                "honeyhive: ignoring the session id in the request (%s): %s, value %s; %s",
                rejected.candidate.where,
                rejected.reason,
                quote_prefix(rejected.candidate.value),
                "new session" if choice.chosen is None else f"using the session from {choice.chosen.where}",
            )
        summary = request.summary()
        name = self._session_name
        if callable(name):
            name = name(summary)
        session_name = str(name or self._options.session_name or f"{request.method} {request.path}")
        if choice.session_id is not None:
            self._linked = True  # joined without a start: its spans ask HoneyHive to create it, so named
            return tracer.sessions.activate(choice.session_id, session_name, False)
        return tracer.sessions.start_in_scope(
            scope,
            {
                "session_name": session_name,
                "inputs": summary if self._options.capture_event else None,
                "metadata": {"invocation_id": request.invocation.request_id} if request.invocation.request_id else None,
            },
        )

    def context_headers(self) -> tuple[dict[str, str], frozenset[str]]:
        """The request's context (its span, its session) as headers for the app, and the names of the
        headers they replace (see ``propagation.in_process_headers``); none when tracing did not begin."""
        scope = self._scope
        context = scope.work_context if scope is not None and self.span is not None else None
        return in_process_headers(context) if context is not None else ({}, frozenset())

    def session_header(self) -> str | None:
        """The ``X-Session-ID`` the response carries, if it should carry one (nested in an invocation,
        the wrapper sets it on the invocation's response). A caller may join the session with it after
        this request, so the session is handed on (given no duration measured to this end)."""
        if not self._options.return_session_id or self._nested:
            return None
        session = self._request_session()
        if session is not None and self._scope is not None:
            self._scope.session_handed_on(session)
        return session

    def _request_session(self) -> str | None:
        """The request's session: the one the app made current itself, if it did (the seed's
        ``create_session`` per request), else the middleware's."""
        scope = self._scope
        latest = scope.latest_session() if scope is not None else None
        return latest or self.session_id

    def response_started(self, status: int, route: str | None = None) -> None:
        """The response's status line is out; ``route`` is the app's route template, once routed."""
        try:
            self._status = status
            span = self.span
            if span is None or not span.is_recording():
                return
            span.set_attribute("http.response.status_code", status)
            if route:
                span.set_attribute("http.route", route)
                name = span_name(self._method, route)
                span.update_name(name)
                span.set_attribute("honeyhive_event_name", name)
            if status_is_error(status):
                span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
        except Exception:
            logger.exception("honeyhive: could not record the response's status")

    def body_ended(self, error: BaseException | None = None) -> None:
        """The last of the body is about to leave (or the app failed): end the request's spans and send
        them now, before the platform may freeze or throttle. Once; later calls do nothing."""
        if self._ended:
            return
        self._ended = True
        try:
            self._record(error)
        except Exception:
            logger.exception("honeyhive: could not record the request's outcome")
        scope = self._scope
        if scope is None or self._nested:
            return  # nested: the invocation sends it, once it returns
        try:
            scope.export_by(flush_deadline(self.tracer.config.flush_timeout_ms, scope.deadline))
            self.tracer.flush_scope(scope)
        except Exception:
            logger.exception("honeyhive: could not send the request's telemetry")

    def send_remaining(self) -> None:
        """The app has returned: end the request if its body never did (the client went away), and send
        what ended after the body (a background task's spans, say), before :meth:`close`."""
        self.body_ended()
        scope = self._scope
        if scope is None or self._nested:
            return
        try:
            self.tracer.flush_scope(scope)
        except Exception:
            logger.exception("honeyhive: could not send the request's telemetry")

    def end(self, error: BaseException | None = None) -> None:
        """All of it, where no event loop waits: the body's end, what is left, the scope's close."""
        self.body_ended(error)
        self.send_remaining()
        self.close()

    def close(self) -> None:
        """Put the context back and close the request's scope (sending what it still holds)."""
        try:
            self._stack.close()
        except Exception:
            logger.exception("honeyhive: could not close the request's scope")

    def _record(self, error: BaseException | None) -> None:
        span = self.span
        try:
            # The session's duration is the lifecycle's: from its start_time to the end of its scope.
            enrichment: dict[str, Any] = {}
            if error is not None:
                enrichment["metadata"] = {"error": record_error(span, error)}
            elif self._status is not None and self._options.capture_response:
                enrichment["outputs"] = {"status_code": self._status}
                if span is not None and span.is_recording():
                    span.set_attribute("honeyhive_outputs.status_code", self._status)
            session_id = self._request_session()
            if session_id != self.session_id and session_id and span is not None and span.is_recording():
                # The app made its own session for the request: the request's span is in it, and the
                # session started for it is left with nothing but its start.
                unconfirmed = self._scope is not None and session_id in self._scope.unconfirmed()
                entries = {SESSION_KEY: session_id, AUTO_CREATE_KEY: "true" if unconfirmed else "false"}
                span.set_attributes(session_attributes(entries, self.tracer))
                return
            if self.session_id:
                self.tracer.sessions.enrich_outcome(self.session_id, enrichment, linked=self._linked)
        finally:
            if self._scope is not None:
                self._scope.end_open_spans({OPEN_AT_RETURN: True}, keep=span)
            if span is not None and span.is_recording():
                span.end()


def _span_context_of(span: Any) -> otel_trace.SpanContext | None:
    """The context of a recording span, else None."""
    if span is None or not span.is_recording():
        return None
    context: otel_trace.SpanContext = span.get_span_context()
    return context if context.is_valid else None
