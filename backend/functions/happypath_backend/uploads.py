"""Upload requests, upload status, and what a user does with their published photos (find, delete)."""

import time
import uuid

from happypath import keys, limits, settings, storage
from happypath.errors import ConflictError, ForbiddenError, InvalidInputError, NotFoundError
from happypath.models import Upload, UploadForm, UploadRequest, UploadView, utc_now
from happypath.repository import Repository
from happypath.statuses import PLACE_TYPE_REFUSAL, UploadStatus, takes_photos
from happypath_backend.places import photo_of, with_urls


def request_upload(repo: Repository, place_id: str, request: UploadRequest, owner: str) -> UploadForm:
    """Record a PENDING_UPLOAD and hand out a form S3 limits to one key, one content type and the size."""
    place = repo.get_place(place_id)
    if place is None:
        raise NotFoundError(f"place {place_id} not found")
    if not takes_photos(place.type, settings.workflow_version()):
        # The workflow would refuse the photo (PLACE_TYPE_NOT_ALLOWED) after a full upload: say so now.
        raise ConflictError(PLACE_TYPE_REFUSAL.format(place.type.value))
    upload_id = uuid.uuid4().hex
    object_key = keys.upload_object_key(place_id, upload_id)
    now = utc_now()
    expires_at = int(time.time()) + limits.UPLOAD_FORM_TTL_SECONDS
    upload = Upload(
        uploadId=upload_id,
        placeId=place_id,
        owner=owner,
        status=UploadStatus.PENDING_UPLOAD,
        contentType=request.contentType,
        size=request.size,
        objectKey=object_key,
        createdAt=now,
        updatedAt=now,
        expiresAt=expires_at,
    )
    repo.create_upload(upload, per_day=settings.daily_uploads_per_user())
    # The declared size caps the form, so a client cannot declare 1 KB and send 20 MB.
    url, fields = storage.presigned_upload_form(object_key, request.contentType, request.size)
    return UploadForm(uploadId=upload_id, url=url, fields=fields, expiresAt=expires_at, maxBytes=request.size)


def _owned_upload(repo: Repository, upload_id: str, user: str, what: str = "upload") -> Upload:
    """The upload, if it is the user's. `what` is the name the caller knows it by (a published photo's id is
    its upload's): DELETE /photos/{id} answers about a photo, not an upload it never heard of."""
    upload = repo.get_upload(upload_id)
    if upload is None:
        raise NotFoundError(f"{what} {upload_id} not found")
    if upload.owner != user:
        raise ForbiddenError(f"this {what} belongs to another user")
    return upload


def upload_status(repo: Repository, upload_id: str, user: str) -> UploadView:
    upload = _owned_upload(repo, upload_id, user)
    photo = photo_of(repo, upload)
    return UploadView(
        uploadId=upload.uploadId,
        placeId=upload.placeId,
        status=upload.status,
        reason=upload.reason,
        # A rejection's detail is for the user; a failure's is an internal error report, kept in the table.
        reasonDetail=upload.reasonDetail if upload.status != UploadStatus.FAILED else None,
        createdAt=upload.createdAt,
        updatedAt=upload.updatedAt,
        photo=with_urls(photo) if photo else None,
    )


def delete_photo(repo: Repository, photo_id: str, user: str) -> None:
    """Delete the published images first (idempotent), then the records: a failure part-way can be retried."""
    upload = _owned_upload(repo, photo_id, user, what="photo")
    if upload.status != UploadStatus.PROCESSED:
        raise ConflictError(f"photo {photo_id} is not published (status {upload.status})")
    # The images' keys follow from the ids (as Resize wrote them): not read from the photo item, which a read may
    # miss (and nothing would find the images once the records are gone).
    storage.delete_renditions(upload.placeId, photo_id)
    storage.forget_cached_renditions(upload.placeId, photo_id)
    storage.delete_objects(settings.upload_bucket(), [upload.objectKey, keys.moderation_object_key(photo_id)])
    repo.delete_photo(upload)


def published_by(repo: Repository, user: str, photo_ids: list[str]) -> list[str]:
    """Which of these photos the user published: the public listings do not say who uploaded what."""
    if len(photo_ids) > limits.PHOTOS_PAGE_MAX:
        raise InvalidInputError(f"ask about at most {limits.PHOTOS_PAGE_MAX} photos at a time")
    return repo.published_by(user, photo_ids) if photo_ids else []
