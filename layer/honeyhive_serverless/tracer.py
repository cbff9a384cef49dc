"""``HoneyHiveTracer``: HoneyHive's SDK surface on a lean OpenTelemetry pipeline.

The method names are the SDK's, so code written from HoneyHive's docs reads the same; what differs is
underneath: one pooled connection, sessions scoped so they never leak, and export modes made for
runtimes that freeze.

>>> from honeyhive_serverless import HoneyHiveTracer
>>> tracer = HoneyHiveTracer.init(project="demo", test_mode=True)
>>> with tracer.with_session("job") as session_id:
...     tracer.enrich_session(metadata={"items": 3})
>>> len(session_id)
36
"""

from __future__ import annotations

import contextvars
import functools
import os
import sys
import threading
import warnings
from collections.abc import Iterator, Mapping, MutableMapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager, contextmanager
from types import TracebackType
from typing import Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context
from opentelemetry.trace import INVALID_SPAN, Link, Span, SpanKind, use_span

from . import budget, propagation
from ._log import enable_debug_logging, logger
from .attributes import NAMESPACES, enrichment_attributes, to_json
from .background import Background, wait_all
from .carriers import header_carrier
from .config import Config
from .export.client import HoneyHiveClient
from .export.credentials import ApiKeyProvider
from .export.extension import AfterResponseExtension
from .export.pipeline import build_pipeline
from .ids import new_session_id
from .instrumentors import apply_instrumentors, remove_instrumentors
from .scope import ScopeLimits, SessionScope, current_scope, enter_scope
from .sdk_init import resolve_init
from .version import __version__
from .wire import AUTO_CREATE_KEY, SESSION_KEY, SESSION_NAME_KEY


class HoneyHiveTracer:
    """One tracer per process: build it with :meth:`init` or, lazily and cached, ``get_tracer()``."""

    def __init__(self, config: Config) -> None:
        if config.verbose:
            enable_debug_logging()
        self.api_keys = ApiKeyProvider(config)
        self.client = HoneyHiveClient(config, self.api_keys)
        self.startup_session_id: str | None = config.session_id
        self.startup_session_name: str | None = config.session_name
        #: The ``inputs`` given to :meth:`init`: the start-up session's (and :meth:`session_start`'s).
        self.startup_session_inputs: dict[str, Any] | None = None
        self._warned_local_session = False
        self._shut_down = False
        self._beside = Background()
        pipeline = build_pipeline(config, self.client, self, self.flush_scope)
        #: As the pipeline runs it: ``after_response`` falls back to ``invocation`` where it cannot run.
        self.config = pipeline.config
        self.provider = pipeline.provider
        self._invocation_processor = pipeline.invocation_processor
        self._extension = pipeline.extension
        self._limits = ScopeLimits(self.config.invocation_max_spans, self.config.invocation_max_bytes)
        self.otel_tracer = self.provider.get_tracer("honeyhive_serverless", __version__)
        if self.config.propagate_aws_sdk and not self.config.disable_tracing:
            from .aws_sdk import propagate_aws_sdk  # only under the opt-in: its import is some 60 ms

            propagate_aws_sdk(self.provider)
        if self.config.instrumentors and not self.config.disable_tracing:
            apply_instrumentors(self.config.instrumentors, self.provider)
        logger.debug(
            "honeyhive: tracer ready: export mode %s%s, server %s, key from %s",
            self.config.export_mode,
            " (tracing disabled)" if self.config.disable_tracing else "",
            self.config.server_url,
            self.api_keys.source_kind,
        )

    @classmethod
    def init(
        cls,
        api_key: str | None = None,
        project: str | None = None,
        source: str | None = None,
        server_url: str | None = None,
        session_name: str | None = None,
        session_id: str | None = None,
        disable_batch: bool | None = None,
        test_mode: bool | None = None,
        skip_backend_session_creation: bool | None = None,
        export_mode: str | None = None,
        *,
        instrumentors: str | Sequence[str] | None = None,
        config: object = None,
        session_config: object = None,
        evaluation_config: object = None,
        ingestion_api_key: str | None = None,
        inputs: dict[str, Any] | None = None,
        link_carrier: Mapping[str, Any] | None = None,
        disable_tracing: bool | None = None,
        disable_http_tracing: bool | None = None,
        verbose: bool | None = None,
        span_name_filters: object = None,
        max_attributes: int | None = None,
        max_events: int | None = None,
        max_links: int | None = None,
        max_span_size: int | None = None,
        preserve_core_attributes: bool | None = None,
        cache_enabled: bool | None = None,
        cache_max_size: int | None = None,
        cache_ttl: float | None = None,
        cache_cleanup_interval: float | None = None,
        requests_session: object = None,
        is_evaluation: bool | None = None,
        run_id: str | None = None,
        dataset_id: str | None = None,
        datapoint_id: str | None = None,
    ) -> HoneyHiveTracer:
        """Build a tracer; each setting is the argument, else its ``HH_*`` variable, else the default.

        Takes every keyword of the SDK's ``HoneyHiveTracer.init``, and its ``config=``,
        ``session_config=`` and ``evaluation_config=`` objects (keywords win over their fields); those
        with no effect here warn once, in one line. Beside them, ``export_mode`` and ``instrumentors``
        (``HH_INSTRUMENTORS``: names or ``"all"``, applied with this tracer's provider before ``init``
        returns). Makes no network call, unless it must create the
        start-up session (outside Lambda and Cloud Functions, when ``skip_backend_session_creation`` is
        not set). Raises ``ValueError`` for a bad explicit argument; a bad environment variable only
        warns and disables export.
        """
        arguments = dict(locals())  # every keyword above, by name: resolve_init sorts them
        del arguments["cls"]
        if config is None and api_key is not None and not isinstance(api_key, str):
            # The SDK's first positional parameter is ``config``: HoneyHiveTracer.init(TracerConfig(...)).
            arguments["config"], arguments["api_key"] = api_key, None
        config_objects = [arguments.pop(name) for name in ("config", "evaluation_config", "session_config")]
        resolved, startup = resolve_init(arguments, config_objects)
        tracer = cls(resolved)
        tracer.startup_session_inputs = startup.get("inputs")
        carrier = startup.get("link_carrier")
        linked = False
        if carrier is not None:
            # The start-up context is the carrier's: its trace, and the session it names (the SDK's link).
            remote = tracer._remote(carrier)
            otel_context.attach(remote.context)
            if remote.session and not resolved.session_id:
                tracer.startup_session_id, linked = remote.session, True
        if not resolved.skip_backend_session_creation and not linked:
            tracer._start_startup_session(resolved.session_id)
        if _global_provider_unset():
            trace.set_tracer_provider(tracer.provider)
        return tracer

    @classmethod
    def reset(cls) -> None:
        """Forget the process's cached tracer (``reset_tracer()``); the next ``get_tracer()`` rebuilds it."""
        reset_tracer()

    @classmethod
    def flush_all(cls, timeout_millis: float = 30000) -> bool:
        """Flush the current tracer (the open scope's, else the process's, when built); True when all went."""
        tracer = _scope_tracer() or _cached
        return tracer.force_flush(int(timeout_millis)) if tracer is not None else True

    # -- the SDK's properties -----------------------------------------------------------------------

    @property
    def is_initialized(self) -> bool:
        """True from construction until :meth:`shutdown`."""
        return not self._shut_down

    @property
    def is_test_mode(self) -> bool:
        return self.config.test_mode

    @property
    def project_name(self) -> str | None:
        return self.config.project

    @property
    def source_environment(self) -> str:
        return self.config.source

    # -- sessions ---------------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        """The session spans started now would join: the request-scoped one, else the start-up one."""
        current = baggage.get_baggage(SESSION_KEY)
        return str(current) if current else self.startup_session_id

    def session_start(self) -> str | None:
        """Start a new start-up session (the tracer's, which spans outside any session join) and return
        its id. Deprecated, as in the SDK: it is shared by concurrent requests; use :meth:`create_session`.
        """
        warnings.warn(
            "HoneyHiveTracer.session_start() is deprecated: its session is the tracer's, shared by concurrent "
            "requests; use create_session()",
            DeprecationWarning,
            stacklevel=2,
        )
        try:
            return self._start_startup_session(None)
        except Exception:
            logger.exception("honeyhive: session_start failed")
            return None

    def create_session(
        self,
        session_name: str | None = None,
        inputs: dict[str, Any] | None = None,
        session_id: str | None = None,
        skip_api_call: bool = False,
        metadata: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
    ) -> str | None:
        """Start (or, with ``skip_api_call``, link) a session and make it current in this context.

        Always returns a usable id: if HoneyHive cannot be reached the id is made locally and the spans
        say so (``honeyhive.session_auto_create``).
        """
        try:
            fields = _session_fields(session_name, inputs, session_id, metadata, user_properties)
            return self._activate(*self._obtain_session(fields, skip_api_call), session_name)
        except Exception:  # tracing never breaks the caller
            logger.exception("honeyhive: create_session failed")
            return None

    async def acreate_session(
        self,
        session_name: str | None = None,
        inputs: dict[str, Any] | None = None,
        session_id: str | None = None,
        skip_api_call: bool = False,
        metadata: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
    ) -> str | None:
        """:meth:`create_session` without blocking the event loop; the session is current in this task."""
        try:
            fields = _session_fields(session_name, inputs, session_id, metadata, user_properties)
            obtain = functools.partial(self._obtain_session, fields, skip_api_call)
            # Only the request leaves the event loop; the session is activated in this task's context.
            if skip_api_call:
                obtained = obtain()
            else:
                import asyncio  # only for async callers: it costs a cold start some 30 ms

                obtained = await asyncio.get_running_loop().run_in_executor(None, obtain)
            return self._activate(*obtained, session_name)
        except Exception:
            logger.exception("honeyhive: acreate_session failed")
            return None

    def with_session(
        self,
        session_name: str | None = None,
        inputs: dict[str, Any] | None = None,
        session_id: str | None = None,
        skip_api_call: bool = False,
        metadata: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
    ) -> _SessionBlock:
        """A ``with`` / ``async with`` block with its own session; the outer session is back on exit.

        Spans and ``enrich_session`` calls inside are sent when the block exits.
        """
        return _SessionBlock(
            self, dict(session_name=session_name, inputs=inputs, session_id=session_id,
                       skip_api_call=skip_api_call, metadata=metadata, user_properties=user_properties)
        )  # fmt: skip

    @contextmanager
    def session_scope(self, deadline: float | None = None) -> Iterator[SessionScope]:
        """A scope whose spans and enrichment are sent when it closes, within ``deadline``.

        On exit the context is what it was on entry, whatever happened inside. A scope nested in
        another of the same tracer hands what it holds to the outer one instead of sending it.
        """
        with self._closing(SessionScope(self, deadline, limits=self._limits)) as scope:
            yield scope

    @contextmanager
    def invocation_scope(self, deadline: float | None, invocation_id: str | None) -> Iterator[SessionScope]:
        """:meth:`session_scope` for one invocation of a wrapped handler: on close it drains the batch
        queue (the sandbox may freeze next), and in ``after_response`` mode it goes to the extension,
        which sends it after the response."""
        extension = self._extension
        hand_off = functools.partial(extension.hand_off, invocation_id) if extension and invocation_id else None
        scope = SessionScope(self, deadline, limits=self._limits, hand_off=hand_off, drain_queue=True)
        with self._closing(scope):
            yield scope

    @property
    def after_response(self) -> AfterResponseExtension | None:
        """The in-process Lambda extension that exports after the response (``after_response`` mode)."""
        return self._extension

    def expect_hand_offs(self) -> None:
        """A handler is wrapped with this tracer, during init: in ``after_response`` mode the extension
        now waits for each invocation's hand-off before it lets the sandbox freeze."""
        if self._extension is not None:
            self._extension.expect_hand_offs()

    @contextmanager
    def _closing(self, scope: SessionScope) -> Iterator[SessionScope]:
        try:
            with enter_scope(scope):
                yield scope
        finally:
            outer = current_scope()
            if outer is not None and outer.owner is self:
                outer.absorb(scope)  # a nested session: its spans leave with the invocation's
            elif scope.hand_off is not None:
                scope.hand_off(scope)
            else:
                self.flush_scope(scope)

    def join_conversation(self, session_id: str, session_name: str | None = None) -> str | None:
        """Make a conversation's session current without a request. Its first invocation's spans ask
        HoneyHive to create it (``honeyhive.session_auto_create``, with ``session_name``); the later
        ones join it, as HoneyHive keeps the first."""
        try:
            return self._activate(session_id, True, session_name)
        except Exception:  # tracing never breaks the caller
            logger.exception("honeyhive: join_conversation failed")
            return None

    def start_threads(self) -> None:
        """Start the threads requests run on beside the caller, now (during init) rather than in the first
        invocation."""
        self._beside.start()

    def prepare_connection(self, scope: SessionScope) -> None:
        """Beside the handler, as an invocation starts: find a connection the sandbox's freeze (or a load
        balancer's idle timeout) killed now, and open its replacement, rather than at export, where the
        caller waits for the handshakes."""
        wanted = self.client.reserve_connections()  # now: a quick handler's export then waits for them
        if wanted:
            self._beside.submit(self.client.open_connections, wanted, scope.deadline)

    def create_session_in_scope(
        self,
        scope: SessionScope,
        session_name: str | None = None,
        inputs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        """Make a new session current now without waiting for HoneyHive: the id is made here (HoneyHive
        takes a caller's id) and the start request runs beside the handler's own work, or, when the
        scope is handed off, leaves with the rest of it after the response. Either way it is done
        before anything naming the session is sent. The handler wrapper starts its sessions this way.
        """
        fields = _session_fields(session_name, inputs, new_session_id(), metadata, None)
        body = self._session_body(fields)
        if scope.hand_off is not None:
            scope.defer_session_start(body)
        else:
            request = self._beside.submit(self.client.start_session, body, scope.deadline)
            scope.session_started(body["session_id"], request)
        return self._activate(fields["session_id"], False, session_name)

    def flush_scope(self, scope: SessionScope) -> bool:
        """Send what ``scope`` holds: deferred session starts first (the events name those sessions),
        then the spans and the session enrichment side by side."""
        with budget.deadline_scope(scope.deadline):
            return self._flush_scope(scope)

    def _flush_scope(self, scope: SessionScope) -> bool:
        for body in scope.take_session_starts():
            self._note_session_start(body["session_id"], self.client.start_session(body, scope.deadline), scope)
        for session_id, request in scope.take_starts_in_flight():
            started = request.result(budget.timeout_s(self.config.flush_timeout_ms, scope.deadline))
            self._note_session_start(session_id, started, scope)
        enrichments = scope.take_enrichments()
        if not enrichments:
            return self._flush_spans(scope)
        sent = [
            self._beside.submit(self._send_enrichment, sid, body, scope.deadline) for sid, body in enrichments.items()
        ]
        ok = self._flush_spans(scope)
        # Each request is bounded by the deadline already; this wait only keeps the order of events.
        wait_all(sent, scope.deadline)
        return ok

    def enrich_session(
        self,
        outputs: Any = None,
        metadata: dict[str, Any] | None = None,
        metrics: dict[str, Any] | None = None,
        feedback: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        user_properties: dict[str, Any] | None = None,
        inputs: Any = None,
        session_id: str | None = None,
        duration: float | None = None,
    ) -> None:
        """Add to the session (``PUT /events``); inside a scope, merged and sent once when it closes."""
        try:
            sid = session_id or self.session_id
            if not sid:
                logger.warning("honeyhive: enrich_session called with no current session; ignored")
                return
            body: dict[str, Any] = {
                "outputs": outputs if isinstance(outputs, dict) or outputs is None else {"result": outputs},
                "metadata": dict(metadata) if metadata else None,
                "metrics": metrics,
                "feedback": feedback,
                "config": config,
                "user_properties": user_properties,
                "duration": duration,
            }
            if inputs is not None:  # the SDK folds inputs into metadata
                body["metadata"] = {**(body["metadata"] or {}), "inputs": inputs}
            body = {key: value for key, value in body.items() if value is not None}
            scope = current_scope()
            if scope is not None and scope.owner is self:
                scope.merge_enrichment(sid, body)
            else:
                self._send_enrichment(sid, body, None)
        except Exception:
            logger.exception("honeyhive: enrich_session failed")

    def enrich_session_outcome(self, session_id: str, outcome: dict[str, Any], *, linked: bool) -> None:
        """An invocation's (or a web request's) outcome (``duration``, ``outputs``, an error's
        ``metadata``) onto its session. A linked session spans many of them: it gets this one's error and
        nothing else (outputs and duration stay on the span), which also spares a request."""
        if linked:
            if "metadata" not in outcome:
                return
            outcome = {"metadata": outcome["metadata"]}
        self.enrich_session(session_id=session_id, **outcome)

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

    # -- flushing ---------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything ended so far (held by the current scope or queued); True when all went."""
        try:
            held = self._invocation_processor.force_flush() if self._invocation_processor else True
            return self.provider.force_flush(timeout_millis) and held
        except Exception:
            logger.exception("honeyhive: force_flush failed")
            return False

    def flush(self) -> bool:
        """Alias of :meth:`force_flush`."""
        return self.force_flush()

    def shutdown(self) -> None:
        self._shut_down = True
        self.provider.shutdown()

    def drop_connections(self) -> None:
        """Close pooled connections (after a SnapStart restore they are dead); the next request opens one."""
        self.client.close()

    # -- internals --------------------------------------------------------------------------------

    def _flush_spans(self, scope: SessionScope) -> bool:
        if self._invocation_processor is not None:
            return self._invocation_processor.flush_scope(scope)
        if not scope.drain_queue:
            return True  # immediate mode sent each span as it ended; batch mode keeps batching
        # The batch processor's queue, drained before the invocation returns: the sandbox may freeze next.
        timeout_s = budget.timeout_s(self.config.flush_timeout_ms, scope.deadline)
        return self.provider.force_flush(max(1, int(timeout_s * 1000)))

    def _send_enrichment(self, session_id: str, body: dict[str, Any], deadline: float | None) -> None:
        self.client.update_event({"event_id": session_id, **body}, deadline)

    def _obtain_session(self, fields: dict[str, Any], skip_api_call: bool) -> tuple[str, bool]:
        if skip_api_call:
            session_id = fields.get("session_id") or new_session_id()
            logger.debug("honeyhive: session %s linked", session_id)
            return session_id, False
        return self._start_session(fields)

    def _start_startup_session(self, session_id: str | None) -> str:
        name = self.config.session_name or _script_name()
        self.startup_session_name = name
        fields = {"session_name": name, "session_id": session_id, "inputs": self.startup_session_inputs}
        started, _ = self._start_session(fields)
        self.startup_session_id = started
        return started

    def _start_session(self, fields: dict[str, Any]) -> tuple[str, bool]:
        """POST /session/start; (session id, whether it had to be made locally)."""
        requested = fields.get("session_id")
        body = self._session_body(fields)
        if self.config.offline:
            return requested or new_session_id(), False
        started = self.client.start_session(body)
        if started:
            self._warned_local_session = False
            logger.debug("honeyhive: session %s started", started)
            return started, False
        self._warn_local_session()
        return requested or new_session_id(), True

    def _note_session_start(self, session_id: str, started: str | None, scope: SessionScope) -> None:
        """After a start that ran beside the handler: if it failed, the scope's spans say so."""
        if started:
            logger.debug("honeyhive: session %s started", session_id)
        if started or self.config.offline:
            self._warned_local_session = False
            return
        scope.mark_auto_created(session_id)
        self._warn_local_session()

    def _warn_local_session(self) -> None:
        if not self._warned_local_session and self.config.has_key_source and not self.config.export_disabled:
            self._warned_local_session = True
            logger.warning("honeyhive: could not start a session at HoneyHive; using locally made session ids")

    def _session_body(self, fields: dict[str, Any]) -> dict[str, Any]:
        """The ``session`` object of ``POST /session/start``, None values left out (as the SDK does)."""
        body = {"project": self.config.project, "source": self.config.source, **fields}
        body = {key: value for key, value in body.items() if value is not None}
        body.setdefault("session_name", self.startup_session_name or "session")
        return body

    def _activate(self, session_id: str, auto_created: bool, session_name: str | None) -> str:
        ctx = baggage.set_baggage(SESSION_KEY, session_id)
        ctx = baggage.set_baggage(AUTO_CREATE_KEY, "true" if auto_created else "false", ctx)
        if session_name:
            ctx = baggage.set_baggage(SESSION_NAME_KEY, session_name, ctx)
        otel_context.attach(ctx)
        scope = current_scope()
        if scope is not None and scope.owner is self:
            scope.note_session(session_id)
        return session_id

    # -- the SDK's span and baggage methods --------------------------------------------------------------

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


class _SessionBlock(AbstractContextManager[str | None], AbstractAsyncContextManager[str | None]):
    """What ``with_session`` returns: a scope plus a session, usable with ``with`` and ``async with``."""

    def __init__(self, tracer: HoneyHiveTracer, session_args: dict[str, Any]) -> None:
        self._tracer = tracer
        self._session_args = session_args
        self._scope: AbstractContextManager[SessionScope] | None = None

    def __enter__(self) -> str | None:
        self._scope = self._tracer.session_scope()
        self._scope.__enter__()
        return self._tracer.create_session(**self._session_args)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._scope is not None:
            self._scope.__exit__(exc_type, exc, tb)

    async def __aenter__(self) -> str | None:
        self._scope = self._tracer.session_scope()
        self._scope.__enter__()
        return await self._tracer.acreate_session(**self._session_args)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)


def _session_fields(
    session_name: str | None,
    inputs: dict[str, Any] | None,
    session_id: str | None,
    metadata: dict[str, Any] | None,
    user_properties: dict[str, Any] | None,
) -> dict[str, Any]:
    return {
        "session_name": session_name,
        "inputs": inputs,
        "session_id": session_id,
        "metadata": metadata,
        "user_properties": user_properties,
    }


def _baggage_key(key: str) -> str:
    """A baggage key as the SDK's ``set_baggage`` spells it."""
    return key.replace("-", "_").replace(".", "_").replace(" ", "_").lower()


def _script_name() -> str:
    name = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else ""
    return os.path.splitext(name)[0] or "session"


def _global_provider_unset() -> bool:
    # The API's default is a proxy; any real provider means the application chose one already.
    return isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)


# -- the lazily built, cached tracer ------------------------------------------------------------------

_cached: HoneyHiveTracer | None = None
_build_lock = threading.Lock()


def get_tracer() -> HoneyHiveTracer:
    """The process's tracer, built from the environment on first use and cached (thread-safe).

    Never raises: a bad environment only warns, and the tracer then exports nothing.

    >>> from honeyhive_serverless import get_tracer
    >>> get_tracer() is get_tracer()
    True
    """
    global _cached  # noqa: PLW0603 - the cache is the point of this function
    tracer = _cached
    if tracer is not None:
        return tracer
    with _build_lock:
        if _cached is None:
            try:
                _cached = HoneyHiveTracer.init()
            except Exception:
                logger.exception("honeyhive: could not build the tracer from the environment")
                _cached = HoneyHiveTracer(Config(export_disabled=True))
        return _cached


def cached_tracer() -> HoneyHiveTracer | None:
    """The tracer ``get_tracer()`` built, if it has been built."""
    return _cached


def reset_tracer() -> None:
    """Forget the cached tracer (after a fork, or between tests); the next ``get_tracer()`` rebuilds, and
    applies its own ``HH_INSTRUMENTORS``: those applied for this one are removed."""
    global _cached
    with _build_lock:
        previous, _cached = _cached, None
    if previous is not None:
        previous.shutdown()
    remove_instrumentors()


def set_default_tracer(tracer: HoneyHiveTracer | None) -> None:
    """Make ``tracer`` the process's tracer: what ``get_tracer()``, ``@trace`` and the handler wrapper
    use. ``None`` forgets it (the next ``get_tracer()`` builds one from the environment). The tracer it
    replaces is not shut down: it may be the caller's own."""
    global _cached  # noqa: PLW0603 - the process's tracer is this module's cache
    with _build_lock:
        _cached = tracer


def current_tracer() -> HoneyHiveTracer:
    """The tracer of the innermost open scope, else the process's tracer."""
    return _scope_tracer() or get_tracer()


def built_tracer() -> HoneyHiveTracer | None:
    """:func:`current_tracer` if one is built: never builds one (a caller that only propagates context,
    such as a client invoking a function, must not start a session of its own)."""
    return _scope_tracer() or _cached


def _scope_tracer() -> HoneyHiveTracer | None:
    scope = current_scope()
    return scope.owner if scope is not None and isinstance(scope.owner, HoneyHiveTracer) else None
