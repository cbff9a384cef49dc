"""One chat completion with the official ``openai`` client (against the bench's fake OpenAI server), in
a decorated handler: the cold start of an LLM function, with ``HH_INSTRUMENTORS=openai`` and without."""

from __future__ import annotations

from typing import Any

from openai import OpenAI

from honeyhive_serverless import with_honeyhive_session

client = OpenAI()


@with_honeyhive_session(capture_event=False, capture_response=False)
def handler(event: Any, context: Any) -> dict[str, Any]:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    return {"statusCode": 200, "body": completion.choices[0].message.content or ""}
