"""Places and their published photos."""

import unicodedata
import uuid
from collections.abc import Mapping
from typing import Final

from happypath import geo, limits, settings, storage
from happypath.errors import InvalidInputError, NamesakeError, NotFoundError
from happypath.models import (
    NewPlace,
    Photo,
    PhotoPage,
    Place,
    PlaceDetail,
    PlaceRecord,
    PlaceWithDistance,
    Upload,
    utc_now,
)
from happypath.repository import Repository
from happypath.statuses import PlaceType, UploadStatus, takes_photos

# How near a place of the same type and name must be for a new place to count as that one added again. A park or
# a beach is large (people pin different parts of one); a restaurant, cafe or bar may share its name with another
# a street away (a chain), so only about the same spot counts.
NAMESAKE_RADIUS_M: Final[Mapping[PlaceType, int]] = {
    PlaceType.PARK: 300,
    PlaceType.BEACH: 300,
    PlaceType.MUSEUM: 100,
    PlaceType.OTHER: 100,
    PlaceType.RESTAURANT: 30,
    PlaceType.CAFE: 30,
    PlaceType.BAR: 30,
}


def comparable_name(name: str) -> str:
    """A name as people compare names: case, accents, punctuation and spacing aside ("Café  Blue!" is "cafeblue").
    A name of symbols only is compared as it is written."""
    letters = "".join(c for c in unicodedata.normalize("NFKD", name) if unicodedata.category(c)[0] in "LN")
    return (letters or name).casefold()


def namesake_of(repo: Repository, new: NewPlace) -> PlaceWithDistance | None:
    """The nearest place of the new place's type and name within its type's radius, if there is one."""
    radius = geo.largest_searchable_radius_m(new.lat, new.lng, NAMESAKE_RADIUS_M[new.type])  # narrower at a pole
    name = comparable_name(new.name)
    near = repo.places_near(
        new.lat, new.lng, radius, 1, matching=lambda p: p.type == new.type and comparable_name(p.name) == name
    )
    return near[0] if near else None


def create_place(repo: Repository, new: NewPlace, creator: str) -> Place:
    """Add a place, unless no search could find it or it is already on the map (checked before the daily quota
    counts it; two requests at the same moment can still both add it)."""
    if not geo.can_be_found(new.lat, new.lng):
        raise InvalidInputError("a place this close to a pole could never be found: no search can be centred there")
    if not new.allowNamesake and (namesake := namesake_of(repo, new)) is not None:
        raise NamesakeError(namesake)
    fields = new.model_dump(exclude={"allowNamesake"})
    place = PlaceRecord(placeId=uuid.uuid4().hex, createdBy=creator, createdAt=utc_now(), **fields)
    repo.create_place(place, per_day=settings.daily_places_per_user())
    return place.public()


def nearby(repo: Repository, lat: float, lng: float, radius_m: float, limit: int) -> list[PlaceWithDistance]:
    return repo.places_near(lat, lng, radius_m, min(limit, limits.NEARBY_RESULTS_MAX))


def with_urls(photo: Photo) -> Photo:
    """The stored photo names object keys; callers get distribution URLs."""
    renditions = {
        name: files.model_copy(
            update={"jpeg": storage.published_url(files.jpeg), "webp": storage.published_url(files.webp)}
        )
        for name, files in photo.renditions.items()
    }
    return photo.model_copy(update={"renditions": renditions})


def photo_of(repo: Repository, upload: Upload) -> Photo | None:
    """The photo an upload became (a published photo's id is its upload's): only a PROCESSED upload has one."""
    return repo.get_photo(upload) if upload.status == UploadStatus.PROCESSED else None


def published_photo(repo: Repository, photo_id: str) -> Photo:
    """One published photo, by the id in its address (a link shared from the viewer may name one on a later
    page)."""
    upload = repo.get_upload(photo_id)
    photo = photo_of(repo, upload) if upload is not None else None
    if photo is None:
        raise NotFoundError(f"photo {photo_id} not found")
    return with_urls(photo)


def photos_page(repo: Repository, place_id: str, limit: int, cursor: str | None) -> PhotoPage:
    if repo.get_place(place_id) is None:
        raise NotFoundError(f"place {place_id} not found")
    photos, next_cursor = repo.list_photos(place_id, limit, cursor)
    return PhotoPage(photos=[with_urls(p) for p in photos], nextCursor=next_cursor)


def place_detail(repo: Repository, place_id: str, limit: int, cursor: str | None) -> PlaceDetail:
    place = repo.get_place(place_id)
    if place is None:
        raise NotFoundError(f"place {place_id} not found")
    photos, next_cursor = repo.list_photos(place_id, limit, cursor)
    return PlaceDetail(
        place=place,
        takesPhotos=takes_photos(place.type, settings.workflow_version()),
        photos=[with_urls(p) for p in photos],
        nextCursor=next_cursor,
    )
