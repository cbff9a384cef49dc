"""What the AWS tools (``publishing``, ``instrumenting``) share: the client type, the error base, error codes.

The bottom of the tools that call AWS: it imports nothing of theirs, so publishing and instrumenting
never depend on each other.
"""

from __future__ import annotations

from typing import Any, TypeAlias

from botocore.exceptions import ClientError

# A boto3 client (lambda, ssm, iam); boto3 ships no type stubs, so its calls are untyped either way.
Client: TypeAlias = Any


class AwsToolError(RuntimeError):
    """A publish or instrument request that cannot be carried out; the message says why and what to do."""


def error_code(exc: ClientError) -> str:
    """The AWS error code of a failed call (``ResourceNotFoundException``), empty when it has none."""
    code: str = exc.response.get("Error", {}).get("Code", "")
    return code
