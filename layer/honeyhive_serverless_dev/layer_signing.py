"""Whether a function's code-signing config lets ``instrument`` attach a layer version: pure, no AWS calls.

Lambda checks every layer added to a function that has a code-signing config: the layer version must be
signed (``GetLayerVersion``'s ``Content.SigningProfileVersionArn``) by one of the config's allowed
publishers (its signing profile versions). Under the ``Enforce`` policy it refuses the update; under
``Warn`` it attaches the layer and records a signature validation warning. ``instrument`` says so before
the update, with what to do, instead of leaving the user Lambda's error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: ``UntrustedArtifactOnDeployment``: Lambda refuses what fails the checks, or lets it through with a warning.
ENFORCE = "Enforce"
WARN = "Warn"


@dataclass(frozen=True)
class CodeSigning:
    """A function's code-signing config, as ``GetCodeSigningConfig`` describes it.

    ``policy`` (``UntrustedArtifactOnDeployment``: ``Enforce`` or ``Warn``) is None when the config could
    not be read (no permission), and ``config_arn`` None when even whether there is one could not be.
    """

    config_arn: str | None
    policy: str | None = None
    allowed_profiles: tuple[str, ...] = ()

    @classmethod
    def described(cls, answer: Mapping[str, Any]) -> CodeSigning:
        """From ``GetCodeSigningConfig``'s answer."""
        config = answer["CodeSigningConfig"]
        return cls(
            config_arn=config["CodeSigningConfigArn"],
            policy=config.get("CodeSigningPolicies", {}).get("UntrustedArtifactOnDeployment", WARN),
            allowed_profiles=tuple(config.get("AllowedPublishers", {}).get("SigningProfileVersionArns", [])),
        )


def layer_signer(layer: Mapping[str, Any]) -> str | None:
    """The signing profile version that signed a layer version (``GetLayerVersion``'s answer); None: unsigned."""
    arn: str | None = (layer.get("Content") or {}).get("SigningProfileVersionArn") or None
    return arn


@dataclass(frozen=True)
class SigningFinding:
    """What a function's code-signing config makes of a layer version: ``refused`` when Lambda would refuse
    the update (``Enforce``); otherwise a warning (let through under ``Warn``, or not checkable)."""

    message: str
    refused: bool = False


def signing_finding(signing: CodeSigning, layer_arn: str, layer: Mapping[str, Any] | None) -> SigningFinding | None:
    """What attaching ``layer_arn`` (``layer``: ``GetLayerVersion``'s answer, None when unreadable) to a function
    under ``signing`` meets; None when one of the allowed publishers signed it."""
    if signing.policy is None:
        where = "" if signing.config_arn is None else f" {signing.config_arn}"
        return SigningFinding(
            f"could not read its code-signing config{where}: if it enforces signed code, Lambda refuses "
            f"{layer_arn} unless one of its allowed publishers signed it"
        )
    if layer is None:
        return SigningFinding(
            f"could not read {layer_arn}: whether an allowed publisher of its code-signing config "
            f"{signing.config_arn} signed it is not checked here (Lambda checks it)"
        )
    signer = layer_signer(layer)
    if signer in signing.allowed_profiles:
        return None
    problem = f"{layer_arn} is not signed" if signer is None else f"{layer_arn} is signed by {signer}"
    allowed = ", ".join(signing.allowed_profiles) or "none"
    policy = f"its code-signing config {signing.config_arn} (UntrustedArtifactOnDeployment={signing.policy})"
    if signing.policy == ENFORCE:
        return SigningFinding(
            f"{policy} enforces code signed by its allowed publishers ({allowed}) and {problem}, so Lambda would "
            "refuse it: publish the layer signed with one of them (hh-serverless publish-layer --signing-profile) "
            "and instrument with that layer version",
            refused=True,
        )
    return SigningFinding(
        f"{problem}, not by an allowed publisher of {policy} ({allowed}): Lambda attaches it and records a "
        "signature validation warning"
    )
