"""The emulator's Lambda Invoke API (``emulator/invoke_api.py``), called by boto3's real ``lambda`` client:
a function invoked by name or ARN with its client context, a failure's function error and log tail, and
Lambda's errors for what it refuses."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from conftest import SANDBOX_HANDLERS, MakeEmulator
from honeyhive_serverless_dev.emulator import InvokeApi, LambdaEmulator

REGION = "us-east-1"
ARN_PREFIX = "arn:aws:lambda:us-east-1:123456789012:function:"
OVERSIZED_CLIENT_CONTEXT = base64.b64encode(json.dumps({"custom": {"padding": "x" * 3000}}).encode()).decode()


def lambda_client(front: InvokeApi) -> Any:
    # Credentials only to sign with; one attempt, so that a refused call fails at once.
    return boto3.client(
        "lambda",
        endpoint_url=front.url,
        region_name=REGION,
        aws_access_key_id="invoke-api-test",
        aws_secret_access_key="invoke-api-test-not-a-secret",
        config=Config(retries={"max_attempts": 1, "mode": "standard"}),
    )


@pytest.fixture(scope="module")
def front() -> Iterator[InvokeApi]:
    """Two functions behind one Invoke API: ``orders`` (reports its event, raises on ``raise``) and
    ``contexts`` (reports its client context)."""
    orders = LambdaEmulator("basic.handler", task_root=SANDBOX_HANDLERS, function_name="orders")
    contexts = LambdaEmulator("basic.client_context", task_root=SANDBOX_HANDLERS, function_name="contexts")
    with orders, contexts, InvokeApi(orders, contexts) as api:
        yield api


def test_a_function_is_invoked_by_name_or_arn_with_its_event_and_client_context(front: InvokeApi) -> None:
    client = lambda_client(front)
    client_context = {"custom": {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}}

    by_name = client.invoke(FunctionName="orders", Payload=json.dumps({"question": "?"}))
    by_arn = client.invoke(
        FunctionName=f"{ARN_PREFIX}contexts:$LATEST",
        ClientContext=base64.b64encode(json.dumps(client_context).encode()).decode(),
    )
    empty = client.invoke(FunctionName="123456789012:function:orders")

    assert (by_name["StatusCode"], by_name["ExecutedVersion"], by_name.get("FunctionError")) == (200, "$LATEST", None)
    answered = json.loads(by_name["Payload"].read())
    assert answered["event"] == {"question": "?"}
    assert answered["function_arn"] == f"{ARN_PREFIX}orders"
    assert by_name["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"] == answered["request_id"]
    found = json.loads(by_arn["Payload"].read())["client_context"]
    assert (found["custom"], found["env"]) == (client_context["custom"], None)
    assert json.loads(empty["Payload"].read())["event"] == {}  # no payload: the event {}


def test_a_failed_invocation_is_200_with_its_function_error_and_log_tail(front: InvokeApi) -> None:
    client = lambda_client(front)

    failed = client.invoke(FunctionName="orders", Payload=json.dumps({"raise": "boom"}), LogType="Tail")

    assert (failed["StatusCode"], failed["FunctionError"]) == (200, "Unhandled")
    error = json.loads(failed["Payload"].read())
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
    assert "ValueError: boom" in base64.b64decode(failed["LogResult"]).decode()


@pytest.mark.parametrize(
    ("call", "error"),
    [
        ({"FunctionName": "nowhere"}, "ResourceNotFoundException"),
        ({"FunctionName": f"{ARN_PREFIX}orders", "Qualifier": "prod"}, "ResourceNotFoundException"),
        ({"FunctionName": "arn:aws:lambda:eu-west-1:123456789012:function:orders"}, "ResourceNotFoundException"),
        ({"FunctionName": "orders", "Payload": b"{not json"}, "InvalidRequestContentException"),
        ({"FunctionName": "orders", "ClientContext": "bm90IGpzb24="}, "InvalidRequestContentException"),
        # Valid, but over Lambda's 3,583 bytes.
        ({"FunctionName": "orders", "ClientContext": OVERSIZED_CLIENT_CONTEXT}, "InvalidRequestContentException"),
        ({"FunctionName": "orders", "InvocationType": "Event"}, "InvalidParameterValueException"),
    ],
)
def test_what_lambda_refuses_raises_its_error_in_boto3(front: InvokeApi, call: dict[str, Any], error: str) -> None:
    client = lambda_client(front)

    with pytest.raises(client.exceptions.ClientError) as raised:
        client.invoke(**call)

    assert raised.value.response["Error"]["Code"] == error


def test_a_dry_run_runs_nothing(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.handler", function_name="orders")
    with InvokeApi(emulator) as api:
        answer = lambda_client(api).invoke(FunctionName="orders", InvocationType="DryRun")

    assert answer["StatusCode"] == 204
    assert emulator.cold_starts == 0


def test_two_emulators_of_one_name_are_refused() -> None:
    first = LambdaEmulator("basic.handler", task_root=SANDBOX_HANDLERS, function_name="twin")
    second = LambdaEmulator("basic.handler", task_root=SANDBOX_HANDLERS, function_name="twin")

    with pytest.raises(ValueError, match="same function_name"):
        InvokeApi(first, second)
