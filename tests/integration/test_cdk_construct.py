"""The CDK constructs: what HoneyHiveInstrumentation and HoneyHiveLayer put in the template, the synthesis
errors, the example app under cfn-lint and cdk-nag, and the layer's asset hash from dist/ or the builder.

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
NO_BUNDLING: dict[str, list[str]] = {"aws:cdk:bundling-stacks": []}
# The flag cdk.json sets: error annotations fail an in-process synth as they fail `cdk synth`.
ANNOTATIONS_FAIL_SYNTH = {"@aws-cdk/core:annotationsInValidationReport": True}
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
def new_stack(cdk: ModuleType, tmp_path: Path) -> Callable[..., Any]:
    """Makes a stack "Test" in its own app, synthesized under tmp_path; ``context`` adds to the app's."""
    apps = iter(range(100))

    def make(context: dict[str, Any] | None = None) -> Any:
        outdir = tmp_path / f"app{next(apps)}"
        app = cdk.App(
            context={**NO_BUNDLING, **(context or {})}, outdir=str(outdir), builtin_cloud_formation_validation=False
        )
        return cdk.Stack(app, "Test")

    return make


def python_function(stack: Any, id: str, runtime: Any = None, architecture: Any = None, **props: Any) -> Any:
    from aws_cdk import aws_lambda as lambda_

    return lambda_.Function(
        stack,
        id,
        runtime=runtime or lambda_.Runtime.PYTHON_3_12,
        architecture=architecture or lambda_.Architecture.X86_64,
        handler="index.handler",
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


def instrumentation(stack: Any, **props: Any) -> Any:
    from aws_cdk import aws_secretsmanager as secretsmanager

    from honeyhive_serverless_cdk import HoneyHiveInstrumentation

    if not {"api_key", "api_key_secret", "api_key_parameter"} & set(props):
        props["api_key_secret"] = secretsmanager.Secret.from_secret_complete_arn(stack, "ApiKey", SECRET_ARN)
    return HoneyHiveInstrumentation(stack, "HoneyHive", project="test-project", **props)


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


# ------------------------------------------------------------------------------------------------
# What each function gets


def test_one_layer_version_per_runtime_and_architecture_shared_by_functions(
    cdk: ModuleType, new_stack: Callable[..., Any]
) -> None:
    from aws_cdk import aws_lambda as lambda_

    stack = new_stack()
    arm, x86 = lambda_.Architecture.ARM_64, lambda_.Architecture.X86_64
    functions = {
        "A": python_function(stack, "A", lambda_.Runtime.PYTHON_3_12, x86),
        "B": python_function(stack, "B", lambda_.Runtime.PYTHON_3_12, x86),
        "C": python_function(stack, "C", lambda_.Runtime.PYTHON_3_12, arm),
        "D": python_function(stack, "D", lambda_.Runtime.PYTHON_3_11, x86),
    }
    cdk.Aspects.of(stack).add(instrumentation(stack))

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
        stack,
        server_url="https://honeyhive.example.com/",
        export_mode="batch",
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
        "HH_CAPTURE_EVENT": "false",
        "HH_CAPTURE_RESPONSE": "false",
        "HH_FLUSH_TIMEOUT_MS": "1500",
        "HH_LAMBDA_HANDLER": "index.handler",
    }
    [kept] = messages(stack, "info")[f"/Test/{function.node.id}"]
    assert "HH_EXPORT_MODE, HH_PROJECT" in kept


@pytest.mark.parametrize(
    ("wrapping", "handler", "added"),
    [
        ("REDIRECT", THIS_HANDLER, {"HH_LAMBDA_HANDLER": "index.handler"}),
        ("EXEC_WRAPPER", "index.handler", {"AWS_LAMBDA_EXEC_WRAPPER": "/opt/honeyhive-wrapper"}),
        ("NONE", "index.handler", {}),
    ],
)
def test_handler_wrapping(
    cdk: ModuleType, new_stack: Callable[..., Any], wrapping: str, handler: str, added: dict[str, str]
) -> None:
    from honeyhive_serverless_cdk import HandlerWrapping

    stack = new_stack()
    function = python_function(stack, "Fn")
    cdk.Aspects.of(stack).add(instrumentation(stack, handler_wrapping=HandlerWrapping[wrapping]))

    template = template_of(stack)

    assert function_properties(template, stack, function)["Handler"] == handler
    found = variables(template, stack, function)
    assert {name: found[name] for name in ("HH_LAMBDA_HANDLER", "AWS_LAMBDA_EXEC_WRAPPER") if name in found} == added


def test_secret_read_is_granted_to_each_instrumented_role_on_that_one_arn(
    cdk: ModuleType, new_stack: Callable[..., Any]
) -> None:
    stack = new_stack()
    traced = [python_function(stack, "A"), python_function(stack, "B")]
    skipped = python_function(stack, "Skipped")
    cdk.Aspects.of(stack).add(instrumentation(stack, exclude=lambda function: function is skipped))

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


def test_ssm_parameter_read_is_granted_on_that_one_parameter(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_ssm as ssm

    stack = new_stack()
    function = python_function(stack, "Fn")
    parameter = ssm.StringParameter.from_secure_string_parameter_attributes(
        stack, "Parameter", parameter_name=PARAMETER_NAME
    )
    instrumentation(stack, api_key_parameter=parameter).add_functions(function)

    template = template_of(stack)

    [statement] = statements_by_role(template)[role_id(stack, function)]
    assert "ssm:GetParameter" in statement["Action"]
    assert stack.resolve(statement["Resource"]) == stack.resolve(parameter.parameter_arn)
    assert "*" not in json.dumps(statement["Resource"])
    assert variables(template, stack, function)["HH_API_KEY_SSM_PARAMETER"] == PARAMETER_NAME


def test_no_plaintext_key_in_the_template_when_a_secret_is_used(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_secretsmanager as secretsmanager

    with_secret = new_stack()
    function = python_function(with_secret, "Fn")
    secret = secretsmanager.Secret.from_secret_name_v2(with_secret, "ApiKey", "honeyhive/api-key")
    instrumentation(with_secret, api_key_secret=secret).add_functions(function)

    text = json.dumps(template_of(with_secret).to_json())
    assert '"HH_API_KEY"' not in text
    assert '"HH_API_KEY_SECRET_ARN"' in text
    assert not messages(with_secret, "warning")

    # The contrast: a plaintext key is in the template, and warned about.
    plaintext = new_stack()
    instrumentation(plaintext, api_key=PLAINTEXT_KEY).add_functions(python_function(plaintext, "Fn"))
    assert PLAINTEXT_KEY in json.dumps(template_of(plaintext).to_json())
    [warning] = messages(plaintext, "warning")["/Test/HoneyHive"]
    assert "plain text" in warning


# ------------------------------------------------------------------------------------------------
# Loud errors, and what the Aspect skips


def test_invalid_props_raise_at_once(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_secretsmanager as secretsmanager

    from honeyhive_serverless_cdk import HoneyHiveInstrumentation

    stack = new_stack()
    secret = secretsmanager.Secret.from_secret_complete_arn(stack, "Key", SECRET_ARN)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"api_key": PLAINTEXT_KEY, "api_key_secret": secret}, "one API key source, got api_key_secret and api_key"),
        ({}, "needs an API key source"),
        ({"api_key_secret": secret, "export_mode": "sometimes"}, "export_mode must be one of"),
        ({"api_key_secret": secret, "server_url": "honeyhive.example.com"}, "server_url must be an http"),
        ({"api_key_secret": secret, "env": {"HH_PROJECT": "x"}}, "set HH_PROJECT through its prop"),
        ({"api_key_secret": secret, "env": {"PATH": "/x"}}, "HoneyHive settings"),
    ]
    for number, (props, message) in enumerate(cases):
        with pytest.raises(ValueError, match=message):
            HoneyHiveInstrumentation(stack, f"HoneyHive{number}", **props)


def test_functions_that_cannot_be_instrumented_are_synthesis_errors(new_stack: Callable[..., Any]) -> None:
    from aws_cdk import aws_ecr as ecr
    from aws_cdk import aws_lambda as lambda_

    stack = new_stack()
    node = node_function(stack)
    image = lambda_.DockerImageFunction(
        stack,
        "Image",
        code=lambda_.DockerImageCode.from_ecr(ecr.Repository.from_repository_name(stack, "Repo", "functions")),
    )
    layers = [
        lambda_.LayerVersion.from_layer_version_arn(
            stack, f"Layer{n}", f"arn:aws:lambda:us-east-1:123456789012:layer:other{n}:1"
        )
        for n in range(5)
    ]
    crowded = python_function(stack, "Crowded", layers=layers)
    old = python_function(stack, "Old", runtime=lambda_.Runtime.PYTHON_3_9)
    instrumentation(stack).add_functions(node, image, crowded, old)

    errors = messages(stack, "error")

    assert errors.keys() == {"/Test/Node", "/Test/Image", "/Test/Crowded", "/Test/Old"}
    assert "nodejs22.x is not a Python function" in errors["/Test/Node"][0]
    assert "a container image function is not a Python function" in errors["/Test/Image"][0]
    assert "already has 5 layers, Lambda's maximum is 5" in errors["/Test/Crowded"][0]
    assert "python3.9 has no HoneyHive layer" in errors["/Test/Old"][0]
    assert not template_of(stack).find_resources("AWS::Lambda::LayerVersion")


def test_an_error_annotation_fails_synthesis(new_stack: Callable[..., Any]) -> None:

    stack = new_stack(ANNOTATIONS_FAIL_SYNTH)
    node = node_function(stack)
    instrumentation(stack).add_functions(node)

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
    cdk.Aspects.of(stack).add(instrumentation(stack))

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
    cdk: ModuleType, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from honeyhive_serverless_dev.layer_build import layer_info, layer_zip_name, write_manifest

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
    from honeyhive_serverless_dev.layer_build import PROJECT_ROOT, layer_info, layer_zip_name, write_manifest

    package = PROJECT_ROOT / "layer" / "honeyhive_serverless"

    def dist_with(handler_source: bytes, name: str) -> LayerBundling:
        dist = tmp_path / name
        dist.mkdir()
        path = dist / layer_zip_name("3.12", "x86_64")
        with zipfile.ZipFile(path, "w") as archive:
            for source in sorted(package.rglob("*.py")):
                relative = source.relative_to(package).as_posix()
                data = handler_source if relative == "handler.py" else source.read_bytes()
                archive.writestr(f"python/honeyhive_serverless/{relative}", data)
            archive.writestr("honeyhive-wrapper", (PROJECT_ROOT / "layer" / "honeyhive-wrapper").read_bytes())
        write_manifest(dist, [layer_info(path, "3.12", "x86_64")])
        return LayerBundling(dist)

    current = (package / "handler.py").read_bytes()

    assert dist_with(current, "current").prebuilt("3.12", "x86_64") is not None
    assert dist_with(current + b"\n# edited since\n", "stale").prebuilt("3.12", "x86_64") is None
