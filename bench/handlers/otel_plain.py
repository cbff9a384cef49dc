"""Reference: the plain OpenTelemetry SDK and OTLP/HTTP exporter, each span exported as it ends."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from work import generate, retrieve, run

provider = TracerProvider()
provider.add_span_processor(
    SimpleSpanProcessor(
        OTLPSpanExporter(
            endpoint=os.environ["HH_API_URL"] + "/opentelemetry/v1/traces",
            headers={"Authorization": f"Bearer {os.environ['HH_API_KEY']}"},
        )
    )
)
tracer = provider.get_tracer("bench")


def tool(question: str) -> list[str]:
    with tracer.start_as_current_span("retrieve"):
        return retrieve(question)


def step(question: str) -> str:
    with tracer.start_as_current_span("step"):
        documents = tool(question)
        with tracer.start_as_current_span("generate"):
            return generate(question, documents)


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "body": run(event, step, tool)}
