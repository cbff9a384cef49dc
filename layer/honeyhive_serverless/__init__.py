"""HoneyHive tracing for AWS Lambda and Google Cloud Functions: lazy, lean, and nothing lost.

Importing this package builds nothing and imports no OpenTelemetry, exporter, boto3 or Powertools
code; each name below loads its module on first use, so a cold start pays only for what it touches.

>>> from honeyhive_serverless import get_tracer, trace
>>> @trace
... def answer() -> int:
...     return 42
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .vendored import activate as _activate_vendored
from .version import __version__

# Before anything imports a third-party package: from the layer, its own go on sys.path after the
# function's (vendored.py has the rule). Installed by pip, this finds no layer and does nothing.
_activate_vendored(__path__[0])

if TYPE_CHECKING:
    from .api import enrich_session, enrich_span, flush
    from .batch import process_records
    from .decorators import atrace, trace, trace_class
    from .distributed import (
        ainvoke_function,
        eventbridge_detail,
        extract_context_from_carrier,
        inject_context_into_carrier,
        invoke_function,
        lambda_client_context,
        sns_message_attributes,
        sqs_message_attributes,
        step_functions_input,
        with_distributed_trace_context,
    )
    from .sdk_init import TracerConfig
    from .tracer import HoneyHiveTracer, get_tracer, set_default_tracer
    from .wrapper import with_honeyhive_session

# public name -> module that defines it
_EXPORTS = {
    "HoneyHiveTracer": ".tracer",
    "TracerConfig": ".sdk_init",
    "get_tracer": ".tracer",
    "set_default_tracer": ".tracer",
    "trace": ".decorators",
    "atrace": ".decorators",
    "trace_class": ".decorators",
    "enrich_span": ".api",
    "enrich_session": ".api",
    "flush": ".api",
    "with_honeyhive_session": ".wrapper",
    "process_records": ".batch",
    "inject_context_into_carrier": ".distributed",
    "extract_context_from_carrier": ".distributed",
    "with_distributed_trace_context": ".distributed",
    "sqs_message_attributes": ".distributed",
    "sns_message_attributes": ".distributed",
    "eventbridge_detail": ".distributed",
    "lambda_client_context": ".distributed",
    "invoke_function": ".distributed",
    "ainvoke_function": ".distributed",
    "step_functions_input": ".distributed",
}

__all__ = [
    "HoneyHiveTracer",
    "TracerConfig",
    "__version__",
    "ainvoke_function",
    "atrace",
    "enrich_session",
    "enrich_span",
    "eventbridge_detail",
    "extract_context_from_carrier",
    "flush",
    "get_tracer",
    "inject_context_into_carrier",
    "invoke_function",
    "lambda_client_context",
    "process_records",
    "set_default_tracer",
    "sns_message_attributes",
    "sqs_message_attributes",
    "step_functions_input",
    "trace",
    "trace_class",
    "with_distributed_trace_context",
    "with_honeyhive_session",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'honeyhive_serverless' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value
