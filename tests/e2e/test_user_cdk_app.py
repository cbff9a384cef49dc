"""A new CDK app, written in a temporary directory outside the checkout, using the construct installed
from the wheel (with the oldest aws-cdk-lib it allows): the real ``cdk synth``, then ``cdk deploy`` to
moto, then each deployed function run through the local Lambda emulator until its session reaches the
dev receiver. One function per layer source: built locally (the default, applied as an Aspect on the
App), a published layer's ARN (published by the installed CLI), and bring-your-own (the package
bundled in the function's code, no layer).
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

import deploy_local as local
from conftest import LAYER_PYTHONS
from deployed import has_session_named, invoke_deployed, local_copy_of_layer, publish_with_cli
from honeyhive_serverless import variables
from honeyhive_serverless_dev.layer_build import layer_zip_name
from honeyhive_serverless_dev.receiver import DevReceiver
from installed import Distributions, Venv

pytestmark = pytest.mark.filterwarnings(
    # Resources moto's CloudFormation does not model: the bootstrap bucket policy, the CDK metadata.
    "ignore:Tried to parse AWS.*BucketPolicy:UserWarning",
    "ignore:Tried to parse AWS.*CDK.*Metadata:UserWarning",
)

PYTHON, ARCH = "3.12", "x86_64"
STACK = "UserApp"
API_KEY = "hh-key-of-the-user-app-91ce"
SECRET_NAME = "my-team/honeyhive-key"
CODE = 'def handler(event, context):\n    return {"echo": event}\n'
# What a user writes: their own stack and functions, then the construct, from the installed package only.
APP = f"""
import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from honeyhive_serverless_cdk import OPT_OUT_TAG, HoneyHiveInstrumentation, LayerSource

app = cdk.App()
stack = cdk.Stack(app, "{STACK}")
server_url = app.node.try_get_context("serverUrl")
published_arn = app.node.try_get_context("layerArn")


def function(name, code_dir):
    return lambda_.Function(
        stack, name, runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.X86_64,
        handler="service.handler", code=lambda_.Code.from_asset(code_dir), timeout=cdk.Duration.seconds(15),
    )


local_layer = function("LocalLayer", "code")
published = function("PublishedLayer", "code")
bundled = function("BringYourOwn", "bundled")
for already in (published, bundled):
    cdk.Tags.of(already).add(*OPT_OUT_TAG)

settings = dict(project="user-app", api_key_secret="{SECRET_NAME}", server_url=server_url)
HoneyHiveInstrumentation(**settings, layer=LayerSource.from_layer_arn(published_arn)).add_functions(published)
HoneyHiveInstrumentation(**settings, layer=LayerSource.bring_your_own()).add_functions(bundled)
HoneyHiveInstrumentation(**settings).apply_to(app)
app.synth()
"""


@pytest.mark.skipif(PYTHON not in LAYER_PYTHONS, reason=f"no Python {PYTHON} here")
def test_a_users_cdk_app_synths_deploys_and_every_layer_source_traces(
    user_venv: Venv, distributions: Distributions, dist: Path, layer_cache: Path, tmp_path: Path
) -> None:
    project = tmp_path / "my-cdk-app"
    (project / "code").mkdir(parents=True)
    (project / "code" / "service.py").write_text(CODE)
    (project / "app.py").write_text(APP)
    bundled = project / "bundled"
    _bundle_the_package(distributions.wheel, bundled)
    (bundled / "service.py").write_text(CODE)

    with local.moto_server() as aws, DevReceiver(api_keys={API_KEY}) as receiver, pytest.MonkeyPatch.context() as env:
        env.setenv(variables.LAYER_CACHE_DIR, str(layer_cache))  # this run's build of the layer
        layer = publish_with_cli(user_venv, aws, dist, PYTHON, ARCH, tmp_path)
        local.create_api_key_secret(aws, SECRET_NAME, API_KEY)
        assembly = project / "cdk.out"
        context = {"serverUrl": receiver.url, "layerArn": layer["arn"]}
        app_command = f"{user_venv.python} app.py"

        local.run_cdk(
            ["synth", "--quiet", "--app", app_command, "--output", str(assembly)], context=context, cwd=project
        )
        local.bootstrap(aws, assembly)
        local.deploy(aws, assembly, STACK)
        deployment = local.describe(aws, STACK)

        template = json.loads((assembly / f"{STACK}.template.json").read_text())
        functions = {
            construct_id(logical_id): resource["Properties"]
            for logical_id, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Lambda::Function"
        }
        layer_id = deployment.layer.logical_id
        assert functions["LocalLayer"]["Layers"] == [{"Ref": layer_id}]
        assert functions["PublishedLayer"]["Layers"] == [layer["arn"]]
        assert "Layers" not in functions["BringYourOwn"]
        assert {properties["Handler"] for properties in functions.values()} == {variables.REDIRECT_HANDLER}
        assert API_KEY not in json.dumps(template)

        local_zip = local.download(
            aws,
            deployment.bucket,
            deployment.layer.content_key,
            deployment.layer.version["Content"]["CodeSha256"],
            tmp_path / "local-layer.zip",
        )
        published_zip = local_copy_of_layer(aws.client("lambda"), layer["arn"], [dist / layer_zip_name(PYTHON, ARCH)])
        # moto keeps no Layers on functions it deploys, so each one's layers are the template's, as fetched.
        layers = {"LocalLayer": [local_zip], "PublishedLayer": [published_zip], "BringYourOwn": []}
        for function in deployment.functions.values():
            name = construct_id(function.logical_id)
            config: dict[str, Any] = function.configuration
            task_root = tmp_path / "task" / name
            code_zip = local.download(
                aws, deployment.bucket, function.code_key, config["CodeSha256"], tmp_path / f"{name}.zip"
            )
            with zipfile.ZipFile(code_zip) as archive:
                archive.extractall(task_root)

            invocation, logs = invoke_deployed(config, task_root, layers[name], aws.endpoint, {"from": name})

            assert invocation.ok, (name, invocation.error, logs)
            assert invocation.payload == {"echo": {"from": name}}
            session = f"lambda-{config['FunctionName']}"
            assert receiver.wait_for(functools.partial(has_session_named, session))
    assert len(receiver.session_starts) == 3
    # The receiver answers 401 to any other key: every span came with the key read from moto's secret.
    assert {request.status for request in receiver.requests} == {200}


def construct_id(logical_id: str) -> str:
    """``LocalLayer`` from ``LocalLayer1A2B3C4D``: CDK appends an 8-character hash of the path."""
    return logical_id[:-8]


def _bundle_the_package(wheel: Path, target: Path) -> None:
    """``pip install --target``, as a user bundles a dependency into a function's code (for Lambda's Python)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--target",
        str(target),
        "--platform",
        "manylinux2014_x86_64",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON,
        "--only-binary=:all:",
        f"{wheel}[aws]",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
