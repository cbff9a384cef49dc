"""Bedrock runtime calls the OpenInference Bedrock instrumentor records without what they carry.

Applied with that instrumentor (``HH_INSTRUMENTORS`` naming ``bedrock``, or ``all``), on every
``bedrock-runtime`` client created after it:

- **The requested model.** Every call's span gets ``gen_ai.request.model``, the model id as the call
  named it: the instrumentor names a model as the response does (``claude-3-sonnet-20240229``), a
  framework as it was asked for (``anthropic.claude-3-sonnet-20240229-v1:0``), and one model would show
  under two names (``genai.names`` makes the requested one the model name).
- **Embeddings** (``InvokeModel`` of a model whose id says ``embed``): the instrumentor records an
  ``LLM`` span with no input and no output. Here the call is an embedding span with its input text, its
  token count and the vector's dimension (not the vector: it is large and says nothing to a reader).
- **Streams it does not follow** (``InvokeModelWithResponseStream`` of every model but Anthropic's
  Messages API, Nova and OpenAI's: Anthropic's older text completions, Titan, Llama, Mistral,
  Cohere): the instrumentor ends its span when the call returns, before the stream is read. Here the
  span ends with its stream (read to the end, closed, its iteration let go of, or failed), holding the
  streamed text, the finish reason and the token counts Bedrock appends to the last chunk. A stream
  never iterated by the handler's return is ended there, as every span left open is.

For the last two the instrumentor is suppressed for that one call (OpenTelemetry's own
``suppress_instrumentation``, which it honours) and the span is this module's, in its names: written by
hand because neither OpenInference nor OpenTelemetry's botocore extension follows these shapes (the
latter only Titan and Claude's Messages API streams, and no embeddings at all).

botocore is never imported here: the hooks go onto ``botocore.client`` as the instrumentor loaded it.
"""

from __future__ import annotations

import io
import json
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from .._log import logger
from ..version import __version__
from . import names

if TYPE_CHECKING:
    from opentelemetry.trace import Span, Tracer, TracerProvider

SERVICE = "bedrock-runtime"
BOTOCORE_CLIENT = "botocore.client"
OPENINFERENCE_SCOPE = "openinference.instrumentation.bedrock"
#: The key Bedrock appends to a stream's last chunk, for every model.
INVOCATION_METRICS = "amazon-bedrock-invocationMetrics"
#: The text of a streamed chunk, by model family: Anthropic text completions, Titan, Llama, Cohere.
CHUNK_TEXT_KEYS = ("completion", "outputText", "generation", "text")
#: A finished chunk's reason, by model family.
FINISH_KEYS = ("stop_reason", "completionReason", "finish_reason")
#: The request fields that are the prompt (the rest are the invocation's parameters).
PROMPT_KEYS = ("prompt", "inputText")


def follows_stream(model_id: str, body: Mapping[str, Any]) -> bool:
    """True for the ``InvokeModelWithResponseStream`` shapes the Bedrock instrumentor follows to their
    end (openinference-instrumentation-bedrock 0.1.61: Anthropic's Messages API, Nova, OpenAI's).

    >>> follows_stream("anthropic.claude-v2", {"prompt": "Human: hi"})
    False
    """
    return "anthropic_version" in body or "amazon.nova" in model_id or "openai." in model_id


def is_embedding(model_id: str) -> bool:
    """True for a model that embeds (Titan's, Cohere's, Nova's embedding models all say so in their id).

    >>> is_embedding("amazon.titan-embed-text-v2:0"), is_embedding("anthropic.claude-v2")
    (True, False)
    """
    return "embed" in model_id


class _Hooks:
    """The installed hook: the ``create_client`` it wraps, and the tracer its spans go to."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.wrapped: Any = None
        self.tracer: Tracer | None = None


_hooks = _Hooks()


def instrument(provider: TracerProvider) -> bool:
    """Install the hooks for clients created from now on, their spans on ``provider``; True when
    installed. Call after the Bedrock instrumentor (its client wrapper must be inside this one)."""
    module = sys.modules.get(BOTOCORE_CLIENT)
    if module is None:
        return False
    with _hooks.lock:
        _hooks.tracer = provider.get_tracer(__name__, __version__)
        if _hooks.wrapped is not None:
            return True
        creator = module.ClientCreator
        original = creator.create_client
        _hooks.wrapped = original

        def create_client(self: Any, *args: Any, **kwargs: Any) -> Any:
            # Called as the method it replaces, arguments as given (botocore passes them by keyword; the
            # instrumentor's wrapper binds them to the method's signature).
            client = original.__get__(self, type(self))(*args, **kwargs)
            if (args[0] if args else kwargs.get("service_name")) == SERVICE:
                _hook_client(client)
            return client

        creator.create_client = create_client
    return True


def uninstrument() -> None:
    """Take the hooks off (before the Bedrock instrumentor comes off: its unwrapping finds its own
    wrapper only when this one is gone). Clients created meanwhile keep theirs."""
    module = sys.modules.get(BOTOCORE_CLIENT)
    with _hooks.lock:
        if module is not None and _hooks.wrapped is not None:
            module.ClientCreator.create_client = _hooks.wrapped
        _hooks.wrapped = _hooks.tracer = None


def _hook_client(client: Any) -> None:
    try:
        client.meta.events.register(f"before-parameter-build.{SERVICE}", _note_requested_model)
        for method, wrapper in (("invoke_model", _invoke_model), ("invoke_model_with_response_stream", _invoke_stream)):
            setattr(client, method, wrapper(getattr(client, method)))
    except Exception:  # a botocore that differs: the client works untouched
        logger.debug("honeyhive: could not hook a bedrock-runtime client", exc_info=True)


def _note_requested_model(params: Mapping[str, Any], **_: Any) -> None:
    """Inside the instrumentor's span of the call: the model id as requested."""
    from opentelemetry import trace

    model_id = params.get("modelId")
    span = trace.get_current_span()
    scope = getattr(span, "instrumentation_scope", None)
    if model_id and span.is_recording() and scope is not None and scope.name == OPENINFERENCE_SCOPE:
        span.set_attributes({names.REQUEST_MODEL: str(model_id), names.PROVIDER_NAME: names.BEDROCK})


def _invoke_model(call: Callable[..., Any]) -> Callable[..., Any]:
    def invoke_model(*args: Any, **kwargs: Any) -> Any:
        model_id = str(kwargs.get("modelId", ""))
        tracer = _hooks.tracer
        if args or tracer is None or not is_embedding(model_id):
            return call(*args, **kwargs)
        request = _request_body(kwargs.get("body"))
        with _own_span(tracer, "bedrock.invoke_model", model_id) as span:
            text = request.get("inputText") or request.get("texts")
            attributes: dict[str, Any] = {names.SPAN_KIND: names.EMBEDDING_KIND, names.OPERATION: names.EMBEDDINGS}
            if text:
                attributes[names.EMBEDDING_TEXT] = attributes[names.INPUT_VALUE] = _as_text(text)
            span.set_attributes(attributes)
            response = call(**kwargs)
            _record_embedding(span, response)
            return response

    return invoke_model


def _invoke_stream(call: Callable[..., Any]) -> Callable[..., Any]:
    def invoke_model_with_response_stream(*args: Any, **kwargs: Any) -> Any:
        model_id = str(kwargs.get("modelId", ""))
        tracer = _hooks.tracer
        request = _request_body(kwargs.get("body"))
        if args or tracer is None or follows_stream(model_id, request):
            return call(*args, **kwargs)
        span = tracer.start_span("bedrock.invoke_model_with_response_stream")
        try:
            span.set_attributes(_stream_request(model_id, request))
            with _current(span):
                response = call(**kwargs)
            response["body"] = FollowedStream(response["body"], span)
        except BaseException as error:
            _fail(span, error)
            span.end()
            raise
        return response

    return invoke_model_with_response_stream


class _own_span:
    """This module's span for one call, current while the call runs, with the instrumentor suppressed."""

    def __init__(self, tracer: Tracer, name: str, model_id: str) -> None:
        self._span = tracer.start_span(
            name, attributes={names.REQUEST_MODEL: model_id, names.PROVIDER_NAME: names.BEDROCK}
        )
        self._current = _current(self._span)

    def __enter__(self) -> Span:
        self._current.__enter__()
        return self._span

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        self._current.__exit__(exc_type, error, tb)
        if error is not None:
            _fail(self._span, error)
        self._span.end()


class _current:
    """``span`` current, and instrumentations suppressed (the Bedrock instrumentor's span would be a
    second record of the call)."""

    def __init__(self, span: Span) -> None:
        from opentelemetry import trace
        from opentelemetry.instrumentation.utils import suppress_instrumentation

        self._use = trace.use_span(span, end_on_exit=False, record_exception=False, set_status_on_exception=False)
        self._suppress = suppress_instrumentation()

    def __enter__(self) -> None:
        self._use.__enter__()
        self._suppress.__enter__()

    def __exit__(self, exc_type: Any, error: BaseException | None, tb: Any) -> None:
        self._suppress.__exit__(exc_type, error, tb)
        self._use.__exit__(exc_type, error, tb)


class FollowedStream:
    """A response's event stream that ends ``span`` with it: read to its end, closed, let go of (an
    iteration dropped before its end), or failed. Every other attribute is the stream's own."""

    def __init__(self, stream: Any, span: Span) -> None:
        self._stream = stream
        self._span = span
        self._parts: list[str] = []
        self._finish: str | None = None
        self._metrics: Mapping[str, Any] = {}

    def __iter__(self) -> Iterator[Any]:
        try:
            for event in self._stream:
                self._read(event)
                yield event
        except GeneratorExit:  # the reader let go of the iteration: the call ends with what was read
            self._end()
            raise
        except BaseException as error:
            _fail(self._span, error)
            self._end()
            raise
        self._end()

    def close(self) -> None:
        try:
            self._stream.close()
        finally:
            self._end()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

    def _read(self, event: Mapping[str, Any]) -> None:
        try:
            chunk = json.loads(event["chunk"]["bytes"]) if "chunk" in event else None
        except Exception:
            return
        if not isinstance(chunk, dict):
            return
        text = chunk_text(chunk)
        if text:
            self._parts.append(text)
        finish = next((chunk[key] for key in FINISH_KEYS if chunk.get(key)), None)
        if finish:
            self._finish = str(finish)
        metrics = chunk.get(INVOCATION_METRICS)
        if isinstance(metrics, dict):
            self._metrics = metrics

    def _end(self) -> None:
        span = self._span
        if not span.is_recording():
            return
        attributes: dict[str, Any] = {names.OUTPUT_VALUE: "".join(self._parts)}
        if self._finish:
            attributes[names.FINISH_REASON] = self._finish
        for ours, theirs in ((names.PROMPT_TOKENS, "inputTokenCount"), (names.COMPLETION_TOKENS, "outputTokenCount")):
            if isinstance(self._metrics.get(theirs), int):
                attributes[ours] = self._metrics[theirs]
        span.set_attributes(attributes)
        span.end()


def chunk_text(chunk: Mapping[str, Any]) -> str:
    """The text one streamed chunk adds, whichever model family wrote it.

    >>> chunk_text({"completion": " Hello", "stop_reason": None}), chunk_text({"outputs": [{"text": "Hi"}]})
    (' Hello', 'Hi')
    """
    for key in CHUNK_TEXT_KEYS:
        if isinstance(chunk.get(key), str):
            return str(chunk[key])
    for key in ("outputs", "generations"):  # Mistral's, Cohere's
        items = chunk.get(key)
        if isinstance(items, list):
            return "".join(str(item.get("text", "")) for item in items if isinstance(item, dict))
    return ""


def _stream_request(model_id: str, request: Mapping[str, Any]) -> dict[str, Any]:
    prompt = next((request[key] for key in PROMPT_KEYS if key in request), None)
    parameters = {key: value for key, value in request.items() if key not in PROMPT_KEYS}
    attributes: dict[str, Any] = {
        names.SPAN_KIND: names.LLM_KIND,
        names.REQUEST_MODEL: model_id,
        names.PROVIDER_NAME: names.BEDROCK,
        names.INVOCATION_PARAMETERS: json.dumps(parameters, default=str),
    }
    if prompt is not None:
        attributes[names.INPUT_VALUE] = _as_text(prompt)
    return attributes


def _record_embedding(span: Span, response: Any) -> None:
    """The embedding's token count and dimension from the response body, which is put back readable."""
    try:
        body = response["body"]
        data = body.read()
        response["body"] = type(body)(io.BytesIO(data), len(data))
        document = json.loads(data)
    except Exception:
        return
    attributes: dict[str, Any] = {}
    vector = document.get("embedding")
    if vector is None and isinstance(document.get("embeddings"), list) and document["embeddings"]:
        vector = document["embeddings"][0]
    if isinstance(vector, list):
        attributes[names.EMBEDDING_DIMENSIONS] = len(vector)
    if isinstance(document.get("inputTextTokenCount"), int):
        attributes[names.PROMPT_TOKENS] = document["inputTextTokenCount"]
    span.set_attributes(attributes)


def _request_body(body: object) -> dict[str, Any]:
    """The request's JSON body, when it is text or bytes (a file-like body is left unread)."""
    if isinstance(body, str | bytes | bytearray):
        try:
            document = json.loads(body)
        except ValueError:
            return {}
        return document if isinstance(document, dict) else {}
    return {}


def _as_text(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _fail(span: Span, error: BaseException) -> None:
    from opentelemetry.trace import Status, StatusCode

    if span.is_recording():
        span.record_exception(error)
        span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
