"""Conversation-native session keys: which conversation a Bedrock agent, a Lex V2 bot or an Amazon
Connect contact flow calls a function for. Pure functions of the event.

These services name a conversation, not a HoneyHive session: one conversation calls the function many
times, under an id of the service's own (a Bedrock or Lex ``sessionId``, a Connect contact id) that
need not be a UUID. Each lookup gives ``(candidate, where, conversation)``: a ``session_id`` put in
the conversation's own attributes first (a HoneyHive session id, validated like any other), else the
conversation key with ``conversation`` true: any non-empty text, which the wrapper turns into a
deterministic session id, so that every call in one conversation joins one session.

>>> bedrock_agent({"sessionId": "12345678912345", "sessionAttributes": {}})
('12345678912345', 'sessionId', True)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .payloads import parse_json_object
from .wire import SESSION_FIELD

#: ``(candidate, where, conversation)``: the fields of a ``triggers.SessionLookup`` after its trigger.
Found = tuple[object, str, bool]


def bedrock_agent(event: Mapping[str, Any]) -> Found | None:
    """A Bedrock Agents action group call: ``session_id`` in ``sessionAttributes`` (kept for the whole
    agent session), then in ``promptSessionAttributes`` (this prompt's), else the agent's ``sessionId``."""
    for name in ("sessionAttributes", "promptSessionAttributes"):
        found = _explicit(event.get(name), f"{name}.{SESSION_FIELD}")
        if found is not None:
            return found
    return _key(event.get("sessionId"), "sessionId")


def lex_v2(event: Mapping[str, Any]) -> Found | None:
    """A Lex V2 code hook: ``sessionState.sessionAttributes.session_id``, else the bot's ``sessionId``."""
    state = event.get("sessionState")
    attributes = state.get("sessionAttributes") if isinstance(state, Mapping) else None
    found = _explicit(attributes, f"sessionState.sessionAttributes.{SESSION_FIELD}")
    return found if found is not None else _key(event.get("sessionId"), "sessionId")


def connect(event: Mapping[str, Any]) -> Found | None:
    """An Amazon Connect contact flow: the contact attribute ``session_id``, else ``InitialContactId``,
    else ``ContactId``.

    A transfer (to another queue, agent or flow) or a callback makes a new contact with a new
    ``ContactId``; ``InitialContactId`` stays the first contact's, so the customer's whole conversation
    stays one session.
    """
    details = event.get("Details")
    data = details.get("ContactData") if isinstance(details, Mapping) else None
    if not isinstance(data, Mapping):
        return None
    found = _explicit(data.get("Attributes"), f"Details.ContactData.Attributes.{SESSION_FIELD}")
    if found is None:
        found = _key(data.get("InitialContactId"), "Details.ContactData.InitialContactId")
    return found if found is not None else _key(data.get("ContactId"), "Details.ContactData.ContactId")


def durable_execution(event: Mapping[str, Any]) -> Found | None:
    """A durable function's envelope: ``session_id`` in the user's input (the JSON text of an operation's
    ``ExecutionDetails.InputPayload``), else the ``DurableExecutionArn``. Every replay of one execution
    (Lambda invokes it again from the start after each wait, for up to a year) is one conversation."""
    state = event.get("InitialExecutionState")
    operations = state.get("Operations") if isinstance(state, Mapping) else None
    for operation in operations if isinstance(operations, list) else ():
        details = operation.get("ExecutionDetails") if isinstance(operation, Mapping) else None
        payload = details.get("InputPayload") if isinstance(details, Mapping) else None
        found = _explicit(parse_json_object(payload) if isinstance(payload, str) else None, _INPUT_WHERE)
        if found is not None:
            return found
    return _key(event.get("DurableExecutionArn"), "DurableExecutionArn")


_INPUT_WHERE = f"InitialExecutionState.Operations[].ExecutionDetails.InputPayload.{SESSION_FIELD}"

#: Trigger name -> its lookup.
LOOKUPS: dict[str, Callable[[Mapping[str, Any]], Found | None]] = {
    "bedrock-agent": bedrock_agent,
    "lex": lex_v2,
    "connect": connect,
    "durable-execution": durable_execution,
}


def _explicit(attributes: object, where: str) -> Found | None:
    """A session id set in the conversation's attributes, whatever it is (the wrapper validates it)."""
    if isinstance(attributes, Mapping) and attributes.get(SESSION_FIELD) is not None:
        return attributes[SESSION_FIELD], where, False
    return None


def _key(value: object, where: str) -> Found | None:
    return (value, where, True) if isinstance(value, str) and value else None
