"""Lambda's Python runtimes the layer is made for, and where each stands in Lambda's lifecycle: one table.

The layer builder, ``publish-layer`` and ``instrument`` (which Pythons have a layer) and the CDK construct
(which functions to warn about) read it; docs/cli.md shows it (a unit test holds the page to it). A
runtime is built for only where an interpreter of its Python exists (``layer_build.buildable``),
whatever its status here.

The dates are AWS's deprecation schedule (docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html)
as of late 2026. AWS has moved such dates before: change them here, and only here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class Status(enum.Enum):
    """Where a runtime stands in Lambda's lifecycle."""

    SUPPORTED = "supported"
    #: No more security patches; Lambda blocks creating functions on it, then updating them.
    DEPRECATED = "deprecated"
    #: Offered by Lambda ahead of general availability.
    PREVIEW = "preview"


@dataclass(frozen=True)
class PythonRuntime:
    """One Lambda Python runtime; a deprecated one has its three dates, any other none."""

    python: str  # "3.12"
    status: Status = Status.SUPPORTED
    deprecated: date | None = None
    create_blocked: date | None = None
    update_blocked: date | None = None

    def __post_init__(self) -> None:
        dated = (self.deprecated, self.create_blocked, self.update_blocked)
        if (self.status is Status.DEPRECATED) != all(dated) or (any(dated) and not all(dated)):
            raise ValueError(f"python{self.python}: a deprecated runtime has its three dates, any other none")

    @property
    def name(self) -> str:
        """Lambda's runtime identifier, ``python3.12``."""
        return f"python{self.python}"


# python3.10 and python3.11 run on Amazon Linux 2, whose support ends on 2026-06-30.
_AL2_DATES = {"deprecated": date(2026, 6, 30), "create_blocked": date(2026, 7, 31), "update_blocked": date(2026, 8, 31)}

#: Oldest first.
RUNTIMES = (
    PythonRuntime("3.10", Status.DEPRECATED, **_AL2_DATES),
    PythonRuntime("3.11", Status.DEPRECATED, **_AL2_DATES),
    PythonRuntime("3.12"),
    PythonRuntime("3.13"),
    PythonRuntime("3.14"),
    PythonRuntime("3.15", Status.PREVIEW),
)
#: Lambda's Python runtimes a layer is made for (``python3.12`` is ``3.12``).
PYTHON_VERSIONS = tuple(runtime.python for runtime in RUNTIMES)


def lifecycle_warning(runtime_name: str) -> str | None:
    """One line on a function of ``runtime_name`` (``python3.10``) when Lambda has deprecated that runtime,
    with its dates and where to move; None for any other runtime."""
    found = next((runtime for runtime in RUNTIMES if runtime.name == runtime_name), None)
    if found is None or found.status is not Status.DEPRECATED:
        return None
    supported = ", ".join(runtime.name for runtime in RUNTIMES if runtime.status is Status.SUPPORTED)
    return (
        f"{found.name} is deprecated by Lambda since {found.deprecated}: creating functions on it is blocked "
        f"from {found.create_blocked}, updating them from {found.update_blocked}; move the function to a "
        f"supported runtime ({supported})"
    )


def lifecycle_table() -> str:
    """The table as Markdown, for docs/cli.md."""
    lines = ["| runtime | status | deprecated | creating functions blocked | updating functions blocked |"]
    lines.append("|---|---|---|---|---|")
    for runtime in RUNTIMES:
        dates = [
            str(day) if day else "" for day in (runtime.deprecated, runtime.create_blocked, runtime.update_blocked)
        ]
        lines.append(f"| `{runtime.name}` | {runtime.status.value} | {' | '.join(dates)} |")
    return "\n".join(lines)
