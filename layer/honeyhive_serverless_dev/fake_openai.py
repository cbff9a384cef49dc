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
import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from .serving import AcceptThread

#: What every completion says; streamed, one word per chunk.
REPLY = "Hello from the fake OpenAI server"
PROMPT_TOKENS = 7
COMPLETION_TOKENS = len(REPLY.split())


class FakeOpenAI:
    """Serves from ``start()`` (or ``with``) to ``stop()``; ``requests`` holds each request body."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self)
        self._accept: AcceptThread | None = None

    def start(self) -> FakeOpenAI:
        self._accept = AcceptThread(self._server, "fake-openai-accept").start()
        return self

    def stop(self) -> None:
        if self._accept is not None:
            self._accept.stop()
            self._accept = None
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """What ``OPENAI_BASE_URL`` (or ``OpenAI(base_url=...)``) should be."""
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def record(self, body: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(body)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], api: FakeOpenAI) -> None:
        self.api = api
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (socket.getfqdn), which can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = "127.0.0.1", int(self.server_address[1])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests' output stays the tests'

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        if self.path != "/v1/chat/completions":
            self._json(404, {"error": {"message": f"no route {self.path}", "type": "invalid_request_error"}})
            return
        self.server.api.record(body)
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
