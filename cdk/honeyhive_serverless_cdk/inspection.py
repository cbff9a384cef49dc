"""A resource's properties as CloudFormation will see them, read at synth."""

from __future__ import annotations

from typing import Any, cast

from aws_cdk import CfnResource, IInspectable, Stack, TreeInspector

# The attribute under which a CfnResource gives an inspector its properties (cdk synth's tree.json shows it).
_CFN_PROPERTIES_ATTRIBUTE = "aws:cdk:cloudformation:props"


def cloudformation_properties(resource: CfnResource) -> dict[str, Any]:
    """The resource's properties rendered as CloudFormation will see them: whatever the user set, however
    they set it (props, ``add_environment``, a Lazy).

    Read through the public inspection API that ``cdk synth``'s tree.json uses: the typed getters
    (``cfn.environment``) hand Python an L2 function's Lazy environment as an empty EnvironmentProperty
    struct, which would let the user's own variables be overwritten unseen.
    """
    inspector = TreeInspector()
    # Every generated L1 class (CfnFunction, CfnCodeSigningConfig...) is inspectable; CfnResource does not say so.
    cast(IInspectable, resource).inspect(inspector)
    properties: dict[str, Any] = Stack.of(resource).resolve(inspector.attributes[_CFN_PROPERTIES_ATTRIBUTE]) or {}
    return properties
