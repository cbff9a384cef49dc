"""publish-layer, instrument and uninstrument against moto: in-process, and over HTTP to a moto server on loopback.

Each test through the API or the CLI asserts what AWS holds afterwards (configurations, layer
versions and their policies, SSM parameters, role policies); the planning tests need no AWS.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.server import ThreadedMotoServer

from conftest import REPO
from honeyhive_serverless import variables
from honeyhive_serverless.variables import LAMBDA_HANDLER as HANDLER_VARIABLE
from honeyhive_serverless.variables import REDIRECT_HANDLER as THIS_HANDLER
from honeyhive_serverless_dev import layer_build
from honeyhive_serverless_dev.cli import common, main
from honeyhive_serverless_dev.cli.instrument import add_instrument
from honeyhive_serverless_dev.cli.publish_layer import add_publish_layer
from honeyhive_serverless_dev.cli.uninstrument import add_uninstrument
from honeyhive_serverless_dev.instrumenting import (
    AwsClients,
    Selection,
    apply_plan,
    instrument,
    uninstrument,
    uninstrument_functions,
)
from honeyhive_serverless_dev.layer_build import LayerInfo, layer_info, write_manifest
from honeyhive_serverless_dev.planning import (
    PACKAGES_RULE,
    RECORD_VARIABLE,
    InstrumentError,
    InstrumentOptions,
    SecretGrant,
    plan_instrument,
    plan_uninstrument,
)
from honeyhive_serverless_dev.published import parameter_name
from honeyhive_serverless_dev.publishing import (
    SHARE_ACTION,
    Grant,
    PublishError,
    grants,
    layer_description,
    publish_layer,
)
from honeyhive_serverless_dev.runtimes import lifecycle_table
from honeyhive_serverless_dev.signing import LAMBDA_PLATFORM
from signing_jobs import SIGNED_SUFFIX, serve_signing_jobs

REGION = "us-east-1"
SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:hh-key-AbCdEf"
# What update_function_configuration may legitimately change besides the settings themselves.
VOLATILE = {"LastModified", "RevisionId", "ResponseMetadata", "LastUpdateStatus", "LastUpdateStatusReason"}


# --------------------------------------------------------------------------------------------
# Fixtures and helpers


@pytest.fixture
def aws_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Fake credentials, and no profile or endpoint from the machine's AWS configuration."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_LAMBDA"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@pytest.fixture
def client(aws_credentials: None) -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("lambda", region_name=REGION)


@pytest.fixture
def clients(client: Any) -> AwsClients:
    """The clients the instrument commands use, in moto's ``REGION``."""
    return AwsClients(lambda service: boto3.client(service, region_name=REGION))


@pytest.fixture
def role(client: Any) -> str:
    return make_role(boto3.client("iam", region_name=REGION))


def make_role(iam: Any, name: str = "hh-test-role") -> str:
    """An execution role, with a path (as the console's ``service-role/`` ones have)."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    role = iam.create_role(RoleName=name, Path="/service-role/", AssumeRolePolicyDocument=json.dumps(policy))
    arn: str = role["Role"]["Arn"]
    return arn


def role_policies(iam: Any, role: str) -> dict[str, Any]:
    """The role's inline policies, name -> document."""
    name = role.rsplit("/", 1)[-1]
    return {
        policy: iam.get_role_policy(RoleName=name, PolicyName=policy)["PolicyDocument"]
        for policy in iam.list_role_policies(RoleName=name)["PolicyNames"]
    }


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def fake_layer(directory: Path, python: str = "3.12", arch: str = "x86_64", marker: str = "") -> LayerInfo:
    """A small zip shaped like a built layer (a METADATA naming the package version), described as build does."""
    path = directory / f"honeyhive-serverless-layer-py{python}-{arch}.zip"
    metadata = "Metadata-Version: 2.1\nName: honeyhive-serverless\nVersion: 0.1.0\n"
    path.write_bytes(
        zip_bytes(
            {
                "honeyhive-wrapper": "#!/bin/sh\n",
                "python/honeyhive_serverless-0.1.0.dist-info/METADATA": metadata + marker,
            }
        )
    )
    return layer_info(path, python, arch)


def other_layers(client: Any, count: int) -> list[str]:
    """Layers of the user's own, already on a function before it is instrumented."""
    return [
        client.publish_layer_version(LayerName=f"user-layer-{index}", Content={"ZipFile": zip_bytes({"x": "y"})})[
            "LayerVersionArn"
        ]
        for index in range(count)
    ]


def create_function(
    client: Any,
    role: str,
    name: str,
    *,
    runtime: str = "python3.12",
    layers: list[str] | None = None,
    env: dict[str, str] | None = None,
    arch: str = "x86_64",
    handler: str = "app.handler",
    tags: dict[str, str] | None = None,
    code_signing_config: str | None = None,
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if env is not None:
        options["Environment"] = {"Variables": env}
    if tags is not None:
        options["Tags"] = tags
    if code_signing_config is not None:
        options["CodeSigningConfigArn"] = code_signing_config
    config: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler=handler,
        Code={"ZipFile": zip_bytes({"app.py": "def handler(event, context):\n    return event\n"})},
        Layers=layers or [],
        Architectures=[arch],
        **options,
    )
    return config


def settings(client: Any, name: str) -> dict[str, Any]:
    """The function's whole configuration minus what any update changes (timestamps, revision)."""
    config = client.get_function_configuration(FunctionName=name)
    return {key: value for key, value in config.items() if key not in VOLATILE}


def env_of(client: Any, name: str) -> dict[str, str]:
    variables: dict[str, str] = (
        client.get_function_configuration(FunctionName=name).get("Environment", {}).get("Variables", {})
    )
    return variables


def layer_arns(client: Any, name: str) -> list[str]:
    return [layer["Arn"] for layer in client.get_function_configuration(FunctionName=name).get("Layers", [])]


# --------------------------------------------------------------------------------------------
# publish-layer


def test_publish_sets_runtime_arch_and_description_and_reuses_the_same_zip(client: Any, tmp_path: Path) -> None:
    info = fake_layer(tmp_path)

    first = publish_layer(client, info, "hh-layer")
    again = publish_layer(client, info, "hh-layer")

    assert (first.reused, again.reused) == (False, True)
    assert again.arn == first.arn
    assert first.arn.endswith(":layer:hh-layer:1")
    published = client.get_layer_version(LayerName="hh-layer", VersionNumber=1)
    assert published["CompatibleRuntimes"] == ["python3.12"]
    assert published["CompatibleArchitectures"] == ["x86_64"]
    assert published["Description"] == layer_description(info)
    assert "0.1.0" in published["Description"] and info.sha256 in published["Description"]
    assert len(client.list_layer_versions(LayerName="hh-layer")["LayerVersions"]) == 1


def test_publish_of_different_bytes_makes_a_new_version(client: Any, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = publish_layer(client, fake_layer(tmp_path / "a"), "hh")
    second = publish_layer(client, fake_layer(tmp_path / "b", marker="Summary: changed\n"), "hh")

    assert not second.reused
    assert second.arn != first.arn and second.arn.endswith(":2")


# --------------------------------------------------------------------------------------------
# instrument / uninstrument through the API


def test_instrument_adds_layer_env_and_redirect_then_uninstrument_restores_exactly(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    theirs = other_layers(client, 2)
    create_function(client, role, "fn", layers=theirs, env={"HH_PROJECT": "their-project", "OTHER": "kept"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    plan = instrument(
        clients,
        "fn",
        InstrumentOptions(
            layer_arn=ours,
            project="our-project",
            api_key_secret_arn=SECRET_ARN,
            source="prod",
            export_mode="after_response",
        ),
    )

    config = client.get_function_configuration(FunctionName="fn")
    assert config["Handler"] == THIS_HANDLER
    assert layer_arns(client, "fn") == [*theirs, ours]
    variables = env_of(client, "fn")
    assert variables[HANDLER_VARIABLE] == "app.handler"
    assert variables["HH_PROJECT"] == "their-project"  # set by the user: not overwritten
    assert variables["HH_SOURCE"] == "prod"
    assert variables["HH_EXPORT_MODE"] == "after_response"
    assert variables["HH_API_KEY_SECRET_ARN"] == SECRET_ARN
    assert variables["OTHER"] == "kept"
    assert any("kept HH_PROJECT=their-project" in warning for warning in plan.warnings)

    uninstrument(clients, "fn")

    assert settings(client, "fn") == before


def test_instrument_says_what_the_function_keeps_when_its_other_layers_cannot_be_read(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    """moto's get_layer_version gives no readable Content.Location: the plan names the layers it could
    not read and the layer's rule for their packages, in one line, before anything is changed."""
    theirs = other_layers(client, 2)
    create_function(client, role, "fn", layers=theirs)
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn

    plan = instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours), dry_run=True)

    [note] = plan.notes
    assert note == f"could not read {', '.join(theirs)}: {PACKAGES_RULE}"
    assert f"  note: {note}" in plan.describe().splitlines()
    assert layer_arns(client, "fn") == theirs  # a dry run


def test_a_function_without_other_layers_gets_no_note_about_packages(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn

    assert instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours), dry_run=True).notes == ()


def test_a_web_app_under_the_lambda_web_adapter_keeps_its_handler(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    """LWA's exec wrapper runs the handler as the web app's start-up script: instrument adds the layer
    and the variables and leaves the handler (a redirect would break the app), and says so."""
    create_function(client, role, "web", handler="run.sh", env={"AWS_LAMBDA_EXEC_WRAPPER": "/opt/bootstrap"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "web")

    plan = instrument(clients, "web", InstrumentOptions(layer_arn=ours, api_key_secret_arn=SECRET_ARN))

    assert client.get_function_configuration(FunctionName="web")["Handler"] == "run.sh"
    assert layer_arns(client, "web") == [ours]
    variables = env_of(client, "web")
    assert HANDLER_VARIABLE not in variables
    assert variables["AWS_LAMBDA_EXEC_WRAPPER"] == "/opt/bootstrap"
    assert variables["HH_API_KEY_SECRET_ARN"] == SECRET_ARN
    assert any("Lambda Web Adapter" in warning and "middleware" in warning for warning in plan.warnings)

    undone = uninstrument(clients, "web")

    assert settings(client, "web") == before
    assert not any("changed" in warning for warning in undone.warnings)


def test_an_ingestion_key_in_a_parameter_is_a_key_source(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")
    parameter = "/honeyhive/ingestion-key"

    plan = instrument(clients, "fn", InstrumentOptions(layer_arn=ours, api_key_ssm_parameter=parameter))

    assert env_of(client, "fn")["HH_API_KEY_SSM_PARAMETER"] == parameter
    assert not any("no key is configured" in warning for warning in plan.warnings)
    assert any(f"ssm:GetParameter on {parameter}" in warning for warning in plan.warnings)
    uninstrument(clients, "fn")
    assert settings(client, "fn") == before
    with pytest.raises(InstrumentError, match="the key's one home"):
        InstrumentOptions(api_key_secret_arn=SECRET_ARN, api_key_ssm_parameter=parameter)


def test_force_replaces_user_variables_and_uninstrument_puts_them_back(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", env={"HH_PROJECT": "theirs", "HH_SOURCE": "staging"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours, project="ours", source="prod", force=True))

    assert {key: env_of(client, "fn")[key] for key in ("HH_PROJECT", "HH_SOURCE")} == {
        "HH_PROJECT": "ours",
        "HH_SOURCE": "prod",
    }
    uninstrument(clients, "fn")
    assert settings(client, "fn") == before


def test_function_without_environment_round_trips(client: Any, clients: AwsClients, role: str, tmp_path: Path) -> None:
    create_function(client, role, "bare")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "bare")

    instrument(clients, "bare", InstrumentOptions(no_key=True, layer_arn=ours, project="p"))
    assert env_of(client, "bare")["HH_PROJECT"] == "p"
    uninstrument(clients, "bare")

    assert settings(client, "bare") == before


def test_without_layer_arn_the_layer_the_ssm_parameter_names_for_the_runtime_is_used(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", arch="arm64")
    create_function(client, role, "unpublished", runtime="python3.13")
    arm = publish_layer(client, fake_layer(tmp_path, arch="arm64"), "honeyhive-serverless-py312-arm64")
    clients.ssm.put_parameter(Name=parameter_name("3.12", "arm64"), Value=arm.arn, Type="String")
    before = settings(client, "unpublished")

    instrument(clients, "fn", InstrumentOptions(no_key=True, project="p"))

    assert layer_arns(client, "fn") == [arm.arn]
    with pytest.raises(InstrumentError, match=r"no layer published for python3\.13 on x86_64.*--layer-arn"):
        instrument(clients, "unpublished", InstrumentOptions(no_key=True, project="p"))
    assert settings(client, "unpublished") == before


def test_a_layer_for_another_architecture_is_refused(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", arch="arm64")
    x86 = publish_layer(client, fake_layer(tmp_path, arch="x86_64"), "hh-layer").arn
    before = settings(client, "fn")

    with pytest.raises(InstrumentError, match=r"x86_64.*arm64"):
        instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=x86))

    assert settings(client, "fn") == before


@pytest.mark.parametrize(
    ("create", "message"),
    [
        ({"Runtime": "nodejs20.x", "Handler": "index.handler"}, "nodejs20.x runtime"),
        (
            {"PackageType": "Image", "Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"}},
            "container image",
        ),
    ],
    ids=["nodejs", "container-image"],
)
def test_functions_a_python_layer_cannot_serve_are_refused_and_unchanged(
    client: Any, clients: AwsClients, role: str, tmp_path: Path, create: dict[str, Any], message: str
) -> None:
    spec: dict[str, Any] = {
        "FunctionName": "other",
        "Role": role,
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Code": {"ZipFile": zip_bytes({"index.js": ""})},
    }
    spec.update(create)
    if spec.get("PackageType") == "Image":
        del spec["Runtime"], spec["Handler"]
    client.create_function(**spec)
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "other")

    with pytest.raises(InstrumentError, match=message):
        instrument(clients, "other", InstrumentOptions(no_key=True, layer_arn=ours, project="p"))

    assert settings(client, "other") == before


def test_five_layers_already_is_a_clear_error(client: Any, clients: AwsClients, role: str, tmp_path: Path) -> None:
    create_function(client, role, "full", layers=other_layers(client, 5))
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "full")

    with pytest.raises(InstrumentError, match="already has 5 layers"):
        instrument(clients, "full", InstrumentOptions(no_key=True, layer_arn=ours))

    assert settings(client, "full") == before


def test_dry_run_describes_the_change_and_makes_none(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", env={"OTHER": "x"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    plan = instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours, project="p"), dry_run=True)

    assert settings(client, "fn") == before
    assert f"handler: app.handler -> {THIS_HANDLER}" in plan.describe()
    assert f"layers: + {ours}" in plan.describe()
    instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours, project="p"))
    instrumented = settings(client, "fn")
    assert uninstrument(clients, "fn", dry_run=True).handler == "app.handler"
    assert settings(client, "fn") == instrumented


def test_uninstrumenting_a_plain_function_or_instrumenting_a_missing_one_is_refused(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    with pytest.raises(InstrumentError, match="not instrumented"):
        uninstrument(clients, "fn")
    with pytest.raises(InstrumentError, match="not found"):
        instrument(clients, "missing", InstrumentOptions(no_key=True, layer_arn=ours))


def test_instrumenting_again_with_the_same_options_changes_nothing(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", env={"OTHER": "kept"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")
    options = InstrumentOptions(layer_arn=ours, project="p", api_key_secret_arn=SECRET_ARN, grant_secret_read=True)
    instrument(clients, "fn", options)
    instrumented = settings(client, "fn")
    calls: list[str] = []
    for service in (clients.lambda_, clients.iam):
        service.meta.events.register("before-call", lambda model, **_: calls.append(model.name))

    again = instrument(clients, "fn", options)

    assert again.changes_nothing and "up to date: nothing to change" in again.describe()
    assert settings(client, "fn") == instrumented
    assert not [call for call in calls if not call.startswith(("Get", "List"))]  # nothing written
    uninstrument(clients, "fn")
    assert settings(client, "fn") == before
    assert role_policies(boto3.client("iam", region_name=REGION), role) == {}


def test_instrumenting_an_instrumented_function_upgrades_its_layer_and_variables_in_place(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    """A newer layer version replaces the one instrument attached, a value given anew replaces the one it
    set, what it set and is not given again is kept, the user's own layers and variables are untouched;
    uninstrument afterwards still restores the function as it was before the first instrument."""
    (tmp_path / "v1").mkdir()
    (tmp_path / "v2").mkdir()
    theirs = other_layers(client, 1)
    create_function(client, role, "fn", layers=theirs, env={"HH_SOURCE": "theirs"})
    v1 = publish_layer(client, fake_layer(tmp_path / "v1"), "hh-layer").arn
    v2 = publish_layer(client, fake_layer(tmp_path / "v2", marker="Summary: newer\n"), "hh-layer").arn
    before = settings(client, "fn")
    instrument(
        clients,
        "fn",
        InstrumentOptions(
            layer_arn=v1, project="old", api_key_secret_arn=SECRET_ARN, instrumentors="openai", grant_secret_read=True
        ),
    )

    plan = instrument(clients, "fn", InstrumentOptions(layer_arn=v2, project="new"))

    assert layer_arns(client, "fn") == [*theirs, v2]
    variables = env_of(client, "fn")
    assert variables["HH_PROJECT"] == "new"
    assert variables["HH_API_KEY_SECRET_ARN"] == SECRET_ARN  # set by the first instrument, not given again
    assert variables["HH_INSTRUMENTORS"] == "openai"
    assert variables["HH_SOURCE"] == "theirs"
    assert client.get_function_configuration(FunctionName="fn")["Handler"] == THIS_HANDLER
    assert role_policies(boto3.client("iam", region_name=REGION), role) == {
        "honeyhive-serverless-fn": secret_read_policy()
    }
    assert set(plan.changes) == {
        f"layers: - {v1}",
        f"layers: + {v2}",
        "env: ~ HH_PROJECT=new (was old)",
        f"env: ~ {RECORD_VARIABLE} (what uninstrument undoes)",
    }

    uninstrument(clients, "fn")

    assert settings(client, "fn") == before
    assert role_policies(boto3.client("iam", region_name=REGION), role) == {}


# --------------------------------------------------------------------------------------------
# Planning, without AWS

LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:hh:3"


def config(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "FunctionName": "fn",
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "Layers": [],
    }
    base.update(overrides)
    return base


def applied(before: dict[str, Any], plan: Any) -> dict[str, Any]:
    """``before`` with the plan applied, as Lambda would store it."""
    return {
        **before,
        "Handler": plan.handler,
        "Layers": [{"Arn": arn} for arn in plan.layers],
        "Environment": {"Variables": plan.variables},
    }


def test_a_user_hh_lambda_handler_that_disagrees_needs_force() -> None:
    before = config(Environment={"Variables": {HANDLER_VARIABLE: "other.handler"}})
    with pytest.raises(InstrumentError, match="--force"):
        plan_instrument(before, InstrumentOptions(no_key=True, layer_arn=LAYER))

    plan = plan_instrument(before, InstrumentOptions(no_key=True, layer_arn=LAYER, force=True))
    assert plan.variables[HANDLER_VARIABLE] == "app.handler"
    undo = plan_uninstrument(applied(before, plan))
    assert (undo.handler, undo.variables, undo.layers) == ("app.handler", {HANDLER_VARIABLE: "other.handler"}, ())


def test_uninstrument_keeps_a_handler_and_layers_changed_since() -> None:
    plan = plan_instrument(config(), InstrumentOptions(no_key=True, layer_arn=LAYER, project="p"))
    changed = {**applied(config(), plan), "Handler": "new.handler", "Layers": []}

    undo = plan_uninstrument(changed)

    assert (undo.handler, undo.layers, undo.variables) == ("new.handler", (), {})
    assert [warning.split()[0] for warning in undo.warnings] == ["the", LAYER]


def test_another_version_of_the_same_layer_is_refused_and_the_same_version_is_not_added_twice() -> None:
    with pytest.raises(InstrumentError, match="another version"):
        plan_instrument(config(Layers=[{"Arn": LAYER[:-1] + "2"}]), InstrumentOptions(no_key=True, layer_arn=LAYER))

    plan = plan_instrument(config(Layers=[{"Arn": LAYER}]), InstrumentOptions(no_key=True, layer_arn=LAYER))
    assert plan.layers == (LAYER,)
    undo = plan_uninstrument(applied(config(Layers=[{"Arn": LAYER}]), plan))
    assert undo.layers == (LAYER,)  # it was the user's: uninstrument leaves it


@pytest.mark.parametrize("record", ["not json", '{"layer": null}', '{"layer": 1, "added": [], "replaced": {}}'])
def test_a_record_not_written_by_instrument_is_refused(record: str) -> None:
    with pytest.raises(InstrumentError, match=RECORD_VARIABLE):
        plan_uninstrument(config(Handler=THIS_HANDLER, Environment={"Variables": {RECORD_VARIABLE: record}}))


def test_old_python_runtimes_and_malformed_layer_arns_are_refused() -> None:
    with pytest.raises(InstrumentError, match=r"python3\.9"):
        plan_instrument(config(Runtime="python3.9"), InstrumentOptions(no_key=True, layer_arn=LAYER))
    with pytest.raises(InstrumentError, match="not a layer version ARN"):
        plan_instrument(config(), InstrumentOptions(no_key=True, layer_arn="hh-layer"))


# --------------------------------------------------------------------------------------------
# The CLI commands


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hh-serverless")
    subparsers = parser.add_subparsers()
    for add in (add_publish_layer, add_instrument, add_uninstrument):
        add(subparsers)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def secret_read_policy(secret_arn: str = SECRET_ARN) -> dict[str, Any]:
    """The one inline policy --grant-secret-read puts, as IAM returns it."""
    statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": secret_arn}
    return {"Version": "2012-10-17", "Statement": [statement]}


def run_cli_round_trip(lambda_client: Any, iam: Any, role: str, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """publish (twice) -> instrument --dry-run -> instrument (layer from SSM, secret granted) -> uninstrument."""
    write_manifest(dist, [fake_layer(dist)])
    create_function(lambda_client, role, "cli-fn", env={"HH_SOURCE": "mine"})
    before = settings(lambda_client, "cli-fn")
    publish = ["publish-layer", "--region", REGION, "--dist", str(dist)]

    assert cli(publish) == 0
    [first] = json.loads(capsys.readouterr().out)["layers"]
    arn = first["arn"]
    assert arn.endswith(":layer:honeyhive-serverless-py312-x86_64:1") and not first["reused"]
    assert cli(publish) == 0
    assert json.loads(capsys.readouterr().out)["layers"] == [{**first, "reused": True}]

    command = ["instrument", "--function", "cli-fn", "--project", "p", "--source", "cli"]
    command += ["--api-key-secret-arn", SECRET_ARN, "--grant-secret-read", "--instrumentors", "OpenAI, Anthropic"]
    assert cli([*command, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"layers: + {arn}" in out and "inline policy honeyhive-serverless-cli-fn" in out
    assert "dry run: nothing changed" in out
    assert settings(lambda_client, "cli-fn") == before
    assert role_policies(iam, role) == {}

    assert cli([*command, "--region", REGION]) == 0
    assert "instrumented cli-fn" in capsys.readouterr().out
    assert layer_arns(lambda_client, "cli-fn") == [arn]
    assert env_of(lambda_client, "cli-fn")["HH_SOURCE"] == "mine"
    assert env_of(lambda_client, "cli-fn")["HH_INSTRUMENTORS"] == "openai,anthropic"
    assert role_policies(iam, role) == {"honeyhive-serverless-cli-fn": secret_read_policy()}

    assert cli(["uninstrument", "--function", "cli-fn"]) == 0
    assert settings(lambda_client, "cli-fn") == before
    assert role_policies(iam, role) == {}


def test_the_cli_refuses_a_bad_instrumentor_name(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli(["instrument", "--function", "fn", "--instrumentors", "openai;rm -rf"])
    assert exit_info.value.code == 2
    assert "'openai;rm -rf' is not an instrumentor name" in capsys.readouterr().err


def test_cli_round_trip_in_process(client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli_round_trip(client, boto3.client("iam", region_name=REGION), role, tmp_path, capsys)


def test_cli_errors_are_one_line_and_exit_1(
    client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    client.create_function(
        FunctionName="node",
        Runtime="nodejs20.x",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": zip_bytes({"index.js": ""})},
    )

    assert cli(["instrument", "--function", "node", "--layer-arn", LAYER]) == 1
    assert capsys.readouterr().err == "hh-serverless: node: uses the nodejs20.x runtime: " + (
        "the HoneyHive layer is for Python functions\n"
    )
    assert cli(["instrument", "--function-regex", "nothing-.*", "--layer-arn", LAYER]) == 1
    assert capsys.readouterr().err.startswith("hh-serverless: error: no function in this region matches")
    assert cli(["instrument", "--function", "node", "--grant-secret-read"]) == 1
    assert capsys.readouterr().err.startswith("hh-serverless: error: --grant-secret-read needs --api-key-secret-arn")
    assert cli(["publish-layer", "--region", REGION, "--dist", str(tmp_path)]) == 1
    assert "layers.json" in capsys.readouterr().err
    write_manifest(tmp_path, [fake_layer(tmp_path, "3.12"), fake_layer(tmp_path, "3.13")])
    assert cli(["publish-layer", "--region", REGION, "--dist", str(tmp_path), "--layer-name", "fixed"]) == 1
    assert "same name" in capsys.readouterr().err


def test_cli_round_trip_against_a_moto_server_on_loopback(
    aws_credentials: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)  # the CLI's own boto3 clients go there too
        lambda_client = boto3.client("lambda", region_name=REGION, endpoint_url=endpoint)
        iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)

        run_cli_round_trip(lambda_client, iam, make_role(iam), tmp_path, capsys)
    finally:
        server.stop()


# --------------------------------------------------------------------------------------------
# publish-layer to several regions, shared, recorded in SSM

OTHER_REGION = "eu-west-1"
ORGANIZATION = "o-abcdefghij"
ACCOUNT = "111122223333"


def layer_statements(client: Any, name: str, version: int) -> dict[str, dict[str, Any]]:
    """The layer version's policy statements, by statement id."""
    policy = json.loads(client.get_layer_version_policy(LayerName=name, VersionNumber=version)["Policy"])
    return {statement["Sid"]: statement for statement in policy["Statement"]}


def organization_of(statement: dict[str, Any]) -> str | None:
    """The organization a statement is limited to: AWS states it as a condition, moto keeps the request's field."""
    condition = statement.get("Condition", {}).get("StringEquals", {}).get("aws:PrincipalOrgID")
    found: str | None = condition or statement.get("OrganizationId")
    return found


def test_publish_to_two_regions_shares_with_an_organization_and_records_parameters(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    infos = [fake_layer(tmp_path, "3.12", "x86_64"), fake_layer(tmp_path, "3.13", "arm64")]
    write_manifest(tmp_path, infos)
    publish = ["publish-layer", "--region", REGION, "--region", OTHER_REGION, "--dist", str(tmp_path)]
    publish += ["--share-organization", ORGANIZATION, "--share-account", ACCOUNT]

    assert cli(publish) == 0
    captured = capsys.readouterr()
    manifest = json.loads(captured.out)

    expected = []
    for region in sorted((REGION, OTHER_REGION)):
        lambda_client = boto3.client("lambda", region_name=region)
        ssm = boto3.client("ssm", region_name=region)
        for info in infos:
            name = f"honeyhive-serverless-py{info.python.replace('.', '')}-{info.arch}"
            arn = f"arn:aws:lambda:{region}:123456789012:layer:{name}:1"
            published = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
            assert published["LayerVersionArn"] == arn
            statements = layer_statements(lambda_client, name, 1)
            org = statements[f"honeyhive-serverless-organization-{ORGANIZATION}"]
            assert (org["Principal"], org["Action"], organization_of(org)) == ("*", SHARE_ACTION, ORGANIZATION)
            assert statements[f"honeyhive-serverless-account-{ACCOUNT}"]["Action"] == SHARE_ACTION
            assert len(statements) == 2
            parameters = [parameter_name(info.python, info.arch, version) for version in ("0.1.0", "latest")]
            for parameter in parameters:
                assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == arn
            expected.append(
                {
                    "region": region,
                    "runtime": info.runtime,
                    "python": info.python,
                    "arch": info.arch,
                    "layer_name": name,
                    "arn": arn,
                    "version": 1,
                    "reused": False,
                    "sha256": info.sha256,
                    "parameters": parameters,
                    "shared_with": [f"account:{ACCOUNT}", f"organization:{ORGANIZATION}"],
                    "signed_by": None,
                }
            )
    assert manifest == {"package_version": "0.1.0", "layers": expected}
    assert captured.err == ""  # no terminal: the manifest alone

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert cli(publish) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)

    # On a terminal, a line as each zip's publishing starts and one as it ends.
    assert captured.err.count(": publishing as honeyhive-serverless-py") == 4
    assert captured.err.count(": reused existing version arn:aws:lambda:") == 4

    assert again == {"package_version": "0.1.0", "layers": [{**entry, "reused": True} for entry in expected]}
    for region in (REGION, OTHER_REGION):
        lambda_client = boto3.client("lambda", region_name=region)
        assert (
            len(lambda_client.list_layer_versions(LayerName="honeyhive-serverless-py312-x86_64")["LayerVersions"]) == 1
        )
        assert len(layer_statements(lambda_client, "honeyhive-serverless-py312-x86_64", 1)) == 2


def test_publish_public_without_parameters_records_none(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifest(tmp_path, [fake_layer(tmp_path)])

    assert cli(["publish-layer", "--region", REGION, "--dist", str(tmp_path), "--share-public", "--no-parameters"]) == 0

    [entry] = json.loads(capsys.readouterr().out)["layers"]
    assert (entry["parameters"], entry["shared_with"]) == ([], ["public"])
    statements = layer_statements(client, "honeyhive-serverless-py312-x86_64", 1)
    assert statements["honeyhive-serverless-public"]["Principal"] == "*"
    assert organization_of(statements["honeyhive-serverless-public"]) is None
    assert boto3.client("ssm", region_name=REGION).describe_parameters()["Parameters"] == []


def test_publish_checks_every_share_id_before_publishing_anything(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write_manifest(tmp_path, [fake_layer(tmp_path)])
    publish = ["publish-layer", "--region", REGION, "--dist", str(tmp_path)]

    assert cli([*publish, "--share-account", "1234", "--share-organization", "O-UPPERCASE1"]) == 1

    err = capsys.readouterr().err
    assert err.startswith("hh-serverless: error: cannot share with '1234', 'O-UPPERCASE1'") and err.count("\n") == 1
    assert client.list_layers()["Layers"] == []


def test_share_grants_are_deduplicated_sorted_and_keep_their_statement_ids() -> None:
    chosen = grants([ACCOUNT, ACCOUNT], [ORGANIZATION], public=True)

    assert chosen == (Grant("account", ACCOUNT), Grant("organization", ORGANIZATION), Grant("public"))
    assert [grant.statement_id for grant in chosen] == [
        f"honeyhive-serverless-account-{ACCOUNT}",
        f"honeyhive-serverless-organization-{ORGANIZATION}",
        "honeyhive-serverless-public",
    ]
    assert [grant.principal() for grant in chosen] == [
        {"Principal": ACCOUNT},
        {"Principal": "*", "OrganizationId": ORGANIZATION},
        {"Principal": "*"},
    ]
    with pytest.raises(PublishError, match="12 digits"):
        grants(["12345678901a"], [], public=False)


# --------------------------------------------------------------------------------------------
# publish-layer --signing-profile: signed by AWS Signer (its jobs stood in for, see signing_jobs)

SIGNING_PROFILE = "hh_layers"
SIGNING_BUCKET = "hh-artifacts-{region}"


def signing_setup(regions: tuple[str, ...], platform: str = LAMBDA_PLATFORM) -> dict[str, str]:
    """A Lambda signing profile and a versioned bucket in each region; the profile version ARN of each."""
    version_arns = {}
    for region in regions:
        profile = boto3.client("signer", region_name=region).put_signing_profile(
            profileName=SIGNING_PROFILE, platformId=platform
        )
        version_arns[region] = profile["profileVersionArn"]
        bucket_in(region, SIGNING_BUCKET.format(region=region))
    return version_arns


def bucket_in(region: str, bucket: str, versioned: bool = True) -> None:
    s3 = boto3.client("s3", region_name=region)
    location = {} if region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": region}}
    s3.create_bucket(Bucket=bucket, **location)
    if versioned:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})


def code_sha256(data: bytes) -> str:
    """The ``CodeSha256`` Lambda reports for content of these bytes."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def parameter_descriptions(ssm: Any) -> dict[str, str]:
    return {parameter["Name"]: parameter["Description"] for parameter in ssm.describe_parameters()["Parameters"]}


def test_signed_publish_to_two_regions_publishes_what_signer_signed_and_records_it_as_signed(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signing = serve_signing_jobs(monkeypatch)
    regions = (REGION, OTHER_REGION)
    version_arns = signing_setup(regions)
    infos = [fake_layer(tmp_path, "3.12", "x86_64"), fake_layer(tmp_path, "3.13", "arm64")]
    write_manifest(tmp_path, infos)
    publish = ["publish-layer", "--region", REGION, "--region", OTHER_REGION, "--dist", str(tmp_path)]
    signed_publish = [*publish, "--signing-profile", SIGNING_PROFILE, "--signing-bucket", SIGNING_BUCKET]

    assert cli(signed_publish) == 0
    manifest = json.loads(capsys.readouterr().out)

    assert len(signing.jobs) == 4  # one job per zip and region
    jobs = {(job["source"]["s3"]["bucketName"], job["source"]["s3"]["key"]): job for job in signing.jobs.values()}
    entries = {(entry["region"], entry["python"]): entry for entry in manifest["layers"]}
    for region in regions:
        lambda_client, ssm, s3 = (boto3.client(service, region_name=region) for service in ("lambda", "ssm", "s3"))
        bucket = SIGNING_BUCKET.format(region=region)
        for info in infos:
            name = f"honeyhive-serverless-py{info.python.replace('.', '')}-{info.arch}"
            arn = f"arn:aws:lambda:{region}:123456789012:layer:{name}:1"
            # The zip went up as an object version; the job signed that version and wrote the signed copy.
            job = jobs[(bucket, f"honeyhive-serverless/0.1.0/{info.path.name}")]
            assert (job["profileName"], job["status"]) == (SIGNING_PROFILE, "Succeeded")
            source = s3.get_object(
                Bucket=bucket, Key=job["source"]["s3"]["key"], VersionId=job["source"]["s3"]["version"]
            )
            assert source["Body"].read() == info.path.read_bytes()
            signed_key = job["signedObject"]["s3"]["key"]
            assert signed_key == f"honeyhive-serverless/0.1.0/signed/{job['jobId']}{SIGNED_SUFFIX}"
            signed = s3.get_object(Bucket=bucket, Key=signed_key)["Body"].read()
            assert signed != info.path.read_bytes()
            # What Lambda published is the signed copy, described as signed by that profile version.
            published = lambda_client.get_layer_version(LayerName=name, VersionNumber=1)
            assert published["Content"]["CodeSha256"] == code_sha256(signed)
            profile_version = version_arns[region].rsplit("/", 1)[1]
            assert published["Description"] == layer_description(info) + f" signed:{SIGNING_PROFILE}/{profile_version}"
            # Its ARN is in the signed parameters, which say by what; the unsigned ones are not written.
            parameters = [parameter_name(info.python, info.arch, v, signed=True) for v in ("0.1.0", "latest")]
            assert parameters[0] == f"/honeyhive-serverless/layer/signed/python{info.python}/{info.arch}/0.1.0"
            for parameter in parameters:
                assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == arn
                assert parameter_descriptions(ssm)[parameter] == (
                    f"honeyhive-serverless 0.1.0 layer for {info.runtime} {info.arch}, signed by {version_arns[region]}"
                )
            with pytest.raises(ClientError, match="ParameterNotFound"):
                ssm.get_parameter(Name=parameter_name(info.python, info.arch))
            entry = entries[(region, info.python)]
            assert (entry["arn"], entry["reused"], entry["parameters"]) == (arn, False, sorted(parameters))
            assert entry["signed_by"] == {"profile": SIGNING_PROFILE, "profile_version_arn": version_arns[region]}

    # Again: every signed version is found and reused, nothing is signed again.
    assert cli(signed_publish) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["layers"] == [{**entry, "reused": True} for entry in manifest["layers"]]
    assert len(signing.jobs) == 4

    # Unsigned, the same zips are new versions, and the signed parameters keep the signed ones.
    assert cli(publish) == 0
    unsigned = json.loads(capsys.readouterr().out)["layers"]
    assert [(entry["version"], entry["reused"], entry["signed_by"]) for entry in unsigned] == [(2, False, None)] * 4
    ssm = boto3.client("ssm", region_name=REGION)
    assert ssm.get_parameter(Name=parameter_name("3.12", "x86_64", signed=True))["Parameter"]["Value"].endswith(":1")
    assert ssm.get_parameter(Name=parameter_name("3.12", "x86_64"))["Parameter"]["Value"].endswith(":2")
    assert parameter_descriptions(ssm)[parameter_name("3.12", "x86_64")].endswith("python3.12 x86_64, unsigned")


def test_a_new_profile_version_signs_again(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signing = serve_signing_jobs(monkeypatch)
    signing_setup((REGION,))
    write_manifest(tmp_path, [fake_layer(tmp_path)])
    publish = ["publish-layer", "--region", REGION, "--dist", str(tmp_path), "--signing-profile", SIGNING_PROFILE]
    publish += ["--signing-bucket", "hh-artifacts-us-east-1", "--no-parameters"]
    assert cli(publish) == 0
    [first] = json.loads(capsys.readouterr().out)["layers"]

    renewed = boto3.client("signer", region_name=REGION).put_signing_profile(
        profileName=SIGNING_PROFILE, platformId=LAMBDA_PLATFORM
    )
    assert cli(publish) == 0
    [second] = json.loads(capsys.readouterr().out)["layers"]

    assert (second["version"], second["reused"]) == (2, False)
    assert (
        second["signed_by"]["profile_version_arn"]
        == renewed["profileVersionArn"]
        != first["signed_by"]["profile_version_arn"]
    )
    assert len(signing.jobs) == 2


BOTH_REGIONS = (REGION, OTHER_REGION)


@pytest.mark.parametrize(
    ("regions", "options", "error"),
    [
        (
            BOTH_REGIONS,
            ["--signing-profile", "only_here", "--signing-bucket", SIGNING_BUCKET],
            "signing profile only_here does not exist in eu-west-1: create it (aws signer put-signing-profile "
            "--region eu-west-1 --profile-name only_here --platform-id AWSLambda-SHA384-ECDSA) or name another",
        ),
        (
            BOTH_REGIONS,
            ["--signing-profile", "retired", "--signing-bucket", SIGNING_BUCKET],
            "signing profile retired in eu-west-1 is Canceled: it signs nothing now; name an active one",
        ),
        (
            BOTH_REGIONS,
            ["--signing-profile", "firmware", "--signing-bucket", SIGNING_BUCKET],
            "signing profile firmware in us-east-1 is for AmazonFreeRTOS-Default, which Lambda does not accept: "
            "name a profile of platform AWSLambda-SHA384-ECDSA",
        ),
        (
            BOTH_REGIONS,
            ["--signing-profile", SIGNING_PROFILE, "--signing-bucket", "no-such-bucket-{region}"],
            "bucket no-such-bucket-us-east-1 does not exist: create it in us-east-1, with versioning on",
        ),
        (
            BOTH_REGIONS,
            ["--signing-profile", SIGNING_PROFILE, "--signing-bucket", "plain-{region}"],
            "bucket plain-eu-west-1 is not versioned, and Signer signs an object version: aws s3api "
            "put-bucket-versioning --bucket plain-eu-west-1 --versioning-configuration Status=Enabled",
        ),
        (
            (REGION,),
            ["--signing-profile", SIGNING_PROFILE, "--signing-bucket", "hh-artifacts-eu-west-1"],
            "bucket hh-artifacts-eu-west-1 is in eu-west-1: Lambda and Signer take a layer's zip only from a "
            "bucket in its region, us-east-1",
        ),
        (
            BOTH_REGIONS,
            ["--signing-profile", SIGNING_PROFILE, "--signing-bucket", "hh-artifacts"],
            "--signing-bucket hh-artifacts: Lambda and Signer take a zip only from a bucket in the layer's own "
            "region; to publish to several, put {region} in the name (my-artifacts-{region})",
        ),
        (
            (REGION,),
            ["--signing-profile", SIGNING_PROFILE],
            "--signing-profile and --signing-bucket go together: Signer signs a zip in S3",
        ),
        (
            (REGION,),
            ["--signing-profile", "my-profile", "--signing-bucket", SIGNING_BUCKET],
            "signing profile name 'my-profile': 2 to 64 letters, digits or _",
        ),
        (
            (REGION,),
            ["--signing-profile", SIGNING_PROFILE, "--signing-bucket", "My_Artifacts"],
            "--signing-bucket: 'My_Artifacts' is not an S3 bucket name",
        ),
    ],
    ids=[
        "unknown-in-a-region",
        "canceled-in-a-region",
        "not-for-lambda",
        "missing-bucket",
        "unversioned-bucket",
        "bucket-in-another-region",
        "one-bucket-for-two-regions",
        "no-bucket",
        "bad-profile-name",
        "bad-bucket-name",
    ],
)
def test_a_signing_profile_or_bucket_that_cannot_sign_is_one_error_before_anything_is_published(
    client: Any,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    regions: tuple[str, ...],
    options: list[str],
    error: str,
) -> None:
    signing = serve_signing_jobs(monkeypatch)
    signing_setup(BOTH_REGIONS)
    us_signer, eu_signer = (boto3.client("signer", region_name=region) for region in BOTH_REGIONS)
    us_signer.put_signing_profile(profileName="only_here", platformId=LAMBDA_PLATFORM)
    us_signer.put_signing_profile(profileName="retired", platformId=LAMBDA_PLATFORM)
    eu_signer.put_signing_profile(profileName="retired", platformId=LAMBDA_PLATFORM)
    eu_signer.cancel_signing_profile(profileName="retired")
    us_signer.put_signing_profile(profileName="firmware", platformId="AmazonFreeRTOS-Default")
    bucket_in(REGION, "plain-us-east-1")
    bucket_in(OTHER_REGION, "plain-eu-west-1", versioned=False)
    write_manifest(tmp_path, [fake_layer(tmp_path)])
    region_options = [option for region in regions for option in ("--region", region)]

    assert cli(["publish-layer", *region_options, "--dist", str(tmp_path), *options]) == 1

    assert capsys.readouterr().err == f"hh-serverless: error: {error}\n"
    assert signing.jobs == {}
    for region in BOTH_REGIONS:
        assert boto3.client("lambda", region_name=region).list_layers()["Layers"] == []
        assert boto3.client("ssm", region_name=region).describe_parameters()["Parameters"] == []


def test_a_failed_signing_job_is_one_error_naming_it_and_publishes_nothing(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    signing = serve_signing_jobs(monkeypatch)
    signing.failure = "The signing certificate has expired"
    signing_setup((REGION,))
    info = fake_layer(tmp_path)
    write_manifest(tmp_path, [info])
    publish = ["publish-layer", "--region", REGION, "--dist", str(tmp_path), "--signing-profile", SIGNING_PROFILE]

    assert cli([*publish, "--signing-bucket", SIGNING_BUCKET]) == 1

    [job_id] = signing.jobs
    assert capsys.readouterr().err == (
        f"hh-serverless: error: us-east-1: signing job {job_id} of {info.path.name} failed: "
        "The signing certificate has expired\n"
    )
    assert client.list_layers()["Layers"] == []


# --------------------------------------------------------------------------------------------
# instrument and uninstrument many functions

IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"


def create_image_function(client: Any, role: str, name: str, env: dict[str, str]) -> None:
    client.create_function(
        FunctionName=name,
        Role=role,
        PackageType="Image",
        Code={"ImageUri": IMAGE_URI},
        Environment={"Variables": env},
    )


def test_instrument_by_regex_dry_run_then_apply_then_uninstrument_restores_every_function(
    client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    iam = boto3.client("iam", region_name=REGION)
    role = make_role(iam)
    iam.put_role_policy(
        RoleName="hh-test-role", PolicyName="theirs", PolicyDocument=json.dumps(secret_read_policy("*"))
    )
    write_manifest(tmp_path, [fake_layer(tmp_path, "3.12", "x86_64"), fake_layer(tmp_path, "3.13", "arm64")])
    assert cli(["publish-layer", "--region", REGION, "--dist", str(tmp_path)]) == 0
    capsys.readouterr()
    create_function(client, role, "app-one", env={"OTHER": "kept"})
    create_function(client, role, "app-two", runtime="python3.13", arch="arm64")
    create_function(client, role, "app-full", layers=other_layers(client, 5))
    create_image_function(client, role, "app-image", {"APP": "x"})
    create_function(client, role, "my-app-one")  # re.search would match it; the selection is fullmatch
    names = ("app-one", "app-two", "app-full", "app-image", "my-app-one")
    before = {name: settings(client, name) for name in names}
    policies_before = role_policies(iam, role)
    command = ["instrument", "--function-regex", "app-.*", "--project", "p"]
    command += ["--api-key-secret-arn", SECRET_ARN, "--grant-secret-read"]

    assert cli([*command, "--dry-run"]) == 1

    dry = capsys.readouterr()
    assert dry.out.count("dry run: nothing changed") == 2
    assert "hh-serverless: app-full: already has 5 layers" in dry.err
    assert "hh-serverless: app-image: is a container image function" in dry.err
    assert {name: settings(client, name) for name in names} == before
    assert role_policies(iam, role) == policies_before

    assert cli(command) == 1

    applied_err = capsys.readouterr().err.splitlines()
    assert [line.split(":")[1].strip() for line in applied_err] == ["app-full", "app-image"]
    for name, python, arch in (("app-one", "3.12", "x86_64"), ("app-two", "3.13", "arm64")):
        parameter = parameter_name(python, arch)
        layer = boto3.client("ssm", region_name=REGION).get_parameter(Name=parameter)["Parameter"]["Value"]
        assert layer_arns(client, name) == [layer]
        assert client.get_function_configuration(FunctionName=name)["Handler"] == THIS_HANDLER
        assert env_of(client, name)[variables.API_KEY_SECRET_ARN] == SECRET_ARN
    assert env_of(client, "app-one")["OTHER"] == "kept"
    assert role_policies(iam, role) == {
        **policies_before,
        "honeyhive-serverless-app-one": secret_read_policy(),
        "honeyhive-serverless-app-two": secret_read_policy(),
    }
    for untouched in ("app-full", "app-image", "my-app-one"):
        assert settings(client, untouched) == before[untouched]

    assert cli(["instrument", "--function", "app-image", "--no-layer", "--project", "p", "--no-key"]) == 0

    out = capsys.readouterr().out
    assert f"CMD: set it to {THIS_HANDLER}" in out and "@with_honeyhive_session" in out
    image = client.get_function_configuration(FunctionName="app-image")
    assert image["Environment"]["Variables"][variables.PROJECT] == "p"
    assert RECORD_VARIABLE in image["Environment"]["Variables"]
    assert (image["PackageType"], image.get("Layers", [])) == ("Image", [])

    assert cli(["uninstrument", "--function-regex", "app-.*"]) == 0

    assert (
        capsys.readouterr().err == "hh-serverless: app-full: skipped: not instrumented (HH_INSTRUMENTED is not set)\n"
    )
    assert {name: settings(client, name) for name in names} == before
    assert role_policies(iam, role) == policies_before


def test_all_selects_what_each_command_applies_to(
    client: Any, clients: AwsClients, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    for name in ("a", "b"):
        create_function(client, role, name)
    client.create_function(
        FunctionName="node", Runtime="nodejs20.x", Role=role, Handler="i.h", Code={"ZipFile": zip_bytes({"i.js": ""})}
    )
    create_image_function(client, role, "image", {})
    instrument(clients, "a", InstrumentOptions(no_key=True, layer_arn=ours))
    before = {name: settings(client, name) for name in ("node", "image")}

    assert cli(["instrument", "--all", "--layer-arn", ours, "--no-key"]) == 0

    captured = capsys.readouterr()
    assert "instrumented b" in captured.out
    assert "a:\n  up to date: nothing to change" in captured.out  # instrumented already, as asked
    assert captured.err == ""
    assert {name: settings(client, name) for name in ("node", "image")} == before

    assert cli(["uninstrument", "--all"]) == 0

    captured = capsys.readouterr()
    assert (captured.out.count("uninstrumented "), captured.err) == (2, "")
    assert all(RECORD_VARIABLE not in env_of(client, name) for name in ("a", "b"))


def test_a_failed_update_deletes_the_role_policy_it_put(client: Any, clients: AwsClients, role: str) -> None:
    create_function(client, role, "fn")
    options = InstrumentOptions(layer_arn=LAYER, api_key_secret_arn=SECRET_ARN, grant_secret_read=True)
    plan = plan_instrument(client.get_function_configuration(FunctionName="fn"), options)
    client.delete_function(FunctionName="fn")  # the update now fails

    with pytest.raises(ClientError, match="ResourceNotFound"):
        apply_plan(clients, plan)

    assert role_policies(clients.iam, role) == {}


def test_a_role_policy_of_the_same_name_is_not_ours_and_is_refused(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    document = json.dumps(secret_read_policy("arn:aws:secretsmanager:us-east-1:123456789012:secret:theirs"))
    clients.iam.put_role_policy(RoleName="hh-test-role", PolicyName="honeyhive-serverless-fn", PolicyDocument=document)
    before, policies = settings(client, "fn"), role_policies(clients.iam, role)

    with pytest.raises(InstrumentError, match="already has an inline policy honeyhive-serverless-fn"):
        instrument(
            clients, "fn", InstrumentOptions(layer_arn=ours, api_key_secret_arn=SECRET_ARN, grant_secret_read=True)
        )

    assert (settings(client, "fn"), role_policies(clients.iam, role)) == (before, policies)


# --------------------------------------------------------------------------------------------
# Planning the new cases, without AWS

ROLE_ARN = "arn:aws:iam::123456789012:role/service-role/shared-role"


def test_a_layer_arn_named_for_another_python_or_architecture_is_refused() -> None:
    named = "arn:aws:lambda:us-east-1:123456789012:layer:honeyhive-serverless-py313-x86_64:1"
    with pytest.raises(InstrumentError, match=r"named for python3\.13, the function runs python3\.12"):
        plan_instrument(config(), InstrumentOptions(no_key=True, layer_arn=named))
    with pytest.raises(InstrumentError, match="named for x86_64, the function runs on arm64"):
        plan_instrument(
            config(Runtime="python3.13", Architectures=["arm64"]), InstrumentOptions(no_key=True, layer_arn=named)
        )
    assert plan_instrument(config(Runtime="python3.13"), InstrumentOptions(no_key=True, layer_arn=named)).layers == (
        named,
    )


def test_no_layer_on_an_image_sets_variables_only_and_uninstrument_removes_them() -> None:
    image = {"FunctionName": "img", "PackageType": "Image", "Environment": {"Variables": {"APP": "x"}}}
    with pytest.raises(InstrumentError, match=r"container image.*--no-layer"):
        plan_instrument(image, InstrumentOptions(no_key=True, layer_arn=LAYER))

    plan = plan_instrument(image, InstrumentOptions(no_key=True, layer=False, project="p"))

    request = plan.update_request()
    assert "Handler" not in request and "Layers" not in request
    assert {key: value for key, value in plan.variables.items() if key != RECORD_VARIABLE} == {
        "APP": "x",
        "HH_PROJECT": "p",
    }
    assert any(THIS_HANDLER in warning and HANDLER_VARIABLE in warning for warning in plan.warnings)
    undo = plan_uninstrument({**image, "Environment": {"Variables": plan.variables}})
    assert (undo.handler, undo.layers, undo.variables) == (None, None, {"APP": "x"})


def test_no_layer_on_a_zip_redirects_the_handler_and_keeps_the_layers() -> None:
    before = config(Layers=[{"Arn": LAYER}])

    plan = plan_instrument(before, InstrumentOptions(no_key=True, layer=False))

    assert (plan.handler, plan.layers) == (THIS_HANDLER, (LAYER,))
    assert json.loads(plan.variables[RECORD_VARIABLE])["layer"] is None
    undo = plan_uninstrument(applied(before, plan))
    assert (undo.handler, undo.layers, undo.variables) == ("app.handler", (LAYER,), {})


def test_the_secret_grant_is_planned_per_function_recorded_and_undone() -> None:
    before = config(Role=ROLE_ARN)
    options = InstrumentOptions(layer_arn=LAYER, api_key_secret_arn=SECRET_ARN, grant_secret_read=True)

    plan = plan_instrument(before, options, role_policies=["honeyhive-serverless-other-fn"])

    assert plan.put_policy == SecretGrant("shared-role", "honeyhive-serverless-fn", SECRET_ARN)
    assert json.loads(plan.put_policy.document()) == secret_read_policy()
    assert json.loads(plan.variables[RECORD_VARIABLE])["role_policy"] == {
        "role": "shared-role",
        "policy": "honeyhive-serverless-fn",
    }
    undo = plan_uninstrument(applied(before, plan))
    assert undo.delete_policy is not None and undo.put_policy is None
    assert (undo.delete_policy.role_name, undo.delete_policy.policy_name) == ("shared-role", "honeyhive-serverless-fn")
    with pytest.raises(InstrumentError, match="not put by instrument"):
        plan_instrument(before, options, role_policies=["honeyhive-serverless-fn"])


def test_granting_a_secret_the_function_does_not_use_needs_force() -> None:
    theirs = "arn:aws:secretsmanager:us-east-1:123456789012:secret:theirs-XyZ"
    before = config(Role=ROLE_ARN, Environment={"Variables": {variables.API_KEY_SECRET_ARN: theirs}})
    options = InstrumentOptions(layer_arn=LAYER, api_key_secret_arn=SECRET_ARN, grant_secret_read=True)

    with pytest.raises(InstrumentError, match="not the secret --grant-secret-read would grant"):
        plan_instrument(before, options)

    forced = plan_instrument(before, replace(options, force=True))
    assert forced.variables[variables.API_KEY_SECRET_ARN] == SECRET_ARN


def test_options_that_contradict_are_refused_when_made() -> None:
    with pytest.raises(InstrumentError, match="needs --api-key-secret-arn"):
        InstrumentOptions(grant_secret_read=True)
    with pytest.raises(InstrumentError, match="contradict"):
        InstrumentOptions(layer_arn=LAYER, layer=False)
    with pytest.raises(InstrumentError, match="not a layer version ARN"):
        InstrumentOptions(layer_arn="hh-layer")


# --------------------------------------------------------------------------------------------
# What a newcomer gets wrong, said in one line before anything changes


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--api-key-secret-arn", "hh-key", "'hh-key' is not a secret ARN"),
        (
            "--api-key-secret-arn",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:hh-key",
            "is a partial secret ARN",
        ),
        ("--api-key-ssm-parameter", "honeyhive key", "'honeyhive key' is not an SSM parameter name or ARN"),
        ("--api-key-ssm-parameter", "/aws/reserved", "may not begin with aws or ssm"),
        ("--layer-arn", "hh-layer", "'hh-layer' is not a layer version ARN"),
        ("--function", "my function", "'my function' is not a Lambda function name"),
        ("--function", "fn:live", "names a version or alias (live)"),
    ],
)
def test_a_malformed_name_or_arn_is_refused_naming_it_before_any_call(
    client: Any, role: str, capsys: pytest.CaptureFixture[str], option: str, value: str, message: str
) -> None:
    create_function(client, role, "fn")
    before = settings(client, "fn")
    command = ["instrument", "--function", "fn", "--layer-arn", LAYER, "--api-key-ssm-parameter", "/hh/key"]
    replaced = {"--function": 1, "--layer-arn": 3, "--api-key-ssm-parameter": 5}
    if option in replaced:
        command[replaced[option] + 1] = value
    else:
        command[5:7] = [option, value]
    if option == "--api-key-secret-arn":
        command.append("--grant-secret-read")

    assert cli(command) == 1

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("hh-serverless: error: ") and message in line
    assert settings(client, "fn") == before
    assert role_policies(boto3.client("iam", region_name=REGION), role) == {}


def test_a_function_without_a_key_source_is_refused_unless_no_key_says_so(
    client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_function(client, role, "fn")
    create_function(client, role, "has-key", env={"HH_API_KEY_SSM_PARAMETER": "/hh/key"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    assert cli(["instrument", "--function", "fn", "--function", "has-key", "--layer-arn", ours, "--project", "p"]) == 1

    captured = capsys.readouterr()
    assert captured.err.startswith("hh-serverless: fn: has no key (")
    assert "pass --api-key-secret-arn or --api-key-ssm-parameter, or --no-key" in captured.err
    assert settings(client, "fn") == before
    assert "instrumented has-key" in captured.out  # its own key source is enough
    assert cli(["instrument", "--function", "fn", "--layer-arn", ours, "--project", "p", "--no-key"]) == 0
    assert "warning: no key is configured" in capsys.readouterr().out
    assert cli(["instrument", "--function", "fn", "--no-key", "--api-key-ssm-parameter", "/hh/key"]) == 1
    assert "--no-key and a key source contradict each other" in capsys.readouterr().err


def test_without_a_project_instrument_warns_that_spans_are_filed_under_none(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    create_function(client, role, "own", env={"HH_PROJECT": "theirs"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn

    plan = instrument(clients, "fn", InstrumentOptions(no_key=True, layer_arn=ours), dry_run=True)
    own = instrument(clients, "own", InstrumentOptions(no_key=True, layer_arn=ours), dry_run=True)

    assert "no HH_PROJECT: its spans are filed under no project (pass --project)" in plan.warnings
    assert not any("HH_PROJECT" in warning for warning in own.warnings)


def test_kms_is_named_only_for_a_secret_under_a_customer_managed_key(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    """DescribeSecret's KmsKeyId: AWS's own key needs nothing of the role, a customer managed one needs
    kms:Decrypt (named, with the key); a secret that is not there is said too."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    kms_key = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    plain = secrets.create_secret(Name="hh-plain", SecretString="k")["ARN"]
    encrypted = secrets.create_secret(Name="hh-cmk", SecretString="k", KmsKeyId=kms_key)["ARN"]
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn

    def warnings(secret: str) -> str:
        options = InstrumentOptions(layer_arn=ours, project="p", api_key_secret_arn=secret, grant_secret_read=True)
        return "\n".join(instrument(clients, "fn", options, dry_run=True).warnings)

    assert "kms" not in warnings(plain).lower()
    assert f"{encrypted} is encrypted with the customer managed KMS key {kms_key}: " in warnings(encrypted)
    assert "the role also needs kms:Decrypt on it" in warnings(encrypted)
    assert f"{SECRET_ARN} does not exist in the function's region" in warnings(SECRET_ARN)


# --------------------------------------------------------------------------------------------
# Keeping functions instrumented: by tag, again after every deploy, under code signing, per runtime


def calls_of(service: Any) -> list[str]:
    """The operations the boto3 client ``service`` calls from now on, by name."""
    calls: list[str] = []
    service.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
    return calls


def node_function(client: Any, role: str, name: str, tags: dict[str, str]) -> None:
    client.create_function(
        FunctionName=name,
        Runtime="nodejs20.x",
        Role=role,
        Handler="index.handler",
        Code={"ZipFile": zip_bytes({"index.js": ""})},
        Tags=tags,
    )


def test_tag_selects_the_python_functions_carrying_every_tag_and_the_named_ones_too(
    client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    create_function(client, role, "orders-api", tags={"team": "orders", "env": "prod"})
    create_function(client, role, "orders-dev", tags={"team": "orders", "env": "dev"})
    node_function(client, role, "orders-web", {"team": "orders", "env": "prod"})
    create_function(client, role, "named")
    create_function(client, role, "unrelated", tags={"env": "prod"})
    untouched = {name: settings(client, name) for name in ("orders-dev", "orders-web", "unrelated")}
    command = ["instrument", "--tag", "team=orders", "--tag", "env=prod", "--function", "named"]

    assert cli([*command, "--layer-arn", ours, "--no-key", "--project", "p"]) == 0

    captured = capsys.readouterr()
    done = [line for line in captured.out.splitlines() if line.startswith("instrumented ")]
    assert done == ["instrumented named", "instrumented orders-api"]
    assert captured.err == "hh-serverless: orders-web: skipped: not a Python function (nodejs20.x runtime)\n"
    assert layer_arns(client, "orders-api") == layer_arns(client, "named") == [ours]
    assert {name: settings(client, name) for name in untouched} == untouched

    assert cli(["uninstrument", "--tag", "team=orders"]) == 0

    captured = capsys.readouterr()
    assert [line for line in captured.out.splitlines() if line.startswith("uninstrumented ")] == [
        "uninstrumented orders-api"
    ]
    assert captured.err.splitlines() == [
        f"hh-serverless: {name}: skipped: not instrumented ({RECORD_VARIABLE} is not set)"
        for name in ("orders-dev", "orders-web")
    ]
    assert RECORD_VARIABLE in env_of(client, "named")  # not tagged: left instrumented


def test_tags_are_read_a_page_per_hundred_functions_not_a_call_per_function(
    client: Any, clients: AwsClients, role: str
) -> None:
    names = [f"fn-{index:03}" for index in range(101)]
    for name in names:
        create_function(client, role, name, tags={"app": "big"})
    create_function(client, role, "other", tags={"app": "small"})
    lambda_calls, tagging_calls = calls_of(clients.lambda_), calls_of(clients.tagging)

    outcomes = list(uninstrument_functions(clients, Selection(tags=("app=big",))))

    assert [outcome.function_name for outcome in outcomes] == names
    assert all(outcome.skipped for outcome in outcomes)  # none instrumented: nothing else asked of each
    assert tagging_calls == ["GetResources", "GetResources"]
    assert set(lambda_calls) == {"ListFunctions"}  # which of them still exist, and their runtimes


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--tag", "team"], "--tag: 'team' is not KEY=VALUE (e.g. team=ml, or aws:cloudformation:stack-name="),
        (["--tag", "=orders"], "'=orders' is not KEY=VALUE"),
        (["--tag", "team="], "'team=' is not KEY=VALUE"),
        (["--tag", "team=a", "--tag", "team=b"], "'team' is given two values: no function carries both"),
        (["--tag", "team=a;b"], "tags hold letters, digits, spaces and _ . : / = + - @, not ';'"),
        (["--tag", "k" * 129 + "=v"], "a tag key has at most 128 characters, a value 256"),
        (["--tag", "team=a", "--all"], "--function-regex and --all select on their own, without --function or --tag"),
        ([], "no function selected: give --function, --tag, --function-regex or --all"),
    ],
)
def test_a_malformed_tag_or_selection_is_one_clear_error_before_any_call(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, argv: list[str], message: str
) -> None:
    made: list[str] = []
    monkeypatch.setattr(common, "aws_client", lambda service, region: made.append(service))

    assert cli(["instrument", *argv, "--layer-arn", LAYER, "--no-key"]) == 1

    [line] = capsys.readouterr().err.splitlines()
    assert line.startswith("hh-serverless: error: ") and message in line
    assert made == []


def test_instrument_again_after_a_deploy_restores_exactly_what_it_set_and_then_changes_nothing(
    client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A deploy puts back the configuration its template holds (layers, variables, handler): instrument, run
    again as a CI step after it, sets exactly what it set before (the secret grant it put, still on the role,
    kept); run once more, it makes no update and says the function is already instrumented."""
    theirs = other_layers(client, 1)
    env = {"OTHER": "kept", "HH_SOURCE": "theirs"}
    create_function(client, role, "orders-api", layers=theirs, env=env, tags={"app": "orders"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    deployed = settings(client, "orders-api")
    iam = boto3.client("iam", region_name=REGION)
    command = ["instrument", "--tag", "app=orders", "--layer-arn", ours, "--project", "p"]
    command += ["--api-key-secret-arn", SECRET_ARN, "--grant-secret-read"]
    assert cli(command) == 0
    instrumented, policies = settings(client, "orders-api"), role_policies(iam, role)
    assert instrumented["Handler"] == THIS_HANDLER and instrumented != deployed
    capsys.readouterr()
    # What CloudFormation's update of the function sets: its template's handler, layers and variables.
    client.update_function_configuration(
        FunctionName="orders-api", Handler="app.handler", Layers=theirs, Environment={"Variables": env}
    )
    assert settings(client, "orders-api") == deployed
    calls: list[str] = []

    def counted_client(service: str, region: str | None) -> Any:
        made = boto3.client(service, region_name=region)
        made.meta.events.register("before-call", lambda model, **_: calls.append(model.name))
        return made

    monkeypatch.setattr(common, "aws_client", counted_client)

    assert cli(command) == 0

    assert settings(client, "orders-api") == instrumented
    assert role_policies(iam, role) == policies
    assert calls.count("UpdateFunctionConfiguration") == 1 and "PutRolePolicy" not in calls
    out = capsys.readouterr().out
    assert "inline policy honeyhive-serverless-orders-api kept (the same grant)" in out
    assert "\ninstrumented orders-api\n" in out
    calls.clear()

    assert cli(command) == 0

    assert [call for call in calls if not call.startswith(("Get", "List", "Describe"))] == []  # nothing written
    assert settings(client, "orders-api") == instrumented
    out = capsys.readouterr().out
    assert out.startswith("orders-api:\n  up to date: nothing to change\n")
    assert out.endswith("\nalready instrumented orders-api\n")


CODE_SIGNING_ENFORCE = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef0"
CODE_SIGNING_WARN = "arn:aws:lambda:us-east-1:123456789012:code-signing-config:csc-0123456789abcdef1"
OUR_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/honeyhive/AbCdEf1234"
OTHER_PROFILE = "arn:aws:signer:us-east-1:123456789012:/signing-profiles/someone/XyZ9876543"


def answer_code_signing_as_lambda(
    lambda_client: Any, configs: dict[str, tuple[str, list[str]]], signed: dict[str, str]
) -> None:
    """moto answers GetCodeSigningConfig "Not yet implemented" and says nothing of a layer version's
    signature: answer the first as Lambda does for ``configs`` (ARN -> policy, allowed profile versions),
    and give GetLayerVersion's ``Content`` the signing profile version of the ``signed`` layer versions."""
    asked: list[str] = []

    def describe(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        policy, profiles = configs[asked[-1]]
        config = {
            "CodeSigningConfigArn": asked[-1],
            "AllowedPublishers": {"SigningProfileVersionArns": profiles},
            "CodeSigningPolicies": {"UntrustedArtifactOnDeployment": policy},
        }
        return AWSResponse("", 200, {}, None), {"CodeSigningConfig": config}

    def signature(parsed: dict[str, Any], **_: Any) -> None:
        profile = signed.get(parsed.get("LayerVersionArn", ""))
        if profile is not None:
            parsed["Content"]["SigningProfileVersionArn"] = profile

    events = lambda_client.meta.events
    events.register(
        "before-parameter-build.lambda.GetCodeSigningConfig",
        lambda params, **_: asked.append(params["CodeSigningConfigArn"]),
    )
    events.register("before-call.lambda.GetCodeSigningConfig", describe)
    events.register("after-call.lambda.GetLayerVersion", signature)


def signing_warnings(plan: Any) -> list[str]:
    return [warning for warning in plan.warnings if "code-signing" in warning]


def test_code_signing_enforce_refuses_a_layer_no_allowed_publisher_signed_saying_what_to_do_and_warn_warns(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    layers = {}
    for name in ("unsigned", "signed", "foreign"):
        (tmp_path / name).mkdir()
        layers[name] = publish_layer(client, fake_layer(tmp_path / name), f"hh-{name}").arn
    answer_code_signing_as_lambda(
        clients.lambda_,
        {CODE_SIGNING_ENFORCE: ("Enforce", [OUR_PROFILE]), CODE_SIGNING_WARN: ("Warn", [OUR_PROFILE])},
        {layers["signed"]: OUR_PROFILE, layers["foreign"]: OTHER_PROFILE},
    )
    create_function(client, role, "enforced", code_signing_config=CODE_SIGNING_ENFORCE)
    create_function(client, role, "warned", code_signing_config=CODE_SIGNING_WARN)
    create_function(client, role, "plain")
    before = settings(client, "enforced")

    def options(layer: str) -> InstrumentOptions:
        return InstrumentOptions(no_key=True, project="p", layer_arn=layers[layer])

    for layer, said in (("unsigned", "is not signed"), ("foreign", f"is signed by {OTHER_PROFILE}")):
        with pytest.raises(InstrumentError) as refused:
            instrument(clients, "enforced", options(layer))
        assert str(refused.value) == (
            f"its code-signing config {CODE_SIGNING_ENFORCE} (UntrustedArtifactOnDeployment=Enforce) enforces code "
            f"signed by its allowed publishers ({OUR_PROFILE}) and {layers[layer]} {said}, so Lambda would refuse "
            "it: publish the layer signed with one of them (hh-serverless publish-layer --signing-profile) and "
            "instrument with that layer version"
        )
    assert settings(client, "enforced") == before

    assert signing_warnings(instrument(clients, "enforced", options("signed"))) == []
    assert layer_arns(client, "enforced") == [layers["signed"]]
    assert signing_warnings(instrument(clients, "warned", options("unsigned"))) == [
        f"{layers['unsigned']} is not signed, not by an allowed publisher of its code-signing config "
        f"{CODE_SIGNING_WARN} (UntrustedArtifactOnDeployment=Warn) ({OUR_PROFILE}): Lambda attaches it and records "
        "a signature validation warning"
    ]
    assert layer_arns(client, "warned") == [layers["unsigned"]]
    assert signing_warnings(instrument(clients, "plain", options("unsigned"))) == []


def any_python_layer(client: Any) -> str:
    """A layer version that names no compatible runtime: Lambda lets any function have it."""
    arn: str = client.publish_layer_version(LayerName="hh-any", Content={"ZipFile": zip_bytes({"x": "y"})})[
        "LayerVersionArn"
    ]
    return arn


def test_instrument_warns_in_one_line_with_the_dates_of_a_python_lambda_has_deprecated(
    client: Any, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    layer = any_python_layer(client)
    for runtime in ("python3.10", "python3.11", "python3.12", "python3.15"):
        create_function(client, role, runtime.replace(".", "-"), runtime=runtime)

    assert cli(["instrument", "--function-regex", "python.*", "--layer-arn", layer, "--no-key", "--project", "p"]) == 0

    warned = [line for line in capsys.readouterr().out.splitlines() if "deprecated" in line]
    assert warned == [
        f"  warning: python3.{minor} is deprecated by Lambda since 2026-06-30: creating functions on it is blocked "
        "from 2026-07-31, updating them from 2026-08-31; move the function to a supported runtime (python3.12, "
        "python3.13, python3.14)"
        for minor in (10, 11)
    ]


def test_python_3_15_is_served_as_3_14_is_from_its_published_layer_or_refused_clearly(
    client: Any, clients: AwsClients, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "preview", runtime="python3.15")
    before = settings(client, "preview")

    with pytest.raises(InstrumentError, match=r"no layer published for python3\.15 on x86_64.*--layer-arn"):
        instrument(clients, "preview", InstrumentOptions(no_key=True, project="p"))

    assert settings(client, "preview") == before
    layer = publish_layer(client, fake_layer(tmp_path, python="3.15"), "honeyhive-serverless-py315-x86_64").arn
    clients.ssm.put_parameter(Name=parameter_name("3.15", "x86_64"), Value=layer, Type="String")
    instrument(clients, "preview", InstrumentOptions(no_key=True, project="p"))
    assert layer_arns(client, "preview") == [layer]


def test_a_python_3_15_layer_is_built_only_with_its_interpreter_as_3_14(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(layer_build, "buildable", lambda python: False)  # no interpreter of it here

    assert main(["build-layer", "--python", "3.15", "--arch", "arm64", "--out", str(tmp_path / "out")]) == 1

    assert capsys.readouterr().err == f"hh-serverless: error: {layer_build.missing_interpreter('3.15')}\n"
    assert not (tmp_path / "out").exists()


def test_the_runtime_lifecycle_in_the_cli_docs_is_the_table_the_tools_use() -> None:
    lines = (REPO / "docs" / "cli.md").read_text(encoding="utf-8").splitlines()
    start = lines.index(lifecycle_table().splitlines()[0])
    end = next(index for index in range(start, len(lines)) if not lines[index].startswith("|"))
    assert "\n".join(lines[start:end]) == lifecycle_table()
