"""Facts about one invocation of a wrapped handler: what started it, which session it names, and
whether it was cold; the same facts as span attributes and as HoneyHive session metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from ..carriers import CarrierLookup
from ..triggers import FAAS_TRIGGER, SessionLookup, trigger_source


class InvocationFacts(NamedTuple):
    """One call of a wrapped handler, described for the session and the invocation span.

    A named tuple, not a dataclass, for the cold start: the dataclass cost 0.7-1.1 ms at import (measured).
    """

    platform: str
    event: Any
    lookup: SessionLookup
    invocation_id: str | None = None
    function_name: str | None = None
    function_version: str | None = None
    resource_id: str | None = None
    region: str | None = None
    memory_mb: str | None = None
    #: ``time.monotonic()`` at which the platform kills the invocation, when it says.
    deadline: float | None = None
    start: str = "warm"
    #: The tenant of a function in tenant isolation mode.
    tenant_id: str | None = None
    extra: Mapping[str, Any] = {}
    #: The trace context the call carries: the event's (or its client context's), or one per record.
    carriers: tuple[CarrierLookup, ...] = ()
    #: The event is a batch of records, each with its own context.
    batch: bool = False
    #: The invocation's X-Ray trace id (``1-5759e988-bd862e3fe1be46a994272793``), on Lambda.
    xray_trace_id: str | None = None
    #: The trace the invocation span is in when it has no caller's span for parent: a durable
    #: execution's, the same in every invocation of it. None: a new trace, as for any other call.
    root_trace_id: int | None = None
    #: What the call does, when the caller says it better than the function's name (an AgentCore
    #: Gateway's tool): the invocation span's name, and attributes of it.
    operation: str | None = None
    operation_attributes: Mapping[str, str] = {}

    @property
    def cold_start(self) -> bool:
        return self.start in ("cold", "restored")

    @property
    def is_http(self) -> bool:
        return FAAS_TRIGGER.get(self.lookup.trigger) == "http"

    @property
    def span_name(self) -> str:
        """The invocation span's (and HoneyHive event's) name: the operation, else the function's name."""
        return self.operation or self.function_name or "handler"

    def default_session_name(self) -> str:
        prefix = "cloud-function" if self.platform == "cloud-function" else "lambda"
        return f"{prefix}-{self.function_name or 'function'}"

    def attributes(self) -> dict[str, str | bool]:
        """OpenTelemetry FaaS attributes of the invocation span."""
        values: dict[str, str | bool | None] = {
            "faas.invocation_id": self.invocation_id,
            "faas.coldstart": self.cold_start,
            "faas.trigger": FAAS_TRIGGER.get(self.lookup.trigger, "other"),
            "faas.name": self.function_name,
            "faas.version": self.function_version,
            "faas.max_memory": self.memory_mb,
            "cloud.provider": "gcp" if self.platform == "cloud-function" else "aws",
            "cloud.resource_id": self.resource_id,
            "cloud.region": self.region,
            "aws.lambda.tenant_id": self.tenant_id,
            # Not an OpenTelemetry convention (none names it); under ``aws.`` as its AWS attributes are, and
            # in X-Ray's own form, the one X-Ray and CloudWatch search by. The trace stays the W3C caller's.
            "aws.xray.trace_id": self.xray_trace_id,
            **self.operation_attributes,
        }
        return {key: value for key, value in values.items() if value is not None}

    def metadata(self) -> dict[str, Any]:
        """The same facts as HoneyHive session metadata."""
        values: dict[str, Any] = {
            "request_id": self.invocation_id,
            "function_name": self.function_name,
            "function_version": self.function_version,
            "memory_mb": self.memory_mb,
            "region": self.region,
            "trigger": self.lookup.trigger,
            "trigger_source": trigger_source(self.lookup.trigger),
            "cold_start": self.cold_start,
            "start": self.start,
            "resource_id": self.resource_id,
            "tenant_id": self.tenant_id,
            **self.extra,
        }
        return {key: value for key, value in values.items() if value is not None}
