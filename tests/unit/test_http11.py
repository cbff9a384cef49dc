"""The transport's HTTP/1.1 connection (``export/http11``) against a server on loopback that answers each
request with the bytes a test scripts: every way an answer's body may be framed, keep-alive, and what a
server may get wrong."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from honeyhive_serverless.export.http11 import Connection, ProtocolError, RemoteDisconnected


@contextmanager
def scripted(*answers: bytes) -> Iterator[tuple[int, list[bytes]]]:
    """A server on an ephemeral port of 127.0.0.1 that takes one connection and answers its requests
    with ``answers`` in turn, then closes it; yields its port and the requests it read."""
    listener = socket.create_server(("127.0.0.1", 0))
    requests: list[bytes] = []

    def serve() -> None:
        conn, _ = listener.accept()
        with conn, conn.makefile("rb") as reader:
            for answer in answers:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    (
                        int(line.split(b":")[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length")
                    ),
                    0,
                )
                requests.append(head + reader.read(length))
                conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], requests
    finally:
        listener.close()
        thread.join(5)


def _post(port: int, connection: Connection | None = None) -> tuple[int, bytes, bool]:
    conn = connection or Connection("127.0.0.1", port, timeout=5)
    answer = conn.request("POST", "/events", b'{"a": 1}', {"Content-Type": "application/json"})
    return answer.status, answer.body, answer.will_close


def test_a_request_is_sent_with_its_host_length_and_headers() -> None:
    with scripted(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") as (port, requests):
        assert _post(port) == (200, b"ok", False)
    assert requests == [
        f"POST /events HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 8\r\n"
        'Content-Type: application/json\r\n\r\n{"a": 1}'.encode()
    ]


def test_two_requests_share_a_kept_alive_connection() -> None:
    ok = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    with scripted(ok, b"HTTP/1.1 201 Created\r\ncontent-length: 0\r\n\r\n") as (port, requests):
        conn = Connection("127.0.0.1", port, timeout=5)
        assert _post(port, conn) == (200, b"ok", False)
        assert _post(port, conn) == (201, b"", False)
    assert len(requests) == 2


@pytest.mark.parametrize(
    ("answer", "body", "will_close"),
    [
        (
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;ext=1\r\nspan\r\n2\r\ns!\r\n0\r\nX-T: 1\r\n\r\n",
            b"spans!",
            False,
        ),
        (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye", b"bye", True),
        (b"HTTP/1.1 200 OK\r\n\r\nto the end", b"to the end", True),
        (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", True),
        (b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok", b"ok", False),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", b"ok", False),
        (b"HTTP/1.1 204 No Content\r\n\r\n", b"", False),
    ],
    ids=["chunked", "connection close", "no length", "HTTP/1.0", "HTTP/1.0 keep-alive", "100 Continue", "204"],
)
def test_every_framing_of_an_answer_is_read_whole(answer: bytes, body: bytes, will_close: bool) -> None:
    with scripted(answer) as (port, _):
        assert _post(port)[1:] == (body, will_close)


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"SMTP ready\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
    ],
    ids=["truncated body", "not HTTP", "bad length", "bad chunk size", "too many headers"],
)
def test_a_malformed_answer_is_a_protocol_error(answer: bytes) -> None:
    with scripted(answer) as (port, _), pytest.raises(ProtocolError):
        _post(port)


def test_a_connection_closed_without_an_answer_is_remote_disconnected() -> None:
    with scripted(b"") as (port, _), pytest.raises(RemoteDisconnected):
        _post(port)


@pytest.mark.parametrize("header", [("X-Key", "a\r\nInjected: 1"), ("Bad:Name", "v"), ("", "v")])
def test_a_header_that_would_change_the_request_is_refused_before_anything_is_sent(header: tuple[str, str]) -> None:
    conn = Connection("127.0.0.1", 9, timeout=5)  # never connected: the refusal comes first
    with pytest.raises(ProtocolError):
        conn.request("POST", "/", b"", dict([header]))
    assert conn.sock is None
