"""Plan instrumenting a function, and undoing it: pure functions of its configuration, no AWS calls.

Every change to a function is planned here from what ``get_function_configuration`` (and, for the
layer, the role and code signing, ``get_layer_version``, ``list_role_policies`` and
``get_code_signing_config``) answered, so it can be tested without AWS and shown by ``--dry-run``;
``instrumenting`` reads those and applies the plan.

``instrument`` records what it changed in the ``HH_INSTRUMENTED`` variable (compact JSON: the layer
ARN it attached, the variables it added, the previous values of those it replaced with ``--force``,
the inline role policy it put). ``uninstrument`` undoes exactly that record, so whatever the user
set, before or since, is kept. ``instrument`` on a function that carries a record plans from the
configuration ``uninstrument`` would restore, the values it set before carried over unless given anew:
an upgrade (a newer layer version, another project) in place, and nothing to do when nothing changed.
A function a deploy has put back as its template has it (no record) is planned as the first time, so
instrument run after every deploy sets exactly what it set before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from honeyhive_serverless import variables
from honeyhive_serverless.vendored import unmet_requirements
from honeyhive_serverless_dev.aws_api import AwsToolError
from honeyhive_serverless_dev.aws_names import parameter_problem, secret_arn_problem
from honeyhive_serverless_dev.layer_build import MAX_LAYERS, PYTHON_VERSIONS
from honeyhive_serverless_dev.layer_signing import CodeSigning, signing_finding
from honeyhive_serverless_dev.published import layer_version_parts, target_hints
from honeyhive_serverless_dev.runtimes import lifecycle_warning

RECORD_VARIABLE = variables.INSTRUMENTED
#: The inline role policy's name is this plus the function's name (at most 64 characters), so it is
#: unique per function on a role several functions share, and within IAM's 128.
ROLE_POLICY_PREFIX = "honeyhive-serverless-"
#: The KMS keys a secret or a SecureString parameter is encrypted with when none is chosen: AWS's own,
#: which need no grant in the role's policy.
AWS_MANAGED_KEYS = frozenset({"alias/aws/secretsmanager", "alias/aws/ssm"})

_PYTHON_RUNTIME = re.compile(r"python(\d+\.\d+)")


class InstrumentError(AwsToolError):
    """The function cannot be (un)instrumented as asked; it is left unchanged."""


@dataclass(frozen=True)
class InstrumentOptions:
    """What ``instrument`` sets. ``None`` leaves a variable alone; ``layer_arn=None`` means look it up.

    ``layer=False`` is ``--no-layer``: the function bundles honeyhive-serverless itself, so it gets the
    variables (and a zip function the redirect) but no layer; only then can an image be instrumented.
    """

    layer_arn: str | None = None
    project: str | None = None
    #: Where the function reads its key (an ingestion key or an API key): a secret, or a parameter.
    api_key_secret_arn: str | None = None
    api_key_ssm_parameter: str | None = None
    source: str | None = None
    export_mode: str | None = None
    #: ``HH_INSTRUMENTORS``, already in its checked form (``instrumentors_variable``).
    instrumentors: str | None = None
    force: bool = False  # replace HH_* variables the user already set
    layer: bool = True
    grant_secret_read: bool = False  # let the execution role read api_key_secret_arn
    #: ``--no-key``: instrument a function that has no key source (it sends nothing until it gets one);
    #: without it, such a function is refused.
    no_key: bool = False

    def __post_init__(self) -> None:
        # Checked once, when the options are made: the same mistake for every function of a run.
        if self.grant_secret_read and self.api_key_secret_arn is None:
            raise InstrumentError("--grant-secret-read needs --api-key-secret-arn: the secret to grant")
        if self.api_key_secret_arn is not None and self.api_key_ssm_parameter is not None:
            raise InstrumentError("--api-key-secret-arn and --api-key-ssm-parameter: give the key's one home")
        if self.no_key and (self.api_key_secret_arn is not None or self.api_key_ssm_parameter is not None):
            raise InstrumentError("--no-key and a key source contradict each other")
        problem = (
            (self.api_key_secret_arn is not None and secret_arn_problem(self.api_key_secret_arn))
            or (self.api_key_ssm_parameter is not None and parameter_problem(self.api_key_ssm_parameter))
            or None
        )
        if problem:
            flag = "--api-key-secret-arn" if self.api_key_secret_arn is not None else "--api-key-ssm-parameter"
            raise InstrumentError(f"{flag}: {problem}")
        if self.layer_arn is not None:
            if not self.layer:
                raise InstrumentError("--layer-arn and --no-layer contradict each other")
            split_layer_arn(self.layer_arn)


@dataclass(frozen=True)
class RolePolicy:
    """An inline policy on a function's execution role, named in the ``HH_INSTRUMENTED`` record."""

    role_name: str
    policy_name: str


@dataclass(frozen=True)
class SecretGrant(RolePolicy):
    """The inline policy ``--grant-secret-read`` puts: ``secretsmanager:GetSecretValue`` on one secret only."""

    secret_arn: str

    def document(self) -> str:
        """The policy JSON."""
        statement = {"Effect": "Allow", "Action": "secretsmanager:GetSecretValue", "Resource": self.secret_arn}
        return json.dumps({"Version": "2012-10-17", "Statement": [statement]}, separators=(",", ":"))


@dataclass(frozen=True)
class KeyEncryption:
    """The KMS key that encrypts the API key's secret or parameter, as ``DescribeSecret`` or
    ``DescribeParameters`` said (None: AWS's own). ``described`` is False when they could not be asked
    (another account's secret, no permission) or it does not ``exist``."""

    kms_key_id: str | None = None
    described: bool = True
    exists: bool = True

    @property
    def customer_managed_key(self) -> str | None:
        """The customer managed KMS key the function's role must be able to decrypt with, if any."""
        return None if not self.kms_key_id or self.kms_key_id in AWS_MANAGED_KEYS else self.kms_key_id


@dataclass(frozen=True)
class LayerPackages:
    """The Python distributions of a function's layers, as far as ``instrument`` could read them.

    ``theirs`` maps each of the function's other layers to its distributions (normalised name ->
    version), None for one that could not be read. ``ours`` is the HoneyHive layer's
    ``distributions.json``: None when it could not be read, or when the layer is an older build that
    has its packages in ``python/`` itself, which ``ours_in_python`` then lists.
    """

    theirs: Mapping[str, Mapping[str, str] | None]
    ours: Mapping[str, Any] | None = None
    ours_in_python: Mapping[str, str] = field(default_factory=dict)


#: The HoneyHive layer's rule for the function's own packages (README: "The function's packages"), said
#: where what a function's layers hold is not known: by instrument for those it could not read, and by
#: the CDK construct, which cannot see into any at synth.
PACKAGES_RULE = (
    "the function keeps every Python package it brings (its own or its layers'); the HoneyHive layer's are used "
    "only where it brings none, and a version the layer's code does not support is named in one warning line "
    "at cold start"
)


@dataclass(frozen=True)
class Plan:
    """The configuration a function gets, and a readable list of what differs from its current one.

    ``handler`` and ``layers`` are None for a container image, whose handler is its CMD and which
    takes no layers: the update leaves both alone. ``put_policy`` is put on the role before the
    update, ``delete_policy`` deleted after it, so the role can read the secret whenever the
    configuration names it. ``notes`` say what the function keeps (its layers' packages).
    """

    function_name: str
    revision_id: str | None
    handler: str | None
    layers: tuple[str, ...] | None
    variables: dict[str, str]
    changes: tuple[str, ...]
    warnings: tuple[str, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())
    put_policy: SecretGrant | None = None
    delete_policy: RolePolicy | None = None

    @property
    def changes_nothing(self) -> bool:
        """Whether the function is as the plan wants it already (instrument run again with the same options)."""
        return not self.changes

    def describe(self) -> str:
        """The plan as shown by the CLI (and by ``--dry-run`` instead of applying it)."""
        lines = [f"{self.function_name}:"]
        lines += [f"  {change}" for change in self.changes] or ["  up to date: nothing to change"]
        lines += [f"  note: {note}" for note in self.notes]
        lines += [f"  warning: {warning}" for warning in self.warnings]
        return "\n".join(lines)

    def update_request(self) -> dict[str, Any]:
        """The keyword arguments of ``update_function_configuration`` that carry out the plan."""
        request: dict[str, Any] = {
            "FunctionName": self.function_name,
            "Environment": {"Variables": dict(self.variables)},
        }
        if self.handler is not None:
            request["Handler"] = self.handler
        if self.layers is not None:
            request["Layers"] = list(self.layers)
        if self.revision_id is not None:
            request["RevisionId"] = self.revision_id
        return request


def is_image(config: Mapping[str, Any]) -> bool:
    """Whether the function is a container image (its code and handler are the image's)."""
    return config.get("PackageType") == "Image"


def function_python(config: Mapping[str, Any], options: InstrumentOptions) -> str | None:
    """The Python version (``3.12``) of a function ``instrument`` can serve; None for an image (``--no-layer``).

    InstrumentError for any other function: the first check of a run, so it gives the clearest reason.
    """
    if is_image(config):
        if options.layer:
            raise InstrumentError(
                "is a container image function: Lambda adds no layers to images. Install honeyhive-serverless "
                "in the image and pass --no-layer"
            )
        return None
    runtime = config.get("Runtime") or "an unknown"
    match = _PYTHON_RUNTIME.fullmatch(runtime)
    if match is None:
        raise InstrumentError(f"uses the {runtime} runtime: the HoneyHive layer is for Python functions")
    if match.group(1) not in PYTHON_VERSIONS:
        supported = ", ".join(f"python{version}" for version in PYTHON_VERSIONS)
        raise InstrumentError(f"uses {runtime}: honeyhive-serverless supports {supported}")
    return match.group(1)


def function_arch(config: Mapping[str, Any]) -> str:
    """The function's Lambda architecture (``x86_64`` when the configuration does not say)."""
    architectures: list[str] = config.get("Architectures") or ["x86_64"]
    return architectures[0]


def grant_policy_name(function_name: str) -> str:
    """The name of the inline policy ``--grant-secret-read`` puts on the role of ``function_name``."""
    return ROLE_POLICY_PREFIX + function_name


def role_name(role_arn: str) -> str:
    """The IAM role name of an execution role ARN (``arn:aws:iam::1:role/service-role/NAME`` gives NAME)."""
    return role_arn.rsplit("/", 1)[-1]


#: The options ``instrument`` turns into variables, by the variable each sets.
_OPTION_VARIABLES = {
    variables.PROJECT: "project",
    variables.API_KEY_SECRET_ARN: "api_key_secret_arn",
    variables.API_KEY_SSM_PARAMETER: "api_key_ssm_parameter",
    variables.SOURCE: "source",
    variables.EXPORT_MODE: "export_mode",
    variables.INSTRUMENTORS: "instrumentors",
}
_KEY_OPTIONS = ("api_key_secret_arn", "api_key_ssm_parameter")


def plan_instrument(
    config: Mapping[str, Any],
    options: InstrumentOptions,
    layer: Mapping[str, Any] | None = None,
    role_policies: Collection[str] = (),
    packages: LayerPackages | None = None,
    *,
    role_grant: Mapping[str, Any] | None = None,
    signing: CodeSigning | None = None,
) -> Plan:
    """Plan adding the layer, the ``HH_*`` variables, the handler redirect and the secret grant to a function,
    or, on one instrumented already, bringing them up to date.

    ``config`` is ``get_function_configuration``'s answer; ``layer`` is ``get_layer_version``'s for
    ``options.layer_arn`` (None when it could not be read: its compatibility is then not checked);
    ``role_policies`` are the names of the inline policies on the function's role (read only for
    ``grant_secret_read``), ``role_grant`` the document of the one named as this function's grant
    (:func:`grant_policy_name`) if there is one; ``packages``, what its layers hold (None: not read,
    nothing said); ``signing``, its code-signing config (None: it has none, or it was not read).
    What encrypts the key's secret or parameter is said by :func:`with_key_encryption`.
    """
    env = function_variables(config)
    if RECORD_VARIABLE not in env:
        return _plan_first(config, options, layer, role_policies, packages, role_grant=role_grant, signing=signing)
    # Instrumented already: plan from what uninstrument would restore, with what instrument set then.
    function_python(config, options)  # the clearest error first, as for a first instrument
    undo = plan_uninstrument(config)
    _, added, replaced, previous_policy = _parse_record(env[RECORD_VARIABLE])
    carried: dict[str, Any] = {
        field: env[key]
        for key, field in _OPTION_VARIABLES.items()
        if (key in added or key in replaced) and key in env and getattr(options, field) is None
    }
    if any(getattr(options, field) is not None for field in _KEY_OPTIONS) or options.no_key:
        carried = {field: value for field, value in carried.items() if field not in _KEY_OPTIONS}
    secret = options.api_key_secret_arn or carried.get("api_key_secret_arn")
    regrant = previous_policy is not None and secret is not None and secret == env.get(variables.API_KEY_SECRET_ARN)
    options = replace(options, **carried, grant_secret_read=options.grant_secret_read or regrant)
    restored: dict[str, Any] = {**config, "Environment": {"Variables": undo.variables}}
    if undo.handler is not None:
        restored["Handler"] = undo.handler
    if undo.layers is not None:
        restored["Layers"] = [{"Arn": arn} for arn in undo.layers]
    ours = () if previous_policy is None else (previous_policy.policy_name,)
    others = [name for name in role_policies if name not in ours]
    # A layer attached already is not added again: Lambda checks no signature of it.
    attached = [entry["Arn"] for entry in config.get("Layers", [])]
    signing = None if options.layer_arn in attached else signing
    plan = _plan_first(restored, options, layer, others, packages, forced=replaced, signing=signing)

    put, delete = plan.put_policy, previous_policy
    if (
        put is not None
        and delete is not None
        and (put.role_name, put.policy_name)
        == (
            delete.role_name,
            delete.policy_name,
        )
    ):
        delete = None  # the same policy: put again only when it grants another secret
        if secret == env.get(variables.API_KEY_SECRET_ARN):
            put = None
    changed = replace(plan, put_policy=put, delete_policy=delete)
    return replace(changed, changes=_differences(config, changed))


def key_store(plan: Plan) -> tuple[str, str] | None:
    """Where the planned function reads its key: ``("secret", ARN)``, ``("parameter", NAME)``, or None."""
    secret = plan.variables.get(variables.API_KEY_SECRET_ARN)
    if secret:
        return "secret", secret
    parameter = plan.variables.get(variables.API_KEY_SSM_PARAMETER)
    return ("parameter", parameter) if parameter else None


def with_key_encryption(plan: Plan, encryption: KeyEncryption) -> Plan:
    """``plan`` with what its role needs of KMS for the key's store (:func:`key_store`): a warning only when
    a customer managed key encrypts it, when what encrypts it could not be found out, or when it is not there."""
    store = key_store(plan)
    if store is None:
        return plan
    kms_key = encryption.customer_managed_key
    if kms_key is not None:
        warning = (
            f"{store[1]} is encrypted with the customer managed KMS key {kms_key}: "
            "the role also needs kms:Decrypt on it"
        )
    elif not encryption.exists:
        warning = f"{store[1]} does not exist in the function's region: nothing reaches HoneyHive until it does"
    elif not encryption.described:
        warning = (
            f"could not describe {store[1]}: if a customer managed KMS key encrypts it, "
            "the role also needs kms:Decrypt on that key"
        )
    else:
        return plan
    return replace(plan, warnings=(*plan.warnings, warning))


def _differences(config: Mapping[str, Any], plan: Plan) -> tuple[str, ...]:
    """What ``plan`` changes in ``config``, line by line (the plan of an upgrade, said against what is there)."""
    changes: list[str] = []
    if plan.handler is not None and plan.handler != config.get("Handler"):
        changes.append(f"handler: {config.get('Handler')} -> {plan.handler}")
    if plan.layers is not None:
        attached = [entry["Arn"] for entry in config.get("Layers", [])]
        changes += [f"layers: - {arn}" for arn in attached if arn not in plan.layers]
        changes += [f"layers: + {arn}" for arn in plan.layers if arn not in attached]
    before = function_variables(config)
    for key in sorted(before.keys() | plan.variables.keys()):
        old, new = before.get(key), plan.variables.get(key)
        if old == new:
            continue
        if key == RECORD_VARIABLE:
            changes.append(f"env: ~ {RECORD_VARIABLE} (what uninstrument undoes)")
        elif new is None:
            changes.append(f"env: - {key}")
        elif old is None:
            changes.append(f"env: + {key}={new}")
        else:
            changes.append(f"env: ~ {key}={new} (was {old})")
    if plan.put_policy is not None:
        grant = plan.put_policy
        changes.append(
            f"role {grant.role_name}: + inline policy {grant.policy_name} "
            f"(secretsmanager:GetSecretValue on {grant.secret_arn})"
        )
    if plan.delete_policy is not None:
        changes.append(f"role {plan.delete_policy.role_name}: - inline policy {plan.delete_policy.policy_name}")
    return tuple(changes)


def _plan_first(
    config: Mapping[str, Any],
    options: InstrumentOptions,
    layer: Mapping[str, Any] | None,
    role_policies: Collection[str],
    packages: LayerPackages | None,
    forced: Collection[str] = (),
    *,
    role_grant: Mapping[str, Any] | None = None,
    signing: CodeSigning | None = None,
) -> Plan:
    """Plan instrumenting a function that carries no record; ``forced`` variables are replaced as with
    ``force`` (instrument replaced them with --force before)."""
    name = config["FunctionName"]
    python = function_python(config, options)
    env = function_variables(config)
    changes: list[str] = []
    warnings: list[str] = []
    notes: list[str] = []
    lifecycle = None if python is None else lifecycle_warning(f"python{python}")
    if lifecycle is not None:
        warnings.append(lifecycle)

    handler: str | None = None
    layers: list[str] | None = None
    added_layer: str | None = None
    if python is None:  # an image, with --no-layer
        warnings.append(
            f"an image's handler is its CMD: set it to {variables.REDIRECT_HANDLER} and {variables.LAMBDA_HANDLER} "
            "to the real handler, or decorate the handler with @with_honeyhive_session"
        )
    else:
        handler = config["Handler"]
        if handler == variables.REDIRECT_HANDLER:
            raise InstrumentError(
                f"the handler is already {variables.REDIRECT_HANDLER}, set up by hand: there is nothing to redirect"
            )
        if env.get(variables.LAMBDA_EXEC_WRAPPER) == variables.WEB_ADAPTER_EXEC_WRAPPER:
            # The handler is the web app's start-up script, run by the Lambda Web Adapter: redirecting it
            # would leave the runtime a Python handler that is not there, and the app never started.
            warnings.append(
                f"runs the Lambda Web Adapter ({variables.LAMBDA_EXEC_WRAPPER}={variables.WEB_ADAPTER_EXEC_WRAPPER}): "
                f"its handler {handler} is the web app's start-up script, left as it is; the layer and the "
                "variables are added, and the app traces its requests with honeyhive_serverless.web's middleware"
            )
            handler = None
        else:
            changes.append(f"handler: {handler} -> {variables.REDIRECT_HANDLER}")
        layers = [entry["Arn"] for entry in config.get("Layers", [])]
        if options.layer:
            arch = function_arch(config)
            added_layer = _plan_layer(layers, changes, warnings, options.layer_arn, layer, python, arch, signing)
            if packages is not None:
                _plan_packages(packages, str(options.layer_arn), notes, warnings)
        else:
            warnings.append("--no-layer: the deployment package must contain honeyhive-serverless")

    wanted = {variables.LAMBDA_HANDLER: handler}
    wanted |= {key: getattr(options, field) for key, field in _OPTION_VARIABLES.items()}
    added: list[str] = []
    replaced: dict[str, str] = {}
    for key, value in wanted.items():
        current = env.get(key)
        if value is None or current == value:
            continue
        if current is None:
            added.append(key)
            changes.append(f"env: + {key}={value}")
        elif options.force or key in forced:
            replaced[key] = current
            changes.append(f"env: ~ {key}={value} (was {current})")
        elif key == variables.LAMBDA_HANDLER:
            raise InstrumentError(
                f"has {key}={current} but its handler is {handler}: "
                "the redirect would run the wrong function; pass --force to replace it"
            )
        elif key == variables.API_KEY_SECRET_ARN and options.grant_secret_read:
            raise InstrumentError(
                f"has {key}={current}, not the secret --grant-secret-read would grant: pass --force to replace it"
            )
        else:
            warnings.append(f"kept {key}={current} as set before (--force replaces it with {value})")
            continue
        env[key] = value
    # Any of these gives the runtime an API key; without one, instrumenting traces nothing.
    if not any(env.get(key) for key in variables.API_KEY_SOURCES):
        sources = ", ".join(variables.API_KEY_SOURCES)
        if not options.no_key:
            raise InstrumentError(
                f"has no key ({sources} unset): pass --api-key-secret-arn or --api-key-ssm-parameter, "
                "or --no-key to instrument it without one"
            )
        warnings.append(f"no key is configured ({sources}): nothing reaches HoneyHive until one is")
    if not env.get(variables.PROJECT):
        warnings.append(f"no {variables.PROJECT}: its spans are filed under no project (pass --project)")

    secret = env.get(variables.API_KEY_SECRET_ARN)
    grant: SecretGrant | None = None
    put_grant = True
    if options.grant_secret_read and options.api_key_secret_arn is not None:
        grant = SecretGrant(role_name(config["Role"]), grant_policy_name(name), options.api_key_secret_arn)
        if grant.policy_name not in role_policies:
            changes.append(
                f"role {grant.role_name}: + inline policy {grant.policy_name} "
                f"(secretsmanager:GetSecretValue on {grant.secret_arn})"
            )
        elif role_grant == json.loads(grant.document()):
            # The very grant an earlier instrument put, its record since wiped with the variables (a deploy
            # put the function's own back): kept, and recorded again.
            put_grant = False
            changes.append(f"role {grant.role_name}: inline policy {grant.policy_name} kept (the same grant)")
        else:
            raise InstrumentError(
                f"role {grant.role_name} already has an inline policy {grant.policy_name}, not put by instrument "
                "for this secret: remove it or leave out --grant-secret-read"
            )
    elif secret:
        warnings.append(
            f"the function's role needs secretsmanager:GetSecretValue on {secret} (--grant-secret-read adds it)"
        )
    elif env.get(variables.API_KEY_SSM_PARAMETER):
        warnings.append(f"the function's role needs ssm:GetParameter on {env[variables.API_KEY_SSM_PARAMETER]}")

    role_policy = None if grant is None else {"role": grant.role_name, "policy": grant.policy_name}
    record = {"layer": added_layer, "added": added, "replaced": replaced, "role_policy": role_policy}
    env[RECORD_VARIABLE] = json.dumps(record, separators=(",", ":"), sort_keys=True)
    changes.append(f"env: + {RECORD_VARIABLE} (what uninstrument undoes)")
    return Plan(
        function_name=name,
        revision_id=config.get("RevisionId"),
        handler=None if handler is None else variables.REDIRECT_HANDLER,
        layers=None if layers is None else tuple(layers),
        variables=env,
        changes=tuple(changes),
        warnings=tuple(warnings),
        notes=tuple(notes),
        put_policy=grant if put_grant else None,
    )


def _plan_layer(
    layers: list[str],
    changes: list[str],
    warnings: list[str],
    layer_arn: str | None,
    layer: Mapping[str, Any] | None,
    python: str,
    arch: str,
    signing: CodeSigning | None,
) -> str | None:
    """Add ``layer_arn`` to ``layers`` unless attached already; returns it if added (for the record)."""
    if layer_arn is None:
        raise InstrumentError("no layer ARN to attach")
    runtime = f"python{python}"
    named_python, named_arch = target_hints(layer_arn)
    if named_python not in (None, python):
        raise InstrumentError(f"{layer_arn} is named for python{named_python}, the function runs {runtime}")
    if named_arch not in (None, arch):
        raise InstrumentError(f"{layer_arn} is named for {named_arch}, the function runs on {arch}")
    if layer is None:
        warnings.append(f"could not read {layer_arn}: its runtimes and architectures are not checked")
    else:
        runtimes = layer.get("CompatibleRuntimes") or []
        if runtimes and runtime not in runtimes:
            raise InstrumentError(f"{layer_arn} is for {', '.join(runtimes)}, the function runs {runtime}")
        architectures = layer.get("CompatibleArchitectures") or []
        if architectures and arch not in architectures:
            raise InstrumentError(f"{layer_arn} is for {', '.join(architectures)}, the function runs on {arch}")

    if layer_arn in layers:
        changes.append(f"layers: {layer_arn} already attached, kept")
        return None
    unversioned = split_layer_arn(layer_arn)[0]
    for attached in layers:
        if attached.rsplit(":", 1)[0] == unversioned:
            raise InstrumentError(
                f"already has {attached}, another version of this layer: detach it or pass it as --layer-arn"
            )
    if len(layers) >= MAX_LAYERS:
        raise InstrumentError(
            f"already has {len(layers)} layers, Lambda's maximum: remove one before adding {layer_arn}"
        )
    finding = None if signing is None else signing_finding(signing, layer_arn, layer)
    if finding is not None and finding.refused:
        raise InstrumentError(finding.message)
    if finding is not None:
        warnings.append(finding.message)
    layers.append(layer_arn)
    changes.append(f"layers: + {layer_arn} ({len(layers)} of {MAX_LAYERS})")
    return layer_arn


def _plan_packages(packages: LayerPackages, layer_arn: str, notes: list[str], warnings: list[str]) -> None:
    """What the function keeps of its other layers' Python packages, and what the HoneyHive layer will
    say of their versions at cold start: honeyhive_serverless.vendored's rule, applied to what was read."""
    readable = {arn: found for arn, found in packages.theirs.items() if found is not None}
    unreadable = [arn for arn, found in packages.theirs.items() if found is None]
    if packages.ours_in_python:
        _older_layer(packages.ours_in_python, readable, bool(unreadable), layer_arn, warnings)
        return
    ours = packages.ours
    shipped: Mapping[str, Mapping[str, Any]] = ours["distributions"] if ours is not None else {}
    brought = {name for found in readable.values() for name in found}
    used = [name for name in shipped if name not in brought]
    for arn, found in readable.items():
        if ours is None:  # which of them the layer has too is not known: name them all
            if found:
                listed = ", ".join(f"{name} {version}" for name, version in sorted(found.items())[:5])
                more = f" and {len(found) - 5} more" if len(found) > 5 else ""
                notes.append(f"{arn} brings {listed}{more}: the function keeps them")
            continue
        kept = {name: version for name, version in sorted(found.items()) if name in shipped}
        if kept:
            listed = ", ".join(
                f"{name} {version} (the layer's: {shipped[name]['version']})" for name, version in kept.items()
            )
            notes.append(
                f"{arn} brings {listed}: the function keeps them; the layer's are used only where it brings none"
            )
        for name, version in kept.items():
            unmet = unmet_requirements(ours, used, name, version)
            if unmet:
                asked = " and ".join(f"{requirer} {at} requires {spec}" for requirer, at, spec in unmet)
                warnings.append(
                    f"{arn}'s {name} {version} is kept, though {asked}: what needs it may fail, and each cold start "
                    "says so in one warning line"
                )
    if unreadable:
        notes.append(f"could not read {', '.join(unreadable)}: {PACKAGES_RULE}")


def _older_layer(
    in_python: Mapping[str, str],
    readable: Mapping[str, Mapping[str, str]],
    unreadable: bool,
    layer_arn: str,
    warnings: list[str],
) -> None:
    """An older HoneyHive layer, with its packages in ``/opt/python``: attached last, its files replace
    those of the same packages in the layers before it."""
    for name, version in sorted(in_python.items()):
        replaced = [f"{arn}'s {found[name]}" for arn, found in readable.items() if name in found]
        if replaced:
            warnings.append(
                f"{layer_arn} is an older HoneyHive layer with {name} {version} in /opt/python: attached last, "
                f"it replaces {', '.join(replaced)}; publish a current one (hh-serverless publish-layer)"
            )
    if unreadable:
        warnings.append(
            f"{layer_arn} is an older HoneyHive layer with its packages in /opt/python, where they replace the "
            "same packages of the layers before it: publish a current one (hh-serverless publish-layer)"
        )


def plan_uninstrument(config: Mapping[str, Any]) -> Plan:
    """Plan undoing what ``instrument`` recorded in ``HH_INSTRUMENTED``, and nothing else."""
    name = config["FunctionName"]
    env = function_variables(config)
    raw = env.pop(RECORD_VARIABLE, None)
    if raw is None:
        raise InstrumentError(f"not instrumented by hh-serverless ({RECORD_VARIABLE} is not set)")
    layer_arn, added, replaced, role_policy = _parse_record(raw)
    changes: list[str] = []
    warnings: list[str] = []

    handler: str | None = None
    layers: list[str] | None = None
    if not is_image(config):
        handler = config["Handler"]
        redirected = variables.LAMBDA_HANDLER in added or variables.LAMBDA_HANDLER in replaced
        if handler == variables.REDIRECT_HANDLER:
            real = env.get(variables.LAMBDA_HANDLER)
            if not real:
                raise InstrumentError(
                    f"{variables.LAMBDA_HANDLER} is gone, so the real handler is unknown; set it back"
                )
            changes.append(f"handler: {handler} -> {real}")
            handler = real
        elif redirected:
            warnings.append(f"the handler was changed to {handler} since instrument: left as is")
        layers = [entry["Arn"] for entry in config.get("Layers", [])]

    for key in added:
        if env.pop(key, None) is not None:
            changes.append(f"env: - {key}")
    for key, value in replaced.items():
        env[key] = value
        changes.append(f"env: ~ {key}={value} (restored)")

    if layer_arn is not None and layers is not None:
        if layer_arn in layers:
            layers.remove(layer_arn)
            changes.append(f"layers: - {layer_arn}")
        else:
            warnings.append(f"{layer_arn} is no longer attached: the layers are left as they are")
    changes.append(f"env: - {RECORD_VARIABLE}")
    if role_policy is not None:
        changes.append(f"role {role_policy.role_name}: - inline policy {role_policy.policy_name}")
    return Plan(
        function_name=name,
        revision_id=config.get("RevisionId"),
        handler=handler,
        layers=None if layers is None else tuple(layers),
        variables=env,
        changes=tuple(changes),
        warnings=tuple(warnings),
        delete_policy=role_policy,
    )


def split_layer_arn(arn: str) -> tuple[str, int]:
    """A layer version ARN's unversioned ARN and version number; InstrumentError if it is not one."""
    parts = layer_version_parts(arn)
    if parts is None:
        raise InstrumentError(f"{arn!r} is not a layer version ARN (arn:aws:lambda:REGION:ACCOUNT:layer:NAME:VERSION)")
    return parts


def instrumented_layer(config: Mapping[str, Any]) -> str | None:
    """The layer version an earlier ``instrument`` attached to the function (None: none, or not instrumented)."""
    raw = function_variables(config).get(RECORD_VARIABLE)
    return None if raw is None else _parse_record(raw)[0]


def function_variables(config: Mapping[str, Any]) -> dict[str, str]:
    """A copy of the function's environment variables (empty when it has none)."""
    return dict(config.get("Environment", {}).get("Variables", {}))


def _parse_record(raw: str) -> tuple[str | None, list[str], dict[str, str], RolePolicy | None]:
    invalid = InstrumentError(f"{RECORD_VARIABLE} is not a record written by instrument: {raw!r}")
    try:
        record = json.loads(raw)
        layer_arn, added, replaced = record["layer"], record["added"], record["replaced"]
        # Absent from the records of instrument before --grant-secret-read.
        role_policy = record.get("role_policy")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise invalid from exc
    valid = (
        (layer_arn is None or isinstance(layer_arn, str))
        and isinstance(added, list)
        and all(isinstance(key, str) for key in added)
        and isinstance(replaced, dict)
        and all(isinstance(value, str) for value in replaced.values())
        and (
            role_policy is None
            or (
                isinstance(role_policy, dict)
                and isinstance(role_policy.get("role"), str)
                and isinstance(role_policy.get("policy"), str)
            )
        )
    )
    if not valid:
        raise invalid
    policy = None if role_policy is None else RolePolicy(role_policy["role"], role_policy["policy"])
    return layer_arn, added, replaced, policy
