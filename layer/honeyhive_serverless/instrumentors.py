"""``HH_INSTRUMENTORS``: the installed OpenInference / OpenTelemetry instrumentors, applied by name.

The value is a comma list of instrumentor names (``openai,anthropic``) or ``all``; a name prefixed
with ``-`` is left out (``all,-langchain``), and with ``all`` so is every name in OpenTelemetry's own
``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``. Names are the entry-point names instrumentor packages
register (``openinference_instrumentor`` first, as HoneyHive recommends OpenInference, then
``opentelemetry_instrumentor``), compared without case with ``-`` and ``_`` alike: ``google-genai``
is ``google_genai``.

With the Bedrock instrumentor come the hooks of ``genai.bedrock``, for the Bedrock calls it records
without what they carry (embeddings, streams it does not follow, the requested model id).

Each chosen instrumentor is applied with the tracer's provider, so its spans join the invocation's
session and its single request like any other. ``botocore`` (and ``aiobotocore``) are not among
``all``: AWS SDK calls are ``HH_PROPAGATE_AWS_SDK``'s, which instruments them with the context
propagation they need; naming ``botocore`` turns that on.

A name that no installed package registers, an instrumentor whose library is missing (named
explicitly; ``all`` passes over those quietly) and one that fails each get one warning line; the
function runs regardless. Importing this module imports nothing beyond the standard library: the
entry points are read, and the instrumentors imported, only when :func:`apply_instrumentors` runs.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from . import variables as var
from ._log import logger, warn_bad_value

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider

#: Entry-point groups read, in order of preference when both register a name with different classes.
ENTRY_POINT_GROUPS = ("openinference_instrumentor", "opentelemetry_instrumentor")
ALL = "all"
#: Instrumented by ``HH_PROPAGATE_AWS_SDK`` (with a request hook that carries the context), never here.
AWS_SDK = "botocore"
#: Left out of ``all``: the AWS SDK's (aiobotocore's instrumentor loads the botocore one, some 60 ms).
NOT_IN_ALL = frozenset({AWS_SDK, "aiobotocore"})
#: The instrumentor ``genai.bedrock`` completes.
BEDROCK = "bedrock"


def normalise(name: str) -> str:
    """An instrumentor name as compared: lower case, ``-`` as ``_``.

    >>> normalise(" Google-GenAI ")
    'google_genai'
    """
    return name.strip().lower().replace("-", "_")


class InstrumentorSelection(NamedTuple):
    """Which instrumentors to apply: every installed one (``everything``) or ``names``, less ``excluded``.

    >>> parse_instrumentors("all, -LangChain")
    InstrumentorSelection(everything=True, names=(), excluded=('langchain',))
    """

    everything: bool = False
    names: tuple[str, ...] = ()
    excluded: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return self.everything or bool(self.names)

    @property
    def wants_aws_sdk(self) -> bool:
        """True when the AWS SDK is named: ``HH_PROPAGATE_AWS_SDK``'s instrumentation then runs."""
        return AWS_SDK in self.names


NO_INSTRUMENTORS = InstrumentorSelection()
_NAME = re.compile(r"-?[a-z0-9][a-z0-9_.]*")


def instrumentors_variable(value: str | Iterable[str]) -> str:
    """The ``HH_INSTRUMENTORS`` value for ``value`` (names, ``all``, ``-name``; a list or comma text),
    checked: the CDK construct and ``hh-serverless instrument`` set the variable with this.

    >>> instrumentors_variable(["all", "-LangChain"])
    'all,-langchain'
    """
    names = []
    for text, leaves_out, name in _entries(value):
        entry = f"-{name}" if leaves_out else name
        if not _NAME.fullmatch(entry):
            raise ValueError(f"instrumentors: {text!r} is not an instrumentor name (like openai, or all)")
        names.append(entry)
    if not names:
        raise ValueError("instrumentors: name at least one instrumentor, or all")
    return ",".join(names)


def parse_instrumentors(value: str | Iterable[str] | None, disabled: str = "") -> InstrumentorSelection:
    """``HH_INSTRUMENTORS`` (or the ``instrumentors`` argument: the same text, or a list of names).

    ``disabled`` (``OTEL_PYTHON_DISABLED_INSTRUMENTATIONS``'s comma list) is left out of ``all``.
    """
    if value is None:
        return NO_INSTRUMENTORS
    everything = False
    names: list[str] = []
    excluded: list[str] = []
    for _text, leaves_out, name in _entries(value):
        if not name:
            continue
        if leaves_out:
            excluded.append(name)
        elif name == ALL:
            everything = True
        elif name not in names:
            names.append(name)
    if everything:
        excluded += [normalise(name) for name in disabled.split(",") if normalise(name)]
    return InstrumentorSelection(everything, tuple(n for n in names if n not in excluded), tuple(excluded))


def _entries(value: str | Iterable[str]) -> Iterator[tuple[str, bool, str]]:
    """Each item of a list or of comma text: as written, whether it leaves one out (``-name``), and its
    name as compared."""
    for item in value.split(",") if isinstance(value, str) else value:
        text = str(item).strip()
        yield text, text.startswith("-"), normalise(text.removeprefix("-"))


class _Applied:
    """What this process applied: one lock, and per instrumentor class the instance and its provider."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.by_class: dict[type, tuple[Any, TracerProvider]] = {}


_applied = _Applied()


def apply_instrumentors(selection: InstrumentorSelection, provider: TracerProvider) -> list[str]:
    """Apply the selected instrumentors with ``provider``; returns the names now instrumented by it.

    Once per process
    and thread-safe: an instrumentor this module applied for an earlier provider (a tracer built anew,
    as after ``reset_tracer()``) moves to the new one; one applied by the user's own code is left as it
    is. Never raises.
    """
    if not selection:
        return []
    try:
        with _applied.lock:
            return _apply(selection, provider)
    except Exception as exc:  # tracing never breaks the function
        logger.warning("honeyhive: could not apply HH_INSTRUMENTORS (%s: %s)", type(exc).__name__, str(exc)[:200])
        return []


def installed_instrumentors() -> dict[str, Any]:
    """Every registered instrumentor entry point by normalised name, OpenInference's first."""
    from importlib.metadata import entry_points

    found: dict[str, Any] = {}
    for group in ENTRY_POINT_GROUPS:
        for entry_point in entry_points(group=group):
            found.setdefault(normalise(entry_point.name), entry_point)
    return found


def _apply(selection: InstrumentorSelection, provider: TracerProvider) -> list[str]:
    from .genai import bedrock

    # Off first, on last: the Bedrock instrumentor unwraps (and wraps again) only from beneath these hooks.
    bedrock.uninstrument()
    installed = installed_instrumentors()
    if selection.everything:
        left_out = {*selection.excluded, *NOT_IN_ALL}
        wanted = [name for name in installed if name not in left_out]
    else:
        wanted = [name for name in selection.names if name != AWS_SDK]
    applied: list[str] = []
    for name in wanted:
        entry_point = installed.get(name)
        if entry_point is None:
            known = ", ".join(sorted(set(installed) - NOT_IN_ALL)) or "none"
            warn_bad_value(var.INSTRUMENTORS, name, f"an installed instrumentor (installed: {known})", "leaving it out")
            continue
        if _apply_one(name, entry_point, provider, explicit=not selection.everything):
            applied.append(name)
    if BEDROCK in applied:
        bedrock.instrument(provider)
    if applied:
        logger.debug("honeyhive: instrumented %s", ", ".join(applied))
    return applied


def _apply_one(name: str, entry_point: Any, provider: TracerProvider, *, explicit: bool) -> bool:
    from opentelemetry.instrumentation.dependencies import DependencyConflictError, get_dist_dependency_conflicts

    try:
        # What its distribution says it instruments, checked before importing it (as opentelemetry-
        # instrument does): under `all`, an instrumentor whose library is absent costs no import.
        conflict = get_dist_dependency_conflicts(entry_point.dist) if entry_point.dist is not None else None
        if conflict is not None:
            raise DependencyConflictError(conflict)
        instrumentor_class = entry_point.load()
        earlier = _applied.by_class.get(instrumentor_class)
        instrumentor = earlier[0] if earlier else instrumentor_class()
        if instrumentor.is_instrumented_by_opentelemetry:
            if earlier is None:
                logger.info("honeyhive: %s was instrumented already; its tracer provider is kept", name)
                return False
            if earlier[1] is provider:
                return True
            instrumentor.uninstrument()
        instrumentor.instrument(tracer_provider=provider, raise_exception_on_conflict=True)
    except DependencyConflictError as error:
        # The library it instruments is missing: expected under `all`, a mistake when named. A version
        # out of its range is worth a warning either way: that library is in use and goes untraced.
        conflict = error.conflict
        if explicit or conflict.found or conflict.found_any:
            logger.warning("honeyhive: HH_INSTRUMENTORS: %s is not applied: %s", name, str(conflict)[:300])
        else:
            logger.debug("honeyhive: %s is not applied: %s", name, conflict)
        return False
    except Exception as exc:
        logger.warning(
            "honeyhive: HH_INSTRUMENTORS: %s failed (%s: %s); its library is not traced",
            name,
            type(exc).__name__,
            str(exc)[:200],
        )
        return False
    _applied.by_class[instrumentor_class] = (instrumentor, provider)
    return bool(instrumentor.is_instrumented_by_opentelemetry)


def remove_instrumentors() -> None:
    """Undo what :func:`apply_instrumentors` applied (``reset_tracer()``: the next tracer starts clean)."""
    from .genai import bedrock

    with _applied.lock:
        applied, _applied.by_class = _applied.by_class, {}
        bedrock.uninstrument()
    for instrumentor, _provider in applied.values():
        try:
            instrumentor.uninstrument()
        except Exception:
            logger.debug("honeyhive: could not uninstrument %s", type(instrumentor).__name__, exc_info=True)
