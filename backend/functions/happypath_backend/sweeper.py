"""Scheduled: closes uploads the workflow never claimed, so every upload ends in a state its owner sees.

A form that expired with no photo behind it becomes EXPIRED. A photo that did arrive but whose event never
started the workflow (a notifier or EventBridge failure past every retry) becomes FAILED, not silently lost.
"""

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from happypath import aws, limits, settings
from happypath.observability import logger, metrics, tracer
from happypath.repository import Repository
from happypath.statuses import AbandonedReason, UploadStatus

LOOK_BACK_SECONDS = 7 * 24 * 3600  # older unclaimed uploads were closed by earlier runs


@dataclass
class SweepResult:
    expired: int = 0
    failed: int = 0


def _object_exists(key: str) -> bool:
    try:
        aws.s3().head_object(Bucket=settings.upload_bucket(), Key=key)
    except ClientError as error:
        if aws.client_error_code(error) in ("404", "NoSuchKey", "NotFound"):
            return False
        raise
    return True


def sweep(repo: Repository, now: int) -> SweepResult:
    result = SweepResult()
    cutoff = now - limits.ABANDONED_AFTER_SECONDS
    for upload in repo.unclaimed_uploads(expired_before=cutoff, oldest=cutoff - LOOK_BACK_SECONDS):
        if _object_exists(upload.objectKey):
            closed = repo.close_unclaimed(
                upload.uploadId,
                UploadStatus.FAILED,
                AbandonedReason.NOT_PROCESSED,
                "the photo arrived but was never processed",
            )
            result.failed += closed
            if closed:
                logger.error("uploaded photo was never processed", extra={"uploadId": upload.uploadId})
        else:
            result.expired += repo.close_unclaimed(
                upload.uploadId,
                UploadStatus.EXPIRED,
                AbandonedReason.UPLOAD_NOT_RECEIVED,
                "no photo arrived before the upload form expired",
            )
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = sweep(Repository(), int(time.time()))
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=result.expired)
    metrics.add_metric(name="UploadsNeverProcessed", unit=MetricUnit.Count, value=result.failed)
    logger.info("swept unclaimed uploads", extra={"expired": result.expired, "failed": result.failed})
    return {"expired": result.expired, "failed": result.failed}
