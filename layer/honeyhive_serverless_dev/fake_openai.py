"""A fake OpenAI API on 127.0.0.1, for the real ``openai`` client: ``POST /v1/chat/completions``, as one
JSON completion or, with ``"stream": true``, as server-sent events, the way api.openai.com answers.

Only the provider is fake: the client, its HTTP stack and the instrumentor under test are the real ones.
The tests, ``make bench`` (the instrumentor's cold-start cost) and ``make demo`` use it.

>>> with FakeOpenAI() as api:
...     api.base_url.startswith("http://127.0.0.1:")
True
"""

from __future__ import annotations

import json
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from .serving import FakeProvider, FakeProviderServer

#: What every completion says; streamed, one word per chunk.
REPLY = "Hello from the fake OpenAI server"
PROMPT_TOKENS = 7
COMPLETION_TOKENS = len(REPLY.split())


class FakeOpenAI(FakeProvider[dict[str, Any]]):
    """Serves from ``start()`` (or ``with``) to ``stop()``; ``requests`` holds each request body."""

    def __init__(self) -> None:
        super().__init__(_Handler, "fake-openai")

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` (or ``OpenAI(base_url=...)``) should be."""
        return f"http://127.0.0.1:{self.port}/v1"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeProviderServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests' output stays the tests'

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        self.server.provider.record(body)
        model = str(body.get("model", "gpt-4o-mini"))
        if body.get("stream"):
            self._stream(model, bool((body.get("stream_options") or {}).get("include_usage")))
        else:
            self._json(200, _completion(model))

    def _json(self, status: int, document: dict[str, Any]) -> None:
        payload = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _stream(self, model: str, include_usage: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")  # the stream's end is the connection's
        self.end_headers()
        words = REPLY.split()
        for index, word in enumerate(words):
            delta = {"role": "assistant", "content": word} if index == 0 else {"content": " " + word}
            last = index == len(words) - 1
            self._event(_chunk(model, [{"index": 0, "delta": delta, "finish_reason": "stop" if last else None}]))
        if include_usage:
            self._event({**_chunk(model, []), "usage": _usage()})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, document: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(document).encode() + b"\n\n")
        self.wfile.flush()


def _usage() -> dict[str, int]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
    }


def _completion(model: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY}, "finish_reason": "stop"}],
        "usage": _usage(),
    }


def _chunk(model: str, choices: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": choices,
    }
