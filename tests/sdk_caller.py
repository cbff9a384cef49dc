"""HoneyHive's own SDK (``honeyhive==1.7.0``) as a peer service, run by the SDK venv's python (the
``honeyhive_sdk`` fixture), never imported by the tests: it needs only the SDK and the standard library.

Written as HoneyHive's distributed-tracing guide ("Context Propagation (Full)") has it: the tracer is
initialised once, each request gets ``create_session()``, and the outgoing call is made inside a span with
``inject_context_into_carrier(headers, tracer)``. Each mode prints one JSON document on stdout:

* ``calls URL N``: N independent outgoing calls, each in its own session (as N requests to a web service
  would be), sending to the HoneyHive API at URL: ``{"sdk_version", "calls": [{"session_id",
  "trace_id", "span_id", "headers", "baggage"}]}`` (ids in hex, as on the wire);
* ``callee URL CARRIER`` (the carrier as a JSON object): the other direction, the guide's server side
  (``with_distributed_trace_context(carrier, tracer)`` around a span): ``{"trace_id", "span_id",
  "parent_span_id", "session_id"}`` of that span;
* ``init-fields``: the SDK's init keywords, the fields of its three config models (``TracerConfig``,
  ``SessionConfig``, ``EvaluationConfig``): ``{"models": {model: {field: {"annotation", "default",
  "required"}}}}`` (a default that is not JSON is null).
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from typing import Any

API_KEY = "hh-sdk-caller-key"
PROJECT = "sdk-caller-project"
SOURCE = "sdk-caller"


def _tracer(url: str, session_name: str) -> Any:
    from honeyhive import HoneyHiveTracer

    # disable_batch: each span is exported as it ends, so the receiver has it when this script exits.
    return HoneyHiveTracer.init(
        api_key=API_KEY,
        server_url=url,
        project=PROJECT,
        source=SOURCE,
        session_name=session_name,
        disable_batch=True,
    )


def _ids(span: Any) -> dict[str, str]:
    span_context = span.get_span_context()
    return {"trace_id": format(span_context.trace_id, "032x"), "span_id": format(span_context.span_id, "016x")}


def calls(url: str, count: int) -> dict[str, Any]:
    from honeyhive.tracer.processing.context import inject_context_into_carrier
    from opentelemetry import baggage, context

    tracer = _tracer(url, "sdk-caller")
    made: list[dict[str, Any]] = []
    for index in range(count):
        # Each call starts from the context init left (as each request to a service would) and drops
        # what create_session() attached to it afterwards.
        token = context.attach(context.get_current())
        try:
            session_id = tracer.create_session(session_name=f"sdk-caller-{index}", inputs={"call": index})
            headers: dict[str, str] = {}
            with tracer.start_span("call-function") as span:
                inject_context_into_carrier(headers, tracer)
                made.append(
                    {
                        "session_id": session_id,
                        **_ids(span),
                        "headers": headers,
                        "baggage": {key: str(value) for key, value in baggage.get_all().items()},
                    }
                )
        finally:
            context.detach(token)
    tracer.force_flush()
    return {"sdk_version": version("honeyhive"), "calls": made}


def callee(url: str, carrier: dict[str, str]) -> dict[str, Any]:
    from honeyhive.tracer.processing.context import with_distributed_trace_context
    from opentelemetry import baggage

    tracer = _tracer(url, "sdk-callee")
    with with_distributed_trace_context(carrier, tracer), tracer.start_span("sdk-callee") as span:
        parent = getattr(span, "parent", None)
        found = {
            **_ids(span),
            "parent_span_id": None if parent is None else format(parent.span_id, "016x"),
            "session_id": baggage.get_baggage("session_id"),
        }
    tracer.force_flush()
    return found


def _json_or_none(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def init_fields() -> dict[str, Any]:
    from honeyhive.config.models import EvaluationConfig, SessionConfig, TracerConfig

    models: dict[str, Any] = {}
    for model in (TracerConfig, SessionConfig, EvaluationConfig):
        models[model.__name__] = {
            name: {
                "annotation": str(info.annotation),
                "default": _json_or_none(info.default),
                "required": info.is_required(),
            }
            for name, info in model.model_fields.items()
        }
    return {"sdk_version": version("honeyhive"), "models": models}


def main(argv: list[str]) -> int:
    mode, *args = argv
    if mode == "calls":
        url, count = args
        document = calls(url, int(count))
    elif mode == "callee":
        url, carrier = args
        document = callee(url, json.loads(carrier))
    elif mode == "init-fields":
        document = init_fields()
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
