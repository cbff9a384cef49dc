"""The docs cannot rot: every fenced code block of README.md, CONTRIBUTING.md and docs/*.md runs.

Each page's blocks run in order in one directory of their own, as a reader would type them: Python
blocks by this interpreter (a CDK app synthesizes itself with ``app.synth()``), shell blocks by bash
with ``hh-serverless`` on the PATH. AWS is a moto server on loopback holding what the pages assume (a
role, Python functions named as the pages name them); HoneyHive is a strict dev receiver, so no block
reaches the network and what a block sends is held to HoneyHive's contract. A block that cannot run is
marked ``<!-- not run: why -->`` right above it; the comments a block may carry are in ``doc_blocks``.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import API_KEY
from doc_blocks import PYTHON, REPO, SHELL, Block, blocks, doc_pages
from honeyhive_serverless import variables
from honeyhive_serverless_dev.receiver import DevReceiver

REGION = "us-east-1"
#: The blocks run when this test was written: fewer means the collection broke or the docs lost examples.
MINIMUM_RUN = 18
#: A CDK synth builds a layer (seconds) and a shell block may build one too: generous, not a sync point.
BLOCK_TIMEOUT_S = 600
#: The functions the pages' commands act on, as they name them (``--function my-fn``, ``'orders-.*'``),
#: with the tags they select by (``--tag app=orders``).
FUNCTIONS = {"my-fn": {}, "other-fn": {}, "orders-api": {"app": "orders"}, "orders-worker": {"app": "orders"}}
#: Host variables a block's process inherits; the rest of its environment is the docs' world.
INHERITED = ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH", "NODE_PATH")


def _zip(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def moto_url() -> Iterator[str]:
    """A moto server on loopback with a role and the Python functions the pages name."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION)
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}
            ],
        }
        role = session.client("iam", endpoint_url=url).create_role(
            RoleName="docs-role", AssumeRolePolicyDocument=json.dumps(trust)
        )["Role"]["Arn"]
        lambda_ = session.client("lambda", endpoint_url=url)
        code = _zip({"app.py": "def handler(event, context):\n    return event\n"})
        for name, tags in FUNCTIONS.items():
            lambda_.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="app.handler",
                Code={"ZipFile": code},
                Tags=tags,
            )
        yield url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def docs_receiver() -> Iterator[DevReceiver]:
    server = DevReceiver().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def world(moto_url: str, docs_receiver: DevReceiver, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment every block runs in: this checkout's code, fake AWS on moto, HoneyHive on the receiver."""
    env = {name: os.environ[name] for name in INHERITED if name in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    no_config = tmp_path_factory.mktemp("no-aws-config")
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ENDPOINT_URL": moto_url,
            "AWS_CONFIG_FILE": str(no_config / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(no_config / "credentials"),
            variables.API_URL: docs_receiver.url,
            variables.API_KEY: API_KEY,
            variables.LAYER_CACHE_DIR: str(tmp_path_factory.mktemp("layer-cache")),
            "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
            "CDK_DISABLE_CLI_TELEMETRY": "true",
        }
    )
    return env


def run_block(block: Block, workdir: Path, env: dict[str, str]) -> str:
    """Run one block in ``workdir``; its output, or the test fails with it."""
    script = block.script()
    if block.runner == PYTHON:
        path = workdir / f"_block_line_{block.line}.py"
        path.write_text(script, encoding="utf-8")
        command = [sys.executable, str(path)]
    else:
        command = ["bash", "-euo", "pipefail", "-c", script]
    result = subprocess.run(
        command, cwd=workdir, env=env, capture_output=True, text=True, timeout=BLOCK_TIMEOUT_S, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{block.where} exited {result.returncode}:\n{script}\n--- output ---\n{output}"
    for text in block.expect:
        assert text in output, f"{block.where}: {text!r} not in its output:\n{output}"
    return output


@pytest.mark.parametrize("page", doc_pages(), ids=lambda page: str(page.relative_to(REPO)))
def test_every_unmarked_block_of_the_page_runs(
    page: Path, world: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ran: list[Block] = []
    for block in blocks(page):
        if block.not_run is not None:
            continue
        if block.file is not None:
            (tmp_path / block.file).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / block.file).write_text(block.code, encoding="utf-8")
            continue
        assert block.runner in (PYTHON, SHELL), (
            f"{block.where}: a {block.language or 'plain'} block cannot run: "
            "make it a file (<!-- file: NAME -->) or say why not (<!-- not run: why -->)"
        )
        run_block(block, tmp_path, world)
        ran.append(block)

    runnable = [b for b in blocks(page) if b.not_run is None and b.file is None]
    assert ran == runnable
    with capsys.disabled():
        print(f"\n{page.relative_to(REPO)}: {len(ran)} blocks run", end="")


def test_the_docs_have_their_examples_and_say_why_each_other_block_is_not_run() -> None:
    every = [block for page in doc_pages() for block in blocks(page)]
    run = [b for b in every if b.not_run is None and b.file is None]
    marked = [b for b in every if b.not_run is not None]

    assert len(run) >= MINIMUM_RUN, f"only {len(run)} blocks run"
    assert all(b.not_run for b in marked), [b.where for b in marked if not b.not_run]
    assert any(b.path.name == "README.md" for b in run)
