"""The cold path imports only what the first invocation needs (issue 24): an import-set test, not a timing
test (`make bench` measures the time).

A fresh interpreter runs a Lambda function's first invocation against the dev receiver, decorated and
behind the zero-code redirect, with what the runtime client has already imported (``awslambdaric``
imports ``json``, ``logging``, ``threading``, ``traceback``, ``urllib.parse`` and ``decimal`` before it
loads a handler). The modules of this package it loads are pinned; any other module of this package
imported there (the web middlewares, Cloud Functions' shapes, the SDK's init surface...) is a cost every
cold start would pay for nothing, and so are the heavy third-party packages listed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from honeyhive_serverless_dev.receiver import DevReceiver

#: What the first invocation of a Lambda function needs of this package, whichever way it is traced (neither
#: the after_response extension nor Managed Instances' export thread: each is imported where it runs).
FIRST_INVOCATION = frozenset(
    {
        "honeyhive_serverless",
        "honeyhive_serverless._fork",
        "honeyhive_serverless._log",
        "honeyhive_serverless.attributes",
        "honeyhive_serverless.background",
        "honeyhive_serverless.budget",
        "honeyhive_serverless.carriers",
        "honeyhive_serverless.config",
        "honeyhive_serverless.conversations",
        "honeyhive_serverless.export",
        "honeyhive_serverless.export.client",
        "honeyhive_serverless.export.credentials",
        "honeyhive_serverless.export.event_types",
        "honeyhive_serverless.export.http11",
        "honeyhive_serverless.export.model_calls",
        "honeyhive_serverless.export.otlp_encoding",
        "honeyhive_serverless.export.pipeline",
        "honeyhive_serverless.export.processors",
        "honeyhive_serverless.export.span_copies",
        "honeyhive_serverless.export.span_exporter",
        "honeyhive_serverless.export.transport",
        "honeyhive_serverless.faas",
        "honeyhive_serverless.faas.agentcore_gateway",
        "honeyhive_serverless.faas.aws_lambda",
        "honeyhive_serverless.faas.calls",
        "honeyhive_serverless.faas.facts",
        "honeyhive_serverless.faas.handler_name",
        "honeyhive_serverless.faas.http_event",
        "honeyhive_serverless.faas.snapstart",
        "honeyhive_serverless.faas.starts",
        "honeyhive_serverless.faas.watchdog",
        "honeyhive_serverless.genai",
        "honeyhive_serverless.genai.frameworks",
        "honeyhive_serverless.genai.names",
        "honeyhive_serverless.ids",
        "honeyhive_serverless.instrumentors",
        "honeyhive_serverless.lifecycle",
        "honeyhive_serverless.payloads",
        "honeyhive_serverless.propagation",
        "honeyhive_serverless.redaction",
        "honeyhive_serverless.scope",
        "honeyhive_serverless.sessions",
        "honeyhive_serverless.tracer",
        "honeyhive_serverless.tracer_methods",
        "honeyhive_serverless.triggers",
        "honeyhive_serverless.variables",
        "honeyhive_serverless.vendored",
        "honeyhive_serverless.version",
        "honeyhive_serverless.web",
        "honeyhive_serverless.web.body",
        "honeyhive_serverless.wire",
        "honeyhive_serverless.wrapper",
    }
)
#: Only the zero-code redirect's.
REDIRECT_ONLY = frozenset({"honeyhive_serverless.handler"})
#: Never on the cold path: protobuf (the OTLP encoder is this package's), ``http.client`` and the ``email``
#: package it parses headers with (the HTTP/1.1 connection is this package's), the stock exporter's HTTP
#: stack, the AWS SDK, Powertools, and reading installed distributions' metadata; and, with an ``http://``
#: endpoint as here, ``ssl`` and the idna codec, which only TLS needs.
HEAVY = ("google.protobuf", "opentelemetry.proto", "opentelemetry.exporter", "http.client", "email", "requests",
         "urllib3", "boto3", "botocore", "aws_lambda_powertools", "importlib.metadata", "asyncio", "ssl",
         "_ssl", "encodings.idna", "stringprep")  # fmt: skip

_RUNTIME_PRELOADED = "import json, logging, threading, traceback, urllib.parse, decimal"
_FIRST_INVOCATION = """
import json, sys
sys.path.insert(0, {task_root!r})


class Context:
    aws_request_id = "8f5e6c1a-0000-4000-8000-000000000001"
    function_name = "cold"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:cold"
    memory_limit_in_mb = "128"
    log_group_name = "/aws/lambda/cold"
    log_stream_name = "s"

    def get_remaining_time_in_millis(self):
        return 30000


if {redirect!r}:
    import honeyhive_serverless.handler as entry
else:
    import app as entry
result = entry.handler({event!r}, Context())
print(json.dumps({{"result": result, "modules": sorted(sys.modules)}}))
"""
_APP = """
from honeyhive_serverless import with_honeyhive_session


def plain(event, context):
    return {"statusCode": 200, "body": "ok"}


handler = with_honeyhive_session(plain)
"""
HTTP_EVENT = {
    "version": "2.0",
    "routeKey": "POST /ask",
    "rawPath": "/ask",
    "headers": {"content-type": "application/json"},
    "requestContext": {"http": {"method": "POST", "path": "/ask"}, "requestId": "r", "apiId": "a", "stage": "$default"},
    "body": "{}",
    "isBase64Encoded": False,
}


def _first_invocation(tmp_path: Path, receiver: DevReceiver, *, redirect: bool, event: object) -> set[str]:
    (tmp_path / "app.py").write_text(_APP)
    code = _RUNTIME_PRELOADED + "\n" + _FIRST_INVOCATION.format(task_root=str(tmp_path), redirect=redirect, event=event)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HH_", "AWS_", "OTEL_"))}
    env.update(
        {
            "HH_API_URL": receiver.url,
            "HH_API_KEY": "cold-key",
            "HH_PROJECT": "cold",
            "HH_LAMBDA_HANDLER": "app.plain",
            "AWS_LAMBDA_FUNCTION_NAME": "cold",
            "AWS_REGION": "us-east-1",
            "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        }
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True)
    answer = json.loads(out.stdout.strip().splitlines()[-1])
    assert answer["result"]["body"] == "ok"
    return set(answer["modules"])


@pytest.mark.parametrize("event", [{}, HTTP_EVENT], ids=["direct", "http-api"])
@pytest.mark.parametrize("redirect", [False, True], ids=["decorator", "redirect"])
def test_the_first_invocation_imports_only_what_it_needs(
    tmp_path: Path, receiver: DevReceiver, redirect: bool, event: object
) -> None:
    modules = _first_invocation(tmp_path, receiver, redirect=redirect, event=event)
    own = {name for name in modules if name.split(".")[0] == "honeyhive_serverless"}
    expected = FIRST_INVOCATION | REDIRECT_ONLY if redirect else FIRST_INVOCATION
    assert sorted(own - expected) == [], "imported on the cold path but not needed there"
    assert sorted(expected - own) == [], "no longer imported: take it off the pinned set"
    assert sorted(name for name in modules if name.startswith(HEAVY)) == []
    if not event:  # no carrier to read a caller's context from: the W3C propagators are not loaded
        assert sorted(name for name in modules if name.startswith("opentelemetry.propagators")) == []
    assert [request.path for request in receiver.requests].count("/opentelemetry/v1/traces") == 1
