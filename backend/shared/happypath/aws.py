"""boto3 clients, created lazily once per process and always signing with SigV4."""

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client

_CONFIG = Config(signature_version="s3v4", retries={"mode": "standard", "max_attempts": 3})


@cache
def s3() -> "S3Client":
    return boto3.client("s3", config=_CONFIG)


@cache
def dynamodb() -> "DynamoDBServiceResource":
    return boto3.resource("dynamodb", config=_CONFIG)


@cache
def events() -> "EventBridgeClient":
    return boto3.client("events", config=_CONFIG)


@cache
def rekognition() -> "RekognitionClient":
    return boto3.client("rekognition", config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests and the local runtime call this when the endpoint changes)."""
    for factory in (s3, dynamodb, events, rekognition):
        factory.cache_clear()


def client_error_code(error: Any) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))
