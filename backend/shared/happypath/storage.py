"""S3 access: presigned upload forms, reading uploads, writing and deleting published images (and their CDN copies).

Objects are read, written and deleted through s3_objects (no boto3); forms, listings and CloudFront through boto3.
"""

import uuid
from collections.abc import Iterable

from botocore.exceptions import ClientError

from happypath import aws, keys, limits, s3_objects, settings


def presigned_upload_form(object_key: str, content_type: str, max_bytes: int) -> tuple[str, dict[str, str]]:
    """A POST form S3 itself enforces: exactly this key, this content type, at most max_bytes."""
    post = aws.s3().generate_presigned_post(
        Bucket=settings.upload_bucket(),
        Key=object_key,
        Fields={"Content-Type": content_type},
        Conditions=[
            {"Content-Type": content_type},
            ["content-length-range", 1, max_bytes],
        ],
        ExpiresIn=limits.UPLOAD_FORM_TTL_SECONDS,
    )
    return post["url"], {name: str(value) for name, value in post["fields"].items()}


class ObjectReplaced(Exception):
    """The object under the key is no longer the version the caller was told about."""


ObjectTooLarge = s3_objects.ObjectTooLarge


def read_object(bucket: str, key: str, max_bytes: int = limits.MAX_UPLOAD_BYTES, *, etag: str | None = None) -> bytes:
    """The object's bytes; refuses to load anything larger than max_bytes into memory.

    With `etag`, only that version of the object (S3 checks it: `If-Match`), else ObjectReplaced.
    Larger than max_bytes: ObjectTooLarge.
    """
    quoted = (etag if etag.startswith('"') else f'"{etag}"') if etag else None  # S3 events carry it unquoted
    try:
        return s3_objects.get_object(bucket, key, max_bytes=max_bytes, if_match=quoted)
    except ClientError as error:
        if aws.client_error_code(error) in ("PreconditionFailed", "412"):
            raise ObjectReplaced(f"s3://{bucket}/{key} is no longer version {etag}") from None
        raise


def object_exists(bucket: str, key: str) -> bool:
    """By listing the key: HEAD on a missing key is a 403 for a caller without s3:ListBucket, not a 404."""
    listed = aws.s3().list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1)
    return any(item.get("Key") == key for item in listed.get("Contents", []))  # the key sorts first


def write_object(bucket: str, key: str, body: bytes, content_type: str, cache_control: str) -> None:
    s3_objects.put_object(bucket, key, body, content_type=content_type, cache_control=cache_control)


# S3's status for the codes a key of a DeleteObjects can fail with (the request itself answers 200): what makes
# botocore's rules, and so the callers (Step Functions' TransientError, the API's 503), take one for passing.
_KEY_ERROR_STATUS = {"InternalError": 500, "ServiceUnavailable": 503, "SlowDown": 503, "AccessDenied": 403}


def delete_objects(bucket: str, keys: Iterable[str]) -> None:
    """Delete the keys (missing ones are fine); raises ClientError, as a failed call would, if S3 kept any: a
    lasting error if there is one (trying again cannot help), else a passing one."""
    errors = s3_objects.delete_objects(bucket, keys)
    if not errors:
        return
    raised = [_key_error(error, errors) for error in errors]
    raise next((error for error in raised if not aws.is_transient(error)), raised[0])


def _key_error(error: dict[str, str], every: list[dict[str, str]]) -> ClientError:
    response = {
        "Error": {"Code": error["Code"], "Message": f"could not delete {every}"},
        "ResponseMetadata": {"HTTPStatusCode": _KEY_ERROR_STATUS.get(error["Code"], 400)},
    }
    return ClientError(response, "DeleteObjects")  # type: ignore[arg-type]


def delete_renditions(place_id: str, upload_id: str) -> None:
    """Delete every file an upload's Resize step writes (deleting files that were never written is fine)."""
    delete_objects(settings.distribution_bucket(), _rendition_keys(place_id, upload_id))


def forget_cached_renditions(place_id: str, photo_id: str) -> None:
    """Have CloudFront drop its copies of a photo's files (deleted images stay deleted).

    Each file by name, not `prefix*`: CloudFront works on at most 15 wildcard paths at once (3,000 exact ones), so
    a person deleting a few photos in a row would be refused. Four paths a delete, not one, in CloudFront's bill."""
    paths = [f"/{key}" for key in _rendition_keys(place_id, photo_id)]
    aws.cloudfront().create_invalidation(
        DistributionId=settings.distribution_id(),
        InvalidationBatch={"Paths": {"Quantity": len(paths), "Items": paths}, "CallerReference": uuid.uuid4().hex},
    )


def _rendition_keys(place_id: str, upload_id: str) -> list[str]:
    return keys.published_object_keys(place_id, upload_id, limits.RENDITIONS)


def published_url(object_key: str) -> str:
    return f"{settings.distribution_url()}/{object_key}"
