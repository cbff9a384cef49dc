"""A router the runtime calls undecorated: it calls the decorated function only when the event asks
(``{"trace": true}``), so the other invocations hand nothing off to the after_response extension."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import with_honeyhive_session


@with_honeyhive_session(capture_event=False, capture_response=False)
def traced(event: Any, context: Any) -> dict[str, Any]:
    return {"statusCode": 200, "traced": True}


def handler(event: Any, context: Any) -> dict[str, Any]:
    if event.get("trace"):
        return traced(event, context)
    return {"statusCode": 200, "traced": False}
