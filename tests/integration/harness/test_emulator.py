"""The local Lambda emulator, through the real awslambdaric: lifecycle, freezes, errors, layers, extensions."""

from __future__ import annotations

import argparse
import json
import os
import stat
import struct
import subprocess
import sys
import threading
import zipfile
from pathlib import Path
from typing import Any

import pytest

from conftest import RUNTIME_CACHE, SANDBOX_HANDLERS, MakeEmulator
from honeyhive_serverless_dev.cli.invoke import add_invoke
from honeyhive_serverless_dev.emulator import LambdaEmulator, ensure_runtime, resolve_python

PY = f"{sys.version_info.major}.{sys.version_info.minor}"


def _process_state(pid: int) -> str | None:
    """The state letter in /proc (R, S, T, Z...), None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_bytes().rpartition(b")")[2].split()[0].decode()
    except OSError:
        return None


def _gone(pid: int) -> bool:
    # A killed child reparented to a PID 1 that does not reap stays a zombie: dead all the same.
    return _process_state(pid) in (None, "Z", "X")


def _read_ticks(path: Path) -> int:
    data = path.read_bytes()
    return int(struct.unpack("<Q", data[:8])[0])


def _pause(seconds: float) -> None:
    """A timed wait, only where a test proves that nothing happens meanwhile."""
    threading.Event().wait(seconds)


# --------------------------------------------------------------------------------------------
# Lifecycle


def test_cold_then_warm_in_the_same_process_with_lambdas_environment(
    emulators: MakeEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EMU_LEAK_CANARY", "from-the-test-process")
    emulator = emulators("basic.handler", env={"MY_SETTING": "on"}, function_name="orders", memory_mb=256)
    assert emulator.sandbox_pid is None  # no sandbox before the first event

    first = emulator.invoke({"question": "one"})
    second = emulator.invoke({"question": "two"}, request_id="req-2")

    assert first.ok and second.ok, (first.error, second.error)
    assert (first.cold, second.cold) == (True, False)
    assert first.init_ms is not None and first.init_ms > 0
    assert second.init_ms is None
    assert first.payload["pid"] == second.payload["pid"] == emulator.sandbox_pid == first.sandbox_pid
    assert (first.payload["count"], second.payload["count"]) == (1, 2)  # module state survives
    assert emulator.cold_starts == 1
    assert first.payload["event"] == {"question": "one"}
    assert second.payload["request_id"] == second.request_id == "req-2"
    assert first.payload["function_arn"] == "arn:aws:lambda:us-east-1:123456789012:function:orders"
    assert 25_000 < first.payload["remaining_ms"] <= 30_000
    assert second.response_at > first.response_at

    env = first.payload["env"]
    assert "EMU_LEAK_CANARY" not in env  # a clean environment, not the test's
    assert env["MY_SETTING"] == "on"
    assert env["_HANDLER"] == "basic.handler"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{PY}"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert "[$LATEST]" in env["AWS_LAMBDA_LOG_STREAM_NAME"]
    assert env["AWS_LAMBDA_RUNTIME_API"] == emulator.runtime_api
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["LAMBDA_TASK_ROOT"] == str(SANDBOX_HANDLERS.resolve()) == first.payload["cwd"]
    assert env["AWS_ACCESS_KEY_ID"] and env["AWS_SECRET_ACCESS_KEY"] and env["AWS_SESSION_TOKEN"]
    assert env["_X_AMZN_TRACE_ID"].startswith("Root=1-")

    sys_path = first.payload["sys_path"]
    site_packages = next(index for index, entry in enumerate(sys_path) if entry.endswith("site-packages"))
    assert sys_path.index(str(SANDBOX_HANDLERS.resolve())) < site_packages  # the task root comes first


def test_reserved_variables_are_refused() -> None:
    with pytest.raises(ValueError, match="AWS_REGION"):
        LambdaEmulator("basic.handler", task_root=SANDBOX_HANDLERS, env={"AWS_REGION": "eu-west-1"})


def test_a_client_context_reaches_the_handler_as_lambdas_context_does(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.client_context")
    custom = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "tenant": "acme"}
    client = {"installation_id": "i-1", "app_title": "app", "app_version_name": "1.0"}

    plain = emulator.invoke({}, client_context={"custom": custom})
    full = emulator.invoke({}, client_context={"custom": custom, "client": client, "env": {"locale": "en"}})
    without = emulator.invoke({})

    assert plain.ok and full.ok and without.ok, (plain.error, full.error, without.error)
    assert plain.payload == {"client_context": {"custom": custom, "env": None, "client": None}}
    assert full.payload["client_context"]["custom"] == custom
    assert full.payload["client_context"]["env"] == {"locale": "en"}
    # awslambdaric's Client has Lambda's five fields: the ones the caller did not send are None.
    assert full.payload["client_context"]["client"] == {**client, "app_version_code": None, "app_package_name": None}
    assert without.payload == {"client_context": None}  # a warm invocation keeps nothing of the last one's


def test_a_client_context_lambda_would_refuse_is_refused(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.client_context")
    with pytest.raises(ValueError, match="3583"):
        emulator.invoke({}, client_context={"custom": {"blob": "x" * 3000}})
    with pytest.raises(ValueError, match="mapping"):
        emulator.invoke({}, client_context=["custom"])  # type: ignore[arg-type]
    assert emulator.sandbox_pid is None  # refused before any sandbox was started


def test_handler_error_keeps_the_sandbox_warm(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.handler")

    failed = emulator.invoke({"raise": "boom"})
    after = emulator.invoke({})

    assert failed.error is not None
    assert failed.error["errorType"] == "ValueError"
    assert failed.error["errorMessage"] == "boom"
    assert any("basic.py" in line for line in failed.error["stackTrace"])
    assert failed.payload is None and failed.cold
    assert after.ok and not after.cold
    assert after.payload["count"] == 2
    emulator.stop()  # output is read asynchronously; it is complete once the sandbox is gone
    assert "[ERROR] ValueError: boom" in emulator.logs  # the runtime logs the error to stdout


@pytest.mark.parametrize(
    ("handler", "error_type", "message"),
    [
        ("broken_import.handler", "RuntimeError", "broken at import"),
        ("no_such_module.handler", "Runtime.ImportModuleError", "Unable to import module 'no_such_module'"),
        ("basic.no_such_function", "Runtime.HandlerNotFound", "Handler 'no_such_function' missing"),
    ],
)
def test_init_error_discards_the_sandbox(emulators: MakeEmulator, handler: str, error_type: str, message: str) -> None:
    emulator = emulators(handler)

    first = emulator.invoke({})
    second = emulator.invoke({})

    for invocation in (first, second):
        assert invocation.error is not None
        assert invocation.error["errorType"] == error_type
        assert message in invocation.error["errorMessage"]
        assert invocation.cold
    assert first.sandbox_pid != second.sandbox_pid
    assert emulator.cold_starts == 2
    assert emulator.sandbox_pid is None


def test_timeout_kills_the_process_group_and_the_next_invocation_is_cold(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.sleepy", timeout_s=0.5)

    warm_up = emulator.invoke({"seconds": 0})
    timed_out = emulator.invoke({"seconds": 30})
    after = emulator.invoke({"seconds": 0})

    assert warm_up.ok
    pid, child_pid = warm_up.payload["pid"], warm_up.payload["child_pid"]
    assert timed_out.error is not None
    assert timed_out.error["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 0.50 seconds" in timed_out.error["errorMessage"]
    assert not timed_out.cold
    assert 500 <= timed_out.duration_ms < 5000
    assert _gone(pid) and _gone(child_pid)  # the runtime and what it started
    assert after.ok and after.cold
    assert after.payload["pid"] != pid
    assert emulator.cold_starts == 2


def test_runtime_exit_is_an_exit_error_and_the_next_invocation_is_cold(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.exit_now")

    died = emulator.invoke({"code": 3})
    again = emulator.invoke({"code": 4})

    assert died.error is not None
    assert died.error["errorType"] == "Runtime.ExitError"
    assert died.error["errorMessage"] == f"RequestId: {died.request_id} Error: Runtime exited with error: exit status 3"
    assert again.cold and again.error is not None and "exit status 4" in again.error["errorMessage"]


def test_init_that_outlasts_the_init_timeout_is_killed(emulators: MakeEmulator) -> None:
    emulator = emulators("slow_import.handler", init_timeout_s=0.5)

    result = emulator.invoke({})

    assert result.error == {
        "errorType": "Sandbox.Timedout",
        "errorMessage": "Init phase did not complete within 0.50 seconds",
    }
    assert result.cold and result.sandbox_pid is not None
    assert _gone(result.sandbox_pid)
    assert emulator.sandbox_pid is None


def test_snap_start_init_runs_the_snapshot_hooks(emulators: MakeEmulator) -> None:
    emulator = emulators("snap.handler", init_type="snap-start")

    result = emulator.invoke({})

    assert result.ok, (result.error, emulator.logs)
    assert result.payload == ["before snapshot", "after restore"]


def test_an_exec_wrapper_that_cannot_run_is_an_invalid_entrypoint(emulators: MakeEmulator, tmp_path: Path) -> None:
    emulator = emulators("basic.handler", exec_wrapper=str(tmp_path / "missing-wrapper"))

    result = emulator.invoke({})

    assert result.error is not None and result.error["errorType"] == "Runtime.InvalidEntrypoint"
    assert result.cold and result.sandbox_pid is None


# --------------------------------------------------------------------------------------------
# Freezing


def test_freeze_stops_the_sandbox_between_invocations_and_thaws_it_for_the_next(
    emulators: MakeEmulator, tmp_path: Path
) -> None:
    ticks = tmp_path / "ticks"
    emulator = emulators("ticker.handler")

    first = emulator.invoke({"path": str(ticks)})
    assert first.ok and first.payload["advanced"]
    assert emulator.wait_frozen(5.0)
    assert emulator.frozen
    assert first.frozen_at is not None and first.frozen_at >= first.response_at
    assert _process_state(first.payload["pid"]) == "T"

    frozen_value = _read_ticks(ticks)
    _pause(0.1)  # 20 ticks' worth: none may happen while frozen
    assert _read_ticks(ticks) == frozen_value

    second = emulator.invoke({"path": str(ticks)})  # thawed just before the event
    assert second.ok and not second.cold
    assert second.payload["advanced"]  # the ticker ran again during the invocation
    assert second.payload["ticks"] > frozen_value
    assert emulator.wait_frozen(5.0)
    assert second.frozen_at is not None

    pid = first.payload["pid"]
    emulator.kill_sandbox()  # SIGKILL reaches a stopped process
    assert _gone(pid)
    assert emulator.sandbox_pid is None and not emulator.frozen
    assert emulator.invoke({"path": str(ticks)}).cold


def test_no_freeze_leaves_the_sandbox_running(emulators: MakeEmulator, tmp_path: Path) -> None:
    ticks = tmp_path / "ticks"
    emulator = emulators("ticker.handler", freeze=False)

    first = emulator.invoke({"path": str(ticks)})

    assert first.ok
    assert not emulator.wait_frozen(0.1)
    assert first.frozen_at is None
    before = _read_ticks(ticks)
    _pause(0.1)
    assert _read_ticks(ticks) > before
    assert emulator.invoke({"path": str(ticks)}).ok


# --------------------------------------------------------------------------------------------
# Bootstrap: exec wrapper, _HANDLER, layers


WRAPPER = """#!/bin/sh
export EMU_WRAPPER_MARKER=wrapped
export ORIG_HANDLER="$_HANDLER"
export _HANDLER=basic.wrapped
exec "$@"
"""


@pytest.mark.parametrize("how", ["argument", "variable"])
def test_exec_wrapper_runs_first_and_the_handler_is_read_from_handler_variable(
    emulators: MakeEmulator, tmp_path: Path, how: str
) -> None:
    wrapper = tmp_path / "wrapper"
    wrapper.write_text(WRAPPER)
    wrapper.chmod(0o755)
    if how == "argument":
        emulator = emulators("basic.handler", exec_wrapper=str(wrapper))
    else:
        emulator = emulators("basic.handler", env={"AWS_LAMBDA_EXEC_WRAPPER": str(wrapper)})

    result = emulator.invoke({})

    assert result.ok, result.error
    # The runtime ran basic.wrapped: it read the handler the wrapper rewrote, not an argument.
    assert result.payload == {"marker": "wrapped", "original_handler": "basic.handler", "exec_wrapper": str(wrapper)}


def test_layers_are_laid_out_as_opt(emulators: MakeEmulator, tmp_path: Path) -> None:
    layer_dir = tmp_path / "layer-a"
    (layer_dir / "python").mkdir(parents=True)
    (layer_dir / "python" / "layer_mod.py").write_text("VALUE = 'from python/'\n")
    (layer_dir / "python" / "shadowed.py").write_text("VALUE = 'layer'\n")
    (layer_dir / "python" / "both_layers.py").write_text("VALUE = 'first layer'\n")
    layer_zip = tmp_path / "layer-b.zip"
    with zipfile.ZipFile(layer_zip, "w") as archive:
        archive.writestr(f"python/lib/python{PY}/site-packages/layer_mod2.py", "VALUE = 'from site-packages'\n")
        archive.writestr("python/both_layers.py", "VALUE = 'second layer'\n")
        wrapper = zipfile.ZipInfo("layer-wrapper")
        wrapper.external_attr = (stat.S_IFREG | 0o755) << 16
        archive.writestr(wrapper, '#!/bin/sh\nexport LAYER_WRAPPER=ran\nexec "$@"\n')

    emulator = emulators("basic.layers", layers=[layer_dir, layer_zip], exec_wrapper="/opt/layer-wrapper")
    result = emulator.invoke({})

    assert result.ok, (result.error, emulator.logs)
    assert result.payload == {
        "layer_mod": "from python/",
        "layer_mod2": "from site-packages",
        "both_layers": "second layer",  # layers merge in order: the later one wins
        "shadowed": "task root",  # the task root comes before /opt
        "layer_wrapper": "ran",  # /opt/... found in the layers, mode bits kept from the zip
    }
    opt = emulator.opt_dir
    assert opt is not None
    emulator.stop()
    assert not opt.exists()  # the merged /opt is temporary


# --------------------------------------------------------------------------------------------
# Extensions


def _extension_log(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_internal_extension_gets_events_and_holds_the_freeze_until_it_asks_for_the_next(
    emulators: MakeEmulator, tmp_path: Path
) -> None:
    log = tmp_path / "extension.jsonl"
    emulator = emulators("extension.handler", env={"EXT_LOG": str(log)})

    first = emulator.invoke({})
    assert first.ok, (first.error, emulator.logs)
    assert emulator.wait_frozen(5.0)
    second = emulator.invoke({})
    assert second.ok and not second.cold
    assert emulator.wait_frozen(5.0)

    records = _extension_log(log)
    invokes = [record for record in records if record["event"] == "INVOKE"]
    assert [record["request_id"] for record in invokes] == [first.request_id, second.request_id]
    assert all(record["deadline_ms"] > 0 for record in invokes)
    for invocation in (first, second):
        done_at = next(r["at"] for r in records if r["event"] == "done" and r["request_id"] == invocation.request_id)
        assert invocation.frozen_at is not None
        # The caller had its answer while the extension was still working...
        assert invocation.response_at < done_at
        # ...and the sandbox stayed thawed until the extension asked for its next event, when it was done.
        assert done_at <= invocation.extensions_next_at["test-extension"] <= invocation.frozen_at
        assert invocation.frozen_at - invocation.response_at >= 0.08

    late = emulator.invoke({"register_late": True})
    assert late.ok and late.payload == {"late_status": 403}  # registration is for the init phase only

    emulator.stop()
    assert "SHUTDOWN" not in [record["event"] for record in _extension_log(log)]


def test_shutdown_goes_to_external_extensions_and_internal_ones_may_not_ask_for_it(
    emulators: MakeEmulator, tmp_path: Path
) -> None:
    log = tmp_path / "extension.jsonl"
    layer = tmp_path / "layer"
    (layer / "extensions").mkdir(parents=True)
    (layer / "extensions" / "external-ext").write_text("#!/bin/sh\n")
    emulator = emulators("extension.handler", env={"EXT_LOG": str(log), "EXT_NAME": "external-ext"}, layers=[layer])
    assert emulator.invoke({}).ok
    # A registration for SHUTDOWN by a name that is no file in extensions/ is an internal one: refused.
    refused = emulator.invoke({"register_shutdown": True})
    assert refused.payload == {"shutdown_status": 400}
    emulator.stop()
    records = _extension_log(log)
    assert {"event": "SHUTDOWN", "reason": "spindown"}.items() <= records[-1].items()


# --------------------------------------------------------------------------------------------
# Other interpreters


def _has_python(version: str) -> bool:
    try:
        resolve_python(version)
    except LookupError:
        return False
    return True


@pytest.mark.skipif(not _has_python("3.12"), reason="no Python 3.12 interpreter (pyenv install 3.12)")
def test_base_interpreter_with_its_own_runtime_directory(emulators: MakeEmulator) -> None:
    runtime = ensure_runtime("3.12", RUNTIME_CACHE)
    assert ensure_runtime("3.12", RUNTIME_CACHE) == runtime  # installed once
    emulator = emulators("basic.handler", python="3.12", runtime_path=[runtime])

    first = emulator.invoke({"n": 1})
    assert emulator.wait_frozen(5.0)
    second = emulator.invoke({"n": 2})

    assert first.ok and second.ok, (first.error, emulator.logs)
    assert (first.cold, second.cold) == (True, False)
    assert first.payload["version"] == second.payload["version"] == "3.12"
    assert first.payload["awslambdaric"].startswith(str(runtime))
    assert first.payload["env"]["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.12"
    assert first.payload["env"]["LAMBDA_RUNTIME_DIR"] == str(runtime)
    assert second.payload["count"] == 2
    # As on Lambda, the interpreter brings no packages: the base install's site-packages is not seen.
    base_packages = subprocess.run(
        [resolve_python("3.12"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert base_packages not in first.payload["sys_path"]


# --------------------------------------------------------------------------------------------
# The CLI


def _run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="hh-serverless")
    add_invoke(parser.add_subparsers())
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_cli_invoke_prints_cold_then_warm_and_the_sessions(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        "invoke",
        "traced.handler",
        "--task-root",
        str(SANDBOX_HANDLERS),
        "--event",
        '{"question": "hi"}',
        "-n",
        "2",
    ]

    assert _run_cli([*argv, "--receiver"]) == 0

    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(line for line in lines if line.startswith("#1 "))
    second = next(line for line in lines if line.startswith("#2 "))
    assert first.startswith("#1 cold  init ") and " ms  duration " in first
    assert second.startswith("#2 warm  duration ")
    assert '-> {"answer": "echo: hi"}' in first and '-> {"answer": "echo: hi"}' in second
    sessions = out.split("--- sessions ---\n", 1)[1]
    assert sessions.count("session ") == 2  # one session per invocation
    assert "name=lambda-emulated-function" in sessions
    assert "answer" in sessions


def test_cli_invoke_reports_errors_and_reads_events_from_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"raise": "bad input"}))

    code = _run_cli(
        ["invoke", "basic.handler", "--task-root", str(SANDBOX_HANDLERS), "--event", str(event), "--no-freeze"]
    )

    out = capsys.readouterr().out
    assert code == 1
    assert "#1 cold  init " in out
    assert "-> ERROR ValueError: bad input" in out
    assert "--- sandbox output ---" in out


def test_pids_are_real_processes(emulators: MakeEmulator) -> None:
    emulator = emulators("basic.handler")
    result = emulator.invoke({})
    pid = result.payload["pid"]
    assert os.getpgid(pid) == pid  # its own process group, which freezes and kills target
    emulator.stop()
    assert _gone(pid)
