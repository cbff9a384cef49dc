"""Where published layers are found: their names and the SSM parameters that hold their ARNs.

One rule for ``publish-layer`` (which writes them), ``instrument`` and the CDK construct (which read
them) and the CloudFormation example (which documents them). Pure string functions: no AWS SDK here,
so the construct can use them without boto3.

Parameters, one per Lambda runtime and architecture, each holding a layer version ARN::

    /honeyhive-serverless/layer/python3.12/arm64/latest     the newest publish
    /honeyhive-serverless/layer/python3.12/arm64/0.2.0      that honeyhive-serverless version

and the same under ``/honeyhive-serverless/layer/signed/`` for the layers published signed with AWS Signer
(``publish-layer --signing-profile``), the ones a function with a code-signing config can take. They are
apart so that an unsigned publish never replaces a signed layer under a function that needs one.
"""

from __future__ import annotations

import re

#: ``{py}`` is the Python version without its dot (``312``), ``{arch}`` the Lambda architecture.
DEFAULT_LAYER_NAME = "honeyhive-serverless-py{py}-{arch}"
DEFAULT_PARAMETER_PREFIX = "/honeyhive-serverless/layer"
LATEST = "latest"
#: The path segment, after the prefix, of the parameters of layers published signed.
SIGNED = "signed"
ARCHITECTURES = ("x86_64", "arm64")

_LAYER_NAME = re.compile(r"[A-Za-z0-9_-]{1,140}")
# arn:aws:lambda:us-east-1:123456789012:layer:NAME:4 (aws, aws-cn, aws-us-gov partitions).
_LAYER_VERSION_ARN = re.compile(r"(arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:layer:[A-Za-z0-9_-]+):(\d+)")
_PARAMETER_PREFIX = re.compile(r"(/[A-Za-z0-9_.-]+)+")
# "python3.12" or "py312" as a whole word of a name; "x86_64" or "arm64" likewise.
_PYTHON_HINT = re.compile(r"(?<![A-Za-z0-9])(?:python(\d)\.(\d+)|py(\d)(\d{2}))(?![A-Za-z0-9])")
_ARCH_HINT = re.compile(r"(?<![A-Za-z0-9])(x86_64|arm64)(?![A-Za-z0-9])")


class PublishedNameError(ValueError):
    """A layer or parameter name that cannot be used; the message says what is allowed."""


def layer_name(template: str, python: str, arch: str) -> str:
    """The layer name for one target: ``template`` with ``{py}`` (``312``) and ``{arch}`` filled in."""
    try:
        name = template.format(py=python.replace(".", ""), arch=arch)
    except (KeyError, IndexError, ValueError) as exc:
        raise PublishedNameError(f"layer name {template!r}: only {{py}} and {{arch}} can be filled in ({exc})") from exc
    if not _LAYER_NAME.fullmatch(name):
        raise PublishedNameError(f"layer name {name!r}: use 1 to 140 letters, digits, '-' or '_'")
    return name


def layer_version_parts(arn: str) -> tuple[str, int] | None:
    """A layer version ARN's unversioned ARN and version number; None when ``arn`` is not one."""
    match = _LAYER_VERSION_ARN.fullmatch(arn)
    return None if match is None else (match.group(1), int(match.group(2)))


def parameter_name(
    python: str, arch: str, version: str = LATEST, prefix: str = DEFAULT_PARAMETER_PREFIX, *, signed: bool = False
) -> str:
    """The SSM parameter holding the layer ARN for ``python`` (``3.12``) on ``arch``, at ``version``; with
    ``signed``, the one holding the layer published signed."""
    if not _PARAMETER_PREFIX.fullmatch(prefix):
        raise PublishedNameError(f"parameter prefix {prefix!r}: a path like {DEFAULT_PARAMETER_PREFIX}, no trailing /")
    root = f"{prefix}/{SIGNED}" if signed else prefix
    return f"{root}/python{python}/{arch}/{version}"


def target_hints(name: str) -> tuple[str | None, str | None]:
    """The Python version and architecture a layer ARN or parameter name states, each None if it does not.

    ``...:layer:honeyhive-serverless-py312-arm64:4`` gives ``("3.12", "arm64")``; a name that states
    two different versions or architectures states neither.
    """
    pythons = {f"{m[1] or m[3]}.{int(m[2] or m[4])}" for m in _PYTHON_HINT.finditer(name)}
    archs = set(_ARCH_HINT.findall(name))
    return (pythons.pop() if len(pythons) == 1 else None), (archs.pop() if len(archs) == 1 else None)
