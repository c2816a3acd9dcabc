"""Whatever fails, nothing is lost: uploads under injected faults all end PROCESSED, REJECTED or FAILED.

Faults (chosen at random from a seeded generator; the handlers run on many threads, so which call draws which
number still varies from run to run): S3 reads and writes throttled or failing, DynamoDB throttling, a
resizer that crashes, a moderation step that runs past its Lambda timeout, EventBridge refusing the
notifier's events. Transient errors are retried by the
state machine; crashes end FAILED with the error; events lost past the notifier's retries are caught by the
sweeper. The test prints the run's report.
"""

import json
import time
from collections import Counter
from pathlib import Path
from urllib.parse import unquote_plus

import boto3
from happypath_testkit.workflow import new_place, upload_photo

from happypath import keys
from happypath.repository import Repository
from happypath.statuses import FINAL_STATUSES, AbandonedReason, PlaceType, UploadStatus
from happypath_backend import sweeper
from happypath_local.faults import Fault, FaultInjector

FAULTS = [
    Fault("CheckImageFunction", "s3:GetObject", 0.3, "SlowDown"),
    Fault("ModerateFunction", "s3:GetObject", 0.2, "InternalError"),
    Fault("ResizeFunction", "s3:PutObject", 0.1, "ServiceUnavailable"),
    Fault("ResizeFunction", "crash", 0.1),
    Fault("PublishFunction", "dynamodb:*", 0.3, "ProvisionedThroughputExceededException"),
    Fault("NotifierFunction", "events:PutEvents", 0.25, "InternalFailure"),
    Fault("ModerateFunction", "hang", 0.15, hang_s=1.5),  # past the 1 s timeout set below
]
UPLOADS = 30


def dead_letters_waiting(app) -> int:
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName=app.physical("NotifierDeadLetterQueue"))["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def drain_dead_letters(app) -> list[str]:
    """Upload ids of the notifications the notifier gave up on (the queue is left empty for later tests)."""
    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName=app.physical("NotifierDeadLetterQueue"))["QueueUrl"]
    upload_ids = []
    while messages := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []):
        for message in messages:
            for record in json.loads(message["Body"])["Records"]:
                upload_ids.append(keys.parse_upload_object_key(unquote_plus(record["s3"]["object"]["key"]))[1])
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    return upload_ids


def test_no_upload_is_lost_under_injected_faults(app, photos: Path, detector):
    drain_dead_letters(app)
    place = new_place(PlaceType.PARK)
    sources = [photos / "Reconyx_HC500_Hyperfire.jpg", photos / "jolla.jpg", photos / "DSCN0010.jpg"]
    injector = FaultInjector(FAULTS, seed=20261123)
    repo = Repository()
    started = time.monotonic()
    app.invoker.timeouts["ModerateFunction"] = 1.0  # so a hang is a Lambda timeout, quickly
    with injector.active(app.invoker):
        upload_ids = [upload_photo(place.placeId, sources[i % len(sources)]) for i in range(UPLOADS)]
        # Wait until nothing is processing and the uploads still pending (events lost past the notifier's
        # retries) have stayed so for a few seconds.
        deadline = time.monotonic() + 180
        pending_since, pending = time.monotonic(), -1
        while time.monotonic() < deadline:
            uploads = [repo.get_upload(u) for u in upload_ids]
            counts = Counter(u.status for u in uploads if u)
            if counts[UploadStatus.PENDING_UPLOAD] != pending:
                pending_since, pending = time.monotonic(), counts[UploadStatus.PENDING_UPLOAD]
            if counts[UploadStatus.PROCESSING] == 0 and time.monotonic() - pending_since > 3:
                break
            time.sleep(0.2)
    del app.invoker.timeouts["ModerateFunction"]
    # One upload whose notification fails for certain, so the dead-letter path is always exercised.
    certain = FaultInjector([Fault("NotifierFunction", "events:PutEvents", 1.0, "InternalFailure")], seed=1)
    with certain.active(app.invoker):
        upload_ids.append(upload_photo(place.placeId, sources[0]))
        deadline = time.monotonic() + 60
        while sum(certain.injected.values()) < 3 and time.monotonic() < deadline:  # the try and two retries
            time.sleep(0.05)
        while not dead_letters_waiting(app) and time.monotonic() < deadline:  # delivered after the last retry
            time.sleep(0.05)
    # Time passes: the sweeper closes what the workflow never saw (as its schedule would).
    swept = sweeper.sweep(repo, int(time.time()) + 24 * 3600)
    dead_lettered = drain_dead_letters(app)
    uploads = [repo.get_upload(u) for u in upload_ids]
    statuses = Counter(u.status.value if u else "MISSING" for u in uploads)
    reasons = Counter(f"{u.status.value}:{u.reason}" for u in uploads if u and u.status != UploadStatus.PROCESSED)
    lost = sum(1 for u in uploads if u is None or u.status not in FINAL_STATUSES)
    print(
        f"\nfault injection: {len(upload_ids)} uploads attempted, {sum(injector.injected.values())} faults injected"
        f" ({dict(injector.injected)}),\n  final states {dict(statuses)}, by reason {dict(reasons)},"
        f" notifications dead-lettered {len(dead_lettered)}, sweeper closed {swept.expired + swept.failed},"
        f" lost {lost}, {time.monotonic() - started:.1f} s"
    )
    assert lost == 0
    too_small = [u for i, u in enumerate(uploads[:UPLOADS]) if sources[i % len(sources)].name == "DSCN0010.jpg"]
    assert all(u and u.status in (UploadStatus.REJECTED, UploadStatus.FAILED) for u in too_small)  # never published
    assert sum(injector.injected.values()) > 0
    failed = [u for u in uploads if u and u.status == UploadStatus.FAILED]
    assert all(u.reason for u in failed)
    # A throttled publish transaction is cancelled, not refused: it is retried, never taken for a conflict.
    assert not [u for u in failed if u.reason == "ConflictError"]
    # A notification the notifier gave up on is kept in its dead-letter queue, and its upload is the sweeper's.
    by_id = dict(zip(upload_ids, uploads, strict=True))
    assert upload_ids[-1] in dead_lettered
    assert all(by_id[u] and by_id[u].reason == AbandonedReason.NOT_PROCESSED for u in dead_lettered)
