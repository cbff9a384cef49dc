"""``ApiKey``: where instrumented functions read the HoneyHive key, and their access to it.

The key may be an ingestion key (``hh_ingst_...``, which can only send telemetry: HoneyHive's advice
for anything deployed) or an API key; the function sends either as its Bearer token.

A secret or an SSM SecureString parameter given by name (or a secret by full ARN) is imported in each
function's own stack, so an instrumentation applied to a whole App needs no cross-stack reference and
works across stages; a secret or parameter object is used as it is.
"""

from __future__ import annotations

from aws_cdk import Stack, Token
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_ssm as ssm

from honeyhive_serverless import variables

from .per_stack import child_id, find_or_create


class ApiKey:
    """Exactly one key source: ``secret`` (recommended), ``parameter``, or ``plaintext`` (discouraged)."""

    def __init__(
        self,
        *,
        secret: secretsmanager.ISecret | str | None,
        parameter: ssm.IStringParameter | str | None,
        plaintext: str | None,
    ) -> None:
        given = [
            name
            for name, value in (("api_key_secret", secret), ("api_key_parameter", parameter), ("api_key", plaintext))
            if value is not None
        ]
        if not given:
            raise ValueError(
                "HoneyHiveInstrumentation needs a key source (an ingestion key or an API key): "
                "api_key_secret (recommended), api_key_parameter or api_key"
            )
        if len(given) > 1:
            raise ValueError(f"HoneyHiveInstrumentation takes one API key source, got {' and '.join(given)}")
        [prop] = given
        value = secret or parameter or plaintext
        if isinstance(value, str):
            if not value.strip():
                raise ValueError(f"HoneyHiveInstrumentation: {prop} is empty")
            # A token cannot be told apart as a secret's name or ARN, nor imported by a name CDK can parse.
            if Token.is_unresolved(value) and prop != "api_key":
                raise ValueError(
                    f"HoneyHiveInstrumentation: {prop} as a string must be literal; pass the secret or parameter object"
                )
        self.secret = secret
        self.parameter = parameter
        self.plaintext = plaintext

    @property
    def description(self) -> str:
        """What the key is, for messages."""
        if self.secret is not None:
            return f"the secret {self.secret}" if isinstance(self.secret, str) else "the API key's secret"
        if self.parameter is not None:
            return f"the parameter {self.parameter}" if isinstance(self.parameter, str) else "the API key's parameter"
        return "the plain-text API key"

    def variables(self, stack: Stack) -> dict[str, str]:
        """The variable that tells a function in ``stack`` where its key is."""
        secret, parameter = self._secret(stack), self._parameter(stack)
        if secret is not None:
            return {variables.API_KEY_SECRET_ARN: secret.secret_arn}
        if parameter is not None:
            return {variables.API_KEY_SSM_PARAMETER: parameter.parameter_name}
        assert self.plaintext is not None
        return {variables.API_KEY: self.plaintext}

    def grant_read(self, function: lambda_.Function) -> bool:
        """Let ``function``'s role read the key on that one ARN; False for a plain-text key (nothing to read)."""
        stack = Stack.of(function)
        secret, parameter = self._secret(stack), self._parameter(stack)
        if secret is not None:
            secret.grant_read(function)
        elif parameter is not None:
            parameter.grant_read(function)
        return secret is not None or parameter is not None

    def _secret(self, stack: Stack) -> secretsmanager.ISecret | None:
        if not isinstance(self.secret, str):
            return self.secret
        name = self.secret
        complete_arn = name.startswith("arn:")
        return find_or_create(
            stack,
            child_id("ApiKeySecret", name),
            lambda scope, id: (
                secretsmanager.Secret.from_secret_complete_arn(scope, id, name)
                if complete_arn
                else secretsmanager.Secret.from_secret_name_v2(scope, id, name)
            ),
        )

    def _parameter(self, stack: Stack) -> ssm.IStringParameter | None:
        if not isinstance(self.parameter, str):
            return self.parameter
        name = self.parameter
        return find_or_create(
            stack,
            child_id("ApiKeyParameter", name),
            lambda scope, id: ssm.StringParameter.from_secure_string_parameter_attributes(
                scope, id, parameter_name=name
            ),
        )
