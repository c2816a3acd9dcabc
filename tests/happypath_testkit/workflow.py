"""Drive uploads through the deployed app the way the browser does, then wait for the workflow's verdict."""

import time
from pathlib import Path

import boto3

from happypath.models import NewPlace, Place, Upload, UploadRequest
from happypath.repository import Repository
from happypath.statuses import FINAL_STATUSES, PlaceType
from happypath_backend import places, uploads

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".heic": "image/heic"}


def new_place(place_type: PlaceType = PlaceType.PARK, creator: str = "creator") -> Place:
    spec = NewPlace(name=f"A {place_type.value}", type=place_type, lat=51.5073, lng=-0.1657)
    return places.create_place(Repository(), spec, creator)


def start_upload(place_id: str, data: bytes, content_type: str = "image/jpeg", owner: str = "owner") -> str:
    """Request an upload form, then store the object where the form points (what S3 does on POST)."""
    form = uploads.request_upload(
        Repository(), place_id, UploadRequest(contentType=content_type, size=max(len(data), 1)), owner
    )
    boto3.client("s3").put_object(
        Bucket=form.url.split("//", 1)[1].split(".", 1)[0],
        Key=form.fields["key"],
        Body=data,
        ContentType=content_type,
    )
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
