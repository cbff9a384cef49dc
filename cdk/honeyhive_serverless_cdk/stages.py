"""Applying a mutating Aspect so that it reaches every stack of every Stage under a scope.

CDK synthesizes each nested Stage first, as an assembly of its own, invoking only the Aspects added
within that Stage: an Aspect added to the App never reaches a function in a Stage. So the Aspect is
added to the scope and to every Stage under it, and a validation on the scope fails synthesis for a
Stage created after that, which would otherwise be left out without a word.
"""

from __future__ import annotations

import aws_cdk
import jsii
from aws_cdk import Aspects, IAspect, Stage
from constructs import IConstruct, IValidation


def apply_everywhere(aspect: IAspect, scope: IConstruct, label: str) -> None:
    """Add ``aspect`` to ``scope`` and each Stage under it, ahead of read-only Aspects (checks like cdk-nag)."""
    for construct in [scope, *_stages_under(scope)]:
        _add_mutating(construct, aspect)
    scope.node.add_validation(_EveryStageCovered(aspect, scope, label))


def _add_mutating(construct: IConstruct, aspect: IAspect) -> None:
    # AspectPriority came with aws-cdk-lib 2.172; before it, Aspects run in the order they were added.
    priority = getattr(aws_cdk, "AspectPriority", None)
    if priority is None:
        Aspects.of(construct).add(aspect)
    else:
        Aspects.of(construct).add(aspect, priority=priority.MUTATING)


def _stages_under(scope: IConstruct) -> list[IConstruct]:
    return [
        construct
        for construct in scope.node.find_all()
        if Stage.is_stage(construct) and construct.node.path != scope.node.path
    ]


@jsii.implements(IValidation)
class _EveryStageCovered:
    """Fails synthesis of ``scope`` when a Stage under it does not have the Aspect."""

    def __init__(self, aspect: IAspect, scope: IConstruct, label: str) -> None:
        self.aspect = aspect
        self.scope = scope
        self.label = label

    def validate(self) -> list[str]:
        return [
            f"{self.label}: stage {stage.node.path} was created after apply_to() and is not instrumented; "
            "call apply_to() once the stages exist, or on that stage too"
            for stage in _stages_under(self.scope)
            if self.aspect not in Aspects.of(stage).all
        ]
