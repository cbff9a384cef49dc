"""A Lambda context object for running handlers in-process (tests, the demo): the attributes and the
``get_remaining_time_in_millis`` the real runtime client gives a handler."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LambdaContext:
    function_name: str = "demo-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: str = "512"
    timeout_s: float = 30.0
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    region: str = "us-east-1"
    log_group_name: str = "/aws/lambda/demo-function"
    log_stream_name: str = "local"
    #: Set in tenant isolation mode (awslambdaric 4's ``context.tenant_id``).
    tenant_id: str | None = None
    #: A direct invoke's client context (its ``custom`` carries a caller's trace context), as a mapping.
    client_context: Any = None
    _started: float = field(default_factory=time.monotonic)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._started + self.timeout_s - time.monotonic()) * 1000))
