"""An undecorated handler: traced with no code change through the layer's handler redirect
(``honeyhive_serverless.handler.handler`` with ``HH_LAMBDA_HANDLER=plain.handler``) or the exec wrapper.
"""

from __future__ import annotations

from typing import Any


def handler(event: Any, context: Any) -> dict[str, Any]:
    return {"echo": event}
