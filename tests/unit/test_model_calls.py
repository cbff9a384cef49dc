"""One model event per model call (issue 28), judged by what the receiver gets.

In process, with the real stacks: ``langchain-aws`` (``ChatBedrock``, ``ChatBedrockConverse``,
``BedrockEmbeddings``) and ``boto3``'s ``bedrock-runtime`` client against the fake Bedrock runtime on
loopback, traced by the real OpenInference LangChain and Bedrock instrumentors through
``HH_INSTRUMENTORS``; and the pure folding rule on spans made by hand, with a property over any tree.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from langchain_aws import BedrockEmbeddings, ChatBedrock, ChatBedrockConverse
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, Status, StatusCode

from conftest import make_tracer
from honeyhive_serverless import HoneyHiveTracer, trace
from honeyhive_serverless.export.model_calls import one_event_per_call
from honeyhive_serverless.genai.names import is_model_call
from honeyhive_serverless.tracer import reset_tracer
from honeyhive_serverless_dev.fake_bedrock import INPUT_TOKENS, OUTPUT_TOKENS, REPLY, FakeBedrock
from honeyhive_serverless_dev.receiver import DevReceiver
from honeyhive_serverless_dev.receiver.otlp import ReceivedSpan

CLAUDE_3 = "anthropic.claude-3-sonnet-20240229-v1:0"
CLAUDE_2 = "anthropic.claude-v2"
TITAN_EMBED = "amazon.titan-embed-text-v1"
MESSAGES_BODY = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 50,
    "messages": [{"role": "user", "content": "hi"}],
}
COMPLETION_BODY = {"prompt": "\n\nHuman: hi\n\nAssistant:", "max_tokens_to_sample": 50}


@pytest.fixture
def bedrock(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBedrock]:
    """The fake Bedrock runtime, where boto3 reads its endpoint, with credentials that reach nothing else."""
    with FakeBedrock() as api:
        environment = {**api.endpoint_variables, "AWS_DEFAULT_REGION": "us-east-1"}
        environment.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        yield api


@pytest.fixture
def tracer(receiver: DevReceiver, bedrock: FakeBedrock) -> Iterator[HoneyHiveTracer]:
    # Batch mode: what one flush sends is one request, as an invocation's spans are.
    yield make_tracer(receiver, export_mode="batch", instrumentors="bedrock,langchain")
    reset_tracer()


def _models(receiver: DevReceiver) -> list[ReceivedSpan]:
    return [span for span in receiver.spans if span.attributes.get("honeyhive_event_type") == "model"]


def _named(receiver: DevReceiver, name: str) -> ReceivedSpan:
    [span] = [span for span in receiver.spans if span.name == name]
    return span


def _assert_counted(span: ReceivedSpan, model: str = CLAUDE_3) -> None:
    attributes = span.attributes
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        INPUT_TOKENS,
        OUTPUT_TOKENS,
    )
    assert (attributes["llm.token_count.prompt"], attributes["llm.token_count.completion"]) == (
        INPUT_TOKENS,
        OUTPUT_TOKENS,
    )
    assert attributes["gen_ai.request.model"] == attributes["llm.model_name"] == model
    assert (attributes["gen_ai.provider.name"], attributes["llm.provider"]) == ("aws.bedrock", "aws")


# -- LangChain over Bedrock ----------------------------------------------------------------------


def test_a_langchain_chain_over_bedrock_gives_one_model_event_under_the_chain_with_tokens(
    tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    llm = ChatBedrock(model=CLAUDE_3, region="us-east-1")
    chain = ChatPromptTemplate.from_messages([("user", "{question}")]) | llm

    @trace(tracer=tracer, event_type="chain")
    def answer() -> str:
        return str(chain.invoke({"question": "hi"}).content)

    assert answer() == REPLY
    tracer.flush()
    [model] = _models(receiver)
    assert model.name == "ChatBedrock"  # the call as the application made it
    assert model.parent_span_id == _named(receiver, "RunnableSequence").span_id
    _assert_counted(model)
    assert model.attributes["gen_ai.operation.name"] == "chat"
    assert model.attributes["llm.output_messages.0.message.content"] == REPLY
    assert not [span for span in receiver.spans if span.name.startswith("bedrock.")]


@pytest.mark.parametrize("form", ["ChatBedrock", "ChatBedrockConverse"])
def test_a_model_called_directly_gives_one_model_event_under_its_caller(
    form: str, tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    llm: Any = ChatBedrock(model=CLAUDE_3, region="us-east-1")
    if form == "ChatBedrockConverse":
        llm = ChatBedrockConverse(model=CLAUDE_3, region_name="us-east-1")

    @trace(tracer=tracer, event_type="chain")
    def answer() -> str:
        return str(llm.invoke("hi").content)

    assert answer() == REPLY
    tracer.flush()
    [model] = _models(receiver)
    assert model.name == form
    assert model.parent_span_id == _named(receiver, "answer").span_id
    _assert_counted(model)


def test_an_embedding_is_one_embedding_event_with_its_input_under_the_run_that_made_it(
    tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    embeddings = BedrockEmbeddings(model_id=TITAN_EMBED, region_name="us-east-1")
    embed = RunnableLambda(embeddings.embed_query, name="embed_question")

    @trace(tracer=tracer, event_type="chain")
    def retrieve() -> int:
        return len(embed.invoke("what is a llama"))

    assert retrieve() == 8
    tracer.flush()
    [model] = _models(receiver)
    attributes = model.attributes
    assert model.parent_span_id == _named(receiver, "embed_question").span_id
    assert (attributes["gen_ai.operation.name"], attributes["openinference.span.kind"]) == ("embeddings", "EMBEDDING")
    assert attributes["embedding.embeddings.0.embedding.text"] == attributes["input.value"] == "what is a llama"
    assert attributes["gen_ai.request.model"] == TITAN_EMBED
    assert attributes["gen_ai.usage.input_tokens"] == 4
    assert attributes["gen_ai.embeddings.dimension.count"] == 8


def test_two_calls_under_a_model_span_of_the_users_stay_two(tracer: HoneyHiveTracer, receiver: DevReceiver) -> None:
    llm = ChatBedrock(model=CLAUDE_3, region="us-east-1")

    @trace(tracer=tracer, event_type="model")
    def ask_twice() -> str:
        return f"{llm.invoke('one').content} / {llm.invoke('two').content}"

    ask_twice()
    tracer.flush()
    outer = _named(receiver, "ask_twice")
    calls = [span for span in _models(receiver) if span.name == "ChatBedrock"]
    assert len(calls) == 2
    assert {span.parent_span_id for span in calls} == {outer.span_id}
    assert len(_models(receiver)) == 3


# -- boto3's bedrock-runtime, every call shape ----------------------------------------------------


def _read_stream(response: dict[str, Any]) -> str:
    return "".join(json.loads(event["chunk"]["bytes"]).get("completion", "") for event in response["body"])


CALLS: dict[str, Callable[[Any], str]] = {
    "invoke_model": lambda client: json.loads(
        client.invoke_model(modelId=CLAUDE_3, body=json.dumps(MESSAGES_BODY))["body"].read()
    )["content"][0]["text"],
    "converse": lambda client: client.converse(
        modelId=CLAUDE_3, messages=[{"role": "user", "content": [{"text": "hi"}]}]
    )["output"]["message"]["content"][0]["text"],
    "converse_stream": lambda client: "".join(
        event["contentBlockDelta"]["delta"]["text"]
        for event in client.converse_stream(modelId=CLAUDE_3, messages=[{"role": "user", "content": [{"text": "hi"}]}])[
            "stream"
        ]
        if "contentBlockDelta" in event
    ),
    "invoke_model_with_response_stream": lambda client: "".join(
        json.loads(event["chunk"]["bytes"]).get("delta", {}).get("text", "")
        for event in client.invoke_model_with_response_stream(modelId=CLAUDE_3, body=json.dumps(MESSAGES_BODY))["body"]
    ),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_each_bedrock_call_shape_is_one_counted_model_event_named_by_the_requested_model(
    call: str, tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    client = boto3.client("bedrock-runtime")
    assert CALLS[call](client) == REPLY
    tracer.flush()
    [model] = _models(receiver)
    _assert_counted(model)


def test_a_streamed_older_model_call_ends_with_its_stream_and_holds_the_streamed_output(
    tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    client = boto3.client("bedrock-runtime")
    response = client.invoke_model_with_response_stream(modelId=CLAUDE_2, body=json.dumps(COMPLETION_BODY))
    returned = time.time_ns()
    text = _read_stream(response)
    read = time.time_ns()
    tracer.flush()
    assert text == " " + REPLY
    [model] = _models(receiver)
    _assert_counted(model, CLAUDE_2)
    assert model.attributes["output.value"] == text
    assert model.attributes["input.value"] == COMPLETION_BODY["prompt"]
    assert model.attributes["gen_ai.operation.name"] == "text_completion"
    assert model.attributes["llm.finish_reason"] == "stop_sequence"
    assert returned <= model.end_ns <= read


def test_an_older_model_stream_closed_early_ends_at_close_with_what_was_read(
    tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    client = boto3.client("bedrock-runtime")
    stream = client.invoke_model_with_response_stream(modelId=CLAUDE_2, body=json.dumps(COMPLETION_BODY))["body"]
    first = json.loads(next(iter(stream))["chunk"]["bytes"])["completion"]
    stream.close()
    tracer.flush()
    [model] = _models(receiver)
    assert model.attributes["output.value"] == first == " Hello"
    assert "gen_ai.usage.output_tokens" not in model.attributes  # Bedrock counts in the last chunk only


def test_an_older_model_stream_let_go_of_ends_with_what_was_read_and_no_error(
    tracer: HoneyHiveTracer, receiver: DevReceiver
) -> None:
    client = boto3.client("bedrock-runtime")
    stream = client.invoke_model_with_response_stream(modelId=CLAUDE_2, body=json.dumps(COMPLETION_BODY))["body"]
    iteration = iter(stream)
    first = json.loads(next(iteration)["chunk"]["bytes"])["completion"]
    del iteration  # the generator is closed: the reader let go
    tracer.flush()
    [model] = _models(receiver)
    assert model.attributes["output.value"] == first
    assert model.status_code == "UNSET"


def test_the_hooks_come_off_with_the_instrumentors(tracer: HoneyHiveTracer, receiver: DevReceiver) -> None:
    import botocore.client

    reset_tracer()
    assert not hasattr(botocore.client.ClientCreator.create_client, "__wrapped__")
    client = boto3.client("bedrock-runtime")
    assert _read_stream(client.invoke_model_with_response_stream(modelId=CLAUDE_2, body=json.dumps(COMPLETION_BODY)))
    assert receiver.spans == []


# -- the folding rule, on spans made by hand ------------------------------------------------------

TRACE = 0xABC


def _span(
    span_id: int,
    parent: int | None,
    attributes: dict[str, Any],
    name: str = "span",
    status: Status | None = None,
) -> ReadableSpan:
    return ReadableSpan(
        name=name,
        context=SpanContext(TRACE, span_id, False),
        parent=SpanContext(TRACE, parent, False) if parent else None,
        attributes=attributes,
        status=status or Status(StatusCode.UNSET),
        start_time=span_id,
        end_time=span_id + 100,
    )


LLM = {"openinference.span.kind": "LLM"}


def _id(span: ReadableSpan) -> int:
    return span.context.span_id if span.context else 0


def test_an_inner_model_span_is_folded_into_its_outer_one_whose_children_it_takes_over() -> None:
    spans = [
        _span(1, None, {"honeyhive_event_type": "chain"}, "invocation"),
        _span(2, 1, {**LLM, "llm.token_count.prompt": 0, "llm.provider": "amazon_bedrock"}, "ChatBedrock"),
        _span(
            3,
            1,
            {**LLM, "llm.token_count.prompt": 9, "llm.provider": "aws"},
            "bedrock.invoke_model",
            Status(StatusCode.ERROR, "throttled"),
        ),
        _span(4, 3, {"http.method": "POST"}, "POST"),
    ]
    adopted = {3: spans[1].context}

    result = {span.context.span_id: span for span in one_event_per_call(spans, adopted)}

    assert sorted(result) == [1, 2, 4]
    kept = result[2]
    attributes = kept.attributes or {}
    assert kept.name == "ChatBedrock" and kept.parent is not None and kept.parent.span_id == 1
    assert attributes["llm.token_count.prompt"] == attributes["gen_ai.usage.input_tokens"] == 9
    assert attributes["gen_ai.provider.name"] == "aws.bedrock"
    assert kept.status.status_code is StatusCode.ERROR
    assert result[4].parent is not None and result[4].parent.span_id == 2


def test_spans_with_nothing_to_fold_or_name_are_returned_as_they_are() -> None:
    spans = [_span(1, None, {"honeyhive_event_type": "chain"}), _span(2, 1, {"http.method": "GET"})]
    assert one_event_per_call(spans, {}) is spans


@st.composite
def _trees(draw: st.DrawFn) -> tuple[list[ReadableSpan], dict[int, SpanContext]]:
    count = draw(st.integers(1, 12))
    spans = []
    for span_id in range(1, count + 1):
        parent = draw(st.integers(0, span_id - 1))
        model = draw(st.booleans())
        spans.append(_span(span_id, parent or None, LLM if model else {"kind": "other"}))
    adopted = {}
    for span in spans:
        if span.context.span_id > 2 and draw(st.booleans()):
            adopted[span.context.span_id] = SpanContext(TRACE, draw(st.integers(1, span.context.span_id - 1)), False)
    return spans, adopted


@settings(max_examples=200, deadline=None)
@given(_trees())
def test_folding_leaves_no_span_without_its_parent_and_no_model_span_with_one_model_child(
    tree: tuple[list[ReadableSpan], dict[int, SpanContext]],
) -> None:
    spans, adopted = tree
    result = one_event_per_call(spans, adopted)
    kept = {span.context.span_id: span for span in result}
    for span in result:
        assert span.parent is None or span.parent.span_id in kept  # nothing orphaned
    models = {span_id for span_id, span in kept.items() if is_model_call(span.attributes or {})}
    for span_id in models:
        model_children = [
            span for span in result if span.parent and span.parent.span_id == span_id and _id(span) in models
        ]
        assert len(model_children) != 1
    non_models = [span for span in spans if (span.attributes or {}).get("kind") == "other"]
    assert all(_id(span) in kept for span in non_models)  # only model spans are ever folded
