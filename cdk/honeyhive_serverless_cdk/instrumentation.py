"""``HoneyHiveInstrumentation``: trace Python Lambda functions with HoneyHive, added one by one or as an Aspect.

Per function: the honeyhive-serverless layer for its runtime and architecture from the chosen
:class:`LayerSource` (one per stack and target, in the function's own stack), the ``HH_*`` variables (a
value the function already has is kept), read access to the API key's secret or parameter for that
function's role on that one ARN, and its handler wrapped with no code change. A function that cannot
be instrumented fails synthesis with an error annotation; nothing is skipped without one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jsii
from aws_cdk import Annotations, Aspects, IAspect, RemoveTag, Stack, Tag, Token
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm
from constructs import IConstruct

from honeyhive_serverless import variables
from honeyhive_serverless.config import EXPORT_MODES, checked_server_url
from honeyhive_serverless.instrumentors import instrumentors_variable
from honeyhive_serverless_dev.layer_build import MAX_LAYERS, WRAPPER_NAME
from honeyhive_serverless_dev.planning import PACKAGES_RULE
from honeyhive_serverless_dev.runtimes import lifecycle_warning

from .api_key import ApiKey
from .code_signing import UnsignedLayers, unsigned_layers
from .inspection import cloudformation_properties
from .sources import SIGNED_LAYER_HOWTO, LayerSource
from .stages import apply_everywhere

#: ``Tags.of(function).add(*OPT_OUT_TAG)`` keeps the Aspect away from a function (or from every
#: function under a construct).
OPT_OUT_TAG = ("honeyhive:instrument", "false")
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
        variables.INSTRUMENTORS,
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
    #: (Wrapping it again would open a second session per invocation.) What a web app under the Lambda Web
    #: Adapter (``AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap``) always gets: its app takes the ASGI/WSGI middleware.
    NONE = "none"


@jsii.implements(IAspect)
class HoneyHiveInstrumentation:
    """Instrument Python Lambda functions with HoneyHive tracing: an Aspect over an App, a Stage or a
    stack, and functions added one by one.

    Example::

        honeyhive = HoneyHiveInstrumentation(project="my-project", api_key_secret="honeyhive/api-key")
        honeyhive.apply_to(app)  # every Python function in every stack of every stage
        honeyhive.add_functions(decorated, handler_wrapping=HandlerWrapping.NONE)  # or one by one

    Exactly one key source: ``api_key_secret`` (Secrets Manager; plain text or JSON ``{"api_key": ...}``;
    a secret, its name, or its full ARN), ``api_key_parameter`` (an SSM SecureString, or its name) or
    ``api_key`` (plain text in the functions' configuration: discouraged, warned about). A name or ARN
    is imported in each function's stack. ``grant_key_read=False`` leaves the key's IAM grant to the
    deployer. ``layer`` is a :class:`LayerSource` (default: built locally). ``source``, ``server_url``,
    ``export_mode`` (``immediate``, ``invocation``, ``after_response``, ``batch``), ``instrumentors`` (the
    LLM libraries the layer's instrumentors trace: ``["openai", "anthropic"]``, or ``["all"]``) and
    ``capture_payloads`` become ``HH_SOURCE``, ``HH_API_URL``, ``HH_EXPORT_MODE``, ``HH_INSTRUMENTORS`` and
    ``HH_CAPTURE_EVENT``/``HH_CAPTURE_RESPONSE``;
    ``env`` adds other ``HH_*`` settings. As an Aspect it skips functions for which ``exclude`` returns
    True or tagged with :data:`OPT_OUT_TAG`, and non-Python ones (with an info annotation). ``label``
    starts each of its annotations, to tell instrumentations apart.
    Invalid props raise ``ValueError`` at once; a function that cannot be instrumented gets an error
    annotation, which fails ``cdk synth``.
    """

    def __init__(
        self,
        *,
        project: str | None = None,
        api_key_secret: secretsmanager.ISecret | str | None = None,
        api_key_parameter: ssm.IStringParameter | str | None = None,
        api_key: str | None = None,
        grant_key_read: bool = True,
        layer: LayerSource | None = None,
        source: str = "lambda",
        server_url: str | None = None,
        export_mode: str | None = None,
        instrumentors: Sequence[str] | None = None,
        handler_wrapping: HandlerWrapping = HandlerWrapping.REDIRECT,
        capture_payloads: bool = True,
        env: Mapping[str, str] | None = None,
        exclude: Callable[[lambda_.Function], bool] | None = None,
        label: str = "HoneyHive",
    ) -> None:
        self.api_key = ApiKey(secret=api_key_secret, parameter=api_key_parameter, plaintext=api_key)
        self.variables: Mapping[str, str] = _settings(
            project=project,
            source=source,
            server_url=server_url,
            export_mode=export_mode,
            instrumentors=instrumentors,
            capture_payloads=capture_payloads,
            env=env or {},
        )
        self.grant_key_read = grant_key_read
        self.layer = layer or LayerSource.build_locally()
        self.handler_wrapping = handler_wrapping
        self.exclude = exclude
        self.label = label
        # Functions this instrumentation has handled, so that the Aspect leaves add_functions' alone.
        self._seen: set[str] = set()

    def apply_to(self, scope: IConstruct) -> None:
        """Instrument every function under ``scope`` (an App, a Stage or a stack) as an Aspect.

        It runs before read-only Aspects such as cdk-nag's. Call it once the stages exist: a Stage
        created afterwards fails synthesis rather than go uninstrumented.
        """
        apply_everywhere(self, scope, self.label)

    def add_functions(self, *functions: lambda_.Function, handler_wrapping: HandlerWrapping | None = None) -> None:
        """Instrument these functions; ``handler_wrapping`` overrides the instrumentation's for them.

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

    def layer_for(
        self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture
    ) -> lambda_.ILayerVersion:
        """The layer this instrumentation attaches to functions of ``runtime`` on ``architecture`` in ``stack``
        (e.g. for an output). ValueError when there is none: an unsupported target, or no layer source."""
        problems = self.layer.problems(runtime, architecture)
        layer = None if problems else self.layer.layer(stack, runtime, architecture)
        if layer is None:
            reason = "; ".join(problems) or "the layer source is LayerSource.bring_your_own()"
            raise ValueError(f"{self.label}: no layer for {runtime.name} {architecture.name}: {reason}")
        return layer

    def _instrument(self, function: lambda_.Function, wrapping: HandlerWrapping, *, explicit: bool) -> None:
        if function.node.addr in self._seen:
            return
        self._seen.add(function.node.addr)
        runtime = function.runtime
        if Token.is_unresolved(runtime.name):
            self._error(
                function,
                "cannot instrument: its runtime is a token; give a literal Runtime, so that its layer "
                "and its checks can be chosen at synth",
            )
            return
        image = runtime.name == lambda_.Runtime.FROM_IMAGE.name
        if image and self.layer.has_layer:
            message = (
                "a container image function takes no layers: install honeyhive-serverless in the image and "
                "use layer=LayerSource.bring_your_own()"
            )
            if explicit:
                self._error(function, message)
            else:
                Annotations.of(function).add_warning_v2(
                    "honeyhive:imageNotInstrumented", f"{self.label}: not instrumented, {message}"
                )
            return
        if not image and runtime.family != lambda_.RuntimeFamily.PYTHON:
            if explicit:
                self._error(function, f"{runtime.name} is not a Python function: HoneyHive instruments Python only")
            else:
                self._skip(function, f"{runtime.name} is not Python")
            return
        function_stack = Stack.of(function)
        cfn = function.node.default_child
        assert isinstance(cfn, lambda_.CfnFunction)
        properties = cloudformation_properties(cfn)
        current = dict((properties.get("environment") or {}).get("variables") or {})
        command = (properties.get("imageConfig") or {}).get("command")
        handler = _single_handler(command) if image else cfn.handler
        problems = [] if image else self.layer.problems(runtime, function.architecture)
        layer_count = len(properties.get("layers") or [])
        if self.layer.has_layer and layer_count >= MAX_LAYERS:
            problems.append(f"it already has {layer_count} layers, Lambda's maximum is {MAX_LAYERS}")
        unsigned = self.layer.unsigned()
        code_signing = None if unsigned is None else unsigned_layers(function, properties)
        if code_signing in (UnsignedLayers.REJECTED, UnsignedLayers.MAYBE_REJECTED):
            problems.append(f"{unsigned}, and its code-signing config {code_signing.value}: {SIGNED_LAYER_HOWTO}")
        own_wrapper = current.get(variables.LAMBDA_EXEC_WRAPPER, EXEC_WRAPPER_PATH)
        # A web app under the Lambda Web Adapter: its handler is a startup script that LWA's wrapper runs,
        # so a redirected handler or a replaced wrapper would stop the app from starting at all. It still
        # gets the layer (the middleware's package), the variables and the key.
        web_app = own_wrapper == variables.WEB_ADAPTER_EXEC_WRAPPER
        if web_app:
            wrapping = HandlerWrapping.NONE
        if wrapping is HandlerWrapping.EXEC_WRAPPER and not self.layer.has_layer:
            problems.append(
                "HandlerWrapping.EXEC_WRAPPER needs the layer, which holds the wrapper script; with "
                "LayerSource.bring_your_own() use HandlerWrapping.REDIRECT, or NONE with @with_honeyhive_session"
            )
        elif wrapping is HandlerWrapping.EXEC_WRAPPER and own_wrapper != EXEC_WRAPPER_PATH:
            problems.append(f"it already has its own exec wrapper {variables.LAMBDA_EXEC_WRAPPER}={own_wrapper}")
        if wrapping is HandlerWrapping.REDIRECT and image and handler is None:
            found = "is not in the template" if command is None else f"{command} is not one handler"
            problems.append(
                f"its image command (ImageConfig.Command) {found}, so it cannot be redirected: pass "
                "cmd=['module.handler'] to its DockerImageCode, or use HandlerWrapping.NONE with "
                "@with_honeyhive_session in the image"
            )
        if handler == variables.REDIRECT_HANDLER and variables.LAMBDA_HANDLER not in current:
            problems.append(
                f"its handler is already {variables.REDIRECT_HANDLER} but {variables.LAMBDA_HANDLER} is not set"
            )
        if problems:
            for problem in problems:
                self._error(function, f"cannot instrument: {problem}")
            return

        layer = self.layer.layer(function_stack, runtime, function.architecture)
        if layer is not None:
            function.add_layers(layer)
            if code_signing is UnsignedLayers.WARNED:
                Annotations.of(function).add_warning_v2(
                    "honeyhive:unsignedLayer",
                    f"{self.label}: {unsigned}, and its code-signing config {code_signing.value}; to deploy it "
                    f"signed, {SIGNED_LAYER_HOWTO}",
                )
            if layer_count:
                # What those layers hold is not known at synth (an ARN, or an asset built later): the rule is.
                Annotations.of(function).add_info(
                    f"{self.label}: it has {layer_count} other layer{'s' if layer_count > 1 else ''}: {PACKAGES_RULE}"
                )
        wanted = {**self.variables, **self.api_key.variables(function_stack)}
        if wrapping is HandlerWrapping.REDIRECT and handler not in (None, variables.REDIRECT_HANDLER):
            wanted[variables.LAMBDA_HANDLER] = str(handler)
            if image:
                cfn.add_property_override("ImageConfig.Command", [variables.REDIRECT_HANDLER])
            else:
                cfn.handler = variables.REDIRECT_HANDLER
        elif wrapping is HandlerWrapping.EXEC_WRAPPER:
            wanted[variables.LAMBDA_EXEC_WRAPPER] = EXEC_WRAPPER_PATH
        for name, value in wanted.items():
            if name not in current:
                function.add_environment(name, value)
        kept = sorted(name for name, value in wanted.items() if name in current and current[name] != value)
        if kept:
            Annotations.of(function).add_info(f"{self.label}: kept the function's own {', '.join(kept)}")
        if web_app:
            Annotations.of(function).add_info(
                f"{self.label}: {variables.LAMBDA_EXEC_WRAPPER}={own_wrapper} is the Lambda Web Adapter's, so "
                "its handler and exec wrapper are left as they are: add HoneyHiveASGIMiddleware or "
                "HoneyHiveWSGIMiddleware (honeyhive_serverless.web) to the web app for its sessions"
            )
        # Where the runtime stands in Lambda's lifecycle (honeyhive_serverless_dev.runtimes): a deprecated one warns.
        lifecycle = lifecycle_warning(runtime.name)
        if lifecycle is not None:
            Annotations.of(function).add_warning_v2("honeyhive:deprecatedRuntime", f"{self.label}: {lifecycle}")
        if self.api_key.plaintext is not None:
            Annotations.of(function).add_warning_v2(
                "honeyhive:plaintextApiKey",
                f"{self.label}: api_key puts the HoneyHive API key in plain text in the template and this "
                "function's configuration; pass api_key_secret or api_key_parameter instead",
            )
        elif not self.grant_key_read:
            Annotations.of(function).add_info(
                f"{self.label}: grant_key_read is off, so this function's role needs read access to "
                f"{self.api_key.description} granted elsewhere"
            )
        else:
            self.api_key.grant_read(function)

    def _error(self, function: lambda_.Function, message: str) -> None:
        Annotations.of(function).add_error(f"{self.label}: {message}")

    def _skip(self, function: lambda_.Function, reason: str) -> None:
        self._seen.add(function.node.addr)
        Annotations.of(function).add_info(f"{self.label}: not instrumented, {reason}")


def _single_handler(command: Any) -> str | None:
    """The handler an image's ``ImageConfig.Command`` names when it is one literal entry, else None."""
    if isinstance(command, list) and len(command) == 1 and isinstance(command[0], str):
        return command[0]
    return None


def _settings(
    *,
    project: str | None,
    source: str,
    server_url: str | None,
    export_mode: str | None,
    instrumentors: Sequence[str] | None,
    capture_payloads: bool,
    env: Mapping[str, str],
) -> dict[str, str]:
    """The ``HH_*`` variables every instrumented function gets, from validated props (the key's aside)."""
    url_is_literal = server_url is not None and not Token.is_unresolved(server_url)
    if url_is_literal and checked_server_url(str(server_url)) is None:
        raise ValueError(f"HoneyHiveInstrumentation: server_url must be an http:// or https:// URL, not {server_url!r}")
    if export_mode is not None and export_mode not in EXPORT_MODES:
        raise ValueError(f"HoneyHiveInstrumentation: export_mode must be one of {', '.join(EXPORT_MODES)}")
    if isinstance(instrumentors, str):
        raise ValueError("HoneyHiveInstrumentation: instrumentors takes a list of names, like ['openai']")
    try:
        instrumentors_value = None if instrumentors is None else instrumentors_variable(instrumentors)
    except ValueError as error:
        raise ValueError(f"HoneyHiveInstrumentation: {error}") from None
    for name in env:
        if not _VARIABLE_NAME.fullmatch(name):
            raise ValueError(f"HoneyHiveInstrumentation: env takes HoneyHive settings (HH_*), not {name!r}")
        if name in MANAGED_VARIABLES:
            raise ValueError(f"HoneyHiveInstrumentation: set {name} through its prop, not env")

    settings: dict[str, Any] = {
        variables.PROJECT: project,
        variables.SOURCE: source,
        variables.API_URL: server_url.rstrip("/") if server_url else None,
        variables.EXPORT_MODE: export_mode,
        variables.INSTRUMENTORS: instrumentors_value,
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
