"""HoneyHive's own SDK (``honeyhive==1.7.0``) as a peer service, run by the SDK venv's python (the
``honeyhive_sdk`` fixture), never imported by the tests: it needs only the SDK and the standard library
(the ``evaluate`` mode also this project and boto3, in the ``honeyhive_sdk_client`` fixture's venv).

Written as HoneyHive's distributed-tracing guide ("Context Propagation (Full)") has it: the tracer is
initialised once, each request gets ``create_session()``, and the outgoing call is made inside a span with
``inject_context_into_carrier(headers, tracer)``. Each mode prints one JSON document on stdout:

* ``calls URL N``: N independent outgoing calls, each in its own session (as N requests to a web service
  would be), sending to the HoneyHive API at URL: ``{"sdk_version", "calls": [{"session_id",
  "trace_id", "span_id", "headers", "baggage"}]}`` (ids in hex, as on the wire);
* ``callee URL CARRIER`` (the carrier as a JSON object): the other direction, the guide's server side
  (``with_distributed_trace_context(carrier, tracer)`` around a span): ``{"trace_id", "span_id",
  "parent_span_id", "session_id"}`` of that span;
* ``evaluate URL INVOKE_URL N`` (in a venv that also has this project and boto3): the SDK's
  ``evaluate()`` over N datapoints (``{"inputs": {"n": i}, "ground_truth": {"answer": 2 * i}}``), sending
  to the HoneyHive API at URL, whose function invokes the Lambda function :data:`EVALUATED_FUNCTION`
  through the Invoke API at INVOKE_URL with ``honeyhive_serverless.invoke_function``, as a client of a
  deployed function would: ``{"sdk_version", "run_id", "status", "success", "passed", "failed",
  "calls": [{"baggage", "status_code", "function_error", "answer"}]}`` (``baggage``: the context's when
  the function invoked, in the order the datapoints ran);
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
#: The Lambda function ``evaluate`` invokes, and the experiment's name.
EVALUATED_FUNCTION = "evaluated-function"
EXPERIMENT = "sdk-caller-experiment"
REGION = "us-east-1"


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


def evaluate_through_lambda(url: str, invoke_url: str, count: int) -> dict[str, Any]:
    import boto3
    from honeyhive.experiments import evaluate
    from opentelemetry import baggage

    from honeyhive_serverless import invoke_function

    # Credentials only to sign with: the Invoke API on loopback checks none.
    lambda_client = boto3.client(
        "lambda",
        endpoint_url=invoke_url,
        region_name=REGION,
        aws_access_key_id="sdk-caller",
        aws_secret_access_key="sdk-caller-not-a-secret",
    )
    calls: list[dict[str, Any]] = []  # appended to from evaluate()'s worker threads

    def call_the_function(datapoint: dict[str, Any]) -> Any:
        # evaluate() runs this in the datapoint's chain span, its session and run in baggage.
        response = invoke_function(
            lambda_client, FunctionName=EVALUATED_FUNCTION, Payload=json.dumps(datapoint["inputs"])
        )
        answer = json.loads(response["Payload"].read())
        calls.append(
            {
                "baggage": {key: str(value) for key, value in baggage.get_all().items()},
                "status_code": response["StatusCode"],
                "function_error": response.get("FunctionError"),
                "answer": answer,
            }
        )
        return answer

    dataset = [{"inputs": {"n": index}, "ground_truth": {"answer": 2 * index}} for index in range(count)]
    result = evaluate(
        function=call_the_function,
        dataset=dataset,
        api_key=API_KEY,
        server_url=url,
        name=EXPERIMENT,
        print_results=False,
    )
    return {
        "sdk_version": version("honeyhive"),
        "run_id": result.run_id,
        "status": result.status,
        "success": result.success,
        "passed": result.passed,
        "failed": result.failed,
        "calls": calls,
    }


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
    elif mode == "evaluate":
        url, invoke_url, count = args
        document = evaluate_through_lambda(url, invoke_url, int(count))
    elif mode == "init-fields":
        document = init_fields()
    else:
        print(f"unknown mode {mode!r}", file=sys.stderr)
        return 2
    print(json.dumps(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
