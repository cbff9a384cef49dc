"""``LayerSource``: where each instrumented function's honeyhive-serverless layer comes from.

Built here at synth (the default), a published layer version by ARN, the SSM parameters that
``hh-serverless publish-layer`` writes, or no layer at all (the function bundles the package itself).
Each source says at synth why a function cannot have its layer, and gives the layer in the function's
own stack, so one instrumentation serves every stack and stage of an App. A published source can be
declared signed (``signed=True``): CDK cannot sign a layer, so that is how a function whose
code-signing config checks its layers gets one.
"""

from __future__ import annotations

import abc
import re
from pathlib import Path

from aws_cdk import Stack, Token
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_ssm as ssm

from honeyhive_serverless_dev import layer_build, published
from honeyhive_serverless_dev.layer_build import buildable

from .layer import HoneyHiveLayer, layer_python_version
from .per_stack import child_id, find_or_create

PYTHON_PLACEHOLDER = "{python}"  # filled with e.g. 3.12
ARCH_PLACEHOLDER = "{arch}"  # filled with x86_64 or arm64
#: The parameters ``hh-serverless publish-layer`` writes, the newest publish for each target.
DEFAULT_LAYER_PARAMETER = published.parameter_name(PYTHON_PLACEHOLDER, ARCH_PLACEHOLDER)
#: Those it writes publishing signed (``--signing-profile``).
DEFAULT_SIGNED_LAYER_PARAMETER = published.parameter_name(PYTHON_PLACEHOLDER, ARCH_PLACEHOLDER, signed=True)
#: What a function whose code-signing config checks its layers needs, when its layer source is unsigned.
SIGNED_LAYER_HOWTO = (
    "publish the layer signed by a signing profile the config allows (hh-serverless publish-layer "
    "--signing-profile PROFILE --signing-bucket BUCKET) and pass layer=LayerSource.from_ssm_parameter(signed=True), "
    "or LayerSource.from_layer_arn(ARN, signed=True) with the ARN it prints"
)
_PYTHON_VERSION = re.compile(r"(\d+)\.(\d+)")


class LayerSource(abc.ABC):
    """Where the honeyhive-serverless layer of each instrumented function comes from.

    Make one with :meth:`build_locally` (the default), :meth:`from_layer_arn`, :meth:`from_ssm_parameter`
    or :meth:`bring_your_own`, and pass it as ``HoneyHiveInstrumentation(layer=...)``.
    """

    #: False for a source with no layer: then nothing that lives in the layer (the exec wrapper) is there.
    has_layer = True

    @staticmethod
    def build_locally(dist_dir: Path | None = None) -> LayerSource:
        """Build the layer at synth, no Docker, one layer version per stack, runtime and architecture.

        ``dist_dir`` holds prebuilt zips and their manifest (``hh-serverless build-layer --out DIR``),
        used when current; otherwise the builder makes the zip, which needs that Python on this machine.
        """
        return _BuiltLocally(dist_dir)

    @staticmethod
    def from_layer_arn(arn: str, *, signed: bool = False) -> LayerSource:
        """A published layer version. Where the ARN names a Python or architecture (``...-py312-arm64:4``),
        each function is checked against it at synth; an ARN given as a token is not checked.

        ``signed``: the version was published signed (``hh-serverless publish-layer --signing-profile``),
        so functions whose code-signing config checks their layers can take it.
        """
        if not Token.is_unresolved(arn) and published.layer_version_parts(arn) is None:
            raise ValueError(f"LayerSource.from_layer_arn: {arn!r} is not a layer version ARN")
        return _FromLayerArn(arn, signed)

    @staticmethod
    def from_ssm_parameter(name: str | None = None, *, signed: bool = False) -> LayerSource:
        """The layer version ARN in an SSM parameter, read by CloudFormation at deploy time.

        ``{python}`` (``3.12``) and ``{arch}`` in ``name`` are filled in for each function; the default is
        where ``hh-serverless publish-layer`` writes the newest layer for each target:
        :data:`DEFAULT_LAYER_PARAMETER`, or with ``signed`` (the layers it publishes with
        ``--signing-profile``, which functions whose code-signing config checks their layers can take)
        :data:`DEFAULT_SIGNED_LAYER_PARAMETER`. A name that states a Python or architecture is checked
        against each function at synth.
        """
        if name is None:
            name = DEFAULT_SIGNED_LAYER_PARAMETER if signed else DEFAULT_LAYER_PARAMETER
        if Token.is_unresolved(name):
            raise ValueError("LayerSource.from_ssm_parameter: the parameter name must be a literal string")
        return _FromSsmParameter(name, signed)

    @staticmethod
    def bring_your_own() -> LayerSource:
        """No layer: variables, key access and handler only, for functions that bundle honeyhive-serverless
        themselves and for container image functions (which cannot take layers)."""
        return _BringYourOwn()

    def problems(self, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> list[str]:
        """Why a function of ``runtime`` on ``architecture`` cannot have this layer; empty when it can."""
        python = layer_python_version(runtime)
        if python is None:
            supported = ", ".join("python" + version for version in layer_build.PYTHON_VERSIONS)
            return [f"runtime {runtime.name} has no HoneyHive layer (supported: {supported})"]
        return self._target_problems(python, architecture.name)

    def _target_problems(self, python: str, arch: str) -> list[str]:
        """What this source in particular rules out for a supported Python."""
        return []

    def unsigned(self) -> str | None:
        """How to say that this source's layer is not signed; None when it is, or there is no layer."""
        return None

    @abc.abstractmethod
    def layer(
        self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture
    ) -> lambda_.ILayerVersion | None:
        """The layer in ``stack`` for functions of ``runtime`` on ``architecture`` (found, or made once)."""


class _BuiltLocally(LayerSource):
    def __init__(self, dist_dir: Path | None) -> None:
        self.dist_dir = dist_dir

    def unsigned(self) -> str:
        return "a layer built at synth is not signed (CDK cannot sign a layer)"

    def _target_problems(self, python: str, arch: str) -> list[str]:
        if buildable(python):
            return []
        return [
            f"no Python {python} on this machine to build its layer with. Either build the layer where "
            f"Python {python} exists, publish it (hh-serverless publish-layer) and pass "
            "layer=LayerSource.from_layer_arn(...) or LayerSource.from_ssm_parameter(); or bundle "
            "honeyhive-serverless in the function and pass layer=LayerSource.bring_your_own()"
        ]

    def layer(
        self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture
    ) -> lambda_.ILayerVersion:
        return find_or_create(
            stack,
            f"Layer-{runtime.name}-{architecture.name}",
            lambda scope, id: HoneyHiveLayer(
                scope, id, runtime=runtime, architecture=architecture, dist_dir=self.dist_dir
            ),
        )


class _FromLayerArn(LayerSource):
    def __init__(self, arn: str, signed: bool) -> None:
        self.arn = arn
        self.signed = signed

    def unsigned(self) -> str | None:
        return None if self.signed else f"layer {self.arn} is not declared signed"

    def _target_problems(self, python: str, arch: str) -> list[str]:
        if Token.is_unresolved(self.arn):
            return []
        return _mismatches(f"layer {self.arn}", self.arn, python, arch)

    def layer(
        self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture
    ) -> lambda_.ILayerVersion:
        return find_or_create(
            stack,
            child_id("LayerArn", self.arn),
            lambda scope, id: lambda_.LayerVersion.from_layer_version_arn(scope, id, self.arn),
        )


class _FromSsmParameter(LayerSource):
    def __init__(self, name: str, signed: bool) -> None:
        self.name = name
        self.signed = signed

    def unsigned(self) -> str | None:
        return None if self.signed else f"the layer in parameter {self.name} is not declared signed"

    def parameter_name(self, python: str, arch: str) -> str:
        """The parameter holding the layer for ``python`` on ``arch``."""
        return self.name.replace(PYTHON_PLACEHOLDER, python).replace(ARCH_PLACEHOLDER, arch)

    def _target_problems(self, python: str, arch: str) -> list[str]:
        name = self.parameter_name(python, arch)
        return _mismatches(f"layer parameter {name}", name, python, arch)

    def layer(
        self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture
    ) -> lambda_.ILayerVersion:
        name = self.parameter_name(_python(runtime), architecture.name)
        # A CloudFormation parameter of type AWS::SSM::Parameter::Value<String>, one per stack and name.
        return find_or_create(
            stack,
            child_id("LayerParameter", name),
            lambda scope, id: lambda_.LayerVersion.from_layer_version_arn(
                scope, id, ssm.StringParameter.value_for_string_parameter(stack, name)
            ),
        )


class _BringYourOwn(LayerSource):
    has_layer = False

    def problems(self, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> list[str]:
        # The package supports every Python the layer is built for, from the oldest on.
        oldest = layer_build.PYTHON_VERSIONS[0]
        if _version_key(_python(runtime)) < _version_key(oldest):
            return [f"runtime {runtime.name}: honeyhive-serverless needs Python {oldest} or newer"]
        return []

    def layer(self, stack: Stack, runtime: lambda_.Runtime, architecture: lambda_.Architecture) -> None:
        return None


def _python(runtime: lambda_.Runtime) -> str:
    """``"3.12"`` for ``python3.12``."""
    return runtime.name.removeprefix("python")


def _version_key(python: str) -> tuple[int, ...]:
    """``(3, 12)`` for ``"3.12"``; ``()``, older than any version, for what is not a version."""
    match = _PYTHON_VERSION.fullmatch(python)
    return tuple(int(part) for part in match.groups()) if match else ()


def _mismatches(what: str, name: str, python: str, arch: str) -> list[str]:
    """Where ``name`` states a Python or architecture other than the function's, one message for each."""
    stated_python, stated_arch = published.target_hints(name)
    problems = []
    if stated_python not in (None, python):
        problems.append(f"{what} is for python{stated_python}, the function runs python{python}")
    if stated_arch not in (None, arch):
        problems.append(f"{what} is for {stated_arch}, the function runs on {arch}")
    return problems
