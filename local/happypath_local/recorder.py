"""Records the AWS calls each function's handler makes, as the IAM actions and resources they need.

The least-privilege test compares them with the policies template.yaml grants each function.
"""

import functools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.client import BaseClient

from happypath import s3_objects
from happypath_local.functions import current_function
from happypath_local.stack import ACCOUNT, REGION

# API operations whose IAM action has another name.
_ACTION_NAMES = {
    ("s3", "HeadObject"): "GetObject",
    ("s3", "ListObjectsV2"): "ListBucket",
    ("s3", "DeleteObjects"): "DeleteObject",
}
_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
}


@dataclass(frozen=True)
class Call:
    function: str  # logical id
    action: str  # e.g. dynamodb:PutItem
    resource: str  # ARN
    # The item's partition key value, for DynamoDB's item calls (IAM's dynamodb:LeadingKeys); None for the rest.
    leading_key: str | None = None


_ITEM_CALLS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem"}


def _dynamodb_items(operation: str, params: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]] | None:
    """(action, table name, key or item) for each item a DynamoDB call names; None for a call on no item (a query,
    a scan). IAM checks a call's action per table, and its dynamodb:LeadingKeys per item."""
    if operation in _ITEM_CALLS:
        return [(f"dynamodb:{operation}", params["TableName"], params.get("Key") or params["Item"])]
    if operation == "TransactWriteItems":
        return [
            (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", body["TableName"], body.get("Key") or body["Item"])
            for entry in params["TransactItems"]
            for kind, body in entry.items()
        ]
    if operation == "BatchGetItem":
        return [
            (f"dynamodb:{operation}", table, key)
            for table, asked in params["RequestItems"].items()
            for key in asked["Keys"]
        ]
    if operation == "BatchWriteItem":
        return [
            (
                f"dynamodb:{operation}",
                table,
                request.get("PutRequest", {}).get("Item") or request["DeleteRequest"]["Key"],
            )
            for table, requests in params["RequestItems"].items()
            for request in requests
        ]
    return None


def _table_arn(name: str, index: str | None = None) -> str:
    arn = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{name}"
    return f"{arn}/index/{index}" if index else arn


def iam_requirements(service: str, operation: str, params: dict[str, Any]) -> list[tuple[str, str]]:
    """The (action, resource) pairs IAM checks for one API call."""
    if service == "s3":
        action = "s3:" + _ACTION_NAMES.get((service, operation), operation)
        bucket = params.get("Bucket", "")
        if operation == "DeleteObjects":
            return [(action, f"arn:aws:s3:::{bucket}/{o['Key']}") for o in params["Delete"]["Objects"]]
        if "Key" in params:
            return [(action, f"arn:aws:s3:::{bucket}/{params['Key']}")]
        return [(action, f"arn:aws:s3:::{bucket}")]
    if service == "cloudfront":
        return [(f"cloudfront:{operation}", f"arn:aws:cloudfront::{ACCOUNT}:distribution/{params['DistributionId']}")]
    if service == "dynamodb":
        items = _dynamodb_items(operation, params)
        if items is None:
            return [(f"dynamodb:{operation}", _table_arn(params["TableName"], params.get("IndexName")))]
        return list(dict.fromkeys((action, _table_arn(table)) for action, table, _ in items))
    if service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}") for bus in buses]
    return [(f"{service}:{operation}", "*")]


AwsCallHook = Callable[[str, str, dict[str, Any], list[tuple[str, str]]], None]
"""(function, operation, parameters, the IAM actions and resources the call needs)"""


@contextmanager
def before_each_handler_call(hook: AwsCallHook) -> Iterator[None]:
    """Calls `hook` before each AWS call a handler makes: through boto3, and S3 object calls made without it
    (happypath.s3_objects). Calls made on no handler's behalf are not seen."""
    original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private botocore hook, pinned versions

    def seen(service: str, operation_name: str, params: dict[str, Any]) -> None:
        function = current_function()
        if function is not None:
            hook(function, operation_name, params, iam_requirements(service, operation_name, params))

    def make_api_call(client: BaseClient, operation_name: str, params: dict[str, Any]) -> Any:
        seen(client.meta.service_model.signing_name, operation_name, params)
        return original(client, operation_name, params)

    s3_object_call = functools.partial(seen, "s3")
    setattr(BaseClient, "_make_api_call", make_api_call)  # noqa: B010
    s3_objects.before_call.append(s3_object_call)
    try:
        yield
    finally:
        setattr(BaseClient, "_make_api_call", original)  # noqa: B010
        s3_objects.before_call.remove(s3_object_call)


def _value(attribute: Any) -> str:
    """A key attribute's value, typed (`{"S": ...}`, as the client sends it) or not (as the resource layer does)."""
    return str(next(iter(attribute.values()))) if isinstance(attribute, dict) else str(attribute)


def leading_keys(operation: str, params: dict[str, Any], hash_keys: dict[str, str]) -> list[tuple[str, str, str]]:
    """(action, table ARN, partition key value) for each item a DynamoDB call touches. Queries and scans are not
    read: a statement conditioned on dynamodb:LeadingKeys does not allow them here."""
    return [
        (action, _table_arn(table), _value(item[hash_keys[table]]))
        for action, table, item in _dynamodb_items(operation, params) or []
    ]


class CallRecorder:
    def __init__(self, hash_keys: dict[str, str] | None = None) -> None:
        """`hash_keys`: each table's partition key attribute, by table name (for dynamodb:LeadingKeys)."""
        self.calls: set[Call] = set()
        self.hash_keys = hash_keys or {}
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator["CallRecorder"]:
        def record(function: str, operation: str, params: dict[str, Any], needs: list[tuple[str, str]]) -> None:
            dynamodb = any(action.startswith("dynamodb:") for action, _ in needs)
            items = leading_keys(operation, params, self.hash_keys) if dynamodb and self.hash_keys else []
            with self._lock:
                if items:
                    self.calls.update(Call(function, action, resource, key) for action, resource, key in items)
                else:
                    self.calls.update(Call(function, action, resource) for action, resource in needs)

        with before_each_handler_call(record):
            yield self

    def presigned_post(self, function: str, bucket: str, key: str) -> None:
        """A presigned POST makes no call, but S3 checks the signer's s3:PutObject when the browser uses it."""
        with self._lock:
            self.calls.add(Call(function, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"))
