"""`make demo`: the example handler from handlers/ traced cold and warm, linked, and failing.

With no HH_API_KEY set, everything goes to an embedded dev receiver on a loopback port and the
session trees it received are printed. With HH_API_KEY set, the same runs against HoneyHive.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from .lambda_context import LambdaContext
from .receiver import DevReceiver

HANDLERS = Path(__file__).resolve().parents[2] / "handlers"


def _invoke(handler: Any, label: str, event: Any) -> Any:
    context = LambdaContext(function_name="demo-chat")
    try:
        result = handler(event, context)
    except Exception as error:
        print(f"  {label:<34} raised {type(error).__name__}: {error}")
        return None
    headers = result.get("headers", {}) if isinstance(result, dict) else {}
    session = f"  X-Session-ID={headers['X-Session-ID']}" if "X-Session-ID" in headers else ""
    print(f"  {label:<34} -> {json.dumps(result)[:60]}{session}")
    return result


def main() -> int:
    receiver = None
    if not os.environ.get("HH_API_KEY"):
        receiver = DevReceiver().start()
        os.environ.update({"HH_API_URL": receiver.url, "HH_API_KEY": "local-dev-key"})
        print(f"No HH_API_KEY: using the embedded dev receiver at {receiver.url}\n")
    os.environ.setdefault("HH_PROJECT", "honeyhive-serverless-demo")
    os.environ.setdefault("AWS_LAMBDA_FUNCTION_NAME", "demo-chat")
    os.environ.setdefault("AWS_REGION", "us-east-1")
    sys.path.insert(0, str(HANDLERS))
    try:
        from chat import handler

        print("Invocations of handlers/chat.py:")
        first = _invoke(
            handler,
            "1 cold, API Gateway, new session",
            {
                "httpMethod": "POST",
                "requestContext": {"stage": "prod"},
                "headers": {"content-type": "application/json"},
                "body": json.dumps({"question": "What is a cold start?"}),
            },
        )
        session_id = (first or {}).get("headers", {}).get("X-Session-ID") or str(uuid.uuid4())
        _invoke(handler, "2 warm, linked by session_id", {"question": "And a warm one?", "session_id": session_id})
        _invoke(handler, "3 warm, the handler raises", {"question": "fail"})
        _invoke(handler, "4 bad session id: new session", {"question": "Bad id?", "session_id": "not-a-uuid"})
        if receiver is not None:
            print("\nWhat the receiver got:\n")
            print(receiver.render_sessions())
    finally:
        if receiver is not None:
            receiver.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
