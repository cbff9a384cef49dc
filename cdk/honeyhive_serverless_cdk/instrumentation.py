"""``HoneyHiveInstrumentation``: trace Python Lambda functions with HoneyHive, added one by one or as an Aspect.

Per function: the honeyhive-serverless layer for its runtime and architecture (one layer version per
combination, shared), the ``HH_*`` variables (a value the function already has is kept), read access to
the API key's secret or parameter for that function's role on that one ARN, and its handler wrapped
with no code change. A function that cannot be instrumented fails synthesis with an error annotation.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Annotations, Aspects, IAspect, RemoveTag, Stack, Tag, Token
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import Construct, IConstruct

from honeyhive_serverless import variables
from honeyhive_serverless.config import EXPORT_MODES, checked_server_url
from honeyhive_serverless_dev.layer_build import PYTHON_VERSIONS, WRAPPER_NAME

from .layer import HoneyHiveLayer, layer_python_version

#: ``Tags.of(function).add(*OPT_OUT_TAG)`` keeps the Aspect away from a function (or from every
#: function under a construct).
OPT_OUT_TAG = ("honeyhive:instrument", "false")
MAX_LAYERS = 5  # Lambda's limit per function
EXEC_WRAPPER_PATH = f"/opt/{WRAPPER_NAME}"
# Variables the construct derives from its props; ``env`` may not set them, so each has one source.
MANAGED_VARIABLES = frozenset(
    {
        variables.API_KEY,
        variables.API_KEY_SECRET_ARN,
        variables.API_KEY_SSM_PARAMETER,
        variables.PROJECT,
        variables.SOURCE,
        variables.API_URL,
        variables.EXPORT_MODE,
        variables.CAPTURE_EVENT,
        variables.CAPTURE_RESPONSE,
        variables.LAMBDA_HANDLER,
    }
)
_VARIABLE_NAME = re.compile(r"HH_[A-Z0-9_]+")
_FUNCTION_RESOURCE_TYPE = "AWS::Lambda::Function"


class HandlerWrapping(enum.Enum):
    """How each invocation gets wrapped in a HoneyHive session."""

    #: The handler becomes ``honeyhive_serverless.handler.handler``; the original goes in ``HH_LAMBDA_HANDLER``.
    REDIRECT = "redirect"
    #: The handler stays; ``AWS_LAMBDA_EXEC_WRAPPER=/opt/honeyhive-wrapper`` redirects it when the runtime starts.
    EXEC_WRAPPER = "exec-wrapper"
    #: The handler is already decorated with ``@with_honeyhive_session``: layer, variables and access only.
    #: (Wrapping it again would open a second session per invocation.)
    NONE = "none"


@jsii.implements(IAspect)
class HoneyHiveInstrumentation(Construct):
    """Instrument Python Lambda functions with HoneyHive tracing.

    Example::

        secret = secretsmanager.Secret.from_secret_name_v2(stack, "HoneyHiveKey", "honeyhive/api-key")
        instrumentation = HoneyHiveInstrumentation(stack, "HoneyHive", project="my-project", api_key_secret=secret)
        Aspects.of(stack).add(instrumentation)  # every Python function in the stack
        instrumentation.add_functions(decorated, handler_wrapping=HandlerWrapping.NONE)  # or one by one

    Exactly one key source: ``api_key_secret`` (Secrets Manager; plain text or JSON ``{"api_key": ...}``),
    ``api_key_parameter`` (an SSM SecureString) or ``api_key`` (plain text in the function's
    configuration: discouraged, warned about). ``source``, ``server_url``, ``export_mode``
    (``immediate``, ``invocation``, ``after_response``, ``batch``) and ``capture_payloads`` become
    ``HH_SOURCE``, ``HH_API_URL``, ``HH_EXPORT_MODE`` and ``HH_CAPTURE_EVENT``/``HH_CAPTURE_RESPONSE``;
    ``env`` adds other ``HH_*`` settings. As an Aspect it skips functions for which ``exclude`` returns
    True or tagged with :data:`OPT_OUT_TAG`, and non-Python ones (with an info annotation).
    Invalid props raise ``ValueError`` at once; a function that cannot be instrumented gets an error
    annotation, which fails ``cdk synth``.
    """

    def __init__(
        self,
        scope: Construct,
        id: str,
        *,
        project: str | None = None,
        api_key_secret: secretsmanager.ISecret | None = None,
        api_key_parameter: ssm.IStringParameter | None = None,
        api_key: str | None = None,
        source: str = "lambda",
        server_url: str | None = None,
        export_mode: str | None = None,
        handler_wrapping: HandlerWrapping = HandlerWrapping.REDIRECT,
        capture_payloads: bool = True,
        env: Mapping[str, str] | None = None,
        exclude: Callable[[lambda_.Function], bool] | None = None,
        dist_dir: Path | None = None,
    ) -> None:
        settings = _settings(
            project=project,
            api_key_secret=api_key_secret,
            api_key_parameter=api_key_parameter,
            api_key=api_key,
            source=source,
            server_url=server_url,
            export_mode=export_mode,
            capture_payloads=capture_payloads,
            env=env or {},
        )
        super().__init__(scope, id)
        if api_key is not None:
            Annotations.of(self).add_warning_v2(
                "honeyhive:plaintextApiKey",
                "api_key puts the HoneyHive API key in plain text in the template and the functions' "
                "configuration; pass api_key_secret or api_key_parameter instead",
            )
        self.variables: Mapping[str, str] = settings
        self.api_key_secret = api_key_secret
        self.api_key_parameter = api_key_parameter
        self.handler_wrapping = handler_wrapping
        self.exclude = exclude
        self.dist_dir = dist_dir
        self._layers: dict[tuple[str, str], HoneyHiveLayer] = {}
        self._seen: set[str] = set()

    def add_functions(self, *functions: lambda_.Function, handler_wrapping: HandlerWrapping | None = None) -> None:
        """Instrument these functions; ``handler_wrapping`` overrides the construct's for them.

        Unlike the Aspect, this never skips: a function that cannot be instrumented is a synthesis error.
        """
        for function in functions:
            if not isinstance(function, lambda_.Function):
                raise TypeError(
                    f"add_functions() takes aws_lambda.Function objects, not {type(function).__name__}: "
                    "an imported function's configuration cannot be changed"
                )
            self._instrument(function, handler_wrapping or self.handler_wrapping, explicit=True)

    def visit(self, node: IConstruct) -> None:
        """The Aspect: instrument each Python function in the scope, except the excluded and opted-out ones."""
        if not isinstance(node, lambda_.Function) or node.node.addr in self._seen:
            return
        if _tag_value(node, OPT_OUT_TAG[0]) == OPT_OUT_TAG[1]:
            self._skip(node, f"tagged {OPT_OUT_TAG[0]}={OPT_OUT_TAG[1]}")
        elif self.exclude is not None and self.exclude(node):
            self._skip(node, "excluded by the exclude predicate")
        else:
            self._instrument(node, self.handler_wrapping, explicit=False)

    def _instrument(self, function: lambda_.Function, wrapping: HandlerWrapping, *, explicit: bool) -> None:
        if function.node.addr in self._seen:
            return
        self._seen.add(function.node.addr)
        runtime = function.runtime
        if runtime.family != lambda_.RuntimeFamily.PYTHON:
            what = "a container image function" if runtime.name == lambda_.Runtime.FROM_IMAGE.name else runtime.name
            if explicit:
                self._error(function, f"{what} is not a Python function: the HoneyHive layer only serves Python")
            else:
                self._skip(function, f"{what} is not Python")
            return
        python = layer_python_version(runtime)
        function_stack = Stack.of(function)
        cfn = function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        # Rendered as CloudFormation will see them: whatever the user set, however they set it.
        properties = function_stack.resolve(cfn._cfn_properties)
        current = dict((properties.get("environment") or {}).get("variables") or {})
        layer_count = len(properties.get("layers") or [])
        problems = []
        if python is None:
            supported = ", ".join("python" + version for version in PYTHON_VERSIONS)
            problems.append(f"runtime {runtime.name} has no HoneyHive layer (supported: {supported})")
        if function_stack.node.path != Stack.of(self).node.path:
            problems.append(
                f"it is in stack {function_stack.node.path}, the instrumentation in {Stack.of(self).node.path}: "
                "add a HoneyHiveInstrumentation to that stack"
            )
        if layer_count >= MAX_LAYERS:
            problems.append(f"it already has {layer_count} layers, Lambda's maximum is {MAX_LAYERS}")
        own_wrapper = current.get(variables.LAMBDA_EXEC_WRAPPER, EXEC_WRAPPER_PATH)
        if wrapping is HandlerWrapping.EXEC_WRAPPER and own_wrapper != EXEC_WRAPPER_PATH:
            problems.append(f"it already has its own exec wrapper {variables.LAMBDA_EXEC_WRAPPER}={own_wrapper}")
        if cfn.handler == variables.REDIRECT_HANDLER and variables.LAMBDA_HANDLER not in current:
            problems.append(
                f"its handler is already {variables.REDIRECT_HANDLER} but {variables.LAMBDA_HANDLER} is not set"
            )
        if problems:
            for problem in problems:
                self._error(function, f"cannot instrument: {problem}")
            return

        function.add_layers(self.layer_for(runtime, function.architecture))
        wanted = dict(self.variables)
        if wrapping is HandlerWrapping.REDIRECT and cfn.handler not in (None, variables.REDIRECT_HANDLER):
            wanted[variables.LAMBDA_HANDLER] = str(cfn.handler)
            cfn.handler = variables.REDIRECT_HANDLER
        elif wrapping is HandlerWrapping.EXEC_WRAPPER:
            wanted[variables.LAMBDA_EXEC_WRAPPER] = EXEC_WRAPPER_PATH
        for name, value in wanted.items():
            if name not in current:
                function.add_environment(name, value)
        kept = sorted(name for name, value in wanted.items() if name in current and current[name] != value)
        if kept:
            own = ", ".join(kept)
            Annotations.of(function).add_info(f"HoneyHive ({self.node.path}): kept the function's own {own}")
        if self.api_key_secret is not None:
            self.api_key_secret.grant_read(function)
        if self.api_key_parameter is not None:
            self.api_key_parameter.grant_read(function)

    def layer_for(self, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> HoneyHiveLayer:
        """The layer version this instrumentation attaches to functions of ``runtime`` on ``architecture``.

        Created on first use and shared after that; ValueError when there is no layer for the runtime.
        """
        key = (runtime.name, architecture.name)
        if key not in self._layers:
            self._layers[key] = HoneyHiveLayer(
                self,
                f"Layer-{runtime.name}-{architecture.name}",
                runtime=runtime,
                architecture=architecture,
                dist_dir=self.dist_dir,
            )
        return self._layers[key]

    def _error(self, function: lambda_.Function, message: str) -> None:
        Annotations.of(function).add_error(f"HoneyHive ({self.node.path}): {message}")

    def _skip(self, function: lambda_.Function, reason: str) -> None:
        self._seen.add(function.node.addr)
        Annotations.of(function).add_info(f"HoneyHive ({self.node.path}): not instrumented, {reason}")


def _settings(
    *,
    project: str | None,
    api_key_secret: secretsmanager.ISecret | None,
    api_key_parameter: ssm.IStringParameter | None,
    api_key: str | None,
    source: str,
    server_url: str | None,
    export_mode: str | None,
    capture_payloads: bool,
    env: Mapping[str, str],
) -> dict[str, str]:
    """The ``HH_*`` variables every instrumented function gets, from validated props."""
    key_sources = [
        name
        for name, value in (
            ("api_key_secret", api_key_secret),
            ("api_key_parameter", api_key_parameter),
            ("api_key", api_key),
        )
        if value is not None
    ]
    if not key_sources:
        raise ValueError(
            "HoneyHiveInstrumentation needs an API key source: api_key_secret (recommended), "
            "api_key_parameter or api_key"
        )
    if len(key_sources) > 1:
        raise ValueError(f"HoneyHiveInstrumentation takes one API key source, got {' and '.join(key_sources)}")
    if api_key is not None and not api_key.strip():
        raise ValueError("HoneyHiveInstrumentation: api_key is empty")
    url_is_literal = server_url is not None and not Token.is_unresolved(server_url)
    if url_is_literal and checked_server_url(str(server_url)) is None:
        raise ValueError(f"HoneyHiveInstrumentation: server_url must be an http:// or https:// URL, not {server_url!r}")
    if export_mode is not None and export_mode not in EXPORT_MODES:
        raise ValueError(f"HoneyHiveInstrumentation: export_mode must be one of {', '.join(EXPORT_MODES)}")
    for name in env:
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"HoneyHiveInstrumentation: env takes HoneyHive settings (HH_*), not {name!r}")
        if name in MANAGED_VARIABLES:
            raise ValueError(f"HoneyHiveInstrumentation: set {name} through its prop, not env")

    settings: dict[str, Any] = {
        variables.API_KEY_SECRET_ARN: api_key_secret.secret_arn if api_key_secret else None,
        variables.API_KEY_SSM_PARAMETER: api_key_parameter.parameter_name if api_key_parameter else None,
        variables.API_KEY: api_key,
        variables.PROJECT: project,
        variables.SOURCE: source,
        variables.API_URL: server_url.rstrip("/") if server_url else None,
        variables.EXPORT_MODE: export_mode,
        variables.CAPTURE_EVENT: _flag(capture_payloads),
        variables.CAPTURE_RESPONSE: _flag(capture_payloads),
        **env,
    }
    return {name: value for name, value in settings.items() if value is not None}


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _tag_value(function: lambda_.Function, key: str) -> str | None:
    """The value ``Tags.of(...)`` gives ``key`` on the function, read before the tags are applied.

    Tags are applied by Aspects of their own, which reach the function's resource only after this Aspect
    has visited the function; so the Tag and RemoveTag aspects of the function's scopes are read here
    (outermost first, so the closest scope wins, as when they are applied), after tags set directly.
    """
    cfn = function.node.default_child
    assert isinstance(cfn, lambda_.CfnFunction)
    value: str | None = cfn.tags.tag_values().get(key)
    for scope in [*function.node.scopes, cfn]:
        for aspect in Aspects.of(scope).all:
            if isinstance(aspect, (Tag, RemoveTag)) and aspect.key == key and _applies_to_functions(aspect):
                value = aspect.value if isinstance(aspect, Tag) else None
    return value


def _applies_to_functions(aspect: Tag | RemoveTag) -> bool:
    props = aspect._props
    included = props.include_resource_types
    return _FUNCTION_RESOURCE_TYPE not in (props.exclude_resource_types or []) and (
        not included or _FUNCTION_RESOURCE_TYPE in included
    )
