"""The CloudFormation example (``examples/cloudformation/traced-function.yaml``), as a SAM or
CloudFormation user would use it: publish the layer with the installed CLI (which records its ARN in
SSM), deploy the template, which reads the ARN from that parameter, and run the function it made.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import deploy_local as local
from conftest import LAYER_PYTHONS, REPO
from deployed import has_session_named, invoke_deployed, local_copy_of_layer, publish_with_cli
from honeyhive_serverless_dev.layer_build import layer_zip_name
from honeyhive_serverless_dev.published import parameter_name
from honeyhive_serverless_dev.receiver import DevReceiver
from installed import Venv

TEMPLATE = REPO / "examples" / "cloudformation" / "traced-function.yaml"
API_KEY = "hh-key-for-the-template-5d1c"
STACK = "HoneyHiveTemplateExample"
PYTHON, ARCH = "3.12", "x86_64"


class TemplateLoader(yaml.SafeLoader):  # type: ignore[misc]
    """YAML with CloudFormation's short-form intrinsics: ``!Ref X`` reads as ``{"Ref": "X"}``."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


TemplateLoader.add_multi_constructor("!", _intrinsic)

pytestmark = pytest.mark.skipif(PYTHON not in LAYER_PYTHONS, reason=f"no Python {PYTHON} here")


def test_the_template_passes_cfn_lint() -> None:
    cfn_lint = Path(sys.executable).parent / "cfn-lint"
    result = subprocess.run([str(cfn_lint), str(TEMPLATE)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_template_deploys_with_the_published_layer_and_its_function_traces(
    user_venv: Venv, dist: Path, tmp_path: Path
) -> None:
    with local.moto_server() as aws, DevReceiver(api_keys={API_KEY}) as receiver:
        layer = publish_with_cli(user_venv, aws, dist, PYTHON, ARCH, tmp_path)
        secret_arn = local.create_api_key_secret(aws, "honeyhive/template-key", API_KEY)
        cloudformation = aws.client("cloudformation")

        cloudformation.create_stack(
            StackName=STACK,
            TemplateBody=TEMPLATE.read_text(),
            Parameters=[
                {"ParameterKey": "HoneyHiveApiKeySecretArn", "ParameterValue": secret_arn},
                {"ParameterKey": "HoneyHiveProject", "ParameterValue": "template-example"},
                {"ParameterKey": "HoneyHiveServerUrl", "ParameterValue": receiver.url},
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
        [stack] = cloudformation.describe_stacks(StackName=STACK)["Stacks"]
        outputs = {output["OutputKey"]: output["OutputValue"] for output in stack["Outputs"]}
        lambda_client = aws.client("lambda")
        config: dict[str, Any] = lambda_client.get_function_configuration(FunctionName=outputs["FunctionName"])
        role_name = config["Role"].rsplit("/", 1)[1]
        iam = aws.client("iam")
        [policy_name] = iam.list_role_policies(RoleName=role_name)["PolicyNames"]
        document = iam.get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        # moto's CloudFormation stores the inline policy as the Python repr of the template's mapping.
        policy = ast.literal_eval(document) if isinstance(document, str) else document

        assert stack["StackStatus"] == "CREATE_COMPLETE"
        # moto's CloudFormation drops a function's Layers, so the ARN is the one the stack resolved its
        # layer parameter to (from SSM, as CloudFormation does), which the function's Layers reference.
        resolved = {parameter["ParameterKey"]: parameter["ParameterValue"] for parameter in stack["Parameters"]}
        function_properties = yaml.load(TEMPLATE.read_text(), Loader=TemplateLoader)["Resources"]["Function"]
        ssm_value = aws.client("ssm").get_parameter(Name=parameter_name(PYTHON, ARCH))["Parameter"]["Value"]
        assert function_properties["Properties"]["Layers"] == [{"Ref": "HoneyHiveLayerArn"}]
        assert resolved["HoneyHiveLayerArn"] == ssm_value == layer["arn"]
        assert f"{local.REGION}:{local.ACCOUNT}:layer:honeyhive-serverless-py312-x86_64:" in layer["arn"]
        assert policy["Statement"] == [
            {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}
        ]
        assert API_KEY not in json.dumps(config)

        # The function's code is the template's inline code, which CloudFormation names index.py.
        task_root = tmp_path / "task"
        task_root.mkdir()
        (task_root / "index.py").write_text(function_properties["Properties"]["Code"]["ZipFile"])
        layer_zip = local_copy_of_layer(lambda_client, layer["arn"], [dist / layer_zip_name(PYTHON, ARCH)])
        invocation, logs = invoke_deployed(config, task_root, [layer_zip], aws.endpoint, {"question": "template?"})

        assert invocation.ok, (invocation.error, logs)
        assert invocation.payload == {"echo": {"question": "template?"}}
        name = f"lambda-{config['FunctionName']}"
        assert receiver.wait_for(functools.partial(has_session_named, name))
        [start] = receiver.session_starts
        assert start["project"] == "template-example"
        assert all(request.status == 200 for request in receiver.requests)
