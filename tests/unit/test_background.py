"""Requests beside the caller (``background``): the interpreter switches threads more often only while
some run, and the process's own interval comes back after."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest

from honeyhive_serverless.background import SWITCH_INTERVAL_S, Background


@pytest.fixture
def interval() -> Iterator[float]:
    """The process's switch interval, put back after the test whatever it did."""
    before = sys.getswitchinterval()
    try:
        yield before
    finally:
        sys.setswitchinterval(before)


def test_the_switch_interval_is_short_while_a_request_runs_and_restored_after(interval: float) -> None:
    beside = Background()
    release = threading.Event()
    seen: list[float] = []

    def request() -> str:
        seen.append(sys.getswitchinterval())
        release.wait(5)
        return "done"

    pending = beside.submit(request)
    second = beside.submit(sys.getswitchinterval)
    assert second.result(5) == pytest.approx(SWITCH_INTERVAL_S)
    assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)  # the first still runs
    release.set()
    assert pending.result(5) == "done"
    assert seen == [pytest.approx(SWITCH_INTERVAL_S)]
    beside.submit(lambda: None).result(5)
    assert sys.getswitchinterval() == pytest.approx(interval)


def test_an_interval_someone_else_set_meanwhile_is_left_alone(interval: float) -> None:
    beside = Background()
    release = threading.Event()
    pending = beside.submit(release.wait, 5)
    sys.setswitchinterval(0.002)  # the application's own choice, while the request runs
    release.set()
    assert pending.result(5) is True
    beside.submit(lambda: None).result(5)
    assert sys.getswitchinterval() == pytest.approx(0.002)
