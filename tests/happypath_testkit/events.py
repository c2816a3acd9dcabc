"""API Gateway HTTP API (payload 2.0) events, built from the committed samples in events/."""

import copy
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

EVENTS_DIR = Path(__file__).resolve().parents[2] / "events"


class LambdaContext:
    """What the handlers read of Lambda's context object."""

    def __init__(self, function_name: str, memory_limit_in_mb: int = 256) -> None:
        self.function_name = function_name
        self.memory_limit_in_mb = memory_limit_in_mb
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        return 15_000  # as at the start of an API invocation (its timeout): a context is made once per test module


def sample(name: str) -> dict[str, Any]:
    return json.loads((EVENTS_DIR / f"{name}.json").read_text())


def http_event(
    method: str,
    route: str,
    path_parameters: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
    body: Any = None,
    user: str | None = None,
    raw_body: str | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An event as the HTTP API sends it after its JWT authorizer let `user` (a `sub`) through; `headers` are
    added (their names lower-cased, as the HTTP API passes them)."""
    event = copy.deepcopy(sample("api_get_upload"))
    path = route
    for name, value in (path_parameters or {}).items():
        path = path.replace("{" + name + "}", value)
    event["routeKey"] = f"{method} {route}"
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["http"].update({"method": method, "path": path})
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = query
    event["pathParameters"] = path_parameters
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    event.pop("body", None)
    if raw_body is not None or body is not None:
        event["body"] = raw_body if raw_body is not None else json.dumps(body)
    if user is None:
        event["requestContext"].pop("authorizer", None)
        event["headers"].pop("authorization", None)
    else:
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"] = user
    return {k: v for k, v in event.items() if v is not None}


def body_of(response: dict[str, Any]) -> Any:
    return json.loads(response["body"]) if response.get("body") else None
