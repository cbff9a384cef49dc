"""`make demo`: the example handlers from handlers/ run like Lambda runs them, and what HoneyHive got.

Through the local Lambda emulator (the real runtime client, a cold start, warm starts, a freeze
between invocations): handlers/chat.py new over API Gateway, then linked by the session id the
response carried, then failing, then with a bad session id; handlers/plain.py, undecorated, traced
through the zero-code handler redirect. With no HH_API_KEY set, everything goes to an embedded dev
receiver on a loopback port and the session trees it received are printed; with HH_API_KEY set, the
same runs against HoneyHive.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from honeyhive_serverless import variables, wire
from honeyhive_serverless_dev.emulator import InvocationResult, LambdaEmulator
from honeyhive_serverless_dev.receiver import DevReceiver

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def _show(label: str, result: InvocationResult) -> None:
    start = f"cold (init {result.init_ms:.0f} ms)" if result.cold and result.init_ms else "warm"
    error = result.error or {}
    outcome = json.dumps(result.payload)[:60] if result.ok else f"{error.get('errorType')}: {error.get('errorMessage')}"
    headers = result.payload.get("headers", {}) if isinstance(result.payload, dict) else {}
    session = f"  {wire.SESSION_HEADER}={headers[wire.SESSION_HEADER]}" if wire.SESSION_HEADER in headers else ""
    print(f"  {label:<36} {start:<18} {result.duration_ms:6.1f} ms  {outcome}{session}")


def _api_gateway(question: str) -> dict[str, Any]:
    return {
        "httpMethod": "POST",
        "path": "/chat",
        "requestContext": {"stage": "prod", "requestId": "demo"},
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"question": question}),
    }


def main() -> int:
    receiver = None
    env = {key: value for key, value in os.environ.items() if key.startswith("HH_")}
    if not env.get(variables.API_KEY):
        receiver = DevReceiver().start()
        env.update({variables.API_URL: receiver.url, variables.API_KEY: "local-dev-key"})
        print(f"No {variables.API_KEY}: sending to the embedded dev receiver at {receiver.url}\n")
    env.setdefault(variables.PROJECT, "honeyhive-serverless-demo")
    chat = LambdaEmulator("chat.handler", task_root=HANDLERS, env=env, function_name="demo-chat")
    plain = LambdaEmulator(
        variables.REDIRECT_HANDLER,
        task_root=HANDLERS,
        env={**env, variables.LAMBDA_HANDLER: "plain.handler"},
        function_name="demo-plain",
    )
    try:
        chat.start()
        plain.start()
        print("handlers/chat.py through the Lambda emulator (frozen between invocations):")
        first = chat.invoke(_api_gateway("What is a cold start?"))
        _show("1 API Gateway, new session", first)
        headers = first.payload.get("headers", {}) if isinstance(first.payload, dict) else {}
        linked = {"question": "And a warm one?", "session_id": headers.get(wire.SESSION_HEADER)}
        _show("2 linked by the returned session id", chat.invoke(linked))
        _show("3 the handler raises", chat.invoke({"question": "fail"}))
        _show("4 bad session id: a new session", chat.invoke({"question": "Bad id?", "session_id": "nope"}))
        print("\nhandlers/plain.py, undecorated, through the zero-code redirect:")
        _show("5 no code change", plain.invoke({"hello": "world"}))
        if receiver is not None:
            print("\nWhat the receiver got, session by session:\n")
            print(receiver.render_sessions())
    finally:
        chat.stop()
        plain.stop()
        if receiver is not None:
            receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
