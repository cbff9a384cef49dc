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

import functools
import threading
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from opentelemetry import baggage, trace
from opentelemetry import context as otel_context

from . import budget
from ._log import enable_debug_logging, logger
from .background import Background
from .config import Config, resolve_config
from .export.client import HoneyHiveClient
from .export.credentials import ApiKeyProvider
from .export.pipeline import build_pipeline
from .lifecycle import SessionBlock, SessionLifecycle, beginning_ms, script_name, session_fields, session_update
from .scope import ScopeLimits, SessionScope, current_scope, enter_scope
from .tracer_methods import TracerMethods
from .version import __version__
from .wire import SESSION_KEY

if TYPE_CHECKING:
    from .export.extension import AfterResponseExtension


class HoneyHiveTracer(TracerMethods):
    """One tracer per process: build it with :meth:`init` or, lazily and cached, ``get_tracer()``."""

    def __init__(self, config: Config) -> None:
        if config.verbose:
            enable_debug_logging()
        self.api_keys = ApiKeyProvider(config)
        self.client = HoneyHiveClient(config, self.api_keys)
        self._shut_down = False
        self._beside = Background()
        pipeline = build_pipeline(config, self.client, self, self.flush_scope)
        #: As the pipeline runs it: ``after_response`` falls back to ``invocation`` where it cannot run.
        self.config = pipeline.config
        self.provider = pipeline.provider
        self._invocation_processor = pipeline.invocation_processor
        self._extension = pipeline.extension
        self._continuous = pipeline.continuous
        #: Where an invocation's scope goes as it ends, to be sent after it (the after_response extension,
        #: or a Managed Instances worker's export thread); None: the wrapper sends it before returning.
        self._sent_after = pipeline.extension or pipeline.continuous
        self._limits = ScopeLimits(self.config.invocation_max_spans, self.config.invocation_max_bytes)
        #: The sessions' lifecycle: starts, links, enrichment, and what a scope sends (see ``lifecycle``).
        self.sessions = SessionLifecycle(self, self.config, self.client, self._beside, script_name(), self._flush_spans)
        self.otel_tracer = self.provider.get_tracer("honeyhive_serverless", __version__)
        if self.config.propagate_aws_sdk and not self.config.disable_tracing:
            from .aws_sdk import propagate_aws_sdk  # only under the opt-in: its import is some 60 ms

            propagate_aws_sdk(self.provider)
        if self.config.instrumentors and not self.config.disable_tracing:
            from .instrumentors import apply_instrumentors  # its entry points are read only when asked for

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
        if any(value is not None for value in arguments.values()) or any(item is not None for item in config_objects):
            # The SDK's init surface, only when given: its config class is a frozen dataclass of 32 fields,
            # whose methods are compiled as it is imported (see ``Config``'s docstring for that cost).
            from .sdk_init import resolve_init

            resolved, startup = resolve_init(arguments, config_objects)
        else:  # from the environment alone: get_tracer(), the zero-code handler
            resolved, startup = resolve_config(), {}
        tracer = cls(resolved)
        tracer.sessions.startup.inputs = startup.get("inputs")
        carrier = startup.get("link_carrier")
        linked = None
        if carrier is not None:
            # The start-up context is the carrier's: its trace, and the session it names (the SDK's link).
            remote = tracer._remote(carrier)
            otel_context.attach(remote.context)
            if remote.session and not resolved.session_id:
                linked = remote.session
        if linked is not None:
            tracer.sessions.link_startup_session(linked)
        elif resolved.skip_backend_session_creation:
            tracer.sessions.link_startup_session(resolved.session_id)
        else:
            tracer.sessions.start_startup_session(resolved.session_id)
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

    @property
    def startup_session_id(self) -> str | None:
        """The tracer's own session: spans outside any other join it."""
        return self.sessions.startup.session_id

    @property
    def startup_session_name(self) -> str:
        return self.sessions.startup.name

    @property
    def startup_auto_create(self) -> bool:
        """The start-up session's spans ask HoneyHive to create it (it was not started here)."""
        return self.sessions.startup.auto_create

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
            return self.sessions.start_startup_session(None)
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
            fields = session_fields(session_name, inputs, session_id, metadata, user_properties)
            fields["start_time"] = beginning_ms()  # here, in the caller's context: its span may be the session's
            return self.sessions.obtain(fields, skip_api_call)
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
            fields = session_fields(session_name, inputs, session_id, metadata, user_properties)
            fields["start_time"] = beginning_ms()  # here, in the caller's context: its span may be the session's
            prepare = functools.partial(self.sessions.prepare, fields, skip_api_call, self.sessions.own_scope())
            # Only the request leaves the event loop; the session is activated in this task's context.
            if skip_api_call:
                prepared = prepare()
            else:
                import asyncio  # only for async callers: it costs a cold start some 30 ms

                prepared = await asyncio.get_running_loop().run_in_executor(None, prepare)
            return self.sessions.activate(*prepared)
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
    ) -> SessionBlock:
        """A ``with`` / ``async with`` block with its own session; the outer session is back on exit.

        Spans and ``enrich_session`` calls inside are sent when the block exits.
        """
        return SessionBlock(
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
        queue (the sandbox may freeze next), and in ``after_response`` mode it goes to the extension, on
        Managed Instances to the worker's export thread, which send it after the invocation."""
        after = self._sent_after
        hand_off = functools.partial(after.hand_off, invocation_id) if after and invocation_id else None
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
        if self._sent_after is not None:
            self._sent_after.expect_hand_offs()

    @contextmanager
    def _closing(self, scope: SessionScope) -> Iterator[SessionScope]:
        try:
            with enter_scope(scope):
                yield scope
        finally:
            self.sessions.end_sessions_begun(scope)
            outer = current_scope()
            if outer is not None and outer.owner is self:
                outer.absorb(scope)  # a nested session: its spans leave with the invocation's
            elif scope.hand_off is not None:
                scope.hand_off(scope)
            else:
                self.flush_scope(scope)

    def start_threads(self) -> None:
        """Start the threads requests run on beside the caller, now (during init) rather than in the first
        invocation."""
        self._beside.start()

    def prepare_connection(self, scope: SessionScope) -> None:
        """Beside the handler, as an invocation starts: find a connection the sandbox's freeze (or a load
        balancer's idle timeout) killed now, and open its replacement, rather than at export, where the
        caller waits for the handshakes.

        Not on Managed Instances: nothing freezes there, and the export leaves on the worker's export
        thread, where a connection found dead costs the invocation nothing. The check (three system calls
        per pooled connection) was 14% of the wrapper's own work per invocation there (measured).
        """
        if self._continuous is None:
            self.sessions.prepare_connections(scope, 1)

    def flush_scope(self, scope: SessionScope) -> bool:
        """Send what ``scope`` holds (see ``SessionLifecycle.flush_scope``)."""
        return self.sessions.flush_scope(scope)

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
            update = session_update(
                outputs,
                dict(metadata) if metadata else None,
                inputs,
                metrics=metrics,
                feedback=feedback,
                config=config,
                user_properties=user_properties,
                duration=duration,
            )
            self.sessions.enrich(sid, update)
        except Exception:
            logger.exception("honeyhive: enrich_session failed")

    # -- flushing ---------------------------------------------------------------------------------

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Export everything ended so far (held by the current scope or queued); True when all went."""
        try:
            # Invocations handed to a Managed Instances worker's export thread are sent first.
            sent = self._continuous.drain(time.monotonic() + timeout_millis / 1000) if self._continuous else True
            held = self._invocation_processor.force_flush() if self._invocation_processor else True
            flushed = self.provider.force_flush(timeout_millis) and held
            # Enrichments of sessions that may exist only through the spans just sent follow them.
            return self.sessions.flush_held(time.monotonic() + timeout_millis / 1000) and flushed and sent
        except Exception:
            logger.exception("honeyhive: force_flush failed")
            return False

    def flush(self) -> bool:
        """Alias of :meth:`force_flush`."""
        return self.force_flush()

    def shutdown(self) -> None:
        self._shut_down = True
        if self._continuous is not None:
            self._continuous.drain(time.monotonic() + self.config.flush_timeout_ms / 1000)
        self.provider.shutdown()
        self.sessions.flush_held(time.monotonic() + self.config.flush_timeout_ms / 1000)

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
    from .instrumentors import remove_instrumentors

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
