"""Publish the layer and instrument existing functions with it, through boto3's Lambda API.

Every change to a function is first planned by a pure function of its current configuration (so it
can be tested without AWS and shown by ``--dry-run``), then applied in one
``UpdateFunctionConfiguration`` call carrying the configuration's ``RevisionId``: an edit made by
someone else in between makes the call fail instead of being silently overwritten.

``instrument`` records what it changed in the ``HH_INSTRUMENTED`` variable (compact JSON: the layer
ARN it attached, the variables it added, the previous values of those it replaced with ``--force``).
``uninstrument`` undoes exactly that record, so whatever the user set, before or since, is kept.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeAlias

from botocore.exceptions import ClientError

from honeyhive_serverless import variables
from honeyhive_serverless_dev.layer_build import PYTHON_VERSIONS, LayerInfo, file_sha256
from honeyhive_serverless_dev.published import DEFAULT_LAYER_NAME, PublishedNameError, layer_name

# A boto3 "lambda" client; boto3 ships no type stubs, so its calls are untyped either way.
LambdaClient: TypeAlias = Any

RECORD_VARIABLE = variables.INSTRUMENTED
MAX_LAYERS = 5  # Lambda's limit per function

_LAYER_VERSION_ARN = re.compile(r"(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+):(\d+)")
_PYTHON_RUNTIME = re.compile(r"python(\d+\.\d+)")


class AwsToolError(RuntimeError):
    """A publish or instrument request that cannot be carried out; the message says why and what to do."""


class PublishError(AwsToolError):
    """The layer cannot be published as asked."""


class InstrumentError(AwsToolError):
    """The function cannot be (un)instrumented as asked; it is left unchanged."""


# --------------------------------------------------------------------------------------------
# publish-layer


@dataclass(frozen=True)
class Published:
    """The layer version holding a zip; ``reused`` when an earlier publish of the same bytes was found."""

    arn: str
    reused: bool


def layer_description(info: LayerInfo) -> str:
    """The published description; the zip's sha256 in it is how a later publish recognises the same bytes."""
    return f"honeyhive-serverless {info.package_version} {info.runtime} {info.arch} sha256:{info.sha256}"


def publish_layer(client: LambdaClient, info: LayerInfo, name: str) -> Published:
    """Publish ``info``'s zip as a version of layer ``name``, or return the version already holding it."""
    if file_sha256(info.path) != info.sha256:
        raise PublishError(f"{info.path} changed since layers.json was written: rebuild it (hh-serverless build-layer)")
    marker = f"sha256:{info.sha256}"
    for version in _layer_versions(client, name):
        if marker in version.get("Description", ""):
            return Published(arn=version["LayerVersionArn"], reused=True)
    response = client.publish_layer_version(
        LayerName=name,
        Description=layer_description(info),
        Content={"ZipFile": info.path.read_bytes()},
        CompatibleRuntimes=[info.runtime],
        CompatibleArchitectures=[info.arch],
    )
    return Published(arn=response["LayerVersionArn"], reused=False)


def checked_layer_name(template: str, python: str, arch: str) -> str:
    """:func:`published.layer_name`, its error reported as a :class:`PublishError`."""
    try:
        return layer_name(template, python, arch)
    except PublishedNameError as exc:
        raise PublishError(str(exc)) from exc


def latest_layer_arn(client: LambdaClient, name: str) -> str:
    """The newest version of layer ``name`` in the client's region."""
    versions = list(_layer_versions(client, name))
    if not versions:
        raise InstrumentError(
            f"no version of layer {name} in this region: publish it (hh-serverless publish-layer) or pass --layer-arn"
        )
    newest: str = max(versions, key=lambda version: int(version["Version"]))["LayerVersionArn"]
    return newest


def _layer_versions(client: LambdaClient, name: str) -> Iterator[dict[str, Any]]:
    try:
        for page in client.get_paginator("list_layer_versions").paginate(LayerName=name):
            yield from page.get("LayerVersions", [])
    except ClientError as exc:
        if _error_code(exc) != "ResourceNotFoundException":
            raise


# --------------------------------------------------------------------------------------------
# instrument / uninstrument: pure planning


@dataclass(frozen=True)
class InstrumentOptions:
    """What ``instrument`` sets. ``None`` leaves a variable alone; ``layer_arn=None`` means look it up."""

    layer_arn: str | None = None
    project: str | None = None
    api_key_secret_arn: str | None = None
    source: str | None = None
    export_mode: str | None = None
    force: bool = False  # replace HH_* variables the user already set


@dataclass(frozen=True)
class Plan:
    """The configuration a function gets, and a readable list of what differs from its current one."""

    function_name: str
    revision_id: str | None
    handler: str
    layers: tuple[str, ...]
    variables: dict[str, str]
    changes: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        """The plan as shown by the CLI (and by ``--dry-run`` instead of applying it)."""
        lines = [f"{self.function_name}:"]
        lines += [f"  {change}" for change in self.changes]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)

    def update_request(self) -> dict[str, Any]:
        """The keyword arguments of ``update_function_configuration`` that carry out the plan."""
        request: dict[str, Any] = {
            "FunctionName": self.function_name,
            "Handler": self.handler,
            "Layers": list(self.layers),
            "Environment": {"Variables": dict(self.variables)},
        }
        if self.revision_id is not None:
            request["RevisionId"] = self.revision_id
        return request


def function_python(config: Mapping[str, Any]) -> str:
    """The Python version (``3.12``) of a function a layer can instrument; InstrumentError for any other."""
    name = config["FunctionName"]
    if config.get("PackageType") == "Image":
        raise InstrumentError(
            f"{name} is a container image function: Lambda adds no layers to images. Install honeyhive-serverless "
            f"in the image, set the handler (CMD) to {variables.REDIRECT_HANDLER} "
            f"and {variables.LAMBDA_HANDLER} to the real one"
        )
    runtime = config.get("Runtime") or "an unknown"
    match = _PYTHON_RUNTIME.fullmatch(runtime)
    if match is None:
        raise InstrumentError(f"{name} uses the {runtime} runtime: the HoneyHive layer is for Python functions")
    if match.group(1) not in PYTHON_VERSIONS:
        supported = ", ".join(f"python{version}" for version in PYTHON_VERSIONS)
        raise InstrumentError(f"{name} uses {runtime}: the layer is built for {supported}")
    return match.group(1)


def function_arch(config: Mapping[str, Any]) -> str:
    """The function's Lambda architecture (``x86_64`` when the configuration does not say)."""
    architectures: list[str] = config.get("Architectures") or ["x86_64"]
    return architectures[0]


def plan_instrument(
    config: Mapping[str, Any], options: InstrumentOptions, layer: Mapping[str, Any] | None = None
) -> Plan:
    """Plan adding the layer, the ``HH_*`` variables and the handler redirect to a function.

    ``config`` is ``get_function_configuration``'s answer; ``layer`` is ``get_layer_version``'s for
    ``options.layer_arn`` (None when it could not be read: its compatibility is then not checked).
    """
    name = config["FunctionName"]
    python = function_python(config)
    env = _variables(config)
    if RECORD_VARIABLE in env:
        raise InstrumentError(f"{name} is already instrumented ({RECORD_VARIABLE} is set): run uninstrument first")
    handler: str = config["Handler"]
    if handler == variables.REDIRECT_HANDLER:
        raise InstrumentError(
            f"{name}'s handler is already {variables.REDIRECT_HANDLER}, set up by hand: there is nothing to redirect"
        )
    if options.layer_arn is None:
        raise InstrumentError("no layer ARN to attach")
    layer_arn = options.layer_arn
    warnings: list[str] = []
    if layer is None:
        warnings.append(f"could not read {layer_arn}: its runtimes and architectures are not checked")
    else:
        _check_layer_fits(layer, layer_arn, f"python{python}", function_arch(config))

    layers = [entry["Arn"] for entry in config.get("Layers", [])]
    changes = [f"handler: {handler} -> {variables.REDIRECT_HANDLER}"]
    added_layer: str | None = None
    if layer_arn in layers:
        changes.append(f"layers: {layer_arn} already attached, kept")
    else:
        unversioned = _split_layer_arn(layer_arn)[0]
        for attached in layers:
            if attached.rsplit(":", 1)[0] == unversioned:
                raise InstrumentError(
                    f"{name} already has {attached}, another version of this layer: detach it or pass it as --layer-arn"
                )
        if len(layers) >= MAX_LAYERS:
            raise InstrumentError(
                f"{name} already has {len(layers)} layers, Lambda's maximum: remove one before adding {layer_arn}"
            )
        layers.append(layer_arn)
        added_layer = layer_arn
        changes.append(f"layers: + {layer_arn} ({len(layers)} of {MAX_LAYERS})")

    wanted = {
        variables.LAMBDA_HANDLER: handler,
        variables.PROJECT: options.project,
        variables.API_KEY_SECRET_ARN: options.api_key_secret_arn,
        variables.SOURCE: options.source,
        variables.EXPORT_MODE: options.export_mode,
    }
    added: list[str] = []
    replaced: dict[str, str] = {}
    for key, value in wanted.items():
        current = env.get(key)
        if value is None or current == value:
            continue
        if current is None:
            added.append(key)
            changes.append(f"env: + {key}={value}")
        elif options.force:
            replaced[key] = current
            changes.append(f"env: ~ {key}={value} (was {current})")
        elif key == variables.LAMBDA_HANDLER:
            raise InstrumentError(
                f"{name} has {key}={current} but its handler is {handler}: "
                "the redirect would run the wrong function; pass --force to replace it"
            )
        else:
            warnings.append(f"kept {key}={current} as set before (--force replaces it with {value})")
            continue
        env[key] = value
    # Any of these gives the runtime an API key; without one, instrumenting traces nothing.
    if not any(env.get(key) for key in variables.API_KEY_SOURCES):
        sources = ", ".join(variables.API_KEY_SOURCES)
        warnings.append(f"no API key is configured ({sources}): pass --api-key-secret-arn")
    if options.api_key_secret_arn is not None:
        warnings.append(f"the function's role needs secretsmanager:GetSecretValue on {options.api_key_secret_arn}")

    record = {"layer": added_layer, "added": added, "replaced": replaced}
    env[RECORD_VARIABLE] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    changes.append(f"env: + {RECORD_VARIABLE} (what uninstrument undoes)")
    return Plan(
        function_name=name,
        revision_id=config.get("RevisionId"),
        handler=variables.REDIRECT_HANDLER,
        layers=tuple(layers),
        variables=env,
        changes=tuple(changes),
        warnings=tuple(warnings),
    )


def plan_uninstrument(config: Mapping[str, Any]) -> Plan:
    """Plan undoing what ``instrument`` recorded in ``HH_INSTRUMENTED``, and nothing else."""
    name = config["FunctionName"]
    env = _variables(config)
    raw = env.pop(RECORD_VARIABLE, None)
    if raw is None:
        raise InstrumentError(f"{name} was not instrumented by hh-serverless ({RECORD_VARIABLE} is not set)")
    layer_arn, added, replaced = _parse_record(raw, name)
    changes: list[str] = []
    warnings: list[str] = []

    handler: str = config["Handler"]
    if handler == variables.REDIRECT_HANDLER:
        real = env.get(variables.LAMBDA_HANDLER)
        if not real:
            raise InstrumentError(
                f"{name}: {variables.LAMBDA_HANDLER} is gone, so the real handler is unknown; set it back"
            )
        changes.append(f"handler: {handler} -> {real}")
        handler = real
    else:
        warnings.append(f"the handler was changed to {handler} since instrument: left as is")

    for key in added:
        if env.pop(key, None) is not None:
            changes.append(f"env: - {key}")
    for key, value in replaced.items():
        env[key] = value
        changes.append(f"env: ~ {key}={value} (restored)")

    layers = [entry["Arn"] for entry in config.get("Layers", [])]
    if layer_arn is not None:
        if layer_arn in layers:
            layers.remove(layer_arn)
            changes.append(f"layers: - {layer_arn}")
        else:
            warnings.append(f"{layer_arn} is no longer attached: the layers are left as they are")
    changes.append(f"env: - {RECORD_VARIABLE}")
    return Plan(
        function_name=name,
        revision_id=config.get("RevisionId"),
        handler=handler,
        layers=tuple(layers),
        variables=env,
        changes=tuple(changes),
        warnings=tuple(warnings),
    )


def _variables(config: Mapping[str, Any]) -> dict[str, str]:
    return dict(config.get("Environment", {}).get("Variables", {}))


def _split_layer_arn(arn: str) -> tuple[str, int]:
    match = _LAYER_VERSION_ARN.fullmatch(arn)
    if match is None:
        raise InstrumentError(f"{arn!r} is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)")
    return match.group(1), int(match.group(2))


def _check_layer_fits(layer: Mapping[str, Any], arn: str, runtime: str, arch: str) -> None:
    runtimes = layer.get("CompatibleRuntimes") or []
    if runtimes and runtime not in runtimes:
        raise InstrumentError(f"{arn} is for {', '.join(runtimes)}, the function runs {runtime}")
    architectures = layer.get("CompatibleArchitectures") or []
    if architectures and arch not in architectures:
        raise InstrumentError(f"{arn} is for {', '.join(architectures)}, the function runs on {arch}")


def _parse_record(raw: str, name: str) -> tuple[str | None, list[str], dict[str, str]]:
    try:
        record = json.loads(raw)
        layer_arn, added, replaced = record["layer"], record["added"], record["replaced"]
    except (ValueError, TypeError, KeyError) as exc:
        raise InstrumentError(f"{name}: {RECORD_VARIABLE} is not a record written by instrument: {raw!r}") from exc
    valid = (
        (layer_arn is None or isinstance(layer_arn, str))
        and isinstance(added, list)
        and all(isinstance(key, str) for key in added)
        and isinstance(replaced, dict)
        and all(isinstance(value, str) for value in replaced.values())
    )
    if not valid:
        raise InstrumentError(f"{name}: {RECORD_VARIABLE} is not a record written by instrument: {raw!r}")
    return layer_arn, added, replaced


# --------------------------------------------------------------------------------------------
# instrument / uninstrument: against the API


def instrument(
    client: LambdaClient,
    function_name: str,
    options: InstrumentOptions,
    *,
    layer_name_template: str = DEFAULT_LAYER_NAME,
    dry_run: bool = False,
) -> Plan:
    """Instrument a function; without ``options.layer_arn``, the newest published layer for its runtime.

    Returns the plan, applied unless ``dry_run``.
    """
    config = read_function(client, function_name)
    python = function_python(config)  # before any layer lookup: the clearer error comes first
    layer_arn = options.layer_arn or latest_layer_arn(
        client, checked_layer_name(layer_name_template, python, function_arch(config))
    )
    plan = plan_instrument(config, replace(options, layer_arn=layer_arn), _read_layer(client, layer_arn))
    if not dry_run:
        apply_plan(client, plan)
    return plan


def uninstrument(client: LambdaClient, function_name: str, *, dry_run: bool = False) -> Plan:
    """Undo ``instrument`` on a function; returns the plan, applied unless ``dry_run``."""
    plan = plan_uninstrument(read_function(client, function_name))
    if not dry_run:
        apply_plan(client, plan)
    return plan


def read_function(client: LambdaClient, function_name: str) -> dict[str, Any]:
    """The function's configuration, once any update in progress has finished (Lambda rejects a second one)."""
    try:
        config: dict[str, Any] = client.get_function_configuration(FunctionName=function_name)
        if config.get("LastUpdateStatus") == "InProgress":
            client.get_waiter("function_updated_v2").wait(FunctionName=function_name)
            config = client.get_function_configuration(FunctionName=function_name)
    except ClientError as exc:
        if _error_code(exc) == "ResourceNotFoundException":
            raise InstrumentError(f"function {function_name} not found in this region") from exc
        raise
    return config


def apply_plan(client: LambdaClient, plan: Plan) -> dict[str, Any]:
    """Carry out ``plan``; returns the function's new configuration once Lambda has applied it."""
    try:
        config: dict[str, Any] = client.update_function_configuration(**plan.update_request())
    except ClientError as exc:
        if _error_code(exc) == "PreconditionFailedException":
            raise InstrumentError(f"{plan.function_name} was changed while planning: run the command again") from exc
        raise
    if config.get("LastUpdateStatus") == "InProgress":
        client.get_waiter("function_updated_v2").wait(FunctionName=plan.function_name)
        config = read_function(client, plan.function_name)
    return config


def _read_layer(client: LambdaClient, arn: str) -> dict[str, Any] | None:
    """``get_layer_version`` for ``arn``; None when it is another account's layer we may not read."""
    unversioned, version = _split_layer_arn(arn)
    try:
        layer: dict[str, Any] = client.get_layer_version(LayerName=unversioned, VersionNumber=version)
    except ClientError as exc:
        code = _error_code(exc)
        if code == "ResourceNotFoundException":
            raise InstrumentError(f"layer version {arn} does not exist") from exc
        if code == "AccessDeniedException":
            return None
        raise
    return layer


def _error_code(exc: ClientError) -> str:
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code
