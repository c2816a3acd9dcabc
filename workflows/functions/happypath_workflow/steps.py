"""What each workflow step does, as plain functions over the domain modules (no Lambda plumbing)."""

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from happypath import keys, limits, settings, storage
from happypath.errors import ConflictError
from happypath.events import UploadComplete
from happypath.models import PhotoRecord, RenditionFiles, utc_now
from happypath.statuses import RejectionReason, UploadStatus
from happypath_workflow import imaging, moderation
from happypath_workflow.models import (
    CheckResult,
    DiscardResult,
    ModerationPolicy,
    ModerationResult,
    PublishResult,
    ResizeResult,
)

if TYPE_CHECKING:  # the repository brings boto3, which the resize function does not load (see handlers.py)
    from happypath.repository import Repository

# A published image never changes, so CloudFront keeps it for a year (a delete invalidates it there);
# browsers for a day, as they cannot be told when one is deleted.
PUBLISHED_CACHE_CONTROL = "public, max-age=86400, s-maxage=31536000"


REPLACED_DETAIL = "the same upload form was used again while this photo was being checked"


def _read_upload(upload: UploadComplete) -> bytes:
    """The upload's bytes, exactly the version whose event started this workflow.

    The upload form stays valid for minutes, so the key can be overwritten meanwhile; reading it again
    in a later step without the ETag could publish a photo that was never checked or moderated.
    """
    try:
        return storage.read_object(upload.bucket, upload.key, etag=upload.etag)
    except storage.ObjectReplaced:
        raise imaging.ImageRejected(RejectionReason.REPLACED, REPLACED_DETAIL) from None
    except storage.ObjectTooLarge as too_large:  # S3 enforces the form's limit: only a changed limit gets here
        raise imaging.ImageRejected(RejectionReason.TOO_LARGE, str(too_large)) from None


def check_image(upload: UploadComplete) -> CheckResult:
    """Sniff, measure and integrity-check the upload; store the derivative moderation will look at."""
    try:
        inspection = imaging.inspect_image(_read_upload(upload))
    except imaging.ImageRejected as rejected:
        return CheckResult(accepted=False, reason=rejected.reason, detail=rejected.detail)
    moderation_key = keys.moderation_object_key(upload.uploadId)
    storage.write_object(upload.bucket, moderation_key, inspection.moderation_jpeg, "image/jpeg", "private, no-store")
    info = inspection.info
    return CheckResult(
        accepted=True, format=info.format, width=info.width, height=info.height, moderationKey=moderation_key
    )


def _moderation_image(upload: UploadComplete, moderation_key: str | None) -> bytes:
    if moderation_key:
        return storage.read_object(upload.bucket, moderation_key, limits.REKOGNITION_MAX_BYTES)
    return imaging.inspect_image(_read_upload(upload)).moderation_jpeg


def moderate(upload: UploadComplete, policy: ModerationPolicy, moderation_key: str | None) -> ModerationResult:
    try:
        image = _moderation_image(upload, moderation_key)
    except imaging.ImageRejected as rejected:
        return ModerationResult(accepted=False, reason=rejected.reason, detail=rejected.detail)
    detector = moderation.detector()
    confidence = settings.moderation_min_confidence()
    verdict = moderation.moderation_verdict(detector.detect_moderation_labels(image, confidence))
    if verdict.accepted and policy == "moderation-and-no-people":
        verdict = moderation.people_verdict(detector.detect_labels(image, confidence))
    return ModerationResult(
        accepted=verdict.accepted, reason=verdict.reason, detail=verdict.detail, labels=list(verdict.labels)
    )


def resize(upload: UploadComplete, *, checked: bool = False) -> ResizeResult:
    """Render the tile and the scaled image and write them to the distribution bucket (after decoding the whole
    image first, unless an earlier step has: `checked`)."""
    try:
        data = _read_upload(upload)
        if not checked:
            imaging.check_image_data(data)
        renditions = imaging.render(data)
    except imaging.ImageRejected as rejected:
        # An earlier attempt may have written images before it failed (a write refused, say) and the upload was
        # replaced before this retry: a rejected photo leaves none behind (the rejection path never discards).
        storage.delete_renditions(upload.placeId, upload.uploadId)
        return ResizeResult(accepted=False, reason=rejected.reason, detail=rejected.detail)
    bucket = settings.distribution_bucket()
    files: dict[limits.RenditionName, RenditionFiles] = {}
    writes = []
    for name, rendition in renditions.items():
        object_keys = keys.published_files(upload.placeId, upload.uploadId, name)
        files[name] = RenditionFiles(
            width=rendition.width, height=rendition.height, jpeg=object_keys["jpg"], webp=object_keys["webp"]
        )
        writes += [(object_keys["jpg"], rendition.jpeg, "jpg"), (object_keys["webp"], rendition.webp, "webp")]

    def write(item: tuple[str, bytes, str]) -> None:
        key, body, ext = item
        storage.write_object(bucket, key, body, keys.PUBLISHED_MEDIA_TYPES[ext], PUBLISHED_CACHE_CONTROL)

    with ThreadPoolExecutor(max_workers=len(writes)) as pool:
        list(pool.map(write, writes))
    scaled = renditions["scaled"]
    return ResizeResult(accepted=True, width=scaled.width, height=scaled.height, renditions=files)


def discard_images(repo: "Repository", upload: UploadComplete) -> DiscardResult:
    """Delete whatever Resize wrote for an upload that will not be published (deleting nothing is fine).

    Unless it was published: Publish's function can fail after its transaction committed (a timeout while
    the answer is on its way), and the Catch then leads here. Its images must stay.
    """
    record = repo.get_upload(upload.uploadId)
    if record is not None and record.status == UploadStatus.PROCESSED:
        return DiscardResult(published=True)
    storage.delete_renditions(upload.placeId, upload.uploadId)
    return DiscardResult(published=False)


def publish(repo: "Repository", upload: UploadComplete, image: ResizeResult) -> PublishResult:
    """Record the photo under its place and mark the upload PROCESSED (once, however often it runs)."""
    record = repo.get_upload(upload.uploadId)
    if record is None:
        raise ConflictError(f"upload {upload.uploadId} has no record")
    if image.renditions is None or image.width is None or image.height is None:
        raise ValueError("publish needs the resize step's renditions")
    photo = PhotoRecord(
        photoId=upload.uploadId,
        placeId=upload.placeId,
        owner=record.owner,
        publishedAt=utc_now(),
        width=image.width,
        height=image.height,
        renditions=image.renditions,
    )
    published = repo.publish_photo(photo)
    return PublishResult(photoId=photo.photoId, publishedAt=photo.publishedAt, alreadyPublished=not published)
