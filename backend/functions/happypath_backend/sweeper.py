"""Scheduled: closes uploads the workflow never finished, so every upload ends in a state its owner sees.

- A form that expired with no photo behind it: EXPIRED.
- A photo that arrived but whose event never started the workflow (a notifier or EventBridge failure past
  every retry): FAILED, NOT_PROCESSED.
- A claimed upload still not final after its processing deadline (an execution that died without recording
  an end): FAILED, PROCESSING_TIMED_OUT. Images its Resize step may have written are deleted: the
  workflow's own failure path, which would have discarded them, never ran. The upload stays in the
  sweeper's index until they are gone, moved to the time of each failed attempt, so a deletion that fails
  is tried again by the next runs, however long it keeps failing.
- An upload the workflow marked FAILED stays in the index too, under its processing deadline: its images
  are deleted then, in case the workflow's own deletion (DiscardImages) failed as well.
"""

import time
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from happypath import limits, settings, storage
from happypath.models import Upload
from happypath.observability import logger, metrics, tracer
from happypath.repository import Repository
from happypath.statuses import AbandonedReason, UploadStatus

LOOK_BACK_SECONDS = 7 * 24 * 3600  # anything older was closed by earlier runs


@dataclass
class SweepResult:
    expired: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)  # upload ids that could not be swept this time


def _verdict(upload: Upload, now: int) -> tuple[UploadStatus, AbandonedReason, str] | None:
    if upload.status == UploadStatus.PROCESSING:
        return UploadStatus.FAILED, AbandonedReason.PROCESSING_TIMED_OUT, "processing did not finish in time"
    if upload.status != UploadStatus.PENDING_UPLOAD or upload.expiresAt + limits.ABANDONED_AFTER_SECONDS > now:
        return None  # its S3 event may still be on the way
    if storage.object_exists(settings.upload_bucket(), upload.objectKey):
        return UploadStatus.FAILED, AbandonedReason.NOT_PROCESSED, "the photo arrived but was never processed"
    return UploadStatus.EXPIRED, AbandonedReason.UPLOAD_NOT_RECEIVED, "no photo arrived before the upload form expired"


def sweep(repo: Repository, now: int) -> SweepResult:
    """Close what can be closed: one upload's error does not keep the ones after it open."""
    result = SweepResult()
    for upload in repo.unfinished_uploads(expired_before=now, oldest=now - LOOK_BACK_SECONDS):
        try:
            closed = _close(repo, upload, now)
        except Exception:
            logger.exception("could not sweep an upload", extra={"uploadId": upload.uploadId})
            result.errors.append(upload.uploadId)
            continue
        if closed == UploadStatus.EXPIRED:
            result.expired += 1
        elif closed == UploadStatus.FAILED:
            result.failed += 1
    return result


def _close(repo: Repository, upload: Upload, now: int) -> UploadStatus | None:
    """Close the upload if its time is up; the status it was given, or None if it was left as it is."""
    if upload.status == UploadStatus.FAILED:  # by the workflow, or by an earlier run: images maybe left
        _discard_images(repo, upload, now)
        return None
    verdict = _verdict(upload, now)
    if verdict is None:
        return None
    status, reason, detail = verdict
    timed_out = reason == AbandonedReason.PROCESSING_TIMED_OUT
    if not repo.close_unfinished(upload.uploadId, upload.status, status, reason, detail, keep_in_sweep_index=timed_out):
        return None  # the workflow moved it on meanwhile
    if status == UploadStatus.FAILED:
        logger.error("upload never finished processing", extra={"uploadId": upload.uploadId, "reason": reason})
    if timed_out:  # after the close: a photo published meanwhile keeps them
        _discard_images(repo, upload, now)
    return status


def _discard_images(repo: Repository, upload: Upload, now: int) -> None:
    try:
        storage.delete_renditions(upload.placeId, upload.uploadId)
    except Exception:
        repo.sweep_again_at(upload.uploadId, now)  # within the look-back of the runs to come
        raise
    repo.leave_sweep_index(upload.uploadId)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    result = sweep(Repository(), int(time.time()))
    metrics.add_metric(name="UploadsExpired", unit=MetricUnit.Count, value=result.expired)
    metrics.add_metric(name="UploadsNeverFinished", unit=MetricUnit.Count, value=result.failed)
    logger.info("swept unfinished uploads", extra={"expired": result.expired, "failed": result.failed})
    if result.errors:  # the run fails, so Lambda runs it again (its asynchronous retries) and the error is seen
        raise RuntimeError(f"{len(result.errors)} uploads could not be swept: {', '.join(result.errors[:10])}")
    return {"expired": result.expired, "failed": result.failed}
