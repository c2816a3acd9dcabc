"""Domain and API models (pydantic), shared by the API handlers, the workflow and the local runtime."""

import unicodedata
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

from happypath import limits
from happypath.keys import ID_PATTERN
from happypath.statuses import PlaceType, RejectionReason, UploadStatus

Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
# Coordinates are kept to 7 decimals (about 1 cm): finer values mean nothing, and DynamoDB numbers cannot
# hold magnitudes below 1e-130.
Latitude = Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False), AfterValidator(lambda v: round(v, 7))]
Longitude = Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False), AfterValidator(lambda v: round(v, 7))]
# In JSON bodies a coordinate is a number: not a string, not a boolean.
BodyLatitude = Annotated[Latitude, Strict()]
BodyLongitude = Annotated[Longitude, Strict()]


def utc_timestamp(moment: datetime) -> str:
    """Timestamps are ISO 8601 UTC with milliseconds, as Step Functions writes them: sortable as strings."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def utc_now() -> str:
    return utc_timestamp(datetime.now(UTC))


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- requests ----------------------------------------------------------------------------------------

# Control, invisible formatting (bidi overrides, zero-width spaces), line and paragraph separators and
# private-use characters can disguise what a name says; the zero-width joiner stays between two characters, as
# emoji such as 👨‍👩‍👧 are built with it.
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
_EMOJI_JOINER: Final = "\u200d"
# Letters and symbols that show as blank space: the Hangul fillers and the blank Braille pattern.
_BLANK_LOOKING: Final = frozenset("\u115f\u1160\u3164\uffa0\u2800")
MAX_COMBINING_MARKS: Final = 4  # in a row: enough for any script, not for a tower of accents over the page


def _composed(value: object) -> object:
    """NFC, before the length is checked: composing writes a few characters as two or three (U+FB2C as three),
    so checked before it, a name of 120 characters could be stored as 360."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _BLANK_LOOKING


def _joins_two(value: str, at: int) -> bool:
    """Whether the joiner at `at` stands between two characters it can join (not spaces, not another joiner)."""
    if at == 0 or at == len(value) - 1:
        return False
    return all(not char.isspace() and not _hidden(char) for char in (value[at - 1], value[at + 1]))


def _plain_text(value: str) -> str:
    """Text everyone sees (a place's name and address), composed already: nothing hidden in it, and something to
    see when it is not empty (a letter, digit, punctuation or symbol; not only marks or spaces)."""
    marks, visible = 0, False
    for at, char in enumerate(value):
        category = unicodedata.category(char)
        if char == _EMOJI_JOINER:
            if not _joins_two(value, at):
                raise PydanticCustomError(
                    "plain_text", "must not have a zero-width joiner (U+200D) but between two characters"
                )
        elif _hidden(char):
            raise PydanticCustomError(
                "plain_text",
                "must not contain control or invisible characters (U+{code})",
                {"code": f"{ord(char):04X}"},
            )
        marks = marks + 1 if category.startswith("M") else 0
        if marks > MAX_COMBINING_MARKS:
            raise PydanticCustomError(
                "plain_text", "must not stack more than {most} combining marks", {"most": MAX_COMBINING_MARKS}
            )
        visible = visible or category[0] in "LNPS"
    if value and not visible:
        raise PydanticCustomError("plain_text", "must have a letter, digit, punctuation or symbol to show")
    return value


class NewPlace(Model):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=limits.PLACE_NAME_MAX_CHARS),
        AfterValidator(_plain_text),
        BeforeValidator(_composed),
    ]
    type: PlaceType
    lat: BodyLatitude
    lng: BodyLongitude
    address: (
        Annotated[
            str,
            StringConstraints(strip_whitespace=True, max_length=limits.PLACE_ADDRESS_MAX_CHARS),
            AfterValidator(_plain_text),
            BeforeValidator(_composed),
        ]
        | None
    ) = None
    allowNamesake: Annotated[bool, Strict()] = Field(
        False,
        description="Add the place although a place of its type and name is near (a 409 names it): it is another "
        "place. Without it, that 409 keeps one place from being added twice",
    )

    @field_validator("address")
    @classmethod
    def _blank_is_no_address(cls, value: str | None) -> str | None:
        return value or None  # all spaces: stored as no address, not as ""


# Content types a browser may declare; the workflow sniffs the real format regardless.
AcceptedContentType = Literal["image/jpeg", "image/png", "image/heic", "image/heif"]


class UploadRequest(Model):
    contentType: AcceptedContentType = Field(
        description="The type the browser will send; S3 refuses the upload if it differs."
    )
    size: Annotated[int, Strict(), Field(gt=0, le=limits.MAX_UPLOAD_BYTES)] = Field(
        description="The file size in bytes; S3 refuses a larger body."
    )


# --- stored items -----------------------------------------------------------------------------------


class Place(Model):
    """A place as anyone may see it."""

    placeId: Id
    name: str
    type: PlaceType
    lat: Latitude
    lng: Longitude
    address: str | None = None
    createdAt: str


class PlaceRecord(Place):
    """A place as stored: also who added it (an identity-provider subject, never in a public answer)."""

    createdBy: str

    def public(self) -> Place:
        return Place.model_validate(self.model_dump(exclude={"createdBy"}))


class RenditionFiles(Model):
    width: int
    height: int
    jpeg: str  # object key in the distribution bucket (stored) or URL (in API responses)
    webp: str


class Photo(Model):
    """A published photo as anyone may see it: not who uploaded it, which would link one person's photos
    across places (the uploader learns which photos are theirs from GET /photos/mine)."""

    photoId: Id
    placeId: Id
    publishedAt: str
    width: int  # of the largest published rendition (the scaled image), upright
    height: int
    renditions: dict[limits.RenditionName, RenditionFiles]


class PhotoRecord(Photo):
    """A photo as stored: also its owner, whose uploads it is."""

    owner: str


class Upload(Model):
    uploadId: Id
    placeId: Id
    owner: str
    status: UploadStatus
    contentType: str
    size: int
    objectKey: str
    createdAt: str
    updatedAt: str
    expiresAt: int = Field(description="Epoch seconds after which an upload form is no longer valid")
    reason: RejectionReason | str | None = None
    reasonDetail: str | None = None
    photoSortKey: str | None = None  # set when published: locates the photo item under its place


# --- responses -------------------------------------------------------------------------------------


class UploadForm(Model):
    """A presigned POST: the browser sends `fields` plus the file (last) as multipart/form-data to `url`."""

    uploadId: Id
    url: str
    fields: dict[str, str]
    expiresAt: int
    maxBytes: int


class UploadView(Model):
    uploadId: Id
    placeId: Id
    status: UploadStatus
    reason: str | None = None
    reasonDetail: str | None = None
    createdAt: str
    updatedAt: str
    photo: Photo | None = None


class PlaceWithDistance(Model):
    place: Place
    distanceM: float


class MyPhotos(Model):
    photoIds: list[Id] = Field(description="Those of the photos asked about that the caller published")


class PhotoPage(Model):
    photos: list[Photo]
    nextCursor: str | None = None


class PlaceDetail(Model):
    place: Place
    takesPhotos: bool = Field(
        description="Whether photos of this kind of place are published; if not, upload requests are refused (409)."
    )
    photos: list[Photo]
    nextCursor: str | None = None
