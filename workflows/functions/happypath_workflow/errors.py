"""Errors the state machine matches on by name (Lambda reports the exception class as errorType)."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import BotoCoreError, ClientError, IncompleteReadError
from botocore.retries.standard import RetryContext, ThrottledRetryableChecker, TransientRetryableChecker

from happypath import aws

# botocore's own rules for what its standard retry mode retries: throttling codes, 5xx, timeouts and
# network failures. Its retries are spent by the time an error reaches the step.
_RETRYABLE = (TransientRetryableChecker(), ThrottledRetryableChecker())


class TransientError(Exception):
    """Worth retrying: the state machine retries this with backoff before giving up."""


def is_transient(error: Exception) -> bool:
    """True for what botocore would retry, a transaction cancelled by throttling or a concurrent write, and a
    response body cut short while it was read (after the call returned, so botocore never retried it)."""
    if isinstance(error, ClientError):
        if aws.cancelled_transiently(error):
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


@contextmanager
def transient_aws_errors() -> Iterator[None]:
    """Re-raise throttling, 5xx and network failures from AWS calls as TransientError."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        if is_transient(error):
            raise TransientError(str(error)) from error
        raise
