"""Scheduled: closes uploads the workflow never finished, so every upload ends in a state its owner sees.

- A form that expired with no photo behind it: EXPIRED.
- A photo that arrived but whose event never started the workflow (a notifier or EventBridge failure past
  every retry): FAILED, NOT_PROCESSED.
- A claimed upload still not final after its processing deadline (an execution that died without recording
  an end): FAILED, PROCESSING_TIMED_OUT.
"""

import time
from dataclasses import dataclass
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import ClientError

from happypath import aws, limits, settings
from happypath.models import Upload
from happypath.observability import logger, metrics, tracer
from happypath.repository import Repository
from happypath.statuses import AbandonedReason, UploadStatus

LOOK_BACK_SECONDS = 7 * 24 * 3600  # anything older was closed by earlier runs


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


def _verdict(upload: Upload, now: int) -> tuple[UploadStatus, AbandonedReason, str] | None:
    if upload.status == UploadStatus.PROCESSING:
        return UploadStatus.FAILED, AbandonedReason.PROCESSING_TIMED_OUT, "processing did not finish in time"
    if upload.status != UploadStatus.PENDING_UPLOAD or upload.expiresAt + limits.ABANDONED_AFTER_SECONDS > now:
        return None  # its S3 event may still be on the way
    if _object_exists(upload.objectKey):
        return UploadStatus.FAILED, AbandonedReason.NOT_PROCESSED, "the photo arrived but was never processed"
    return UploadStatus.EXPIRED, AbandonedReason.UPLOAD_NOT_RECEIVED, "no photo arrived before the upload form expired"


def sweep(repo: Repository, now: int) -> SweepResult:
    result = SweepResult()
    for upload in repo.unfinished_uploads(expired_before=now, oldest=now - LOOK_BACK_SECONDS):
        verdict = _verdict(upload, now)
        if verdict is None:
            continue
        status, reason, detail = verdict
        if not repo.close_unfinished(upload.uploadId, upload.status, status, reason, detail):
            continue  # the workflow moved it on meanwhile
        if status == UploadStatus.EXPIRED:
            result.expired += 1
        else:
            result.failed += 1
            logger.error("upload never finished processing", extra={"uploadId": upload.uploadId, "reason": reason})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = sweep(Repository(), int(time.time()))
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=result.expired)
    metrics.add_metric(name="UploadsNeverFinished", unit=MetricUnit.Count, value=result.failed)
    logger.info("swept unfinished uploads", extra={"expired": result.expired, "failed": result.failed})
    return {"expired": result.expired, "failed": result.failed}
