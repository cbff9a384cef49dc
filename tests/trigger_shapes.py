"""The trigger fixtures of ``tests/events/``: loading them, and what each one is; Powertools' corpus
(``tests/events/powertools/``) and AWS's own (``shared/events/`` beside the checkout); and the
invocation span a wrapped handler's call leaves at the receiver.

Two conventions keep the fixtures readable:

* ``{{SESSION_ID}}`` is replaced, as text, by the session id a test chooses (a fresh ``uuid4``), or
  by a bad id for the malformed cases (only JSON-safe characters, so nested JSON stays valid);
* ``{"$base64json": {...}}`` stands for the base64 of that object's JSON (a base64 API Gateway body,
  Kinesis ``data``), so the fixture shows what is encoded.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import uuid
from dataclasses import dataclass
from typing import Any

from conftest import REPO, TESTS
from honeyhive_serverless_dev.receiver import DevReceiver, ReceivedSpan

EVENTS = TESTS / "events"
CORPUS = EVENTS / "powertools"
#: AWS's own corpora (the SAM CLI's event templates, aws-lambda-go's testdata), each a folder with a
#: ``labels.json``; CI has ``shared/`` beside the checkout.
AWS_CORPORA = REPO.parent / "shared" / "events"
#: The function name the in-process tests give their ``LambdaContext``: the invocation span's name.
FUNCTION = "fn"
PLACEHOLDER = "{{SESSION_ID}}"
BASE64_JSON = "$base64json"
_SAFE_SUBSTITUTE = re.compile(r"[A-Za-z0-9_.:-]*")


def _encode_markers(node: Any) -> Any:
    if isinstance(node, dict):
        if set(node) == {BASE64_JSON}:
            return base64.b64encode(json.dumps(node[BASE64_JSON]).encode("utf-8")).decode("ascii")
        return {key: _encode_markers(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_encode_markers(item) for item in node]
    return node


def load_event(name: str, session_id: str | None = None) -> dict[str, Any]:
    """The fixture ``tests/events/<name>.json`` with ``session_id`` in place of the placeholder."""
    text = (EVENTS / f"{name}.json").read_text(encoding="utf-8")
    if PLACEHOLDER in text:
        assert session_id is not None, f"{name} needs a session id"
        assert _SAFE_SUBSTITUTE.fullmatch(session_id), "text substitution needs JSON-safe characters"
        text = text.replace(PLACEHOLDER, session_id)
    event = _encode_markers(json.loads(text))
    assert isinstance(event, dict)
    return event


def load_corpus_event(name: str) -> Any:
    """Powertools' fixture ``tests/events/powertools/<name>.json``, as it is (an object, or a list)."""
    return json.loads((CORPUS / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class LabelledEvent:
    """One event of AWS's corpora, as its folder's ``labels.json`` names it."""

    corpus: str
    file: str
    kind: str
    #: False for a fixture too defective to judge a classifier by (it must still be served).
    compare: bool

    @property
    def id(self) -> str:
        return f"{self.corpus}/{self.file}"

    def load(self) -> Any:
        return json.loads((AWS_CORPORA / self.corpus / self.file).read_text(encoding="utf-8"))


def labelled_events() -> list[LabelledEvent]:
    """Every event of AWS's corpora ([] when ``shared/events/`` is not beside the checkout)."""
    found: list[LabelledEvent] = []
    for labels in sorted(AWS_CORPORA.glob("*/labels.json")):
        for file, label in json.loads(labels.read_text(encoding="utf-8"))["events"].items():
            found.append(LabelledEvent(labels.parent.name, file, label["kind"], label.get("compare", True)))
    return found


def invocation_span(receiver: DevReceiver) -> ReceivedSpan:
    """The one invocation span of the wrapped handler named :data:`FUNCTION`."""
    spans = [span for span in receiver.spans if span.name == FUNCTION]
    assert len(spans) == 1, [span.name for span in receiver.spans]
    return spans[0]


def served_unchanged(event: Any, receiver: DevReceiver) -> ReceivedSpan:
    """Serve ``event`` through ``@with_honeyhive_session``, as :data:`FUNCTION`; assert that the handler
    got it, and returned its result, unchanged, and that the event was not modified; the invocation span
    the receiver got."""
    from honeyhive_serverless import with_honeyhive_session
    from honeyhive_serverless_dev.lambda_context import LambdaContext

    pristine = copy.deepcopy(event)
    seen: list[Any] = []
    served = object()

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> object:
        seen.append(copy.deepcopy(event))
        return served

    assert handler(event, LambdaContext(FUNCTION)) is served
    assert seen == [pristine]
    assert event == pristine, "the lookup must not modify the event"
    assert receiver.wait_for(lambda rx: any(span.name == FUNCTION for span in rx.spans))
    return invocation_span(receiver)


def new_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Shape:
    """One fixture: the trigger it comes from and whether it names a session."""

    fixture: str
    trigger: str
    faas_trigger: str
    carries_id: bool

    @property
    def is_http(self) -> bool:
        return self.faas_trigger == "http"


SHAPES = [
    Shape("direct", "direct", "other", True),
    Shape("direct_no_session", "direct", "other", False),
    Shape("step_functions", "direct", "other", True),
    Shape("apigw_rest_v1", "api-gateway-rest", "http", True),
    Shape("apigw_rest_v1_multivalue_only", "api-gateway-rest", "http", True),
    Shape("apigw_rest_v1_json_body", "api-gateway-rest", "http", True),
    Shape("apigw_rest_v1_base64_body", "api-gateway-rest", "http", True),
    Shape("apigw_rest_v1_no_session", "api-gateway-rest", "http", False),
    Shape("http_api_v2", "http-api", "http", True),
    Shape("http_api_v2_json_body", "http-api", "http", True),
    Shape("function_url", "function-url", "http", True),
    Shape("alb", "alb", "http", True),
    Shape("alb_multivalue", "alb", "http", True),
    Shape("sqs_attribute", "sqs", "pubsub", True),
    Shape("sqs_json_body", "sqs", "pubsub", True),
    Shape("sqs_no_session", "sqs", "pubsub", False),
    Shape("sns_attribute", "sns", "pubsub", True),
    Shape("sns_json_message", "sns", "pubsub", True),
    Shape("sns_via_sqs", "sqs", "pubsub", True),
    Shape("sns_via_sqs_message", "sqs", "pubsub", True),
    Shape("eventbridge", "eventbridge", "pubsub", True),
    Shape("eventbridge_scheduled", "schedule", "timer", False),
    Shape("kinesis", "kinesis", "datasource", True),
    Shape("cloudevent", "cloudevent", "pubsub", True),
    Shape("cloudevent_data", "cloudevent", "pubsub", True),
    # Written here from the Lex V2 input format (Powertools' corpus has no Lex event): the session id in
    # the session attributes, which wins over the conversation's sessionId.
    Shape("lex_v2", "lex", "other", True),
    # Written here from the durable functions envelope (API 2025-12-01): the user's input, with its
    # session id, is JSON text inside an operation's InputPayload.
    Shape("durable_execution", "durable-execution", "other", True),
    # Written here from AWS's documentation, for shapes neither corpus has (README.md says whence each).
    Shape("websocket_connect", "websocket-api", "http", True),
    Shape("websocket_message_json_body", "websocket-api", "http", True),
    Shape("websocket_authorizer", "websocket-api-authorizer", "http", True),
    Shape("http_api_authorizer_v1", "api-gateway-authorizer", "http", True),
    Shape("activemq_mq_source", "mq", "pubsub", True),
    Shape("docdb", "docdb", "datasource", False),
    Shape("appsync_no_arguments", "appsync", "other", True),
    Shape("appsync_invoke_operation", "appsync", "other", False),
    Shape("connect_another_name", "connect", "other", True),
]
