"""No code change: the handler redirect (``honeyhive_serverless.handler.handler`` + ``HH_LAMBDA_HANDLER``)
in-process, and the exec wrapper script (``AWS_LAMBDA_EXEC_WRAPPER``) run for real in subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import honeyhive_serverless.handler as entry
import plain
from conftest import API_KEY, REPO
from honeyhive_serverless.handler import HandlerConfigError
from honeyhive_serverless.variables import REDIRECT_HANDLER as THIS_HANDLER
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.layer_build import WRAPPER_PATH
from honeyhive_serverless_dev.receiver import DevReceiver

WRAPPER = WRAPPER_PATH
FUNCTION_NAME = "zero-code-fn"
SUBPROCESS_TIMEOUT_S = 30

WriteModule = Callable[[str, str], Path]


@pytest.fixture
def lambda_env(hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> DevReceiver:
    """``hh_env`` on Lambda, with the redirect's cached handler forgotten."""
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", FUNCTION_NAME)
    monkeypatch.setattr(entry, "_wrapped", None)
    return hh_env


@pytest.fixture
def write_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WriteModule]:
    """Write ``relative_path`` (under a directory put on sys.path) with ``source``. Its top-level name
    must start with ``zc_``: those modules are forgotten afterwards."""
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(entry, "_wrapped", None)

    def write(relative_path: str, source: str) -> Path:
        path = tmp_path / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(source, encoding="utf-8")
        return path

    yield write
    for name in [name for name in sys.modules if name.startswith("zc_")]:
        del sys.modules[name]


def call_redirect(event: Any, context: LambdaContext) -> Any:
    """What the Lambda runtime does with handler ``honeyhive_serverless.handler.handler``."""
    handler = entry.handler
    return handler(event, context)


# ------------------------------------------------------------------------------------------------
# The handler redirect, in-process


def test_redirect_returns_exactly_what_the_real_handler_returns_and_traces(
    lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HH_LAMBDA_HANDLER", "plain.handler")
    event = {"question": "what is honeyhive", "n": 1}
    context = LambdaContext(function_name=FUNCTION_NAME)

    result = call_redirect(event, context)

    assert result == plain.handler(event, context) == {"echo": event}
    assert entry.handler is entry.handler  # built once per sandbox
    assert entry.handler.__wrapped__ is plain.handler
    assert len(lambda_env.session_starts) == 1
    start = lambda_env.session_starts[0]
    session_id = start["session_id"]
    assert start["session_name"] == f"lambda-{FUNCTION_NAME}"
    assert start["source"] == "lambda"
    [span] = lambda_env.spans
    assert span.name == FUNCTION_NAME
    assert span.span_kind == "SERVER"
    assert span.session_id == session_id
    assert span.attributes["faas.invocation_id"] == context.aws_request_id
    assert span.attributes["cloud.provider"] == "aws"
    assert span.attributes["honeyhive_inputs.event.question"] == "what is honeyhive"
    assert span.attributes["honeyhive_outputs.response.echo.n"] == 1


def test_redirect_links_the_session_the_event_names(lambda_env: DevReceiver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HH_LAMBDA_HANDLER", "plain.handler")
    session_id = str(uuid.uuid4())
    event = {"session_id": session_id}

    assert call_redirect(event, LambdaContext(function_name=FUNCTION_NAME)) == {"echo": event}

    assert lambda_env.session_starts == []
    [span] = lambda_env.spans
    assert span.session_id == session_id


@pytest.mark.parametrize(
    ("relative_path", "handler_name"),
    [
        ("zc_src/zc_app.py", "zc_src/zc_app.main"),
        ("zc_deep/sub/zc_app.py", "zc_deep/sub/zc_app.main"),
    ],
    ids=["dir", "nested-dir"],
)
def test_redirect_accepts_the_dir_module_function_form(
    lambda_env: DevReceiver,
    write_module: WriteModule,
    monkeypatch: pytest.MonkeyPatch,
    relative_path: str,
    handler_name: str,
) -> None:
    write_module(relative_path, "def main(event, context):\n    return {'from': __name__, 'event': event}\n")
    monkeypatch.setenv("HH_LAMBDA_HANDLER", handler_name)
    event = {"n": 2}

    result = call_redirect(event, LambdaContext(function_name=FUNCTION_NAME))

    module_name = handler_name.rpartition(".")[0].replace("/", ".")
    assert result == {"from": module_name, "event": event}
    assert len(lambda_env.session_starts) == 1
    [span] = lambda_env.spans
    assert span.name == FUNCTION_NAME
    assert span.session_id == lambda_env.session_starts[0]["session_id"]


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_handler_variable_is_a_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, value: str | None
) -> None:
    monkeypatch.setattr(entry, "_wrapped", None)
    if value is not None:
        monkeypatch.setenv("HH_LAMBDA_HANDLER", value)

    with pytest.raises(HandlerConfigError, match="HH_LAMBDA_HANDLER"):
        call_redirect({}, LambdaContext())


@pytest.mark.parametrize("value", ["nodot", "mod.", "a.b-c", ".handler", THIS_HANDLER, "plain.no_such_function"])
def test_malformed_handler_variable_is_a_config_error_naming_it(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setattr(entry, "_wrapped", None)
    monkeypatch.setenv("HH_LAMBDA_HANDLER", value)

    with pytest.raises(HandlerConfigError, match="HH_LAMBDA_HANDLER"):
        call_redirect({}, LambdaContext())


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("raise ImportError('simulated: no module named openai')\n", ImportError),
        ("x = 1 / 0\n\ndef handler(event, context):\n    return x\n", ZeroDivisionError),
    ],
    ids=["import-error", "zero-division"],
)
def test_an_error_in_the_user_module_propagates_unchanged(
    write_module: WriteModule, monkeypatch: pytest.MonkeyPatch, source: str, error: type[Exception]
) -> None:
    name = f"zc_broken_{error.__name__.lower()}"
    write_module(f"{name}.py", source)
    monkeypatch.setenv("HH_LAMBDA_HANDLER", f"{name}.handler")

    with pytest.raises(error) as caught:
        call_redirect({}, LambdaContext())

    assert type(caught.value) is error
    assert not isinstance(caught.value, HandlerConfigError)


def test_a_missing_user_module_is_the_users_module_not_found_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry, "_wrapped", None)
    monkeypatch.setenv("HH_LAMBDA_HANDLER", "zc_module_that_does_not_exist.handler")

    with pytest.raises(ModuleNotFoundError, match="zc_module_that_does_not_exist"):
        call_redirect({}, LambdaContext())


# ------------------------------------------------------------------------------------------------
# The exec wrapper script, run for real


def run_wrapper(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``/opt/honeyhive-wrapper <argv...>`` as Lambda runs it: executed directly, in a clean env."""
    return subprocess.run(
        [str(WRAPPER), *argv],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )


SHOW_HANDLERS = "import os; print(os.environ['_HANDLER'], os.environ.get('HH_LAMBDA_HANDLER', '<unset>'))"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"_HANDLER": "plain.handler"}, f"{THIS_HANDLER} plain.handler"),
        ({"_HANDLER": "plain.handler", "HH_LAMBDA_HANDLER": "chat.handler"}, f"{THIS_HANDLER} chat.handler"),
        ({"_HANDLER": "plain.handler", "HH_LAMBDA_HANDLER": ""}, f"{THIS_HANDLER} plain.handler"),
        ({"_HANDLER": THIS_HANDLER, "HH_LAMBDA_HANDLER": "plain.handler"}, f"{THIS_HANDLER} plain.handler"),
        ({"_HANDLER": THIS_HANDLER}, f"{THIS_HANDLER} <unset>"),
    ],
    ids=["redirects", "keeps-preset", "empty-preset-replaced", "already-redirected", "already-no-variable"],
)
def test_exec_wrapper_rewrites_the_handler_for_the_runtime(env: dict[str, str], expected: str) -> None:
    completed = run_wrapper([sys.executable, "-c", SHOW_HANDLERS], env)

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == expected


def test_exec_wrapper_passes_arguments_and_exit_status_through() -> None:
    code = "import sys; print(sys.argv[1:]); raise SystemExit(7)"
    completed = run_wrapper([sys.executable, "-c", code, "two words", "--flag", "$HOME"], {"_HANDLER": "plain.handler"})

    assert completed.returncode == 7
    assert completed.stdout.strip() == str(["two words", "--flag", "$HOME"])


def web_app_opt(tmp_path: Path, *, with_adapter: bool) -> tuple[Path, Path]:
    """``(/opt, task root)`` of a web app: this layer's wrapper, a task root holding an executable
    ``run.sh``, and with ``with_adapter`` an ``/opt/bootstrap`` that tells how it was run."""
    opt, task_root = tmp_path / "opt", tmp_path / "task"
    opt.mkdir()
    task_root.mkdir()
    (opt / WRAPPER.name).symlink_to(WRAPPER)
    script = task_root / "run.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o755)
    if with_adapter:
        adapter = opt / "bootstrap"
        adapter.write_text('#!/bin/sh\necho "adapter $_HANDLER ${HH_LAMBDA_HANDLER:-<unset>} $*"\n')
        adapter.chmod(0o755)
    return opt, task_root


@pytest.mark.parametrize("with_adapter", [True, False], ids=["web-adapter-attached", "no-web-adapter"])
def test_exec_wrapper_leaves_a_startup_script_handler_to_the_web_adapter(tmp_path: Path, with_adapter: bool) -> None:
    opt, task_root = web_app_opt(tmp_path, with_adapter=with_adapter)
    env = {"_HANDLER": "run.sh", "LAMBDA_TASK_ROOT": str(task_root)}

    completed = subprocess.run(
        [str(opt / WRAPPER.name), "sh", "-c", 'echo "runtime $_HANDLER ${HH_LAMBDA_HANDLER:-<unset>}"'],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT_S,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    # Handed over with the runtime's arguments (LWA's bootstrap ignores them), the handler untouched.
    expected = "adapter run.sh <unset> sh -c " if with_adapter else "runtime run.sh <unset>"
    assert completed.stdout.startswith(expected)
    [warning] = completed.stderr.splitlines()
    assert "run.sh is a startup script" in warning
    assert ("/opt/bootstrap" in warning) is with_adapter


# What Lambda's bootstrap does once the exec wrapper has run: read _HANDLER, import the module, get the
# function, call it per event with a context. Two invocations: the first names no session, the second
# names one.
BOOTSTRAP = """
import importlib, json, os, sys
from honeyhive_serverless_dev.lambda_context import LambdaContext
from honeyhive_serverless_dev.layer_build import WRAPPER_PATH

module_name, _, function_name = os.environ["_HANDLER"].rpartition(".")
handler = getattr(importlib.import_module(module_name), function_name)
results = []
for event, request_id in json.loads(sys.argv[1]):
    context = LambdaContext(function_name=os.environ["AWS_LAMBDA_FUNCTION_NAME"], aws_request_id=request_id)
    results.append(handler(event, context))
print(json.dumps({"handler": os.environ["_HANDLER"], "results": results}))
"""


def test_exec_wrapper_then_bootstrap_traces_the_unchanged_handler(receiver: DevReceiver) -> None:
    linked = str(uuid.uuid4())
    invocations = [
        ({"question": "first"}, str(uuid.uuid4())),
        ({"question": "second", "session_id": linked}, str(uuid.uuid4())),
    ]
    env = {
        "PYTHONPATH": os.pathsep.join([str(REPO / "handlers"), str(REPO / "layer")]),
        "HH_API_URL": receiver.url,
        "HH_API_KEY": API_KEY,
        "HH_PROJECT": "test-project",
        "AWS_LAMBDA_FUNCTION_NAME": "zc-bootstrap",
        "AWS_REGION": "us-east-1",
        "_HANDLER": "plain.handler",
    }

    completed = run_wrapper([sys.executable, "-c", BOOTSTRAP, json.dumps(invocations)], env)

    assert completed.returncode == 0, completed.stderr
    assert "Traceback" not in completed.stderr, completed.stderr
    output = json.loads(completed.stdout)
    assert output == {"handler": THIS_HANDLER, "results": [{"echo": event} for event, _ in invocations]}

    assert len(receiver.session_starts) == 1  # the first invocation's; the second is linked
    start = receiver.session_starts[0]
    assert start["session_name"] == "lambda-zc-bootstrap"
    assert start["source"] == "lambda"
    assert start["project"] == "test-project"
    spans = {span.attributes["faas.invocation_id"]: span for span in receiver.spans}
    assert set(spans) == {request_id for _, request_id in invocations}
    assert len(receiver.spans) == 2
    first, second = (spans[request_id] for _, request_id in invocations)
    assert first.session_id == start["session_id"]
    assert second.session_id == linked
    for span, (event, _) in zip((first, second), invocations, strict=True):
        assert span.name == "zc-bootstrap"
        assert span.span_kind == "SERVER"
        assert span.attributes["cloud.provider"] == "aws"
        assert span.attributes["honeyhive_inputs.event.question"] == event["question"]
    assert first.attributes["honeyhive_metadata.start"] != "warm"
    assert second.attributes["honeyhive_metadata.start"] == "warm"


def test_redirecting_to_an_already_decorated_handler_opens_one_session(
    hh_env: DevReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import honeyhive_serverless.handler as redirect

    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("HH_LAMBDA_HANDLER", "chat.handler")
    monkeypatch.setattr(redirect, "_wrapped", None)
    import chat

    assert redirect.handler is chat.handler  # wrapping a wrapped handler changes nothing
    result = redirect.handler({"question": "once?"}, LambdaContext(function_name="fn"))
    assert result["statusCode"] == 200
    assert len(hh_env.session_starts) == 1
    assert len({span.session_id for span in hh_env.spans}) == 1
