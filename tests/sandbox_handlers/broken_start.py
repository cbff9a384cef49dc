"""A decorated handler whose tracing fails to start (as a bug in it would make it): the wrapper then
runs the handler untraced, and hands nothing off. For the after_response tests."""

from __future__ import annotations

from typing import Any

from honeyhive_serverless import with_honeyhive_session, wrapper


class _BrokenInvocationTrace:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError("tracing could not start")


wrapper.InvocationTrace = _BrokenInvocationTrace  # type: ignore[misc, assignment]


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {"served": True}
