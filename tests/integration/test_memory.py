"""The runtime does not leak across warm invocations: a sandbox's resident memory holds steady over a
thousand of them, through the real runtime client against the dev receiver."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import API_KEY, REPO, MakeEmulator
from honeyhive_serverless_dev.receiver import DevReceiver

INVOCATIONS = 1000
BASELINE_AT = 100  # by then every cache and pool the runtime keeps has been filled
MAX_GROWTH_KB = 2048
SPANS_PER_INVOCATION = 4  # the invocation span and three steps


@pytest.mark.timeout(300)
def test_a_thousand_warm_invocations_grow_the_sandboxs_rss_by_at_most_2_mb(
    emulators: MakeEmulator, receiver: DevReceiver
) -> None:
    # Frozen between invocations, as on Lambda: the thousand take about 3 s with freeze=False too (a
    # freeze costs well under a millisecond), so nothing is gained by leaving the freeze out.
    emulator = emulators(
        "after_response_mode.handler",
        # The default export mode (invocation); PYTHONPATH: this checkout's runtime, not the venv's.
        env={"HH_API_URL": receiver.url, "HH_API_KEY": API_KEY, "PYTHONPATH": str(REPO / "layer")},
    )
    rss_kb: dict[int, int] = {}
    started = time.monotonic()
    for n in range(1, INVOCATIONS + 1):
        # Half start a session (a session start request too), half continue one.
        result = emulator.invoke({"session_id": str(uuid.uuid4())} if n % 2 else {})
        assert result.ok, (result.error, emulator.logs[-2000:])
        if n in (BASELINE_AT, INVOCATIONS):
            rss_kb[n] = emulator.sandbox_memory_kb("VmRSS")
    elapsed = time.monotonic() - started

    assert result.payload["mode"] == "invocation"
    assert emulator.cold_starts == 1
    assert len(receiver.spans) == SPANS_PER_INVOCATION * INVOCATIONS
    growth = rss_kb[INVOCATIONS] - rss_kb[BASELINE_AT]
    print(f"RSS {rss_kb[BASELINE_AT]} kB at {BASELINE_AT}, {rss_kb[INVOCATIONS]} kB at {INVOCATIONS}; {elapsed:.1f} s")
    assert growth <= MAX_GROWTH_KB, f"RSS grew {growth} kB from invocation {BASELINE_AT} to {INVOCATIONS}"
