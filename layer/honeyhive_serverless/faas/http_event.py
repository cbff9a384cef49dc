"""A Lambda HTTP event as the request it carries: what the wrapper captures of it.

API Gateway REST (v1) and HTTP (v2) APIs and their request authorizers, function URLs, ALB and VPC
Lattice (v1 and v2) each spell a request their own way, and v1 and ALB give the headers twice
(``headers`` and ``multiValueHeaders``). The request is one shape for all: ``method``, ``path``,
``route`` (the API's route, when it has one), ``query``, ``headers`` (once, names lower-case, the
``Cookie`` header a v2 event gives as ``cookies`` among them), ``body`` (a JSON body parsed, a form
body as its fields, base64 decoded when it is text; otherwise as sent, with ``body_encoding``) and
``identity`` (who the caller is: the authorizer's output, the identity block, ALB's OIDC identity).
Nothing here redacts: the wrapper redacts the request as it redacts any event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl

from ..payloads import MAX_BODY_SCAN, b64decode_text

#: ALB's OIDC authentication headers naming the user: identity, not request headers.
_IDENTITY_HEADERS = ("x-amzn-oidc-identity", "x-amzn-oidc-data")
_FORM = "application/x-www-form-urlencoded"


def http_request(event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The request an HTTP-triggered event carries (see the module's docstring), or None when the event
    names no method (a TOKEN authorizer's)."""
    context = event.get("requestContext")
    context = context if isinstance(context, Mapping) else {}
    http = context.get("http")
    method = (
        event.get("httpMethod") or event.get("method") or (http.get("method") if isinstance(http, Mapping) else None)
    )
    if not isinstance(method, str):
        return None
    request: dict[str, Any] = {"method": method}
    path = event.get("rawPath") or event.get("path") or event.get("raw_path")
    if isinstance(path, str):
        request["path"] = path
    route = event.get("routeKey") or event.get("resource")
    if isinstance(route, str) and route != "$default":
        request["route"] = route
    query = _query(event)
    if query:
        request["query"] = query
    headers = _headers(event)
    identity = {name: headers.pop(name) for name in _IDENTITY_HEADERS if name in headers}
    if headers:
        request["headers"] = headers
    body = event.get("body")
    if isinstance(body, str) and body:
        flagged = event.get("isBase64Encoded") is True or event.get("is_base64_encoded") is True
        request.update(_body(body, flagged, headers.get("content-type")))
    for name in ("authorizer", "identity"):
        if context.get(name):
            identity[name] = context[name]
    if identity:
        request["identity"] = identity
    return request


def _query(event: Mapping[str, Any]) -> dict[str, Any]:
    """The query's parameters: a repeated one as a list of its values."""
    multi = event.get("multiValueQueryStringParameters")
    if isinstance(multi, Mapping) and multi:
        return {str(name): _one_or_all(values) for name, values in multi.items()}
    for key in ("queryStringParameters", "query_string_parameters"):
        single = event.get(key)
        if isinstance(single, Mapping) and single:
            return {str(name): _one_or_all(value) for name, value in single.items()}
    return {}


def _headers(event: Mapping[str, Any]) -> dict[str, Any]:
    """The headers once, names lower-case: ``multiValueHeaders`` when given (it has every value),
    else ``headers``; a header with several values as their list."""
    merged: dict[str, Any] = {}
    multi = event.get("multiValueHeaders")
    headers = multi if isinstance(multi, Mapping) and multi else event.get("headers")
    if isinstance(headers, Mapping):
        for name, value in headers.items():
            merged[str(name).lower()] = _one_or_all(value)
    cookies = event.get("cookies")
    if isinstance(cookies, list) and cookies:
        merged["cookie"] = "; ".join(str(cookie) for cookie in cookies)
    return merged


def _one_or_all(value: Any) -> Any:
    if isinstance(value, list):
        return value[0] if len(value) == 1 else value
    return value


def _body(body: str, base64_encoded: bool, content_type: Any) -> dict[str, Any]:
    """``{"body": ...}``: the body decoded and parsed where it can be, else as sent, said so."""
    if base64_encoded:
        text = b64decode_text(body)
        if text is None:  # not text (an image, say), or too large to decode: as sent
            return {"body": body, "body_encoding": "base64"}
        body = text
    media = content_type.split(";")[0].strip().lower() if isinstance(content_type, str) else ""
    if media == _FORM and len(body) <= MAX_BODY_SCAN:
        fields: dict[str, Any] = {}
        for name, value in parse_qsl(body, keep_blank_values=True):
            fields.setdefault(name, []).append(value)
        return {"body": {name: _one_or_all(values) for name, values in fields.items()}}
    if len(body) <= MAX_BODY_SCAN and body.lstrip()[:1] in ("{", "["):
        try:
            return {"body": json.loads(body)}
        except (ValueError, RecursionError):
            pass
    return {"body": body}
