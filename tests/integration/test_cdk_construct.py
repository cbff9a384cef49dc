"""The CDK constructs: what HoneyHiveInstrumentation and HoneyHiveLayer put in the template for each layer
source, across stacks and stages, the synthesis errors, the example app under cfn-lint and cdk-nag, and
the layer's asset hash from dist/ or the builder.

Templates are synthesized in-process with ``aws_cdk.assertions``. Except where the layer's bytes are the
point, asset bundling is skipped (``aws:cdk:bundling-stacks`` empty, as ``cdk`` itself does for stacks it
does not deploy), so these tests need no layer build.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from conftest import REPO

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("aws_cdk") is None,
    reason="aws-cdk-lib is not installed (pip install -e '.[cdk]')",
)

CDK_DIR = REPO / "cdk"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:honeyhive/api-key-AbCdEf"
PARAMETER_NAME = "/honeyhive/api-key"
PLAINTEXT_KEY = "hh-plaintext-canary-5d1e"
THIS_HANDLER = "honeyhive_serverless.handler.handler"
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:honeyhive-serverless-py312-x86_64:7"
# The app's own layer, attached before instrumenting (AWS publishes Powertools as such a layer).
POWERTOOLS_LAYER_ARN = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}
# The flag cdk.json sets: error annotations fail an in-process synth as they fail `cdk synth`.
ANNOTATIONS_FAIL_SYNTH = {"@aws-cdk/core:annotationsInValidationReport": True}
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<String>"
# cfn-lint's only finding on CDK output: CDK adds DependsOn on a function's role next to the Fn::GetAtt
# that already orders them. Redundant, harmless, and not ours to change.
CFN_LINT_IGNORED = ("W3005",)
EXPECTED_ACKNOWLEDGEMENTS = {
    "AwsSolutions-L1": 2,  # each function: the layer has no build for the newest Python runtime
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]": 2,
}


@pytest.fixture(scope="module")
def cdk() -> ModuleType:
    """``aws_cdk``, imported once (it takes seconds) with Node 20's end-of-life banner silenced."""
    os.environ.setdefault("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION", "20")
    return importlib.import_module("aws_cdk")


@pytest.fixture
def new_app(cdk: ModuleType, tmp_path: Path) -> Callable[..., Any]:
    """Makes an app synthesized under tmp_path, without bundling; ``context`` adds to its context."""
    apps = iter(range(100))

    def make(context: dict[str, Any] | None = None) -> Any:
        outdir = tmp_path / f"app{next(apps)}"
        return cdk.App(
            context={**NO_BUNDLING, **(context or {})}, outdir=str(outdir), builtin_cloud_formation_validation=False
        )

    return make


@pytest.fixture
def new_stack(cdk: ModuleType, new_app: Callable[..., Any]) -> Callable[..., Any]:
    """Makes a stack "Test" in its own app (see ``new_app``)."""

    def make(context: dict[str, Any] | None = None) -> Any:
        return cdk.Stack(new_app(context), "Test")

    return make


def python_function(
    stack: Any, id: str, runtime: Any = None, architecture: Any = None, handler: str = "index.handler", **props: Any
) -> Any:
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Function(
        stack,
        id,
        runtime=runtime or lambda_.Runtime.PYTHON_3_12,
        architecture=architecture or lambda_.Architecture.X86_64,
        handler=handler,
        code=lambda_.Code.from_inline("def handler(event, context):\n    return event\n"),
        **props,
    )


def node_function(stack: Any) -> Any:
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Function(
        stack,
        "Node",
        runtime=lambda_.Runtime.NODEJS_22_X,
        handler="index.handler",
        code=lambda_.Code.from_inline("exports.handler = async () => ({});"),
    )


def image_function(stack: Any, **code_props: Any) -> Any:
    from aws_cdk import aws_ecr as ecr
    from aws_cdk import aws_lambda as lambda_

    repository = ecr.Repository.from_repository_name(stack, "Repo", "functions")
    return lambda_.DockerImageFunction(stack, "Image", code=lambda_.DockerImageCode.from_ecr(repository, **code_props))


def instrumentation(**props: Any) -> Any:
    from honeyhive_serverless_cdk import HoneyHiveInstrumentation

    if not {"api_key", "api_key_secret", "api_key_parameter"} & set(props):
        props["api_key_secret"] = SECRET_ARN
    return HoneyHiveInstrumentation(project="test-project", **props)


def template_of(stack: Any) -> Any:
    from aws_cdk.assertions import Template

    return Template.from_stack(stack)


def function_properties(template: Any, stack: Any, function: Any) -> dict[str, Any]:
    logical_id = stack.get_logical_id(function.node.default_child)
    properties: dict[str, Any] = template.to_json()["Resources"][logical_id]["Properties"]
    return properties


def variables(template: Any, stack: Any, function: Any) -> dict[str, Any]:
    environment: dict[str, Any] = function_properties(template, stack, function).get("Environment", {})
    found: dict[str, Any] = environment.get("Variables", {})
    return found


def statements_by_role(template: Any) -> dict[str, list[dict[str, Any]]]:
    """Every policy statement, under the logical id of each role the policy is attached to."""
    found: dict[str, list[dict[str, Any]]] = {}
    for policy in template.find_resources("AWS::IAM::Policy").values():
        for role in policy["Properties"]["Roles"]:
            found.setdefault(role["Ref"], []).extend(policy["Properties"]["PolicyDocument"]["Statement"])
    return found


def role_id(stack: Any, function: Any) -> str:
    return str(stack.get_logical_id(function.role.node.default_child))


def messages(stack: Any, level: str) -> dict[str, list[str]]:
    """Annotation messages of ``level`` (error, warning, info) by construct path."""
    from aws_cdk.assertions import Annotations, Match

    found: dict[str, list[str]] = {}
    finder = getattr(Annotations.from_stack(stack), f"find_{level}")
    for message in finder("*", Match.any_value()):
        found.setdefault(message.id, []).append(str(message.entry.data))
    return found


def ssm_layer_parameters(template: Any) -> dict[str, str]:
    """The default of each ``AWS::SSM::Parameter::Value<String>`` template parameter, by logical id,
    except the one CDK's synthesizer adds for the bootstrap version."""
    parameters: dict[str, dict[str, Any]] = template.to_json().get("Parameters", {})
    return {
        name: p["Default"]
        for name, p in parameters.items()
        if p["Type"] == SSM_PARAMETER_TYPE and name != "BootstrapVersion"
    }


# ------------------------------------------------------------------------------------------------
# What each function gets


def test_one_layer_version_per_runtime_and_architecture_shared_by_functions(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_lambda as lambda_

    stack = new_stack()
    arm, x86 = lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64
    functions = {
        "A": python_function(stack, "A", lambda_.Runtime.PYTHON_3_12, x86),
        "B": python_function(stack, "B", lambda_.Runtime.PYTHON_3_12, x86),
        "C": python_function(stack, "C", lambda_.Runtime.PYTHON_3_12, arm),
        "D": python_function(stack, "D", lambda_.Runtime.PYTHON_3_11, x86),
    }
    instrumentation().apply_to(stack)

    template = template_of(stack)

    layers = template.find_resources("AWS::Lambda::LayerVersion")
    assert len(layers) == 3
    targets = {
        name: (layer["Properties"]["CompatibleRuntimes"], layer["Properties"]["CompatibleArchitectures"])
        for name, layer in layers.items()
    }
    attached = {name: function_properties(template, stack, function)["Layers"] for name, function in functions.items()}
    assert all(len(refs) == 1 for refs in attached.values())
    layer_of = {name: refs[0]["Ref"] for name, refs in attached.items()}
    assert layer_of["A"] == layer_of["B"]
    assert targets[layer_of["A"]] == (["python3.12"], ["x86_64"])
    assert targets[layer_of["C"]] == (["python3.12"], ["arm64"])
    assert targets[layer_of["D"]] == (["python3.11"], ["x86_64"])


def test_variables_are_filled_without_overwriting_the_functions_own(new_stack: Callable[..., Any]) -> None:
    stack = new_stack()
    function = python_function(
        stack, "Fn", environment={"HH_PROJECT": "the-users-project", "HH_EXPORT_MODE": "immediate", "OTHER": "kept"}
    )
    instrumentation(
        server_url="https://honeyhive.example.com/",
        export_mode="batch",
        instrumentors=["all", "-langchain"],
        capture_payloads=False,
        env={"HH_FLUSH_TIMEOUT_MS": "1500"},
    ).add_functions(function)

    assert variables(template_of(stack), stack, function) == {
        "HH_PROJECT": "the-users-project",
        "HH_EXPORT_MODE": "immediate",
        "OTHER": "kept",
        "HH_API_KEY_SECRET_ARN": SECRET_ARN,
        "HH_SOURCE": "lambda",
        "HH_API_URL": "https://honeyhive.example.com",
        "HH_INSTRUMENTORS": "all,-langchain",
        "HH_CAPTURE_EVENT": "false",
        "HH_CAPTURE_RESPONSE": "false",
        "HH_FLUSH_TIMEOUT_MS": "1500",
        "HH_LAMBDA_HANDLER": "index.handler",
    }
    [kept] = messages(stack, "info")[f"/Test/{function.node.id}"]
    assert "HH_EXPORT_MODE, HH_PROJECT" in kept


def test_the_functions_own_variables_are_read_without_cdks_protected_properties(
    new_stack: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through the public inspection API only: with CfnResource's protected ``cfnProperties`` getter gone
    (as a CDK release may make it), the function's own variables, layers and image command are still seen."""
    from aws_cdk import aws_lambda as lambda_

    def gone(self: Any) -> Any:
        raise AttributeError("cfnProperties is not public API")

    monkeypatch.setattr(lambda_.CfnFunction, "_cfn_properties", property(gone))
    stack = new_stack()
    function = python_function(stack, "Fn", environment={"HH_PROJECT": "the-users-project"})
    function.add_environment("HH_SOURCE", "added-later")
    instrumentation().add_functions(function)

    found = variables(template_of(stack), stack, function)
    assert (found["HH_PROJECT"], found["HH_SOURCE"]) == ("the-users-project", "added-later")
    assert "HH_PROJECT, HH_SOURCE" in messages(stack, "info")[f"/Test/{function.node.id}"][0]


@pytest.mark.parametrize(
    ("wrapping", "handler", "added"),
    [
        ("REDIRECT", THIS_HANDLER, {"HH_LAMBDA_HANDLER": "index.handler"}),
        ("EXEC_WRAPPER", "index.handler", {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/honeyhive-wrapper"}),
        ("NONE", "index.handler", {}),
    ],
)
def test_handler_wrapping(new_stack: Callable[..., Any], wrapping: str, handler: str, added: dict[str, str]) -> None:
    from honeyhive_serverless_cdk import HandlerWrapping

    stack = new_stack()
    function = python_function(stack, "Fn")
    instrumentation(handler_wrapping=HandlerWrapping[wrapping]).apply_to(stack)

    template = template_of(stack)

    assert function_properties(template, stack, function)["Handler"] == handler
    found = variables(template, stack, function)
    assert {name: found[name] for name in ("HH_LAMBDA_HANDLER", "AWS_LAMBDA_EXEC_WRAPPER") if name in found} == added


# The Lambda Web Adapter's public layer and its exec wrapper, as a web app on Lambda has them.
WEB_ADAPTER_LAYER_ARN = "arn:aws:lambda:us-east-1:753240598075:layer:LambdaAdapterLayerX86:26"
WEB_ADAPTER_ENV = {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap", "AWS_LWA_PORT": "8000"}


@pytest.mark.parametrize("wrapping", ["REDIRECT", "EXEC_WRAPPER", "NONE"])
@pytest.mark.parametrize("how", ["aspect", "add_functions"])
def test_a_web_adapter_function_gets_the_layer_and_keeps_its_handler_and_wrapper(
    new_stack: Callable[..., Any], wrapping: str, how: str
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import HandlerWrapping, LayerSource

    stack = new_stack()
    adapter = lambda_.LayerVersion.from_layer_version_arn(stack, "WebAdapter", WEB_ADAPTER_LAYER_ARN)
    function = python_function(stack, "WebApp", handler="run.sh", layers=[adapter], environment=WEB_ADAPTER_ENV)
    honeyhive = instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN), handler_wrapping=HandlerWrapping[wrapping])
    if how == "aspect":
        honeyhive.apply_to(stack)
    else:
        honeyhive.add_functions(function)

    template = template_of(stack)

    properties = function_properties(template, stack, function)
    # LWA's wrapper runs $LAMBDA_TASK_ROOT/$_HANDLER: a redirected handler would be a missing script.
    assert properties["Handler"] == "run.sh"
    assert properties["Layers"] == [WEB_ADAPTER_LAYER_ARN, LAYER_ARN]
    found = variables(template, stack, function)
    assert {name: found[name] for name in WEB_ADAPTER_ENV} == WEB_ADAPTER_ENV
    assert "HH_LAMBDA_HANDLER" not in found
    assert found["HH_PROJECT"] == "test-project"
    assert messages(stack, "error") == {}
    # Beside the one line on its other layer's packages (the adapter's), whatever they are.
    [note] = [message for message in messages(stack, "info")["/Test/WebApp"] if "other layer" not in message]
    assert "/opt/bootstrap is the Lambda Web Adapter's" in note
    assert "HoneyHiveASGIMiddleware" in note


def test_the_exec_wrapper_never_replaces_another_exec_wrapper(new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import HandlerWrapping

    stack = new_stack()
    function = python_function(stack, "Fn", environment={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/otel-instrument"})
    instrumentation(handler_wrapping=HandlerWrapping.EXEC_WRAPPER).apply_to(stack)

    [error] = messages(stack, "error")["/Test/Fn"]

    assert "it already has its own exec wrapper AWS_LAMBDA_EXEC_WRAPPER=/opt/otel-instrument" in error
    assert variables(template_of(stack), stack, function)["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/otel-instrument"


def test_secret_read_is_granted_to_each_instrumented_role_on_that_one_arn(new_stack: Callable[..., Any]) -> None:
    stack = new_stack()
    traced = [python_function(stack, "A"), python_function(stack, "B")]
    skipped = python_function(stack, "Skipped")
    instrumentation(exclude=lambda function: function is skipped).apply_to(stack)

    template = template_of(stack)

    by_role = statements_by_role(template)
    for function in traced:
        [statement] = by_role[role_id(stack, function)]
        assert statement == {
            "Action": ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"],
            "Effect": "Allow",
            "Resource": SECRET_ARN,
        }
    assert role_id(stack, skipped) not in by_role
    assert "HH_API_KEY_SECRET_ARN" not in variables(template, stack, skipped)
    assert "Layers" not in function_properties(template, stack, skipped)
    every_resource = [statement["Resource"] for statements in by_role.values() for statement in statements]
    assert "*" not in json.dumps(every_resource)


@pytest.mark.parametrize("given_as", ["object", "name"])
def test_ssm_parameter_read_is_granted_on_that_one_parameter(new_stack: Callable[..., Any], given_as: str) -> None:
    from aws_cdk import aws_ssm as ssm

    stack = new_stack()
    function = python_function(stack, "Fn")
    parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
        stack, "Parameter", parameter_name=PARAMETER_NAME
    )
    instrumentation(api_key_parameter=parameter if given_as == "object" else PARAMETER_NAME).add_functions(function)

    template = template_of(stack)

    [statement] = statements_by_role(template)[role_id(stack, function)]
    assert "ssm:GetParameter" in statement["Action"]
    assert stack.resolve(statement["Resource"]) == stack.resolve(parameter.parameter_arn)
    assert "*" not in json.dumps(statement["Resource"])
    assert variables(template, stack, function)["HH_API_KEY_SSM_PARAMETER"] == PARAMETER_NAME


def test_no_plaintext_key_in_the_template_when_a_secret_is_used(new_stack: Callable[..., Any]) -> None:
    with_secret = new_stack()
    instrumentation(api_key_secret="honeyhive/api-key").add_functions(python_function(with_secret, "Fn"))

    text = json.dumps(template_of(with_secret).to_json())
    assert '"HH_API_KEY"' not in text
    assert '"HH_API_KEY_SECRET_ARN"' in text
    assert not messages(with_secret, "warning")

    # The contrast: a plaintext key is in the template, and warned about on each function it reaches.
    plaintext = new_stack()
    functions = [python_function(plaintext, "A"), python_function(plaintext, "B")]
    honeyhive = instrumentation(api_key=PLAINTEXT_KEY)
    honeyhive.add_functions(*functions)
    honeyhive.apply_to(plaintext)
    assert PLAINTEXT_KEY in json.dumps(template_of(plaintext).to_json())
    warnings = messages(plaintext, "warning")
    assert warnings.keys() == {"/Test/A", "/Test/B"}
    assert all(len(found) == 1 and "plain text" in found[0] for found in warnings.values())


def test_with_the_grant_switched_off_no_policy_names_the_key(new_stack: Callable[..., Any]) -> None:
    stack = new_stack()
    function = python_function(stack, "Fn")
    instrumentation(grant_key_read=False).add_functions(function)

    template = template_of(stack)

    assert "secretsmanager" not in json.dumps(template.find_resources("AWS::IAM::Policy"))
    assert variables(template, stack, function)["HH_API_KEY_SECRET_ARN"] == SECRET_ARN
    [info] = messages(stack, "info")["/Test/Fn"]
    assert "grant_key_read is off" in info
    assert "needs read access" in info


# ------------------------------------------------------------------------------------------------
# Layer sources


def test_a_locally_built_layer_is_a_layer_version_in_the_functions_stack(new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    function = python_function(stack, "Fn")
    honeyhive = instrumentation(layer=LayerSource.build_locally())
    honeyhive.add_functions(function)

    template = template_of(stack)

    [layer_id] = template.find_resources("AWS::Lambda::LayerVersion")
    assert function_properties(template, stack, function)["Layers"] == [{"Ref": layer_id}]
    layer = honeyhive.layer_for(stack, function.runtime, function.architecture)
    assert stack.get_logical_id(layer.node.default_child) == layer_id


def test_a_layer_arn_is_attached_as_given(new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    function = python_function(stack, "Fn")
    instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN)).add_functions(function)

    template = template_of(stack)

    assert function_properties(template, stack, function)["Layers"] == [LAYER_ARN]
    assert function_properties(template, stack, function)["Handler"] == THIS_HANDLER
    assert not template.find_resources("AWS::Lambda::LayerVersion")


def test_a_function_with_other_layers_is_told_that_it_keeps_their_packages(new_stack: Callable[..., Any]) -> None:
    """What another layer holds is not known at synth: the layer's rule for its packages is said, in one line."""
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource
    from honeyhive_serverless_dev.planning import PACKAGES_RULE

    stack = new_stack()
    powertools = lambda_.LayerVersion.from_layer_version_arn(stack, "Powertools", POWERTOOLS_LAYER_ARN)
    with_layer, without = python_function(stack, "WithLayer", layers=[powertools]), python_function(stack, "Without")
    instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN)).add_functions(with_layer, without)

    template = template_of(stack)

    assert function_properties(template, stack, with_layer)["Layers"] == [POWERTOOLS_LAYER_ARN, LAYER_ARN]
    infos = messages(stack, "info")
    assert [message for message in infos.get("/Test/WithLayer", []) if PACKAGES_RULE in message] == [
        f"HoneyHive: it has 1 other layer: {PACKAGES_RULE}"
    ]
    assert not [message for message in infos.get("/Test/Without", []) if PACKAGES_RULE in message]


def test_a_layer_arn_for_another_python_or_architecture_is_a_synthesis_error(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    py312 = python_function(stack, "Py312")
    arm = python_function(stack, "Arm", architecture=lambda_.Architecture.ARM_64)
    py313_arn = LAYER_ARN.replace("py312", "py313")
    instrumentation(layer=LayerSource.from_layer_arn(py313_arn)).add_functions(py312)
    instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN)).add_functions(arm)

    errors = messages(stack, "error")

    [wrong_python] = errors["/Test/Py312"]
    assert f"layer {py313_arn} is for python3.13, the function runs python3.12" in wrong_python
    [wrong_arch] = errors["/Test/Arm"]
    assert "is for x86_64, the function runs on arm64" in wrong_arch
    assert "Layers" not in function_properties(template_of(stack), stack, py312)
    with pytest.raises(ValueError, match="not a layer version ARN"):
        LayerSource.from_layer_arn("honeyhive-serverless-py312-x86_64")


def test_a_layer_arn_given_as_a_token_is_attached_unchecked(cdk: ModuleType, new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    function = python_function(stack, "Fn")
    arn = cdk.CfnParameter(stack, "LayerArn").value_as_string
    instrumentation(layer=LayerSource.from_layer_arn(arn)).add_functions(function)

    assert function_properties(template_of(stack), stack, function)["Layers"] == [{"Ref": "LayerArn"}]
    assert not messages(stack, "error")


def test_an_ssm_parameter_source_reads_the_published_parameter_at_deploy_time(
    new_stack: Callable[..., Any],
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import DEFAULT_LAYER_PARAMETER, LayerSource

    stack = new_stack()
    x86, arm = python_function(stack, "X86"), python_function(stack, "Arm", architecture=lambda_.Architecture.ARM_64)
    same = python_function(stack, "Same")
    instrumentation(layer=LayerSource.from_ssm_parameter()).apply_to(stack)

    template = template_of(stack)

    assert DEFAULT_LAYER_PARAMETER == "/honeyhive-serverless/layer/python{python}/{arch}/latest"
    parameters = ssm_layer_parameters(template)
    by_default = {default: name for name, default in parameters.items()}
    assert set(by_default) == {
        "/honeyhive-serverless/layer/python3.12/x86_64/latest",
        "/honeyhive-serverless/layer/python3.12/arm64/latest",
    }
    x86_ref = [{"Ref": by_default["/honeyhive-serverless/layer/python3.12/x86_64/latest"]}]
    assert function_properties(template, stack, x86)["Layers"] == x86_ref
    assert function_properties(template, stack, same)["Layers"] == x86_ref
    assert function_properties(template, stack, arm)["Layers"] == [
        {"Ref": by_default["/honeyhive-serverless/layer/python3.12/arm64/latest"]}
    ]


def test_an_ssm_parameter_name_is_filled_in_and_checked_per_function(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    py311 = python_function(stack, "Py311", runtime=lambda_.Runtime.PYTHON_3_11)
    pinned = python_function(stack, "Pinned")
    instrumentation(layer=LayerSource.from_ssm_parameter("/team/hh/{python}/{arch}")).add_functions(py311)
    instrumentation(layer=LayerSource.from_ssm_parameter("/team/hh-py313-arm64")).add_functions(pinned)

    template = template_of(stack)

    assert set(ssm_layer_parameters(template).values()) == {"/team/hh/3.11/x86_64"}
    errors = messages(stack, "error")
    assert errors.keys() == {"/Test/Pinned"}
    assert (
        "layer parameter /team/hh-py313-arm64 is for python3.13, the function runs python3.12"
        in errors["/Test/Pinned"][0]
    )
    assert "is for arm64, the function runs on x86_64" in errors["/Test/Pinned"][1]


def test_bring_your_own_sets_variables_grant_and_redirect_but_no_layer(new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    function = python_function(stack, "Fn")
    honeyhive = instrumentation(layer=LayerSource.bring_your_own())
    honeyhive.apply_to(stack)

    template = template_of(stack)

    properties = function_properties(template, stack, function)
    assert "Layers" not in properties
    assert not template.find_resources("AWS::Lambda::LayerVersion")
    assert properties["Handler"] == THIS_HANDLER
    assert variables(template, stack, function)["HH_LAMBDA_HANDLER"] == "index.handler"
    assert variables(template, stack, function)["HH_API_KEY_SECRET_ARN"] == SECRET_ARN
    assert role_id(stack, function) in statements_by_role(template)
    with pytest.raises(ValueError, match=r"no layer for python3\.12 x86_64: the layer source is LayerSource\.bring_"):
        honeyhive.layer_for(stack, function.runtime, function.architecture)


def test_bring_your_own_refuses_the_exec_wrapper_and_pythons_the_package_does_not_support(
    new_stack: Callable[..., Any],
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import HandlerWrapping, LayerSource

    stack = new_stack()
    wrapped = python_function(stack, "Wrapped")
    old = python_function(stack, "Old", runtime=lambda_.Runtime.PYTHON_3_9)
    honeyhive = instrumentation(layer=LayerSource.bring_your_own())
    honeyhive.add_functions(wrapped, handler_wrapping=HandlerWrapping.EXEC_WRAPPER)
    honeyhive.add_functions(old)

    errors = messages(stack, "error")

    assert "EXEC_WRAPPER needs the layer" in errors["/Test/Wrapped"][0]
    assert "python3.9: honeyhive-serverless needs Python 3.10 or newer" in errors["/Test/Old"][0]


# ------------------------------------------------------------------------------------------------
# Code signing: a function whose code-signing config checks its layers

CODE_SIGNING_CONFIG_ARN = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
SIGNED_LAYER_HOWTO = (
    "publish the layer signed by a signing profile the config allows (hh-serverless publish-layer "
    "--signing-profile PROFILE --signing-bucket BUCKET) and pass layer=LayerSource.from_ssm_parameter(signed=True), "
    "or LayerSource.from_layer_arn(ARN, signed=True) with the ARN it prints"
)


def code_signing_config(stack: Any, id: str = "CodeSigning", enforce: bool = True) -> Any:
    """A code-signing config allowing one Lambda signing profile, Enforce (or CDK's default, Warn)."""
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_signer as signer

    profile = signer.SigningProfile(stack, f"{id}Profile", platform=signer.Platform.AWS_LAMBDA_SHA384_ECDSA)
    if not enforce:
        return lambda_.CodeSigningConfig(stack, id, signing_profiles=[profile])
    enforcing = lambda_.UntrustedArtifactOnDeployment.ENFORCE
    return lambda_.CodeSigningConfig(stack, id, signing_profiles=[profile], untrusted_artifact_on_deployment=enforcing)


def test_a_layer_published_signed_is_attached_to_a_function_whose_code_signing_config_enforces(
    new_stack: Callable[..., Any],
) -> None:
    from aws_cdk.assertions import Match

    from honeyhive_serverless_cdk import DEFAULT_SIGNED_LAYER_PARAMETER, LayerSource

    stack = new_stack()
    config = code_signing_config(stack)
    by_parameter = python_function(stack, "ByParameter", code_signing_config=config)
    by_arn = python_function(stack, "ByArn", code_signing_config=config)
    instrumentation(layer=LayerSource.from_ssm_parameter(signed=True)).add_functions(by_parameter)
    instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN, signed=True)).add_functions(by_arn)

    template = template_of(stack)

    assert DEFAULT_SIGNED_LAYER_PARAMETER == "/honeyhive-serverless/layer/signed/python{python}/{arch}/latest"
    [(parameter, default)] = ssm_layer_parameters(template).items()
    assert default == "/honeyhive-serverless/layer/signed/python3.12/x86_64/latest"
    assert function_properties(template, stack, by_parameter)["Layers"] == [{"Ref": parameter}]
    assert function_properties(template, stack, by_arn)["Layers"] == [LAYER_ARN]
    config_id = stack.get_logical_id(config.node.default_child)
    template.resource_properties_count_is(
        "AWS::Lambda::Function",
        {"CodeSigningConfigArn": {"Fn::GetAtt": [config_id, "CodeSigningConfigArn"]}, "Handler": THIS_HANDLER},
        2,
    )
    template.has_resource_properties(
        "AWS::Lambda::CodeSigningConfig",
        {"CodeSigningPolicies": {"UntrustedArtifactOnDeployment": "Enforce"}, "AllowedPublishers": Match.any_value()},
    )
    assert not messages(stack, "error") and not messages(stack, "warning")


def test_an_unsigned_layer_for_a_function_whose_code_signing_config_may_enforce_is_a_synthesis_error(
    cdk: ModuleType, new_app: Callable[..., Any]
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource

    app = new_app()
    shared, stack = cdk.Stack(app, "Shared"), cdk.Stack(app, "Test")
    config = code_signing_config(stack)
    imported = lambda_.CodeSigningConfig.from_code_signing_config_arn(stack, "Imported", CODE_SIGNING_CONFIG_ARN)
    built = python_function(stack, "Built", code_signing_config=config)
    by_arn = python_function(stack, "ByArn", code_signing_config=config)
    by_parameter = python_function(stack, "ByParameter", code_signing_config=imported)
    other_stacks = python_function(stack, "OtherStacks", code_signing_config=code_signing_config(shared, "InShared"))
    unchecked = python_function(stack, "Unchecked")
    bundled = python_function(stack, "Bundled", code_signing_config=config)
    instrumentation().add_functions(built, other_stacks, unchecked)
    instrumentation(layer=LayerSource.from_layer_arn(LAYER_ARN)).add_functions(by_arn)
    instrumentation(layer=LayerSource.from_ssm_parameter()).add_functions(by_parameter)
    instrumentation(layer=LayerSource.bring_your_own()).add_functions(bundled)

    errors = messages(stack, "error")

    enforced = "its code-signing config rejects unsigned layers (policy Enforce)"
    assert errors == {
        "/Test/Built": [
            f"HoneyHive: cannot instrument: a layer built at synth is not signed (CDK cannot sign a layer), and "
            f"{enforced}: {SIGNED_LAYER_HOWTO}"
        ],
        "/Test/OtherStacks": [
            f"HoneyHive: cannot instrument: a layer built at synth is not signed (CDK cannot sign a layer), and "
            f"{enforced}: {SIGNED_LAYER_HOWTO}"
        ],
        "/Test/ByArn": [
            f"HoneyHive: cannot instrument: layer {LAYER_ARN} is not declared signed, and {enforced}: "
            f"{SIGNED_LAYER_HOWTO}"
        ],
        "/Test/ByParameter": [
            "HoneyHive: cannot instrument: the layer in parameter /honeyhive-serverless/layer/python{python}/{arch}/"
            "latest is not declared signed, and its code-signing config rejects unsigned layers if its policy is "
            f"Enforce (it is imported: its policy is not in this app): {SIGNED_LAYER_HOWTO}"
        ],
    }
    template = template_of(stack)
    for function in (built, by_arn, by_parameter, other_stacks):
        assert "Layers" not in function_properties(template, stack, function)
        assert function_properties(template, stack, function)["Handler"] == "index.handler"
    assert len(function_properties(template, stack, unchecked)["Layers"]) == 1
    assert function_properties(template, stack, bundled)["Handler"] == THIS_HANDLER


def test_a_code_signing_config_that_only_warns_gets_the_unsigned_layer_and_a_warning(
    new_stack: Callable[..., Any],
) -> None:
    stack = new_stack()
    function = python_function(stack, "Fn", code_signing_config=code_signing_config(stack, enforce=False))
    instrumentation().add_functions(function)

    template = template_of(stack)

    [layer_id] = template.find_resources("AWS::Lambda::LayerVersion")
    assert function_properties(template, stack, function)["Layers"] == [{"Ref": layer_id}]
    assert not messages(stack, "error")
    [warning] = messages(stack, "warning")["/Test/Fn"]
    assert warning.startswith(
        "HoneyHive: a layer built at synth is not signed (CDK cannot sign a layer), and its code-signing config "
        f"lets it deploy with a warning (policy Warn); to deploy it signed, {SIGNED_LAYER_HOWTO}"
    )
    assert "honeyhive:unsignedLayer" in warning


# ------------------------------------------------------------------------------------------------
# Container image functions


def test_an_image_function_is_redirected_through_its_image_command(new_stack: Callable[..., Any]) -> None:
    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    function = image_function(stack, cmd=["app.handler"])
    instrumentation(layer=LayerSource.bring_your_own()).apply_to(stack)

    template = template_of(stack)

    properties = function_properties(template, stack, function)
    assert properties["ImageConfig"]["Command"] == [THIS_HANDLER]
    assert "Layers" not in properties
    assert variables(template, stack, function)["HH_LAMBDA_HANDLER"] == "app.handler"
    assert not messages(stack, "error")


def test_an_image_function_without_a_command_in_the_template_cannot_be_redirected(
    new_stack: Callable[..., Any],
) -> None:
    from honeyhive_serverless_cdk import HandlerWrapping, LayerSource

    stack = new_stack()
    function = image_function(stack)
    instrumentation(layer=LayerSource.bring_your_own()).add_functions(function)

    [error] = messages(stack, "error")["/Test/Image"]
    assert "ImageConfig.Command" in error
    assert "cmd=" in error
    assert "HandlerWrapping.NONE" in error

    # Decorated in the image, it needs no redirect: variables and key access only.
    decorated_stack = new_stack()
    decorated = image_function(decorated_stack)
    instrumentation(layer=LayerSource.bring_your_own()).add_functions(decorated, handler_wrapping=HandlerWrapping.NONE)
    assert not messages(decorated_stack, "error")
    assert "HH_API_KEY_SECRET_ARN" in variables(template_of(decorated_stack), decorated_stack, decorated)


def test_an_image_function_with_a_layer_source_is_an_error_or_under_the_aspect_a_warning(
    new_stack: Callable[..., Any],
) -> None:
    explicit = new_stack()
    instrumentation().add_functions(image_function(explicit, cmd=["app.handler"]))
    [error] = messages(explicit, "error")["/Test/Image"]
    assert "takes no layers" in error
    assert "LayerSource.bring_your_own()" in error

    aspect = new_stack()
    function = image_function(aspect, cmd=["app.handler"])
    instrumentation().apply_to(aspect)
    template = template_of(aspect)
    assert not messages(aspect, "error")
    [warning] = messages(aspect, "warning")["/Test/Image"]
    assert "not instrumented" in warning
    assert "LayerSource.bring_your_own()" in warning
    assert function_properties(template, aspect, function)["ImageConfig"]["Command"] == ["app.handler"]


# ------------------------------------------------------------------------------------------------
# One Aspect for the whole App


def test_an_app_level_aspect_covers_every_stack_of_every_stage(cdk: ModuleType, new_app: Callable[..., Any]) -> None:
    app = new_app()
    functions = {}
    for stage_name in ("Dev", "Prod"):
        stage = cdk.Stage(app, stage_name)
        for stack_name in ("Api", "Jobs"):
            stack = cdk.Stack(stage, stack_name)
            functions[f"{stage_name}/{stack_name}"] = (stack, python_function(stack, "Fn"))
    instrumentation(api_key_secret="honeyhive/api-key").apply_to(app)

    app.synth()
    for stack, function in functions.values():
        template = template_of(stack)
        [layer_id] = template.find_resources("AWS::Lambda::LayerVersion")
        properties = function_properties(template, stack, function)
        assert properties["Layers"] == [{"Ref": layer_id}]
        assert properties["Handler"] == THIS_HANDLER
        arn = stack.resolve(variables(template, stack, function)["HH_API_KEY_SECRET_ARN"])
        assert "secret:honeyhive/api-key" in json.dumps(arn)
        assert role_id(stack, function) in statements_by_role(template)


def test_a_stage_created_after_apply_to_fails_synthesis(cdk: ModuleType, new_app: Callable[..., Any]) -> None:
    app = new_app()
    instrumentation().apply_to(app)
    python_function(cdk.Stack(cdk.Stage(app, "Late"), "Service"), "Fn")

    with pytest.raises(RuntimeError, match="stage Late was created after apply_to"):
        app.synth()


def test_the_aspect_is_mutating_and_runs_before_read_only_aspects(cdk: ModuleType, new_app: Callable[..., Any]) -> None:
    import jsii
    from aws_cdk import aws_lambda as lambda_

    @jsii.implements(cdk.IAspect)
    class HandlerRecorder:
        """A read-only check, added first, that records each function's handler as it sees it."""

        def __init__(self) -> None:
            self.seen: dict[str, str] = {}

        def visit(self, node: Any) -> None:
            if isinstance(node, lambda_.Function):
                cfn = node.node.default_child
                assert isinstance(cfn, lambda_.CfnFunction)
                self.seen[node.node.id] = str(cfn.handler)

    app = new_app()
    python_function(cdk.Stack(app, "Test"), "Fn")
    recorder = HandlerRecorder()
    cdk.Aspects.of(app).add(recorder, priority=cdk.AspectPriority.READONLY)
    honeyhive = instrumentation()
    honeyhive.apply_to(app)

    app.synth()

    [applied] = [application for application in cdk.Aspects.of(app).applied if application.aspect is honeyhive]
    assert applied.priority == cdk.AspectPriority.MUTATING
    assert recorder.seen == {"Fn": THIS_HANDLER}


# ------------------------------------------------------------------------------------------------
# Loud errors, and what the Aspect skips


def test_invalid_props_raise_at_once() -> None:
    from honeyhive_serverless_cdk import HoneyHiveInstrumentation, LayerSource

    cases: list[tuple[dict[str, Any], str]] = [
        (
            {"api_key": PLAINTEXT_KEY, "api_key_secret": SECRET_ARN},
            "one API key source, got api_key_secret and api_key",
        ),
        ({}, "needs a key source"),
        ({"api_key_secret": " "}, "api_key_secret is empty"),
        ({"api_key_secret": SECRET_ARN, "export_mode": "sometimes"}, "export_mode must be one of"),
        ({"api_key_secret": SECRET_ARN, "server_url": "honeyhive.example.com"}, "server_url must be an http"),
        ({"api_key_secret": SECRET_ARN, "instrumentors": "openai"}, "instrumentors takes a list of names"),
        ({"api_key_secret": SECRET_ARN, "instrumentors": ["open ai"]}, "'open ai' is not an instrumentor name"),
        ({"api_key_secret": SECRET_ARN, "instrumentors": []}, "name at least one instrumentor"),
        ({"api_key_secret": SECRET_ARN, "env": {"HH_INSTRUMENTORS": "x"}}, "set HH_INSTRUMENTORS through its prop"),
        ({"api_key_secret": SECRET_ARN, "env": {"HH_PROJECT": "x"}}, "set HH_PROJECT through its prop"),
        ({"api_key_secret": SECRET_ARN, "env": {"PATH": "/x"}}, "HoneyHive settings"),
    ]
    for props, message in cases:
        with pytest.raises(ValueError, match=message):
            HoneyHiveInstrumentation(**props)
    with pytest.raises(ValueError, match="layer version ARN"):
        LayerSource.from_layer_arn("arn:aws:lambda:us-east-1:123456789012:function:not-a-layer")


def test_functions_that_cannot_be_instrumented_are_synthesis_errors(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_lambda as lambda_

    stack = new_stack()
    node = node_function(stack)
    layers = [
        lambda_.LayerVersion.from_layer_version_arn(
            stack, f"Layer{n}", f"arn:aws:lambda:us-east-1:123456789012:layer:other{n}:1"
        )
        for n in range(5)
    ]
    crowded = python_function(stack, "Crowded", layers=layers)
    old = python_function(stack, "Old", runtime=lambda_.Runtime.PYTHON_3_9)
    instrumentation().add_functions(node, crowded, old)

    errors = messages(stack, "error")

    assert errors.keys() == {"/Test/Node", "/Test/Crowded", "/Test/Old"}
    assert "nodejs22.x is not a Python function" in errors["/Test/Node"][0]
    assert "already has 5 layers, Lambda's maximum is 5" in errors["/Test/Crowded"][0]
    assert "runtime python3.9 has no HoneyHive layer (supported: python3.10, " in errors["/Test/Old"][0]
    assert not template_of(stack).find_resources("AWS::Lambda::LayerVersion")


def test_a_runtime_given_as_a_token_is_a_synthesis_error(cdk: ModuleType, new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_lambda as lambda_
    from aws_cdk import aws_s3 as s3

    stack = new_stack()
    runtime = lambda_.Runtime(cdk.CfnParameter(stack, "Runtime").value_as_string, lambda_.RuntimeFamily.PYTHON)
    # Inline code needs a known runtime, so the code is in a bucket.
    function = lambda_.Function(
        stack,
        "Fn",
        runtime=runtime,
        handler="index.handler",
        code=lambda_.Code.from_bucket(s3.Bucket.from_bucket_name(stack, "Code", "code"), "function.zip"),
    )
    instrumentation().apply_to(stack)

    [error] = messages(stack, "error")["/Test/Fn"]
    assert "its runtime is a token" in error
    assert function_properties(template_of(stack), stack, function)["Handler"] == "index.handler"


def test_a_python_with_no_interpreter_here_names_the_two_ways_forward(
    new_stack: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource, sources
    from honeyhive_serverless_dev import layer_build

    monkeypatch.setattr(sources, "buildable", lambda python: python != "3.14")
    monkeypatch.setattr(layer_build, "PYTHON_VERSIONS", tuple(sorted({*layer_build.PYTHON_VERSIONS, "3.14"})))
    stack = new_stack()
    local = python_function(stack, "Local", runtime=lambda_.Runtime.PYTHON_3_14)
    bundled = python_function(stack, "Bundled", runtime=lambda_.Runtime.PYTHON_3_14)
    instrumentation().add_functions(local)
    instrumentation(layer=LayerSource.bring_your_own()).add_functions(bundled)

    errors = messages(stack, "error")

    assert errors.keys() == {"/Test/Local"}
    [error] = errors["/Test/Local"]
    assert "no Python 3.14 on this machine" in error
    for way in ("LayerSource.from_layer_arn", "LayerSource.from_ssm_parameter", "LayerSource.bring_your_own()"):
        assert way in error
    assert function_properties(template_of(stack), stack, bundled)["Handler"] == THIS_HANDLER


#: A published layer version whose name states no Python: any function's runtime may have it.
ANY_PYTHON_LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:honeyhive-serverless:7"


def test_a_function_on_a_deprecated_python_is_instrumented_with_one_warning_naming_the_dates(
    cdk: ModuleType, new_stack: Callable[..., Any]
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource

    stack = new_stack()
    functions = [
        python_function(stack, f"Py3{minor}", runtime=getattr(lambda_.Runtime, f"PYTHON_3_{minor}"))
        for minor in (10, 11, 12, 14)
    ]
    instrumentation(layer=LayerSource.from_layer_arn(ANY_PYTHON_LAYER_ARN)).apply_to(stack)

    warnings = messages(stack, "warning")

    assert warnings.keys() == {"/Test/Py310", "/Test/Py311"}
    for minor in (10, 11):
        [warning] = warnings[f"/Test/Py3{minor}"]
        assert warning.startswith(
            f"HoneyHive: python3.{minor} is deprecated by Lambda since 2026-06-30: creating functions on it is "
            "blocked from 2026-07-31, updating them from 2026-08-31; move the function to a supported runtime "
            "(python3.12, python3.13, python3.14)"
        )
        assert "honeyhive:deprecatedRuntime" in warning
    assert not messages(stack, "error")
    template = template_of(stack)
    assert all(function_properties(template, stack, function)["Handler"] == THIS_HANDLER for function in functions)


def test_python_3_15_has_a_layer_only_where_it_can_be_built_as_3_14(
    new_stack: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import LayerSource, sources

    monkeypatch.setattr(sources, "buildable", lambda python: python != "3.15")
    # aws-cdk-lib names no PYTHON_3_15 yet: a runtime is made by its name.
    preview = lambda_.Runtime("python3.15", lambda_.RuntimeFamily.PYTHON, supports_inline_code=True)
    stack = new_stack()
    local = python_function(stack, "Local", runtime=preview)
    published = python_function(stack, "Published", runtime=preview)
    instrumentation().add_functions(local)
    instrumentation(layer=LayerSource.from_layer_arn(ANY_PYTHON_LAYER_ARN)).add_functions(published)

    errors = messages(stack, "error")

    assert errors.keys() == {"/Test/Local"}
    [error] = errors["/Test/Local"]
    assert "no Python 3.15 on this machine" in error
    for way in ("LayerSource.from_layer_arn", "LayerSource.from_ssm_parameter", "LayerSource.bring_your_own()"):
        assert way in error
    properties = function_properties(template_of(stack), stack, published)
    assert (properties["Handler"], properties["Layers"]) == (THIS_HANDLER, [ANY_PYTHON_LAYER_ARN])
    assert not messages(stack, "warning")  # a preview: nothing deprecated


def test_an_error_annotation_fails_synthesis(new_stack: Callable[..., Any]) -> None:
    stack = new_stack(ANNOTATIONS_FAIL_SYNTH)
    node = node_function(stack)
    instrumentation().add_functions(node)

    with pytest.raises(RuntimeError, match=r"ValidationFailed: ERROR .*nodejs22\.x is not a Python function"):
        stack.node.root.synth()


def test_the_aspect_skips_other_runtimes_and_opted_out_functions_with_an_info(
    cdk: ModuleType, new_stack: Callable[..., Any]
) -> None:
    from honeyhive_serverless_cdk import OPT_OUT_TAG

    stack = new_stack()
    node_function(stack)
    tagged = python_function(stack, "Tagged")
    cdk.Tags.of(tagged).add(*OPT_OUT_TAG)
    traced = python_function(stack, "Traced")
    instrumentation().apply_to(stack)

    template = template_of(stack)

    assert not messages(stack, "error")
    infos = messages(stack, "info")
    assert "nodejs22.x is not Python" in infos["/Test/Node"][0]
    assert f"tagged {OPT_OUT_TAG[0]}={OPT_OUT_TAG[1]}" in infos["/Test/Tagged"][0]
    assert function_properties(template, stack, tagged)["Handler"] == "index.handler"
    assert "Layers" not in function_properties(template, stack, tagged)
    assert function_properties(template, stack, traced)["Handler"] == THIS_HANDLER


# ------------------------------------------------------------------------------------------------
# The example app: cfn-lint and cdk-nag


@pytest.fixture(scope="module")
def example_assembly(cdk: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The example app synthesized in-process with cdk.json's context; cdk-nag runs as part of synth."""
    import app as example_app

    context = json.loads((CDK_DIR / "cdk.json").read_text())["context"]
    outdir = tmp_path_factory.mktemp("example-assembly")
    app = cdk.App(context={**context, **NO_BUNDLING}, outdir=str(outdir))
    example_app.build_app(app)
    app.synth()  # raises on any unacknowledged cdk-nag finding
    yield outdir


def test_example_template_passes_cfn_lint(example_assembly: Path) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    import app as example_app

    template = example_assembly / f"{example_app.STACK_NAME}.template.json"

    result = subprocess.run(
        [str(cfn_lint), "--ignore-checks", *CFN_LINT_IGNORED, "--", str(template)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_example_passes_cdk_nag_with_justified_acknowledgements_only(example_assembly: Path) -> None:
    report = json.loads((example_assembly / "validation-report.json").read_text())
    [nag] = [plugin for plugin in report["pluginReports"] if plugin["pluginName"] == "AwsSolutions"]

    assert nag["conclusion"] == "success"
    assert nag["violations"] == []
    acknowledged: dict[str, int] = {}
    for finding in nag["suppressedViolations"]:
        assert len(finding["reason"]) > 40, finding
        acknowledged[finding["ruleName"]] = acknowledged.get(finding["ruleName"], 0) + 1
    assert acknowledged == EXPECTED_ACKNOWLEDGEMENTS


# ------------------------------------------------------------------------------------------------
# The layer asset: the same bytes and hash from dist/ as from the builder


def synthesized_layer(cdk: ModuleType, dist_dir: Path, outdir: Path) -> tuple[str, Path]:
    """The S3 key of a python3.12 x86_64 HoneyHiveLayer, bundled for real, and its staged zip."""
    from aws_cdk import aws_lambda as lambda_

    from honeyhive_serverless_cdk import HoneyHiveLayer

    app = cdk.App(outdir=str(outdir), builtin_cloud_formation_validation=False)
    stack = cdk.Stack(app, "Layer")
    HoneyHiveLayer(
        stack, "Layer", runtime=lambda_.Runtime.PYTHON_3_12, architecture=lambda_.Architecture.X86_64, dist_dir=dist_dir
    )
    [layer] = template_of(stack).find_resources("AWS::Lambda::LayerVersion").values()
    key = layer["Properties"]["Content"]["S3Key"]
    return key, outdir / f"asset.{key}"


def test_layer_from_dist_and_from_the_builder_has_the_same_asset_hash(
    cdk: ModuleType, tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from honeyhive_serverless import variables
    from honeyhive_serverless_dev.layer_build import layer_info, layer_zip_name, write_manifest

    monkeypatch.setenv(variables.LAYER_CACHE_DIR, str(tmp_path / "cache"))  # an empty cache: the builder runs
    built_key, built_zip = synthesized_layer(cdk, tmp_path / "empty-dist", tmp_path / "built")
    assert "building the layer for Python 3.12 x86_64" in capfd.readouterr().err

    dist = tmp_path / "dist"
    dist.mkdir()
    prebuilt = dist / layer_zip_name("3.12", "x86_64")
    shutil.copyfile(built_zip, prebuilt)
    write_manifest(dist, [layer_info(prebuilt, "3.12", "x86_64")])
    dist_key, _ = synthesized_layer(cdk, dist, tmp_path / "from-dist")

    assert f"using {prebuilt}" in capfd.readouterr().err
    assert dist_key == built_key
    with zipfile.ZipFile(built_zip) as archive:
        names = set(archive.namelist())
        wrapper_mode = archive.getinfo("honeyhive-wrapper").external_attr >> 16
    assert {"python/honeyhive_serverless/handler.py", "honeyhive-wrapper"} <= names
    assert wrapper_mode & stat.S_IXUSR
    assert not any(name.startswith(("python/honeyhive_serverless_cdk", "python/aws_cdk")) for name in names)


def test_a_dist_zip_with_outdated_sources_is_not_used(tmp_path: Path) -> None:
    from honeyhive_serverless_cdk.layer import LayerBundling
    from honeyhive_serverless_dev.layer_build import (
        WRAPPER_PATH,
        layer_info,
        layer_zip_name,
        runtime_files,
        write_manifest,
    )

    def dist_with(handler_source: bytes, name: str) -> LayerBundling:
        dist = tmp_path / name
        dist.mkdir()
        path = dist / layer_zip_name("3.12", "x86_64")
        with zipfile.ZipFile(path, "w") as archive:
            for relative, data in runtime_files().items():
                archive.writestr(
                    f"python/honeyhive_serverless/{relative}", handler_source if relative == "handler.py" else data
                )
            archive.writestr("honeyhive-wrapper", WRAPPER_PATH.read_bytes())
        write_manifest(dist, [layer_info(path, "3.12", "x86_64")])
        return LayerBundling(dist)

    current = runtime_files()["handler.py"]

    assert dist_with(current, "current").prebuilt("3.12", "x86_64") is not None
    assert dist_with(current + b"\n# edited since\n", "stale").prebuilt("3.12", "x86_64") is None
