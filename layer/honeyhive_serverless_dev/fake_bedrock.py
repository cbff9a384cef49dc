"""A fake Amazon Bedrock runtime on 127.0.0.1, for the real ``boto3`` client (and what is built on it,
such as ``langchain-aws``): ``InvokeModel``, ``InvokeModelWithResponseStream``, ``Converse`` and
``ConverseStream``, answered the way ``bedrock-runtime`` answers them, the streams in AWS's binary
event-stream framing.

A function reaches it with no code change: botocore reads ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``
(:attr:`FakeBedrock.endpoint_variables`; any region and credentials do). The bodies follow the model
family the model id names: Anthropic's Messages API (``anthropic.claude-3...``, a body with
``messages``), Anthropic's older text completions (``anthropic.claude-v2``, a body with ``prompt``),
and Titan text embeddings (``amazon.titan-embed...``). Only the provider is fake: the client, its
HTTP stack, its event-stream parser and the instrumentors under test are the real ones.

>>> with FakeBedrock() as api:
...     api.endpoint_url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import unquote

from .serving import FakeProvider, FakeProviderServer

#: What every model says; streamed, one word per chunk.
REPLY = "Hello from the fake Bedrock runtime"
INPUT_TOKENS = 11
OUTPUT_TOKENS = len(REPLY.split())
#: The length of every Titan embedding.
EMBEDDING_SIZE = 8


class FakeBedrock(FakeProvider[tuple[str, str, dict[str, Any]]]):
    """Serves from ``start()`` (or ``with``) to ``stop()``; ``requests`` holds (operation, model id, body)."""

    def __init__(self) -> None:
        super().__init__(_Handler, "fake-bedrock")

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def endpoint_variables(self) -> dict[str, str]:
        """The environment that points an unmodified function's boto3 (and LangChain) here; the region
        and credentials are the runtime's (any will do)."""
        return {"AWS_ENDPOINT_URL_BEDROCK_RUNTIME": self.endpoint_url}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeProviderServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests' output stays the tests'

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        parts = self.path.split("/")
        if len(parts) != 4 or parts[1] != "model":
            self._json(404, {"message": f"no route {self.path}"})
            return
        model_id, operation = unquote(parts[2]), parts[3]
        self.server.provider.record((operation, model_id, body))
        if operation == "invoke":
            self._invoke(model_id, body)
        elif operation == "invoke-with-response-stream":
            self._events(
                [("chunk", {"bytes": base64.b64encode(json.dumps(c).encode()).decode()}) for c in _chunks(body)]
            )
        elif operation == "converse":
            self._json(200, _converse())
        elif operation == "converse-stream":
            self._events(_converse_events())
        else:
            self._json(404, {"message": f"no operation {operation}"})

    def _invoke(self, model_id: str, body: dict[str, Any]) -> None:
        if model_id.startswith("amazon.titan-embed"):
            text = str(body.get("inputText", ""))
            vector = [round((len(text) % 7 + i) / 10, 2) for i in range(EMBEDDING_SIZE)]
            self._json(200, {"embedding": vector, "inputTextTokenCount": len(text.split())})
        elif "messages" in body:
            self._json(200, _message(model_id))
        else:  # Anthropic's text completions: the counts come as headers, as Bedrock sends them
            self._json(200, {"completion": " " + REPLY, "stop_reason": "stop_sequence", "stop": None}, counts=True)

    def _json(self, status: int, document: dict[str, Any], *, counts: bool = False) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if counts:
            self.send_header("X-Amzn-Bedrock-Input-Token-Count", str(INPUT_TOKENS))
            self.send_header("X-Amzn-Bedrock-Output-Token-Count", str(OUTPUT_TOKENS))
        self.end_headers()
        self.wfile.write(payload)

    def _events(self, events: list[tuple[str, dict[str, Any]]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("Connection", "close")  # the stream's end is the connection's
        self.end_headers()
        for event_type, payload in events:
            self.wfile.write(event_message(event_type, payload))
            self.wfile.flush()
        self.close_connection = True


def event_message(event_type: str, payload: dict[str, Any]) -> bytes:
    """One message of AWS's event-stream framing: prelude (lengths and their CRC32), string headers,
    the JSON payload, and the CRC32 of all before it. botocore has the parser and no writer."""
    headers = b"".join(
        _string_header(name, value)
        for name, value in (
            (":event-type", event_type),
            (":content-type", "application/json"),
            (":message-type", "event"),
        )
    )
    body = json.dumps(payload).encode()
    prelude = struct.pack(">II", 12 + len(headers) + len(body) + 4, len(headers))
    message = prelude + struct.pack(">I", zlib.crc32(prelude)) + headers + body
    return message + struct.pack(">I", zlib.crc32(message))


def _string_header(name: str, value: str) -> bytes:
    encoded = value.encode()
    return bytes([len(name)]) + name.encode() + b"\x07" + struct.pack(">H", len(encoded)) + encoded


def _metrics() -> dict[str, int]:
    return {
        "inputTokenCount": INPUT_TOKENS,
        "outputTokenCount": OUTPUT_TOKENS,
        "invocationLatency": 5,
        "firstByteLatency": 1,
    }


def _chunks(body: dict[str, Any]) -> list[dict[str, Any]]:
    """InvokeModelWithResponseStream's chunks: the Messages API's events, or the text completions'."""
    words = REPLY.split()
    if "messages" not in body:
        chunks: list[dict[str, Any]] = [{"completion": " " + word, "stop_reason": None, "stop": None} for word in words]
        chunks[-1].update(stop_reason="stop_sequence", **{"amazon-bedrock-invocationMetrics": _metrics()})
        return chunks
    return [
        {
            "type": "message_start",
            "message": {
                **_message("claude"),
                "content": [],
                "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": 1},
            },
        },
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        *(
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": (" " if i else "") + w}}
            for i, w in enumerate(words)
        ),
        {"type": "content_block_stop", "index": 0},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": OUTPUT_TOKENS},
        },
        {"type": "message_stop", "amazon-bedrock-invocationMetrics": _metrics()},
    ]


def _message(model_id: str) -> dict[str, Any]:
    return {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model_id,
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": INPUT_TOKENS, "output_tokens": OUTPUT_TOKENS},
    }


def _usage() -> dict[str, int]:
    return {"inputTokens": INPUT_TOKENS, "outputTokens": OUTPUT_TOKENS, "totalTokens": INPUT_TOKENS + OUTPUT_TOKENS}


def _converse() -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": [{"text": REPLY}]}},
        "stopReason": "end_turn",
        "usage": _usage(),
        "metrics": {"latencyMs": 5},
    }


def _converse_events() -> list[tuple[str, dict[str, Any]]]:
    words = REPLY.split()
    return [
        ("messageStart", {"role": "assistant"}),
        *(
            ("contentBlockDelta", {"delta": {"text": (" " if i else "") + w}, "contentBlockIndex": 0})
            for i, w in enumerate(words)
        ),
        ("contentBlockStop", {"contentBlockIndex": 0}),
        ("messageStop", {"stopReason": "end_turn"}),
        ("metadata", {"usage": _usage(), "metrics": {"latencyMs": 5}}),
    ]
