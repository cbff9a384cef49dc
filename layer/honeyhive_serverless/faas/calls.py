"""A wrapped handler's call, whatever the platform: its facts, and the response with its session.

A Lambda ``(event, context)``, a Cloud Functions HTTP request or a CloudEvent; anything else is
described as a Lambda call with what it has.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from . import aws_lambda
from .facts import InvocationFacts
from .starts import starts


def describe_call(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> InvocationFacts:
    """Describe a handler call from its arguments: Lambda, Cloud Functions HTTP or CloudEvent."""
    env = os.environ
    if len(args) >= 2 and hasattr(args[1], "aws_request_id"):
        return aws_lambda.describe(args[0], args[1], env, starts.next_start(env))
    if len(args) == 1:
        from . import gcf  # Cloud Functions' shapes: a Lambda cold start never needs them

        described = gcf.describe(args[0], env)
        if described is not None:
            return described._replace(start=starts.next_start(env))
    event = args[0] if args else kwargs.get("event")
    context = args[1] if len(args) > 1 else kwargs.get("context")
    return aws_lambda.describe(event, context, env, starts.next_start(env))


def with_session_header(facts: InvocationFacts, result: Any, session_id: str) -> Any:
    """What the caller gets: the handler's HTTP response with ``X-Session-ID`` set."""
    if facts.platform == "cloud-function":
        from . import gcf

        return gcf.with_session_header(result, session_id, facts.extra["framework"])
    return aws_lambda.with_session_header(result, session_id)


def streams_after_return(args: tuple[Any, ...]) -> bool:
    """The call is a Flask request: its response body may be read after the function returns."""
    if len(args) != 1:
        return False
    from . import gcf

    return gcf.request_framework(args[0]) == "flask"


def streamed_response(facts: InvocationFacts, result: Any) -> Any:
    """The HTTP response whose body streams after the function returns, or None."""
    if facts.platform != "cloud-function" or not facts.is_http:
        return None
    from . import gcf

    return gcf.streamed_response(result, facts.extra["framework"])
