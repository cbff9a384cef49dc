"""Powertools' event corpus (``tests/events/powertools/``): every shape's trigger, each event served
unchanged by ``@with_honeyhive_session``, and the sessions the conversation-native, AppSync, Amazon MQ,
Kafka, authorizer and Lattice shapes name.

The corpus is Powertools for AWS Lambda's own fixtures, copied unchanged (see its README); the table
below names each file's trigger and ``faas.trigger`` as written here, not as the code computes them.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from honeyhive_serverless import process_records, with_honeyhive_session
from honeyhive_serverless.carriers import event_carrier
from honeyhive_serverless.tracer import get_tracer
from honeyhive_serverless.triggers import (
    FAAS_TRIGGER,
    SessionLookup,
    detect_trigger,
    find_record_session_id,
    find_session_id,
    record_list,
)
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.receiver import DevReceiver
from trigger_shapes import CORPUS, FUNCTION, load_corpus_event, load_event, new_id, served_unchanged

#: Every corpus file -> (trigger, OpenTelemetry ``faas.trigger``).
EXPECTED: dict[str, tuple[str, str]] = {
    "activeMQEvent": ("mq", "pubsub"),
    "albEvent": ("alb", "http"),
    "albEventPathTrailingSlash": ("alb", "http"),
    "albMultiValueHeadersEvent": ("alb", "http"),
    "albMultiValueQueryStringEvent": ("alb", "http"),
    "apiGatewayAuthorizerRequestEvent": ("api-gateway-authorizer", "http"),
    "apiGatewayAuthorizerTokenEvent": ("api-gateway-authorizer", "http"),
    "apiGatewayAuthorizerV2Event": ("http-api-authorizer", "http"),
    "apiGatewayProxyEvent": ("api-gateway-rest", "http"),
    "apiGatewayProxyEventAnotherPath": ("api-gateway-rest", "http"),
    "apiGatewayProxyEventNoOrigin": ("api-gateway-rest", "http"),
    "apiGatewayProxyEventPathTrailingSlash": ("api-gateway-rest", "http"),
    "apiGatewayProxyEventPrincipalId": ("api-gateway-rest", "http"),
    "apiGatewayProxyEvent_noVersionAuth": ("api-gateway-rest", "http"),
    "apiGatewayProxyOtherEvent": ("api-gateway-rest", "http"),
    "apiGatewayProxyV2Event": ("http-api", "http"),
    "apiGatewayProxyV2EventPathTrailingSlash": ("http-api", "http"),
    "apiGatewayProxyV2Event_GET": ("http-api", "http"),
    "apiGatewayProxyV2IamEvent": ("http-api", "http"),
    "apiGatewayProxyV2LambdaAuthorizerEvent": ("http-api", "http"),
    "apiGatewayProxyV2OtherGetEvent": ("http-api", "http"),
    "apiGatewayProxyV2SchemaMiddlwareInvalidEvent": ("http-api", "http"),
    "apiGatewayProxyV2SchemaMiddlwareValidEvent": ("http-api", "http"),
    "apigatewayeSchemaMiddlwareInvalidEvent": ("api-gateway-rest", "http"),
    "apigatewayeSchemaMiddlwareValidEvent": ("api-gateway-rest", "http"),
    "appSyncAuthorizerEvent": ("appsync-authorizer", "other"),
    "appSyncAuthorizerResponse": ("unknown", "other"),
    "appSyncBatchEvent": ("appsync-batch", "other"),
    "appSyncDirectResolver": ("appsync", "other"),
    "appSyncResolverEvent": ("appsync", "other"),
    "awsConfigRuleConfigurationChanged": ("config-rule", "other"),
    "awsConfigRuleOversizedConfiguration": ("config-rule", "other"),
    "awsConfigRuleScheduled": ("config-rule", "other"),
    "bedrockAgentEvent": ("bedrock-agent", "other"),
    "bedrockAgentEventWithPathParams": ("bedrock-agent", "other"),
    "bedrockAgentPostEvent": ("bedrock-agent", "other"),
    "cloudWatchAlarmEventCompositeMetric": ("cloudwatch-alarm", "other"),
    "cloudWatchAlarmEventSingleMetric": ("cloudwatch-alarm", "other"),
    "cloudWatchDashboardEvent": ("cloudwatch-dashboard", "other"),
    "cloudWatchLogEvent": ("cloudwatch-logs", "datasource"),
    "cloudWatchLogEventWithPolicyLevel": ("cloudwatch-logs", "datasource"),
    "cloudformationCustomResourceCreate": ("cloudformation", "other"),
    "cloudformationCustomResourceDelete": ("cloudformation", "other"),
    "cloudformationCustomResourceUpdate": ("cloudformation", "other"),
    "codeDeployLifecycleHookEvent": ("codedeploy", "other"),
    "codePipelineEvent": ("codepipeline", "other"),
    "codePipelineEventData": ("codepipeline", "other"),
    "codePipelineEventEmptyUserParameters": ("codepipeline", "other"),
    "codePipelineEventWithEncryptionKey": ("codepipeline", "other"),
    "cognitoCreateAuthChallengeEvent": ("cognito", "other"),
    "cognitoCustomEmailSenderEvent": ("cognito", "other"),
    "cognitoCustomMessageEvent": ("cognito", "other"),
    "cognitoCustomSMSSenderEvent": ("cognito", "other"),
    "cognitoDefineAuthChallengeEvent": ("cognito", "other"),
    "cognitoPostAuthenticationEvent": ("cognito", "other"),
    "cognitoPostConfirmationEvent": ("cognito", "other"),
    "cognitoPreAuthenticationEvent": ("cognito", "other"),
    "cognitoPreSignUpEvent": ("cognito", "other"),
    "cognitoPreTokenGenerationEvent": ("cognito", "other"),
    "cognitoPreTokenV2GenerationEvent": ("cognito", "other"),
    "cognitoUserMigrationEvent": ("cognito", "other"),
    "cognitoVerifyAuthChallengeResponseEvent": ("cognito", "other"),
    "connectContactFlowEventAll": ("connect", "other"),
    "connectContactFlowEventMin": ("connect", "other"),
    "dynamoStreamEvent": ("dynamodb", "datasource"),
    "eventBridgeEvent": ("eventbridge", "pubsub"),
    "kafkaEventMsk": ("kafka", "pubsub"),
    "kafkaEventSelfManaged": ("kafka", "pubsub"),
    "kinesisFirehoseKinesisEvent": ("firehose", "datasource"),
    "kinesisFirehosePutEvent": ("firehose", "datasource"),
    "kinesisFirehoseSQSEvent": ("firehose", "datasource"),
    "kinesisStreamCloudWatchLogsEvent": ("kinesis", "datasource"),
    "kinesisStreamEvent": ("kinesis", "datasource"),
    "kinesisStreamEventOneRecord": ("kinesis", "datasource"),
    "lambdaFunctionUrlEvent": ("function-url", "http"),
    "lambdaFunctionUrlEventPathTrailingSlash": ("function-url", "http"),
    "lambdaFunctionUrlEventWithHeaders": ("function-url", "http"),
    "lambdaFunctionUrlIAMEvent": ("function-url", "http"),
    "rabbitMQEvent": ("mq", "pubsub"),
    "s3BatchOperationEventSchemaV1": ("s3-batch", "other"),
    "s3BatchOperationEventSchemaV2": ("s3-batch", "other"),
    "s3Event": ("s3", "datasource"),
    "s3EventBridgeNotificationObjectCreatedEvent": ("eventbridge", "pubsub"),
    "s3EventBridgeNotificationObjectDeletedEvent": ("eventbridge", "pubsub"),
    "s3EventBridgeNotificationObjectExpiredEvent": ("eventbridge", "pubsub"),
    "s3EventBridgeNotificationObjectRestoreCompletedEvent": ("eventbridge", "pubsub"),
    "s3EventDecodedKey": ("s3", "datasource"),
    "s3EventDeleteObject": ("s3", "datasource"),
    "s3EventGlacier": ("s3", "datasource"),
    "s3ObjectEventIAMUser": ("s3-object-lambda", "other"),
    "s3ObjectEventTempCredentials": ("s3-object-lambda", "other"),
    "s3SqsEvent": ("sqs", "pubsub"),
    "secretsManagerEvent": ("secrets-manager", "other"),
    "sesEvent": ("ses", "other"),
    "snsEvent": ("sns", "pubsub"),
    "snsSqsEvent": ("sqs", "pubsub"),
    "snsSqsFifoEvent": ("sqs", "pubsub"),
    "sqsDlqTriggerEvent": ("sqs", "pubsub"),
    "sqsEvent": ("sqs", "pubsub"),
    "vpcLatticeEvent": ("vpc-lattice", "http"),
    "vpcLatticeEventPathTrailingSlash": ("vpc-lattice", "http"),
    "vpcLatticeEventV2PathTrailingSlash": ("vpc-lattice", "http"),
    "vpcLatticeV2Event": ("vpc-lattice", "http"),
    "vpcLatticeV2EventWithHeaders": ("vpc-lattice", "http"),
}
#: The one file that is no event: the response an AppSync Lambda authorizer returns (``isAuthorized``,
#: ``resolverContext``...), kept in the corpus to test Powertools' response builder. Served to a
#: function, it is a document of AWS's (its keys say so) that no trigger sends: unknown, not direct.
NOT_AN_EVENT = "appSyncAuthorizerResponse"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_the_table_names_exactly_the_corpus_files() -> None:
    assert len(EXPECTED) == 104
    assert set(EXPECTED) == {path.stem for path in CORPUS.glob("*.json")}


def test_no_corpus_event_is_direct_and_only_the_response_document_is_unknown() -> None:
    assert [name for name, (trigger, _) in EXPECTED.items() if trigger == "direct"] == []
    assert [name for name, (trigger, _) in EXPECTED.items() if trigger == "unknown"] == [NOT_AN_EVENT]


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corpus_event_has_its_trigger(name: str) -> None:
    event = load_corpus_event(name)
    pristine = copy.deepcopy(event)

    trigger, faas_trigger = EXPECTED[name]
    assert detect_trigger(event) == trigger
    assert FAAS_TRIGGER[trigger] == faas_trigger
    assert find_session_id(event).trigger == trigger
    assert event == pristine, "the lookup must not modify the event"


@pytest.mark.parametrize("name", list(EXPECTED))
def test_corpus_event_is_served_unchanged(name: str, lambda_env: DevReceiver) -> None:
    span = served_unchanged(load_corpus_event(name), lambda_env)
    assert span.attributes["faas.trigger"] == EXPECTED[name][1]


def test_a_new_session_names_its_trigger_and_source(lambda_env: DevReceiver) -> None:
    @with_honeyhive_session
    def handler(event: Any, context: Any) -> None:
        return None

    handler(load_corpus_event("s3Event"), LambdaContext(FUNCTION))

    assert lambda_env.wait_for(lambda rx: len(rx.session_starts) == 1)
    metadata = lambda_env.session_starts[0]["metadata"]
    assert (metadata["trigger"], metadata["trigger_source"]) == ("s3", "aws:s3")


# ------------------------------------------------------------------------------------------------
# Conversation-native session keys: Bedrock Agents, Lex V2, Amazon Connect


def test_bedrock_agent_conversation_is_its_session_id() -> None:
    event = load_corpus_event("bedrockAgentEvent")
    assert find_session_id(event) == SessionLookup("bedrock-agent", "12345678912345", "sessionId", conversation=True)


@pytest.mark.parametrize("attributes", ["sessionAttributes", "promptSessionAttributes"])
def test_bedrock_agent_session_attribute_wins_over_the_conversation(attributes: str) -> None:
    session_id = new_id()
    event = load_corpus_event("bedrockAgentEvent")
    event[attributes]["session_id"] = session_id
    assert find_session_id(event) == SessionLookup("bedrock-agent", session_id, f"{attributes}.session_id")


def test_bedrock_agent_session_attributes_win_over_prompt_ones() -> None:
    kept, prompt = new_id(), new_id()
    event = load_corpus_event("bedrockAgentEvent")
    event["sessionAttributes"]["session_id"] = kept
    event["promptSessionAttributes"]["session_id"] = prompt
    assert find_session_id(event).candidate == kept


@pytest.mark.parametrize("session_id", ["", None, 42], ids=repr)
def test_bedrock_agent_without_a_conversation_key_names_nothing(session_id: object) -> None:
    event = load_corpus_event("bedrockAgentEvent")
    event["sessionId"] = session_id
    assert find_session_id(event) == SessionLookup("bedrock-agent")


def test_lex_session_attribute_wins_over_the_conversation() -> None:
    session_id = new_id()
    event = load_event("lex_v2", session_id)
    lookup = find_session_id(event)
    assert lookup == SessionLookup("lex", session_id, "sessionState.sessionAttributes.session_id")


def test_lex_conversation_is_its_session_id() -> None:
    event = load_event("lex_v2", "unused")
    del event["sessionState"]["sessionAttributes"]["session_id"]
    assert find_session_id(event) == SessionLookup("lex", "472137282834914", "sessionId", conversation=True)


def test_connect_conversation_is_the_initial_contact() -> None:
    event = load_corpus_event("connectContactFlowEventAll")
    data = event["Details"]["ContactData"]
    data["InitialContactId"] = initial = new_id()  # a transferred contact: a new ContactId, the first one kept
    assert data["ContactId"] != initial
    lookup = find_session_id(event)
    assert lookup == SessionLookup("connect", initial, "Details.ContactData.InitialContactId", conversation=True)


@pytest.mark.parametrize("initial", ["", None], ids=repr)
def test_connect_conversation_without_an_initial_contact_is_the_contact(initial: object) -> None:
    event = load_corpus_event("connectContactFlowEventMin")
    data = event["Details"]["ContactData"]
    data["InitialContactId"] = initial
    lookup = find_session_id(event)
    assert lookup == SessionLookup("connect", data["ContactId"], "Details.ContactData.ContactId", conversation=True)


def test_connect_contact_attribute_wins_over_the_conversation() -> None:
    session_id = new_id()
    event = load_corpus_event("connectContactFlowEventAll")
    event["Details"]["ContactData"]["Attributes"]["session_id"] = session_id
    lookup = find_session_id(event)
    assert lookup == SessionLookup("connect", session_id, "Details.ContactData.Attributes.session_id")


def test_connect_without_contact_data_names_nothing() -> None:
    event = load_corpus_event("connectContactFlowEventMin")
    event["Details"] = {"Parameters": {}}
    assert find_session_id(event) == SessionLookup("connect")


# ------------------------------------------------------------------------------------------------
# Headers: AppSync, API Gateway's authorizers, VPC Lattice


@pytest.mark.parametrize("name", ["appSyncDirectResolver", "appSyncResolverEvent"])
def test_appsync_session_header(name: str) -> None:
    session_id = new_id()
    event = load_corpus_event(name)
    event["request"]["headers"]["x-session-id"] = session_id
    assert find_session_id(event) == SessionLookup("appsync", session_id, "header X-Session-ID")


def test_appsync_batch_names_the_session_its_calls_agree_on() -> None:
    session_id = new_id()
    event = load_corpus_event("appSyncBatchEvent")
    for call in event:
        call["request"] = {"headers": {"x-session-id": session_id}}
    assert record_list(event) == event
    assert find_session_id(event) == SessionLookup("appsync-batch", session_id, "header X-Session-ID")
    event[1]["request"]["headers"]["x-session-id"] = new_id()
    assert find_session_id(event) == SessionLookup("appsync-batch")


@pytest.mark.parametrize(
    ("name", "trigger"),
    [
        ("apiGatewayAuthorizerRequestEvent", "api-gateway-authorizer"),
        ("apiGatewayAuthorizerV2Event", "http-api-authorizer"),
        ("vpcLatticeEvent", "vpc-lattice"),
        ("vpcLatticeV2Event", "vpc-lattice"),
    ],
)
def test_session_header_and_trace_context_of_request_shapes(name: str, trigger: str) -> None:
    session_id = new_id()
    event = load_corpus_event(name)
    lattice_v2 = name == "vpcLatticeV2Event"  # version 2 gives every header a list of values
    added = {"X-Session-Id": session_id, "traceparent": TRACEPARENT}
    event["headers"].update({key: [value] if lattice_v2 else value for key, value in added.items()})
    if "multiValueHeaders" in event:  # API Gateway sends every header in both maps
        event["multiValueHeaders"].update({key: [value] for key, value in added.items()})

    assert find_session_id(event) == SessionLookup(trigger, session_id, "header X-Session-ID")
    assert event_carrier(trigger, event).carrier == {"traceparent": TRACEPARENT}


def test_token_authorizer_names_nothing() -> None:
    event = load_corpus_event("apiGatewayAuthorizerTokenEvent")
    assert find_session_id(event) == SessionLookup("api-gateway-authorizer")
    assert not event_carrier("api-gateway-authorizer", event)


# ------------------------------------------------------------------------------------------------
# Records: Amazon MQ properties and headers, Kafka headers


def activemq(**properties: Any) -> dict[str, Any]:
    event: dict[str, Any] = load_corpus_event("activeMQEvent")
    for message in event["messages"]:
        message["properties"].update(properties)
    return event


def rabbitmq(**headers: Any) -> dict[str, Any]:
    event: dict[str, Any] = load_corpus_event("rabbitMQEvent")
    for message in event["rmqMessagesByQueue"]["pizzaQueue::/"]:
        message["basicProperties"]["headers"].update(headers)
    return event


def kafka(**headers: str) -> dict[str, Any]:
    event: dict[str, Any] = load_corpus_event("kafkaEventMsk")
    for record in event["records"]["mytopic-0"]:
        record["headers"].extend({name: list(value.encode())} for name, value in headers.items())
    return event


@pytest.mark.parametrize(
    ("make_event", "where"),
    [
        pytest.param(lambda sid: activemq(session_id=sid), "properties.session_id", id="activemq"),
        pytest.param(lambda sid: rabbitmq(session_id=sid), "basicProperties.headers.session_id", id="rabbitmq-text"),
        pytest.param(
            lambda sid: rabbitmq(session_id={"bytes": list(sid.encode())}),
            "basicProperties.headers.session_id",
            id="rabbitmq-bytes",
        ),
        pytest.param(lambda sid: kafka(session_id=sid), "headers.session_id", id="kafka-msk"),
    ],
)
def test_each_record_names_its_session(make_event: Any, where: str) -> None:
    session_id = new_id()
    event = make_event(session_id)
    trigger = detect_trigger(event)
    records = record_list(event)

    assert records
    assert [find_record_session_id(trigger, record) for record in records] == [
        SessionLookup(trigger, session_id, where)
    ] * len(records)
    assert find_session_id(event) == SessionLookup(trigger, session_id, where)


def test_rabbitmq_header_that_is_no_text_is_named_as_it_is() -> None:
    event = rabbitmq(session_id=10)
    (record,) = record_list(event)
    assert find_record_session_id("mq", record) == SessionLookup("mq", 10, "basicProperties.headers.session_id")


@pytest.mark.parametrize("name", ["activeMQEvent", "rabbitMQEvent", "kafkaEventMsk", "kafkaEventSelfManaged"])
def test_records_without_a_session_name_none(name: str) -> None:
    event = load_corpus_event(name)
    assert record_list(event)
    assert find_session_id(event).candidate is None


def test_each_amazon_mq_message_is_processed_in_its_own_session(lambda_env: DevReceiver) -> None:
    first, second = new_id(), new_id()
    event = activemq()
    event["messages"][0]["properties"]["session_id"] = first
    event["messages"][1]["properties"]["session_id"] = second
    seen: list[str | None] = []

    @with_honeyhive_session
    def handler(event: Any, context: Any) -> None:
        process_records(event, lambda record: seen.append(get_tracer().session_id))

    handler(event, LambdaContext(FUNCTION))

    assert seen[:2] == [first, second]
    assert seen[2] not in (first, second, None)
