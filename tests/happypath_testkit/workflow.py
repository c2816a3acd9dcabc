"""Drive uploads through the deployed app the way the browser does, then wait for the workflow's verdict."""

import time
from pathlib import Path

import boto3

from happypath.models import NewPlace, Place, Upload, UploadForm, UploadRequest
from happypath.repository import Repository
from happypath.statuses import FINAL_STATUSES, PlaceType
from happypath_backend import places, uploads

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".heic": "image/heic"}


def new_place(place_type: PlaceType = PlaceType.PARK, creator: str = "creator") -> Place:
    # Tests add many places of one name at one spot: each is another place.
    spec = NewPlace(name=f"A {place_type.value}", type=place_type, lat=51.5073, lng=-0.1657, allowNamesake=True)
    return places.create_place(Repository(), spec, creator)


def request_form(place_id: str, size: int, content_type: str = "image/jpeg", owner: str = "owner") -> UploadForm:
    return uploads.request_upload(Repository(), place_id, UploadRequest(contentType=content_type, size=size), owner)


def store(form: UploadForm, data: bytes) -> None:
    """Store the object where the form points, as S3 does when the browser POSTs the form."""
    bucket = form.url.split("//", 1)[1].split(".", 1)[0]
    boto3.client("s3").put_object(
        Bucket=bucket, Key=form.fields["key"], Body=data, ContentType=form.fields["Content-Type"]
    )


def start_upload(place_id: str, data: bytes, content_type: str = "image/jpeg", owner: str = "owner") -> str:
    form = request_form(place_id, max(len(data), 1), content_type, owner)
    store(form, data)
    return form.uploadId


def upload_photo(place_id: str, photo: Path, owner: str = "owner") -> str:
    return start_upload(place_id, photo.read_bytes(), CONTENT_TYPES[photo.suffix.lower()], owner)


def wait_final(upload_id: str, timeout_s: float = 90) -> Upload:
    repo = Repository()
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        upload = repo.get_upload(upload_id)
        if upload is not None and upload.status in FINAL_STATUSES:
            return upload
        time.sleep(0.05)
    raise TimeoutError(f"upload {upload_id} is still {repo.get_upload(upload_id)} after {timeout_s}s")


def store_without_notification(bucket: str, key: str, data: bytes = b"jpeg") -> None:
    """The object arrives but its S3 event is lost (what the sweeper exists for)."""
    s3 = boto3.client("s3")
    configuration = s3.get_bucket_notification_configuration(Bucket=bucket)
    configuration.pop("ResponseMetadata")
    s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={})
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=data)
    finally:
        s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration=configuration)  # type: ignore[arg-type]
