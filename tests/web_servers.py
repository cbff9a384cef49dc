"""Real servers on loopback for the web-app tests: werkzeug for WSGI apps (ASGI apps are
served by the dev package's ``served_asgi``, as ``make bench`` serves them), and a client that reads a
response to its end."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from werkzeug.serving import make_server


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@contextmanager
def wsgi_server(app: Any) -> Iterator[int]:
    """Serve ``app`` with werkzeug's threaded server on 127.0.0.1; yields the port. Stopped on exit."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def get(port: int, path: str, headers: Mapping[str, str] | None = None, body: Any = None) -> Reply:
    """One request (a JSON body makes it a POST), its response read to the last byte."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if payload is not None:
            sent["Content-Type"] = "application/json"
        connection.request("GET" if payload is None else "POST", path, body=payload, headers=sent)
        response = connection.getresponse()
        data = response.read()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        connection.close()
