"""boto3 clients, created lazily once per process and always signing with SigV4."""

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.config import Config
from botocore.exceptions import ClientError, IncompleteReadError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

if TYPE_CHECKING:
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client

# botocore waits up to 60 s to connect and 60 s per read by default: one stalled connection would use up a
# whole invocation (the API's is 15 s). These give up early enough for the retries to fit (a test checks).
_CONFIG = Config(
    signature_version="s3v4",
    connect_timeout=1,
    read_timeout=2,  # DynamoDB, S3 and EventBridge answer in milliseconds (a read timeout is per socket read)
    retries={"mode": "standard", "total_max_attempts": 3},  # the first call and two retries
)
# Rekognition takes a second or two per moderation copy; the workflow retries the step as well.
_REKOGNITION_CONFIG = _CONFIG.merge(Config(read_timeout=10, retries={"mode": "standard", "total_max_attempts": 2}))


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
    return boto3.client("rekognition", config=_REKOGNITION_CONFIG)


@cache
def cloudfront() -> "CloudFrontClient":
    return boto3.client("cloudfront", config=_CONFIG)


def reset_clients() -> None:
    """Forget cached clients (tests and the local runtime call this when the endpoint changes)."""
    for factory in (s3, dynamodb, events, rekognition, cloudfront):
        factory.cache_clear()


def client_error_code(error: Any) -> str:
    return str(getattr(error, "response", {}).get("Error", {}).get("Code", ""))


# Why DynamoDB cancelled a transaction, per item ("None" for an item that was not the cause). Throttling
# and conflicts with concurrent writes cancel a transaction too: only these are worth retrying.
TRANSIENT_CANCELLATION_REASONS = frozenset({"ThrottlingError", "TransactionConflict", "ProvisionedThroughputExceeded"})


def cancellation_codes(error: Any) -> list[str]:
    """A TransactionCanceledException's reason per item, in the transaction's order ("None": not the cause)."""
    if client_error_code(error) != "TransactionCanceledException":
        return []
    reasons = getattr(error, "response", {}).get("CancellationReasons") or []
    return [str(reason.get("Code") or "None") for reason in reasons]


def cancellation_reasons(error: Any) -> set[str]:
    """The reasons of a TransactionCanceledException, without the items that did not cause it."""
    return set(cancellation_codes(error)) - {"None"}


def cancelled_transiently(error: Any) -> bool:
    """True when a transaction was cancelled by throttling or a concurrent write: trying again may succeed."""
    return bool(cancellation_reasons(error) & TRANSIENT_CANCELLATION_REASONS)


# botocore's own rules for what its standard retry mode retries: throttling codes, 5xx, timeouts and network
# failures. Its retries are spent by the time such an error reaches our code.
_RETRYABLE = (TransientRetryableChecker(), ThrottledRetryableChecker())


def is_transient(error: Exception) -> bool:
    """True for what botocore would retry, a transaction cancelled by throttling or a concurrent write, and a
    response body cut short while it was read (after the call returned, so botocore never retried it)."""
    if isinstance(error, ClientError):
        if cancelled_transiently(error):
            return True
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        context = RetryContext(
            attempt_number=1,
            parsed_response=dict(error.response),
            http_response=AWSResponse("", status, HTTPHeaders(), None) if status else None,
        )
    elif isinstance(error, IncompleteReadError):
        return True
    else:
        context = RetryContext(attempt_number=1, caught_exception=error)
    return any(checker.is_retryable(context) for checker in _RETRYABLE)


def cancelled_by_conditions_only(error: Any) -> bool:
    """True when a transaction was cancelled because its conditions failed, and for no other reason."""
    return cancellation_reasons(error) == {"ConditionalCheckFailed"}
