"""A function that calls OpenAI with the official client, with no tracing code at all, for the
``HH_INSTRUMENTORS`` tests: ``llm.handler`` behind the zero-code redirect (``llm_decorated`` has the
same work under ``@with_honeyhive_session``). The client reads ``OPENAI_BASE_URL`` (a fake server on
loopback) and ``OPENAI_API_KEY`` from the function's environment.

The event says what to do: ``{"stream": true, "read": n}`` streams the completion and reads ``n``
chunks of it (all when absent) before returning; ``"keep": true`` also keeps the unfinished stream
alive after the handler returns, as a handler that hands it to something else would.
"""

from __future__ import annotations

from typing import Any

from openai import OpenAI

client = OpenAI()
_kept: list[Any] = []


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    messages: Any = [{"role": "user", "content": str(event.get("prompt", "Say hello"))}]
    if event.get("stream"):
        stream = client.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True)
        limit = event.get("read")
        text = []
        for index, chunk in enumerate(stream):
            text.append(chunk.choices[0].delta.content or "" if chunk.choices else "")
            if limit is not None and index + 1 >= int(limit):
                break
        if event.get("keep"):
            _kept.append(stream)
        reply = "".join(text)
    else:
        completion = client.chat.completions.create(model="gpt-4o-mini", messages=messages)
        reply = completion.choices[0].message.content or ""
    return {"reply": reply}
