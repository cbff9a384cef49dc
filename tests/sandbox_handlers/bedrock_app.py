"""A function that calls Amazon Bedrock with boto3's ``bedrock-runtime`` client, with no tracing code: the
event names the call (``invoke_model``, ``converse``, ``converse_stream``, the two model-stream shapes,
``embed``), and the handler returns the model's text; ``"read": n`` reads only n chunks of the older
model's stream and leaves the rest unread at return. botocore reads the endpoint from
``AWS_ENDPOINT_URL_BEDROCK_RUNTIME`` (a fake Bedrock runtime on loopback in the tests).
"""

from __future__ import annotations

import itertools
import json
from typing import Any

import boto3

CLAUDE_3 = "anthropic.claude-3-sonnet-20240229-v1:0"
CLAUDE_2 = "anthropic.claude-v2"
TITAN_EMBED = "amazon.titan-embed-text-v1"

client = boto3.client("bedrock-runtime")


def _messages(prompt: str) -> str:
    return json.dumps(
        {
            "anthropic_version": "bedrock-2023-05-31",
            "max_tokens": 200,
            "messages": [{"role": "user", "content": prompt}],
        }
    )


def _converse_messages(prompt: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": [{"text": prompt}]}]


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    prompt = str(event.get("prompt", "Say hello"))
    call = event.get("call", "invoke_model")
    if call == "invoke_model":
        document = json.loads(client.invoke_model(modelId=CLAUDE_3, body=_messages(prompt))["body"].read())
        reply = document["content"][0]["text"]
    elif call == "converse":
        response = client.converse(modelId=CLAUDE_3, messages=_converse_messages(prompt))
        reply = response["output"]["message"]["content"][0]["text"]
    elif call == "converse_stream":
        stream = client.converse_stream(modelId=CLAUDE_3, messages=_converse_messages(prompt))["stream"]
        reply = "".join(part["contentBlockDelta"]["delta"]["text"] for part in stream if "contentBlockDelta" in part)
    elif call == "messages_stream":
        body = client.invoke_model_with_response_stream(modelId=CLAUDE_3, body=_messages(prompt))["body"]
        chunks = (json.loads(message["chunk"]["bytes"]) for message in body)
        reply = "".join(chunk.get("delta", {}).get("text", "") for chunk in chunks)
    elif call == "completion_stream":
        request = json.dumps({"prompt": f"\n\nHuman: {prompt}\n\nAssistant:", "max_tokens_to_sample": 200})
        body = client.invoke_model_with_response_stream(modelId=CLAUDE_2, body=request)["body"]
        read = itertools.islice(body, event.get("read"))
        reply = "".join(json.loads(message["chunk"]["bytes"])["completion"] for message in read).strip()
    elif call == "embed":
        document = json.loads(
            client.invoke_model(modelId=TITAN_EMBED, body=json.dumps({"inputText": prompt}))["body"].read()
        )
        reply = f"{len(document['embedding'])} dimensions"
    else:
        raise ValueError(f"no call {call!r}")
    return {"reply": reply}
