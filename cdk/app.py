"""The example CDK app: the handlers in ``handlers/`` deployed with HoneyHive tracing.

An ordinary user of ``honeyhive_serverless_cdk``: the stack knows nothing of HoneyHive, and one
instrumentation, applied to the whole App, traces its functions. ``Echo`` (``plain.handler``, undecorated)
is traced with no code change: the Aspect redirects its handler. ``Chat`` (``chat.handler``) already uses
``@with_honeyhive_session``, so it is added explicitly with ``HandlerWrapping.NONE``: layer, variables and
key access, no second wrapper. The API key is a Secrets Manager secret named in context, imported by
name in the function's stack, never part of the template.

Context (``cdk.json`` or ``-c name=value``): ``honeyhive:apiKeySecretName``, ``honeyhive:project``,
``honeyhive:serverUrl`` (optional, e.g. a local dev receiver).
Every synthesis runs cdk-nag's AwsSolutions checks: an unacknowledged finding fails it.
"""

from __future__ import annotations

from pathlib import Path

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from cdk_nag import AwsSolutionsChecks
from constructs import Construct

from honeyhive_serverless_cdk import HandlerWrapping, HoneyHiveInstrumentation, LayerSource

HANDLERS_DIR = Path(__file__).resolve().parents[1] / "handlers"
RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.X86_64
CONTEXT_SECRET_NAME = "honeyhive:apiKeySecretName"  # noqa: S105 - the name of a context value
CONTEXT_PROJECT = "honeyhive:project"
CONTEXT_SERVER_URL = "honeyhive:serverUrl"
STACK_NAME = "HoneyHiveServerlessExample"


class ExampleStack(cdk.Stack):
    """Two functions, and outputs naming what a caller needs (the layer's is added with the instrumentation)."""

    def __init__(self, scope: Construct, id: str, *, api_key_secret_name: str) -> None:
        super().__init__(scope, id)
        code = lambda_.Code.from_asset(str(HANDLERS_DIR), exclude=["__pycache__", "*.pyc"])
        self.chat, self.echo = (
            lambda_.Function(
                self,
                name,
                handler=handler,
                code=code,
                runtime=RUNTIME,
                architecture=ARCHITECTURE,
                memory_size=256,
                timeout=cdk.Duration.seconds(15),
            )
            for name, handler in (("Chat", "chat.handler"), ("Echo", "plain.handler"))
        )
        # The ARN the functions get in HH_API_KEY_SECRET_ARN: the secret imported by the same name.
        secret = secretsmanager.Secret.from_secret_name_v2(self, "HoneyHiveApiKey", api_key_secret_name)
        cdk.CfnOutput(self, "ChatFunctionName", value=self.chat.function_name)
        cdk.CfnOutput(self, "EchoFunctionName", value=self.echo.function_name)
        cdk.CfnOutput(self, "ApiKeySecretArn", value=secret.secret_arn)

        for function in (self.chat, self.echo):
            _acknowledge_findings(function)


def _acknowledge_findings(function: lambda_.Function) -> None:
    """The cdk-nag findings this example accepts, each with its reason."""
    cdk.Validations.of(function).acknowledge(
        cdk.Acknowledgment(
            id="AwsSolutions::AwsSolutions-L1",
            reason=f"{RUNTIME.name} is deliberate: it is what the end-to-end test emulates, and a python3.14 layer "
            "is built only where a 3.14 interpreter exists to byte-compile and load-test it",
        )
    )
    assert function.role is not None
    cdk.Validations.of(function.role).acknowledge(
        cdk.Acknowledgment(
            id="AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
            "AWSLambdaBasicExecutionRole]",
            reason="AWSLambdaBasicExecutionRole only lets the function write its own CloudWatch logs; an inline "
            "copy would grant the same three log actions",
        )
    )


def build_app(app: cdk.App) -> ExampleStack:
    """The example stack in ``app``, traced, configured from context, with cdk-nag checking every synthesis."""
    secret_name = app.node.try_get_context(CONTEXT_SECRET_NAME)
    project = app.node.try_get_context(CONTEXT_PROJECT)
    if not secret_name or not project:
        raise ValueError(f"set the context values {CONTEXT_SECRET_NAME} and {CONTEXT_PROJECT} (cdk.json or -c)")
    stack = ExampleStack(app, STACK_NAME, api_key_secret_name=secret_name)

    honeyhive = HoneyHiveInstrumentation(
        project=project,
        api_key_secret=secret_name,
        server_url=app.node.try_get_context(CONTEXT_SERVER_URL) or None,
        layer=LayerSource.build_locally(),
    )
    honeyhive.add_functions(stack.chat, handler_wrapping=HandlerWrapping.NONE)
    honeyhive.apply_to(app)  # Echo, and any function added to the app later
    layer = honeyhive.layer_for(stack, RUNTIME, ARCHITECTURE)
    cdk.CfnOutput(stack, "LayerVersionArn", value=layer.layer_version_arn)

    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return stack


if __name__ == "__main__":
    app = cdk.App()
    build_app(app)
    app.synth()
