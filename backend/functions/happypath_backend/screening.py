"""What the API refuses or mends before its resolver reads a request: bodies it would fail on with a 500 or
misread, numbers written as Python alone reads them, and media types written in another case."""

import base64
import json
from http import HTTPStatus
from typing import Any

from aws_lambda_powertools.event_handler import content_types


def refusal(event: dict[str, Any]) -> dict[str, Any] | None:
    """The answer to a request the resolver must not read, or None for one it may."""
    return _unreadable_body(event) or _unreadable_numbers(event)


def invalid_request(details: list[dict[str, str]]) -> dict[str, Any]:
    """A 400's body for fields that do not validate: each named with its problem, and all in the message."""
    summary = "; ".join(f"{d['field']}: {d['problem']}" for d in details) or "invalid request"
    return {"message": f"invalid request: {summary}", "errors": details}


def without_unread_body(event: dict[str, Any]) -> dict[str, Any]:
    """A GET or DELETE takes no body: one sent anyway is ignored (HTTP gives it no meaning), not refused."""
    method = event.get("requestContext", {}).get("http", {}).get("method", "")
    if method not in ("GET", "HEAD", "DELETE") or not event.get("body"):
        return event
    headers = {name: value for name, value in (event.get("headers") or {}).items() if name != "content-type"}
    return {**event, "body": None, "isBase64Encoded": False, "headers": headers}


def _media_type(event: dict[str, Any]) -> str:
    return str((event.get("headers") or {}).get("content-type", "")).split(";")[0].strip().lower()


def with_lowercase_media_type(event: dict[str, Any]) -> dict[str, Any]:
    """Media types are case-insensitive (RFC 9110, 8.3.1), but the resolver takes only `application/json` as
    written: `Application/JSON` got a 415 saying bodies must be application/json."""
    headers = event.get("headers") or {}
    content_type = str(headers.get("content-type", ""))
    if _media_type(event) != "application/json" or content_type.startswith("application/json"):
        return event
    return {**event, "headers": {**headers, "content-type": content_type.strip().lower()}}


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
"""The methods whose routes read a body: only theirs is checked when empty (a GET's Content-Type is not read)."""


def _unreadable_body(event: dict[str, Any]) -> dict[str, Any] | None:
    """Every body is UTF-8 JSON. Checked before the resolver, which fails with a 500 on a multipart body
    without a boundary, on bytes that are not UTF-8, on JSON nested deeper than Python's recursion limit and
    on integers of more digits than Python converts (other malformed JSON gets the resolver's own validation
    error)."""
    body = event.get("body")
    content_type = _media_type(event)
    if content_type not in ("", "application/json"):
        # An empty body too, where a route reads one: Powertools would read it as the form data it claims to be.
        if not body and event.get("requestContext", {}).get("http", {}).get("method") not in _BODY_METHODS:
            return None
        message = f"request bodies must be application/json, not {content_type}"
        return _answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"message": message})
    if not body:
        return None
    encoding = str((event.get("headers") or {}).get("content-encoding", "")).strip()  # lower-cased name, as above
    if encoding.lower() not in ("", "identity"):  # gzip and the like: read as text it would be "not UTF-8"
        message = f"request bodies must be sent uncompressed, not with Content-Encoding {encoding}"
        # RFC 7694: the codings the server takes, in the 415 that refuses one.
        return _answer(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, {"message": message}, {"Accept-Encoding": "identity"})
    try:
        text = (base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()).decode("utf-8")
    except (ValueError, UnicodeError):
        return _answer(HTTPStatus.BAD_REQUEST, {"message": "the request body is not UTF-8 JSON"})
    problem = _unreadable_json(text)
    return None if problem is None else _answer(HTTPStatus.BAD_REQUEST, {"message": problem})


# Query parameters read as numbers: pydantic, as Python, would also read `1_0` as 10, which nobody means. (An
# annotation on the parameters would do it, but makes Powertools write their OpenAPI bounds under wrong names.)
NUMERIC_QUERY_PARAMETERS = ("lat", "lng", "radius", "limit")


def _unreadable_numbers(event: dict[str, Any]) -> dict[str, Any] | None:
    """A number in the query written with underscores: refused as a validation error is."""
    query = event.get("queryStringParameters") or {}
    refused = [name for name in NUMERIC_QUERY_PARAMETERS if "_" in str(query.get(name, ""))]
    if not refused:
        return None
    problem = "must be a number written without underscores"
    return _answer(HTTPStatus.BAD_REQUEST, invalid_request([{"field": name, "problem": problem} for name in refused]))


def _answer(status: HTTPStatus, body: dict[str, Any], headers: dict[str, str] | None = None) -> dict[str, Any]:
    """A payload 2.0 answer given before the resolver."""
    return {
        "statusCode": int(status),
        "headers": {"Content-Type": content_types.APPLICATION_JSON} | (headers or {}),
        "body": json.dumps(body),
    }


def _unreadable_json(text: str) -> str | None:
    """What keeps Python from reading JSON that may well be valid, in words; None if nothing does."""
    try:
        json.loads(text)
    except RecursionError:
        return "the request body is JSON nested too deeply"
    except json.JSONDecodeError:
        pass  # malformed JSON: the resolver's validation answers it
    except ValueError:  # an integer longer than Python converts (sys.get_int_max_str_digits, 4300 digits)
        return "the request body holds a number too long to read"
    return None
