"""Bootstrap and deploy the example app with the real CDK CLI to a moto server on loopback, then show it.

``make deploy-local`` runs this: it starts moto on 127.0.0.1 (an ephemeral port), creates the API key
secret the app imports, runs ``cdk bootstrap`` and ``cdk deploy``, and prints each function's deployed
configuration and the layer version. ``--destroy`` runs ``cdk destroy`` afterwards; ``--keep-running``
keeps moto serving until Ctrl-C so the deployment can be inspected (``aws --endpoint-url ...``).

Nothing leaves the machine: fake credentials, every AWS endpoint pointed at moto, and the CLI's
telemetry, notices and version check off. The functions themselves are not run here (moto cannot
without Docker); the tests run the deployed code and layer through the local Lambda emulator.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer

import app as example_app
from honeyhive_serverless import variables

CDK_DIR = Path(__file__).resolve().parent
CDK_CLI = CDK_DIR / "node_modules" / ".bin" / "cdk"
ACCOUNT = "123456789012"
REGION = "us-east-1"
STACK_NAME = example_app.STACK_NAME
# The CLI phones home for notices, version checks and telemetry unless told not to; Node 20 banners are noise.
QUIET_CLI_ENV = {
    "CDK_DISABLE_CLI_TELEMETRY": "true",
    "CDK_DISABLE_VERSION_CHECK": "1",
    "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20",
    "NODE_NO_WARNINGS": "1",
}
CLI_TIMEOUT_S = 300
# moto accepts any credentials; these fake ones keep real ones from ever being looked up.
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing", "aws_session_token": "testing"}


class CdkCliError(RuntimeError):
    """A CDK CLI command failed; the message holds its output."""


@dataclass(frozen=True)
class LocalAws:
    """A moto server on loopback and the environment that points AWS clients (and the CDK CLI) at it."""

    endpoint: str

    @property
    def port(self) -> int:
        return int(self.endpoint.rsplit(":", 1)[1])

    def env(self) -> dict[str, str]:
        """Fake credentials and every endpoint on moto; no shared config or credentials file is read."""
        return {
            **{name.upper(): value for name, value in FAKE_CREDENTIALS.items()},
            variables.AWS_REGION: REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_ENDPOINT_URL": self.endpoint,
            # moto reads a template URL's host 127.0.0.1 as a bucket named "127"; "localhost" works.
            "AWS_ENDPOINT_URL_S3_FOR_CLOUDFORMATION": f"http://localhost:{self.port}",
        }

    def client(self, service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=REGION,
            **FAKE_CREDENTIALS,
        )


@contextmanager
def moto_server() -> Iterator[LocalAws]:
    """A moto server on 127.0.0.1 and an ephemeral port, stopped on exit."""
    # One line per request from werkzeug and one per unsupported bootstrap resource from moto: noise here.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    logging.getLogger("moto").setLevel(logging.ERROR)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        yield LocalAws(f"http://{host}:{port}")
    finally:
        server.stop()


def run_cdk(
    args: Sequence[str],
    aws: LocalAws | None = None,
    *,
    context: Mapping[str, str] | None = None,
    cwd: Path = CDK_DIR,
) -> subprocess.CompletedProcess[str]:
    """Run the pinned CDK CLI in ``cwd`` (offline flags on); raise CdkCliError with its output on failure."""
    if not CDK_CLI.exists():
        raise CdkCliError(f"{CDK_CLI} is missing: run `npm ci --prefix cdk` (make does it)")
    env = {**os.environ, **QUIET_CLI_ENV, **(aws.env() if aws else {})}
    command = [str(CDK_CLI), *args, "--no-notices"]
    for name, value in (context or {}).items():
        command += ["--context", f"{name}={value}"]
    result = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=CLI_TIMEOUT_S, check=False
    )
    if result.returncode != 0:
        raise CdkCliError(f"`cdk {' '.join(args)}` exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
    return result


def configured_secret_name() -> str:
    """The API key secret's name the app imports, from cdk.json's context."""
    context = json.loads((CDK_DIR / "cdk.json").read_text())["context"]
    return str(context[example_app.CONTEXT_SECRET_NAME])


def create_api_key_secret(aws: LocalAws, name: str, api_key: str) -> str:
    """Create the secret the app imports by name (moto cannot deploy one made in the stack); its ARN."""
    secrets = aws.client("secretsmanager")
    arn: str = secrets.create_secret(Name=name, SecretString=api_key)["ARN"]
    return arn


def synth(assembly: Path, *, context: Mapping[str, str]) -> Path:
    """``cdk synth`` the app into ``assembly`` (building the layer unless dist/ has it); the later commands
    deploy exactly that cloud assembly."""
    run_cdk(["synth", "--quiet", "--output", str(assembly)], context=context)
    return assembly


def bootstrap(aws: LocalAws, assembly: Path) -> None:
    run_cdk(["bootstrap", f"aws://{ACCOUNT}/{REGION}", "--app", str(assembly)], aws)


def deploy(aws: LocalAws, assembly: Path, stack: str = STACK_NAME) -> dict[str, str]:
    """``cdk deploy`` a stack (the example one by default) from ``assembly``; its outputs."""
    outputs_file = assembly / "outputs.json"
    run_cdk(
        [
            "deploy",
            stack,
            "--app",
            str(assembly),
            "--require-approval",
            "never",
            # The default change-set method returns no outputs from moto.
            "--method=direct",
            "--outputs-file",
            str(outputs_file),
        ],
        aws,
    )
    outputs: dict[str, str] = json.loads(outputs_file.read_text()).get(stack, {})  # none: not listed
    return outputs


def destroy(aws: LocalAws, assembly: Path) -> None:
    run_cdk(["destroy", STACK_NAME, "--app", str(assembly), "--force"], aws)


@dataclass(frozen=True)
class DeployedFunction:
    """A function as boto3 sees it, and where its code is in the assets bucket."""

    logical_id: str
    configuration: dict[str, Any]
    code_key: str

    @property
    def name(self) -> str:
        return str(self.configuration["FunctionName"])


@dataclass(frozen=True)
class DeployedLayer:
    """The stack's layer version as boto3 sees it, and where its zip is in the assets bucket."""

    logical_id: str
    version: dict[str, Any]
    content_key: str


@dataclass(frozen=True)
class Deployment:
    """What the example stack deployed: its functions by logical id, the layer, the assets bucket."""

    functions: dict[str, DeployedFunction]
    layer: DeployedLayer
    bucket: str

    def summary(self) -> str:
        lines = []
        for function in self.functions.values():
            config = function.configuration
            lines.append(f"function {function.name} ({config['Runtime']}, {', '.join(config['Architectures'])})")
            lines.append(f"  Handler: {config['Handler']}")
            for variable, value in sorted(config.get("Environment", {}).get("Variables", {}).items()):
                lines.append(f"  {variable}={value}")
        version = self.layer.version
        lines.append(f"layer version {version['LayerVersionArn']}")
        lines.append(f"  {version.get('Description', '')}")
        lines.append(f"  compatible runtimes: {', '.join(version.get('CompatibleRuntimes', []))}")
        lines.append(f"  code: s3://{self.bucket}/{self.layer.content_key} ({version['Content']['CodeSize']} bytes)")
        return "\n".join(lines)


def describe(aws: LocalAws, stack: str = STACK_NAME) -> Deployment:
    """Read a deployed stack (the example one by default) back: function configurations, the layer
    version, their code in S3.

    moto's CloudFormation gives the layer version no ARN (outputs and ``Layers`` are broken), so the layer
    is found by the name moto gives it, ``<stack>-<logical id>-<suffix>``.
    """
    cloudformation, lambda_client = aws.client("cloudformation"), aws.client("lambda")
    template = cloudformation.get_template(StackName=stack)["TemplateBody"]
    if isinstance(template, str):
        template = json.loads(template)
    resources = template["Resources"]
    deployed = cloudformation.describe_stack_resources(StackName=stack)["StackResources"]
    functions = {
        resource["LogicalResourceId"]: DeployedFunction(
            resource["LogicalResourceId"],
            _without_metadata(lambda_client.get_function_configuration(FunctionName=resource["PhysicalResourceId"])),
            resources[resource["LogicalResourceId"]]["Properties"]["Code"]["S3Key"],
        )
        for resource in deployed
        if resource.get("ResourceType") == "AWS::Lambda::Function"  # moto omits it for what it does not model
    }
    [layer_id] = [name for name, resource in resources.items() if resource["Type"] == "AWS::Lambda::LayerVersion"]
    [layer_name] = [
        layer["LayerName"]
        for layer in lambda_client.list_layers()["Layers"]
        if layer["LayerName"].startswith(f"{stack}-{layer_id}-")
    ]
    [listed] = lambda_client.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    version = _without_metadata(lambda_client.get_layer_version(LayerName=layer_name, VersionNumber=listed["Version"]))
    content = resources[layer_id]["Properties"]["Content"]
    layer = DeployedLayer(layer_id, version, content["S3Key"])
    bucket = content["S3Bucket"]["Fn::Sub"].replace("${AWS::AccountId}", ACCOUNT).replace("${AWS::Region}", REGION)
    return Deployment(functions, layer, bucket)


def download(aws: LocalAws, bucket: str, key: str, code_sha256: str, target: Path) -> Path:
    """Download a zip from moto's S3, checked against the CodeSha256 Lambda reports for what it deployed."""
    data = aws.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    actual = lambda_code_sha256(data)
    if actual != code_sha256:
        raise RuntimeError(f"s3://{bucket}/{key} has CodeSha256 {actual}, Lambda deployed {code_sha256}")
    target.write_bytes(data)
    return target


def lambda_code_sha256(data: bytes) -> str:
    """Lambda's ``CodeSha256`` of a zip: the base64 of its sha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _without_metadata(response: dict[str, Any]) -> dict[str, Any]:
    return {name: value for name, value in response.items() if name != "ResponseMetadata"}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--api-key",
        default=os.environ.get(variables.API_KEY, "hh-local-example-key"),
        help="value of the secret created in moto (default: $HH_API_KEY or a placeholder)",
    )
    parser.add_argument("--server-url", help="HH_API_URL for the functions, e.g. a dev receiver's URL")
    parser.add_argument("--destroy", action="store_true", help="run `cdk destroy` after showing the deployment")
    parser.add_argument("--keep-running", action="store_true", help="keep moto serving until Ctrl-C")
    args = parser.parse_args(argv)
    # moto warns once per bootstrap resource its CloudFormation cannot create (the bucket policy): noise.
    warnings.filterwarnings("ignore", message="Tried to parse", category=UserWarning)

    context = {example_app.CONTEXT_SERVER_URL: args.server_url} if args.server_url else {}
    with moto_server() as aws, tempfile.TemporaryDirectory(prefix="cdk-local-") as tmp:
        print(f"moto on {aws.endpoint}", flush=True)
        create_api_key_secret(aws, configured_secret_name(), args.api_key)
        print(f"synthesizing, bootstrapping and deploying {STACK_NAME} (about a minute)...", flush=True)
        assembly = synth(Path(tmp) / "cdk.out", context=context)
        bootstrap(aws, assembly)
        deploy(aws, assembly)
        print(describe(aws).summary(), flush=True)
        if args.destroy:
            destroy(aws, assembly)
            print(f"destroyed {STACK_NAME}", flush=True)
        if args.keep_running:
            print(f"moto keeps serving on {aws.endpoint}; Ctrl-C to stop", flush=True)
            with suppress(KeyboardInterrupt):
                threading.Event().wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
