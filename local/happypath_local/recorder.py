"""Records the AWS calls each function's handler makes, as the IAM actions and resources they need.

The least-privilege test compares them with the policies template.yaml grants each function.
"""

import functools
import threading
from collections.abc import Iterator
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
        if operation == "TransactWriteItems":
            return [
                (f"dynamodb:{_TRANSACT_ACTIONS[kind]}", _table_arn(body["TableName"]))
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
        if operation in ("BatchGetItem", "BatchWriteItem"):
            return [(f"dynamodb:{operation}", _table_arn(table)) for table in params["RequestItems"]]
        return [(f"dynamodb:{operation}", _table_arn(params["TableName"], params.get("IndexName")))]
    if service == "events" and operation == "PutEvents":
        buses = {entry.get("EventBusName", "default") for entry in params["Entries"]}
        return [("events:PutEvents", f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{bus}") for bus in buses]
    return [(f"{service}:{operation}", "*")]


class CallRecorder:
    def __init__(self) -> None:
        self.calls: set[Call] = set()
        self._lock = threading.Lock()

    @contextmanager
    def recording(self) -> Iterator["CallRecorder"]:
        original = getattr(BaseClient, "_make_api_call")  # noqa: B009 - private botocore hook, pinned versions
        recorder = self

        def record(service: str, operation_name: str, api_params: dict[str, Any]) -> None:
            function = current_function()
            if function is not None:
                with recorder._lock:
                    for action, resource in iam_requirements(service, operation_name, api_params):
                        recorder.calls.add(Call(function, action, resource))

        def make_api_call(client: BaseClient, operation_name: str, api_params: dict[str, Any]) -> Any:
            record(client.meta.service_model.signing_name, operation_name, api_params)
            return original(client, operation_name, api_params)

        record_s3_object_call = functools.partial(record, "s3")  # calls made without boto3 (happypath.s3_objects)
        setattr(BaseClient, "_make_api_call", make_api_call)  # noqa: B010
        s3_objects.before_call.append(record_s3_object_call)
        try:
            yield self
        finally:
            setattr(BaseClient, "_make_api_call", original)  # noqa: B010
            s3_objects.before_call.remove(record_s3_object_call)

    def presigned_post(self, function: str, bucket: str, key: str) -> None:
        """A presigned POST makes no call, but S3 checks the signer's s3:PutObject when the browser uses it."""
        with self._lock:
            self.calls.add(Call(function, "s3:PutObject", f"arn:aws:s3:::{bucket}/{key}"))
