"""The sweeper closes uploads the workflow never claimed: EXPIRED without a photo, FAILED with one."""

import itertools
import threading
import time
from typing import Any

import pytest
from happypath_testkit.events import LambdaContext
from happypath_testkit.workflow import new_place, store_without_notification

from happypath import aws, keys, limits, storage
from happypath.models import Upload, utc_now
from happypath.repository import Repository
from happypath.statuses import AbandonedReason, UploadStatus
from happypath_backend import sweeper
from happypath_local.scheduler import Scheduler, schedules_of

NOW = int(time.time())


def pending_upload(place_id: str, expired_seconds_ago: int) -> Upload:
    upload_id = f"{time.time_ns():032x}"[-32:]
    upload = Upload(
        uploadId=upload_id,
        placeId=place_id,
        owner="owner",
        status=UploadStatus.PENDING_UPLOAD,
        contentType="image/jpeg",
        size=1000,
        objectKey=keys.upload_object_key(place_id, upload_id),
        createdAt=utc_now(),
        updatedAt=utc_now(),
        expiresAt=NOW - expired_seconds_ago,
    )
    Repository().create_upload(upload, per_day=1_000)
    return upload


def claim(upload: Upload, deadline: int) -> None:
    """As the workflow's first step marks an upload it processes."""
    Repository().table.update_item(
        Key=keys.upload_key(upload.uploadId),
        UpdateExpression="SET #s = :p, GSI2PK = :pk, GSI2SK = :sk",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={
            ":p": "PROCESSING",
            ":pk": keys.expiry_partition(deadline),
            ":sk": keys.expiry_sort_key(deadline, upload.uploadId),
        },
    )


def write_images(bucket: str, upload: Upload) -> list[str]:
    """The upload's published files, as its Resize step writes them; their keys, sorted."""
    written = sorted(keys.published_object_keys(upload.placeId, upload.uploadId, limits.RENDITIONS))
    for key in written:
        aws.s3().put_object(Bucket=bucket, Key=key, Body=b"image")
    return written


def stored_images(bucket: str, upload: Upload) -> list[str]:
    prefix = keys.published_prefix(upload.placeId, upload.uploadId)
    return sorted(item["Key"] for item in aws.s3().list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", []))


def in_sweep_index(repo: Repository, expired_before: int, oldest: int) -> set[str]:
    """The ids of the uploads the sweeper's index holds between `oldest` and `expired_before`."""
    return {upload.uploadId for upload in repo.unfinished_uploads(expired_before, oldest)}


def s3_unavailable(bucket: str, keys: Any) -> None:
    raise RuntimeError("S3 is having a bad day")


@pytest.fixture
def place(app):
    return new_place()


def test_abandoned_forms_expire_and_lost_photos_fail_visibly(app, place):
    repo = Repository()
    abandoned = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    lost = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 3 * 3600)  # a few hours back
    store_without_notification(app.physical("UploadBucket"), lost.objectKey)
    recent = pending_upload(place.placeId, 60)  # its S3 event may still be on the way
    claimed = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    stuck = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    claim(claimed, deadline=NOW + 600)
    claim(stuck, deadline=NOW - 60)

    result = sweeper.sweep(repo, NOW)

    assert result.expired >= 1
    assert result.failed >= 2
    expired = repo.get_upload(abandoned.uploadId)
    assert expired is not None
    assert (expired.status, expired.reason) == (UploadStatus.EXPIRED, AbandonedReason.UPLOAD_NOT_RECEIVED)
    assert expired.reasonDetail == "no photo arrived before the upload form expired"  # what its owner is told
    failed = repo.get_upload(lost.uploadId)
    assert failed is not None
    assert (failed.status, failed.reason) == (UploadStatus.FAILED, AbandonedReason.NOT_PROCESSED)
    assert repo.get_upload(recent.uploadId).status == UploadStatus.PENDING_UPLOAD  # type: ignore[union-attr]
    assert repo.get_upload(claimed.uploadId).status == UploadStatus.PROCESSING  # type: ignore[union-attr]
    timed_out = repo.get_upload(stuck.uploadId)
    assert timed_out is not None
    assert (timed_out.status, timed_out.reason) == (UploadStatus.FAILED, AbandonedReason.PROCESSING_TIMED_OUT)
    in_index = in_sweep_index(repo, NOW + 3600, NOW - sweeper.LOOK_BACK_SECONDS)
    assert {recent.uploadId, claimed.uploadId} <= in_index  # still open
    assert not {abandoned.uploadId, lost.uploadId, stuck.uploadId} & in_index  # closed: out of the sweeper's index

    again = sweeper.sweep(repo, NOW)  # closed uploads left the index: nothing to do twice
    assert (again.expired, again.failed) == (0, 0)


def test_an_upload_the_workflow_claimed_after_the_sweeper_read_it_is_left_open(app, place):
    repo = Repository()
    upload = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    claim(upload, deadline=NOW + 600)  # the sweeper still has it as PENDING_UPLOAD
    closed = repo.close_unfinished(
        upload.uploadId, UploadStatus.PENDING_UPLOAD, UploadStatus.EXPIRED, AbandonedReason.UPLOAD_NOT_RECEIVED, "late"
    )
    assert closed is False
    left = repo.get_upload(upload.uploadId)
    assert left is not None
    assert (left.status, left.reason) == (UploadStatus.PROCESSING, None)


def test_a_run_finds_what_expired_strictly_before_it_from_the_first_second_of_an_hour(app, place):
    """Each run reads the week before it hour by hour: an upload that expired as an hour began is in the run
    one second later, not in the run at that very second."""
    repo = Repository()
    hour = NOW - NOW % 3600 - 3600
    upload = pending_upload(place.placeId, NOW - hour)
    assert upload.uploadId not in in_sweep_index(repo, hour, hour - sweeper.LOOK_BACK_SECONDS)
    assert upload.uploadId in in_sweep_index(repo, hour + 1, hour + 1 - sweeper.LOOK_BACK_SECONDS)


def test_an_hour_of_uploads_is_read_to_its_last_page(app, place, monkeypatch):
    repo = Repository()
    uploads = [pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60) for _ in range(3)]
    query = repo.table.query
    monkeypatch.setattr(repo.table, "query", lambda **kwargs: query(**kwargs, Limit=1))  # DynamoDB's pages hold 1 MB
    read = [u.uploadId for u in itertools.islice(repo.unfinished_uploads(NOW, uploads[0].expiresAt), 1_000)]
    assert len(read) == len(set(read))  # each once
    assert {upload.uploadId for upload in uploads} <= set(read)


def test_the_sweeper_runs_every_five_minutes_locally(app):
    (schedule,) = schedules_of(app.stack)
    assert schedule.every_s == 300
    assert schedule.target_arn == app.stack.functions["SweeperFunction"].arn


def test_the_local_sweeper_runs_soon_after_start_so_an_app_restarted_often_still_sweeps(app):
    class Seams:
        def __init__(self) -> None:
            self.fired: list[str] = []
            self.first = threading.Event()

        def invoke_async(self, arn: str, payload: dict[str, Any]) -> None:
            self.fired.append(arn)
            self.first.set()

    seams = Seams()
    scheduler = Scheduler(app.stack, seams, first_run_after_s=0.05).start()  # type: ignore[arg-type]
    try:
        assert seams.first.wait(timeout=60)  # not after the five minutes of its rate
    finally:
        scheduler.stop()
    assert seams.fired == [app.stack.functions["SweeperFunction"].arn]


def test_one_upload_that_cannot_be_swept_does_not_keep_the_others_open(app, place, monkeypatch):
    repo = Repository()
    broken = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 120)
    abandoned = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)  # listed after the broken one
    real_exists = storage.object_exists

    def exists(bucket: str, key: str) -> bool:
        if key == broken.objectKey:
            raise RuntimeError("S3 is having a bad day")
        return real_exists(bucket, key)

    monkeypatch.setattr(storage, "object_exists", exists)
    result = sweeper.sweep(repo, NOW)
    assert broken.uploadId in result.errors
    assert repo.get_upload(broken.uploadId).status == UploadStatus.PENDING_UPLOAD  # type: ignore[union-attr]
    assert repo.get_upload(abandoned.uploadId).status == UploadStatus.EXPIRED  # type: ignore[union-attr]


def test_a_run_that_could_not_sweep_an_upload_fails_so_that_it_is_retried_and_seen(monkeypatch):
    monkeypatch.setattr(sweeper, "Repository", lambda: None)
    monkeypatch.setattr(sweeper, "sweep", lambda repo, now: sweeper.SweepResult(expired=3, errors=["b" * 32]))
    with pytest.raises(RuntimeError, match=f"1 uploads could not be swept: {'b' * 32}"):
        sweeper.lambda_handler({}, LambdaContext("sweeper"))
    monkeypatch.setattr(sweeper, "sweep", lambda repo, now: sweeper.SweepResult(expired=3))
    assert sweeper.lambda_handler({}, LambdaContext("sweeper")) == {"expired": 3, "failed": 0}


def test_an_object_whose_key_only_starts_like_the_upload_key_does_not_count(app, place):
    repo = Repository()
    upload = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    store_without_notification(app.physical("UploadBucket"), upload.objectKey + "-other")
    sweeper.sweep(repo, NOW)
    closed = repo.get_upload(upload.uploadId)
    assert closed is not None
    assert (closed.status, closed.reason) == (UploadStatus.EXPIRED, AbandonedReason.UPLOAD_NOT_RECEIVED)


def test_the_images_of_an_upload_that_timed_out_in_processing_are_deleted(app, place, monkeypatch):
    repo, bucket = Repository(), app.physical("DistributionBucket")
    stuck, running, published = (pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60) for _ in range(3))
    claim(stuck, deadline=NOW - 60)
    claim(running, deadline=NOW + 600)
    claim(published, deadline=NOW - 60)
    written = {upload.uploadId: write_images(bucket, upload) for upload in (stuck, running, published)}
    real_close = repo.close_unfinished

    def close_unfinished(upload_id: str, *args: Any, **kwargs: Any) -> bool:
        if upload_id == published.uploadId:
            return False  # the workflow published it just before the sweeper's close
        return real_close(upload_id, *args, **kwargs)

    monkeypatch.setattr(repo, "close_unfinished", close_unfinished)
    sweeper.sweep(repo, NOW)

    assert repo.get_upload(stuck.uploadId).reason == AbandonedReason.PROCESSING_TIMED_OUT  # type: ignore[union-attr]
    assert stored_images(bucket, stuck) == []
    assert stored_images(bucket, running) == written[running.uploadId]
    assert stored_images(bucket, published) == written[published.uploadId]


def test_images_that_could_not_be_deleted_are_deleted_by_the_next_run(app, place, monkeypatch):
    repo, bucket = Repository(), app.physical("DistributionBucket")
    stuck = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    claim(stuck, deadline=NOW - 60)
    written = write_images(bucket, stuck)

    with monkeypatch.context() as patched:
        patched.setattr(sweeper.storage, "delete_objects", s3_unavailable)
        first = sweeper.sweep(repo, NOW)
    assert stuck.uploadId in first.errors
    closed = repo.get_upload(stuck.uploadId)
    assert closed is not None  # its owner sees the outcome at once
    assert (closed.status, closed.reason) == (UploadStatus.FAILED, AbandonedReason.PROCESSING_TIMED_OUT)
    assert stored_images(bucket, stuck) == written
    # Its record is kept while the clean-up is still to do (DynamoDB's TTL would forget it otherwise).
    item = repo.table.get_item(Key=keys.upload_key(stuck.uploadId))["Item"]
    assert int(item[keys.DELETE_AFTER]) == NOW + limits.UNPUBLISHED_KEPT_DAYS * 86_400

    closes: list[str] = []
    real_close = repo.close_unfinished

    def close_unfinished(upload_id: str, *args: Any, **kwargs: Any) -> bool:
        closes.append(upload_id)
        return real_close(upload_id, *args, **kwargs)

    monkeypatch.setattr(repo, "close_unfinished", close_unfinished)
    second = sweeper.sweep(repo, NOW + 300)
    assert stuck.uploadId not in second.errors
    assert stuck.uploadId not in closes  # closed once, counted once
    assert stored_images(bucket, stuck) == []
    assert repo.get_upload(stuck.uploadId) == closed

    assert stuck.uploadId not in in_sweep_index(repo, NOW + 600, NOW - 3600)


def test_images_whose_deletion_keeps_failing_past_the_look_back_are_still_deleted(app, place, monkeypatch):
    repo, bucket = Repository(), app.physical("DistributionBucket")
    stuck = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    claim(stuck, deadline=NOW - 60)
    write_images(bucket, stuck)

    day = 24 * 3600
    last_run_looks_back_to = NOW + 9 * day - sweeper.LOOK_BACK_SECONDS
    assert NOW < last_run_looks_back_to <= NOW + 3 * day  # past the deadline, not past the second failed run
    with monkeypatch.context() as patched:
        patched.setattr(sweeper.storage, "delete_objects", s3_unavailable)
        for run in (NOW, NOW + 3 * day):
            assert stuck.uploadId in sweeper.sweep(repo, run).errors
    assert sweeper.sweep(repo, NOW + 9 * day).errors == []
    assert stored_images(bucket, stuck) == []
    assert stuck.uploadId not in in_sweep_index(repo, NOW + 10 * day, NOW - day)
    closed = repo.get_upload(stuck.uploadId)
    assert closed is not None
    assert (closed.status, closed.reason) == (UploadStatus.FAILED, AbandonedReason.PROCESSING_TIMED_OUT)


def test_an_upload_that_left_the_sweep_index_is_never_put_back(app, place):
    repo = Repository()
    done = pending_upload(place.placeId, limits.ABANDONED_AFTER_SECONDS + 60)
    repo.leave_sweep_index(done.uploadId)
    repo.sweep_again_at(done.uploadId, NOW)  # a run that raced with the one that finished the clean-up
    assert done.uploadId not in in_sweep_index(repo, NOW + 600, NOW - 7200)
    repo.sweep_again_at("never-created", NOW)  # nor creates an item for an upload that is gone
    repo.leave_sweep_index("never-created")
    assert "Item" not in repo.table.get_item(Key=keys.upload_key("never-created"))
