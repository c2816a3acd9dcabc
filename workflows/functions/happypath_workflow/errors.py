"""Errors the state machine matches on by name (Lambda reports the exception class as errorType)."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, ReadTimeoutError

from happypath import aws

# Error codes AWS documents as retryable (throttling and server-side faults).
_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "ProvisionedThroughputExceededException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "InternalError",
        "InternalServerError",
        "InternalServerErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)


class TransientError(Exception):
    """Worth retrying: the state machine retries this with backoff before giving up."""


@contextmanager
def transient_aws_errors() -> Iterator[None]:
    """Re-raise throttling, 5xx and network failures from AWS calls as TransientError."""
    try:
        yield
    except ClientError as error:
        if aws.client_error_code(error) in _TRANSIENT_CODES or aws.cancelled_transiently(error):
            raise TransientError(str(error)) from error
        raise
    except (ConnectionError, ReadTimeoutError) as error:
        raise TransientError(str(error)) from error
