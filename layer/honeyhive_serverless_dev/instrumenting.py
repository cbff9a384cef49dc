"""Instrument and uninstrument deployed functions through the AWS API: select them, read, plan, apply.

The plans are ``planning``'s, pure; this module reads what they are made from (the function's
configuration, the layer version, the SSM parameter naming the published layer, the role's inline
policies, what the function's other layers and the HoneyHive layer hold, from their zips where
``get_layer_version`` says they are, and the KMS key of the API key's secret or parameter) and applies
them. A plan is applied in one
``UpdateFunctionConfiguration`` call carrying the configuration's ``RevisionId``: an edit made by
someone else in between makes the call fail instead of being silently overwritten. The role policy is
put before that call and deleted again if it fails, and uninstrument deletes it only after its call: the
role can read the secret whenever the configuration names it, and a failure leaves the function as it
was.

A command works through its functions one by one: one refused or failed is reported and the others
are still done.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from honeyhive_serverless.vendored import MANIFEST_NAME, PROJECT_NAME, VENDOR_DIR
from honeyhive_serverless_dev.aws_api import AwsToolError, Client, error_code
from honeyhive_serverless_dev.aws_names import function_problem
from honeyhive_serverless_dev.planning import (
    RECORD_VARIABLE,
    InstrumentError,
    InstrumentOptions,
    KeyEncryption,
    LayerPackages,
    Plan,
    function_arch,
    function_python,
    function_variables,
    instrumented_layer,
    is_image,
    key_store,
    plan_instrument,
    plan_uninstrument,
    role_name,
    split_layer_arn,
    with_key_encryption,
)
from honeyhive_serverless_dev.published import DEFAULT_PARAMETER_PREFIX, LATEST, PublishedNameError, parameter_name
from honeyhive_serverless_dev.zip_contents import layer_distributions, remote_zip

# The failures of one function that leave the others to do: reported, then the run goes on.
FUNCTION_ERRORS = (AwsToolError, BotoCoreError, ClientError)


class AwsClients:
    """The boto3 clients of one region, each made on first use (most runs need only some of them)."""

    def __init__(self, factory: Callable[[str], Client]) -> None:
        self._factory = factory

    @cached_property
    def lambda_(self) -> Client:
        """The Lambda client."""
        return self._factory("lambda")

    @cached_property
    def ssm(self) -> Client:
        """The SSM client: the parameters naming the published layers."""
        return self._factory("ssm")

    @cached_property
    def iam(self) -> Client:
        """The IAM client: the execution roles' inline policies."""
        return self._factory("iam")

    @cached_property
    def secretsmanager(self) -> Client:
        """The Secrets Manager client: the KMS key of the API key's secret."""
        return self._factory("secretsmanager")


@dataclass(frozen=True)
class Selection:
    """Which functions a command works on: the named ones, those whose name matches, or all it applies to."""

    names: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    everything: bool = False

    def __post_init__(self) -> None:
        problems = [problem for problem in map(function_problem, self.names) if problem]
        if problems:
            raise InstrumentError(f"--function: {'; '.join(problems)}")

    def describe(self) -> str:
        """The selection as the options that made it, for the error when it selects nothing."""
        if self.pattern is not None:
            return f"--function-regex {self.pattern.pattern!r}"
        return "--all" if self.everything else "--function"


@dataclass(frozen=True)
class Outcome:
    """What a command did to one function: its plan, or why it did nothing.

    ``problem`` (refused or failed) makes the command's exit code 1; ``skipped`` (a function the
    regex matched that the command does not apply to) does not.
    """

    function_name: str
    plan: Plan | None = None
    problem: str | None = None
    skipped: str | None = None


#: Where the HoneyHive layer's zip describes its own distributions (an older build has none).
_VENDOR_MANIFEST = f"{VENDOR_DIR}/{MANIFEST_NAME}"


class LayerLookup:
    """The published layer for a runtime and architecture, from its SSM parameter, and what layer versions
    hold; each read once per run."""

    def __init__(self, clients: AwsClients, prefix: str = DEFAULT_PARAMETER_PREFIX) -> None:
        self._clients = clients
        self._prefix = prefix
        self._arns: dict[tuple[str, str], str] = {}
        self._versions: dict[str, dict[str, Any] | None] = {}
        self._zips: dict[str, tuple[list[str], dict[str, Any] | None] | None] = {}

    def arn(self, python: str, arch: str) -> str:
        """The layer version ARN the ``latest`` parameter for ``python`` on ``arch`` holds."""
        if (python, arch) not in self._arns:
            try:
                name = parameter_name(python, arch, LATEST, self._prefix)
            except PublishedNameError as exc:
                raise InstrumentError(str(exc)) from exc
            try:
                value: str = self._clients.ssm.get_parameter(Name=name)["Parameter"]["Value"]
            except ClientError as exc:
                if error_code(exc) != "ParameterNotFound":
                    raise
                raise InstrumentError(
                    f"no layer published for python{python} on {arch} in this region ({name} not found): "
                    "run hh-serverless publish-layer, or pass --layer-arn"
                ) from exc
            self._arns[python, arch] = value
        return self._arns[python, arch]

    def version(self, arn: str) -> dict[str, Any] | None:
        """``get_layer_version`` for ``arn``; None when it is another account's layer we may not read."""
        if arn not in self._versions:
            unversioned, number = split_layer_arn(arn)
            try:
                self._versions[arn] = self._clients.lambda_.get_layer_version(
                    LayerName=unversioned, VersionNumber=number
                )
            except ClientError as exc:
                code = error_code(exc)
                if code == "ResourceNotFoundException":
                    raise InstrumentError(f"layer version {arn} does not exist") from exc
                if code != "AccessDeniedException":
                    raise
                self._versions[arn] = None
        return self._versions[arn]

    def packages(self, layer_arn: str, others: Iterable[str], python: str) -> LayerPackages:
        """What the HoneyHive layer ``layer_arn`` and the function's ``others`` layers hold, as far as their
        zips can be read from ``get_layer_version``'s ``Content.Location`` (moto's, ``s3://``, cannot)."""
        theirs = {}
        for arn in others:
            read = self._zip(arn)
            theirs[arn] = None if read is None else layer_distributions(read[0], python)
        ours = self._zip(layer_arn)
        if ours is None or ours[1] is not None:
            return LayerPackages(theirs, None if ours is None else ours[1])
        in_python = layer_distributions(ours[0], python)
        in_python.pop(PROJECT_NAME, None)
        return LayerPackages(theirs, None, in_python)

    def _zip(self, arn: str) -> tuple[list[str], dict[str, Any] | None] | None:
        """The layer version's entry names and its HoneyHive manifest if it has one; None when unreadable."""
        if arn not in self._zips:
            self._zips[arn] = None
            try:
                answer = self.version(arn)
            except InstrumentError:  # deleted since it was attached
                answer = None
            location = str(((answer or {}).get("Content") or {}).get("Location") or "")
            try:
                with remote_zip(location) as archive:
                    names = archive.namelist()
                    manifest = json.loads(archive.read(_VENDOR_MANIFEST)) if _VENDOR_MANIFEST in names else None
                self._zips[arn] = (names, manifest)
            except (OSError, zipfile.BadZipFile, ValueError):
                pass  # said as "could not read" by the plan
        return self._zips[arn]


class KeyEncryptionLookup:
    """What encrypts the secret or SSM parameter holding a function's API key; each asked once per run."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._found: dict[tuple[str, str], KeyEncryption] = {}

    def of(self, kind: str, name: str) -> KeyEncryption:
        """``kind`` is ``secret`` (``DescribeSecret``) or ``parameter`` (``DescribeParameters``)."""
        if (kind, name) not in self._found:
            try:
                if kind == "secret":
                    answer = self._clients.secretsmanager.describe_secret(SecretId=name)
                    found = KeyEncryption(answer.get("KmsKeyId"))
                else:
                    found = self._parameter(name)
            except ClientError as exc:
                missing = error_code(exc) in ("ResourceNotFoundException", "ParameterNotFound")
                found = KeyEncryption(
                    described=False, exists=not missing
                )  # another account's, or no permission to describe it
            self._found[kind, name] = found
        return self._found[kind, name]

    def _parameter(self, name: str) -> KeyEncryption:
        # DescribeParameters filters by name, not ARN: an ARN's name is what follows "parameter".
        plain = name.split(":parameter", 1)[1] if name.startswith("arn:") else name
        if name.startswith("arn:") and plain.count("/") == 1:
            plain = plain[1:]  # a name without a path has its ARN's "/" added
        filters = [{"Key": "Name", "Values": [plain]}]
        found = self._clients.ssm.describe_parameters(ParameterFilters=filters).get("Parameters", [])
        return KeyEncryption(found[0].get("KeyId")) if found else KeyEncryption(described=False, exists=False)


# --------------------------------------------------------------------------------------------
# one function


def instrument(
    clients: AwsClients,
    function_name: str,
    options: InstrumentOptions,
    *,
    layers: LayerLookup | None = None,
    encryption: KeyEncryptionLookup | None = None,
    dry_run: bool = False,
) -> Plan:
    """Instrument a function, or bring one instrumented already up to date; without ``options.layer_arn``,
    with the layer ``layers`` finds for its runtime.

    Returns the plan, applied unless ``dry_run``.
    """
    config = read_function(clients.lambda_, function_name)
    python = function_python(config, options)  # before any lookup: the clearer error comes first
    layer = None
    packages = None
    if options.layer and python is not None:
        lookup = layers or LayerLookup(clients)
        arn = options.layer_arn or lookup.arn(python, function_arch(config))
        options = replace(options, layer_arn=arn)
        layer = lookup.version(arn)
        # The version an earlier instrument attached is replaced, not one of the function's own.
        ours = (arn, instrumented_layer(config))
        others = [entry["Arn"] for entry in config.get("Layers", []) if entry["Arn"] not in ours]
        if others:  # their packages and the layer's can only meet when there are some
            packages = lookup.packages(arn, others, python)
    role_policies: list[str] = []
    if options.grant_secret_read:
        role_policies = _role_policy_names(clients.iam, role_name(config["Role"]))
    plan = plan_instrument(config, options, layer, role_policies, packages)
    store = key_store(plan)
    if store is not None:
        plan = with_key_encryption(plan, (encryption or KeyEncryptionLookup(clients)).of(*store))
    if not dry_run:
        apply_plan(clients, plan)
    return plan


def uninstrument(clients: AwsClients, function_name: str, *, dry_run: bool = False) -> Plan:
    """Undo ``instrument`` on a function; returns the plan, applied unless ``dry_run``."""
    plan = plan_uninstrument(read_function(clients.lambda_, function_name))
    if not dry_run:
        apply_plan(clients, plan)
    return plan


def read_function(client: Client, function_name: str) -> dict[str, Any]:
    """The function's configuration, once any update in progress has finished (Lambda rejects a second one)."""
    try:
        config: dict[str, Any] = client.get_function_configuration(FunctionName=function_name)
        if config.get("LastUpdateStatus") == "InProgress":
            client.get_waiter("function_updated_v2").wait(FunctionName=function_name)
            config = client.get_function_configuration(FunctionName=function_name)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise InstrumentError("not found in this region") from exc
        raise
    return config


def apply_plan(clients: AwsClients, plan: Plan) -> dict[str, Any]:
    """Carry out ``plan``; returns the function's new configuration once Lambda has applied it."""
    if plan.changes_nothing:
        return read_function(clients.lambda_, plan.function_name)
    grant = plan.put_policy
    if grant is not None:
        clients.iam.put_role_policy(
            RoleName=grant.role_name, PolicyName=grant.policy_name, PolicyDocument=grant.document()
        )
    try:
        config: dict[str, Any] = clients.lambda_.update_function_configuration(**plan.update_request())
    except ClientError as exc:
        if grant is not None:
            _delete_role_policy(clients.iam, grant.role_name, grant.policy_name, "the configuration was not changed")
        if error_code(exc) == "PreconditionFailedException":
            raise InstrumentError("changed while planning: run the command again") from exc
        raise
    if config.get("LastUpdateStatus") == "InProgress":
        clients.lambda_.get_waiter("function_updated_v2").wait(FunctionName=plan.function_name)
        config = read_function(clients.lambda_, plan.function_name)
    if plan.delete_policy is not None:
        policy = plan.delete_policy
        _delete_role_policy(clients.iam, policy.role_name, policy.policy_name, "the configuration is restored")
    return config


def _delete_role_policy(iam: Client, role: str, policy: str, state: str) -> None:
    """Delete an inline role policy ours; gone already is fine, any other failure says how to finish by hand."""
    try:
        iam.delete_role_policy(RoleName=role, PolicyName=policy)
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            return
        raise AwsToolError(
            f"{state}, but deleting inline policy {policy} of role {role} failed ({exc}): "
            f"delete it by hand (aws iam delete-role-policy --role-name {role} --policy-name {policy})"
        ) from exc


def _role_policy_names(iam: Client, role: str) -> list[str]:
    try:
        return [
            name
            for page in iam.get_paginator("list_role_policies").paginate(RoleName=role)
            for name in page.get("PolicyNames", [])
        ]
    except ClientError as exc:
        if error_code(exc) == "NoSuchEntity":
            raise InstrumentError(f"its execution role {role} does not exist") from exc
        raise


# --------------------------------------------------------------------------------------------
# many functions


def instrument_functions(
    clients: AwsClients,
    selection: Selection,
    options: InstrumentOptions,
    *,
    parameter_prefix: str = DEFAULT_PARAMETER_PREFIX,
    dry_run: bool = False,
) -> Iterator[Outcome]:
    """``instrument`` each selected function (one instrumented already is brought up to date); ``--all``
    selects the Python zip functions (and images with ``--no-layer``)."""
    layers = LayerLookup(clients, parameter_prefix)
    encryption = KeyEncryptionLookup(clients)

    def eligible(config: Mapping[str, Any]) -> bool:
        if is_image(config):
            return not options.layer
        return str(config.get("Runtime", "")).startswith("python")

    def act(name: str) -> Plan:
        return instrument(clients, name, options, layers=layers, encryption=encryption, dry_run=dry_run)

    return _run(_select(clients.lambda_, selection, eligible, lambda config: None), selection, act)


def uninstrument_functions(clients: AwsClients, selection: Selection, *, dry_run: bool = False) -> Iterator[Outcome]:
    """``uninstrument`` each selected function; ``--all`` and a pattern take only those carrying the record."""

    def instrumented(config: Mapping[str, Any]) -> bool:
        return RECORD_VARIABLE in function_variables(config)

    def skip(config: Mapping[str, Any]) -> str | None:
        return None if instrumented(config) else f"not instrumented ({RECORD_VARIABLE} is not set)"

    def act(name: str) -> Plan:
        return uninstrument(clients, name, dry_run=dry_run)

    return _run(_select(clients.lambda_, selection, instrumented, skip), selection, act)


def _select(
    client: Client,
    selection: Selection,
    eligible: Callable[[Mapping[str, Any]], bool],
    skip: Callable[[Mapping[str, Any]], str | None],
) -> list[tuple[str, str | None]]:
    """The selected function names, each with why it is skipped (None: it is to be done).

    Named functions are all done (a wrong one is refused with its reason); a pattern's matches are
    skipped when the command does not apply to them; ``--all`` takes only those ``eligible``.
    """
    if selection.names:
        return [(name, None) for name in dict.fromkeys(selection.names)]
    chosen = []
    for page in client.get_paginator("list_functions").paginate():
        for config in page.get("Functions", []):
            name: str = config["FunctionName"]
            if selection.pattern is not None and selection.pattern.fullmatch(name) is None:
                continue
            if selection.everything and not eligible(config):
                continue
            chosen.append((name, skip(config)))
    return sorted(chosen)


def _run(
    targets: Iterable[tuple[str, str | None]], selection: Selection, act: Callable[[str], Plan]
) -> Iterator[Outcome]:
    targets = list(targets)
    if not targets:
        raise InstrumentError(f"no function in this region matches {selection.describe()}")

    def outcomes() -> Iterator[Outcome]:
        for name, skipped in targets:
            if skipped is not None:
                yield Outcome(name, skipped=skipped)
                continue
            try:
                yield Outcome(name, plan=act(name))
            except FUNCTION_ERRORS as exc:
                yield Outcome(name, problem=str(exc))

    return outcomes()
