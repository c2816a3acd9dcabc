"""S3 ObjectCreated on the upload bucket -> one `uploadComplete` event per object on EventBridge."""

import json
import time
from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from happypath import aws, limits, settings
from happypath.events import EVENT_SOURCE, UPLOAD_COMPLETE, UploadComplete
from happypath.observability import logger, metrics, tracer

PUT_EVENTS_BATCH = 10


class PublishError(RuntimeError):
    """EventBridge refused some entries: raised so Lambda retries the notification instead of losing it."""


def upload_complete_events(event: S3Event) -> list[UploadComplete]:
    found = []
    deadline = int(time.time()) + limits.PROCESSING_DEADLINE_SECONDS
    for record in event.records:
        key = unquote_plus(record.s3.get_object.key)  # S3 event keys are URL-encoded
        detail = UploadComplete.for_object(
            record.s3.bucket.name, key, record.s3.get_object.size or 0, record.s3.get_object.etag, deadline
        )
        if detail is None:
            logger.warning("ignoring object outside the upload layout", extra={"key": key})
            continue
        found.append(detail)
    return found


def publish(details: list[UploadComplete], partition: str) -> None:
    """Put the events, naming each object by its ARN in the function's own partition (aws, aws-cn, ...)."""
    bus = settings.event_bus_name()
    for start in range(0, len(details), PUT_EVENTS_BATCH):
        batch = details[start : start + PUT_EVENTS_BATCH]
        response = aws.events().put_events(
            Entries=[
                {
                    "Source": EVENT_SOURCE,
                    "DetailType": UPLOAD_COMPLETE,
                    "Detail": json.dumps(detail.model_dump(mode="json")),
                    "EventBusName": bus,
                    "Resources": [f"arn:{partition}:s3:::{detail.bucket}/{detail.key}"],
                }
                for detail in batch
            ]
        )
        if response.get("FailedEntryCount"):
            failed = [entry for entry in response["Entries"] if entry.get("ErrorCode")]
            raise PublishError(f"EventBridge refused {len(failed)} of {len(batch)} events: {failed}")


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    details = upload_complete_events(event)
    publish(details, partition=context.invoked_function_arn.split(":")[1])
    for detail in details:
        logger.info("upload complete", extra={"uploadId": detail.uploadId, "placeId": detail.placeId})
    metrics.add_metric(name="UploadCompleted", unit=MetricUnit.Count, value=len(details))
    return {"published": len(details)}
