"""``llm.handler``'s work under ``@with_honeyhive_session``: the decorated form of the HH_INSTRUMENTORS tests."""

from __future__ import annotations

from typing import Any

from llm import handler as call_openai

from honeyhive_serverless import with_honeyhive_session


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return call_openai(event, context)
