"""Conversation-native sessions: one HoneyHive session per Bedrock Agents, Lex V2 or Amazon Connect
conversation, and for any conversation key the user names (``session_key_from``, ``HH_SESSION_KEY``),
judged by what the receiver got: the spans' session ids, the auto-create mark that asks HoneyHive to
create the session, and the absence of session-start requests.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from honeyhive_serverless import with_honeyhive_session
from honeyhive_serverless.sessions import (
    CONVERSATION_NAMESPACE,
    Candidate,
    choose_session,
    conversation_session_id,
    value_at,
)
from honeyhive_serverless.tracer import get_tracer
from honeyhive_serverless.wire import AUTO_CREATE_KEY, SESSION_NAME_KEY
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import FUNCTION, load_corpus_event, load_event, new_id

PROJECT = "test-project"  # conftest's hh_env


def _bedrock(session_id: str, attributes: dict[str, str] | None = None) -> dict[str, Any]:
    event = copy.deepcopy(load_corpus_event("bedrockAgentEvent"))
    event["sessionId"] = session_id
    event["sessionAttributes"] = attributes or {}
    return dict(event)


def _lex(session_id: str) -> dict[str, Any]:
    event = load_event("lex_v2", new_id())
    event["sessionId"] = session_id
    del event["sessionState"]["sessionAttributes"]["session_id"]
    return event


def _connect(contact_id: str, initial: str | None) -> dict[str, Any]:
    event = copy.deepcopy(load_corpus_event("connectContactFlowEventAll"))
    data = event["Details"]["ContactData"]
    data["ContactId"] = contact_id
    data["InitialContactId"] = initial
    return dict(event)


def _run(events: list[Any], receiver: DevReceiver, **options: Any) -> list[str]:
    """Each event through one wrapped handler; the session each invocation ran in, as it reported it."""
    seen: list[str] = []

    @with_honeyhive_session(**options)
    def handler(event: Any, context: Any) -> str:
        seen.append(str(get_tracer().session_id))
        return "done"

    for event in events:
        before = copy.deepcopy(event)
        assert handler(event, LambdaContext(FUNCTION)) == "done"
        assert event == before
    assert receiver.wait_for(lambda rx: len([s for s in rx.spans if s.name == FUNCTION]) == len(events))
    spans = [span for span in receiver.spans if span.name == FUNCTION]
    assert [span.session_id for span in spans] == seen
    return seen


def _assert_joined(receiver: DevReceiver, session_id: str) -> None:
    """The conversation's session is asked for by its spans (auto-create, named), never started by a request."""
    spans = receiver.spans_for_session(session_id)
    assert spans
    for span in spans:
        assert span.attributes[AUTO_CREATE_KEY] is True
        assert span.attributes[SESSION_NAME_KEY] == f"lambda-{FUNCTION}"
    assert receiver.session_starts == []


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (_bedrock, "12345678912345"),
        (_lex, "472137282834914"),
        (lambda key: _connect("5ca32fbd-0000-46af-92a5-6b0f970f0efe", key), "conversation-initial-contact"),
    ],
    ids=["bedrock-agent", "lex-v2", "connect"],
)
def test_one_conversation_is_one_session_and_another_is_another(
    make: Callable[[str], dict[str, Any]], key: str, lambda_env: DevReceiver
) -> None:
    first = _run([make(key) for _ in range(3)], lambda_env)
    assert len(set(first)) == 1
    assert first[0] == conversation_session_id(key, PROJECT)
    _assert_joined(lambda_env, first[0])

    lambda_env.clear()
    [other] = _run([make(key + "-other")], lambda_env)
    assert other not in first
    _assert_joined(lambda_env, other)


def test_connect_keeps_one_session_across_a_transfer(lambda_env: DevReceiver) -> None:
    initial = str(uuid.uuid4())
    # A transfer gives the contact a new ContactId; InitialContactId stays the first contact's.
    before, after = _run([_connect(initial, initial), _connect(str(uuid.uuid4()), initial)], lambda_env)
    assert before == after == initial  # a contact id is a UUID: the session id as it is
    _assert_joined(lambda_env, initial)


def test_a_session_id_in_the_session_attributes_wins(lambda_env: DevReceiver) -> None:
    explicit = new_id()
    [session] = _run([_bedrock("12345678912345", {"session_id": explicit})], lambda_env)
    assert session == explicit
    # Named explicitly but started nowhere here: each span asks HoneyHive to create it (a no-op if it
    # exists), under the invocation's session name, or it would be orphaned (HoneyHive's OTLP contract).
    spans = lambda_env.spans_for_session(explicit)
    assert spans and all(span.attributes[AUTO_CREATE_KEY] is True for span in spans)
    assert {span.attributes["honeyhive.session_name"] for span in spans} == {"lambda-fn"}


def test_appsync_x_session_id_links(lambda_env: DevReceiver) -> None:
    explicit = new_id()
    event = copy.deepcopy(load_corpus_event("appSyncResolverEvent"))
    event["request"]["headers"]["x-session-id"] = explicit
    [session] = _run([event], lambda_env)
    assert session == explicit
    assert lambda_env.session_starts == []


def test_the_mapping_can_be_turned_off(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_CONVERSATION_SESSIONS", "false")
    sessions = _run([_bedrock("12345678912345") for _ in range(2)], lambda_env)
    assert len(set(sessions)) == 2  # a session per invocation, as without the mapping
    assert lambda_env.wait_for(lambda rx: len(rx.session_starts) == 2)
    lambda_env.clear()
    assert len(set(_run([_bedrock("12345678912345") for _ in range(2)], lambda_env, conversation_sessions=True))) == 1


def test_any_key_the_user_names(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    events = [{"detail": {"conversation": "order-42"}}, {"detail": {"conversation": "order-42"}}]
    by_option = _run(events, lambda_env, session_key_from=lambda event: event["detail"]["conversation"])
    lambda_env.clear()
    monkeypatch.setenv("HH_SESSION_KEY", "detail.conversation")
    by_variable = _run(events, lambda_env)
    assert set(by_option) == set(by_variable) == {conversation_session_id("order-42", PROJECT)}


def test_a_strict_uuid_key_is_the_session_id_and_projects_differ() -> None:
    key = new_id()
    assert conversation_session_id(key.upper(), "a") == key
    assert conversation_session_id("k", "a") != conversation_session_id("k", "b")
    assert conversation_session_id("k", "a") == str(uuid.uuid5(uuid.uuid5(CONVERSATION_NAMESPACE, "a"), "k"))


def test_an_unusable_key_warns_once_and_starts_a_new_session(
    lambda_env: DevReceiver, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="honeyhive_serverless"):
        [session] = _run([_bedrock("x" * 300)], lambda_env)
    [line] = [record.getMessage() for record in caplog.records]
    assert "ignoring the conversation key in the bedrock-agent event (sessionId): too long" in line
    assert line.endswith("; new session")
    assert session != conversation_session_id("x" * 300, PROJECT)
    assert lambda_env.wait_for(lambda rx: len(rx.session_starts) == 1)


def test_giving_both_lookups_is_refused() -> None:
    with pytest.raises(ValueError, match="session_id_from or session_key_from"):
        with_honeyhive_session(session_id_from=lambda e: None, session_key_from=lambda e: None)


def test_the_choice_is_the_first_usable_candidate() -> None:
    baggage = new_id()
    choice = choose_session(
        [Candidate("not-a-uuid", "header X-Session-ID"), Candidate(None, "absent"), Candidate(baggage, "baggage")],
        PROJECT,
    )
    assert choice.session_id == baggage
    assert choice.chosen is not None and choice.chosen.where == "baggage"
    assert [(r.candidate.where, r.reason) for r in choice.rejected] == [("header X-Session-ID", "not a UUID")]
    assert choose_session([Candidate("", "sessionId", conversation=True)], PROJECT).session_id is None


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("a.b", 1),
        ("A.B", 1),  # without case, as header names
        ("list.1.c", "second"),
        ("list.9.c", None),
        ("a.missing", None),
        ("a.b.c", None),
    ],
)
def test_value_at(path: str, expected: object) -> None:
    assert value_at({"a": {"b": 1}, "list": [{"c": "first"}, {"c": "second"}]}, path) == expected


def _durable(arn_suffix: str, input_session: str | None = None) -> dict[str, Any]:
    event = load_event("durable_execution", new_id())
    event["DurableExecutionArn"] += arn_suffix
    operation = event["InitialExecutionState"]["Operations"][0]
    payload = {"order_id": "o-42", **({"session_id": input_session} if input_session else {})}
    operation["ExecutionDetails"]["InputPayload"] = json.dumps(payload)
    return event


def test_every_replay_of_a_durable_execution_is_one_session(lambda_env: DevReceiver) -> None:
    replays = _run([_durable("") for _ in range(3)], lambda_env)  # invoked again from the start after each wait
    assert len(set(replays)) == 1
    _assert_joined(lambda_env, replays[0])
    lambda_env.clear()
    [other] = _run([_durable("-another")], lambda_env)
    assert other != replays[0]


def test_a_session_id_in_the_durable_input_wins(lambda_env: DevReceiver) -> None:
    explicit = new_id()
    assert _run([_durable("", explicit), _durable("", explicit)], lambda_env) == [explicit, explicit]
