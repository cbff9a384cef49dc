"""A handler traced with honeyhive_serverless, for the CLI test with the embedded dev receiver."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import trace, with_honeyhive_session


@trace
def answer(question: str) -> str:
    return f"echo: {question}"


@with_honeyhive_session
def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"answer": answer(event.get("question", ""))}
