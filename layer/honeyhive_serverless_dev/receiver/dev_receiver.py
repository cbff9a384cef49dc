"""The receiver itself: its lifecycle, its faults, the record of what it received, and queries over it.

The server (``server.py``) answers requests; this module keeps what they brought, holds it to
HoneyHive's contract (``contract.py``), wakes whoever waits for it, and writes it out as JSON lines or
session trees.
"""

from __future__ import annotations

import shutil
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from honeyhive_serverless.wire import EVENTS_PATH, OTLP_PATH

from ..serving import AcceptThread
from .contract import Contract, ContractReport, Finding, RequestRef
from .experiments import Runs
from .jsonl import jsonl_line, redact_headers
from .otlp import ReceivedSpan
from .render import render
from .server import FAULT_KINDS, Fault, FaultKind, Faults, Outcome, ReceivedRequest, Server


class DevReceiver:
    """A local HoneyHive-compatible HTTP receiver that records what it gets.

    Use as ``with DevReceiver() as rx: ...`` or ``rx = DevReceiver().start(); ...; rx.stop()``.
    Everything recorded lives in ``requests``, ``spans``, ``session_starts`` and ``event_updates``, and
    the experiment runs HoneyHive's ``evaluate()`` creates in ``runs``; read them under ``wait_for`` or
    after the client has its answer (requests are recorded before they are answered).

    ``delay_ms`` delays every answer (the request's round trip); ``connect_delay_ms`` every new connection
    (its TCP and TLS round trips). ``tls``: serve HTTPS with a certificate from a throwaway CA, whose PEM
    is at ``ca_path`` while the receiver runs (a client trusts it through ``SSL_CERT_FILE``).
    ``idle_timeout_s``: close a keep-alive connection on which no request has started for that long, as
    a load balancer does; each close counts in ``idle_closes`` and wakes ``wait_for``.

    Every request that reaches a HoneyHive route is held to HoneyHive's contract: what breaks it is in
    ``contract_report()`` (and passed to ``on_findings`` as it arrives), whatever the receiver answered.
    ``strict``: also answer as HoneyHive does where the contract refuses, i.e. ``PUT /events`` for an event
    that is no session it has (started, or auto-created by a span already received) gets a 404. Lenient by
    default, so that a dev server shows what breaks the contract without changing what the client sees;
    the test suite runs every receiver strict.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_keys: set[str] | None = None,
        delay_ms: float = 0.0,
        connect_delay_ms: float = 0.0,
        jsonl_path: str | Path | None = None,
        on_spans: Callable[[list[ReceivedSpan]], None] | None = None,
        tls: bool = False,
        idle_timeout_s: float | None = None,
        strict: bool = False,
        on_findings: Callable[[list[Finding]], None] | None = None,
    ) -> None:
        if idle_timeout_s is not None and idle_timeout_s <= 0:
            raise ValueError(f"idle_timeout_s must be positive, not {idle_timeout_s!r}")
        self._host = host
        self._requested_port = port
        self.tls = tls
        self.idle_timeout_s = idle_timeout_s
        self._ca_dir: Path | None = None
        self.api_keys: set[str] | None = set(api_keys) if api_keys is not None else None
        self.delay_ms: float = delay_ms
        self.connect_delay_ms: float = connect_delay_ms
        self.jsonl_path: Path | None = Path(jsonl_path) if jsonl_path is not None else None
        self.on_spans = on_spans
        self.strict = strict
        self.on_findings = on_findings
        # When set, POST /session/start answers 200 with exactly this JSON body (the session is still
        # recorded): lets tests exercise clients against malformed or partial answers.
        self.session_response_override: dict[str, Any] | None = None

        self._cond = threading.Condition(threading.RLock())
        self.requests: list[ReceivedRequest] = []
        self.spans: list[ReceivedSpan] = []
        self.session_starts: list[dict[str, Any]] = []
        self.event_updates: list[dict[str, Any]] = []
        self.runs = Runs(self._datapoint_of)
        self._log: list[tuple[str, Any]] = []
        self._otlp_count = 0
        self._idle_closes = 0
        self._session_seen_ns: dict[str, int] = {}
        self._jsonl_warned = False
        self._faults = Faults()
        self._contract = Contract()
        self._request_count = 0

        # Serialises start/stop/fault changes; never taken by handler threads.
        self._lifecycle = threading.Lock()
        self._stopping = threading.Event()
        self._server: Server | None = None
        self._accept: AcceptThread | None = None
        self._stopped = False

    # ---- lifecycle

    def start(self) -> DevReceiver:
        """Bind, listen and serve in a daemon thread; returns self."""
        with self._lifecycle:
            if self._server is not None or self._stopped:
                raise RuntimeError("DevReceiver can be started once")
            context = self._tls_context() if self.tls else None
            try:
                self._server = Server(
                    (self._host, self._requested_port),
                    settings=self,
                    faults=self._faults,
                    stopping=self._stopping,
                    record=self._record,
                    idle_closed=self._idle_closed,
                    tls=context,
                    idle_timeout_s=self.idle_timeout_s,
                )
            except OSError:
                self._remove_ca()
                raise
            self._start_accepting()
        return self

    def _tls_context(self) -> ssl.SSLContext:
        """A server context with a certificate for the host from a new throwaway CA, whose PEM it writes
        to a directory of its own (removed by stop())."""
        import trustme  # a dev dependency, needed by a TLS receiver only

        ca = trustme.CA()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(*dict.fromkeys([self._host, "127.0.0.1", "localhost"])).configure_cert(context)
        self._ca_dir = Path(tempfile.mkdtemp(prefix="hh-dev-receiver-ca-"))
        ca.cert_pem.write_to_path(str(self._ca_dir / "ca.pem"))
        return context

    def _remove_ca(self) -> None:
        if self._ca_dir is not None:
            shutil.rmtree(self._ca_dir, ignore_errors=True)

    def stop(self) -> None:
        """Stop serving, close every socket and release hanging handlers. Idempotent."""
        with self._lifecycle:
            if self._stopped:
                return
            self._stopped = True
            self._stopping.set()
            fault = self._faults.current()
            if fault is not None:
                fault.released.set()
            server = self._server
            if server is None:
                return
            self._stop_accepting()
            server.close_connections()
            server.join_handlers(timeout=2.0)
            self._remove_ca()

    def __enter__(self) -> DevReceiver:
        return self.start() if self._server is None else self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port (stays the same across "refuse" faults)."""
        if self._server is None:
            raise RuntimeError("DevReceiver is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234`` or, with TLS, ``https://...`` (what HH_API_URL should be
        set to)."""
        host = self._host if ":" not in self._host else f"[{self._host}]"
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_path(self) -> Path:
        """The PEM of the CA that signed a TLS receiver's certificate (what SSL_CERT_FILE should be set to);
        it exists from start() to stop()."""
        if self._ca_dir is None:
            raise RuntimeError("only a started DevReceiver(tls=True) has a CA")
        return self._ca_dir / "ca.pem"

    @property
    def connection_count(self) -> int:
        """TCP connections accepted so far (not reset by clear())."""
        return self._server.accepted if self._server is not None else 0

    @property
    def idle_closes(self) -> int:
        """Connections closed for being idle longer than ``idle_timeout_s`` (not reset by clear())."""
        with self._cond:
            return self._idle_closes

    def _start_accepting(self) -> None:
        assert self._server is not None
        self._accept = AcceptThread(self._server, "hh-dev-receiver-accept").start()

    def _stop_accepting(self) -> None:
        """Stop the accept loop and close the listening socket, so new connections are refused."""
        assert self._server is not None
        if self._accept is not None:
            self._accept.stop()
            self._accept = None
        self._server.socket.close()

    # ---- faults

    def set_fault(self, kind: FaultKind | str, *, delay_s: float = 1.0, path_prefix: str | None = None) -> None:
        """Inject a fault until clear_fault() ("401_once" clears itself after one request).

        ``path_prefix`` limits request-level faults to matching paths; ``delay_s`` is the "slow" delay.
        "refuse" closes the listening socket and every open connection.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        with self._lifecycle:
            if kind == "refuse" and (self._server is None or self._stopped):
                raise RuntimeError("a 'refuse' fault needs a running receiver")
            self._clear_fault_locked()
            self._faults.replace(Fault(kind, delay_s, path_prefix))
            if kind == "refuse":
                assert self._server is not None
                self._stop_accepting()
                self._server.close_connections()

    def clear_fault(self) -> None:
        """Back to normal: release hanging requests, and listen again after "refuse"."""
        with self._lifecycle:
            self._clear_fault_locked()

    def _clear_fault_locked(self) -> None:
        fault = self._faults.replace(None)
        if fault is None:
            return
        fault.released.set()
        if fault.kind == "refuse" and not self._stopped:
            assert self._server is not None
            self._server.listen_again()
            self._start_accepting()

    # ---- recording (called from handler threads)

    def admits_update(self, event_id: str) -> bool:
        """Whether ``PUT /events`` for ``event_id`` is answered: always, unless strict and it is unknown."""
        with self._cond:
            return not self.strict or self._contract.knows(event_id)

    def _record(self, request: ReceivedRequest, outcome: Outcome | None) -> None:
        """Record a request and, when it was answered 200, its payload; judge it by the contract when it
        reached a HoneyHive route; wake every waiter."""
        new_spans: list[ReceivedSpan] = []
        findings: list[Finding] = []
        with self._cond:
            self.requests.append(request)
            self._request_count += 1
            items: list[tuple[str, Any]] = [("request", request)]
            if urlsplit(request.path).path == OTLP_PATH:
                request_index = self._otlp_count
                self._otlp_count += 1
            else:
                request_index = -1
            if outcome is not None and outcome.status == 200:
                if outcome.session_start is not None:
                    self.session_starts.append(outcome.session_start)
                    self._session_seen_ns.setdefault(outcome.session_start["session_id"], time.time_ns())
                    items.append(("session_start", outcome.session_start))
                if outcome.event_update is not None:
                    self.event_updates.append(outcome.event_update)
                    items.append(("event_update", outcome.event_update))
                for span in outcome.spans:
                    span.request_index = request_index
                    self.spans.append(span)
                    items.append(("span", span))
                new_spans = outcome.spans
            if outcome is not None and outcome.routed:
                findings = self._judge(request, outcome)
                items.extend(("contract", finding) for finding in findings)
            self._log.extend(items)
            if self.jsonl_path is not None:
                self._append_jsonl(self.jsonl_path, items)
            self._cond.notify_all()
        if new_spans and self.on_spans is not None:
            try:
                self.on_spans(list(new_spans))
            except Exception as exc:  # a listener bug must not break the receiver
                print(f"hh dev receiver: on_spans failed: {exc!r}", file=sys.stderr)
        if findings and self.on_findings is not None:
            try:
                self.on_findings(list(findings))
            except Exception as exc:
                print(f"hh dev receiver: on_findings failed: {exc!r}", file=sys.stderr)

    def _judge(self, request: ReceivedRequest, outcome: Outcome) -> list[Finding]:
        """Hand a routed request to the contract (under the lock); the findings it brought."""
        route = urlsplit(request.path).path
        ref = RequestRef(self._request_count, request.method, route)
        if route == OTLP_PATH:
            return self._contract.spans(ref, outcome.spans) if outcome.status == 200 else []
        if route == EVENTS_PATH:
            return self._contract.event_update(ref, request.body, outcome.status)
        started = outcome.session_start["session_id"] if outcome.session_start and outcome.status == 200 else None
        # HoneyHive dates a start without start_time when it arrives, not when it is answered.
        arrival_ms = (time.time() - (time.monotonic() - request.received_at)) * 1000
        return self._contract.session_start(ref, request.body, started, arrival_ms)

    def _idle_closed(self) -> None:
        with self._cond:
            self._idle_closes += 1
            self._cond.notify_all()

    def _append_jsonl(self, path: Path, items: list[tuple[str, Any]]) -> None:
        try:
            with path.open("a", encoding="utf-8") as out:
                for kind, item in items:
                    out.write(jsonl_line(kind, item, self.api_keys))
        except OSError as exc:
            if not self._jsonl_warned:
                self._jsonl_warned = True
                print(f"hh dev receiver: cannot write {path}: {exc}", file=sys.stderr)

    # ---- queries

    def wait_for(self, predicate: Callable[[DevReceiver], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate(self)`` is true (checked on every record and idle close); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_for_spans(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` spans have been recorded."""
        return self.wait_for(lambda rx: len(rx.spans) >= n, timeout)

    def spans_for_session(self, session_id: str) -> list[ReceivedSpan]:
        """Spans whose ``honeyhive.session_id`` is ``session_id``, in arrival order."""
        with self._cond:
            return [span for span in self.spans if span.session_id == session_id]

    def _datapoint_of(self, session_id: str) -> str | None:
        """The datapoint the session ``session_id`` ran, as its session start's metadata names it."""
        with self._cond:
            for start in self.session_starts:
                metadata = start.get("metadata")
                if start["session_id"] == session_id and isinstance(metadata, dict):
                    datapoint = metadata.get("datapoint_id")
                    return datapoint if isinstance(datapoint, str) else None
        return None

    def otlp_requests(self) -> list[ReceivedRequest]:
        """Requests to the OTLP traces path (faulted and rejected ones included)."""
        with self._cond:
            return [r for r in self.requests if urlsplit(r.path).path == OTLP_PATH]

    def contract_report(self) -> ContractReport:
        """What HoneyHive's contract found in the traffic so far: violations, orphaned spans, refused
        updates (each with the request it came from), and the sessions HoneyHive would have."""
        with self._cond:
            return self._contract.report()

    def clear(self) -> None:
        """Forget everything recorded. The connection count is kept, and so is the contract's state: the
        sessions HoneyHive has and what broke the contract are not forgotten with the record."""
        with self._cond:
            self.requests.clear()
            self.spans.clear()
            self.session_starts.clear()
            self.event_updates.clear()
            self.runs.clear()
            self._log.clear()
            self._otlp_count = 0
            self._session_seen_ns.clear()
            self._cond.notify_all()

    # ---- output

    def redact_headers(self, headers: Mapping[str, str]) -> dict[str, str]:
        """Headers fit for printing: the Authorization credential (and any API key) become ``***``."""
        return redact_headers(headers, self.api_keys)

    def dump_jsonl(self, path: str | Path) -> int:
        """Write every recorded item (requests, session starts, event updates, spans, contract findings) as
        JSON lines.

        Returns the number of lines. Bytes become hex; Authorization headers are redacted.
        """
        with self._cond:
            lines = [jsonl_line(kind, item, self.api_keys) for kind, item in self._log]
        Path(path).write_text("".join(lines), encoding="utf-8")
        return len(lines)

    def render_sessions(self, session_ids: Iterable[str] | None = None, *, include_unsessioned: bool = True) -> str:
        """Every session (or just ``session_ids``) as a text tree of its spans.

        Spans without a session id are listed last when ``include_unsessioned``.
        """
        with self._cond:
            spans = list(self.spans)
            starts = list(self.session_starts)
            updates = list(self.event_updates)
            seen = dict(self._session_seen_ns)
            report = self._contract.report()
        return render(
            spans,
            starts,
            updates,
            seen,
            None if session_ids is None else set(session_ids),
            include_unsessioned=include_unsessioned,
            report=report,
        )
