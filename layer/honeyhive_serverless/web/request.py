"""One web request as tracing sees it, whatever the server: pure descriptions, no I/O.

The ASGI and WSGI middlewares each turn their server's request into a :class:`WebRequest`; from there
the session it names, its span's attributes and its deadline are the same rules for both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import variables as var
from ..carriers import CarrierLookup, header_carrier
from ..faas.aws_lambda import xray_trace_id
from ..sessions import Candidate, baggage_candidates
from ..wire import SESSION_HEADER

#: The Lambda Web Adapter passes the invocation's Lambda context to the app as this header (JSON).
LAMBDA_CONTEXT_HEADER = "x-amzn-lambda-context"


@dataclass(frozen=True)
class LambdaFacts:
    """What a request served on Lambda says of its invocation."""

    #: ``time.monotonic()`` at which the invocation ends, when it says.
    deadline: float | None = None
    request_id: str | None = None
    #: The Lambda Web Adapter's readiness check, made before any invocation: not traced.
    readiness_check: bool = False
    #: The invocation's X-Ray trace id (``1-...``).
    xray_trace_id: str | None = None


NOT_ON_LAMBDA = LambdaFacts()


@dataclass(frozen=True)
class WebRequest:
    """What tracing reads of one request. Header names are lower case."""

    method: str
    path: str
    query: str = ""
    scheme: str = "http"
    headers: Sequence[tuple[str, str]] = ()
    #: The Lambda invocation the request serves, if any: its deadline and request id.
    invocation: LambdaFacts = NOT_ON_LAMBDA

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((value for key, value in self.headers if key == wanted), None)

    def carrier(self) -> CarrierLookup:
        return header_carrier(self.headers)

    def session_candidates(
        self, baggage_session: str | None, conversation: tuple[str, str] | None, *, conversations: bool
    ) -> list[Candidate]:
        """What may name the request's session, in order: ``X-Session-ID``, then the caller's baggage
        (its session, then its conversation: see ``sessions``)."""
        return [
            Candidate(self.header(SESSION_HEADER), f"header {SESSION_HEADER}"),
            *baggage_candidates(baggage_session, conversation, conversations=conversations),
        ]

    def deadline(self, margin_ms: int) -> float | None:
        """The deadline on the monotonic clock, ``margin_ms`` early; None when the platform sets none."""
        deadline = self.invocation.deadline
        return None if deadline is None else deadline - margin_ms / 1000

    def summary(self) -> dict[str, Any]:
        """The session's inputs: what of the request is worth keeping (never a header: they hold secrets)."""
        summary: dict[str, Any] = {"method": self.method, "path": self.path}
        if self.query:
            summary["query"] = self.query
        return summary

    def attributes(self) -> dict[str, str]:
        """OpenTelemetry HTTP server attributes of the request's span."""
        attributes = {"http.request.method": self.method, "url.path": self.path, "url.scheme": self.scheme}
        if self.query:
            attributes["url.query"] = self.query
        user_agent = self.header("user-agent")
        if user_agent:
            attributes["user_agent.original"] = user_agent
        if self.invocation.request_id:
            attributes["faas.invocation_id"] = self.invocation.request_id
        if self.invocation.xray_trace_id:
            attributes["aws.xray.trace_id"] = self.invocation.xray_trace_id  # as the wrapper's (faas.facts)
        return attributes


def lambda_facts(headers: Sequence[tuple[str, str]], path: str, env: Mapping[str, str]) -> LambdaFacts:
    """The invocation a request serves under the Lambda Web Adapter, from its context header.

    Read only on Lambda: elsewhere the header is any caller's to send. A header that is not the
    adapter's JSON is ignored. On Lambda, a request to the readiness path without the header is the
    adapter's readiness check (every request it forwards carries one).
    """
    if not env.get(var.LAMBDA_FUNCTION_NAME):
        return NOT_ON_LAMBDA
    raw = next((value for key, value in headers if key == LAMBDA_CONTEXT_HEADER), None)
    if raw is None:
        return LambdaFacts(readiness_check=path == (env.get(var.LWA_READINESS_CHECK_PATH) or "/"))
    try:
        fields = json.loads(raw)
    except ValueError:
        return NOT_ON_LAMBDA
    if not isinstance(fields, dict):
        return NOT_ON_LAMBDA
    deadline_ms = fields.get("deadline")  # epoch milliseconds
    request_id = fields.get("request_id")
    trace_header = fields.get("xray_trace_id")  # the whole X-Ray header, as the Runtime API gave it
    deadline = None
    if isinstance(deadline_ms, int | float) and deadline_ms > 0:
        deadline = time.monotonic() + deadline_ms / 1000 - time.time()
    return LambdaFacts(
        deadline,
        request_id if isinstance(request_id, str) else None,
        xray_trace_id=xray_trace_id(trace_header) if isinstance(trace_header, str) else None,
    )


def span_name(method: str, route: str | None) -> str:
    """``GET /items/{item_id}`` once the app has routed the request, else ``GET`` (the path would make
    a name per item, which OpenTelemetry's HTTP conventions advise against)."""
    return f"{method} {route}" if route else method


def status_is_error(status: int) -> bool:
    """A server error is the request's failure; a client error is the caller's (OpenTelemetry's rule)."""
    return status >= 500
