"""The seed guide's web-server section (``seed-tracer-initialization.md``, "Web Servers"), as written there
but for the import line (``honeyhive`` to ``honeyhive_serverless``) and the one line that adds this
project's middleware, passed the app's own tracer. Built by functions so each test has its own tracer."""

from __future__ import annotations

import os
from typing import Any

import flask
from fastapi import FastAPI, Request

from honeyhive_serverless import HoneyHiveTracer, trace
from honeyhive_serverless.web import HoneyHiveASGIMiddleware, HoneyHiveWSGIMiddleware


def fastapi_seed() -> FastAPI:
    tracer = HoneyHiveTracer.init(api_key=os.getenv("HH_API_KEY"), project="my-api", source="production")

    app = FastAPI(telemetry={"tracer_provider": tracer.provider})  # the test's provider: see web_apps

    @app.middleware("http")
    async def session_middleware(request: Request, call_next: Any) -> Any:
        session_id = await tracer.acreate_session(
            session_name=f"api-{request.url.path}",
            inputs={"method": request.method, "path": str(request.url), "user_id": request.headers.get("X-User-ID")},
        )

        response = await call_next(request)

        tracer.enrich_session(outputs={"status_code": response.status_code})

        if session_id:
            response.headers["X-Session-ID"] = session_id

        return response

    @app.post("/api/chat")
    @trace(event_type="chain", tracer=tracer)
    async def chat_endpoint(message: str) -> dict[str, Any]:
        tracer.enrich_span(metadata={"message_length": len(message)})
        response = await process_message(message)
        return {"response": response}

    @trace(event_type="tool", tracer=tracer)
    async def process_message(message: str) -> str:
        return message.upper()

    app.add_middleware(HoneyHiveASGIMiddleware, tracer=tracer)  # the one line added
    return app


def flask_seed() -> flask.Flask:
    tracer = HoneyHiveTracer.init(api_key=os.getenv("HH_API_KEY"), project="my-flask-app", source="production")

    app = flask.Flask(__name__)

    @app.before_request
    def create_session_for_request() -> None:
        tracer.create_session(session_name=f"flask-{flask.request.path}", inputs={"method": flask.request.method})

    @app.after_request
    def enrich_session_after_request(response: flask.Response) -> flask.Response:
        tracer.enrich_session(outputs={"status_code": response.status_code})
        return response

    @app.route("/api/process", methods=["POST"])
    @trace(event_type="tool", tracer=tracer)
    def process_endpoint() -> dict[str, str]:
        return {"result": "ok"}

    app.wsgi_app = HoneyHiveWSGIMiddleware(app.wsgi_app, tracer=tracer)  # type: ignore[method-assign]
    return app
