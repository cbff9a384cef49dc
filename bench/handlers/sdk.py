"""Baseline: HoneyHive's SDK (honeyhive==1.7.0) as the seed guide recommends it for Lambda: lazy
get_tracer(), disable_batch=True, create_session() per invocation (or a link by session_id)."""

from __future__ import annotations

import os
from typing import Any

from honeyhive import HoneyHiveTracer, trace
from work import generate, retrieve, run

_tracer: HoneyHiveTracer | None = None


def get_tracer() -> HoneyHiveTracer:
    global _tracer  # noqa: PLW0603 - the guide's lazy-init pattern, as users write it
    if _tracer is None:
        _tracer = HoneyHiveTracer.init(
            api_key=os.getenv("HH_API_KEY"),
            project=os.getenv("HH_PROJECT"),
            server_url=os.getenv("HH_API_URL"),
            source="lambda",
            disable_batch=True,
        )
    return _tracer


@trace(event_type="tool")
def tool(question: str) -> list[str]:
    return retrieve(question)


@trace(event_type="model")
def model(question: str, documents: list[str]) -> str:
    return generate(question, documents)


@trace(event_type="chain")
def step(question: str) -> str:
    return model(question, tool(question))


def handler(event: Any, context: Any) -> dict[str, Any]:
    tracer = get_tracer()
    if event.get("session_id"):
        tracer.create_session(session_id=event["session_id"], skip_api_call=True)
    else:
        tracer.create_session(session_name=f"lambda-{context.function_name}")
    answer = run(event, step, tool)
    if not event.get("session_id"):
        tracer.enrich_session(metadata={"answer_length": len(answer)})
    tracer.force_flush(timeout_millis=5000)
    return {"statusCode": 200, "body": answer}
