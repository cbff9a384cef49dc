"""The dev receiver as production's network looks to a client: HTTPS from a throwaway CA, keep-alive
connections closed when idle (as a load balancer does), and what it records of each connection."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator

import pytest

from honeyhive_serverless_dev.receiver import DevReceiver

pytestmark = pytest.mark.timeout(30)

# A request with a body that HoneyHive takes at any time: a session start (again: it merges).
SESSION_START = b'{"session": {"session_id": "s"}}'
IDLE_S = 0.2
# What a client's request on a connection the server closed raises: the read sees end-of-file
# (RemoteDisconnected) or, when the close's reset beats the second send, the write fails.
CLOSED_ERRORS = (ConnectionError, http.client.HTTPException, ssl.SSLError)


@pytest.fixture
def tls_rx() -> Iterator[DevReceiver]:
    with DevReceiver(tls=True, idle_timeout_s=IDLE_S) as receiver:
        yield receiver


class ResumingConnection(http.client.HTTPSConnection):
    """An HTTPS connection that offers ``session`` (a TLS session from an earlier connection) in its
    handshake; ``http.client`` itself never does."""

    def __init__(self, port: int, context: ssl.SSLContext, session: ssl.SSLSession | None) -> None:
        super().__init__("127.0.0.1", port, context=context, timeout=5)
        self.tls_context = context
        self.session = session

    def connect(self) -> None:
        raw = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self.tls_context.wrap_socket(raw, server_hostname=self.host, session=self.session)


def start_session(conn: http.client.HTTPConnection) -> int:
    conn.request("POST", "/session/start", body=SESSION_START, headers={"Content-Type": "application/json"})
    response = conn.getresponse()
    response.read()
    return response.status


def test_https_works_with_the_receivers_ca_trusted_through_ssl_cert_file_and_fails_without_it(
    tls_rx: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert tls_rx.url == f"https://127.0.0.1:{tls_rx.port}"
    with pytest.raises(ssl.SSLCertVerificationError):
        start_session(http.client.HTTPSConnection("127.0.0.1", tls_rx.port, timeout=5))

    # What the runtime's transport builds: the default context, which reads SSL_CERT_FILE.
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_rx.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", tls_rx.port, context=ssl.create_default_context(), timeout=5)
    try:
        assert start_session(conn) == 200
        assert start_session(conn) == 200
    finally:
        conn.close()

    # The failed handshake is a connection with no request; the two requests shared the second one.
    assert tls_rx.connection_count == 2
    assert [(r.connection_id, r.new_connection, r.tls_resumed) for r in tls_rx.requests] == [
        (2, True, False),
        (2, False, False),
    ]
    assert len(tls_rx.session_starts) == 2


def test_the_ca_lives_from_start_to_stop_and_a_plain_receiver_has_none() -> None:
    receiver = DevReceiver(tls=True).start()
    ca_path = receiver.ca_path
    assert ca_path.read_text().startswith("-----BEGIN CERTIFICATE-----")
    receiver.stop()
    assert not ca_path.parent.exists()
    with DevReceiver() as plain:
        assert plain.url.startswith("http://")
        with pytest.raises(RuntimeError):
            _ = plain.ca_path
        assert plain.requests == []


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
def test_an_idle_keep_alive_connection_is_closed_and_the_next_request_comes_on_a_new_one(tls: bool) -> None:
    with DevReceiver(tls=tls, idle_timeout_s=IDLE_S) as rx:
        if tls:
            context = ssl.create_default_context(cafile=str(rx.ca_path))
            conn: http.client.HTTPConnection = http.client.HTTPSConnection("127.0.0.1", rx.port, context=context)
        else:
            conn = http.client.HTTPConnection("127.0.0.1", rx.port, timeout=5)
        try:
            assert start_session(conn) == 200
            assert start_session(conn) == 200  # back to back: well within the idle timeout
            assert rx.wait_for(lambda r: r.idle_closes == 1)
            with pytest.raises(CLOSED_ERRORS):
                start_session(conn)
            conn.close()
            assert start_session(conn) == 200  # http.client opens a new connection
        finally:
            conn.close()
        answered = [(r.connection_id, r.new_connection) for r in rx.requests if r.status == 200]
        assert answered == [(1, True), (1, False), (2, True)]
        assert rx.connection_count == 2


def test_a_connection_opened_and_never_used_is_closed_when_idle(tls_rx: DevReceiver) -> None:
    context = ssl.create_default_context(cafile=str(tls_rx.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", tls_rx.port, context=context, timeout=5)
    try:
        conn.connect()
        assert tls_rx.wait_for(lambda r: r.idle_closes == 1)
        assert conn.sock is not None
        assert conn.sock.recv(1) == b""  # the client can tell before it sends anything
    finally:
        conn.close()
    assert tls_rx.requests == []


def test_a_request_answered_later_than_the_idle_timeout_is_not_cut_off(tls_rx: DevReceiver) -> None:
    tls_rx.delay_ms = IDLE_S * 1000 * 3
    context = ssl.create_default_context(cafile=str(tls_rx.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", tls_rx.port, context=context, timeout=5)
    try:
        assert start_session(conn) == 200
        assert tls_rx.idle_closes == 0
        assert start_session(conn) == 200  # and the connection stays open for the next one
    finally:
        conn.close()
    assert [r.new_connection for r in tls_rx.requests] == [True, False]


def test_a_tls_session_offered_from_an_earlier_connection_is_resumed_and_recorded(tls_rx: DevReceiver) -> None:
    context = ssl.create_default_context(cafile=str(tls_rx.ca_path))
    first = ResumingConnection(tls_rx.port, context, None)
    try:
        assert start_session(first) == 200  # TLS 1.3 tickets arrive after the handshake: read an answer first
        assert first.sock is not None
        session = first.sock.session
    finally:
        first.close()
    second = ResumingConnection(tls_rx.port, context, session)
    try:
        assert start_session(second) == 200
        assert second.sock is not None and second.sock.session_reused
    finally:
        second.close()
    assert [(r.connection_id, r.new_connection, r.tls_resumed) for r in tls_rx.requests] == [
        (1, True, False),
        (2, True, True),
    ]


def test_connect_delay_ms_is_paid_once_per_connection_in_the_tls_handshake(tls_rx: DevReceiver) -> None:
    tls_rx.connect_delay_ms = 500
    context = ssl.create_default_context(cafile=str(tls_rx.ca_path))
    conn = http.client.HTTPSConnection("127.0.0.1", tls_rx.port, context=context, timeout=5)
    try:
        started = time.monotonic()
        conn.connect()
        connected = time.monotonic()
        assert start_session(conn) == 200
        answered = time.monotonic()
    finally:
        conn.close()
    assert connected - started >= 0.5
    assert answered - connected < 0.5
