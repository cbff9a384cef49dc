"""HoneyHive's event type (``model``, ``chain``, ``tool``) for spans an instrumentor made, as HoneyHive
maps them: from the OpenTelemetry GenAI ``gen_ai.operation.name``, else OpenInference's
``openinference.span.kind``. A span that already says its type (every span this package makes) keeps it.

>>> event_type_of({"openinference.span.kind": "LLM"})
'model'
>>> event_type_of({"gen_ai.operation.name": "execute_tool"})
'tool'
>>> event_type_of({"http.method": "GET"}) is None
True
"""

from __future__ import annotations

from collections.abc import Mapping

from ..genai.names import OPERATION as GEN_AI_OPERATION
from ..genai.names import SPAN_KIND as OPENINFERENCE_SPAN_KIND

#: OpenTelemetry GenAI operations (semantic conventions 1.37) -> event type. Unknown operations are
#: left to HoneyHive.
GEN_AI_OPERATIONS = {
    "chat": "model",
    "text_completion": "model",
    "generate_content": "model",
    "embeddings": "model",
    "execute_tool": "tool",
    "create_agent": "chain",
    "invoke_agent": "chain",
}
#: OpenInference span kinds -> event type: LLM is a model call, CHAIN and AGENT are chains, and the
#: other kinds (TOOL, RETRIEVER, EMBEDDING, RERANKER, GUARDRAIL, EVALUATOR) are tools, as HoneyHive has it.
OPENINFERENCE_KINDS = {"LLM": "model", "CHAIN": "chain", "AGENT": "chain"}
OPENINFERENCE_OTHER = "tool"


def event_type_of(attributes: Mapping[str, object]) -> str | None:
    """The event type the GenAI or OpenInference attributes imply, or None."""
    operation = attributes.get(GEN_AI_OPERATION)
    if isinstance(operation, str) and operation in GEN_AI_OPERATIONS:
        return GEN_AI_OPERATIONS[operation]
    kind = attributes.get(OPENINFERENCE_SPAN_KIND)
    if isinstance(kind, str) and kind:
        return OPENINFERENCE_KINDS.get(kind.upper(), OPENINFERENCE_OTHER)
    return None
