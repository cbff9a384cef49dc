"""What a function's code-signing config does with an unsigned layer, read at synth.

Lambda checks a function's layers against its code-signing config when it is deployed: under the
``Enforce`` policy an unsigned layer fails the deploy; under ``Warn`` (the default of CloudFormation
and of CDK's ``CodeSigningConfig``) it is deployed and Lambda logs a warning. The policy is read from
the config's resource when the config is in the app; a config imported by ARN cannot be read.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_lambda as lambda_

from .inspection import cloudformation_properties

_WARN = "Warn"


class UnsignedLayers(enum.Enum):
    """What the function's code-signing config does with an unsigned layer; the value says it in a message."""

    #: It is deployed, with a warning from Lambda.
    WARNED = "lets it deploy with a warning (policy Warn)"
    #: The deploy fails.
    REJECTED = "rejects unsigned layers (policy Enforce)"
    #: The deploy fails if the config's policy is Enforce, which cannot be read at synth.
    MAYBE_REJECTED = "rejects unsigned layers if its policy is Enforce (it is imported: its policy is not in this app)"


def unsigned_layers(function: lambda_.Function, properties: Mapping[str, Any]) -> UnsignedLayers | None:
    """What the code-signing config in the function's ``properties`` does with an unsigned layer; None
    when the function has no code-signing config."""
    arn = properties.get("codeSigningConfigArn")
    if not arn:
        return None
    stack = Stack.of(function)
    policies = [
        (cloudformation_properties(config).get("codeSigningPolicies") or {}).get("untrustedArtifactOnDeployment")
        or _WARN
        for config in function.node.root.node.find_all()
        if isinstance(config, lambda_.CfnCodeSigningConfig)
        and stack.resolve(config.attr_code_signing_config_arn) == arn
    ]
    if not policies:
        return UnsignedLayers.MAYBE_REJECTED
    return UnsignedLayers.WARNED if set(policies) == {_WARN} else UnsignedLayers.REJECTED
