"""boto3 clients, made once per process on first use and always signing with SigV4.

boto3 and botocore's client machinery are imported on first use too (~35 MB with a first client): the resize
function, whose S3 calls go through happypath.s3_objects, never loads them (bench/README.md, Memory).
"""

from functools import cache
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, IncompleteReadError  # light: no client machinery

from happypath import settings
from happypath.observability import tracer

if TYPE_CHECKING:
    from botocore.config import Config
    from botocore.retries.standard import BaseRetryableChecker
    from mypy_boto3_cloudfront import CloudFrontClient
    from mypy_boto3_dynamodb.client import DynamoDBClient
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_rekognition import RekognitionClient
    from mypy_boto3_s3 import S3Client


@cache
def _configs() -> tuple["Config", "Config"]:
    """The clients' configuration, and Rekognition's."""
    from botocore.config import Config

    # botocore waits up to 60 s to connect and 60 s per read by default: one stalled connection would use up a
    # whole invocation (the API's is 15 s). These give up early enough for the retries to fit (a test checks).
    config = Config(
        signature_version="s3v4",
        connect_timeout=1,
        read_timeout=2,  # DynamoDB, S3 and EventBridge answer in milliseconds (a read timeout is per socket read)
        retries={"mode": "standard", "total_max_attempts": 3},  # the first call and two retries
    )
    # Rekognition takes a second or two per moderation copy; the workflow retries the step as well.
    return config, config.merge(Config(read_timeout=10, retries={"mode": "standard", "total_max_attempts": 2}))


@cache
def _boto3() -> Any:
    import boto3

    tracer.patch(["botocore"])  # X-Ray subsegments for its calls (nothing when tracing is off)
    return boto3


@cache
def s3() -> "S3Client":
    from botocore.config import Config

    config = _configs()[0]
    if not settings.s3_endpoint_override():
        # Presigned forms name the bucket's regional endpoint (bucket.s3.<region>.amazonaws.com), as s3_objects does:
        # botocore's default, the global one, is refused by regions opened since 2019 and answers a bucket elsewhere
        # with a redirect while its name spreads (a browser's CORS preflight does not follow redirects).
        config = config.merge(Config(s3={"addressing_style": "virtual", "us_east_1_regional_endpoint": "regional"}))
    return _boto3().client("s3", config=config)


@cache
def dynamodb() -> "DynamoDBServiceResource":
    return _boto3().resource("dynamodb", config=_configs()[0])


@cache
def dynamodb_client() -> "DynamoDBClient":
    """The low-level client, for libraries that send DynamoDB's typed values themselves (the resource's client
    would type them again)."""
    return _boto3().client("dynamodb", config=_configs()[0])


@cache
def events() -> "EventBridgeClient":
    return _boto3().client("events", config=_configs()[0])


@cache
def rekognition() -> "RekognitionClient":
    return _boto3().client("rekognition", config=_configs()[1])


@cache
def cloudfront() -> "CloudFrontClient":
    return _boto3().client("cloudfront", config=_configs()[0])


def reset_clients() -> None:
    """Forget cached clients (tests and the local runtime call this when the endpoint changes)."""
    for factory in (s3, dynamodb, dynamodb_client, events, rekognition, cloudfront):
        factory.cache_clear()


def client_error_code(error: Any) -> str:
    return str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))  # botocore's may be None


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


# Refusals that say to come back later, which botocore does not retry (a 400), with how long to wait (seconds):
# CloudFront's limit on the invalidations it works on at once (each takes a minute or so to finish).
RETRY_LATER_CODES: dict[str, int] = {"TooManyInvalidationsInProgress": 30}


@cache
def _retryable() -> tuple["BaseRetryableChecker", ...]:
    """botocore's own rules for what its standard retry mode retries: throttling codes, 5xx, timeouts and network
    failures. Its retries are spent by the time such an error reaches our code."""
    from botocore.retries.standard import ThrottledRetryableChecker, TransientRetryableChecker

    return TransientRetryableChecker(), ThrottledRetryableChecker()


def is_transient(error: Exception) -> bool:
    """True for what botocore would retry, a transaction cancelled by throttling or a concurrent write, a refusal
    to come back later (RETRY_LATER_CODES), and a response body cut short while it was read (after the call
    returned, so botocore never retried it)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders
    from botocore.retries.standard import RetryContext

    if isinstance(error, ClientError):
        if cancelled_transiently(error) or client_error_code(error) in RETRY_LATER_CODES:
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
    return any(checker.is_retryable(context) for checker in _retryable())


def cancelled_by_conditions_only(error: Any) -> bool:
    """True when a transaction was cancelled because its conditions failed, and for no other reason."""
    return cancellation_reasons(error) == {"ConditionalCheckFailed"}
