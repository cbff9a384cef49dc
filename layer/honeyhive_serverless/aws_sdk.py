"""Opt-in (``HH_PROPAGATE_AWS_SDK=true``): AWS SDK calls get spans and carry the trace and the session on.

With no code change: OpenTelemetry's botocore instrumentation traces every AWS call as a span of the
tracer's provider, so the call joins the invocation's session like any span, and the current context
(the call's own span, the session in baggage) goes where the next service reads it:

=============================  ===================================================================
SNS Publish, PublishBatch      the instrumentation: ``MessageAttributes`` (String values)
SQS SendMessage(Batch)         here: ``MessageAttributes`` of the message, of each entry
Lambda Invoke                  here: ``ClientContext.custom``; the instrumentation also adds
(and InvokeWithResponseStream) ``headers`` to a ``Payload`` that is a JSON object
every call                     the instrumentation: the ``X-Amzn-Trace-Id`` HTTP header, where
                               botocore has not set Lambda's own (X-Ray's; no baggage)
=============================  ===================================================================

The keys are the global propagator's: this module makes sure it includes W3C Trace Context and Baggage
(``traceparent``, ``tracestate``, ``baggage``), which is OpenTelemetry's default. Propagators the user
named in ``OTEL_PROPAGATORS`` (or set in code) are kept, after the W3C ones: their keys are written
too, and where a carrier holds both, theirs wins on extraction as it did before.

Here, a carrier that already holds any of those keys (the caller propagated by hand) is left as it is,
and so is one the context would overflow (SQS takes 10 message attributes; Lambda 3,583 bytes of
ClientContext). Importing this module imports no OpenTelemetry; the instrumentation, and botocore
under it, load only when :func:`propagate_aws_sdk` runs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._log import logger
from .carriers import MAX_CLIENT_CONTEXT, as_client_context, decoded_client_context
from .scope import note_handed_on
from .wire import BAGGAGE, TRACEPARENT

if TYPE_CHECKING:
    from opentelemetry.trace import Span, TracerProvider

#: SQS takes at most 10 message attributes per message.
SQS_MAX_MESSAGE_ATTRIBUTES = 10
INSTRUMENTATION_DISTRIBUTION = "opentelemetry-instrumentation-botocore"
_LAMBDA_INVOKES = ("Invoke", "InvokeWithResponseStream")


class _State:
    """What this process decided: one lock, the provider the instrumentation sends to, what was warned."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.provider: TracerProvider | None = None
        self.unavailable = False
        self.warned: set[str] = set()


_state = _State()


def propagate_aws_sdk(provider: TracerProvider) -> bool:
    """Trace AWS SDK calls on ``provider`` and propagate the context through them; True when active.

    Once per process and thread-safe: a second call with the same provider does nothing. A call with
    another provider (a tracer built anew, as after ``reset_tracer()``) moves the instrumentation to it,
    so AWS spans never go to a provider that was shut down. Instrumentation someone else applied is
    left as it is (its provider, its hooks). Never raises: when the instrumentation or botocore is
    missing, one warning says what to install and this returns False.
    """
    state = _state
    try:
        with state.lock:
            if state.unavailable:
                return False
            instrumentor = _instrumentor()
            if instrumentor is None:
                state.unavailable = True
                return False
            include_w3c_propagators()
            if instrumentor.is_instrumented_by_opentelemetry:
                if instrumentor.request_hook is not _inject_context:
                    logger.info("honeyhive: botocore was instrumented already; its tracer provider is kept")
                    return True
                if state.provider is provider:
                    return True
                instrumentor.uninstrument()
            # skip_dep_check: the import above proved botocore is there; Lambda's runtime may carry it
            # without the distribution metadata the check reads.
            instrumentor.instrument(tracer_provider=provider, request_hook=_inject_context, skip_dep_check=True)
            state.provider = provider
            return bool(instrumentor.is_instrumented_by_opentelemetry)
    except Exception as exc:  # tracing never breaks the function (a bad OTEL_PROPAGATORS fails the import)
        state.unavailable = True
        logger.warning(
            "honeyhive: could not instrument the AWS SDK (%s: %s); AWS calls are not traced",
            type(exc).__name__,
            str(exc)[:200],
        )
        return False


def include_w3c_propagators() -> None:
    """Make the global propagator include W3C Trace Context and Baggage, keeping what it has."""
    from opentelemetry import propagate
    from opentelemetry.baggage.propagation import W3CBaggagePropagator
    from opentelemetry.propagators.composite import CompositePropagator
    from opentelemetry.propagators.textmap import TextMapPropagator
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    current = propagate.get_global_textmap()
    fields = set(current.fields)
    added: list[TextMapPropagator] = []
    if TRACEPARENT not in fields:
        added.append(TraceContextTextMapPropagator())
    if BAGGAGE not in fields:
        added.append(W3CBaggagePropagator())
    if added:
        # Injection writes every propagator's keys; on extraction the later wins: the user's, kept last.
        propagate.set_global_textmap(CompositePropagator([*added, current]))
        logger.info(
            "honeyhive: the global propagator now also writes %s (beside %s)",
            ", ".join(sorted(set().union(*(p.fields for p in added)))),
            ", ".join(sorted(fields)) or "nothing",
        )


def _instrumentor() -> Any:
    """The instrumentor, or None (and one warning) when it or botocore cannot be imported."""
    try:
        from opentelemetry.instrumentation.botocore import BotocoreInstrumentor
    except ImportError as exc:
        missing = (exc.name or "").split(".")[0]
        if missing in ("botocore", "boto3"):
            needed = "botocore (Lambda's Python runtime has it; elsewhere: pip install boto3)"
        else:
            needed = f"{INSTRUMENTATION_DISTRIBUTION} (pip install 'honeyhive-serverless[aws]'; the layer has it)"
        logger.warning("honeyhive: HH_PROPAGATE_AWS_SDK needs %s; AWS SDK calls are not traced", needed)
        return None
    return BotocoreInstrumentor()  # type: ignore[no-untyped-call]


# -- where the instrumentation injects nothing --------------------------------------------------------


def _inject_context(span: Span, service: str, operation: str, params: dict[str, Any]) -> None:
    """The instrumentation's request hook: inside the call's span, before the request is built.

    ``params`` is the dict the request is built from; the user's own objects inside it are replaced,
    never changed, so a dict reused across calls carries no stale context.
    """
    try:
        if service == "sqs" and operation == "SendMessage":
            params.update(_with_message_attributes(params))
        elif service == "sqs" and operation == "SendMessageBatch":
            entries = params.get("Entries")
            if isinstance(entries, list):
                params["Entries"] = [_with_message_attributes(entry) for entry in entries]
        elif service == "lambda" and operation in _LAMBDA_INVOKES:
            client_context = _with_client_context(params.get("ClientContext"))
            if client_context is not None:
                params["ClientContext"] = client_context
    except Exception:  # a hook's failure would fail the user's call
        logger.debug("honeyhive: could not add the context to %s %s", service, operation, exc_info=True)


def _current_carrier() -> dict[str, str]:
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    note_handed_on()
    return carrier


def _with_message_attributes(message: Any) -> Any:
    """``message`` (a SendMessage request or batch entry) with the context in its message attributes."""
    if not isinstance(message, Mapping):
        return message
    attributes = message.get("MessageAttributes") or {}
    if not isinstance(attributes, Mapping):
        return message
    carrier = _current_carrier()
    if not carrier or any(key in attributes for key in carrier):
        return message
    if len(attributes) + len(carrier) > SQS_MAX_MESSAGE_ATTRIBUTES:
        _warn_once(
            "sqs-attributes",
            "honeyhive: an SQS message has too many message attributes to carry the trace context "
            f"(at most {SQS_MAX_MESSAGE_ATTRIBUTES}); it is sent without",
        )
        return message
    added = {key: {"DataType": "String", "StringValue": value} for key, value in carrier.items()}
    return {**message, "MessageAttributes": {**attributes, **added}}


def _with_client_context(encoded: Any) -> str | None:
    """The Invoke ``ClientContext`` with the context in ``custom``; None to leave it as it is."""
    try:
        document = decoded_client_context(encoded)
    except ValueError:
        return None  # not ours to interpret
    custom = document.get("custom", {})
    if not isinstance(custom, dict):
        return None
    carrier = _current_carrier()
    if not carrier or any(key in custom for key in carrier):
        return None
    result = as_client_context(carrier, custom, document)
    if len(result) > MAX_CLIENT_CONTEXT:
        _warn_once(
            "lambda-client-context",
            "honeyhive: a Lambda ClientContext is too large to carry the trace context "
            f"(at most {MAX_CLIENT_CONTEXT} bytes); the function is invoked without",
        )
        return None
    return result


def _warn_once(key: str, message: str) -> None:
    if key not in _state.warned:
        _state.warned.add(key)
        logger.warning(message)
