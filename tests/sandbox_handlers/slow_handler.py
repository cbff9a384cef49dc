"""A decorated handler whose work takes ``work_ms`` (a sleep: here the workload itself), for the
connection-lifecycle tests: a connection the server closed is replaced beside it."""

from __future__ import annotations

import time
from typing import Any

from honeyhive_serverless import with_honeyhive_session


@with_honeyhive_session
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    time.sleep(float(event.get("work_ms", 300)) / 1000)
    return {"done": True}
