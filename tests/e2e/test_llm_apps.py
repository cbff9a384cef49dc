"""Real LLM apps under the real runtime client, with and without the layer ``hh-serverless build-layer``
builds (issue 28): small apps of our own on the real library stacks, unmodified, run behind the
zero-code redirect with ``HH_INSTRUMENTORS=all``, against local stand-ins for Bedrock and OpenAI.

- ``bedrock_app``: boto3's ``bedrock-runtime`` client, every call shape (InvokeModel, Converse, the two
  streaming calls, an older model's stream, embeddings).
- ``langchain_rag``: a LangChain retrieval chat (``langchain-aws``'s ``BedrockEmbeddings`` and
  ``ChatBedrock``, LangChain's in-memory vector store) behind API Gateway, called with a bearer token
  and a cookie.
- ``llm``: the official ``openai`` client.

The apps' libraries come in a layer of their own (built from the versions this environment tests
with), attached before the HoneyHive layer as ``hh-serverless instrument`` attaches it. What is judged:
each app answers exactly as without the layer (but for the session's response header); each invocation
sends one OTLP request, in which each model call is one model event with its tokens, under the run that
made it.
"""

from __future__ import annotations

import importlib.metadata
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import API_KEY, RUNTIME_CACHE, StartLayered
from honeyhive_serverless import variables
from honeyhive_serverless.scope import OPEN_AT_RETURN
from honeyhive_serverless.wire import SESSION_HEADER
from honeyhive_serverless_dev.emulator import LambdaEmulator
from honeyhive_serverless_dev.fake_bedrock import INPUT_TOKENS, OUTPUT_TOKENS, FakeBedrock
from honeyhive_serverless_dev.fake_openai import FakeOpenAI
from honeyhive_serverless_dev.layer_build import LayerInfo, build_dependency_layer
from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.otlp import ReceivedSpan

pytestmark = pytest.mark.timeout(900)

#: The apps' own libraries, at the versions this environment tests with.
APP_REQUIREMENTS = [f"{name}=={importlib.metadata.version(name)}" for name in ("langchain-aws", "openai")]
BEDROCK_CALLS = ("invoke_model", "converse", "converse_stream", "messages_stream", "completion_stream", "embed")
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
COOKIE = "session=s3cr3t-cookie-value"


@pytest.fixture(scope="module")
def app_layer(one_layer: LayerInfo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("app-layer") / "llm-libraries.zip"
    build_dependency_layer(APP_REQUIREMENTS, one_layer.python, "x86_64", path, cache_dir=RUNTIME_CACHE / "pip")
    return path


@pytest.fixture
def providers() -> Iterator[dict[str, str]]:
    """The stand-ins' endpoints, in the variables the unmodified clients read."""
    with FakeBedrock() as bedrock, FakeOpenAI() as openai:
        yield {**bedrock.endpoint_variables, "OPENAI_BASE_URL": openai.base_url, "OPENAI_API_KEY": "sk-fake"}


Deploy = Callable[[str], tuple[LambdaEmulator, LambdaEmulator]]


@pytest.fixture
def deploy(
    one_layer: LayerInfo,
    app_layer: Path,
    receiver: DevReceiver,
    providers: dict[str, str],
    start_layered: StartLayered,
) -> Deploy:
    """A handler deployed twice: the app alone, and with the HoneyHive layer attached after its own."""

    def deployed(handler: str) -> tuple[LambdaEmulator, LambdaEmulator]:
        alone = start_layered(handler, [app_layer], env=providers)
        traced = {
            **providers,
            variables.LAMBDA_HANDLER: handler,
            variables.API_URL: receiver.url,
            variables.API_KEY: API_KEY,
            variables.PROJECT: "llm-apps",
            "HH_INSTRUMENTORS": "all",
        }
        layered = start_layered(variables.REDIRECT_HANDLER, [app_layer, one_layer.path], env=traced)
        return alone, layered

    return deployed


def invoke_both(
    alone: LambdaEmulator, layered: LambdaEmulator, receiver: DevReceiver, event: dict[str, Any]
) -> tuple[Any, list[ReceivedSpan]]:
    """The same event to both; the payload (the same from each), and the spans of the one OTLP request
    the traced invocation sent."""
    before = alone.invoke(event)
    sent = len(receiver.otlp_requests())
    after = layered.invoke(event)
    assert before.ok and after.ok, (before.error, after.error, layered.logs[-3000:])
    assert _without_session_header(after.payload) == before.payload
    assert len(receiver.otlp_requests()) == sent + 1, "one OTLP request per invocation"
    return after.payload, [span for span in receiver.spans if span.request_index == sent]


def _without_session_header(payload: Any) -> Any:
    """An HTTP response as the app made it: the wrapper adds the session's header (``HH_RETURN_SESSION_ID``)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("headers"), dict):
        return payload
    headers = {name: value for name, value in payload["headers"].items() if name != SESSION_HEADER}
    return {**payload, "headers": headers} if headers else {k: v for k, v in payload.items() if k != "headers"}


def models(spans: list[ReceivedSpan]) -> list[ReceivedSpan]:
    return [span for span in spans if span.attributes.get("honeyhive_event_type") == "model"]


def test_every_bedrock_call_shape_is_one_counted_model_event_and_answers_as_without_the_layer(
    deploy: Deploy, receiver: DevReceiver
) -> None:
    alone, layered = deploy("bedrock_app.handler")
    for call in BEDROCK_CALLS:
        payload, spans = invoke_both(alone, layered, receiver, {"call": call, "prompt": "hi"})
        [model] = models(spans)
        [invocation] = [span for span in spans if "faas.invocation_id" in span.attributes]
        assert model.parent_span_id == invocation.span_id, call
        attributes = model.attributes
        assert attributes["gen_ai.provider.name"] == "aws.bedrock", call
        assert attributes["gen_ai.usage.input_tokens"] > 0, call
        if call == "embed":
            assert payload == {"reply": "8 dimensions"}
            assert attributes["gen_ai.operation.name"] == "embeddings"
            assert attributes["embedding.embeddings.0.embedding.text"] == "hi"
        else:
            assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
                INPUT_TOKENS,
                OUTPUT_TOKENS,
            ), call
        if call == "completion_stream":  # the older model's stream: its span holds what was streamed
            assert attributes["output.value"].strip() == payload["reply"]
            assert attributes["gen_ai.request.model"] == "anthropic.claude-v2"
    # A stream read in part (its iteration let go of): the span ends with what was read, in that invocation.
    payload, spans = invoke_both(alone, layered, receiver, {"call": "completion_stream", "read": 2})
    [model] = models(spans)
    assert model.attributes["output.value"].strip() == payload["reply"] == "Hello from"
    assert model.status_code != "ERROR"
    # One never read by the return: its span ends there, as every span left open does.
    payload, spans = invoke_both(alone, layered, receiver, {"call": "completion_stream", "read": 0})
    [model] = models(spans)
    assert model.attributes[OPEN_AT_RETURN] is True


def test_a_langchain_rag_chat_counts_each_call_once_under_its_run_and_sends_no_credentials(
    deploy: Deploy, receiver: DevReceiver
) -> None:
    alone, layered = deploy("langchain_rag.handler")
    event = json.loads((Path(__file__).parents[1] / "events" / "apigw_rest_v1.json").read_text())
    event["headers"] = {**event.get("headers", {}), "Authorization": BEARER, "Cookie": COOKIE}
    event["body"] = json.dumps({"question": "What is a llama?"})

    invoke_both(alone, layered, receiver, event)  # the first builds the index: three embeddings more
    payload, spans = invoke_both(alone, layered, receiver, event)

    assert json.loads(payload["body"])["answer"]
    by_id = {span.span_id: span for span in spans}
    calls = models(spans)
    [chat] = [span for span in calls if span.attributes["gen_ai.operation.name"] == "chat"]
    [embedding] = [span for span in calls if span.attributes["gen_ai.operation.name"] == "embeddings"]
    assert len(calls) == 2
    assert chat.name == "ChatBedrock"
    assert by_id[chat.parent_span_id or ""].name == "RunnableSequence"
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == (
        INPUT_TOKENS,
        OUTPUT_TOKENS,
    )
    assert by_id[embedding.parent_span_id or ""].name == "VectorStoreRetriever"
    assert embedding.attributes["embedding.embeddings.0.embedding.text"] == "What is a llama?"
    sent = b"".join(request.body for request in receiver.requests)
    for secret in (BEARER.split()[1], "s3cr3t-cookie-value"):
        assert secret.encode() not in sent


def test_an_openai_app_gives_one_model_event_in_the_common_names(deploy: Deploy, receiver: DevReceiver) -> None:
    alone, layered = deploy("llm.handler")
    for event in ({"prompt": "hi"}, {"prompt": "hi", "stream": True}):
        _payload, spans = invoke_both(alone, layered, receiver, event)
        [model] = models(spans)
        assert model.attributes["gen_ai.provider.name"] == model.attributes["llm.provider"] == "openai"
        assert model.attributes["gen_ai.request.model"] == "gpt-4o-mini"
