"""What ``hh-serverless instrument`` says of a function's other layers' packages before it changes anything:
their zips read by ranges from a real HTTP server on loopback (as from a presigned ``Content.Location``),
and the plan's lines, from what was read."""

from __future__ import annotations

import io
import os
import re
import threading
import zipfile
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from honeyhive_serverless_dev.planning import PACKAGES_RULE, InstrumentOptions, LayerPackages, plan_instrument
from honeyhive_serverless_dev.zip_contents import layer_distributions, remote_zip

HH_LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:hh:3"
POWERTOOLS_LAYER = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-x86_64:7"
OTHER_LAYER = "arn:aws:lambda:us-east-1:123456789012:layer:theirs:1"
_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangedFiles(ThreadingHTTPServer):
    """Serves ``files`` by path with single ``Range`` requests, as S3 does; counts the bytes it sent."""

    def __init__(self, files: dict[str, bytes]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files = files
        self.sent = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: RangedFiles

    def do_GET(self) -> None:
        data = self.server.files.get(self.path)
        if data is None:
            self.send_error(404)
            return
        match = _RANGE.fullmatch(self.headers.get("Range") or "")
        if match is None:
            start, end, status = 0, len(data) - 1, 200
        elif not match.group(1):  # the last N bytes
            start, end, status = max(0, len(data) - int(match.group(2))), len(data) - 1, 206
        else:
            start, end, status = int(match.group(1)), min(int(match.group(2) or len(data) - 1), len(data) - 1), 206
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{end}/{len(data)}")
        self.send_header("Content-Length", str(end - start + 1))
        self.end_headers()
        self.wfile.write(data[start : end + 1])
        self.server.sent += end - start + 1

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[RangedFiles]:
    served = RangedFiles({})
    thread = threading.Thread(target=served.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.shutdown()
        served.server_close()
        thread.join()


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_layers_distributions_are_read_from_its_zip_by_ranges(server: RangedFiles) -> None:
    bulk = os.urandom(1_000_000)  # most of the zip: never transferred
    server.files["/powertools.zip"] = zip_of(
        {
            "python/aws_lambda_powertools/__init__.py": b"",
            "python/aws_lambda_powertools/bulk.bin": bulk,
            "python/aws_lambda_powertools-3.4.1.dist-info/METADATA": b"Name: aws-lambda-powertools\n",
            "python/lib/python3.12/site-packages/typing_extensions-4.12.2.dist-info/METADATA": b"",
            "python/lib/python3.11/site-packages/wrapt-1.0.dist-info/METADATA": b"",  # another Python's
            "bin/tool-2.0.dist-info/METADATA": b"",  # not on the path
        }
    )

    with remote_zip(f"{server.url}/powertools.zip") as archive:
        names = archive.namelist()
        metadata = archive.read("python/aws_lambda_powertools-3.4.1.dist-info/METADATA")

    assert layer_distributions(names, "3.12") == {"aws-lambda-powertools": "3.4.1", "typing-extensions": "4.12.2"}
    assert metadata == b"Name: aws-lambda-powertools\n"
    assert server.sent < len(bulk) / 4


def test_a_location_that_is_not_http_or_not_a_zip_cannot_be_read(server: RangedFiles) -> None:
    server.files["/not.zip"] = b"not a zip at all"
    with pytest.raises(OSError, match="not an HTTP"), remote_zip("s3://"):
        pass
    with pytest.raises(zipfile.BadZipFile), remote_zip(f"{server.url}/not.zip"):
        pass
    with pytest.raises(OSError), remote_zip(f"{server.url}/missing.zip"):
        pass


# --------------------------------------------------------------------------------------------
# The plan's lines, from what was read

OURS = {
    "version": "0.1.0",
    "requires": {"aws-lambda-powertools": "<4,>=3.0", "opentelemetry-sdk": "<2,>=1.30"},
    "distributions": {
        "aws-lambda-powertools": {"dir": "0", "version": "3.37.0", "roots": ["aws_lambda_powertools"]},
        "opentelemetry-instrumentation": {
            "dir": "1",
            "version": "0.66b2",
            "roots": ["opentelemetry/instrumentation/utils.py"],
            "requires": {"opentelemetry-semantic-conventions": "==0.66b2"},
        },
        "opentelemetry-semantic-conventions": {"dir": "2", "version": "0.66b2", "roots": ["opentelemetry/semconv"]},
    },
}


def plan_with(packages: LayerPackages, layers: list[str]) -> Any:
    config = {
        "FunctionName": "fn",
        "Runtime": "python3.12",
        "Handler": "app.handler",
        "Layers": [{"Arn": arn} for arn in layers],
    }
    return plan_instrument(config, InstrumentOptions(layer_arn=HH_LAYER, no_key=True), packages=packages)


def test_the_plan_names_what_an_earlier_layer_brings_that_the_function_keeps() -> None:
    packages = LayerPackages({POWERTOOLS_LAYER: {"aws-lambda-powertools": "3.4.1", "jmespath": "1.0.1"}}, OURS)

    plan = plan_with(packages, [POWERTOOLS_LAYER])

    assert plan.notes == (
        f"{POWERTOOLS_LAYER} brings aws-lambda-powertools 3.4.1 (the layer's: 3.37.0): the function keeps them; "
        "the layer's are used only where it brings none",
    )
    assert not [warning for warning in plan.warnings if "aws-lambda-powertools" in warning]  # within <4,>=3.0


def test_a_kept_version_outside_what_the_layers_code_requires_is_a_warning() -> None:
    theirs = {"opentelemetry-semantic-conventions": "0.61b0", "aws-lambda-powertools": "2.40.0"}
    packages = LayerPackages({OTHER_LAYER: theirs}, OURS)

    plan = plan_with(packages, [OTHER_LAYER])

    warned = [warning for warning in plan.warnings if warning.startswith(OTHER_LAYER)]
    assert warned == [
        f"{OTHER_LAYER}'s aws-lambda-powertools 2.40.0 is kept, though honeyhive-serverless 0.1.0 requires "
        "<4,>=3.0: what needs it may fail, and each cold start says so in one warning line",
        f"{OTHER_LAYER}'s opentelemetry-semantic-conventions 0.61b0 is kept, though opentelemetry-instrumentation "
        "0.66b2 requires ==0.66b2: what needs it may fail, and each cold start says so in one warning line",
    ]


def test_layers_that_cannot_be_read_get_the_rule_in_one_line_and_unknown_ones_are_listed() -> None:
    packages = LayerPackages({POWERTOOLS_LAYER: None, OTHER_LAYER: {"requests": "2.32.3"}}, None)

    plan = plan_with(packages, [POWERTOOLS_LAYER, OTHER_LAYER])

    assert plan.notes == (
        f"{OTHER_LAYER} brings requests 2.32.3: the function keeps them",
        f"could not read {POWERTOOLS_LAYER}: {PACKAGES_RULE}",
    )


def test_an_older_honeyhive_layer_that_would_replace_an_earlier_layers_package_is_a_warning() -> None:
    packages = LayerPackages(
        {POWERTOOLS_LAYER: {"aws-lambda-powertools": "3.4.1"}}, None, {"aws-lambda-powertools": "3.37.0"}
    )

    plan = plan_with(packages, [POWERTOOLS_LAYER])

    assert plan.notes == ()
    assert (
        f"{HH_LAYER} is an older HoneyHive layer with aws-lambda-powertools 3.37.0 in /opt/python: attached last, "
        f"it replaces {POWERTOOLS_LAYER}'s 3.4.1; publish a current one (hh-serverless publish-layer)"
    ) in plan.warnings
