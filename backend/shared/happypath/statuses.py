"""Upload lifecycle and the reasons an upload can end without being published."""

from enum import StrEnum


class UploadStatus(StrEnum):
    PENDING_UPLOAD = "PENDING_UPLOAD"  # the API handed out an upload form; no object yet
    PROCESSING = "PROCESSING"  # the object arrived and the workflow is running
    PROCESSED = "PROCESSED"  # published under its place
    REJECTED = "REJECTED"  # refused by policy; `reason` says why
    FAILED = "FAILED"  # an error survived every retry; `reason` says which
    EXPIRED = "EXPIRED"  # the upload form expired and no object ever arrived


FINAL_STATUSES = frozenset({UploadStatus.PROCESSED, UploadStatus.REJECTED, UploadStatus.FAILED, UploadStatus.EXPIRED})


class RejectionReason(StrEnum):
    """Why a photo was refused. The frontend turns each code into plain words."""

    UNSUPPORTED_TYPE = "UNSUPPORTED_TYPE"
    TOO_SMALL = "TOO_SMALL"
    TOO_LARGE = "TOO_LARGE"
    DAMAGED = "DAMAGED"
    INAPPROPRIATE_CONTENT = "INAPPROPRIATE_CONTENT"
    PEOPLE_NOT_ALLOWED = "PEOPLE_NOT_ALLOWED"
    PLACE_TYPE_NOT_ALLOWED = "PLACE_TYPE_NOT_ALLOWED"
    PLACE_NOT_FOUND = "PLACE_NOT_FOUND"
    REPLACED = "REPLACED"  # the form was used again while the workflow checked the first photo


class AbandonedReason(StrEnum):
    """Why the sweeper closed an upload the workflow never brought to an end (never claimed, or claimed and left)."""

    UPLOAD_NOT_RECEIVED = "UPLOAD_NOT_RECEIVED"  # EXPIRED: the form expired and no photo arrived
    NOT_PROCESSED = "NOT_PROCESSED"  # FAILED: the photo arrived but its event never started the workflow
    PROCESSING_TIMED_OUT = "PROCESSING_TIMED_OUT"  # FAILED: the workflow claimed it but never recorded an end


class PlaceType(StrEnum):
    PARK = "park"
    RESTAURANT = "restaurant"
    CAFE = "cafe"
    BAR = "bar"
    MUSEUM = "museum"
    BEACH = "beach"
    OTHER = "other"


# What the current workflow (v4) does per place type: every photo is moderated, and these refuse photos with
# people in them as well; any other type is PLACE_TYPE_NOT_ALLOWED.
PEOPLE_WELCOME_PLACE_TYPES = frozenset({PlaceType.PARK})
NO_PEOPLE_PLACE_TYPES = frozenset({PlaceType.RESTAURANT, PlaceType.CAFE, PlaceType.BAR})
ROUTES_BY_PLACE_TYPE_FROM = 4  # workflow versions before v4 publish photos of any place type
# Why a photo of another place type is refused: by the API before an upload, by the workflow (States.Format) after.
PLACE_TYPE_REFUSAL = "photos are not accepted for places of type {}"


def takes_photos(place_type: PlaceType, workflow_version: str) -> bool:
    """Whether the deployed workflow version ("v1".."v4") can publish a photo of a place of this type."""
    routes_by_type = int(workflow_version.removeprefix("v")) >= ROUTES_BY_PLACE_TYPE_FROM
    return not routes_by_type or place_type in PEOPLE_WELCOME_PLACE_TYPES | NO_PEOPLE_PLACE_TYPES
