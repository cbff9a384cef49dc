"""A response body whose end is an event: the request's spans leave before its last byte does.

A WSGI server iterates the body after the app has returned, and writes the response's end as soon as
the iteration stops: on Cloud Run and Cloud Functions the CPU is throttled from then on, and under the
Lambda Web Adapter the sandbox may freeze. So the end of the iteration, not ``close()`` (called after
the response is complete), is where the request's telemetry is sent. Each step runs in the request's
own context, so spans made while the body streams belong to the request, and the server's thread never
sees the request's context at all.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable, Iterator
from typing import Any

#: Called once as the body ends: with None when it was read to its end, with the error that ended it.
OnEnd = Callable[[BaseException | None], None]


class BodyEnd:
    """An iterable response body that calls ``on_end`` once, in ``context``, when it stops: before its
    last chunk leaves when the response says its length (the client has it all with that chunk), else
    as it runs out (before the server learns it has, and writes the chunked body's end); or when it
    fails, or the server closes it early."""

    def __init__(
        self,
        body: Iterable[Any],
        context: contextvars.Context,
        on_end: OnEnd,
        content_length: Callable[[], int | None] = lambda: None,
    ) -> None:
        self._body = body
        self._iterator: Iterator[Any] | None = None
        self._context = context
        self._on_end: OnEnd | None = on_end
        self._content_length = content_length
        self._sent = 0

    def __iter__(self) -> BodyEnd:
        return self

    def __next__(self) -> Any:
        return self._context.run(self._step)

    def _step(self) -> Any:
        try:
            if self._iterator is None:
                self._iterator = iter(self._body)
            chunk = next(self._iterator)
        except StopIteration:
            self._end(None)
            raise
        except BaseException as error:
            self._end(error)
            raise
        self._sent += len(chunk)
        length = self._content_length()
        if length is not None and self._sent >= length:
            self._end(None)
        return chunk

    def close(self) -> None:
        """The server is done with the body (WSGI's ``close``): the body's own close, then the end if the
        body was not read to it (the client went away)."""
        try:
            close = getattr(self._body, "close", None)
            if close is not None:
                self._context.run(close)
        finally:
            if self._on_end is not None:
                self._context.run(self._end, None)

    def _end(self, error: BaseException | None) -> None:
        on_end, self._on_end = self._on_end, None
        if on_end is not None:
            on_end(error)
