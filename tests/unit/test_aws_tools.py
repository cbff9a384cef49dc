"""publish-layer, instrument and uninstrument against moto: in-process, and over HTTP to a moto server on loopback."""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from honeyhive_serverless.variables import LAMBDA_HANDLER as HANDLER_VARIABLE
from honeyhive_serverless.variables import REDIRECT_HANDLER as THIS_HANDLER
from honeyhive_serverless_dev.aws_tools import (
    RECORD_VARIABLE,
    InstrumentError,
    InstrumentOptions,
    instrument,
    layer_description,
    plan_instrument,
    plan_uninstrument,
    publish_layer,
    uninstrument,
)
from honeyhive_serverless_dev.cli.instrument import add_instrument
from honeyhive_serverless_dev.cli.publish_layer import add_publish_layer
from honeyhive_serverless_dev.cli.uninstrument import add_uninstrument
from honeyhive_serverless_dev.layer_build import LayerInfo, layer_info, write_manifest

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
def role(client: Any) -> str:
    return make_role(boto3.client("iam", region_name=REGION))


def make_role(iam: Any) -> str:
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
        ],
    }
    arn: str = iam.create_role(RoleName="hh-test-role", AssumeRolePolicyDocument=json.dumps(policy))["Role"]["Arn"]
    return arn


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
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if env is not None:
        options["Environment"] = {"Variables": env}
    config: dict[str, Any] = client.create_function(
        FunctionName=name,
        Runtime=runtime,
        Role=role,
        Handler="app.handler",
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
    client: Any, role: str, tmp_path: Path
) -> None:
    theirs = other_layers(client, 2)
    create_function(client, role, "fn", layers=theirs, env={"HH_PROJECT": "their-project", "OTHER": "kept"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    plan = instrument(
        client,
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

    uninstrument(client, "fn")

    assert settings(client, "fn") == before


def test_force_replaces_user_variables_and_uninstrument_puts_them_back(client: Any, role: str, tmp_path: Path) -> None:
    create_function(client, role, "fn", env={"HH_PROJECT": "theirs", "HH_SOURCE": "staging"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    instrument(client, "fn", InstrumentOptions(layer_arn=ours, project="ours", source="prod", force=True))

    assert {key: env_of(client, "fn")[key] for key in ("HH_PROJECT", "HH_SOURCE")} == {
        "HH_PROJECT": "ours",
        "HH_SOURCE": "prod",
    }
    uninstrument(client, "fn")
    assert settings(client, "fn") == before


def test_function_without_environment_round_trips(client: Any, role: str, tmp_path: Path) -> None:
    create_function(client, role, "bare")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "bare")

    instrument(client, "bare", InstrumentOptions(layer_arn=ours, project="p"))
    assert env_of(client, "bare")["HH_PROJECT"] == "p"
    uninstrument(client, "bare")

    assert settings(client, "bare") == before


def test_without_layer_arn_the_newest_published_layer_for_the_runtime_is_used(
    client: Any, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn", arch="arm64")
    (tmp_path / "old").mkdir()
    publish_layer(client, fake_layer(tmp_path / "old", arch="arm64"), "honeyhive-serverless-py312-arm64")
    newest = publish_layer(
        client, fake_layer(tmp_path, arch="arm64", marker="Summary: new\n"), "honeyhive-serverless-py312-arm64"
    )

    instrument(client, "fn", InstrumentOptions(project="p"))

    assert layer_arns(client, "fn") == [newest.arn]


def test_a_layer_for_another_architecture_is_refused(client: Any, role: str, tmp_path: Path) -> None:
    create_function(client, role, "fn", arch="arm64")
    x86 = publish_layer(client, fake_layer(tmp_path, arch="x86_64"), "hh-layer").arn
    before = settings(client, "fn")

    with pytest.raises(InstrumentError, match=r"x86_64.*arm64"):
        instrument(client, "fn", InstrumentOptions(layer_arn=x86))

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
    client: Any, role: str, tmp_path: Path, create: dict[str, Any], message: str
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
        instrument(client, "other", InstrumentOptions(layer_arn=ours, project="p"))

    assert settings(client, "other") == before


def test_five_layers_already_is_a_clear_error(client: Any, role: str, tmp_path: Path) -> None:
    create_function(client, role, "full", layers=other_layers(client, 5))
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "full")

    with pytest.raises(InstrumentError, match="already has 5 layers"):
        instrument(client, "full", InstrumentOptions(layer_arn=ours))

    assert settings(client, "full") == before


def test_dry_run_describes_the_change_and_makes_none(client: Any, role: str, tmp_path: Path) -> None:
    create_function(client, role, "fn", env={"OTHER": "x"})
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    before = settings(client, "fn")

    plan = instrument(client, "fn", InstrumentOptions(layer_arn=ours, project="p"), dry_run=True)

    assert settings(client, "fn") == before
    assert f"handler: app.handler -> {THIS_HANDLER}" in plan.describe()
    assert f"layers: + {ours}" in plan.describe()
    instrument(client, "fn", InstrumentOptions(layer_arn=ours, project="p"))
    instrumented = settings(client, "fn")
    assert uninstrument(client, "fn", dry_run=True).handler == "app.handler"
    assert settings(client, "fn") == instrumented


def test_instrumenting_twice_or_uninstrumenting_a_plain_function_is_refused(
    client: Any, role: str, tmp_path: Path
) -> None:
    create_function(client, role, "fn")
    ours = publish_layer(client, fake_layer(tmp_path), "hh-layer").arn
    with pytest.raises(InstrumentError, match="not instrumented"):
        uninstrument(client, "fn")
    instrument(client, "fn", InstrumentOptions(layer_arn=ours))
    with pytest.raises(InstrumentError, match="already instrumented"):
        instrument(client, "fn", InstrumentOptions(layer_arn=ours))
    with pytest.raises(InstrumentError, match="not found"):
        instrument(client, "missing", InstrumentOptions(layer_arn=ours))


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
        plan_instrument(before, InstrumentOptions(layer_arn=LAYER))

    plan = plan_instrument(before, InstrumentOptions(layer_arn=LAYER, force=True))
    assert plan.variables[HANDLER_VARIABLE] == "app.handler"
    undo = plan_uninstrument(applied(before, plan))
    assert (undo.handler, undo.variables, undo.layers) == ("app.handler", {HANDLER_VARIABLE: "other.handler"}, ())


def test_uninstrument_keeps_a_handler_and_layers_changed_since() -> None:
    plan = plan_instrument(config(), InstrumentOptions(layer_arn=LAYER, project="p"))
    changed = {**applied(config(), plan), "Handler": "new.handler", "Layers": []}

    undo = plan_uninstrument(changed)

    assert (undo.handler, undo.layers, undo.variables) == ("new.handler", (), {})
    assert [warning.split()[0] for warning in undo.warnings] == ["the", LAYER]


def test_another_version_of_the_same_layer_is_refused_and_the_same_version_is_not_added_twice() -> None:
    with pytest.raises(InstrumentError, match="another version"):
        plan_instrument(config(Layers=[{"Arn": LAYER[:-1] + "2"}]), InstrumentOptions(layer_arn=LAYER))

    plan = plan_instrument(config(Layers=[{"Arn": LAYER}]), InstrumentOptions(layer_arn=LAYER))
    assert plan.layers == (LAYER,)
    undo = plan_uninstrument(applied(config(Layers=[{"Arn": LAYER}]), plan))
    assert undo.layers == (LAYER,)  # it was the user's: uninstrument leaves it


@pytest.mark.parametrize("record", ["not json", '{"layer": null}', '{"layer": 1, "added": [], "replaced": {}}'])
def test_a_record_not_written_by_instrument_is_refused(record: str) -> None:
    with pytest.raises(InstrumentError, match=RECORD_VARIABLE):
        plan_uninstrument(config(Handler=THIS_HANDLER, Environment={"Variables": {RECORD_VARIABLE: record}}))


def test_old_python_runtimes_and_malformed_layer_arns_are_refused() -> None:
    with pytest.raises(InstrumentError, match=r"python3\.9"):
        plan_instrument(config(Runtime="python3.9"), InstrumentOptions(layer_arn=LAYER))
    with pytest.raises(InstrumentError, match="not a layer version ARN"):
        plan_instrument(config(), InstrumentOptions(layer_arn="hh-layer"))


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


def run_cli_round_trip(lambda_client: Any, role: str, dist: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """publish (twice) -> instrument --dry-run -> instrument -> uninstrument, checked through ``lambda_client``."""
    write_manifest(dist, [fake_layer(dist)])
    create_function(lambda_client, role, "cli-fn", env={"HH_SOURCE": "mine"})
    before = settings(lambda_client, "cli-fn")
    publish = ["publish-layer", "--region", REGION, "--dist", str(dist)]

    assert cli(publish) == 0
    arn = capsys.readouterr().out.strip()
    assert arn.endswith(":layer:honeyhive-serverless-py312-x86_64:1")
    assert cli(publish) == 0
    assert capsys.readouterr().out.strip() == arn

    assert cli(["instrument", "--function", "cli-fn", "--project", "p", "--source", "cli", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"layers: + {arn}" in out and "dry run: nothing changed" in out
    assert settings(lambda_client, "cli-fn") == before

    assert cli(["instrument", "--function", "cli-fn", "--project", "p", "--source", "cli", "--region", REGION]) == 0
    assert "instrumented cli-fn" in capsys.readouterr().out
    assert layer_arns(lambda_client, "cli-fn") == [arn]
    assert env_of(lambda_client, "cli-fn")["HH_SOURCE"] == "mine"

    assert cli(["uninstrument", "--function", "cli-fn"]) == 0
    assert settings(lambda_client, "cli-fn") == before


def test_cli_round_trip_in_process(client: Any, role: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_cli_round_trip(client, role, tmp_path, capsys)


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
    assert capsys.readouterr().err.startswith("hh-serverless: error: node uses the nodejs20.x runtime")
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
        role = make_role(boto3.client("iam", region_name=REGION, endpoint_url=endpoint))

        run_cli_round_trip(lambda_client, role, tmp_path, capsys)
    finally:
        server.stop()
