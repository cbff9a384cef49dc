"""Proactive initialisation as the runtime process sees it: init done, the first event >1 s later.

The emulator hands the first event over as soon as the init phase ends, and Lambda ends it only when
the runtime and every extension have asked for their next event. So an internal extension registers
while this module is imported and waits ``HOLD_S`` after the (traced) handler is ready before it asks
for its first event: the runtime then sits in ``GET /next`` for that long, as in a sandbox Lambda
initialised ahead of demand.
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import time

from suite import handler

__all__ = ["handler"]

HOLD_S = 1.5
API = os.environ["AWS_LAMBDA_RUNTIME_API"]


def _register() -> str:
    connection = http.client.HTTPConnection(API)
    body = json.dumps({"events": ["INVOKE"]})
    connection.request("POST", "/2020-01-01/extension/register", body, {"Lambda-Extension-Name": "init-holder"})
    response = connection.getresponse()
    response.read()
    connection.close()
    identifier = response.getheader("Lambda-Extension-Identifier")
    if response.status != 200 or not identifier:
        raise RuntimeError(f"extension registration failed: HTTP {response.status}")
    return identifier


def _loop(identifier: str) -> None:
    time.sleep(HOLD_S)  # the platform's idle time between init and the first event
    connection = http.client.HTTPConnection(API)
    while True:
        connection.request(
            "GET", "/2020-01-01/extension/event/next", headers={"Lambda-Extension-Identifier": identifier}
        )
        connection.getresponse().read()


threading.Thread(target=_loop, args=(_register(),), daemon=True).start()
