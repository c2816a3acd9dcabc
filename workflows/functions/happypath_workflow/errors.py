"""Errors the state machine matches on by name (Lambda reports the exception class as errorType)."""

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import BotoCoreError, ClientError

from happypath import aws


class TransientError(Exception):
    """Worth retrying: the state machine retries this with backoff before giving up."""


@contextmanager
def transient_aws_errors() -> Iterator[None]:
    """Re-raise throttling, 5xx and network failures from AWS calls (`aws.is_transient`) as TransientError."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        if aws.is_transient(error):
            raise TransientError(str(error)) from error
        raise
