"""AWS CDK constructs (aws-cdk-lib v2) that add HoneyHive tracing to Python Lambda functions.

Example::

    from honeyhive_serverless_cdk import HoneyHiveInstrumentation

    Aspects.of(stack).add(HoneyHiveInstrumentation(stack, "HoneyHive", project="demo", api_key_secret=secret))

Synthesis-time only: the runtime package never imports this one, and it is not part of the layer.
"""

from .instrumentation import OPT_OUT_TAG, HandlerWrapping, HoneyHiveInstrumentation
from .layer import HoneyHiveLayer

__all__ = ["OPT_OUT_TAG", "HandlerWrapping", "HoneyHiveInstrumentation", "HoneyHiveLayer"]
