"""``@with_honeyhive_session``: one HoneyHive session per invocation, created or linked from the event.

>>> from honeyhive_serverless.wrapper import with_honeyhive_session
>>> @with_honeyhive_session
... def handler(event, context):
...     return {"statusCode": 200, "body": "ok"}

Per invocation: find the session the event names (or start one), run the handler inside one
invocation span, send the spans and the merged session enrichment side by side before returning,
within the smaller of ``HH_FLUSH_TIMEOUT_MS`` and the remaining time, and restore the context so the
next warm invocation starts clean. The handler's return value and exceptions pass through unchanged
(an HTTP-shaped response gains an ``X-Session-ID`` header); nothing from tracing reaches the caller.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from typing import Any, TypeVar, cast, overload

from opentelemetry import context as otel_context
from opentelemetry import trace as otel_trace
from opentelemetry.trace import Span, Status, StatusCode

from . import variables as var
from ._log import logger, quote_prefix
from .attributes import flatten, record_error
from .budget import deadline_scope, flush_deadline
from .config import WrapperOptions, detect_platform, resolve_wrapper_options
from .faas.calls import describe_call, streamed_response, streams_after_return, with_session_header
from .faas.facts import InvocationFacts
from .faas.http_event import http_request
from .faas.snapstart import register_restore_hook
from .faas.starts import starts
from .faas.watchdog import watchdog
from .ids import roots_in_trace
from .propagation import Incoming, incoming
from .scope import OPEN_AT_RETURN, SessionScope
from .sessions import Candidate, baggage_candidates, choose_session, value_at
from .tracer import HoneyHiveTracer, get_tracer
from .web.body import BodyEnd

F = TypeVar("F", bound=Callable[..., Any])

TIMEOUT_MESSAGE = "timeout: the invocation was about to reach its deadline"
#: Set on what ``with_honeyhive_session`` returns, so wrapping it again changes nothing.
WRAPPED_MARK = "__honeyhive_session__"
#: The timeout last gasp must have sent everything this long before the platform's deadline.
LAST_GASP_RESERVE_S = 0.02


class InvocationTrace:
    """Tracing around one handler call. Every method contains its own failures."""

    def __init__(
        self,
        tracer: HoneyHiveTracer,
        options: WrapperOptions,
        session_name: str | Callable[[Any, Any], str] | None,
        session_id_from: Callable[[Any], Any] | None,
        session_key_from: Callable[[Any], Any] | None,
        log: Any,
    ) -> None:
        self.tracer = tracer
        self.options = options
        self._session_name = session_name
        self._session_id_from = session_id_from
        self._session_key_from = session_key_from
        self._log = log
        self._stack = ExitStack()
        self.session_id: str | None = None
        self.info: InvocationFacts | None = None
        self.span: Span | None = None
        self._ticket: int | None = None
        self._scope: SessionScope | None = None
        #: Joined a session the event named: its outputs and duration are not this invocation's to set.
        self._linked = False

    def begin(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        info = self.info = describe_call(args, kwargs)
        config = self.tracer.config
        deadline = None
        if info.deadline is not None:
            deadline = info.deadline - config.timeout_margin_ms / 1000
        scope = self._scope = self._stack.enter_context(self.tracer.invocation_scope(deadline, info.invocation_id))
        self.tracer.prepare_connection(scope)
        caller = self._continue_caller(info)
        # Each computed once: the event's JSON form can be large, and both the session and the span use them.
        captured = self._captured(self._event_as_captured(info)) if self.options.capture_event else None
        metadata = info.metadata()
        self.session_id = self._open_session(info, args, scope, captured, metadata, caller)
        if self._log is not None and hasattr(self._log, "append_keys"):
            self._log.append_keys(session_id=self.session_id)
            self._stack.callback(self._log.remove_keys, ["session_id"])
        attributes: dict[str, Any] = {
            **info.attributes(),
            "honeyhive_event_type": self.options.event_type,
            "honeyhive_event_name": info.span_name,
            **flatten("honeyhive_metadata", metadata),
        }
        if self.options.capture_event:
            attributes.update(flatten("honeyhive_inputs.event", captured))
        with roots_in_trace(info.root_trace_id):  # a durable execution's invocations: one trace
            self.span = self.tracer.otel_tracer.start_span(
                info.span_name, kind=otel_trace.SpanKind.SERVER, attributes=attributes, links=caller.links
            )
        token = otel_context.attach(otel_trace.set_span_in_context(self.span))
        scope.work_context = otel_context.get_current()
        self._stack.callback(otel_context.detach, token)
        if deadline is not None:
            invocation_context = contextvars.copy_context()
            self._ticket = watchdog.arm(deadline, lambda: invocation_context.run(self._last_gasp, scope))

    def finish(self, result: Any = None, error: BaseException | None = None, *, respond: bool = True) -> Any:
        """End the invocation's tracing; returns the result to give the caller (given its session
        header unless ``respond`` is false: the response has gone already)."""
        try:
            if self._ticket is not None:
                watchdog.disarm(self._ticket)
            result = self._record_outcome(result, error, respond)
        except Exception:
            logger.exception("honeyhive: could not record the invocation's outcome")
        scope = self._scope
        if scope is not None:
            scope.export_by(flush_deadline(self.tracer.config.flush_timeout_ms, scope.deadline))
        try:
            self._stack.close()  # detach, then close the scope: this sends what it holds
        except Exception:
            logger.exception("honeyhive: could not send the invocation's telemetry")
        return result

    def finish_when_streamed(self, result: Any, context: contextvars.Context) -> Any:
        """The response, when its body streams after the function returns (a Flask generator): its
        session header set now, and the invocation finished, in ``context``, as the body ends, so the
        spans made while it streams leave with the invocation. None when the body does not stream."""
        try:
            info = self.info
            response = streamed_response(info, result) if info is not None else None
            if response is None:
                return None
            if self.session_id and self.options.return_session_id and info is not None:
                response = self._with_session_header(info, response, self.session_id)
            response.response = BodyEnd(
                response.response, context, lambda error: self.finish(response, error, respond=False)
            )
            return response
        except Exception:
            logger.exception("honeyhive: could not follow the streamed response; tracing ends as it returns")
            return None

    def _continue_caller(self, info: InvocationFacts) -> Incoming:
        """Run in the caller's trace: its span (the parent of the invocation span) and its baggage."""
        caller = incoming(info.carriers, batch=info.batch, base=otel_context.get_current())
        if caller.problems:
            logger.warning(
                "honeyhive: ignoring trace context in the %s event (%s): %s",
                info.lookup.trigger,
                caller.where,
                "; ".join(caller.problems),
            )
        if caller.context is not None:
            otel_context.attach(caller.context)  # the invocation scope restores the context on close
        return caller

    def _open_session(
        self,
        info: InvocationFacts,
        args: tuple[Any, ...],
        scope: SessionScope,
        captured_event: Any,
        metadata: dict[str, Any],
        caller: Incoming,
    ) -> str | None:
        """The session ``sessions.choose_session`` picks (see there for the precedence), or a new one."""
        choice = choose_session(self._session_candidates(info, caller), self.tracer.config.project)
        for rejected in choice.rejected:
            candidate = rejected.candidate
            logger.warning(
                "honeyhive: ignoring the %s in the %s event (%s): %s, value %s; %s",
                "conversation key" if candidate.conversation else "session id",
                info.lookup.trigger,
                candidate.where,
                rejected.reason,
                quote_prefix(candidate.value),
                "new session" if choice.chosen is None else f"using the session from {choice.chosen.where}",
            )
        name = self._session_name
        if callable(name):
            name = name(info.event, args[1] if len(args) > 1 else None)
        session_name = str(name or self.options.session_name or info.default_session_name())
        if choice.session_id is not None and choice.chosen is not None:
            # Joined without a start (a conversation's, or one the event or the caller names): its spans
            # ask HoneyHive to create it under this name, and a session that exists already keeps its own.
            self._linked = True
            return self.tracer.sessions.activate(choice.session_id, session_name, False)
        # No round trip before the handler: the start runs beside it (after the response, in after_response).
        return self.tracer.sessions.start_in_scope(
            scope,
            {
                "session_name": session_name,
                "inputs": {"event": captured_event} if self.options.capture_event else None,
                "metadata": metadata,
            },
        )

    def _session_candidates(self, info: InvocationFacts, caller: Incoming) -> list[Candidate]:
        """What may name the session, in order: the user's lookup (replacing the built-in one), else the
        event's, then the caller's baggage (its session, then its conversation)."""
        event = info.event
        path = self.options.session_key_path
        if self._session_id_from is not None:
            first = Candidate(self._session_id_from(event), "session_id_from")
        elif self._session_key_from is not None:
            first = Candidate(self._session_key_from(event), "session_key_from", conversation=True)
        elif path is not None:
            first = Candidate(value_at(event, path), f"{var.SESSION_KEY} {path}", conversation=True)
        else:
            lookup = info.lookup
            usable = not lookup.conversation or self.options.conversation_sessions
            first = Candidate(lookup.candidate if usable else None, lookup.where or "event", lookup.conversation)
        conversations = self.options.conversation_sessions
        return [first, *baggage_candidates(caller.session, caller.conversation, conversations=conversations)]

    def _event_as_captured(self, info: InvocationFacts) -> Any:
        """An HTTP event as the request it carries (``faas.http_event`` on Lambda; a Cloud Functions
        request is described as its request already), its query's credentials replaced by name (a
        bare ``token`` there is one); any other event as it is."""
        event = info.event
        if not info.is_http or not isinstance(event, Mapping):
            return event
        request = http_request(event) if info.platform == "lambda" else dict(event)
        if request is None:
            return event
        query = request.get("query")
        if isinstance(query, Mapping):
            request["query"] = self.tracer.config.redaction.parameters(query)
        return request

    def _captured(self, value: Any) -> Any:
        config = self.tracer.config
        return config.redaction.captured(value, config.max_payload_bytes, identity=self.options.capture_identity)

    def _record_outcome(self, result: Any, error: BaseException | None, respond: bool) -> Any:
        try:
            return self._record(result, error, respond)
        finally:
            # Whatever failed above, the invocation's spans end, to leave with this invocation.
            self._end_spans_left_open()
            if self.span is not None and self.span.is_recording():
                self.span.end()

    def _record(self, result: Any, error: BaseException | None, respond: bool) -> Any:
        span, info = self.span, self.info
        # The session's duration is the lifecycle's: from its start_time to the end of the invocation's scope.
        enrichment: dict[str, Any] = {}
        if error is not None:
            enrichment["metadata"] = {"error": record_error(span, error)}
        elif self.options.capture_response:
            captured = self._captured(result if respond else {"status_code": getattr(result, "status_code", None)})
            enrichment["outputs"] = {"response": captured}
            if span is not None and span.is_recording():
                span.set_attributes(flatten("honeyhive_outputs.response", captured))
        if self.session_id:
            self.tracer.sessions.enrich_outcome(self.session_id, enrichment, linked=self._linked)
            if respond and error is None and self.options.return_session_id and info is not None and info.is_http:
                result = self._with_session_header(info, result, self.session_id)
        return result

    def _with_session_header(self, info: InvocationFacts, response: Any, session_id: str) -> Any:
        """``response`` carrying ``session_id`` in ``X-Session-ID``: a caller may join the session with it
        after this invocation, so the session is handed on (given no duration measured to this end)."""
        if self._scope is not None:
            self._scope.session_handed_on(session_id)
        return with_session_header(info, response, session_id)

    def _end_spans_left_open(self) -> None:
        """End what the handler left open (a stream it returned before reading to the end, say): a span
        ended after the invocation would leave with nothing, or with a later invocation's request."""
        if self._scope is not None:
            self._scope.end_open_spans({OPEN_AT_RETURN: True}, keep=self.span)

    def _last_gasp(self, scope: SessionScope) -> None:
        """Shortly before the deadline: end what is still open, marked timeout, and send it all now."""
        if scope.closed:
            return
        if self.info is not None and self.info.deadline is not None:
            # The margin is this export's budget.
            scope.export_by(
                flush_deadline(self.tracer.config.flush_timeout_ms, self.info.deadline, LAST_GASP_RESERVE_S)
            )
        # This runs in a copy of the invocation's context, whose budget has just run out: the margin is
        # the budget now, for spans exported as they end (immediate mode) as for the rest.
        with deadline_scope(scope.deadline):
            scope.end_open_spans(
                {"honeyhive_error": TIMEOUT_MESSAGE, "honeyhive.timeout": True},
                Status(StatusCode.ERROR, TIMEOUT_MESSAGE),
            )
            if self.session_id:
                scope.merge_enrichment(self.session_id, {"metadata": {"error": TIMEOUT_MESSAGE, "timeout": True}})
            self.tracer.flush_scope(scope)


@overload
def with_honeyhive_session(handler: F, /) -> F: ...


@overload
def with_honeyhive_session(
    *,
    session_name: str | Callable[[Any, Any], str] | None = None,
    session_id_from: Callable[[Any], Any] | None = None,
    session_key_from: Callable[[Any], Any] | None = None,
    conversation_sessions: bool | None = None,
    capture_event: bool | None = None,
    capture_response: bool | None = None,
    capture_identity: bool | None = None,
    event_type: str | None = None,
    tracer: HoneyHiveTracer | None = None,
    return_session_id: bool | None = None,
    logger: Any = None,
) -> Callable[[F], F]: ...


def with_honeyhive_session(
    handler: F | None = None,
    /,
    *,
    session_name: str | Callable[[Any, Any], str] | None = None,
    session_id_from: Callable[[Any], Any] | None = None,
    session_key_from: Callable[[Any], Any] | None = None,
    conversation_sessions: bool | None = None,
    capture_event: bool | None = None,
    capture_response: bool | None = None,
    capture_identity: bool | None = None,
    event_type: str | None = None,
    tracer: HoneyHiveTracer | None = None,
    return_session_id: bool | None = None,
    logger: Any = None,
) -> F | Callable[[F], F]:
    """Trace each invocation of a Lambda or Cloud Functions handler in its own HoneyHive session.

    Options (argument > ``HH_*`` variable > default): ``session_name`` (text, or a callable of
    ``(event, context)``; default ``lambda-<function name>``), ``session_id_from`` (a callable of the
    event that replaces the built-in lookup), ``session_key_from`` (the same, returning a conversation
    key: any string, made a session id per conversation; or ``HH_SESSION_KEY``, a dotted path into the
    event), ``conversation_sessions`` (``HH_CONVERSATION_SESSIONS``, on: Bedrock Agents, Lex V2 and
    Connect conversations are sessions), ``capture_event`` / ``capture_response``
    (``HH_CAPTURE_EVENT`` / ``HH_CAPTURE_RESPONSE``, on; redacted, see ``redaction``; capped by
    ``HH_MAX_PAYLOAD_BYTES``; an HTTP event is captured as its request), ``capture_identity``
    (``HH_CAPTURE_IDENTITY``, off: an authorizer's claims and the identity block are left out),
    ``event_type`` of the invocation span (``chain``), ``tracer`` (``get_tracer()``),
    ``return_session_id`` (``X-Session-ID`` on HTTP responses, on), ``logger`` (a Powertools Logger
    that gets ``session_id`` as a key per invocation).
    """
    options = resolve_wrapper_options(
        capture_event=capture_event,
        capture_response=capture_response,
        return_session_id=return_session_id,
        event_type=event_type,
        session_name=session_name if isinstance(session_name, str) else None,
        conversation_sessions=conversation_sessions,
        capture_identity=capture_identity,
    )
    if session_id_from is not None and session_key_from is not None:
        raise ValueError("with_honeyhive_session: give session_id_from or session_key_from, not both")
    log = logger

    def decorate(function: F) -> F:
        if getattr(function, WRAPPED_MARK, False):
            return function  # already traced (say, decorated and also redirected): one session, not two
        starts.mark_initialised()
        starts.watch_handler_import()
        register_restore_hook()
        active = tracer
        if active is None and detect_platform() != "dev":
            # Pay for the tracer while the sandbox initialises (proactive init, provisioned concurrency
            # and SnapStart snapshots then hide it), not in the first invocation; the after_response
            # extension can only register then.
            active = get_tracer()
            # Thread starts cost the first invocation some 3 ms (measured): paid here, during init.
            active.start_threads()
            watchdog.start()
        if active is not None:
            # Before the first INVOKE reaches the extension: it then waits for each invocation's hand-off.
            active.expect_hand_offs()

        def begin(args: tuple[Any, ...], kwargs: dict[str, Any]) -> InvocationTrace | None:
            if (tracer or get_tracer()).config.disable_tracing:
                return None  # the kill switch: the handler is called as it is
            try:
                invocation = InvocationTrace(
                    tracer or get_tracer(), options, session_name, session_id_from, session_key_from, log
                )
            except Exception:
                _log_failure()
                return None
            try:
                invocation.begin(args, kwargs)
            except Exception:
                _log_failure()
            return invocation

        if inspect.iscoroutinefunction(function):

            @functools.wraps(function)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                invocation = begin(args, kwargs)
                if invocation is None:
                    return await function(*args, **kwargs)
                try:
                    result = await function(*args, **kwargs)
                except BaseException as error:
                    invocation.finish(error=error)
                    raise
                return invocation.finish(result)

            setattr(async_wrapper, WRAPPED_MARK, True)
            return cast(F, async_wrapper)

        def call(context: contextvars.Context | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
            invocation = begin(args, kwargs)
            if invocation is None:
                return function(*args, **kwargs)
            try:
                result = function(*args, **kwargs)
            except BaseException as error:
                invocation.finish(error=error)
                raise
            if context is not None:
                streamed = invocation.finish_when_streamed(result, context)
                if streamed is not None:
                    return streamed
            return invocation.finish(result)

        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if streams_after_return(args):
                # A context of its own: the invocation may end after this returns, as the body ends,
                # and what it attaches meanwhile must never be the server thread's.
                context = contextvars.copy_context()
                return context.run(call, context, args, kwargs)
            return call(None, args, kwargs)

        setattr(wrapper, WRAPPED_MARK, True)
        return cast(F, wrapper)

    return decorate(handler) if handler is not None else decorate


def _log_failure() -> None:
    logger.exception("honeyhive: could not start tracing this invocation; the handler runs untraced")
