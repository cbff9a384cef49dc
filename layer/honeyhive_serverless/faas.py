"""Facts about one invocation: what started it, which session it names, and whether it was cold.

``describe_call`` turns a handler's arguments into an :class:`Invocation`, for a Lambda
``(event, context)``, a Cloud Functions HTTP request or a CloudEvent; the last two live in
:mod:`.gcf`, imported only when such an argument shows up.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .events import FAAS_TRIGGER, SessionLookup, find_session_id

#: A sandbox whose first event comes this long after its init was proactively initialised.
PROACTIVE_INIT_AFTER_S = 1.0
INIT_WATCH_INTERVAL_S = 0.005
INIT_WATCH_LIMIT_S = 10.0


@dataclass
class Invocation:
    """One call of a wrapped handler, described for the session and the invocation span."""

    platform: str
    event: Any
    lookup: SessionLookup
    invocation_id: str | None = None
    function_name: str | None = None
    function_version: str | None = None
    resource_id: str | None = None
    region: str | None = None
    memory_mb: str | None = None
    #: ``time.monotonic()`` at which the platform kills the invocation, when it says.
    deadline: float | None = None
    start: str = "warm"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cold_start(self) -> bool:
        return self.start in ("cold", "restored")

    @property
    def is_http(self) -> bool:
        return FAAS_TRIGGER.get(self.lookup.trigger) == "http"

    def default_session_name(self) -> str:
        prefix = "cloud-function" if self.platform == "cloud-function" else "lambda"
        return f"{prefix}-{self.function_name or 'function'}"

    def attributes(self) -> dict[str, str | bool]:
        """OpenTelemetry FaaS attributes of the invocation span."""
        values: dict[str, str | bool | None] = {
            "faas.invocation_id": self.invocation_id,
            "faas.coldstart": self.cold_start,
            "faas.trigger": FAAS_TRIGGER.get(self.lookup.trigger, "other"),
            "faas.name": self.function_name,
            "faas.version": self.function_version,
            "faas.max_memory": self.memory_mb,
            "cloud.provider": "gcp" if self.platform == "cloud-function" else "aws",
            "cloud.resource_id": self.resource_id,
            "cloud.region": self.region,
        }
        return {key: value for key, value in values.items() if value is not None}

    def metadata(self) -> dict[str, Any]:
        """The same facts as HoneyHive session metadata."""
        values: dict[str, Any] = {
            "request_id": self.invocation_id,
            "function_name": self.function_name,
            "function_version": self.function_version,
            "memory_mb": self.memory_mb,
            "region": self.region,
            "trigger": self.lookup.trigger,
            "cold_start": self.cold_start,
            "start": self.start,
            "resource_id": self.resource_id,
            **self.extra,
        }
        return {key: value for key, value in values.items() if value is not None}


class StartTracker:
    """Tells the first invocation of a sandbox from the rest, as callers experience it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._initialised_at = time.monotonic()
        self._first = True
        self._restored = False
        self._watching = False

    def mark_initialised(self) -> None:
        """Called while the sandbox initialises (a handler is wrapped): the clock for proactive init."""
        with self._lock:
            if self._first:
                self._initialised_at = time.monotonic()

    def watch_handler_import(self, env: Mapping[str, str] | None = None) -> None:
        """Mark the end of init when the module ``_HANDLER`` names has finished importing.

        A handler is usually decorated part-way through that import; work below it (loading a model,
        say) is still init that the caller of an on-demand cold start waits through, not idle time of
        a proactively initialised sandbox. Python says nothing when an import ends, so a daemon thread
        looks every few milliseconds, for at most the init phase (Lambda's limit is 10 s).
        """
        from .handler import HandlerConfigError, parse_handler_name

        try:
            module, _ = parse_handler_name((os.environ if env is None else env).get("_HANDLER"))
        except HandlerConfigError:
            return  # no handler to watch, or the redirect, which marks the end of init itself
        spec = getattr(sys.modules.get(module), "__spec__", None)
        if spec is None or not getattr(spec, "_initializing", False):
            return
        with self._lock:
            self._watching = True
        threading.Thread(target=self._await_import, args=(spec,), name="honeyhive-init", daemon=True).start()

    def _await_import(self, spec: Any) -> None:
        give_up = time.monotonic() + INIT_WATCH_LIMIT_S
        while getattr(spec, "_initializing", False) and time.monotonic() < give_up:
            time.sleep(INIT_WATCH_INTERVAL_S)
        self.mark_initialised()
        with self._lock:
            self._watching = False

    def mark_restored(self) -> None:
        """A SnapStart restore: the next invocation is the first of a new sandbox."""
        with self._lock:
            self._first = True
            self._restored = True

    def next_start(self, env: Mapping[str, str]) -> str:
        """``cold``, ``restored``, ``proactive``, ``provisioned`` or ``warm``."""
        with self._lock:
            if not self._first:
                return "warm"
            self._first = False
            if self._restored:
                self._restored = False
                return "restored"
            if env.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "provisioned-concurrency":
                return "provisioned"
            # Still watching the handler's import: it ended within the last look, so the event came
            # right after init.
            if not self._watching and time.monotonic() - self._initialised_at > PROACTIVE_INIT_AFTER_S:
                return "proactive"
            return "cold"


starts = StartTracker()


def describe_call(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Invocation:
    """Describe a handler call from its arguments: Lambda, Cloud Functions HTTP or CloudEvent."""
    env = os.environ
    if len(args) >= 2 and hasattr(args[1], "aws_request_id"):
        return _lambda_invocation(args[0], args[1], env)
    if len(args) == 1:
        from . import gcf

        described = gcf.describe(args[0], env)
        if described is not None:
            described.start = starts.next_start(env)
            return described
    event = args[0] if args else kwargs.get("event")
    return _lambda_invocation(event, args[1] if len(args) > 1 else kwargs.get("context"), env)


def _lambda_invocation(event: Any, context: Any, env: Mapping[str, str]) -> Invocation:
    remaining = _call(context, "get_remaining_time_in_millis")
    return Invocation(
        platform="lambda",
        event=event,
        lookup=find_session_id(event),
        invocation_id=_text(getattr(context, "aws_request_id", None)),
        function_name=_text(getattr(context, "function_name", None)) or env.get("AWS_LAMBDA_FUNCTION_NAME"),
        function_version=_text(getattr(context, "function_version", None)) or env.get("AWS_LAMBDA_FUNCTION_VERSION"),
        resource_id=_text(getattr(context, "invoked_function_arn", None)),
        region=env.get("AWS_REGION"),
        memory_mb=_text(getattr(context, "memory_limit_in_mb", None)) or env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"),
        deadline=time.monotonic() + remaining / 1000 if isinstance(remaining, int | float) else None,
        start=starts.next_start(env),
        extra={"init_type": env.get("AWS_LAMBDA_INITIALIZATION_TYPE")},
    )


def _call(target: Any, method: str) -> Any:
    function: Callable[[], Any] | None = getattr(target, method, None)
    if not callable(function):
        return None
    try:
        return function()
    except Exception:
        return None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
