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
# private-use characters can disguise what a name says; the zero-width joiner stays after a character it can
# join, as emoji such as 👨‍👩‍👧 and Malayalam's word-final letters (ന്‍: letter, virama, joiner) are written with it.
_HIDDEN_CATEGORIES: Final = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
_EMOJI_JOINER: Final = "\u200d"
_NON_JOINER: Final = "\u200c"  # Persian and other scripts keep two letters apart with it: same rule as the joiner
_JOINERS: Final = frozenset({_EMOJI_JOINER, _NON_JOINER})
_BLACK_FLAG: Final = "\U0001f3f4"
_TAGS: Final = range(0xE0020, 0xE0080)  # after the black flag, they name a region's flag (🏴 + "gbeng" + end)
# Letters that show as blank space, used for names that look empty: the Hangul fillers.
_BLANK_LOOKING: Final = frozenset("\u115f\u1160\u3164\uffa0")
_BRAILLE_BLANK: Final = "\u2800"  # a Braille name's space: allowed, but nothing to see on its own
MAX_COMBINING_MARKS: Final = 4  # in a row: enough for any script, not for a tower of accents over the page


def _composed(value: object) -> object:
    """NFC, before the length is checked: composing writes a few characters as two or three (U+FB2C as three),
    so checked before it, a name of 120 characters could be stored as 360."""
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


def _noncharacter(char: str) -> bool:
    """The code points Unicode keeps out of text for good (U+FDD0-FDEF, U+xxFFFE and U+xxFFFF)."""
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _hidden(char: str) -> bool:
    return unicodedata.category(char) in _HIDDEN_CATEGORIES or char in _BLANK_LOOKING or _noncharacter(char)


def _joins(value: str, at: int) -> bool:
    """Whether the joiner at `at` follows a character it can join (not a space, another joiner or nothing)."""
    before = value[at - 1] if at > 0 else " "
    return not before.isspace() and before not in _JOINERS and not _hidden(before)


def _flag_tag(value: str, at: int) -> bool:
    """Whether the tag character at `at` belongs to a region's flag: after the black flag or another tag."""
    before = value[at - 1] if at > 0 else ""
    return ord(value[at]) in _TAGS and (before == _BLACK_FLAG or (before != "" and ord(before) in _TAGS))


def _plain_text(value: str) -> str:
    """Text everyone sees (a place's name and address), composed already: nothing hidden in it, and something to
    see when it is not empty (a letter, digit, punctuation or symbol; not only marks or spaces)."""
    marks, visible = 0, False
    for at, char in enumerate(value):
        category = unicodedata.category(char)
        if char in _JOINERS:
            if not _joins(value, at):
                raise PydanticCustomError(
                    "plain_text",
                    "must not have a zero-width joiner or non-joiner (U+{code}) but after a character it joins",
                    {"code": f"{ord(char):04X}"},
                )
        elif _hidden(char) and not _flag_tag(value, at):
            raise PydanticCustomError(
                "plain_text",
                "must not contain control or invisible characters (U+{code})",
                {"code": f"{ord(char):04X}"},
            )
        if category.startswith("M"):
            marks += 1
        elif char not in _JOINERS:  # a joiner between marks leaves them stacked on the same letter
            marks = 0
        if marks > MAX_COMBINING_MARKS:
            raise PydanticCustomError(
                "plain_text", "must not stack more than {most} combining marks", {"most": MAX_COMBINING_MARKS}
            )
        visible = visible or (category[0] in "LNPS" and char != _BRAILLE_BLANK)
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


def _json_number(value: object) -> object:
    """A number as JSON writes one: not a string ("2881") nor a boolean, which lax validation would take."""
    if isinstance(value, str | bool):
        raise PydanticCustomError("int_type", "Input should be a valid integer")
    return value


class UploadRequest(Model):
    contentType: AcceptedContentType = Field(
        description="The type the browser will send; S3 refuses the upload if it differs."
    )
    # Not Strict(): that refuses 2881.0, which JSON Schema's "integer" (the API document) allows.
    size: Annotated[int, Field(gt=0, le=limits.MAX_UPLOAD_BYTES), BeforeValidator(_json_number)] = Field(
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
