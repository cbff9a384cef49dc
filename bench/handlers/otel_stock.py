"""Reference: the stock OpenTelemetry pipeline on Lambda, as OpenTelemetry's Lambda instrumentation runs
it: the SDK, the OTLP ``-proto-http`` exporter under a ``BatchSpanProcessor``, force-flushed once at the
end of every invocation (before the sandbox can freeze)."""

from __future__ import annotations

import os
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from work import generate, retrieve, run

provider = TracerProvider()
provider.add_span_processor(
    BatchSpanProcessor(
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
    try:
        with tracer.start_as_current_span("handler"):
            return {"statusCode": 200, "body": run(event, step, tool)}
    finally:
        provider.force_flush()
