"""The web apps the web-app tests serve: FastAPI behind ``HoneyHiveASGIMiddleware`` and Flask behind
``HoneyHiveWSGIMiddleware``, each with a JSON route and streamed routes whose chunks make spans as they
are sent. Every span records the request's ``n`` (``honeyhive_inputs.n``), so a test can tell which
request each span came from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
from fastapi import FastAPI
from fastapi.responses import StreamingResponse

from honeyhive_serverless import HoneyHiveTracer, get_tracer, trace
from honeyhive_serverless.web import HoneyHiveASGIMiddleware, HoneyHiveWSGIMiddleware

#: Chunks a streamed route sends; each is made by one traced call.
CHUNKS = 3


@trace(event_type="tool")
def retrieve(n: int) -> str:
    return f"doc {n}"


@trace(event_type="model")
def chunk(n: int, i: int) -> str:
    return f"{n}:{i};"


@trace(event_type="model")
async def achunk(n: int, i: int) -> str:
    await asyncio.sleep(0)  # a real await between chunks: other requests' chunks interleave
    return f"{n}:{i};"


def fastapi_app(tracer: HoneyHiveTracer | None = None, *, middleware: str | None = "add") -> Any:
    """The FastAPI app: wrapped by the middleware (``wrap``), with it added (``add``), or without it."""
    # FastAPI's own telemetry reads the global provider, which a process sets once: this test's tracer.
    app = FastAPI(telemetry={"tracer_provider": (tracer or get_tracer()).provider})

    @app.get("/chat/{n}")
    async def chat(n: int) -> dict[str, Any]:
        return {"n": n, "doc": retrieve(n), "seen_session_id": get_tracer().session_id}

    @app.get("/stream/{n}")
    async def stream(n: int) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            for i in range(CHUNKS):
                yield await achunk(n, i)

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/stream-sync/{n}")
    def stream_sync(n: int) -> StreamingResponse:
        def body() -> Iterator[str]:
            for i in range(CHUNKS):
                yield chunk(n, i)

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/slow-stream/{n}")
    async def slow_stream(n: int) -> StreamingResponse:
        async def body() -> AsyncIterator[str]:
            for i in range(100):
                yield await achunk(n, i)
                await asyncio.sleep(0.01)  # the workload: a client can go away mid-stream

        return StreamingResponse(body(), media_type="text/plain")

    @app.get("/fail/{n}")
    async def fail(n: int) -> None:
        retrieve(n)
        raise RuntimeError(f"request {n} failed")

    if middleware == "add":
        app.add_middleware(HoneyHiveASGIMiddleware, tracer=tracer)
    return HoneyHiveASGIMiddleware(app, tracer=tracer) if middleware == "wrap" else app


def flask_app(tracer: HoneyHiveTracer | None = None) -> flask.Flask:
    app = flask.Flask(__name__)

    @app.get("/chat/<int:n>")
    def chat(n: int) -> dict[str, Any]:
        return {"n": n, "doc": retrieve(n), "seen_session_id": get_tracer().session_id}

    @app.get("/stream/<int:n>")
    @app.get("/stream-sync/<int:n>")  # a Flask generator is synchronous anyway: the same route
    def stream(n: int) -> flask.Response:
        def body() -> Iterator[str]:
            for i in range(CHUNKS):
                yield chunk(n, i)

        return flask.Response(body(), mimetype="text/plain")

    app.wsgi_app = HoneyHiveWSGIMiddleware(app.wsgi_app, tracer=tracer)  # type: ignore[method-assign]
    return app
