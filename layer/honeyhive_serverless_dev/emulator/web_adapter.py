#!/usr/bin/env python3
"""A stand-in for the AWS Lambda Web Adapter (LWA), for tests: LWA is AWS's Rust binary, which cannot be
had or run here, so this fake plays it where it matters to tracing a web app.

LWA's layer holds ``/opt/bootstrap``, the exec wrapper (``exec -- "${LAMBDA_TASK_ROOT}/${_HANDLER}"``: the
runtime's own command is ignored and the handler, a startup script such as ``run.sh``, becomes the web
server), and ``/opt/extensions/lambda-adapter``, an external extension that registers (``events: []``),
waits until ``GET http://127.0.0.1:$AWS_LWA_PORT$AWS_LWA_READINESS_CHECK_PATH`` answers 100-499 (every
10 ms), then polls the Runtime API itself. Each API Gateway (REST v1, HTTP v2) or function URL event
becomes an HTTP request to the app with the event's headers plus ``x-amzn-request-context`` (the event's
``requestContext`` as JSON) and ``x-amzn-lambda-context`` (the invocation's context as JSON, in the field
names of the Rust runtime's ``Context``); the app's response goes back as an API Gateway response
(``AWS_LWA_INVOKE_MODE=buffered``, the default) or streamed (``response_stream``: chunked, with
``Lambda-Runtime-Function-Response-Mode: streaming`` and a JSON prelude ended by eight NUL bytes).

:func:`write_layer` lays that layer out, with this file as the extension. The emulator starts no
external extensions, so this layer's ``bootstrap`` starts the extension itself, in the background, before
it execs the handler as LWA's does. Not played: other events (LWA posts them to ``/events``), ALB,
compression, base-path removal, async init, error status codes, streamed errors in trailers.

Only the standard library: the extension runs as a script on whatever Python the sandbox has.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EXTENSION_NAME = "lambda-adapter"
RUNTIME = "/2018-06-01/runtime"
EXTENSION = "/2020-01-01/extension"
READINESS_INTERVAL_S = 0.01  # LWA's
# Content types lambda_http returns as text; any other body goes back base64-encoded.
TEXT_PREFIXES = ("text", "application/json", "application/javascript", "application/xml", "application/yaml")
TEXT_SUFFIXES = ("+xml", "+yaml", "+json")
STREAM_PRELUDE_END = b"\0" * 8
BOOTSTRAP = """#!/bin/sh
# LWA's bootstrap is only the exec below; Lambda starts the adapter from /opt/extensions, the emulator
# does not, so this stand-in starts it.
"$(dirname "$0")/extensions/lambda-adapter" &
exec "${LAMBDA_TASK_ROOT}/${_HANDLER}"
"""


def write_layer(directory: Path) -> Path:
    """Lay out the stand-in LWA layer in ``directory`` (``bootstrap``, ``extensions/lambda-adapter``)."""
    extension = directory / "extensions" / EXTENSION_NAME
    extension.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(__file__, extension)
    bootstrap = directory / "bootstrap"
    bootstrap.write_text(BOOTSTRAP)
    for path in (extension, bootstrap):
        path.chmod(0o755)
    return directory


def main() -> None:
    api = os.environ["AWS_LAMBDA_RUNTIME_API"]
    host = os.environ.get("AWS_LWA_HOST", "127.0.0.1")
    port = int(os.environ.get("AWS_LWA_PORT") or os.environ.get("PORT") or "8080")
    streaming = os.environ.get("AWS_LWA_INVOKE_MODE", "buffered").lower() == "response_stream"
    identifier = _register(api)
    # Lambda's init ends once every extension asks for its next event; with no events it waits for good.
    threading.Thread(target=_next_extension_event, args=(api, identifier), daemon=True).start()
    _wait_ready(host, int(os.environ.get("AWS_LWA_READINESS_CHECK_PORT") or port))
    runtime = http.client.HTTPConnection(api)
    while True:
        runtime.request("GET", f"{RUNTIME}/invocation/next")
        answer = runtime.getresponse()
        event = json.loads(answer.read())
        request_id = answer.headers["Lambda-Runtime-Aws-Request-Id"]
        app = http.client.HTTPConnection(host, port)
        try:
            response = _forward(app, event, _lambda_context(answer.headers))
            if streaming:
                _post_stream(runtime, request_id, response)
            else:
                _post(runtime, f"{RUNTIME}/invocation/{request_id}/response", _buffered(event, response))
        except OSError as exc:  # the app is gone or refused: the invocation fails, as LWA's does
            error = {"errorType": type(exc).__name__, "errorMessage": str(exc)}
            _post(runtime, f"{RUNTIME}/invocation/{request_id}/error", error)
        finally:
            app.close()


def _register(api: str) -> str:
    connection = http.client.HTTPConnection(api)
    connection.request(
        "POST", f"{EXTENSION}/register", body=b'{"events": []}', headers={"Lambda-Extension-Name": EXTENSION_NAME}
    )
    answer = connection.getresponse()
    answer.read()
    connection.close()
    if answer.status != 200:
        raise SystemExit(f"{EXTENSION_NAME}: extension registration failed with status {answer.status}")
    return str(answer.headers["Lambda-Extension-Identifier"])


def _next_extension_event(api: str, identifier: str) -> None:
    connection = http.client.HTTPConnection(api)
    connection.request("GET", f"{EXTENSION}/event/next", headers={"Lambda-Extension-Identifier": identifier})
    connection.getresponse().read()


def _wait_ready(host: str, port: int) -> None:
    path = os.environ.get("AWS_LWA_READINESS_CHECK_PATH", "/")
    while True:
        connection = http.client.HTTPConnection(host, port, timeout=1.0)
        try:
            connection.request("GET", path)
            if 100 <= connection.getresponse().status < 500:
                return
        except OSError:
            pass  # not listening yet
        finally:
            connection.close()
        # Polling is LWA's own way of waiting: the app gives no other sign of being ready.
        time.sleep(READINESS_INTERVAL_S)


def _lambda_context(headers: Any) -> dict[str, Any]:
    """The invocation's context as LWA puts it in ``x-amzn-lambda-context``: the Rust runtime's Context."""
    client_context = headers.get("Lambda-Runtime-Client-Context")
    identity = headers.get("Lambda-Runtime-Cognito-Identity")
    return {
        "request_id": headers["Lambda-Runtime-Aws-Request-Id"],
        "deadline": int(headers["Lambda-Runtime-Deadline-Ms"]),
        "invoked_function_arn": headers.get("Lambda-Runtime-Invoked-Function-Arn", ""),
        "xray_trace_id": headers.get("Lambda-Runtime-Trace-Id"),
        "client_context": json.loads(client_context) if client_context else None,
        "identity": json.loads(identity) if identity else None,
        "env_config": {
            "function_name": os.environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
            "memory": int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "0")),
            "version": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", ""),
            "log_stream": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            "log_group": os.environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
        },
        "tenant_id": headers.get("Lambda-Runtime-Aws-Tenant-Id"),
    }


def _forward(
    app: http.client.HTTPConnection, event: dict[str, Any], context: dict[str, Any]
) -> http.client.HTTPResponse:
    """Send ``event`` to the app as the HTTP request it stands for; its response (headers read)."""
    if event.get("version") == "2.0":  # HTTP API and function URLs
        method, path, query = event["requestContext"]["http"]["method"], event["rawPath"], event.get("rawQueryString")
        headers = [(name, value) for name, value in (event.get("headers") or {}).items()]
        if event.get("cookies"):
            headers.append(("cookie", "; ".join(event["cookies"])))
    else:  # REST API
        method, path = event["httpMethod"], event["path"]
        query = urlencode(
            event.get("multiValueQueryStringParameters") or event.get("queryStringParameters") or {}, doseq=True
        )
        multi = event.get("multiValueHeaders") or {
            name: [value] for name, value in (event.get("headers") or {}).items()
        }
        headers = [(name, value) for name, values in multi.items() for value in values]
    raw_body = event.get("body") or ""
    body = base64.b64decode(raw_body) if event.get("isBase64Encoded") else raw_body.encode()
    headers.append(("x-amzn-request-context", json.dumps(event.get("requestContext") or {})))
    headers.append(("x-amzn-lambda-context", json.dumps(context)))
    if context["tenant_id"]:
        headers.append(("x-amz-tenant-id", context["tenant_id"]))
    app.putrequest(method, f"{path}?{query}" if query else path, skip_host=True, skip_accept_encoding=True)
    names = {name.lower() for name, _ in headers}
    if "host" not in names:
        headers.append(("host", f"{app.host}:{app.port}"))
    if body or method in ("POST", "PUT", "PATCH"):
        headers = [(name, value) for name, value in headers if name.lower() != "content-length"]
        headers.append(("content-length", str(len(body))))
    for name, value in headers:
        app.putheader(name, value)
    app.endheaders(body or None)
    return app.getresponse()


def _response_headers(response: http.client.HTTPResponse) -> tuple[dict[str, list[str]], list[str]]:
    """The app's headers by lower-case name (``transfer-encoding`` dropped, as LWA does) and its cookies."""
    headers: dict[str, list[str]] = {}
    for name, value in response.getheaders():
        headers.setdefault(name.lower(), []).append(value)
    headers.pop("transfer-encoding", None)
    return headers, headers.pop("set-cookie", [])


def _buffered(event: dict[str, Any], response: http.client.HTTPResponse) -> dict[str, Any]:
    """The API Gateway response for the app's whole response, as lambda_http shapes it."""
    headers, cookies = _response_headers(response)
    raw = response.read()
    content_type = (headers.get("content-type") or [""])[0].split(";")[0].strip().lower()
    textual = content_type.startswith(TEXT_PREFIXES) or content_type.endswith(TEXT_SUFFIXES)
    body = None if not raw else raw.decode() if textual else base64.b64encode(raw).decode()
    document: dict[str, Any] = {
        "statusCode": response.status,
        "body": body,
        "isBase64Encoded": bool(raw) and not textual,
    }
    if event.get("version") == "2.0":
        document |= {"headers": {name: ",".join(values) for name, values in headers.items()}}
        document |= {"multiValueHeaders": {}, "cookies": cookies}
    else:
        document |= {"headers": {}, "multiValueHeaders": {**headers, **({"set-cookie": cookies} if cookies else {})}}
    return document


def _post(runtime: http.client.HTTPConnection, path: str, document: dict[str, Any]) -> None:
    runtime.request("POST", path, body=json.dumps(document).encode(), headers={"Content-Type": "application/json"})
    runtime.getresponse().read()


def _post_stream(runtime: http.client.HTTPConnection, request_id: str, response: http.client.HTTPResponse) -> None:
    """Stream the app's response to the Runtime API as it comes: the prelude, eight NULs, the body's chunks."""
    headers, cookies = _response_headers(response)
    prelude = {
        "statusCode": response.status,
        "headers": {"content-type": "application/octet-stream"} | {name: ",".join(v) for name, v in headers.items()},
        "cookies": cookies,
    }

    def chunks() -> Iterator[bytes]:
        yield json.dumps(prelude).encode() + STREAM_PRELUDE_END
        while chunk := response.read1(65536):
            yield chunk

    runtime.request(
        "POST",
        f"{RUNTIME}/invocation/{request_id}/response",
        body=chunks(),
        headers={
            "Lambda-Runtime-Function-Response-Mode": "streaming",
            "Transfer-Encoding": "chunked",
            "Content-Type": "application/vnd.awslambda.http-integration-response",
            "Trailer": "Lambda-Runtime-Function-Error-Type, Lambda-Runtime-Function-Error-Body",
        },
        encode_chunked=True,
    )
    runtime.getresponse().read()


if __name__ == "__main__":
    main()
