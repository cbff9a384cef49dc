"""Trace, span and session ids from ``os.urandom``; and the one trace of a durable execution.

OpenTelemetry's default generator uses ``random``, whose state a seeded program or a SnapStart
snapshot shares across sandboxes; the kernel's entropy pool is never restored from a snapshot.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from contextvars import ContextVar

from opentelemetry.sdk.trace.id_generator import IdGenerator

#: The trace id a span without a parent, started in this context, gets instead of a random one.
_root_trace_id: ContextVar[int | None] = ContextVar("honeyhive_serverless_root_trace_id", default=None)


class UrandomIdGenerator(IdGenerator):
    """Random, never-zero ids straight from the kernel; a root span's trace id is the one
    :func:`roots_in_trace` names, where it names one."""

    def generate_span_id(self) -> int:
        return _nonzero(8)

    def generate_trace_id(self) -> int:
        return _root_trace_id.get() or _nonzero(16)


def roots_in_trace(trace_id: int | None) -> AbstractContextManager[object]:
    """Within: a span started without a parent is in trace ``trace_id`` (None: a random one, as ever).
    OpenTelemetry asks the id generator for a trace id only for such a span; a child has its parent's."""
    return nullcontext() if trace_id is None else _roots_in(trace_id)


@contextmanager
def _roots_in(trace_id: int) -> Iterator[None]:
    token = _root_trace_id.set(trace_id)
    try:
        yield
    finally:
        _root_trace_id.reset(token)


def durable_execution_trace_id(execution_arn: str) -> int:
    """The trace of a Lambda durable execution: the same in each of its invocations, as its ARN is
    (``arn:...:function:NAME:VER/durable-execution/<name>/<id>``, an execution's own); 128 bits of a
    BLAKE2b hash of it, never zero.

    >>> format(durable_execution_trace_id("arn:aws:lambda:us-east-1:1:function:f:1/durable-execution/n/1"), "032x")
    'e97032a33dd1b6d49ad3e35ff5afbb48'
    """
    import hashlib  # on the durable path only: no other function's cold start pays for it

    digest = hashlib.blake2b(execution_arn.encode(), digest_size=16, person=b"hh-durable-trace").digest()
    return int.from_bytes(digest, "big") or 1


def _nonzero(size: int) -> int:
    while True:
        value = int.from_bytes(os.urandom(size), "big")
        if value:
            return value


def new_session_id() -> str:
    """A HoneyHive session id (a UUID4; ``uuid.uuid4`` reads ``os.urandom``)."""
    return str(uuid.uuid4())
