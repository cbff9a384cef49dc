"""``make demo`` as a newcomer sees it: its setup says what it is doing, and the session trees it prints show
what the handlers enriched, with durations a person can read.

The demo itself runs handlers/ through the real Lambda emulator and dev receiver (about a second).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from conftest import REPO
from repo_tools import demo

# A number with more than two decimals: a float printed as it came.
LONG_DECIMALS = re.compile(r"\d\.\d{3,}")


def test_the_demo_shows_span_enrichments_and_rounded_durations(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HH_API_KEY", raising=False)

    assert demo.main() == 0

    trees = capsys.readouterr().out.split("What the receiver got, session by session:", 1)[1]
    generate = [line for line in trees.splitlines() if line.lstrip().startswith("model generate")]
    assert len(generate) == 3  # handlers/chat.py's generate() enriches its span on each good answer
    for line in generate:
        assert "honeyhive_metadata.model=echo-1" in line and "honeyhive_metrics.documents=2" in line
    session_durations = re.findall(r"duration=(\S+ \S+)", trees)
    # Four sessions; the one a response handed on in its X-Session-ID (invocation 2 joins it) gets none.
    assert len(session_durations) == 3
    assert all(re.fullmatch(r"\d+\.\d{1,2} ms", duration) for duration in session_durations), session_durations
    assert not LONG_DECIMALS.search(trees)


def test_the_setup_of_make_demo_says_each_step_before_it_runs() -> None:
    """``make -n`` lists what a fresh checkout's first ``make demo`` runs: every command is announced."""
    venv = "/nonexistent/venv"
    listed = subprocess.run(
        # --no-print-directory: run from `make test`, a nested make would print "Entering directory" lines.
        ["make", "--no-print-directory", "-n", "-B", f"{venv}/.installed", f"VENV={venv}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout.splitlines()

    commands = [line for line in listed if not line.startswith("echo ")]
    assert len(commands) >= 3
    for command in commands[:-1]:  # all but the stamp's touch
        before = listed[listed.index(command) - 1]
        assert before.startswith('echo "setup '), command
