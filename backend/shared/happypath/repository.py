"""DynamoDB data access for places, uploads and photos (single table, see happypath.keys)."""

import base64
import binascii
import heapq
import json
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from random import uniform
from time import sleep
from typing import TYPE_CHECKING, Any, Final, Literal

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError
from pydantic import BaseModel

from happypath import aws, geo, keys, limits, settings
from happypath.errors import BusyError, ConflictError, InvalidInputError, QuotaExceededError
from happypath.models import Photo, PhotoRecord, Place, PlaceRecord, PlaceWithDistance, Upload, utc_now
from happypath.statuses import UploadStatus

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import Table


DAY_SECONDS: Final = 86_400
COUNTED_PUT_ATTEMPTS: Final = 4  # a counter updated by two requests at once cancels one transaction: retried
# The daily counters, and each in words for its 429: what one person adds (one, many) and how.
Counter = Literal["places", "uploads"]
_QUOTA_WORDS: Final[dict[Counter, tuple[str, str, str]]] = {
    "places": ("place", "places", "add"),
    "uploads": ("upload form", "upload forms", "ask for"),
}
BATCH_ATTEMPTS: Final = 4  # a batch read DynamoDB throttles returns its unprocessed keys to ask for again
RETRY_BASE_S: Final = 0.05


def _forgotten_after(moment: int) -> int:
    """When DynamoDB deletes (TTL) an upload that was not published: UNPUBLISHED_KEPT_DAYS after `moment`."""
    return moment + limits.UNPUBLISHED_KEPT_DAYS * DAY_SECONDS


def _pause_before_retry(attempt: int) -> None:
    """Exponential backoff with jitter, so that requests that collided do not collide again.

    `sleep` and `uniform` are this module's own names, so a test can replace them here alone."""
    sleep(uniform(0.5, 1.0) * RETRY_BASE_S * 2**attempt)


def _to_dynamo(value: Any) -> Any:
    """DynamoDB has no float type: numbers travel as Decimal."""
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, dict):
        return {k: _to_dynamo(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_to_dynamo(v) for v in value]
    return value


def _from_dynamo(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _from_dynamo(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_dynamo(v) for v in value]
    return value


def _attributes(item: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    """The item's attributes that belong to `model` (drops keys and index attributes)."""
    fields = model.model_fields
    return {k: v for k, v in _from_dynamo(item).items() if k in fields}


DYNAMODB_SORT_KEY_MAX_BYTES: Final = 1024


def encode_cursor(last_key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(_from_dynamo(last_key)).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, expected_pk: str, sk_prefix: str) -> dict[str, str]:
    """A cursor is opaque to clients; anything not produced by encode_cursor for this listing is refused."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError) as error:
        raise InvalidInputError("cursor is malformed") from error
    if (
        not isinstance(key, dict)
        or set(key) != {keys.PK, keys.SK}
        or key[keys.PK] != expected_pk
        or not isinstance(key[keys.SK], str)
        or not key[keys.SK].startswith(sk_prefix)
        or len(key[keys.SK].encode(errors="replace")) > DYNAMODB_SORT_KEY_MAX_BYTES  # DynamoDB would refuse it
    ):
        raise InvalidInputError("cursor does not belong to this listing")
    if not key[keys.SK].isprintable():  # no key of ours holds control characters or (lone) surrogates
        raise InvalidInputError("cursor is malformed")
    return key


def _shown_distance(distance_m: float) -> float:
    """A nearby place's distance as the API gives it, to a tenth of a metre."""
    return round(distance_m, 1)


def _nearest_first(found: PlaceWithDistance) -> tuple[float, str]:
    """The order of nearby results: by the distance shown, then by placeId, so that equal distances come in
    one order whichever cells and pages they were read from."""
    return found.distanceM, found.place.placeId


def _out_of_reach(least_distance_m: float, radius_m: float, nearest: list[PlaceWithDistance], limit: int) -> bool:
    """Whether no place at `least_distance_m` or farther can be in the result: it is outside the radius, or
    `limit` places are found already and it would rank after all of them. A farther place never shows a
    shorter distance than the bound rounded, but may show the same one as the last place found and come
    before it by placeId: hence the strict comparison of shown distances."""
    if least_distance_m > radius_m:
        return True
    if len(nearest) < limit:
        return False
    return not nearest or _shown_distance(least_distance_m) > nearest[-1].distanceM


def place_item(place: PlaceRecord) -> dict[str, Any]:
    """A place's item as stored: its own key, and its geohash in the geo index that nearby search queries."""
    geohash = geo.encode(place.lat, place.lng)
    item = {
        **keys.place_key(place.placeId),
        keys.GEO_PK: keys.geo_partition(geohash),
        keys.GEO_SK: keys.geo_sort_key(geohash, place.placeId),
        **place.model_dump(),
    }
    return _to_dynamo(item)


class Repository:
    def __init__(self, table: "Table | None" = None) -> None:
        self._table = table

    @property
    def table(self) -> "Table":
        if self._table is None:
            self._table = aws.dynamodb().Table(settings.table_name())
        return self._table

    # --- places ------------------------------------------------------------------------------------

    def create_place(self, place: PlaceRecord, *, per_day: int) -> None:
        """Add a place, counted against its creator's `per_day` places."""
        self._put_counted(place_item(place), place.createdBy, "places", per_day)

    def get_place(self, place_id: str) -> Place | None:
        # Consistent: a place is opened right after it is added (the web app goes to its page on the 201), and
        # DynamoDB's default read may not have it yet: "Place not found" for a place just counted in the quota.
        item = self.table.get_item(Key=keys.place_key(place_id), ConsistentRead=True).get("Item")
        return Place(**_attributes(item, Place)) if item else None

    def places_near(
        self, lat: float, lng: float, radius_m: float, limit: int, matching: Callable[[Place], bool] | None = None
    ) -> list[PlaceWithDistance]:
        """The `limit` places nearest the point within `radius_m`, nearest first (equal distances by placeId);
        only those `matching` says are, when it is given (filtered as read, so it finds them past any number of
        others nearer).

        Cells are read nearest first, each in geohash order, keeping the `limit` nearest places so far. A
        place within the radius that ranks before the `limit`-th is what is looked for: the search skips the
        unread rest of a cell that cannot hold one, and stops at the first cell that cannot. In a dense city
        it reads the places near the centre, not every place in the circle.
        """
        nearest: list[PlaceWithDistance] = []
        for cell, cell_distance in geo.cells_nearest_first(lat, lng, radius_m):
            if _out_of_reach(cell_distance, radius_m, nearest, limit):
                break  # the cells after it are no nearer
            query: dict[str, Any] = {
                "IndexName": keys.GEO_INDEX,
                "KeyConditionExpression": Key(keys.GEO_PK).eq(keys.geo_partition(cell))
                & Key(keys.GEO_SK).begins_with(cell),
            }
            while True:
                page = self.table.query(**query)
                within_radius = []
                for item in page["Items"]:
                    place = Place(**_attributes(item, Place))
                    distance = geo.distance_m(lat, lng, place.lat, place.lng)
                    if distance <= radius_m and (matching is None or matching(place)):
                        within_radius.append(PlaceWithDistance(place=place, distanceM=_shown_distance(distance)))
                nearest = heapq.nsmallest(limit, nearest + within_radius, key=_nearest_first)
                last_key = page.get("LastEvaluatedKey")
                if last_key is None:
                    break
                last_read = keys.geohash_of_geo_sort_key(str(last_key[keys.GEO_SK]))
                unread_distance = geo.least_distance_m(lat, lng, geo.unread_cells(cell, last_read))
                if _out_of_reach(unread_distance, radius_m, nearest, limit):
                    break  # on to the next cell, which may be nearer than the rest of this one
                query["ExclusiveStartKey"] = last_key
        return nearest

    # --- uploads -----------------------------------------------------------------------------------

    def create_upload(self, upload: Upload, *, per_day: int) -> None:
        """Record a pending upload, counted against its owner's `per_day` upload forms."""
        item = {
            **keys.upload_key(upload.uploadId),
            keys.EXPIRY_PK: keys.expiry_partition(upload.expiresAt),
            keys.EXPIRY_SK: keys.expiry_sort_key(upload.expiresAt, upload.uploadId),
            keys.DELETE_AFTER: _forgotten_after(upload.expiresAt),  # publishing removes it
            **upload.model_dump(),
        }
        self._put_counted(item, upload.owner, "uploads", per_day)

    def _put_counted(self, item: dict[str, Any], subject: str, counter: Counter, per_day: int) -> None:
        """Put a new item and count it in `subject`'s counter for today (UTC), in one transaction that fails
        when the count has reached `per_day`. The counter deletes itself (DynamoDB TTL) a day later."""
        now = int(time.time())
        next_day = now - now % DAY_SECONDS + DAY_SECONDS
        transaction: list[Any] = [
            {
                "Update": {
                    "TableName": self.table.name,
                    "Key": keys.quota_key(subject, time.strftime("%Y-%m-%d", time.gmtime(now))),
                    "UpdateExpression": "ADD #counter :one SET #deleteAfter = :deleteAfter",
                    "ConditionExpression": "attribute_not_exists(#counter) OR #counter < :most",
                    "ExpressionAttributeNames": {"#counter": counter, "#deleteAfter": keys.DELETE_AFTER},
                    "ExpressionAttributeValues": {":one": 1, ":most": per_day, ":deleteAfter": next_day + DAY_SECONDS},
                }
            },
            {
                "Put": {
                    "TableName": self.table.name,
                    "Item": _to_dynamo(item),
                    "ConditionExpression": f"attribute_not_exists({keys.PK})",
                }
            },
        ]
        for attempt in range(1, COUNTED_PUT_ATTEMPTS + 1):
            try:
                self.table.meta.client.transact_write_items(TransactItems=transaction)
                return
            except ClientError as error:
                codes = aws.cancellation_codes(error)
                if codes[:1] == ["ConditionalCheckFailed"]:
                    one, many, verb = _QUOTA_WORDS[counter]
                    raise QuotaExceededError(
                        f"{per_day} {one if per_day == 1 else many} a day is the most one person may {verb}: "
                        "try again after 00:00 UTC",
                        retry_after_s=next_day - now,
                    ) from None
                if codes[1:2] == ["ConditionalCheckFailed"]:
                    raise ConflictError(f"{item[keys.PK]} already exists") from error
                # Two requests of one person at once update the same counter: DynamoDB cancels one of them.
                if not aws.cancelled_transiently(error) or attempt == COUNTED_PUT_ATTEMPTS:
                    raise
            _pause_before_retry(attempt)

    def unfinished_uploads(self, expired_before: int, oldest: int) -> Iterator[Upload]:
        """Uploads in the sweeper's index whose form expiry or processing deadline fell between `oldest` and
        `expired_before`: those not final, and those closed with clean-up still to do."""
        for hour in range(oldest - oldest % 3600, expired_before + 1, 3600):
            query: dict[str, Any] = {
                "IndexName": keys.EXPIRY_INDEX,
                "KeyConditionExpression": Key(keys.EXPIRY_PK).eq(keys.expiry_partition(hour))
                & Key(keys.EXPIRY_SK).lt(keys.expiry_sort_key(expired_before, "")),
            }
            while True:
                page = self.table.query(**query)
                for item in page["Items"]:
                    yield Upload(**_attributes(item, Upload))
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def close_unfinished(
        self,
        upload_id: str,
        seen: UploadStatus,
        status: UploadStatus,
        reason: str,
        detail: str,
        *,
        keep_in_sweep_index: bool = False,
    ) -> bool:
        """Give an upload the workflow never finished its final status; False if it moved on meanwhile.

        `keep_in_sweep_index` leaves it where the sweeper finds it, for clean-up still to do after the close
        (`leave_sweep_index` ends that).
        """
        leave = "" if keep_in_sweep_index else f" REMOVE {keys.EXPIRY_PK}, {keys.EXPIRY_SK}"
        try:
            self.table.update_item(
                Key=keys.upload_key(upload_id),
                UpdateExpression="SET #status = :status, reason = :reason, reasonDetail = :detail, updatedAt = :now"
                + leave,
                ConditionExpression="#status = :seen",
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues={
                    ":status": status.value,
                    ":seen": seen.value,
                    ":reason": reason,
                    ":detail": detail,
                    ":now": utc_now(),
                },
            )
        except ClientError as error:
            if aws.client_error_code(error) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    def sweep_again_at(self, upload_id: str, when: int) -> None:
        """Move a closed upload still in the sweeper's index to `when`: clean-up that failed is tried again by
        the runs after it, however long it keeps failing (each run looks back only so far)."""
        try:
            self.table.update_item(
                Key=keys.upload_key(upload_id),
                # Kept while its clean-up is still to do, however long that takes.
                UpdateExpression=f"SET {keys.EXPIRY_PK} = :partition, {keys.EXPIRY_SK} = :sort, "
                f"{keys.DELETE_AFTER} = :forgotten",
                ConditionExpression=Attr(keys.EXPIRY_PK).exists(),  # never back into the index once out
                ExpressionAttributeValues={
                    ":partition": keys.expiry_partition(when),
                    ":sort": keys.expiry_sort_key(when, upload_id),
                    ":forgotten": _forgotten_after(when),
                },
            )
        except ClientError as error:
            if aws.client_error_code(error) != "ConditionalCheckFailedException":
                raise

    def leave_sweep_index(self, upload_id: str) -> None:
        """The sweeper is done with a closed upload (the condition keeps a deleted upload deleted)."""
        try:
            self.table.update_item(
                Key=keys.upload_key(upload_id),
                UpdateExpression=f"REMOVE {keys.EXPIRY_PK}, {keys.EXPIRY_SK}",
                ConditionExpression=Attr(keys.PK).exists(),
            )
        except ClientError as error:
            if aws.client_error_code(error) != "ConditionalCheckFailedException":
                raise

    def get_upload(self, upload_id: str) -> Upload | None:
        item = self.table.get_item(Key=keys.upload_key(upload_id), ConsistentRead=True).get("Item")
        return Upload(**_attributes(item, Upload)) if item else None

    # --- photos ------------------------------------------------------------------------------------

    def publish_photo(self, photo: PhotoRecord) -> bool:
        """Record the photo under its place and mark its upload PROCESSED, atomically and once.

        Returns False when the upload was already published (a replayed event or a retried step).
        """
        sort_key = keys.photo_sk(photo.publishedAt, photo.photoId)
        client = self.table.meta.client
        try:
            client.transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table.name,
                            "Item": _to_dynamo({**keys.photo_key(photo.placeId, sort_key), **photo.model_dump()}),
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": self.table.name,
                            "Key": keys.upload_key(photo.photoId),
                            "UpdateExpression": "SET #status = :processed, photoSortKey = :sk, updatedAt = :now "
                            f"REMOVE {keys.EXPIRY_PK}, {keys.EXPIRY_SK}, {keys.DELETE_AFTER}",
                            "ConditionExpression": "#status = :processing",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":processed": UploadStatus.PROCESSED.value,
                                ":processing": UploadStatus.PROCESSING.value,
                                ":sk": sort_key,
                                ":now": utc_now(),
                            },
                        }
                    },
                ]
            )
        except ClientError as error:
            if not aws.cancelled_by_conditions_only(error):  # throttled or in conflict: the caller retries
                raise
            current = self.get_upload(photo.photoId)
            if current is not None and current.status == UploadStatus.PROCESSED:
                return False
            if current is not None and current.status == UploadStatus.PROCESSING:  # so the photo's Put failed
                raise ConflictError(f"photo {photo.photoId} is stored already at {sort_key}") from error
            raise ConflictError(
                f"upload {photo.photoId} is {current.status if current else 'missing'}, not PROCESSING"
            ) from error
        return True

    def get_photo(self, upload: Upload) -> Photo | None:
        if not upload.photoSortKey:
            return None
        # Consistent, as the upload it is read after: the poll that first sees PROCESSED, or a shared link
        # opened at once, must find the photo the same transaction wrote.
        key = keys.photo_key(upload.placeId, upload.photoSortKey)
        item = self.table.get_item(Key=key, ConsistentRead=True).get("Item")
        return Photo(**_attributes(item, Photo)) if item else None

    def list_photos(self, place_id: str, limit: int, cursor: str | None) -> tuple[list[Photo], str | None]:
        """One page of a place's photos, newest first, and the cursor of the next page."""
        page_size = min(limit, limits.PHOTOS_PAGE_MAX)
        query: dict[str, Any] = {
            "KeyConditionExpression": Key(keys.PK).eq(keys.place_pk(place_id))
            & Key(keys.SK).begins_with(keys.PHOTO_SK_PREFIX),
            "ScanIndexForward": False,
            # One more than the page: DynamoDB gives a LastEvaluatedKey whenever it stops at the Limit, even with
            # nothing after it, and a page that is exactly full would offer a next page that is empty.
            "Limit": page_size + 1,
        }
        if cursor:
            query["ExclusiveStartKey"] = decode_cursor(cursor, keys.place_pk(place_id), keys.PHOTO_SK_PREFIX)
        page = self.table.query(**query)
        items = page["Items"][:page_size]
        photos = [Photo(**_attributes(item, Photo)) for item in items]
        if len(page["Items"]) > page_size:
            last: dict[str, Any] | None = {keys.PK: items[-1][keys.PK], keys.SK: items[-1][keys.SK]}
        else:
            last = page.get("LastEvaluatedKey")  # the 1 MB a query reads at most came first
        return photos, encode_cursor(last) if last else None

    def published_by(self, owner: str, photo_ids: list[str]) -> list[str]:
        """Those of these photos that `owner` published, each once, in the order first asked (a photo's id is its
        upload's)."""
        asked = list(dict.fromkeys(photo_ids))
        names = {"#owner": "owner", "#status": "status", "#id": "uploadId"}
        request: dict[str, Any] = {
            self.table.name: {
                "Keys": [keys.upload_key(photo_id) for photo_id in asked],
                "ProjectionExpression": "#id, #owner, #status",
                "ExpressionAttributeNames": names,
                # Asked for right after a photo is published (the web app marks the owner's own): as `get_upload`.
                "ConsistentRead": True,
            }
        }
        mine: set[str] = set()
        for attempt in range(BATCH_ATTEMPTS):
            if attempt:
                _pause_before_retry(attempt)  # DynamoDB asks to back off before asking for unprocessed keys
            response = self.table.meta.client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self.table.name, []):
                if item["owner"] == owner and item["status"] == UploadStatus.PROCESSED.value:
                    mine.add(str(item["uploadId"]))
            request = response.get("UnprocessedKeys") or {}
            if not request:
                return [photo_id for photo_id in asked if photo_id in mine]
        raise BusyError()

    def delete_photo(self, upload: Upload) -> None:
        """Remove the photo item and its upload record together."""
        items: list[Any] = [{"Delete": {"TableName": self.table.name, "Key": keys.upload_key(upload.uploadId)}}]
        if upload.photoSortKey:
            photo = keys.photo_key(upload.placeId, upload.photoSortKey)
            items.append({"Delete": {"TableName": self.table.name, "Key": photo}})
        self.table.meta.client.transact_write_items(TransactItems=items)
