"""One vocabulary for model calls: every model span leaves with the OpenTelemetry GenAI convention's
names (``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.model``,
``gen_ai.usage.*``) and OpenInference's (``llm.*``) saying the same thing, whichever instrumentor made
it: LangChain's span says ``amazon_bedrock`` where the Bedrock instrumentor says ``aws``, and HoneyHive
would show one model under two providers.

The rule: the model a call asked for (``gen_ai.request.model``, the Bedrock model id as requested) is
the model name; what the provider answered it was stays as ``gen_ai.response.model``. Providers are
named as the GenAI convention names them, and as OpenInference's ``llm.provider`` does. Token counts
are copied across the two vocabularies, whichever one an instrumentor wrote.

>>> normalised({"openinference.span.kind": "LLM", "llm.provider": "amazon_bedrock",
...             "llm.model_name": "claude-3", "gen_ai.request.model": "anthropic.claude-3-v1:0",
...             "llm.token_count.prompt": 11, "llm.input_messages.0.message.role": "user"})["gen_ai.provider.name"]
'aws.bedrock'
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# OpenInference's names.
SPAN_KIND = "openinference.span.kind"
LLM_KIND = "LLM"
EMBEDDING_KIND = "EMBEDDING"
MODEL_NAME = "llm.model_name"
PROVIDER = "llm.provider"
PROMPT_TOKENS = "llm.token_count.prompt"
COMPLETION_TOKENS = "llm.token_count.completion"
TOTAL_TOKENS = "llm.token_count.total"
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
INPUT_MESSAGES = "llm.input_messages"
OUTPUT_MESSAGES = "llm.output_messages"
INVOCATION_PARAMETERS = "llm.invocation_parameters"
FINISH_REASON = "llm.finish_reason"
EMBEDDING_MODEL_NAME = "embedding.model_name"
EMBEDDING_TEXT = "embedding.embeddings.0.embedding.text"

# The OpenTelemetry GenAI convention's names (semantic conventions 1.37).
OPERATION = "gen_ai.operation.name"
PROVIDER_NAME = "gen_ai.provider.name"
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
INPUT_TOKENS = "gen_ai.usage.input_tokens"
OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
EMBEDDING_DIMENSIONS = "gen_ai.embeddings.dimension.count"
CHAT = "chat"
TEXT_COMPLETION = "text_completion"
EMBEDDINGS = "embeddings"
#: The GenAI operations that are model calls (the others are tools and agents).
MODEL_OPERATIONS = frozenset({CHAT, TEXT_COMPLETION, "generate_content", EMBEDDINGS})
#: Older GenAI conventions named the provider ``gen_ai.system``.
OLD_PROVIDER_NAME = "gen_ai.system"
#: OpenInference's API family (``openai`` for any OpenAI-compatible endpoint): the provider when no
#: instrumentor named one (OpenInference's OpenAI instrumentor names one only for OpenAI's and Azure's URLs).
LLM_SYSTEM = "llm.system"

BEDROCK = "aws.bedrock"
#: Provider names as instrumentors write them -> the GenAI convention's name.
PROVIDERS = {
    "aws": BEDROCK,
    "aws.bedrock": BEDROCK,
    "aws_bedrock": BEDROCK,
    "amazon_bedrock": BEDROCK,
    "amazon_bedrock_converse": BEDROCK,
    "bedrock": BEDROCK,
    "openai": "openai",
    "azure": "azure.ai.openai",
    "azure_openai": "azure.ai.openai",
    "anthropic": "anthropic",
    "google": "gcp.gen_ai",
    "google_genai": "gcp.gen_ai",
    "vertexai": "gcp.vertex_ai",
    "cohere": "cohere",
    "mistralai": "mistral_ai",
    "mistral": "mistral_ai",
    "groq": "groq",
    "deepseek": "deepseek",
    "xai": "x_ai",
}
#: The GenAI convention's provider name -> OpenInference's ``llm.provider`` value for it.
OPENINFERENCE_PROVIDERS = {
    BEDROCK: "aws",
    "azure.ai.openai": "azure",
    "gcp.gen_ai": "google",
    "gcp.vertex_ai": "google",
    "mistral_ai": "mistralai",
    "x_ai": "xai",
}


def operation_of(attributes: Mapping[str, Any]) -> str | None:
    """The GenAI operation of a model span, or None for any other span."""
    operation = attributes.get(OPERATION)
    if isinstance(operation, str) and operation:
        return operation if operation in MODEL_OPERATIONS else None
    kind = str(attributes.get(SPAN_KIND, "")).upper()
    if kind == EMBEDDING_KIND:
        return EMBEDDINGS
    if kind != LLM_KIND:
        return None
    if any(key.startswith((INPUT_MESSAGES, OUTPUT_MESSAGES)) for key in attributes):
        return CHAT
    return TEXT_COMPLETION


def is_model_call(attributes: Mapping[str, Any]) -> bool:
    """True for a span that records one call of a model (chat, completion, embedding)."""
    return operation_of(attributes) is not None


def normalised(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The attributes of a model span with both vocabularies filled in and agreeing, or None when there
    is nothing to add or change (not a model span, or already so)."""
    operation = operation_of(attributes)
    if operation is None:
        return None
    out = dict(attributes)
    out[OPERATION] = operation
    provider = _provider(attributes)
    if provider:
        out[PROVIDER_NAME] = provider
        out[PROVIDER] = OPENINFERENCE_PROVIDERS.get(provider, provider)
    requested = attributes.get(REQUEST_MODEL) or attributes.get(MODEL_NAME) or attributes.get(EMBEDDING_MODEL_NAME)
    if requested:
        answered = attributes.get(RESPONSE_MODEL) or attributes.get(MODEL_NAME)
        out[REQUEST_MODEL] = out[MODEL_NAME] = str(requested)
        if answered and answered != requested:
            out[RESPONSE_MODEL] = str(answered)
    for ours, theirs in ((INPUT_TOKENS, PROMPT_TOKENS), (OUTPUT_TOKENS, COMPLETION_TOKENS)):
        count = _count(attributes.get(ours)) or _count(attributes.get(theirs))
        if count is not None:
            out[ours] = out[theirs] = count
    if out.get(INPUT_TOKENS) is not None or out.get(OUTPUT_TOKENS) is not None:
        out[TOTAL_TOKENS] = int(out.get(INPUT_TOKENS) or 0) + int(out.get(OUTPUT_TOKENS) or 0)
    return None if out == attributes else out


def _provider(attributes: Mapping[str, Any]) -> str | None:
    for key in (PROVIDER_NAME, PROVIDER, OLD_PROVIDER_NAME, LLM_SYSTEM):
        value = attributes.get(key)
        if isinstance(value, str) and value:
            return PROVIDERS.get(value.lower(), value.lower())
    return None


def _count(value: object) -> int | None:
    """A token count, or None for none (a framework that could not count writes 0)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return int(value)
