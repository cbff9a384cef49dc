"""``@trace``: one span per call of a sync, async, generator or async-generator function.

>>> from honeyhive_serverless import trace
>>> @trace(event_type="tool")
... def add(a, b):
...     return a + b
>>> add(1, 2)
3

Also the SDK's ``@atrace`` (the same decorator) and ``@trace_class`` (every public method traced).
"""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import AsyncGenerator, Callable, Generator, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast, overload

from ._log import logger
from .attributes import NAMESPACES, enrichment_attributes, flatten, record_error

if TYPE_CHECKING:
    from opentelemetry.trace import Span

    from .tracer import HoneyHiveTracer

F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=type)

_SKIPPED_PARAMETERS = ("self", "cls")


class _Call:
    """What one traced call needs: the span, made current only while the function's own code runs."""

    def __init__(self, options: _Options, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        self.options = options
        self.span: Span | None = None
        self.started = time.perf_counter()
        try:
            # Deferred to the first traced call, so decorating at import costs no OpenTelemetry import
            # (the SDK is some 100 ms of a cold start), and a tracing stack that fails to import
            # leaves the function running untraced. The later calls find both already loaded.
            from opentelemetry import trace as otel_trace

            from .tracer import current_tracer

            tracer = options.tracer or current_tracer()
            attributes: dict[str, Any] = {
                **options.fixed_attributes,
                "honeyhive_event_type": options.event_type,
                "honeyhive_event_name": options.name,
            }
            if options.capture_inputs:
                attributes.update(options.inputs(args, kwargs))
            self.span = tracer.otel_tracer.start_span(options.name, attributes=attributes)
            self.context = otel_trace.set_span_in_context(self.span)
        except Exception:
            logger.exception("honeyhive: could not start a span for %s", options.name)

    @contextmanager
    def current(self) -> Iterator[None]:
        if self.span is None:
            yield
            return
        from opentelemetry import context as otel_context  # loaded by the span's start already

        token = otel_context.attach(self.context)
        try:
            yield
        finally:
            otel_context.detach(token)

    @contextmanager
    def ended_on_error(self, *, generator: bool = False) -> Iterator[None]:
        """An exception from inside ends the span as an error and propagates unchanged. For a
        ``generator``, ``GeneratorExit`` is its consumer closing it, not an error: it passes through
        (the generator wrapper ends the span itself)."""
        try:
            yield
        except BaseException as error:
            if not (generator and isinstance(error, GeneratorExit)):
                self.end(error=error, record_result=False)
            raise

    def end(self, result: Any = None, error: BaseException | None = None, *, record_result: bool) -> None:
        span = self.span
        if span is None:
            return
        try:
            if error is not None:
                record_error(span, error)
            elif record_result and self.options.capture_outputs:
                span.set_attributes(flatten("honeyhive_outputs.result", result))
            span.set_attribute("honeyhive_duration_ms", (time.perf_counter() - self.started) * 1000)
            span.end()
        except Exception:
            logger.exception("honeyhive: could not end the span for %s", self.options.name)


class _Options:
    def __init__(
        self,
        func: Callable[..., Any],
        event_type: str,
        event_name: str | None,
        tracer: HoneyHiveTracer | None,
        capture_inputs: bool,
        capture_outputs: bool,
        sdk_fields: dict[str, Any],
    ) -> None:
        self.name = event_name or func.__name__
        self.event_type = event_type
        self.tracer = tracer
        self.capture_inputs = capture_inputs
        self.capture_outputs = capture_outputs
        self.fixed_attributes = _fixed_attributes(self.name, sdk_fields)
        try:
            self.signature: inspect.Signature | None = inspect.signature(func)
        except (TypeError, ValueError):
            self.signature = None

    def inputs(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        if self.signature is None:
            return {}
        try:
            bound = self.signature.bind_partial(*args, **kwargs)
        except TypeError:
            return {}
        out: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            if name not in _SKIPPED_PARAMETERS:
                out.update(flatten(f"honeyhive_inputs.{name}", value))
        return out


def _fixed_attributes(name: str, sdk_fields: dict[str, Any]) -> dict[str, Any]:
    """The SDK decorator's enrichment keywords as attributes of every span; one warning for the rest."""
    unused = sorted(key for key in sdk_fields if key not in NAMESPACES)
    if unused:
        logger.warning("honeyhive: @trace arguments with no effect here on %s: %s", name, ", ".join(unused))
    try:
        return dict(enrichment_attributes(**{key: value for key, value in sdk_fields.items() if key in NAMESPACES}))
    except Exception:  # a value that cannot be flattened: the function is still traced
        logger.exception("honeyhive: could not use the @trace arguments of %s", name)
        return {}


@overload
def trace(func: F, /) -> F: ...


@overload
def trace(
    event_type: str | None = None,
    /,
    *,
    event_name: str | None = None,
    tracer: HoneyHiveTracer | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    **sdk_fields: Any,
) -> Callable[[F], F]: ...


def trace(
    func: F | str | None = None,
    /,
    *,
    event_type: str = "tool",
    event_name: str | None = None,
    tracer: HoneyHiveTracer | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    **sdk_fields: Any,
) -> F | Callable[[F], F]:
    """Trace each call as a HoneyHive event (``event_type`` ``tool``, ``model`` or ``chain``; the SDK's
    ``@trace("model")`` form too).

    Arguments become ``honeyhive_inputs.<param>``, the return value ``honeyhive_outputs.result``; an
    exception sets status ERROR, is recorded, and is re-raised unchanged. Without ``tracer=`` the
    current tracer (``get_tracer()``) is used, resolved at call time. The SDK's ``inputs=``,
    ``outputs=``, ``metadata=``, ``metrics=``, ``feedback=``, ``config=`` and ``user_properties=``
    go on every span of the function; its other keywords have no effect here, said in one warning.
    """
    if isinstance(func, str):  # the SDK's positional event type
        event_type, func = func, None

    def decorate(target: F) -> F:
        options = _Options(target, event_type, event_name, tracer, capture_inputs, capture_outputs, sdk_fields)
        if inspect.isasyncgenfunction(target):
            return cast(F, _wrap_async_generator(target, options))
        if inspect.isgeneratorfunction(target):
            return cast(F, _wrap_generator(target, options))
        if inspect.iscoroutinefunction(target):
            return cast(F, _wrap_coroutine(target, options))
        return cast(F, _wrap_function(target, options))

    return decorate(func) if func is not None else decorate


def _wrap_function(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _Call(options, args, kwargs)
        with call.ended_on_error(), call.current():
            result = func(*args, **kwargs)
        call.end(result, record_result=True)
        return result

    return wrapper


def _wrap_coroutine(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        call = _Call(options, args, kwargs)
        with call.ended_on_error(), call.current():
            result = await func(*args, **kwargs)
        call.end(result, record_result=True)
        return result

    return wrapper


def _wrap_generator(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    # The span is current only while the generator's own code runs, never while the consumer holds it:
    # otherwise the consumer's spans would nest under it and its context would leak out at each yield.
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
        call = _Call(options, args, kwargs)
        produced = 0
        with call.ended_on_error(generator=True):
            with call.current():
                inner = func(*args, **kwargs)
            sent: Any = None
            while True:
                with call.current():
                    try:
                        item = inner.send(sent)
                    except StopIteration as stop:
                        call.end({"items": produced}, record_result=True)
                        return stop.value
                produced += 1
                try:
                    sent = yield item
                except GeneratorExit:
                    inner.close()
                    call.end({"items": produced}, record_result=True)
                    raise

    return wrapper


def _wrap_async_generator(func: Callable[..., Any], options: _Options) -> Callable[..., Any]:
    @functools.wraps(func)
    async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
        call = _Call(options, args, kwargs)
        produced = 0
        with call.ended_on_error(generator=True):
            with call.current():
                inner = func(*args, **kwargs)
            sent: Any = None
            while True:
                with call.current():
                    try:
                        item = await inner.asend(sent)
                    except StopAsyncIteration:
                        call.end({"items": produced}, record_result=True)
                        return
                produced += 1
                try:
                    sent = yield item
                except GeneratorExit:
                    await inner.aclose()
                    call.end({"items": produced}, record_result=True)
                    raise

    return wrapper


@overload
def atrace(event_type: F, /) -> F: ...


@overload
def atrace(
    event_type: str | None = None,
    event_name: str | None = None,
    *,
    tracer: HoneyHiveTracer | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    **sdk_fields: Any,
) -> Callable[[F], F]: ...


def atrace(
    event_type: F | str | None = None,
    event_name: str | None = None,
    *,
    tracer: HoneyHiveTracer | None = None,
    capture_inputs: bool = True,
    capture_outputs: bool = True,
    **sdk_fields: Any,
) -> F | Callable[[F], F]:
    """The SDK's ``@atrace`` / ``@atrace(event_type, event_name)``: :func:`trace`, which handles coroutine
    functions (and everything else) already."""
    if callable(event_type):
        return trace(event_type)
    return trace(
        event_type=event_type or "tool",
        event_name=event_name,
        tracer=tracer,
        capture_inputs=capture_inputs,
        capture_outputs=capture_outputs,
        **sdk_fields,
    )


#: Set on the methods ``trace_class`` traced, so a subclass of a traced class is not traced twice.
_CLASS_TRACED = "__honeyhive_trace_class__"


def trace_class(cls: C) -> C:
    """Trace every public method of ``cls`` (inherited ones too, as the SDK does), each an event
    ``tool`` named ``Class.method``; static and class methods, properties and dunders are left alone."""
    for name in dir(cls):
        method = inspect.getattr_static(cls, name, None)
        if name.startswith("_") or not inspect.isfunction(method) or getattr(method, _CLASS_TRACED, False):
            continue
        traced = trace(event_type="tool", event_name=f"{cls.__name__}.{name}")(method)
        setattr(traced, _CLASS_TRACED, True)
        setattr(cls, name, traced)
    return cls
