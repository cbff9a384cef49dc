"""An example LLM-style handler, traced with the decorator.

Deploy it with the layer attached; each invocation becomes a HoneyHive session (or joins the one the
event names), with the three steps below as its events.
"""

from __future__ import annotations

import json
from typing import Any

from honeyhive_serverless import enrich_session, enrich_span, trace, with_honeyhive_session


@trace(event_type="tool")
def retrieve(question: str) -> list[str]:
    return [f"doc about {word}" for word in question.split()[:2]]


@trace(event_type="model")
def generate(question: str, documents: list[str]) -> str:
    enrich_span(metadata={"model": "echo-1"}, metrics={"documents": len(documents)})
    return f"Answer to {question!r} from {len(documents)} documents"


@trace(event_type="chain")
def answer(question: str) -> str:
    return generate(question, retrieve(question))


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    body = json.loads(event["body"]) if isinstance(event.get("body"), str) else event
    question = str(body.get("question", "What is HoneyHive?"))
    if question == "fail":
        raise ValueError("the model refused")
    reply = answer(question)
    enrich_session(metadata={"question_length": len(question)})
    return {"statusCode": 200, "body": reply}
