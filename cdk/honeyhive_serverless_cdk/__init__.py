"""AWS CDK constructs (aws-cdk-lib v2) that add HoneyHive tracing to Python Lambda functions.

Example::

    from honeyhive_serverless_cdk import HoneyHiveInstrumentation, LayerSource

    HoneyHiveInstrumentation(project="demo", api_key_secret="honeyhive/api-key").apply_to(app)

Synthesis-time only: the runtime package never imports this one, and it is not part of the layer.
It needs the ``cdk`` extra (aws-cdk-lib, constructs, and the layer builder's packaging); without it,
importing this package raises an ImportError that says what to install.
"""

try:
    import aws_cdk  # noqa: F401  (first: its jsii runtime is what a missing extra usually lacks)
    import constructs  # noqa: F401
    import packaging  # noqa: F401
except ModuleNotFoundError as missing:
    raise ImportError(
        f"honeyhive_serverless_cdk needs the AWS CDK and the layer builder ({missing.name} is not installed): "
        "pip install 'honeyhive-serverless[cdk]'",
        name=missing.name,
    ) from missing

from .instrumentation import OPT_OUT_TAG, HandlerWrapping, HoneyHiveInstrumentation
from .layer import HoneyHiveLayer
from .sources import DEFAULT_LAYER_PARAMETER, DEFAULT_SIGNED_LAYER_PARAMETER, LayerSource

__all__ = [
    "DEFAULT_LAYER_PARAMETER",
    "DEFAULT_SIGNED_LAYER_PARAMETER",
    "OPT_OUT_TAG",
    "HandlerWrapping",
    "HoneyHiveInstrumentation",
    "HoneyHiveLayer",
    "LayerSource",
]
