"""The suite holds every dev receiver to HoneyHive's contract: each one a test makes is strict, and a test
fails (at teardown) if its receivers saw a contract violation, an orphaned span or a refused update.

A test that sends such traffic on purpose says which kinds, with a reason:
``@pytest.mark.breaks_contract("orphaned-span", reason="...")``. Those kinds are then expected (each must
occur) and every other kind still fails it. A receiver shared by several tests (a module's fixture) has
its findings charged to the test during which they arrived.

This module is a pytest plugin (``conftest.py`` registers it; ``-p receiver_contract`` loads it
anywhere): it registers the marker, makes receivers strict from configure time on, judges each test
after its teardown, and ends the run with one line of totals the integrator can quote.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from honeyhive_serverless_dev.receiver import FINDING_KINDS, VIOLATION_KINDS, DevReceiver, Finding
from honeyhive_serverless_dev.receiver.contract import ORPHANED_SPAN, REFUSED_UPDATE

MARKER = "breaks_contract"
MARKER_HELP = (
    f"{MARKER}(*kinds, reason): the test's dev receivers get traffic that breaks HoneyHive's contract on purpose, "
    "of these kinds (tests/receiver_contract.py)"
)
#: How many findings of each kind a failing test lists before "and N more".
SHOWN = 5


@dataclass
class Totals:
    """Over the run: receivers made, findings by kind (unexpected, and declared by the marker), and the
    tests that failed on contract grounds."""

    receivers: int = 0
    unexpected: Counter[str] = field(default_factory=Counter)
    declared: Counter[str] = field(default_factory=Counter)
    failed_tests: list[str] = field(default_factory=list)


TOTALS = Totals()
#: Every receiver made in this run while it lives, with how many of its findings are charged already.
_charged: weakref.WeakKeyDictionary[DevReceiver, int] = weakref.WeakKeyDictionary()


def install() -> Callable[[], None]:
    """Make every DevReceiver strict unless it says otherwise (``strict=False``: it still is judged, its
    unknown-event updates as violations), and track it; returns the undo."""
    original: Callable[..., None] = DevReceiver.__init__

    def init(self: DevReceiver, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("strict", True)
        original(self, *args, **kwargs)
        _charged[self] = 0
        TOTALS.receivers += 1

    DevReceiver.__init__ = init  # type: ignore[method-assign]

    def undo() -> None:
        DevReceiver.__init__ = original  # type: ignore[method-assign]

    return undo


def _declared(item: pytest.Item) -> set[str]:
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return set()
    kinds = set(marker.args)
    unknown = kinds - FINDING_KINDS
    if unknown or not kinds or not marker.kwargs.get("reason"):
        raise pytest.UsageError(
            f"{item.nodeid}: @pytest.mark.{MARKER} takes finding kinds (of {sorted(FINDING_KINDS)}) and a "
            f"reason=...; got {sorted(map(str, marker.args))}, {marker.kwargs}"
        )
    return kinds


def _label(receiver: DevReceiver) -> str:
    try:
        return f"receiver {receiver.url}"
    except RuntimeError:  # never started
        return "receiver (not started)"


def _new_findings() -> list[tuple[str, Finding]]:
    """The findings every receiver got since they were last charged, each with its receiver's label."""
    found: list[tuple[str, Finding]] = []
    for receiver in list(_charged.keys()):
        findings = receiver.contract_report().findings
        offset = _charged.get(receiver, 0)
        found.extend((_label(receiver), finding) for finding in findings[offset:])
        _charged[receiver] = len(findings)
    return found


def judge(item: pytest.Item) -> str | None:
    """Charge the findings since the last test to ``item``: the failure message, or None if it kept the
    contract (every finding of a kind its marker declares, and each declared kind seen)."""
    found = _new_findings()
    declared = _declared(item)
    unexpected = [(label, f) for label, f in found if f.kind not in declared]
    seen = {f.kind for _, f in found}
    TOTALS.unexpected.update(f.kind for _, f in unexpected)
    TOTALS.declared.update(f.kind for _, f in found if f.kind in declared)
    missing = declared - seen
    if not unexpected and not missing:
        return None
    TOTALS.failed_tests.append(item.nodeid)
    lines = []
    if unexpected:
        kinds = Counter(f.kind for _, f in unexpected)
        lines.append(
            "this test's dev receivers saw traffic that breaks HoneyHive's published contract ("
            + ", ".join(f"{kind} x{count}" for kind, count in sorted(kinds.items()))
            + "):"
        )
        for kind in sorted(kinds):
            of_kind = [(label, f) for label, f in unexpected if f.kind == kind]
            lines.extend(f"  {label}: {finding}" for label, finding in of_kind[:SHOWN])
            if len(of_kind) > SHOWN:
                lines.append(f"  ... and {len(of_kind) - SHOWN} more {kind}")
        lines.append(
            f'If the test sends it on purpose: @pytest.mark.{MARKER}("<kind>", ..., reason="...") '
            "(layer/honeyhive_serverless_dev/receiver/contract.py says what each kind means)."
        )
    if missing:
        lines.append(f"@pytest.mark.{MARKER} declares {sorted(missing)}, which did not occur: remove them.")
    return "\n".join(lines)


def summary() -> str:
    """One line of totals over the run."""

    def listed(counts: Counter[str]) -> str:
        return ", ".join(f"{kind} {count}" for kind, count in sorted(counts.items())) or "none"

    unexpected = TOTALS.unexpected
    violations = sum(count for kind, count in unexpected.items() if kind in VIOLATION_KINDS)
    return (
        f"HoneyHive contract: {TOTALS.receivers} dev receivers checked (strict); "
        f"{violations} violations, {unexpected[ORPHANED_SPAN]} orphaned spans, "
        f"{unexpected[REFUSED_UPDATE]} refused updates, failing {len(TOTALS.failed_tests)} tests "
        f"(by kind: {listed(unexpected)}); declared by @pytest.mark.{MARKER}: {listed(TOTALS.declared)}"
    )


# ---- the plugin's hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", MARKER_HELP)
    config.add_cleanup(install())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item: pytest.Item) -> Iterator[None]:
    """After the test's fixtures are gone (its receivers stopped, all their traffic in): fail it if its
    receivers saw traffic that breaks HoneyHive's contract and it did not declare so."""
    try:
        yield
    except BaseException:
        judge(item)  # charged to this test all the same
        raise
    failure = judge(item)
    if failure is not None:
        pytest.fail(failure, pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    terminalreporter.write_line(summary())
