"""AWS's own event corpora (``shared/events/``: the SAM CLI's ``generate-event`` templates and
aws-lambda-go's testdata): every event classified as the kind its source labels it, none a direct
invoke unless its kind is one, and every event served unchanged by ``@with_honeyhive_session``.

Each folder's ``labels.json`` gives every file a canonical ``kind`` (from the source's own label, not
from this code); :data:`KIND_TRIGGERS` says which trigger each kind is here.
"""

from __future__ import annotations

import copy
import json
from collections import Counter

import pytest

from honeyhive_serverless.triggers import FAAS_TRIGGER, TRIGGERS, detect_trigger, find_session_id
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import AWS_CORPORA, CORPUS, LabelledEvent, labelled_events, served_unchanged

if not AWS_CORPORA.is_dir():
    pytest.skip(f"AWS's event corpora are not beside the checkout ({AWS_CORPORA})", allow_module_level=True)

#: Each corpus kind -> the triggers it may be (one, but for kinds that span several shapes).
KIND_TRIGGERS: dict[str, frozenset[str]] = {
    "alb": frozenset({"alb"}),
    "alexa": frozenset({"alexa-skill", "alexa-smart-home"}),
    "apigw-authorizer": frozenset({"api-gateway-authorizer", "http-api-authorizer"}),
    "apigw-http": frozenset({"http-api"}),
    "apigw-rest": frozenset({"api-gateway-rest"}),
    "apigw-websocket": frozenset({"websocket-api"}),
    "appsync": frozenset({"appsync"}),
    "appsync-authorizer": frozenset({"appsync-authorizer"}),
    "clientvpn": frozenset({"client-vpn"}),
    "cloudformation": frozenset({"cloudformation"}),
    "cloudfront": frozenset({"cloudfront"}),
    "cloudwatch-logs": frozenset({"cloudwatch-logs"}),
    "codecommit": frozenset({"codecommit"}),
    "codepipeline": frozenset({"codepipeline"}),
    "cognito": frozenset({"cognito"}),
    "cognito-sync": frozenset({"cognito-sync"}),
    "config": frozenset({"config-rule"}),
    "connect": frozenset({"connect"}),
    "direct": frozenset({"direct"}),  # the SAM CLI's AWS Batch samples: a job's own parameters
    "dynamodb": frozenset({"dynamodb"}),
    "eventbridge": frozenset({"eventbridge"}),
    "firehose": frozenset({"firehose"}),
    "function-url": frozenset({"function-url"}),
    "iot": frozenset({"iot", "iot-1-click", "iot-authorizer", "iot-provisioning-hook"}),
    "kafka": frozenset({"kafka"}),
    "kinesis": frozenset({"kinesis"}),
    "kinesis-analytics": frozenset({"kinesis-analytics"}),
    "lex-v1": frozenset({"lex-v1"}),
    "lex-v2": frozenset({"lex"}),
    "mq": frozenset({"mq"}),
    # A response, a fragment or a test object: AWS's documents, that no trigger sends.
    "not-an-event": frozenset({"unknown"}),
    "s3": frozenset({"s3"}),
    "s3-batch": frozenset({"s3-batch"}),
    "s3-object-lambda": frozenset({"s3-object-lambda"}),
    "sagemaker": frozenset({"sagemaker-ground-truth"}),
    "schedule": frozenset({"schedule"}),
    "secrets-manager": frozenset({"secrets-manager"}),
    "ses": frozenset({"ses"}),
    "sns": frozenset({"sns"}),
    "sqs": frozenset({"sqs"}),
    # A Step Functions task invokes with its state's input (here a Catch's {"Error", "Cause"}): a
    # payload the caller chose, a direct invoke.
    "stepfunctions": frozenset({"direct"}),
    "workmail": frozenset({"workmail"}),
}
#: Kinds whose events are direct invokes.
DIRECT_KINDS = frozenset(kind for kind, triggers in KIND_TRIGGERS.items() if triggers == {"direct"})
EVENTS = labelled_events()
JUDGED = [event for event in EVENTS if event.compare]


def ids(events: list[LabelledEvent]) -> list[str]:
    return [event.id for event in events]


def test_both_corpora_are_here_whole() -> None:
    assert Counter(event.corpus for event in EVENTS) == {"aws-sam-cli": 66, "aws-lambda-go": 103}
    assert len(EVENTS) - len(JUDGED) == 4


def test_every_kind_names_triggers_of_the_table() -> None:
    assert {event.kind for event in EVENTS} == set(KIND_TRIGGERS)
    assert set().union(*KIND_TRIGGERS.values()) <= set(TRIGGERS)


@pytest.mark.parametrize("labelled", JUDGED, ids=ids(JUDGED))
def test_event_is_its_kinds_trigger(labelled: LabelledEvent) -> None:
    event = labelled.load()
    pristine = copy.deepcopy(event)

    trigger = detect_trigger(event)

    assert trigger in KIND_TRIGGERS[labelled.kind]
    assert find_session_id(event).trigger == trigger
    assert event == pristine, "the lookup must not modify the event"


def test_no_event_of_any_corpus_is_direct_unless_its_kind_is() -> None:
    direct = [
        event.id for event in EVENTS if event.kind not in DIRECT_KINDS and detect_trigger(event.load()) == "direct"
    ]
    powertools = [
        path.stem for path in CORPUS.glob("*.json") if detect_trigger(json.loads(path.read_text())) == "direct"
    ]
    assert direct == []
    assert powertools == []


@pytest.mark.parametrize("labelled", EVENTS, ids=ids(EVENTS))
def test_event_is_served_unchanged(labelled: LabelledEvent, lambda_env: DevReceiver) -> None:
    event = labelled.load()
    trigger = detect_trigger(event)
    assert served_unchanged(event, lambda_env).attributes["faas.trigger"] == FAAS_TRIGGER[trigger]
