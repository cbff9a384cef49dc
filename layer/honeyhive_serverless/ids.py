"""Trace, span and session ids from ``os.urandom``.

OpenTelemetry's default generator uses ``random``, whose state a seeded program or a SnapStart
snapshot shares across sandboxes; the kernel's entropy pool is never restored from a snapshot.
"""

from __future__ import annotations

import os
import uuid

from opentelemetry.sdk.trace.id_generator import IdGenerator


class UrandomIdGenerator(IdGenerator):
    """Random, never-zero ids straight from the kernel."""

    def generate_span_id(self) -> int:
        return _nonzero(8)

    def generate_trace_id(self) -> int:
        return _nonzero(16)


def _nonzero(size: int) -> int:
    while True:
        value = int.from_bytes(os.urandom(size), "big")
        if value:
            return value


def new_session_id() -> str:
    """A HoneyHive session id (a UUID4; ``uuid.uuid4`` reads ``os.urandom``)."""
    return str(uuid.uuid4())
