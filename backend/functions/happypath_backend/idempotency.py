"""Idempotency-Key: a create request sent again gets the first answer instead of creating a second thing.

A phone whose connection drops after the request left, but before the answer came, cannot know whether a place
or an upload form was made; asked again under the same key, the API answers as it did the first time (a place
is not added twice, a form is not counted against the daily quota twice). Powertools' idempotency utility keeps
the answers in their own DynamoDB table. A key is the caller's: the same key from someone else is another
request. Reused for a different request, it is refused.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyPersistenceLayerError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.idempotency.serialization.pydantic import PydanticSerializer
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel

from happypath import aws, settings
from happypath.errors import IdempotencyKeyReusedError, RequestInProgressError
from happypath.observability import logger

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.client import DynamoDBClient

HEADER: Final = "Idempotency-Key"
# Printable ASCII without spaces, as the header's value: a UUID, a ULID or any client's own token. No commas: API
# Gateway joins a header sent twice with one, and two keys must not make a third that replays as neither.
KEY_PATTERN: Final = r"^[\x21-\x2b\x2d-\x7e]{1,255}$"
KEY_RULE: Final = "1 to 255 printable ASCII characters, no spaces or commas (and sent once)"


@dataclass(frozen=True)
class Operation[Answer: BaseModel]:
    """A create request that may be sent again under an Idempotency-Key, and how long its answer is given again."""

    name: str
    answer_type: type[Answer]
    remembered_s: int

    def answer(
        self,
        caller: str,
        key: str | None,
        request: Mapping[str, Any],
        make: Callable[[], Answer],
        context: LambdaContext | None,
    ) -> Answer:
        """`make()`'s answer; under a key, the answer `make()` gave the first time `caller` asked with it. Without a
        key, `make()` runs every time. A failure is not remembered: asked again, `make()` runs again."""
        if key is None:
            return make()
        config = IdempotencyConfig(
            event_key_jmespath="[caller, key]",
            payload_validation_jmespath="request",  # the same key for a different request is refused
            expires_after_seconds=self.remembered_s,
            lambda_context=context,  # a request whose function died is tried again once its invocation is over
        )
        outcome: _Outcome[Answer] = _Outcome()

        @idempotent_function(
            data_keyword_argument="asked",
            persistence_store=_store(self.name, aws.dynamodb_client()),
            config=config,
            output_serializer=PydanticSerializer(self.answer_type),
            key_prefix=self.name,
        )
        def answered(asked: dict[str, Any]) -> Answer:
            try:
                answer = make()
            except Exception as error:
                outcome.error = error
                raise
            outcome.answer = answer
            return answer

        return _answered_once(answered, {"caller": caller, "key": key, "request": dict(request)}, outcome)


@dataclass
class _Outcome[Answer]:
    """What `make()` did, whatever the store then failed to record."""

    answer: Answer | None = None
    error: Exception | None = None


@lru_cache(maxsize=16)
def _store(operation: str, client: "DynamoDBClient") -> DynamoDBPersistenceLayer:
    """One per operation and client: each new one adds a handler to the client for good (Powertools' user agent
    feature), and its first configuration (the answer's lifetime) stays."""
    return DynamoDBPersistenceLayer(table_name=settings.idempotency_table(), boto3_client=client)


def _answered_once[Answer](answered: Callable[..., Answer], asked: dict[str, Any], outcome: _Outcome[Answer]) -> Answer:
    """Powertools' idempotency errors as the API's."""
    try:
        return answered(asked=asked)
    except IdempotencyValidationError as error:
        raise IdempotencyKeyReusedError(
            f"this {HEADER} was used for a different request: use a new key for a new request"
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise RequestInProgressError(
            f"a request with this {HEADER} is still being answered: ask again in a moment", retry_after_s=2
        ) from error
    except IdempotencyPersistenceLayerError as error:
        if outcome.answer is not None:
            # Made, but its answer could not be stored: the caller gets it all the same. Asked again, the key's
            # record says "in progress" (409) until the invocation's time is up, then the request runs again.
            logger.warning("an answer could not be kept for its Idempotency-Key", extra={"error": str(error)})
            return outcome.answer
        if outcome.error is not None:  # refused or failed; the record of the attempt could not be deleted
            raise outcome.error from error
        if isinstance(error.__cause__, ClientError | BotoCoreError):  # the API's handler of AWS errors decides
            raise error.__cause__ from error
        raise
