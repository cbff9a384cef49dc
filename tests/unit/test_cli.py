"""The ``hh-serverless`` entry point as a newcomer meets it: ``--version`` and ``--help`` with the runtime
alone, one line naming the extra a command needs, a bad ``--event`` named, progress on a terminal only.

"With the runtime alone" is a fresh interpreter in which the ``cli`` extra's distributions cannot be
imported and their metadata is not found (as in a ``pip install honeyhive-serverless`` venv; the e2e tier
tests that venv itself).
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO
from honeyhive_serverless.version import __version__
from honeyhive_serverless_dev.cli import main

# The cli extra's distributions (and their import names), hidden from the interpreter the CLI runs in.
WITHOUT_THE_EXTRA = """
import importlib.abc, importlib.metadata, sys
HIDDEN = {"boto3", "botocore", "jsonschema", "awslambdaric", "packaging", "pip"}
class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in HIDDEN:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None
sys.meta_path.insert(0, Hide())
found = importlib.metadata.distribution
def distribution(name):
    if name.lower() in HIDDEN:
        raise importlib.metadata.PackageNotFoundError(name)
    return found(name)
importlib.metadata.distribution = distribution
from honeyhive_serverless_dev.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run_without_the_extra(*argv: str) -> subprocess.CompletedProcess[str]:
    paths = [str(REPO / "layer"), *sys.path]
    return subprocess.run(
        [sys.executable, "-c", WITHOUT_THE_EXTRA, *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PYTHONPATH": os.pathsep.join(paths), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def test_version_answers_with_the_package_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])

    assert exit_info.value.code == 0
    assert capsys.readouterr().out == f"hh-serverless {__version__}\n"


@pytest.mark.parametrize("argv", [["--version"], ["--help"], ["instrument", "--help"], ["dev-server", "--help"]])
def test_help_and_version_answer_without_the_cli_extra(argv: list[str]) -> None:
    result = run_without_the_extra(*argv)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    expected = f"hh-serverless {__version__}" if argv == ["--version"] else "usage: hh-serverless"
    assert result.stdout.startswith(expected)


def test_a_command_without_the_cli_extra_names_the_extra_in_one_line() -> None:
    result = run_without_the_extra("instrument", "--function", "fn", "--no-key")

    assert result.returncode == 2
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("hh-serverless instrument: needs boto3")
    assert line.endswith("pip install 'honeyhive-serverless[cli]'")


@pytest.mark.parametrize(
    ("event", "message"),
    [
        ("missing.json", "--event missing.json: no such file, and not JSON text either (Expecting value"),
        ("{'single': 'quotes'}", "--event {'single': 'quotes'}: no such file, and not JSON text either"),
    ],
)
def test_an_event_that_is_neither_a_file_nor_json_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, event: str, message: str
) -> None:
    monkeypatch.chdir(tmp_path)

    assert main(["invoke", "app.handler", "--event", event]) == 2

    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"hh-serverless invoke: {message}")


def test_an_event_file_that_is_not_json_is_named(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text('{"truncated": ')

    assert main(["invoke", "app.handler", "--event", str(event)]) == 2

    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith(f"hh-serverless invoke: --event {event}: not JSON (Expecting value")


# build-layer with the builder replaced by one that logs as the real one does around each zip (a real build
# takes minutes: tests/e2e/test_layer_build.py).
BUILD_WITH_A_FAKE_BUILDER = """
import logging, sys
from honeyhive_serverless_dev import layer_build
def build_all(out, pythons, archs):
    layer_build.log.info("building honeyhive-serverless-layer-py3.12-x86_64.zip: installing its packages")
    layer_build.log.warning("skipping Python 3.10: no Python 3.10 interpreter found")
    return []
layer_build.build_all = build_all
from honeyhive_serverless_dev.cli import main
sys.exit(main(["build-layer", "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("terminal", [True, False], ids=["terminal", "pipe"])
def test_build_layer_shows_progress_on_a_terminal_only(tmp_path: Path, terminal: bool) -> None:
    """Progress lines on stderr when it is a terminal; the warnings always; the size table on stdout."""
    leader, follower = pty.openpty() if terminal else os.pipe()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "layer"), *sys.path])}
    result = subprocess.run(
        [sys.executable, "-c", BUILD_WITH_A_FAKE_BUILDER, str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=follower,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    os.close(follower)
    err = os.read(leader, 65536).decode()
    os.close(leader)

    assert result.returncode == 0, err
    assert result.stdout.startswith("layer ")
    assert "skipping Python 3.10" in err
    assert ("building honeyhive-serverless-layer-py3.12-x86_64.zip" in err) is terminal
