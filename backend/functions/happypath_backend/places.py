"""Places and their published photos."""

import uuid

from happypath import geo, limits, settings, storage
from happypath.errors import InvalidInputError, NotFoundError
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
from happypath.statuses import UploadStatus, takes_photos


def create_place(repo: Repository, new: NewPlace, creator: str) -> Place:
    if not geo.can_be_found(new.lat, new.lng):
        raise InvalidInputError("a place this close to a pole could never be found: no search can be centred there")
    place = PlaceRecord(placeId=uuid.uuid4().hex, createdBy=creator, createdAt=utc_now(), **new.model_dump())
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
