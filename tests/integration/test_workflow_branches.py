"""Every branch of the deployed workflow (v4), run as real ASL by moto's interpreter with the real handlers.

Uploads go in the way a browser's do (an object under the key the API handed out); the S3 notification,
the notifier, EventBridge, the state machine and every step then run as deployed from template.yaml.
"""

import io
import json
import time
import uuid
from pathlib import Path
from urllib.parse import quote

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from happypath_testkit.workflow import new_place, request_form, store, upload_photo, wait_final
from PIL import Image

from happypath import keys, limits
from happypath.errors import ConflictError
from happypath.events import EVENT_SOURCE, UPLOAD_COMPLETE, UploadComplete
from happypath.models import Place, UploadForm
from happypath.repository import Repository
from happypath.statuses import PlaceType, RejectionReason, UploadStatus
from happypath_backend import sweeper
from happypath_workflow import errors, imaging, steps


def distribution_image(app, key: str) -> Image.Image:
    body = boto3.client("s3").get_object(Bucket=app.physical("DistributionBucket"), Key=key)["Body"].read()
    return Image.open(io.BytesIO(body))


def published_image_count(app, place_id: str, upload_id: str) -> int:
    """How many of the upload's images are in the distribution bucket (the CDN's origin)."""
    listed = boto3.client("s3").list_objects_v2(
        Bucket=app.physical("DistributionBucket"), Prefix=keys.published_prefix(place_id, upload_id)
    )
    return listed["KeyCount"]


def broken_publish(repo, upload, image):
    raise RuntimeError("table is gone")


def a_form_for_two_photos(photos: Path) -> tuple[Place, bytes, bytes, UploadForm]:
    """A park, two photos, and one upload form that takes either: the form used again with the second."""
    place = new_place(PlaceType.PARK)
    first, second = (photos / "jolla.jpg").read_bytes(), (photos / "Reconyx_HC500_Hyperfire.jpg").read_bytes()
    return place, first, second, request_form(place.placeId, max(len(first), len(second)))


def state_names(app, upload_id: str) -> list[str]:
    """The states the upload's (only) execution entered, in order, once it has ended: the upload turns final
    in its Publish or RecordFailure step, a moment before the execution enters its end state."""
    deadline = time.monotonic() + 30
    while True:
        (execution,) = app.executions_for(upload_id)
        if execution["status"] != "RUNNING" or time.monotonic() > deadline:
            return app.states_entered(execution["executionArn"])
        time.sleep(0.05)


def test_park_photo_is_checked_moderated_resized_and_published(app, photos: Path, detector, monkeypatch):
    inspected = []
    inspect_image = imaging.inspect_image

    def counted_inspection(data: bytes) -> imaging.Inspection:
        inspected.append(len(data))
        return inspect_image(data)

    monkeypatch.setattr(imaging, "inspect_image", counted_inspection)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert upload.status == UploadStatus.PROCESSED, upload
    assert state_names(app, upload_id) == [
        "MarkProcessing",
        "CheckImage",
        "IsImageAccepted",
        "GetPlace",
        "IsPlaceFound",
        "ByPlaceType",
        "Moderate",
        "IsModerationPassed",
        "Resize",
        "IsResizeAccepted",
        "Publish",
        "Published",
    ]
    assert [name for name, _ in detector.calls] == ["detect_moderation_labels"]
    photos_page, _ = Repository().list_photos(place.placeId, 10, None)
    (photo,) = photos_page
    assert photo.photoId == upload_id
    assert Repository().published_by("owner", [upload_id]) == [upload_id]
    # Published: its upload record stays with the photo (DynamoDB's TTL forgets only unpublished ones).
    assert keys.DELETE_AFTER not in Repository().table.get_item(Key=keys.upload_key(upload_id))["Item"]
    tile = photo.renditions["tile"]
    assert (tile.width, tile.height) == (400, 400)
    assert distribution_image(app, tile.jpeg).size == (400, 400)
    assert distribution_image(app, tile.webp).format == "WEBP"
    scaled = photo.renditions["scaled"]
    assert distribution_image(app, scaled.jpeg).size == (600, 450)  # 3264x2448 keeps 4:3
    assert (photo.width, photo.height) == (600, 450)  # the photo's size is its scaled image's
    # Moderation saw the derivative, not the 0.8 MB original: the one the check stored, so the upload was
    # inspected once.
    (_, moderated_bytes) = detector.calls[0]
    assert moderated_bytes < 400_000
    assert len(inspected) == 1


def test_park_photo_flagged_by_moderation_is_rejected(app, photos: Path, detector):
    detector.moderation_labels = [{"Name": "Explicit Nudity", "Confidence": 98.5, "ParentName": ""}]
    place = new_place(PlaceType.PARK)
    upload = wait_final(upload_photo(place.placeId, photos / "jolla.jpg"))
    assert upload.status == UploadStatus.REJECTED
    assert upload.reason == RejectionReason.INAPPROPRIATE_CONTENT
    assert upload.reasonDetail == "flagged: Explicit Nudity"
    assert Repository().list_photos(place.placeId, 10, None)[0] == []
    # Forgotten with its original, UNPUBLISHED_KEPT_DAYS after its form expired.
    item = Repository().table.get_item(Key=keys.upload_key(upload.uploadId))["Item"]
    assert int(item[keys.DELETE_AFTER]) == upload.expiresAt + limits.UNPUBLISHED_KEPT_DAYS * 86_400


@pytest.mark.parametrize(("confidence", "status"), [(59.9, UploadStatus.PROCESSED), (60.0, UploadStatus.REJECTED)])
def test_moderation_counts_labels_from_the_stacks_minimum_confidence(app, photos: Path, detector, confidence, status):
    """ModerationMinConfidence (60 by default) reaches Rekognition: a label it is less sure of does not count."""
    assert app.stack.functions["ModerateFunction"].environment["MODERATION_MIN_CONFIDENCE"] == "60"
    detector.moderation_labels = [{"Name": "Suggestive", "Confidence": confidence, "ParentName": ""}]
    place = new_place(PlaceType.PARK)
    upload = wait_final(upload_photo(place.placeId, photos / "jolla.jpg"))
    assert upload.status == status


@pytest.mark.parametrize("place_type", [PlaceType.RESTAURANT, PlaceType.CAFE, PlaceType.BAR])
def test_photos_with_people_are_rejected_at_restaurants_cafes_and_bars(app, photos: Path, detector, place_type):
    detector.labels = [
        {"Name": "Person", "Confidence": 99.1, "Instances": [], "Parents": []},
        {"Name": "Food", "Confidence": 95.0, "Instances": [], "Parents": []},
    ]
    place = new_place(place_type)
    upload = wait_final(upload_photo(place.placeId, photos / "jolla.jpg"))
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.PEOPLE_NOT_ALLOWED)
    assert upload.reasonDetail == "shows: Person"
    assert [name for name, _ in detector.calls] == ["detect_moderation_labels", "detect_labels"]


@pytest.mark.parametrize("place_type", [PlaceType.RESTAURANT, PlaceType.CAFE, PlaceType.BAR])
def test_photos_flagged_by_moderation_are_rejected_at_restaurants_cafes_and_bars(
    app, photos: Path, detector, place_type
):
    """Every photo is moderated: no people is a rule on top, not instead (a violent picture shows no person)."""
    detector.moderation_labels = [{"Name": "Graphic Violence", "Confidence": 97.0, "ParentName": "Violence"}]
    place = new_place(place_type)
    upload = wait_final(upload_photo(place.placeId, photos / "jolla.jpg"))
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.INAPPROPRIATE_CONTENT)
    assert upload.reasonDetail == "flagged: Graphic Violence"
    assert [name for name, _ in detector.calls] == ["detect_moderation_labels"]  # refused: no second call
    assert Repository().list_photos(place.placeId, 10, None)[0] == []


def test_restaurant_photo_without_people_is_published(app, photos: Path, detector):
    detector.labels = [{"Name": "Pizza", "Confidence": 99.0, "Instances": [], "Parents": [{"Name": "Food"}]}]
    place = new_place(PlaceType.RESTAURANT)
    upload = wait_final(upload_photo(place.placeId, photos / "Reconyx_HC500_Hyperfire.jpg"))
    assert upload.status == UploadStatus.PROCESSED
    assert [name for name, _ in detector.calls] == ["detect_moderation_labels", "detect_labels"]


@pytest.mark.parametrize(
    ("photo", "reason"),
    [("DSCN0010.jpg", RejectionReason.TOO_SMALL), ("corrupted.jpg", RejectionReason.DAMAGED)],
)
def test_bad_images_are_rejected_by_the_check_with_a_reason(app, photos: Path, detector, photo, reason):
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / photo)
    upload = wait_final(upload_id)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, reason)
    assert upload.reasonDetail
    assert detector.calls == []  # rejected before moderation
    assert state_names(app, upload_id)[-3:] == ["RejectImage", "RecordRejection", "Rejected"]
    # Final and with nothing to clean up: out of the sweeper's index.
    after_deadline = int(time.time()) + limits.PROCESSING_DEADLINE_SECONDS + 3600
    unfinished = Repository().unfinished_uploads(after_deadline, after_deadline - 7200)
    assert upload_id not in [u.uploadId for u in unfinished]


def test_heic_from_an_iphone_is_published(app, photos: Path, detector):
    place = new_place(PlaceType.PARK)
    upload = wait_final(upload_photo(place.placeId, photos / "iphone_13_pro_max.HEIC"))
    assert upload.status == UploadStatus.PROCESSED, upload
    photo = Repository().get_photo(upload)
    assert photo is not None
    assert distribution_image(app, photo.renditions["scaled"].jpeg).format == "JPEG"


def test_exif_rotated_photo_is_published_upright(app, photos: Path, detector):
    place = new_place(PlaceType.PARK)
    upload = wait_final(upload_photo(place.placeId, photos / "canon_hdr_NO.jpg"))  # 2048x1536, orientation 6
    assert upload.status == UploadStatus.PROCESSED
    photo = Repository().get_photo(upload)
    assert photo is not None
    scaled = distribution_image(app, photo.renditions["scaled"].jpeg)
    assert scaled.size == (600, 800)
    assert not scaled.getexif()


def test_unsupported_place_type_is_rejected(app, photos: Path, detector, monkeypatch):
    # The API gives v4 no such forms; one handed out before the deployment moved to v4 is refused here.
    place = new_place(PlaceType.MUSEUM)
    monkeypatch.setenv("WORKFLOW_VERSION", "v3")
    form = request_form(place.placeId, (photos / "jolla.jpg").stat().st_size)
    monkeypatch.setenv("WORKFLOW_VERSION", "v4")
    store(form, (photos / "jolla.jpg").read_bytes())
    upload = wait_final(form.uploadId)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.PLACE_TYPE_NOT_ALLOWED)
    assert upload.reasonDetail == "photos are not accepted for places of type museum"
    assert detector.calls == []


@pytest.mark.parametrize(
    ("step", "state", "place_type"),
    [
        ("check_image", "CheckImage", PlaceType.PARK),
        ("moderate", "Moderate", PlaceType.PARK),
        ("moderate", "ModerateWithoutPeople", PlaceType.CAFE),
        ("resize", "Resize", PlaceType.PARK),
        ("publish", "Publish", PlaceType.PARK),
    ],
)
def test_transient_errors_are_retried_until_the_step_succeeds(
    app, photos: Path, detector, monkeypatch, step, state, place_type
):
    real_step = getattr(steps, step)
    failures = iter([errors.TransientError("S3 SlowDown"), errors.TransientError("S3 SlowDown")])

    def flaky_step(*args, **kwargs):
        failure = next(failures, None)
        if failure:
            raise failure
        return real_step(*args, **kwargs)

    monkeypatch.setattr(steps, step, flaky_step)
    place = new_place(place_type)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert upload.status == UploadStatus.PROCESSED
    assert state_names(app, upload_id).count(state) == 1  # retried inside the state, not re-entered
    (execution,) = app.executions_for(upload_id)
    failed = [e for e in app.history(execution["executionArn"]) if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == [
        "TransientError",
        "TransientError",
    ]


def test_a_permanent_error_marks_the_upload_failed_with_the_error(app, photos: Path, detector, monkeypatch):
    monkeypatch.setattr(steps, "publish", broken_publish)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert upload.status == UploadStatus.FAILED
    assert upload.reason == "RuntimeError"
    assert "table is gone" in (upload.reasonDetail or "")
    assert state_names(app, upload_id)[-5:] == [
        "Publish",
        "DiscardImages",
        "IsPublishedAfterAll",
        "RecordFailure",
        "Failed",
    ]
    assert Repository().list_photos(place.placeId, 10, None)[0] == []
    # The images Resize wrote are deleted: nothing of a failed upload stays on the CDN.
    assert published_image_count(app, place.placeId, upload_id) == 0


def test_a_resize_that_fails_after_writing_its_images_leaves_none_behind(app, photos: Path, detector, monkeypatch):
    real_resize = steps.resize

    def resize_then_fail(upload, **options):
        real_resize(upload, **options)
        raise RuntimeError("the function failed after writing its images")

    monkeypatch.setattr(steps, "resize", resize_then_fail)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert (upload.status, upload.reason) == (UploadStatus.FAILED, "RuntimeError")
    assert state_names(app, upload_id)[-5:] == [
        "Resize",
        "DiscardImages",
        "IsPublishedAfterAll",
        "RecordFailure",
        "Failed",
    ]
    assert published_image_count(app, place.placeId, upload_id) == 0


def test_a_publish_that_fails_after_committing_keeps_the_published_images(app, photos: Path, detector, monkeypatch):
    """Publish's function can fail after its transaction committed (e.g. a timeout while the answer is on its
    way): the Catch then leads to DiscardImages, which must not delete the images of a published photo."""
    real_publish = steps.publish

    def publish_then_time_out(repo, upload, image):
        real_publish(repo, upload, image)
        raise TimeoutError("the function timed out after the transaction committed")

    monkeypatch.setattr(steps, "publish", publish_then_time_out)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    assert wait_final(upload_id).status == UploadStatus.PROCESSED  # written by the transaction
    app.wait_for_executions(len(app.executions()))
    (execution,) = app.executions_for(upload_id)
    assert execution["status"] == "SUCCEEDED"
    assert state_names(app, upload_id)[-4:] == ["Publish", "DiscardImages", "IsPublishedAfterAll", "Published"]
    assert wait_final(upload_id).status == UploadStatus.PROCESSED  # RecordFailure never ran
    (photo,) = Repository().list_photos(place.placeId, 10, None)[0]
    for files in photo.renditions.values():
        for key in (files.jpeg, files.webp):
            distribution_image(app, key)  # still there


def test_a_discard_that_fails_after_a_committed_publish_leaves_the_upload_published(
    app, photos: Path, detector, monkeypatch
):
    """RecordFailure marks FAILED only an upload still being processed: never one whose photo is published."""
    real_publish = steps.publish

    def publish_then_time_out(repo, upload, image):
        real_publish(repo, upload, image)
        raise TimeoutError("the function timed out after the transaction committed")

    def broken_discard(repo, upload):
        raise RuntimeError("bucket is gone")

    monkeypatch.setattr(steps, "publish", publish_then_time_out)
    monkeypatch.setattr(steps, "discard_images", broken_discard)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    assert wait_final(upload_id).status == UploadStatus.PROCESSED  # written by the transaction
    assert state_names(app, upload_id)[-4:] == ["Publish", "DiscardImages", "RecordFailure", "Failed"]
    assert Repository().get_upload(upload_id).status == UploadStatus.PROCESSED  # RecordFailure did not change it
    assert [p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]] == [upload_id]


def test_a_transient_error_while_discarding_is_retried_and_the_images_are_deleted(
    app, photos: Path, detector, monkeypatch
):
    real_discard = steps.discard_images
    failures = iter([errors.TransientError("S3 SlowDown")])

    def flaky_discard(repo, upload):
        failure = next(failures, None)
        if failure:
            raise failure
        return real_discard(repo, upload)

    monkeypatch.setattr(steps, "publish", broken_publish)
    monkeypatch.setattr(steps, "discard_images", flaky_discard)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert (upload.status, upload.reason) == (UploadStatus.FAILED, "RuntimeError")
    assert state_names(app, upload_id)[-4:] == ["DiscardImages", "IsPublishedAfterAll", "RecordFailure", "Failed"]
    assert published_image_count(app, place.placeId, upload_id) == 0


def test_images_a_failed_discard_left_are_deleted_by_the_sweeper(app, photos: Path, detector, monkeypatch):
    """DiscardImages can fail too (past its retries): the upload still ends FAILED, and stays in the sweeper's
    index so that its images do not stay on the CDN for good."""

    def broken_discard(repo, upload):
        raise RuntimeError("bucket is gone")

    monkeypatch.setattr(steps, "publish", broken_publish)
    monkeypatch.setattr(steps, "discard_images", broken_discard)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    upload = wait_final(upload_id)
    assert (upload.status, upload.reason) == (UploadStatus.FAILED, "RuntimeError")
    assert "table is gone" in (upload.reasonDetail or "")  # the error that sank the upload, not the discard's
    assert state_names(app, upload_id)[-4:] == ["Publish", "DiscardImages", "RecordFailure", "Failed"]
    assert published_image_count(app, place.placeId, upload_id) == 4  # the tile and the scaled image, JPEG and WebP

    repo = Repository()
    after_deadline = int(time.time()) + limits.PROCESSING_DEADLINE_SECONDS + 3600
    assert sweeper.sweep(repo, after_deadline).errors == []  # other tests' uploads may be closed here too
    assert published_image_count(app, place.placeId, upload_id) == 0
    assert upload_id not in [u.uploadId for u in repo.unfinished_uploads(after_deadline, after_deadline - 7200)]
    assert repo.get_upload(upload_id) == upload  # still FAILED, with its reason


def _cancelled_transaction(reason: str, items: int) -> ClientError:
    """What DynamoDB answers when it cancels a two-item transaction because of the first item."""
    reasons = [{"Code": reason}] + [{"Code": "None"}] * (items - 1)
    response = {"Error": {"Code": "TransactionCanceledException", "Message": f"[{reason}]"}}
    return ClientError(response | {"CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[arg-type]


def test_a_publish_cancelled_by_throttling_is_retried_and_publishes_once(app, photos: Path, detector, monkeypatch):
    # DynamoDB cancels a throttled (or conflicting) transaction with the same exception as a failed condition;
    # only the reasons tell them apart. Taken for a conflict, the photo would end FAILED for good.
    original = BaseClient._make_api_call
    throttled = []

    def first_transaction_throttled(client, operation_name, params):
        publishing = operation_name == "TransactWriteItems" and any(
            item.get("Put", {}).get("Item", {}).get(keys.SK, "").startswith(keys.PHOTO_SK_PREFIX)
            for item in params["TransactItems"]
        )
        if publishing and not throttled:
            throttled.append(operation_name)
            raise _cancelled_transaction("ThrottlingError", len(params["TransactItems"]))
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", first_transaction_throttled)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    assert wait_final(upload_id).status == UploadStatus.PROCESSED
    assert throttled
    (execution,) = app.executions_for(upload_id)
    failed = [e for e in app.history(execution["executionArn"]) if e["type"] == "LambdaFunctionFailed"]
    assert [e["lambdaFunctionFailedEventDetails"]["error"] for e in failed] == ["TransientError"]
    assert [p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]] == [upload_id]


def test_publishing_again_finds_the_photo_published_and_never_a_second_one(app, photos: Path, detector, monkeypatch):
    calls = []
    real_publish = steps.publish

    def recorded_publish(repo, upload, image):
        calls.append((upload, image))
        return real_publish(repo, upload, image)

    monkeypatch.setattr(steps, "publish", recorded_publish)
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    assert wait_final(upload_id).status == UploadStatus.PROCESSED
    ((upload, image),) = calls
    again = real_publish(Repository(), upload, image)  # a retried step whose first try had succeeded
    assert again.alreadyPublished
    assert again.photoId == upload_id
    assert [p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]] == [upload_id]
    Repository().table.update_item(  # an upload closed meanwhile (e.g. by the sweeper) is not published
        Key=keys.upload_key(upload_id),
        UpdateExpression="SET #s = :failed",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":failed": UploadStatus.FAILED.value},
    )
    with pytest.raises(ConflictError, match="is FAILED, not PROCESSING"):
        real_publish(Repository(), upload, image)


def test_an_object_over_the_upload_limit_is_rejected_too_large_without_being_read(app, photos: Path, detector):
    """S3 holds a browser to its form's size; an object put there some other way is refused, not FAILED."""
    place = new_place(PlaceType.PARK)
    form = request_form(place.placeId, 1000)
    store(form, (photos / "jolla.jpg").read_bytes().ljust(limits.MAX_UPLOAD_BYTES + 1, b"\0"))
    upload = wait_final(form.uploadId)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.TOO_LARGE)
    limit = limits.MAX_UPLOAD_BYTES
    assert upload.reasonDetail == f"{limit + 1} bytes is over the {limit} byte limit"


def test_an_upload_for_a_place_deleted_meanwhile_is_rejected(app, photos: Path, detector):
    place = new_place(PlaceType.PARK)
    data = (photos / "jolla.jpg").read_bytes()
    form = request_form(place.placeId, len(data))
    Repository().table.delete_item(Key=keys.place_key(place.placeId))
    store(form, data)
    upload = wait_final(form.uploadId)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.PLACE_NOT_FOUND)


def test_a_replayed_upload_event_publishes_the_photo_once(app, photos: Path, detector):
    place = new_place(PlaceType.PARK)
    data = (photos / "jolla.jpg").read_bytes()
    form = request_form(place.placeId, len(data))
    store(form, data)
    assert wait_final(form.uploadId).status == UploadStatus.PROCESSED
    store(form, data)  # S3 delivers the notification again (at-least-once)
    upload_id = form.uploadId
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        runs = app.executions_for(upload_id)
        if len(runs) == 2 and all(r["status"] != "RUNNING" for r in runs):
            break
        time.sleep(0.05)
    assert sorted(r["status"] for r in runs) == ["SUCCEEDED", "SUCCEEDED"]
    assert [p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]] == [upload_id]
    assert sorted(app.states_entered(r["executionArn"])[-1] for r in runs) == ["AlreadyClaimed", "Published"]


def test_upload_events_of_another_stack_on_the_bus_start_no_workflow(app):
    """Stacks in one account share the default event bus: each workflow takes only its own bucket's uploads."""
    before = len(app.executions())
    upload_id, place_id = uuid.uuid4().hex, uuid.uuid4().hex
    detail = UploadComplete.for_object(
        "another-stack-uploadbucket", keys.upload_object_key(place_id, upload_id), 1, None, 0
    )
    assert detail is not None
    events = boto3.client("events")
    for bucket in ("another-stack-uploadbucket", app.physical("UploadBucket")):  # the other stack's first
        entry = {
            "Source": EVENT_SOURCE,
            "DetailType": UPLOAD_COMPLETE,
            "Detail": detail.model_copy(update={"bucket": bucket}).model_dump_json(),
        }
        assert events.put_events(Entries=[entry])["FailedEntryCount"] == 0
    app.wait_for_executions(before + 1)
    (execution,) = app.executions_for(upload_id)
    assert (
        f'"bucket": "{app.physical("UploadBucket")}"'
        in app.stepfunctions.describe_execution(executionArn=execution["executionArn"])["input"]
    )


def test_a_photo_replaced_while_it_is_checked_is_rejected_and_neither_is_published(
    app, photos: Path, detector, monkeypatch
):
    place, checked, replacement, form = a_form_for_two_photos(photos)
    answer = detector.detect_moderation_labels
    replaced = []

    def replace_while_moderating(image: bytes, min_confidence: float):
        if not replaced:  # the form is still valid: POST it again, after the check, before the resize
            store(form, replacement)
            replaced.append(True)
        return answer(image, min_confidence)

    monkeypatch.setattr(detector, "detect_moderation_labels", replace_while_moderating)
    store(form, checked)
    upload = wait_final(form.uploadId)
    assert replaced
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.REPLACED)
    assert upload.reasonDetail == steps.REPLACED_DETAIL
    entered = [name for run in app.executions_for(form.uploadId) for name in app.states_entered(run["executionArn"])]
    assert "Resize" in entered  # the check and moderation passed on the first photo; the resize found the swap
    assert "Publish" not in entered
    assert Repository().list_photos(place.placeId, 10, None)[0] == []
    published = boto3.client("s3").list_objects_v2(Bucket=app.physical("DistributionBucket"), Prefix="photos/")
    assert not [item["Key"] for item in published.get("Contents", []) if form.uploadId in item["Key"]]


def test_notifier_failures_are_retried_then_kept_in_its_dead_letter_queue(app, photos: Path, monkeypatch):
    from happypath_backend import notifier

    attempts = []

    def refused(details, partition):
        attempts.append(len(details))
        raise notifier.PublishError("EventBridge refused 1 of 1 events")

    sqs = boto3.client("sqs")
    queue = sqs.get_queue_url(QueueName=app.physical("NotifierDeadLetterQueue"))["QueueUrl"]
    sqs.purge_queue(QueueUrl=queue)  # the app is shared: earlier tests' injected faults may have left messages
    monkeypatch.setattr(notifier, "publish", refused)
    place = new_place(PlaceType.PARK)
    data = (photos / "jolla.jpg").read_bytes()
    form = request_form(place.placeId, len(data))
    store(form, data)
    messages = []
    for _ in range(200):
        messages = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"]).get("Messages", [])
        if messages:
            break
        time.sleep(0.05)
    (message,) = messages
    assert attempts == [1, 1, 1]  # the first try and Lambda's two retries
    assert json.loads(message["Body"])["Records"][0]["s3"]["object"]["key"] == quote(form.fields["key"], safe="")
    assert message["MessageAttributes"]["ErrorMessage"]["StringValue"] == "EventBridge refused 1 of 1 events"
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
    assert Repository().get_upload(form.uploadId).status == UploadStatus.PENDING_UPLOAD  # the sweeper's case


def runs_when_done(app, upload_id: str, count: int, timeout_s: float = 60) -> list[dict]:
    """The upload's executions once `count` exist and none is still running."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = app.executions_for(upload_id)
        if len(runs) >= count and all(r["status"] != "RUNNING" for r in runs):
            return runs
        time.sleep(0.05)
    raise TimeoutError(f"executions of {upload_id}: {app.executions_for(upload_id)}")


def answer_lost_after_writing(monkeypatch, is_the_write) -> list[str]:
    """DynamoDB commits the first write `is_the_write(params)` picks, then its answer is a 500 (a connection
    dropped on the way back): Step Functions retries a write that already happened."""
    original = BaseClient._make_api_call
    lost: list[str] = []

    def make_api_call(client, operation, params):
        if operation == "UpdateItem" and not lost and is_the_write(params):
            original(client, operation, params)
            lost.append(params["UpdateExpression"])
            error = {"Code": "InternalServerError", "Message": "injected: the answer was lost"}
            raise ClientError(
                {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 500, "RequestId": "lost"}}, operation
            )
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
    return lost


def test_a_claim_whose_answer_was_lost_is_retried_and_the_photo_published(app, photos: Path, detector, monkeypatch):
    lost = answer_lost_after_writing(
        monkeypatch, lambda params: "executionId = :execution" in params["UpdateExpression"]
    )
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "jolla.jpg")
    assert wait_final(upload_id).status == UploadStatus.PROCESSED
    assert lost  # the retry found its own claim, not another execution's
    (run,) = runs_when_done(app, upload_id, 1)
    assert (run["status"], app.states_entered(run["executionArn"])[-1]) == ("SUCCEEDED", "Published")


def test_a_rejection_whose_answer_was_lost_is_retried_and_the_execution_succeeds(
    app, photos: Path, detector, monkeypatch
):
    lost = answer_lost_after_writing(monkeypatch, lambda params: ":rejected" in params["ExpressionAttributeValues"])
    place = new_place(PlaceType.PARK)
    upload_id = upload_photo(place.placeId, photos / "corrupted.jpg")
    upload = wait_final(upload_id)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.DAMAGED)
    (run,) = runs_when_done(app, upload_id, 1)
    assert lost
    assert (run["status"], app.states_entered(run["executionArn"])[-1]) == ("SUCCEEDED", "Rejected")


def test_a_duplicate_execution_that_fails_to_claim_leaves_the_owners_upload_alone(
    app, photos: Path, detector, monkeypatch
):
    """S3 delivers the upload's event twice; the second execution's claim fails with an error it does not
    retry while the first is moderating. Its RecordFailure must not mark the first one's upload FAILED."""
    original = BaseClient._make_api_call
    claims = []

    def second_claim_conflicts(client, operation, params):
        if operation == "UpdateItem" and "executionId = :execution" in params.get("UpdateExpression", ""):
            claims.append(params["Key"])
            if len(claims) == 2:
                error = {"Code": "TransactionConflictException", "Message": "injected: a transaction holds the item"}
                raise ClientError(
                    {"Error": error, "ResponseMetadata": {"HTTPStatusCode": 400, "RequestId": "conflict"}}, operation
                )
        return original(client, operation, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", second_claim_conflicts)
    place = new_place(PlaceType.PARK)
    data = (photos / "jolla.jpg").read_bytes()
    form = request_form(place.placeId, len(data))
    answer = detector.detect_moderation_labels
    duplicate: list[dict] = []

    def moderate_while_the_duplicate_runs(image: bytes, min_confidence: float):
        if not duplicate:
            store(form, data)  # the same object's notification again
            deadline = time.monotonic() + 20  # moderation waits for the duplicate to end
            while not duplicate and time.monotonic() < deadline:
                duplicate.extend(r for r in app.executions_for(form.uploadId) if r["status"] != "RUNNING")
                time.sleep(0.05)
        return answer(image, min_confidence)

    monkeypatch.setattr(detector, "detect_moderation_labels", moderate_while_the_duplicate_runs)
    store(form, data)
    upload = wait_final(form.uploadId)
    assert len(claims) == 2
    assert len(duplicate) == 1
    assert upload.status == UploadStatus.PROCESSED, (upload.reason, upload.reasonDetail)
    assert [p.photoId for p in Repository().list_photos(place.placeId, 10, None)[0]] == [form.uploadId]
    runs = runs_when_done(app, form.uploadId, 2)
    ends = sorted((r["status"], app.states_entered(r["executionArn"])[-1]) for r in runs)
    assert ends == [("FAILED", "Failed"), ("SUCCEEDED", "Published")]  # the duplicate's failure shows, alone


def test_a_resize_retry_that_rejects_the_photo_deletes_what_the_first_attempt_wrote(
    app, photos: Path, detector, monkeypatch
):
    place, first, replacement, form = a_form_for_two_photos(photos)
    real_resize = steps.resize
    attempts = []

    def write_then_fail_once(upload, **options):
        attempts.append(upload.uploadId)
        if len(attempts) == 1:
            real_resize(upload, **options)  # the images are written ...
            store(form, replacement)  # ... the still-valid form is used again ...
            raise errors.TransientError("S3 SlowDown")  # ... and the attempt fails: the retry finds the swap
        return real_resize(upload, **options)

    monkeypatch.setattr(steps, "resize", write_then_fail_once)
    store(form, first)
    upload = wait_final(form.uploadId)
    assert (upload.status, upload.reason) == (UploadStatus.REJECTED, RejectionReason.REPLACED)
    assert len(attempts) == 2
    assert published_image_count(app, place.placeId, form.uploadId) == 0
