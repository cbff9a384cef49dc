"""The framework run a span is started inside, when the framework's instrumentor does not make its own
spans current.

OpenInference's LangChain instrumentor starts a span per LangChain run and deliberately never attaches
it to OpenTelemetry's context (a callback that fails would leave it attached). So a provider's span made
during a LangChain LLM call (the Bedrock or OpenAI instrumentor's) is parented to whatever was current
before the chain began, the invocation's span, rather than to the model call that made it.

LangChain keeps the runnable being run in a context variable (``var_child_runnable_config``: its
callbacks name the parent run of what runs now). A chat model's or a retriever's own run is not in it:
they call their provider inside a run they started themselves. So the run a provider call belongs to
is the one run open under that parent (a model call, a retrieval), else the parent run itself. The
instrumentor's tracer keeps the runs it has open (``run_map``, LangChain's tracer interface) and their
spans (``get_span``). Two runs open under one parent (branches run concurrently) cannot be told apart:
then the parent run's span is the answer, which is right if less precise. Nothing is imported here:
the lookup runs only where the instrumentor is already loaded.
"""

from __future__ import annotations

import sys
from typing import Any

LANGCHAIN_INSTRUMENTATION = "openinference.instrumentation.langchain"
LANGCHAIN_CONFIG = "langchain_core.runnables.config"


def framework_span() -> Any | None:
    """The span of the LangChain run the calling code is inside, or None (no LangChain run, its
    instrumentor not loaded, or a failure: this must never break the call being traced)."""
    instrumentation = sys.modules.get(LANGCHAIN_INSTRUMENTATION)
    config_module = sys.modules.get(LANGCHAIN_CONFIG)
    if instrumentation is None or config_module is None:
        return None
    try:
        # The instrumentor's tracer: the one object that knows both the runs and their spans.
        tracer = getattr(instrumentation.LangChainInstrumentor(), "_tracer", None)
        if tracer is None:
            return None
        config = config_module.var_child_runnable_config.get()
        manager = config.get("callbacks") if isinstance(config, dict) else None
        parent_run_id = getattr(manager, "parent_run_id", None)
        inside = [
            run for run in list(tracer.run_map.values()) if run.parent_run_id == parent_run_id and run.end_time is None
        ]
        if len(inside) == 1:
            return tracer.get_span(inside[0].id)
        return tracer.get_span(parent_run_id) if parent_run_id is not None else None
    except Exception:  # an instrumentor or LangChain whose internals changed: no parent is moved
        return None
