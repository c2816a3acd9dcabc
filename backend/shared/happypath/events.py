"""Event shapes that cross function boundaries: the notifier's EventBridge event and the workflow input."""

from typing import Final

from pydantic import BaseModel, ConfigDict

from happypath import keys as table_keys
from happypath.models import Id

EVENT_SOURCE: Final = "custom.happyPath"
UPLOAD_COMPLETE: Final = "uploadComplete"

TypedKey = dict[str, dict[str, str]]


class UploadKeys(BaseModel):
    """The items the workflow's direct DynamoDB tasks read and write, keyed in DynamoDB's typed JSON."""

    model_config = ConfigDict(frozen=True)

    upload: TypedKey
    place: TypedKey


class DeadlineKeys(BaseModel):
    """The upload's processing deadline as the expiry index (GSI2) keys it: the sweeper closes it after that."""

    model_config = ConfigDict(frozen=True)

    partition: str
    sort: str


class UploadComplete(BaseModel):
    """`detail` of the uploadComplete event; the workflow's input is the whole EventBridge event.

    `keys` carries the table keys in DynamoDB's typed JSON so the state machine's direct DynamoDB
    integrations use them as they are, and key formats stay in happypath.keys alone.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    bucket: str
    key: str
    size: int
    etag: str | None = None
    placeId: Id
    uploadId: Id
    keys: UploadKeys
    deadline: DeadlineKeys

    @classmethod
    def for_object(cls, bucket: str, key: str, size: int, etag: str | None, deadline: int) -> "UploadComplete | None":
        """The event for an object stored under an upload form's key, whose workflow must end by `deadline`
        (epoch seconds); None for an object outside that layout."""
        try:
            place_id, upload_id = table_keys.parse_upload_object_key(key)
        except ValueError:
            return None
        return cls(
            bucket=bucket,
            key=key,
            size=size,
            etag=etag,
            placeId=place_id,
            uploadId=upload_id,
            keys=UploadKeys(
                upload=table_keys.typed_key(table_keys.upload_key(upload_id)),
                place=table_keys.typed_key(table_keys.place_key(place_id)),
            ),
            deadline=DeadlineKeys(
                partition=table_keys.expiry_partition(deadline),
                sort=table_keys.expiry_sort_key(deadline, upload_id),
            ),
        )
