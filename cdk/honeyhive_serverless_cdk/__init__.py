"""AWS CDK constructs (aws-cdk-lib v2) that add HoneyHive tracing to Python Lambda functions.

Example::

    from honeyhive_serverless_cdk import HoneyHiveInstrumentation, LayerSource

    HoneyHiveInstrumentation(project="demo", api_key_secret="honeyhive/api-key").apply_to(app)

Synthesis-time only: the runtime package never imports this one, and it is not part of the layer.
"""

from .instrumentation import OPT_OUT_TAG, HandlerWrapping, HoneyHiveInstrumentation
from .layer import HoneyHiveLayer
from .sources import DEFAULT_LAYER_PARAMETER, LayerSource

__all__ = [
    "DEFAULT_LAYER_PARAMETER",
    "OPT_OUT_TAG",
    "HandlerWrapping",
    "HoneyHiveInstrumentation",
    "HoneyHiveLayer",
    "LayerSource",
]
