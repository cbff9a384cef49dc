"""Which HoneyHive session an invocation joins: a pure choice among what the event and the caller say.

The wrapper lists the candidates in order of precedence, and the first usable one wins:

1. what the user configured, replacing the built-in lookups: ``session_id_from(event)``, a session id;
   else ``session_key_from(event)`` or ``HH_SESSION_KEY`` (a path into the event), a conversation key;
2. else what the event names (``triggers.find_session_id``): a session id it names explicitly
   (``X-Session-ID``, a payload's ``session_id``, Bedrock's or Lex's ``sessionAttributes``), or the
   conversation the platform names (Bedrock Agents' and Lex V2's ``sessionId``, Amazon Connect's
   contact), unless ``HH_CONVERSATION_SESSIONS=false``;
3. then what the caller's baggage (in the trace context) names: HoneyHive's ``session_id``, a session
   id; else a conversation as OpenTelemetry's conventions name it, ``session.id`` (as Bedrock AgentCore
   sends it), else ``gen_ai.conversation.id``: a conversation key (unless
   ``HH_CONVERSATION_SESSIONS=false``), below an explicit id so that a caller naming both is in the
   session it names;
4. else a new session.

A session id must be a UUID. A conversation key is any string naming a conversation: it becomes a
session id that is the same for every invocation of that conversation, and different in every
project (:func:`conversation_session_id`); a key that is already a UUID is used as it is. An unusable
candidate is passed over, with the reason, for the wrapper's one warning line.

>>> choose_session([Candidate("12345678912345", "sessionId", conversation=True)], "demo").session_id
'6da24513-fa47-5f3b-b6ec-baf6a26107c8'
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .triggers import CONTROL_CHARACTERS, validate_session_id

#: The UUIDv5 namespace of conversation sessions: ``uuid5(NAMESPACE_URL,
#: "https://github.com/honeyhiveai/honeyhive-serverless#conversation-sessions")``. A project's
#: namespace is ``uuid5(CONVERSATION_NAMESPACE, project)``; a conversation's session id is
#: ``uuid5(project namespace, key)``.
CONVERSATION_NAMESPACE = uuid.UUID("b34b70b2-bf5a-58b0-b9e1-8b64e21a56fa")
#: Longest conversation key taken (Lex allows 100 characters, Bedrock Agents 100, Connect ids are 36).
MAX_KEY_LENGTH = 256


def conversation_session_id(key: str, project: str | None) -> str:
    """The session id of the conversation ``key`` names, in ``project``: deterministic, a UUIDv5.

    >>> conversation_session_id("12345678912345", "demo") == conversation_session_id("12345678912345", "demo")
    True
    >>> conversation_session_id("12345678912345", "demo") != conversation_session_id("12345678912345", "other")
    True
    """
    as_uuid, _ = validate_session_id(key)
    if as_uuid is not None:
        return as_uuid
    return str(uuid.uuid5(uuid.uuid5(CONVERSATION_NAMESPACE, project or ""), key))


class Candidate(NamedTuple):
    """A value that may name the session, where it was found, and whether it is a conversation key."""

    value: object
    where: str
    conversation: bool = False


class Rejected(NamedTuple):
    """A candidate passed over, and why."""

    candidate: Candidate
    reason: str


class SessionChoice(NamedTuple):
    """The session to join (None: start a new one), the candidate it came from, and those passed over."""

    session_id: str | None = None
    chosen: Candidate | None = None
    rejected: tuple[Rejected, ...] = ()


def choose_session(candidates: Sequence[Candidate], project: str | None) -> SessionChoice:
    """The first usable candidate's session; candidates whose value is None are absent, not rejected."""
    rejected: list[Rejected] = []
    for candidate in candidates:
        if candidate.value is None:
            continue
        if candidate.conversation:
            reason = _key_problem(candidate.value)
            session_id = None if reason else conversation_session_id(str(candidate.value), project)
        else:
            session_id, reason = validate_session_id(candidate.value)
        if session_id is not None:
            return SessionChoice(session_id, candidate, tuple(rejected))
        rejected.append(Rejected(candidate, reason or "unusable"))
    return SessionChoice(rejected=tuple(rejected))


def baggage_candidates(
    session: object, conversation: tuple[str, str] | None, *, conversations: bool
) -> list[Candidate]:
    """What the caller's baggage may name the session by, in order (step 3 above): its ``session_id``,
    then the conversation it names as ``(baggage key, conversation key)``, when ``conversations`` are on.

    >>> [c.where for c in baggage_candidates(None, ("session.id", "c-1"), conversations=True)]
    ['baggage', 'baggage session.id']
    """
    key, value = conversation if conversation is not None and conversations else ("", None)
    return [Candidate(session, "baggage"), Candidate(value, f"baggage {key}", conversation=True)]


def value_at(event: object, path: str) -> object:
    """The value at a dotted ``path`` in the event (``HH_SESSION_KEY``), or None: each part is a key
    (matched exactly, else without case, as HTTP header names are) or, in a list, an index.

    >>> value_at({"detail": {"Conversation": {"id": "c-1"}}}, "detail.conversation.id")
    'c-1'
    >>> value_at({"Records": [{"body": "b"}]}, "Records.0.body")
    'b'
    """
    node = event
    for part in path.split("."):
        if isinstance(node, Mapping):
            if part in node:
                node = node[part]
                continue
            lowered = part.lower()
            node = next((value for key, value in node.items() if str(key).lower() == lowered), None)
        elif isinstance(node, list) and _is_index(part, len(node)):
            node = node[int(part)]
        else:
            return None
        if node is None:
            return None
    return node


def _is_index(part: str, length: int) -> bool:
    """``part`` is an index into a list of ``length``: ASCII digits only (``str.isdigit`` also takes
    "²", which ``int`` refuses), and few enough for ``int`` (which refuses more than 4,300 digits)."""
    return part.isascii() and part.isdigit() and len(part) <= len(str(length)) and int(part) < length


def _key_problem(value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int):
        return f"not a string ({type(value).__name__})"
    if isinstance(value, int) and value.bit_length() > 4 * MAX_KEY_LENGTH:
        # Longer than any key as text; str() of it would raise past 4,300 digits.
        return f"too long (an integer of {value.bit_length()} bits)"
    text = str(value)
    if not text.strip():
        return "empty"
    if len(text) > MAX_KEY_LENGTH:
        return f"too long ({len(text)} characters, at most {MAX_KEY_LENGTH})"
    if CONTROL_CHARACTERS.search(text):
        return "contains control characters"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a JSON "\ud800" escape): no UTF-8, so no uuid5 of it
        return "not valid Unicode text (a lone surrogate)"
    return None
