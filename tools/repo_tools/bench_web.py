"""The web middleware's cost per request, side by side: one FastAPI app under uvicorn, bare and with
``HoneyHiveASGIMiddleware``, requests interleaved, at each RTT of the receiver. The traced request waits
for its export before the body's end (that is the point: nothing is left for after the response), so
its added time is that round trip (two for a new session's start when the app is quicker than one);
the first byte of a streamed body is not held back."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from statistics import median
from typing import Any

from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from honeyhive_serverless import HoneyHiveTracer
from honeyhive_serverless.web import HoneyHiveASGIMiddleware
from honeyhive_serverless_dev.asgi_serving import served_asgi
from honeyhive_serverless_dev.receiver import DevReceiver

VARIANTS = ("bare", "middleware")
#: Chunks the streamed route sends.
CHUNKS = 8


def web_app(tracer: HoneyHiveTracer | None) -> Any:
    """A JSON route and a streamed one; with ``tracer``, traced by the middleware (FastAPI's own
    telemetry on the same provider, as a user gets it once a tracer exists)."""
    app = FastAPI(telemetry={"tracer_provider": tracer.provider} if tracer is not None else {"tracing": False})

    @app.get("/chat")
    def chat() -> dict[str, str]:
        return {"answer": "ok"}

    @app.get("/stream")
    def stream() -> StreamingResponse:
        def body() -> Iterator[str]:
            for i in range(CHUNKS):
                yield f"chunk {i}\n"

        return StreamingResponse(body(), media_type="text/plain")

    if tracer is not None:
        app.add_middleware(HoneyHiveASGIMiddleware, tracer=tracer)
    return app


#: What each route is asked: a new session per request, or one the caller names (joined, no start).
REQUESTS = {"/chat": {}, "/chat (linked)": {"X-Session-ID": "9d1e4a6c-3b7f-4c2e-8a5d-0f6b2c9e7a41"}, "/stream": {}}


def _timed(port: int, request: str) -> tuple[float, float]:
    """(ms to the first body byte, ms to the last) of one GET, on a connection of its own: a kept-alive
    loopback connection leaves quick-ACK mode and meets 40 ms delayed-ACK stalls (measured, bare and
    traced alike, at random) that are no one's cost but the harness's."""
    connection = http.client.HTTPConnection("127.0.0.1", port)
    connection.connect()
    try:
        started = time.perf_counter()
        connection.request("GET", request.split(" ", maxsplit=1)[0], headers=REQUESTS[request])
        response = connection.getresponse()
        response.read(1)
        first = time.perf_counter()
        response.read()
        return (first - started) * 1000, (time.perf_counter() - started) * 1000
    finally:
        connection.close()


def web_runs(receiver: DevReceiver, rtts_ms: tuple[int, ...], runs: int) -> dict[str, Any]:
    """Median ms per request, ``{variant|route|rtt: {"first_byte_ms", "done_ms"}}``."""
    tracer = HoneyHiveTracer.init(
        api_key="bench-key", project="bench", server_url=receiver.url, export_mode="invocation",
        skip_backend_session_creation=True,
    )  # fmt: skip
    out: dict[str, Any] = {}
    with served_asgi(web_app(None)) as bare_port, served_asgi(web_app(tracer)) as traced_port:
        ports = {"bare": bare_port, "middleware": traced_port}
        try:
            for rtt in rtts_ms:
                receiver.delay_ms = rtt
                for route in REQUESTS:
                    samples: dict[str, list[tuple[float, float]]] = {name: [] for name in VARIANTS}
                    for _ in range(runs + 1):  # the first of each is a warm-up, dropped
                        for name in VARIANTS:  # interleaved: the machine's noise falls on both alike
                            samples[name].append(_timed(ports[name], route))
                    for name, timed in samples.items():
                        out[f"{name}|{route}|{rtt}"] = {
                            "first_byte_ms": median([first for first, _ in timed[1:]]),
                            "done_ms": median([done for _, done in timed[1:]]),
                        }
        finally:
            receiver.delay_ms = 0
            tracer.shutdown()
    return out


def report_lines(results: dict[str, Any], rtts_ms: tuple[int, ...]) -> list[str]:
    lines = [
        "",
        "## Web requests (FastAPI under uvicorn, in this process; `HoneyHiveASGIMiddleware` against bare)",
        "",
        "| route | RTT ms | bare: first byte / done ms | middleware: first byte / done ms | added to done |",
        "|---|---|---|---|---|",
    ]
    for route in REQUESTS:
        for rtt in rtts_ms:
            bare, traced = results[f"bare|{route}|{rtt}"], results[f"middleware|{route}|{rtt}"]
            lines.append(
                f"| {route} | {rtt} | {bare['first_byte_ms']:.2f} / {bare['done_ms']:.2f} |"
                f" {traced['first_byte_ms']:.2f} / {traced['done_ms']:.2f} |"
                f" {traced['done_ms'] - bare['done_ms']:+.2f} |"
            )
    lines += [
        "",
        "The traced request's spans leave before its body's last message, so the response's end waits for",
        "the export (and, for a new session, for its start, made beside the app's work: a quick app waits",
        "two round trips, a linked session one), and nothing is left for after it. A streamed body's first",
        "byte does not wait.",
    ]
    return lines
