"""The example app through the real CDK CLI: ``cdk synth``, then ``cdk bootstrap``, ``cdk deploy`` and
``cdk destroy`` against a moto server on loopback, and the deployed code and layer run for real.

moto deploys the stack but cannot run functions (that needs Docker), so the end-to-end proof downloads
the deployed function code and layer zip from moto's S3, checks them against the CodeSha256 Lambda
reports, and runs them in the local Lambda emulator with the deployed configuration: the API key comes
from the secret in moto, and the sessions reach a dev receiver that accepts only that key.

The CLI is ``cdk/node_modules/.bin/cdk``, installed by ``make`` from ``cdk/package-lock.json``.
"""

from __future__ import annotations

import functools
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from deployed import has_session_named, invoke_deployed
from honeyhive_serverless import variables
from honeyhive_serverless_dev.receiver import DevReceiver

pytestmark = pytest.mark.filterwarnings(
    # moto's CloudFormation has no AWS::S3::BucketPolicy; the bootstrap stack deploys without it.
    "ignore:Tried to parse AWS.*BucketPolicy:UserWarning"
)

API_KEY = "hh-key-from-moto-secret-3b9e"
THIS_HANDLER = "honeyhive_serverless.handler.handler"
# One event per deployed function, by the stack output naming it.
QUESTIONS = {"EchoFunctionName": "what is in the echo?", "ChatFunctionName": "what is honeyhive?"}


@dataclass
class Deployed:
    """The example stack deployed on moto, with the receiver its functions export to."""

    local: ModuleType  # deploy_local
    aws: Any  # deploy_local.LocalAws
    receiver: DevReceiver
    assembly: Path
    outputs: dict[str, str]
    destroyed: bool = False


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, layer_cache: Path) -> Iterator[Deployed]:
    """Synth with the CLI, then bootstrap and deploy to moto; destroyed (if a test has not) and stopped after."""
    import app as example_app
    import deploy_local as local

    with local.moto_server() as aws, DevReceiver(api_keys={API_KEY}) as receiver, pytest.MonkeyPatch.context() as env:
        local.create_api_key_secret(aws, local.configured_secret_name(), API_KEY)
        env.setenv(variables.LAYER_CACHE_DIR, str(layer_cache))  # the layer this run built already
        assembly = local.synth(
            tmp_path_factory.mktemp("cdk") / "cdk.out", context={example_app.CONTEXT_SERVER_URL: receiver.url}
        )
        local.bootstrap(aws, assembly)
        state = Deployed(local, aws, receiver, assembly, local.deploy(aws, assembly))
        try:
            yield state
        finally:
            if not state.destroyed:
                local.destroy(aws, assembly)


BROKEN_APP = """
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from honeyhive_serverless_cdk import HoneyHiveInstrumentation

app = cdk.App()
stack = cdk.Stack(app, "Broken")
node = lambda_.Function(
    stack, "Node", runtime=lambda_.Runtime.NODEJS_22_X, handler="index.handler",
    code=lambda_.Code.from_inline("exports.handler = async () => ({});"),
)
HoneyHiveInstrumentation(api_key_secret="honeyhive/api-key").add_functions(node)
app.synth()
"""


def test_cli_synth_fails_on_a_function_that_cannot_be_instrumented(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import deploy_local as local

    app = tmp_path / "broken_app.py"
    app.write_text(BROKEN_APP)

    with pytest.raises(local.CdkCliError) as failed:
        local.run_cdk(["synth", "--quiet", "--app", f"{sys.executable} {app}", "--output", str(tmp_path / "out")])

    assert "exited 1" in str(failed.value)
    assert "HoneyHive: nodejs22.x is not a Python function" in str(failed.value)


def test_cli_synth_writes_the_instrumented_template_and_the_layer_asset(deployed: Deployed) -> None:
    template = json.loads((deployed.assembly / f"{deployed.local.STACK_NAME}.template.json").read_text())
    resources = template["Resources"]
    functions = {
        resource["Properties"]["Handler"]: resource["Properties"]
        for resource in resources.values()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    [(layer_id, layer)] = [(name, r) for name, r in resources.items() if r["Type"] == "AWS::Lambda::LayerVersion"]

    assert set(functions) == {THIS_HANDLER, "chat.handler"}
    assert all(properties["Layers"] == [{"Ref": layer_id}] for properties in functions.values())
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.12"]
    asset = deployed.assembly / f"asset.{layer['Properties']['Content']['S3Key']}"
    with zipfile.ZipFile(asset) as archive:
        assert {"python/honeyhive_serverless/handler.py", "honeyhive-wrapper"} <= set(archive.namelist())


def test_deployed_functions_carry_the_variables_the_redirect_and_the_layer_version(deployed: Deployed) -> None:
    deployment = deployed.local.describe(deployed.aws)
    configurations = [function.configuration for function in deployment.functions.values()]
    by_handler = {configuration["Handler"]: configuration for configuration in configurations}
    expected = {
        "HH_API_KEY_SECRET_ARN": deployed.outputs["ApiKeySecretArn"],
        "HH_PROJECT": "honeyhive-serverless-example",
        "HH_SOURCE": "lambda",
        "HH_API_URL": deployed.receiver.url,
        "HH_CAPTURE_EVENT": "true",
        "HH_CAPTURE_RESPONSE": "true",
    }

    assert set(by_handler) == {THIS_HANDLER, "chat.handler"}
    assert by_handler[THIS_HANDLER]["FunctionName"] == deployed.outputs["EchoFunctionName"]
    assert by_handler[THIS_HANDLER]["Environment"]["Variables"] == {**expected, "HH_LAMBDA_HANDLER": "plain.handler"}
    assert by_handler["chat.handler"]["Environment"]["Variables"] == expected
    assert API_KEY not in json.dumps(configurations)
    version = deployment.layer.version
    assert version["Version"] == 1
    assert version["CompatibleRuntimes"] == ["python3.12"]
    assert version["Description"].startswith("HoneyHive tracing: honeyhive-serverless")


def test_deployed_code_and_layer_trace_into_the_receiver_with_the_key_from_moto(
    deployed: Deployed, tmp_path: Path
) -> None:
    local, aws, receiver = deployed.local, deployed.aws, deployed.receiver
    deployment = local.describe(aws)
    layer_zip = local.download(
        aws,
        deployment.bucket,
        deployment.layer.content_key,
        deployment.layer.version["Content"]["CodeSha256"],
        tmp_path / "layer.zip",
    )
    by_name = {function.name: function for function in deployment.functions.values()}

    for output, question in QUESTIONS.items():
        function = by_name[deployed.outputs[output]]
        config = function.configuration
        task_root = tmp_path / function.logical_id
        code_zip = local.download(
            aws, deployment.bucket, function.code_key, config["CodeSha256"], tmp_path / f"{function.logical_id}.zip"
        )
        with zipfile.ZipFile(code_zip) as archive:
            archive.extractall(task_root)
        invocation, logs = invoke_deployed(config, task_root, [layer_zip], aws.endpoint, {"question": question})

        assert invocation.ok, (invocation.error, logs)
        session_name = f"lambda-{config['FunctionName']}"
        assert receiver.wait_for(functools.partial(has_session_named, session_name))
        [start] = [s for s in receiver.session_starts if s["session_name"] == session_name]
        spans = receiver.spans_for_session(start["session_id"])
        invocation_span = next(span for span in spans if span.name == config["FunctionName"])
        assert invocation_span.attributes["honeyhive_inputs.event.question"] == question
        if output == "ChatFunctionName":
            assert invocation.payload["statusCode"] == 200
            assert {"retrieve", "generate", "answer"} <= {span.name for span in spans}
        else:
            assert invocation.payload == {"echo": {"question": question}}
    # The receiver answers 401 to any other key: the spans above came with the key read from moto.
    assert all(request.status == 200 for request in receiver.requests)
    assert len(receiver.session_starts) == 2


def test_destroy_removes_the_stack(deployed: Deployed) -> None:
    cloudformation = deployed.aws.client("cloudformation")
    lambda_client = deployed.aws.client("lambda")

    deployed.local.destroy(deployed.aws, deployed.assembly)
    deployed.destroyed = True

    stacks = cloudformation.list_stacks()["StackSummaries"]
    statuses = {stack["StackStatus"] for stack in stacks if stack["StackName"] == deployed.local.STACK_NAME}
    assert statuses == {"DELETE_COMPLETE"}
    remaining = {function["FunctionName"] for function in lambda_client.list_functions()["Functions"]}
    assert not remaining & {deployed.outputs["EchoFunctionName"], deployed.outputs["ChatFunctionName"]}
