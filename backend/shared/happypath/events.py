"""Event shapes that cross function boundaries: the notifier's EventBridge event and the workflow input."""

from typing import Final

from pydantic import BaseModel, ConfigDict

from happypath.models import Id

EVENT_SOURCE: Final = "custom.happyPath"
UPLOAD_COMPLETE: Final = "uploadComplete"

TypedKey = dict[str, dict[str, str]]


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
    keys: dict[str, TypedKey]
    deadline: dict[str, str]  # partition and sort key of the processing deadline in the expiry index
