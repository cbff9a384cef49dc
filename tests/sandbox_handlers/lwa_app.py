"""A FastAPI app for the Lambda Web Adapter tests: run by uvicorn from ``lwa_run.sh`` (the function's
handler), traced only by this project's ASGI middleware, from the layer's ``/opt/python``."""

from __future__ import annotations

import json
from collections.abc import Iterator

from fastapi import FastAPI, Header
from fastapi.responses import StreamingResponse
from opentelemetry import trace

from honeyhive_serverless.web import HoneyHiveASGIMiddleware

app = FastAPI()
app.add_middleware(HoneyHiveASGIMiddleware)
tracer = trace.get_tracer("lwa_app")


@app.get("/chat")
def chat(question: str, x_amzn_lambda_context: str = Header("{}")) -> dict[str, str]:
    with tracer.start_as_current_span("answer"):
        # What the adapter told of the invocation, so the test sees the app got it.
        invocation = json.loads(x_amzn_lambda_context)
        return {
            "answer": question.upper(),
            "request_id": invocation.get("request_id", ""),
            "xray_trace_id": invocation.get("xray_trace_id", ""),
        }


@app.get("/stream")
def stream(words: str) -> StreamingResponse:
    def chunks() -> Iterator[str]:
        for word in words.split(","):
            # A span per chunk, ended while the body streams: it must still leave before the stream ends.
            with tracer.start_as_current_span("chunk"):
                yield f"{word}\n"

    return StreamingResponse(chunks(), media_type="text/plain")
