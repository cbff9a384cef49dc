"""An extension thread: registered while the module is imported (the init phase), then a thread that
takes events, "works" WORK_S after each INVOKE before asking for the next one, and logs everything to
the JSON-lines file named by EXT_LOG. It registers for INVOKE only, as an internal extension must, or
also for SHUTDOWN under EXT_NAME when a layer's extensions/EXT_NAME file makes it count as external."""

from __future__ import annotations

import http.client
import json
import os
import signal
import threading
import time
from typing import Any

WORK_S = 0.1
API = os.environ["AWS_LAMBDA_RUNTIME_API"]
LOG = os.environ["EXT_LOG"]
REGISTER = "/2020-01-01/extension/register"


def _record(**fields: Any) -> None:
    with open(LOG, "a", encoding="utf-8") as log:
        log.write(json.dumps(fields) + "\n")


def _register(name: str, events: list[str]) -> tuple[int, str | None]:
    connection = http.client.HTTPConnection(API)
    body = json.dumps({"events": events})
    connection.request("POST", REGISTER, body, {"Lambda-Extension-Name": name})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response.status, response.getheader("Lambda-Extension-Identifier")


def _loop(identifier: str) -> None:
    connection = http.client.HTTPConnection(API)  # kept alive across events, as extensions do
    while True:
        connection.request(
            "GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": identifier}
        )
        event = json.loads(connection.getresponse().read())
        received_at = time.monotonic()
        if event["eventType"] == "INVOKE":
            _record(event="INVOKE", request_id=event["requestId"], deadline_ms=event["deadlineMs"], at=received_at)
            time.sleep(WORK_S)
            _record(event="done", request_id=event["requestId"], at=time.monotonic())
        else:
            _record(event=event["eventType"], reason=event.get("shutdownReason"), at=received_at)


# Lambda sends SIGTERM to the runtime at shutdown when an extension is registered. A Python handler keeps
# the process alive for the SHUTDOWN event (on 3.11 the main thread is blocked in the client, so it never
# even runs).
signal.signal(signal.SIGTERM, lambda signum, frame: _record(event="SIGTERM"))
_NAME = os.environ.get("EXT_NAME")
_status, _identifier = _register(_NAME or "test-extension", ["INVOKE", "SHUTDOWN"] if _NAME else ["INVOKE"])
if _status != 200 or not _identifier:
    raise RuntimeError(f"extension registration failed: {_status}")
threading.Thread(target=_loop, args=(_identifier,), daemon=True).start()


def handler(event: Any, context: Any) -> dict[str, Any]:
    """Answers at once; with ``register_late`` it first tries to register another extension."""
    if event.get("register_late"):
        return {"late_status": _register("too-late", ["INVOKE"])[0]}
    if event.get("register_shutdown"):
        return {"shutdown_status": _register("internal-shutdown", ["INVOKE", "SHUTDOWN"])[0]}
    return {"pid": os.getpid()}
