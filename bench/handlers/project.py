"""This project: the decorator, traced calls, and one enrich_session for a new session (W1)."""

from __future__ import annotations

from typing import Any

from work import generate, retrieve, run

from honeyhive_serverless import enrich_session, trace, with_honeyhive_session

tool = trace(event_type="tool")(retrieve)
model = trace(event_type="model")(generate)


@trace(event_type="chain")
def step(question: str) -> str:
    return model(question, tool(question))


@with_honeyhive_session(capture_event=False, capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    answer = run(event, step, tool)
    if "session_id" not in event:
        enrich_session(metadata={"answer_length": len(answer)})
    return {"statusCode": 200, "body": answer}
