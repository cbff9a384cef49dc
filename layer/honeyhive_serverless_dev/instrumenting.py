"""Instrument and uninstrument deployed functions through the AWS API: select them, read, plan, apply.

Functions are selected by name, by tag (the Resource Groups Tagging API), by a pattern or all of the
region's. The plans are ``planning``'s, pure; this module reads what they are made from (the function's
configuration, the layer version, the SSM parameter naming the published layer, the role's inline
policies, what the function's other layers and the HoneyHive layer hold, from their zips where
``get_layer_version`` says they are, the function's code-signing config, and the KMS key of the API
key's secret or parameter) and applies them. A plan that changes nothing makes no call (instrument run
again, after a deploy left the function as it was). A plan is applied in one
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
from honeyhive_serverless_dev.aws_names import function_problem, tag_problem
from honeyhive_serverless_dev.layer_signing import CodeSigning
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
    grant_policy_name,
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

    @cached_property
    def tagging(self) -> Client:
        """The Resource Groups Tagging API client: the functions ``--tag`` selects."""
        return self._factory("resourcegroupstaggingapi")


@dataclass(frozen=True)
class Selection:
    """Which functions a command works on: the named ones and those carrying every one of ``tags``
    (``KEY=VALUE``), those whose name matches, or all it applies to."""

    names: tuple[str, ...] = ()
    pattern: re.Pattern[str] | None = None
    everything: bool = False
    tags: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        problems = [problem for problem in map(function_problem, self.names) if problem]
        if problems:
            raise InstrumentError(f"--function: {'; '.join(problems)}")
        problems = [problem for problem in map(tag_problem, self.tags) if problem]
        keys = [tag.split("=", 1)[0] for tag in dict.fromkeys(self.tags)]
        problems += [
            f"{key!r} is given two values: no function carries both" for key in sorted(set(keys)) if keys.count(key) > 1
        ]
        if problems:
            raise InstrumentError(f"--tag: {'; '.join(problems)}")
        alone = self.pattern is not None or self.everything
        if alone and (self.names or self.tags):
            raise InstrumentError("--function-regex and --all select on their own, without --function or --tag")
        if not (alone or self.names or self.tags):
            raise InstrumentError("no function selected: give --function, --tag, --function-regex or --all")

    @property
    def tag_filters(self) -> list[dict[str, Any]]:
        """``GetResources``' ``TagFilters``: a function must match each (one value per key)."""
        pairs = dict(tag.split("=", 1) for tag in self.tags)
        return [{"Key": key, "Values": [value]} for key, value in pairs.items()]

    def describe(self) -> str:
        """The selection as the options that made it, for the error when it selects nothing."""
        if self.pattern is not None:
            return f"--function-regex {self.pattern.pattern!r}"
        if self.everything:
            return "--all"
        return " ".join([*(f"--function {name}" for name in self.names), *(f"--tag {tag}" for tag in self.tags)])


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


class CodeSigningLookup:
    """The code-signing config of each function, from ``GetFunctionCodeSigningConfig`` and then
    ``GetCodeSigningConfig``; each config read once per run (functions share them)."""

    def __init__(self, clients: AwsClients) -> None:
        self._clients = clients
        self._configs: dict[str, CodeSigning] = {}

    def of(self, function_name: str) -> CodeSigning | None:
        """The function's config; None when it has none. Unreadable (no permission): its ``policy`` is None."""
        try:
            answer = self._clients.lambda_.get_function_code_signing_config(FunctionName=function_name)
        except ClientError as exc:
            if error_code(exc) != "AccessDeniedException":
                raise
            return CodeSigning(config_arn=None)
        arn: str | None = answer.get("CodeSigningConfigArn") or None
        if arn is None:
            return None
        if arn not in self._configs:
            try:
                described = self._clients.lambda_.get_code_signing_config(CodeSigningConfigArn=arn)
                self._configs[arn] = CodeSigning.described(described)
            except ClientError as exc:
                if error_code(exc) != "AccessDeniedException":
                    raise
                self._configs[arn] = CodeSigning(config_arn=arn)
        return self._configs[arn]


# --------------------------------------------------------------------------------------------
# one function


def instrument(
    clients: AwsClients,
    function_name: str,
    options: InstrumentOptions,
    *,
    layers: LayerLookup | None = None,
    encryption: KeyEncryptionLookup | None = None,
    signing: CodeSigningLookup | None = None,
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
    code_signing = None
    if options.layer and python is not None:
        lookup = layers or LayerLookup(clients)
        arn = options.layer_arn or lookup.arn(python, function_arch(config))
        options = replace(options, layer_arn=arn)
        layer = lookup.version(arn)
        # The version an earlier instrument attached is replaced, not one of the function's own.
        ours = (arn, instrumented_layer(config))
        attached = [entry["Arn"] for entry in config.get("Layers", [])]
        others = [attached_arn for attached_arn in attached if attached_arn not in ours]
        if others:  # their packages and the layer's can only meet when there are some
            packages = lookup.packages(arn, others, python)
        if arn not in attached:  # Lambda checks the signature of a layer being added, only
            code_signing = (signing or CodeSigningLookup(clients)).of(config["FunctionName"])
    role_policies: list[str] = []
    role_grant = None
    if options.grant_secret_read:
        role = role_name(config["Role"])
        role_policies = _role_policy_names(clients.iam, role)
        ours_named = grant_policy_name(config["FunctionName"])
        if ours_named in role_policies:  # instrument's own, if it grants what it would grant now
            role_grant = clients.iam.get_role_policy(RoleName=role, PolicyName=ours_named)["PolicyDocument"]
    plan = plan_instrument(config, options, layer, role_policies, packages, role_grant=role_grant, signing=code_signing)
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
    signing = CodeSigningLookup(clients)

    def why_not(config: Mapping[str, Any]) -> str | None:
        if is_image(config):
            return "a container image function (instrument takes images with --no-layer)" if options.layer else None
        runtime = str(config.get("Runtime") or "no")
        return None if runtime.startswith("python") else f"not a Python function ({runtime} runtime)"

    def act(name: str) -> Plan:
        return instrument(
            clients, name, options, layers=layers, encryption=encryption, signing=signing, dry_run=dry_run
        )

    return _run(_select(clients, selection, why_not, pattern_skips=False), selection, act)


def uninstrument_functions(clients: AwsClients, selection: Selection, *, dry_run: bool = False) -> Iterator[Outcome]:
    """``uninstrument`` each selected function; ``--all`` and a pattern take only those carrying the record."""

    def why_not(config: Mapping[str, Any]) -> str | None:
        instrumented = RECORD_VARIABLE in function_variables(config)
        return None if instrumented else f"not instrumented ({RECORD_VARIABLE} is not set)"

    def act(name: str) -> Plan:
        return uninstrument(clients, name, dry_run=dry_run)

    return _run(_select(clients, selection, why_not, pattern_skips=True), selection, act)


def _select(
    clients: AwsClients,
    selection: Selection,
    why_not: Callable[[Mapping[str, Any]], str | None],
    *,
    pattern_skips: bool,
) -> list[tuple[str, str | None]]:
    """The selected function names, each with why it is skipped (None: it is to be done).

    ``why_not`` says why the command does not apply to a function (None: it does). Named functions are
    all done (a wrong one is refused with its reason); tagged ones it does not apply to are skipped, a
    pattern's matches too where ``pattern_skips``; ``--all`` takes only those it applies to.
    """
    named = list(dict.fromkeys(selection.names))
    if not selection.tags and selection.pattern is None and not selection.everything:
        return [(name, None) for name in named]
    tagged = _tagged_functions(clients.tagging, selection) if selection.tags else None
    # A name given as an ARN ends in the function's name (a qualifier is refused with the names).
    given = {name.rsplit(":", 1)[-1] for name in named}
    chosen = []
    for page in clients.lambda_.get_paginator("list_functions").paginate():
        for config in page.get("Functions", []):
            name: str = config["FunctionName"]
            reason = why_not(config)
            if tagged is not None:
                if name in tagged and name not in given:
                    chosen.append((name, reason))
            elif selection.pattern is not None:
                if selection.pattern.fullmatch(name) is not None:
                    chosen.append((name, reason if pattern_skips else None))
            elif reason is None:  # --all
                chosen.append((name, None))
    return [(name, None) for name in named] + sorted(chosen)


def _tagged_functions(tagging: Client, selection: Selection) -> set[str]:
    """The names of the functions carrying every tag of the selection, from the Resource Groups Tagging API:
    a page per 100 functions, where ``ListTags`` would take a call per function of the region."""
    pages = tagging.get_paginator("get_resources").paginate(
        ResourceTypeFilters=["lambda:function"], TagFilters=selection.tag_filters, ResourcesPerPage=100
    )
    # arn:aws:lambda:REGION:ACCOUNT:function:NAME
    return {
        mapping["ResourceARN"].split(":function:", 1)[1]
        for page in pages
        for mapping in page.get("ResourceTagMappingList", [])
    }


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
