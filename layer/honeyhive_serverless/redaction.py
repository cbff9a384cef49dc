"""What never leaves: credentials and session secrets, found by the name they sit under or by the
shape of their value. Pure functions, and :class:`Redaction`, the rules in force.

A **secret name** (:data:`SECRET_NAMES`, plus ``HH_REDACT_KEYS``) is compared case-insensitively and
ignoring ``-`` and ``_`` (``X-Api-Key``, ``x_api_key`` and ``xApiKey`` are one name), at any depth:
a header, a key of an event, a response or a JSON body, a segment of a span attribute's name. Its
whole value becomes ``[redacted: <name>]``. A **secret value** (:data:`SECRET_VALUES`, plus
``HH_REDACT_PATTERNS``) is found inside any text and that match alone becomes ``[redacted: <kind>]``.
Names are exact: ``token`` or ``key`` alone are not secret names (``gen_ai.usage.input_tokens``,
``gen_ai.token.type`` and an S3 object's ``key`` are not secrets), except as a URL's query parameters
(:data:`QUERY_SECRET_NAMES`), which are checked by name in a captured request's query and in the span
attributes that hold a URL (:data:`URL_ATTRIBUTES`).

**Identity** (who the caller is: an authorizer's claims, the identity block) is no credential but
personal data: :func:`without_identity` drops it where the platforms put it in an event, unless the
user opts in (``HH_CAPTURE_IDENTITY``).

>>> rules = Redaction()
>>> rules.value({"headers": {"Authorization": "Bearer abc.def.ghi1"}, "note": "key AKIAIOSFODNN7EXAMPLE"})
{'headers': {'Authorization': '[redacted: authorization]'}, 'note': 'key [redacted: aws_access_key]'}
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .attributes import capture, truncate

#: Names whose values are secrets wherever they sit (see the module's docstring for the matching).
SECRET_NAMES: tuple[str, ...] = (
    # HTTP credentials and session cookies
    "authorization",
    "proxy-authorization",
    "cookie",
    "cookies",  # API Gateway HTTP APIs and function URLs give the Cookie header as this list
    "set-cookie",
    "api-key",  # also apikey, api_key, apiKey
    "x-api-key",
    "x-auth-token",
    "auth-token",
    "access-token",
    "refresh-token",
    "id-token",
    "x-csrf-token",
    "x-xsrf-token",
    "x-amzn-oidc-accesstoken",  # ALB's OIDC authentication
    # AWS credentials, signed requests and authorizer inputs
    "x-amz-security-token",
    "security-token",
    "session-token",  # also sessionToken, AWS_SESSION_TOKEN's value under its SDK names
    "aws-session-token",
    "secret-access-key",
    "aws-secret-access-key",
    "x-amz-signature",
    "authorization-token",  # an API Gateway TOKEN authorizer's input
    "identity-source",  # an HTTP API authorizer's input: the credentials it checks
    # secrets by their usual names
    "password",
    "passwd",
    "passphrase",
    "secret",
    "client-secret",
    "private-key",
    "credentials",
    # HoneyHive's own
    "hh-api-key",
    "honeyhive-api-key",
    "ingestion-api-key",
)

#: More secret names, for a URL's query parameters only: there, a bare ``token`` or ``key`` (Google's API
#: keys) or ``sig`` (Azure's shared access signatures) is a credential.
QUERY_SECRET_NAMES: tuple[str, ...] = ("token", "key", "sig", "signature")

_CREDENTIAL_CHARACTER = r"[A-Za-z0-9._~+/=-]"  # a character of RFC 7235's token68
# At least 8 characters, not all lower-case letters after the first: "Bearer tokens" and "Basic setup"
# in prose are no credentials.
_CREDENTIAL = (
    rf"(?={_CREDENTIAL_CHARACTER}{{8}}){_CREDENTIAL_CHARACTER}(?=[a-z]*[A-Z0-9._~+/=-]){_CREDENTIAL_CHARACTER}*"
)
#: Values that are secrets whatever their name, by kind: the kind names the marker.
SECRET_VALUES: dict[str, str] = {
    # An Authorization header's credential, in text.
    "bearer": rf"(?<![A-Za-z0-9])(?:Bearer|bearer|BEARER)[ \t]+{_CREDENTIAL}",
    "basic": rf"(?<![A-Za-z0-9])(?:Basic|basic|BASIC)[ \t]+{_CREDENTIAL}",
    # A JWT (or JWE): base64url segments after a header that is JSON (``eyJ`` is ``{"``). Its header and
    # payload alone are enough, so a JWT cut short (a truncated string) is still found.
    "jwt": r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{4,}\.(?:eyJ|[A-Za-z0-9_-]+\.)[A-Za-z0-9_.-]*",
    # AWS access key ids: long-term (AKIA) and temporary (ASIA).
    "aws_access_key": r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])",
    "honeyhive_key": r"hh_ingst_[A-Za-z0-9_-]{16,}",
    # OpenAI's and Anthropic's API keys (sk-..., sk-proj-..., sk-ant-...).
    "api_key": r"(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}",
    # A PEM private key, to its end (or the text's). Found from "PRIVATE KEY-----" on, so a key whose
    # "-----BEGIN" a credential before it took ("Basic -----BEGIN ...") is still found.
    "private_key": r"(?:-----BEGIN[A-Z ]*)?PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)",
}
# The shortest text a secret value can be ("eyJxxxx.eyJ").
_SHORTEST_SECRET_VALUE = 11

#: Span attributes whose value is a URL or part of one (OpenTelemetry's HTTP conventions, current and
#: older): their query's parameters are checked by name (a presigned URL's ``X-Amz-Signature``).
URL_ATTRIBUTES = frozenset({"url.full", "url.query", "http.url", "http.target"})

#: Where the platforms put who the caller is, as paths from an event's top: API Gateway's and VPC
#: Lattice's ``requestContext.authorizer`` (a Cognito or JWT authorizer's claims, a Lambda
#: authorizer's context, IAM's caller) and ``requestContext.identity``; AppSync's ``identity``; a
#: Cognito trigger's ``request.userAttributes``. An HTTP request captured by the wrapper keeps them
#: under ``identity``.
IDENTITY_PATHS: tuple[tuple[str, ...], ...] = (
    ("requestContext", "authorizer"),
    ("requestContext", "identity"),
    ("identity",),
    ("request", "userAttributes"),
)
IDENTITY_MARKER = "[redacted: identity]"
PATTERN_MARKER = "[redacted: pattern]"
#: Containers nested deeper than this are not searched, so they do not leave: they become this marker.
MAX_DEPTH = 32
DEPTH_MARKER = f"[redacted: nested deeper than {MAX_DEPTH}]"
#: Longest JSON text inside a string that is parsed to find secret names in it; longer text is searched
#: for secret values only.
MAX_JSON_TEXT = 256 * 1024
#: Text longer than a capture's limit is searched this far past it (then the capture cuts it): a secret
#: value that starts before the cut is found whole.
CUT_MARGIN = 16 * 1024
# Names remembered per rules before the memory is cleared: header and attribute names repeat.
_NAME_MEMORY = 4096
_MARKER_NAME_LIMIT = 64
# A secret value replaced can join text into a new one (``...AKIA...`` then ``sk-``): searched again,
# at most this often (each pass only replaces).
_PASSES = 4


def normalized_name(name: str) -> str:
    """The form names are compared in: lower case, without ``-`` and ``_``.

    >>> normalized_name("X-Api_Key")
    'xapikey'
    """
    return name.lower().replace("-", "").replace("_", "")


def split_patterns(text: str) -> list[str]:
    """``HH_REDACT_PATTERNS``'s patterns: separated by commas, except a comma inside brackets, braces or
    parentheses, or escaped (``a{2,3}`` is one pattern).

    >>> split_patterns(r"tok_[0-9]{4,8}, secret-\\w+")
    ['tok_[0-9]{4,8}', 'secret-\\\\w+']
    """
    patterns: list[str] = []
    current: list[str] = []
    depth = 0
    escaped = False
    for character in text:
        if escaped:
            escaped = False
        elif character == "\\":
            escaped = True
        elif character in "([{":
            depth += 1
        elif character in ")]}":
            depth = max(0, depth - 1)
        elif character == "," and depth == 0:
            patterns.append("".join(current))
            current = []
            continue
        current.append(character)
    patterns.append("".join(current))
    return [pattern.strip() for pattern in patterns if pattern.strip()]


class Redaction:
    """The redaction rules in force: the built-in tables, plus ``names`` (normalized) and ``patterns``
    (``HH_REDACT_KEYS``, ``HH_REDACT_PATTERNS``). With ``enabled`` false (``HH_REDACT=false``) every
    method returns what it is given.

    Every method is pure (the name memory only saves work) and never raises; applying one of
    :meth:`value`, :meth:`text`, :meth:`url` or :meth:`query` to its own result changes nothing.
    """

    # A plain class, not a frozen dataclass, for the cold start: the dataclass cost 0.9 ms at import
    # (measured). Its rules are set once here; the memories only save work.
    __slots__ = ("_all_names", "_attribute_memory", "_name_memory", "_query_names", "enabled", "names", "patterns")

    def __init__(
        self, enabled: bool = True, names: frozenset[str] = frozenset(), patterns: tuple[re.Pattern[str], ...] = ()
    ) -> None:
        self.enabled = enabled
        self.names = names
        self.patterns = patterns
        self._all_names = frozenset(normalized_name(name) for name in SECRET_NAMES) | names
        self._query_names = self._all_names | frozenset(QUERY_SECRET_NAMES)
        self._name_memory: dict[str, str | None] = {}
        self._attribute_memory: dict[str, str | None] = {}

    def _rules(self) -> tuple[bool, frozenset[str], tuple[re.Pattern[str], ...]]:
        return self.enabled, self.names, self.patterns

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redaction) and self._rules() == other._rules()

    def __hash__(self) -> int:
        return hash(self._rules())

    def __repr__(self) -> str:
        return f"Redaction(enabled={self.enabled!r}, names={self.names!r}, patterns={self.patterns!r})"

    # -- names -------------------------------------------------------------------------------------

    def secret_name(self, name: str) -> str | None:
        """The marker for the value under ``name`` when it is a secret name, else None."""
        if not self.enabled:
            return None
        memory = self._name_memory
        if name in memory:
            return memory[name]
        marker = self._marker_for(name) if normalized_name(name) in self._all_names else None
        _remember(memory, name, marker)
        return marker

    def secret_attribute(self, name: str) -> str | None:
        """The marker for a span attribute's value when a segment of its dotted name is a secret name
        (``honeyhive_inputs.headers.Authorization``, ``http.request.header.cookie``), else None."""
        if not self.enabled:
            return None
        memory = self._attribute_memory
        if name in memory:
            return memory[name]
        marker = None
        for segment in name.split("."):
            if normalized_name(segment) in self._all_names:
                marker = self._marker_for(segment)
                break
        _remember(memory, name, marker)
        return marker

    @staticmethod
    def _marker_for(name: str) -> str:
        return f"[redacted: {name.lower()[:_MARKER_NAME_LIMIT]}]"

    # -- values ------------------------------------------------------------------------------------

    def text(self, text: str) -> str:
        """``text`` with every secret value in it replaced by its marker (``text`` itself when it holds
        none)."""
        if not self.enabled or (not self.patterns and not _may_hold_secret_value(text)):
            return text
        for _ in range(_PASSES):
            scrubbed = self._one_pass(text)
            if scrubbed is text:
                break
            text = scrubbed
        return text

    def _one_pass(self, text: str) -> str:
        """``text`` itself when nothing in it is a secret value."""
        out = text
        if _may_hold_secret_value(text):
            replaced = _secret_value_expression().sub(_value_marker, text)
            if replaced != text:
                out = replaced
        for pattern in self.patterns:
            try:
                replaced = pattern.sub(PATTERN_MARKER, out)
            except Exception:  # a user's pattern that fails on this text (RecursionError) leaves it
                replaced = out
            if replaced != out:
                out = replaced
        return out

    def value(self, value: Any, limit: int | None = None) -> Any:
        """A copy of ``value`` (JSON-like: mappings, lists, text, scalars) with every secret replaced:
        the value under a secret name, a secret value in any text (a key too), and, in text that is a
        JSON object or array, what that JSON holds (the text is then that JSON redacted). Tuples become
        lists; anything else its ``str()``, redacted; containers deeper than :data:`MAX_DEPTH` a marker.

        ``limit``: the bytes a capture keeps; text longer than it (by :data:`CUT_MARGIN`) is cut first,
        since the capture cuts it anyway and searching all of it would cost its whole length.
        """
        if not self.enabled:
            return value
        return self._value(value, limit, 0)

    def _value(self, value: Any, limit: int | None, depth: int) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self._string(value, limit, depth)
        if isinstance(value, Mapping | list | tuple) and depth >= MAX_DEPTH:
            return DEPTH_MARKER
        if isinstance(value, Mapping):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                if isinstance(key, str):
                    marker = self.secret_name(key)
                    out[self.text(key)] = marker if marker is not None else self._value(item, limit, depth + 1)
                else:
                    out[key] = self._value(item, limit, depth + 1)
            return out
        if isinstance(value, list | tuple):
            return [self._value(item, limit, depth + 1) for item in value]
        try:
            text = str(value)
        except Exception:
            text = f"<unprintable {type(value).__name__}>"
        return self._string(text, limit, depth)

    def _string(self, text: str, limit: int | None, depth: int) -> str:
        if limit is not None and len(text) > limit + CUT_MARGIN:
            text = truncate(text, limit + CUT_MARGIN)
        document = _json_document(text)
        if document is not None:
            redacted = self._value(document, limit, depth + 1)
            try:
                return text if redacted == document else json.dumps(redacted, ensure_ascii=False)
            except (ValueError, RecursionError):
                pass  # a document too deep to compare or write: searched as text instead
        return self.text(text)

    def captured(self, value: Any, limit: int, *, identity: bool = False) -> Any:
        """What a capture of ``value`` (an event, a response, a record) sends: without who the caller is
        (:func:`without_identity`) unless ``identity``, redacted, then cut to ``limit`` bytes
        (``attributes.capture``). Redacted before it is cut, so a cut cannot leave part of a secret
        that no rule then recognises."""
        if not identity:
            value = without_identity(value)
        return capture(self.value(value, limit), limit)

    def attributes(self, attributes: Mapping[str, Any]) -> dict[str, Any] | None:
        """Span attributes with every secret replaced, or None when none holds one (the common case:
        nothing is copied). A value under a secret name is replaced whole; text (and each text of a
        sequence) has its secret values replaced.

        On every span's way out: a name costs one lookup once seen, a text the few substring searches
        of :func:`_may_hold_secret_value` unless user patterns are set."""
        if not self.enabled:
            return None
        memory = self._attribute_memory
        patterns = self.patterns
        changed: dict[str, Any] | None = None
        for key, value in attributes.items():
            marker = memory[key] if key in memory else self.secret_attribute(key)
            if marker is not None:
                new: Any = marker
            elif isinstance(value, str):
                if key in URL_ATTRIBUTES:
                    new = self.query(value) if key == "url.query" else self.url(value)
                elif not patterns and not _may_hold_secret_value(value):
                    continue
                else:
                    new = self.text(value)
            elif isinstance(value, Sequence) and value and isinstance(value[0], str):
                items = tuple(self.text(item) if isinstance(item, str) else item for item in value)
                new = value if all(a is b for a, b in zip(items, value, strict=True)) else items
            else:
                continue
            if new is not value:
                if changed is None:
                    changed = dict(attributes)
                changed[key] = new
        return changed

    def url(self, url: str) -> str:
        """A URL (or a request target: path and query) with its query's secret-named parameters
        (:meth:`query`) and its user info replaced (``url`` itself when it holds neither).

        >>> Redaction().url("https://me:pw@example.com/a?X-Amz-Signature=abc&n=1")
        'https://[redacted: userinfo]@example.com/a?X-Amz-Signature=[redacted: x-amz-signature]&n=1'
        """
        if not self.enabled:
            return url
        base, question, rest = url.partition("?")
        query, hash_mark, fragment = rest.partition("#")
        scheme, separator, remainder = base.partition("://")
        authority, slash, path = remainder.partition("/")
        if separator and "@" in authority:
            base = f"{scheme}://[redacted: userinfo]@{authority.rpartition('@')[2]}{slash}{path}"
        redacted = self.text(base) + question + self.query(query) + hash_mark + self.text(fragment)
        return url if redacted == url else redacted

    def parameters(self, parameters: Mapping[Any, Any]) -> dict[Any, Any]:
        """A URL query's parameters (as a mapping) with the value of each secret-named one (as for
        :meth:`query`) replaced by its marker; the rest left for :meth:`value`."""
        if not self.enabled:
            return dict(parameters)
        return {
            name: self._marker_for(name)
            if isinstance(name, str) and normalized_name(name) in self._query_names
            else value
            for name, value in parameters.items()
        }

    def query(self, query: str) -> str:
        """A URL query string with the value of each secret-named parameter (a secret name, or one of
        :data:`QUERY_SECRET_NAMES`) replaced by its marker (``query`` itself when it has none).

        >>> Redaction().query("q=paris&api_key=abc&x")
        'q=paris&api_key=[redacted: api_key]&x'
        """
        if not self.enabled or not query:
            return query
        parts = []
        for part in query.split("&"):
            name, equals, _value = part.partition("=")
            secret = equals and normalized_name(name) in self._query_names
            parts.append(f"{name}={self._marker_for(name)}" if secret else self.text(part))
        redacted = "&".join(parts)
        return query if redacted == query else redacted


#: The rules with nothing but the built-in tables.
DEFAULT_REDACTION = Redaction()
#: ``HH_REDACT=false``: nothing redacted.
NO_REDACTION = Redaction(enabled=False)


def compile_patterns(texts: Iterable[str]) -> tuple[tuple[re.Pattern[str], ...], list[tuple[str, str]]]:
    """The patterns that compile, and ``(pattern, problem)`` for each that does not."""
    compiled: list[re.Pattern[str]] = []
    problems: list[tuple[str, str]] = []
    for text in texts:
        try:
            compiled.append(re.compile(text))
        except (re.error, RecursionError, OverflowError) as error:
            problems.append((text, str(error)))
    return tuple(compiled), problems


def without_identity(event: Any) -> Any:
    """``event`` with what :data:`IDENTITY_PATHS` name replaced by :data:`IDENTITY_MARKER` (copies
    made only along those paths); each call of an AppSync batch (a list) likewise."""
    if isinstance(event, list):
        return [_without_identity_paths(call) if isinstance(call, Mapping) else call for call in event]
    return _without_identity_paths(event) if isinstance(event, Mapping) else event


def _without_identity_paths(event: Mapping[str, Any]) -> Mapping[str, Any]:
    for path in IDENTITY_PATHS:
        event = _without_path(event, path)
    return event


def _without_path(value: Mapping[str, Any], path: tuple[str, ...]) -> Mapping[str, Any]:
    first, rest = path[0], path[1:]
    if first not in value:
        return value
    inner = value[first]
    if not rest:
        return {**value, first: IDENTITY_MARKER}
    if not isinstance(inner, Mapping):
        return value
    replaced = _without_path(inner, rest)
    return value if replaced is inner else {**value, first: replaced}


def _remember(memory: dict[str, str | None], name: str, marker: str | None) -> None:
    if len(memory) >= _NAME_MEMORY:
        memory.clear()
    memory[name] = marker


def _may_hold_secret_value(text: str) -> bool:
    """False when ``text`` cannot hold a secret value: none of the literals each kind of
    :data:`SECRET_VALUES` begins with is in it. Ten substring searches, written out (a loop or ``any``
    doubles their cost on short text), cost a twentieth of the combined expression's search on 1.7 KB
    of prose (measured); most text is decided here."""
    return len(text) >= _SHORTEST_SECRET_VALUE and (
        "eyJ" in text
        or "earer" in text
        or "EARER" in text
        or "asic" in text
        or "ASIC" in text
        or "AKIA" in text
        or "ASIA" in text
        or "hh_ingst_" in text
        or "sk-" in text
        or "PRIVATE KEY" in text
    )


@functools.cache
def _secret_value_expression() -> re.Pattern[str]:
    """:data:`SECRET_VALUES` as one expression, compiled the first time text passes
    :func:`_may_hold_secret_value`: compiling costs 0.8 ms (measured), which most functions then never
    pay, at start-up or at all."""
    return re.compile("|".join(f"(?P<{kind}>{pattern})" for kind, pattern in SECRET_VALUES.items()))


def _value_marker(match: re.Match[str]) -> str:
    return f"[redacted: {match.lastgroup}]"


def _json_document(text: str) -> Any:
    """The JSON object or array ``text`` is (up to :data:`MAX_JSON_TEXT`), else None."""
    if len(text) > MAX_JSON_TEXT or text.lstrip()[:1] not in ("{", "["):
        return None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return document if isinstance(document, dict | list) else None
