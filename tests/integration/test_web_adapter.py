"""A web app under the Lambda Web Adapter with this project's layer attached too: a FastAPI app run by
uvicorn from its startup script, traced by the ASGI middleware, through the emulator with freezes on.

The adapter is the emulator's stand-in (``honeyhive_serverless_dev.emulator.web_adapter``: LWA itself is
a Rust binary that cannot run here) at ``/opt/bootstrap`` and ``/opt/extensions/lambda-adapter``; this
project's layer gives ``/opt/honeyhive-wrapper`` and ``/opt/python/honeyhive_serverless``. Each
invocation, cold and warm, must be a session at the receiver holding the app's spans, all of them
delivered before the invocation's response was complete (a streamed one's included), with the session's
id in the response's ``X-Session-ID``.
"""

from __future__ import annotations

import json
import socket
import uuid
from pathlib import Path
from typing import Any

import pytest

import honeyhive_serverless
from conftest import MakeEmulator
from honeyhive_serverless import variables, wire
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator
from honeyhive_serverless_dev.emulator.web_adapter import STREAM_PRELUDE_END, write_layer
from honeyhive_serverless_dev.layer_build import WRAPPER_PATH
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan
from trigger_shapes import load_event

PROJECT = "web-adapter"


@pytest.fixture
def layers(tmp_path: Path) -> list[Path]:
    """This project's layer (its wrapper and the runtime package of this checkout), then the LWA stand-in's."""
    honeyhive = tmp_path / "honeyhive-layer"
    (honeyhive / "python").mkdir(parents=True)
    (honeyhive / WRAPPER_PATH.name).symlink_to(WRAPPER_PATH)
    (honeyhive / "python" / "honeyhive_serverless").symlink_to(Path(honeyhive_serverless.__file__).parent)
    return [honeyhive, write_layer(tmp_path / "web-adapter-layer")]


def free_port() -> int:
    """A loopback port nothing listens on, for the app (the adapter finds it through AWS_LWA_PORT)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def web_app(
    emulators: MakeEmulator, receiver: DevReceiver, layers: list[Path], *, exec_wrapper: str, invoke_mode: str
) -> LambdaEmulator:
    env = {
        variables.LAMBDA_EXEC_WRAPPER: exec_wrapper,
        "AWS_LWA_PORT": str(free_port()),
        "AWS_LWA_INVOKE_MODE": invoke_mode,
        variables.API_URL: receiver.url,
        variables.API_KEY: "hh-web-adapter-key",
        variables.PROJECT: PROJECT,
    }
    return emulators("lwa_run.sh", env=env, layers=layers, function_name="web-app")


def http_event(path: str, query: str) -> dict[str, Any]:
    """A function URL's GET ``path?query``, with a request id of its own and no session id of the caller's."""
    event = load_event("function_url", session_id="unused")
    event["headers"].pop("X-Session-Id")
    event |= {"rawPath": path, "rawQueryString": query, "body": None}
    event["requestContext"]["http"] |= {"method": "GET", "path": path}
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    return event


def session_spans(receiver: DevReceiver, session_id: str) -> list[ReceivedSpan]:
    return [span for span in receiver.spans if span.session_id == session_id]


def assert_exported_before_the_response(
    receiver: DevReceiver, spans: list[ReceivedSpan], invocation: InvocationResult
) -> None:
    for span in spans:
        assert receiver.otlp_requests()[span.request_index].received_at < invocation.response_at, span.name


def session_header(headers: dict[str, str]) -> str:
    [value] = [value for name, value in headers.items() if name.casefold() == wire.SESSION_HEADER.casefold()]
    return value


@pytest.mark.parametrize(
    "exec_wrapper",
    [variables.WEB_ADAPTER_EXEC_WRAPPER, f"/opt/{WRAPPER_PATH.name}"],
    ids=["web-adapter-wrapper", "honeyhive-wrapper-by-mistake"],
)
def test_each_request_is_a_session_exported_before_its_buffered_response(
    emulators: MakeEmulator, receiver: DevReceiver, layers: list[Path], exec_wrapper: str
) -> None:
    emulator = web_app(emulators, receiver, layers, exec_wrapper=exec_wrapper, invoke_mode="buffered")

    cold = emulator.invoke(http_event("/chat", "question=cold"))
    assert emulator.wait_frozen()
    warm = emulator.invoke(http_event("/chat", "question=warm"))

    assert (cold.cold, warm.cold) == (True, False)
    assert cold.frozen_at is not None  # frozen between the two
    sessions = []
    for invocation, question in ((cold, "cold"), (warm, "warm")):
        assert invocation.ok, (invocation.error, emulator.logs)
        assert invocation.payload["statusCode"] == 200
        answer = json.loads(invocation.payload["body"])
        assert {key: answer[key] for key in ("answer", "request_id")} == {
            "answer": question.upper(),
            "request_id": invocation.request_id,
        }
        session_id = session_header(invocation.payload["headers"])
        spans = session_spans(receiver, session_id)
        assert "answer" in {span.name for span in spans}
        # The invocation's X-Ray trace id (the Root of the trace header the adapter passed on) on its request span.
        [request_span] = [span for span in spans if span.span_kind == "SERVER"]
        xray_root = answer["xray_trace_id"].split(";")[0].removeprefix("Root=")
        assert xray_root.startswith("1-") and request_span.attributes["aws.xray.trace_id"] == xray_root
        assert_exported_before_the_response(receiver, spans, invocation)
        sessions.append(session_id)
    assert len(set(sessions)) == 2
    # The adapter's readiness check (GET / before the first invocation) is no session of its own.
    assert sorted(start["session_id"] for start in receiver.session_starts) == sorted(sessions)
    # FastAPI's own request span is stood for by the middleware's: every span left before the response.
    assert all(span.span_kind != "SERVER" or span.scope_name == "honeyhive_serverless" for span in receiver.spans)
    if exec_wrapper != variables.WEB_ADAPTER_EXEC_WRAPPER:
        # The wrapper handed over to LWA's bootstrap, saying so once.
        assert emulator.logs.count("is a startup script") == 1


def test_a_streamed_response_carries_its_session_and_ends_after_the_export(
    emulators: MakeEmulator, receiver: DevReceiver, layers: list[Path]
) -> None:
    emulator = web_app(
        emulators, receiver, layers, exec_wrapper=variables.WEB_ADAPTER_EXEC_WRAPPER, invoke_mode="response_stream"
    )

    invocations: list[InvocationResult] = []
    for words in ("cold,start", "warm,start,again"):
        invocations.append(emulator.invoke(http_event("/stream", f"words={words}")))
        assert emulator.wait_frozen()

    for invocation, words in zip(invocations, ("cold,start", "warm,start,again"), strict=True):
        assert invocation.ok, (invocation.error, emulator.logs)
        # The streaming protocol's body: the JSON prelude, eight NULs, then the app's body as it streamed.
        prelude, _, body = invocation.payload.partition(STREAM_PRELUDE_END.decode())
        metadata = json.loads(prelude)
        assert metadata["statusCode"] == 200
        assert body == "".join(f"{word}\n" for word in words.split(","))
        spans = session_spans(receiver, session_header(metadata["headers"]))
        # Every chunk's span, ended while the body streamed, left before the stream's end.
        assert [span.name for span in spans].count("chunk") == len(words.split(","))
        assert_exported_before_the_response(receiver, spans, invocation)
