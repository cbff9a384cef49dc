"""A Bedrock AgentCore Gateway's call of a Lambda target: one MCP tool call. Pure functions of the context.

The gateway invokes the function with the tool's arguments as the event, nothing else, and says the
rest in the invoke's ``ClientContext.custom``: ``bedrockAgentCoreToolName`` (``<target>___<tool>``,
the name the agent called), its own ids (gateway, target, the MCP message), and
``bedrockAgentCorePropagatedHeaders``: the request headers the target lets through
(``allowedRequestHeaders``), as an object or as its JSON text. Those headers are the caller's: its
``X-Session-ID``, and its ``traceparent``, ``tracestate`` and ``baggage``.

So the call's session is the ``X-Session-ID`` among those headers, else what their baggage names
(``session_id``, else ``session.id``, as AgentCore names its sessions: see ``sessions``). The event is
never read for one: its keys are the arguments a model chose.

>>> call = gateway_call({"bedrockAgentCoreToolName": "Weather___get_forecast",
...                      "bedrockAgentCorePropagatedHeaders": {"x-session-id": "s-1"}})
>>> call.tool, call.lookup.candidate
('get_forecast', 's-1')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeGuard

from ..carriers import CarrierLookup, header_carrier
from ..payloads import parse_json_object
from ..triggers import SessionLookup
from ..wire import SESSION_HEADER

TRIGGER = "agentcore-gateway"
TOOL_NAME_KEY = "bedrockAgentCoreToolName"
PROPAGATED_HEADERS_KEY = "bedrockAgentCorePropagatedHeaders"
#: The gateway prefixes each tool with its target's name and this, so that targets' tools never clash.
TARGET_SEPARATOR = "___"
#: Longest id or name recorded: an MCP tool name is at most 128 characters, the gateway's ids are short.
MAX_NAME_LENGTH = 256
# ClientContext.custom key -> the invocation span's attribute: the JSON-RPC id of the tools/call message
# (OpenTelemetry's MCP conventions), and the gateway's and target's ids.
_ID_ATTRIBUTES = {
    "bedrockAgentCoreMcpMessageId": "jsonrpc.request.id",
    "bedrockAgentCoreGatewayId": "aws.bedrock_agentcore.gateway.id",
    "bedrockAgentCoreTargetId": "aws.bedrock_agentcore.gateway.target.id",
}
_SESSION_HEADER = SESSION_HEADER.lower()
_WHERE = f"ClientContext.custom.{PROPAGATED_HEADERS_KEY}"


class GatewayCall(NamedTuple):
    """One tool call: the tool, the session its caller names, the caller's trace context, the gateway's ids."""

    #: The tool as the agent called it, ``<target>___<tool>``.
    called_as: str
    lookup: SessionLookup
    carrier: CarrierLookup
    #: The gateway's ids of the call, as the invocation span's attributes.
    ids: dict[str, str]

    @property
    def tool(self) -> str:
        """The tool as the function implements it: the target's prefix taken off, as AWS tells targets to
        (up to the first separator: a target's name has no underscore, a tool's may)."""
        _target, separator, tool = self.called_as.partition(TARGET_SEPARATOR)
        return tool if separator and tool else self.called_as

    def span_attributes(self) -> dict[str, str]:
        """The invocation span's: it executes a tool (OpenTelemetry's GenAI ``execute_tool``), named as
        the function implements it (``gen_ai.tool.name``), and the gateway's ids."""
        return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": self.tool, **self.ids}


def gateway_call(custom: Mapping[str, Any] | None) -> GatewayCall | None:
    """The tool call a ``ClientContext.custom`` describes; None when it is no AgentCore Gateway's."""
    called_as = custom.get(TOOL_NAME_KEY) if custom is not None else None
    if custom is None or not _is_name(called_as):
        return None
    headers = _propagated_headers(custom.get(PROPAGATED_HEADERS_KEY))
    session = next((value for name, value in headers if name.lower() == _SESSION_HEADER), None)
    lookup = SessionLookup(TRIGGER, session, f"propagated header {SESSION_HEADER}" if session is not None else None)
    ids = {name: str(custom[key]) for key, name in _ID_ATTRIBUTES.items() if _is_id(custom.get(key))}
    return GatewayCall(called_as, lookup, header_carrier(headers, _WHERE), ids)


def _propagated_headers(value: object) -> list[tuple[str, object]]:
    """The propagated headers as (name, value) pairs: an object, or its JSON text (both are seen)."""
    headers = parse_json_object(value) if isinstance(value, str) else value
    return [(str(name), item) for name, item in headers.items()] if isinstance(headers, Mapping) else []


def _is_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= MAX_NAME_LENGTH


def _is_id(value: object) -> bool:
    """Text, or a number (a JSON-RPC id may be either), short enough to be an id."""
    is_number = isinstance(value, int) and not isinstance(value, bool) and value.bit_length() <= 64
    return is_number or _is_name(value)
