"""The shapes of the AWS names, ARNs and tags ``instrument`` is given: checked before any call to AWS, so a wrong
one is named in one line instead of being planned into a policy IAM rejects, or into a function that
cannot read its key. Pure functions: each returns what is wrong with a value, None when nothing is.
"""

from __future__ import annotations

import re
import unicodedata

_ARN_HEAD = r"arn:aws[a-z-]*:{service}:[a-z]{{2}}(?:-[a-z]+)+-\d:\d{{12}}"
# A secret's ARN ends in its name, a hyphen and 6 random characters: only the full ARN matches in an IAM
# policy (a partial one, without them, is refused by IAM's matching, not by Secrets Manager).
_SECRET_ARN = re.compile(
    _ARN_HEAD.format(service="secretsmanager") + r":secret:[A-Za-z0-9/_+=.@-]{1,512}-[A-Za-z0-9]{6}"
)
_ANY_SECRET_ARN = re.compile(_ARN_HEAD.format(service="secretsmanager") + r":secret:.+")
# A parameter name is one word or a /path; its ARN has the path after "parameter" (a word gets a "/").
_PARAMETER_PATH = r"(?:/[A-Za-z0-9_.-]+)+"
_PARAMETER = re.compile(
    rf"{_PARAMETER_PATH}|[A-Za-z0-9_.-]+|{_ARN_HEAD.format(service='ssm')}:parameter{_PARAMETER_PATH}"
)
# AWS's tag rule: letters, digits and spaces of any script, and these; a key of 1 to 128, a value of up to 256.
_TAG_PUNCTUATION = frozenset("_.:/=+-@")
_TAG_KEY_LIMIT, _TAG_VALUE_LIMIT = 128, 256
_RESERVED_PARAMETER = re.compile(r"/?(?:aws|ssm)", re.IGNORECASE)
# A name, a full ARN or a partial one (ACCOUNT:function:NAME), with an optional qualifier (:alias or :version).
_FUNCTION = re.compile(
    rf"(?:(?:{_ARN_HEAD.format(service='lambda')}|\d{{12}}):function:)?([A-Za-z0-9_-]{{1,64}})(:[A-Za-z0-9_$-]+)?"
)


def secret_arn_problem(value: str) -> str | None:
    """What keeps ``value`` from being a Secrets Manager secret's full ARN, or None."""
    if _SECRET_ARN.fullmatch(value):
        return None
    if _ANY_SECRET_ARN.fullmatch(value):
        return (
            f"{value!r} is a partial secret ARN: give the full one, ending in the 6 characters Secrets Manager "
            f"adds to the name (aws secretsmanager describe-secret --secret-id {value} --query ARN)"
        )
    return (
        f"{value!r} is not a secret ARN (arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-AbCdEf): "
        f"aws secretsmanager describe-secret --secret-id {value} --query ARN prints it"
    )


def parameter_problem(value: str) -> str | None:
    """What keeps ``value`` from being an SSM parameter's name or ARN, or None."""
    if not _PARAMETER.fullmatch(value) or len(value) > 2048:
        return (
            f"{value!r} is not an SSM parameter name or ARN (/a/path, a_name, or "
            "arn:aws:ssm:REGION:ACCOUNT:parameter/a/path)"
        )
    if _RESERVED_PARAMETER.match(value):
        return f"{value!r}: SSM parameter names may not begin with aws or ssm"
    return None


def function_problem(value: str) -> str | None:
    """What keeps ``value`` from naming a function whose configuration can be changed, or None."""
    match = _FUNCTION.fullmatch(value)
    if match is None:
        return (
            f"{value!r} is not a Lambda function name (1 to 64 letters, digits, - or _) or function ARN "
            "(arn:aws:lambda:REGION:ACCOUNT:function:NAME)"
        )
    if match.group(2):
        return (
            f"{value!r} names a version or alias ({match.group(2)[1:]}): name the function itself, whose "
            "configuration its next version is published from"
        )
    return None


def tag_problem(value: str) -> str | None:
    """What keeps ``value`` from being a ``KEY=VALUE`` tag that functions can carry, or None."""
    key, equals, tag_value = value.partition("=")
    if not (equals and key and tag_value):
        return f"{value!r} is not KEY=VALUE (e.g. team=ml, or aws:cloudformation:stack-name=orders)"
    if len(key) > _TAG_KEY_LIMIT or len(tag_value) > _TAG_VALUE_LIMIT:
        return f"{value!r}: a tag key has at most {_TAG_KEY_LIMIT} characters, a value {_TAG_VALUE_LIMIT}"
    wrong = sorted(
        {char for char in value if char not in _TAG_PUNCTUATION and unicodedata.category(char)[0] not in "LNZ"}
    )
    if wrong:
        return f"{value!r}: tags hold letters, digits, spaces and _ . : / = + - @, not {''.join(wrong)!r}"
    return None
