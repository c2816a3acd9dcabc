"""The HTTP API handler: every route's success, validation errors, and auth (missing user, wrong owner)."""

import base64
import json
import math
import os
import re
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError, IncompleteReadError, ReadTimeoutError
from happypath_testkit.events import LambdaContext, body_of, http_event

from happypath import geo, keys, limits
from happypath import repository as repository_module
from happypath.errors import ConflictError
from happypath.models import PhotoRecord, PlaceRecord, RenditionFiles
from happypath.repository import Repository
from happypath.statuses import PlaceType, UploadStatus
from happypath_backend import api, openapi, places
from happypath_local.server import Options, urls_for

OWNER = "owner-sub"
STRANGER = "stranger-sub"


CONTEXT = LambdaContext("happypath-ApiFunction", 512)


def call(method: str, route: str, **kwargs: Any) -> tuple[int, Any]:
    response = api.lambda_handler(http_event(method, route, **kwargs), CONTEXT)
    return response["statusCode"], body_of(response)


def create_place(user: str = OWNER, **overrides: Any) -> dict[str, Any]:
    """Another Hyde Park each time (the tests share one table): the namesake check is tested on its own."""
    body = {"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657, "allowNamesake": True} | overrides
    status, place = call("POST", "/places", body=body, user=user)
    assert status == 201, place
    return place


def set_processing(upload_id: str) -> None:
    """The upload's status as the workflow sets it when it claims the upload."""
    Repository().table.update_item(
        Key=keys.upload_key(upload_id),
        UpdateExpression="SET #s = :p",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":p": UploadStatus.PROCESSING.value},
    )


def published_photo(place_id: str, owner: str = OWNER, published_at: str = "2026-11-23T10:00:00.000Z") -> str:
    """A photo as the workflow leaves it: upload PROCESSED, photo item, four objects in the bucket."""
    repo = Repository()
    status, form = call(
        "POST",
        "/places/{place_id}/uploads",
        path_parameters={"place_id": place_id},
        body={"contentType": "image/jpeg", "size": 1000},
        user=owner,
    )
    assert status == 201
    upload_id = form["uploadId"]
    set_processing(upload_id)
    s3 = boto3.client("s3")
    distribution = os.environ["DISTRIBUTION_BUCKET"]
    renditions = {}
    for name, (w, h) in {"tile": (400, 400), "scaled": (600, 450)}.items():
        files = keys.published_files(place_id, upload_id, name)
        for key in files.values():
            s3.put_object(Bucket=distribution, Key=key, Body=b"image")
        renditions[name] = RenditionFiles(width=w, height=h, jpeg=files["jpg"], webp=files["webp"])
    photo = PhotoRecord(
        photoId=upload_id,
        placeId=place_id,
        owner=owner,
        publishedAt=published_at,
        width=600,
        height=450,
        renditions=renditions,
    )
    assert repo.publish_photo(photo)
    return upload_id


def request_form(place_id: str, user: str = OWNER, **fields: Any) -> tuple[int, Any]:
    """POST /places/{place_id}/uploads for a small JPEG (or what `fields` say)."""
    return call(
        "POST",
        "/places/{place_id}/uploads",
        path_parameters={"place_id": place_id},
        body={"contentType": "image/jpeg", "size": 10} | fields,
        user=user,
    )


@pytest.fixture(autouse=True)
def _deployed(app):
    """Every test here runs against the resources template.yaml declares, deployed into moto."""


# --- places ---------------------------------------------------------------------------------------


def test_create_place_records_the_creator_and_returns_201():
    place = create_place(name="  Regent's Park ", lat=51.5313, lng=-0.1570)
    assert place["name"] == "Regent's Park"
    assert keys.is_valid_id(place["placeId"])
    stored = Repository().table.get_item(Key=keys.place_key(place["placeId"]))["Item"]
    assert stored["createdBy"] == OWNER
    assert "createdBy" not in place  # who added a place is not public
    status, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert status == 200
    assert detail["place"] == place
    assert detail["photos"] == []
    assert detail["nextCursor"] is None


def test_create_place_requires_a_signed_in_user():
    status, body = call("POST", "/places", body={"name": "X", "type": "park", "lat": 1, "lng": 1})
    assert status == 401
    assert body["message"] == "sign in required"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "park", "lat": 1, "lng": 1}, "name"),
        ({"name": "", "type": "park", "lat": 1, "lng": 1}, "name"),
        ({"name": "x" * 121, "type": "park", "lat": 1, "lng": 1}, "name"),
        ({"name": 5, "type": "park", "lat": 1, "lng": 1}, "name"),  # not text: refused, not composed
        ({"name": "X", "type": "park", "lat": 1, "lng": 1, "address": ["1 Main St"]}, "address"),
        ({"name": "X", "type": "volcano", "lat": 1, "lng": 1}, "type"),
        ({"name": "X", "type": "park", "lat": 91, "lng": 1}, "lat"),
        ({"name": "X", "type": "park", "lat": 1, "lng": -181}, "lng"),
        ({"name": "X", "type": "park", "lat": "north", "lng": 1}, "lat"),
        ({"name": "X", "type": "park", "lat": 1, "lng": 1, "owner": "me"}, "owner"),
    ],
)
def test_create_place_rejects_invalid_fields_with_400(body, field):
    status, error = call("POST", "/places", body=body, user=OWNER)
    assert status == 400
    assert field in error["message"]
    assert any(field in e["field"] for e in error["errors"])


def test_a_missing_body_is_named_as_the_body():
    status, error = call("POST", "/places", user=OWNER)
    assert (status, error["errors"]) == (400, [{"field": "body", "problem": "Field required"}])


def test_a_json_body_sent_without_a_content_type_is_taken():
    event = http_event(
        "POST", "/places", body={"name": "Hyde Park", "type": "park", "lat": 51.5, "lng": -0.16}, user=OWNER
    )
    event["headers"].pop("content-type", None)
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 201, body_of(response)


def test_create_place_rejects_a_body_that_is_not_json():
    status, error = call("POST", "/places", raw_body="{not json", user=OWNER)
    assert status == 400
    assert error["message"].startswith("invalid request")


def test_nearby_places_are_filtered_by_radius_and_sorted_by_distance():
    # Three places around a point in the Atlantic so other tests' places never interfere.
    near = create_place(name="Near", lat=30.0005, lng=-40.0)
    nearer = create_place(name="Nearer", lat=30.0001, lng=-40.0)
    far = create_place(name="Far", lat=30.2, lng=-40.0)
    status, body = call("GET", "/places", query={"lat": "30", "lng": "-40", "radius": "1000"})
    assert status == 200
    ids = [p["place"]["placeId"] for p in body["places"]]
    assert ids == [nearer["placeId"], near["placeId"]]
    assert far["placeId"] not in ids
    assert body["places"][0]["distanceM"] == pytest.approx(11.1, abs=0.5)
    status, body = call("GET", "/places", query={"lat": "30", "lng": "-40", "radius": "50000", "limit": "3"})
    assert [p["place"]["placeId"] for p in body["places"]] == [
        nearer["placeId"],
        near["placeId"],
        far["placeId"],
    ]


def test_nearby_search_crosses_geohash_cell_borders():
    # 51.5, 0.0 sits on a geohash boundary (u10h / gcpu): places on both sides must be found.
    east = create_place(name="East", lat=51.5, lng=0.0005)
    west = create_place(name="West", lat=51.5, lng=-0.0005)
    status, body = call("GET", "/places", query={"lat": "51.5", "lng": "0", "radius": "200"})
    assert status == 200
    assert {east["placeId"], west["placeId"]} <= {p["place"]["placeId"] for p in body["places"]}


def test_nearby_search_crosses_the_antimeridian():
    # Fiji: a place just east of 180 degrees is 1 km from a point just west of it.
    east = create_place(name="Taveuni", lat=-16.8, lng=179.995)
    west = create_place(name="Across", lat=-16.8, lng=-179.995)
    for lng, other in (("-179.995", east), ("179.995", west)):
        status, body = call("GET", "/places", query={"lat": "-16.8", "lng": lng, "radius": "5000"})
        assert status == 200
        found = {p["place"]["placeId"]: p["distanceM"] for p in body["places"]}
        assert found[other["placeId"]] == pytest.approx(1065, abs=10)


@pytest.mark.parametrize(
    "query",
    [
        {"lng": "0"},
        {"lat": "0"},
        {"lat": "95", "lng": "0"},
        {"lat": "0", "lng": "200"},
        {"lat": "zero", "lng": "0"},
        {"lat": "nan", "lng": "0"},
        {"lat": "0", "lng": "inf"},
        {"lat": "0", "lng": "0", "radius": "0"},
        {"lat": "0", "lng": "0", "radius": "50001"},
        {"lat": "0", "lng": "0", "limit": "0"},
        {"lat": "0", "lng": "0", "limit": "101"},
    ],
)
def test_nearby_places_rejects_bad_queries_with_400(query):
    status, error = call("GET", "/places", query=query)
    assert status == 400
    assert error["message"].startswith("invalid request")


def test_unknown_place_is_404_and_malformed_id_is_400():
    status, error = call("GET", "/places/{place_id}", path_parameters={"place_id": "no-such-place"})
    assert (status, error["message"]) == (404, "place no-such-place not found")
    status, error = call("GET", "/places/{place_id}", path_parameters={"place_id": "Bad!Id"})
    assert (status, error["message"]) == (
        400,
        "invalid request: place_id: must be an id: 3 to 64 lowercase letters, digits and hyphens, "
        "not starting with a hyphen",
    )
    status, error = call("GET", "/places/{place_id}/photos", path_parameters={"place_id": "no-such-place"})
    assert (status, error["message"]) == (404, "place no-such-place not found")


@pytest.mark.parametrize("count", [5, 4])  # 4: the last page is exactly full, and still says there is no more
@pytest.mark.parametrize("route", ["/places/{place_id}/photos", "/places/{place_id}"])
def test_photos_are_paginated_newest_first_with_cursors(route, count):
    """A place's page and its photo listing both page through its photos, newest first."""
    place = create_place()
    ids = [published_photo(place["placeId"], published_at=f"2026-11-2{d}T10:00:00.000Z") for d in range(count)]
    pages = []
    cursor = None
    while True:
        query = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        status, page = call("GET", route, path_parameters={"place_id": place["placeId"]}, query=query)
        assert status == 200
        pages.append([p["photoId"] for p in page["photos"]])
        cursor = page["nextCursor"]
        if cursor is None or len(pages) > count:
            break
    newest_first = list(reversed(ids))
    assert pages == [newest_first[i : i + 2] for i in range(0, count, 2)]  # no empty page at the end
    first = page["photos"][0] if page["photos"] else None
    assert first is not None
    assert first["renditions"]["tile"]["webp"].startswith("http://127.0.0.1:9/cdn/photos/")


@pytest.mark.parametrize(("sort_key_bytes", "expected"), [(1024, 200), (1025, 400), (1100, 400)])
def test_a_cursor_with_a_sort_key_dynamodb_would_refuse_is_400(sort_key_bytes, expected):
    """DynamoDB takes sort keys of up to 1024 bytes."""
    place = create_place()
    sort_key = keys.PHOTO_SK_PREFIX + "9" * (sort_key_bytes - len(keys.PHOTO_SK_PREFIX))
    forged = {keys.PK: keys.place_pk(place["placeId"]), keys.SK: sort_key}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    assert len(cursor) <= 2048  # within the parameter's own limit
    status, answer = call(
        "GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]}, query={"cursor": cursor}
    )
    assert status == expected, answer
    if expected == 400:
        assert answer["message"] == "cursor does not belong to this listing"


@pytest.mark.parametrize("sort_key", ["PHOTO#\ud800", "PHOTO#a\udfffb", "PHOTO#\u0000", "PHOTO#\n"])
def test_a_cursor_with_characters_no_key_holds_is_400(sort_key):
    # JSON escapes let a cursor carry a lone surrogate, which cannot even be encoded to send to DynamoDB.
    place = create_place()
    forged = {keys.PK: keys.place_pk(place["placeId"]), keys.SK: sort_key}
    cursor = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode()
    status, error = call(
        "GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]}, query={"cursor": cursor}
    )
    assert (status, error["message"]) == (400, "cursor is malformed")


@pytest.mark.parametrize("route", ["/places/{place_id}/photos", "/places/{place_id}"])
def test_an_empty_cursor_is_a_400_not_the_first_page_again(route):
    """A client that sends `cursor=` once the last page said there is no more would loop over the first page."""
    place = create_place()
    status, error = call("GET", route, path_parameters={"place_id": place["placeId"]}, query={"cursor": ""})
    assert status == 400
    assert error["errors"] == [{"field": "cursor", "problem": "String should have at least 1 character"}]


MALFORMED, FOREIGN = "cursor is malformed", "cursor does not belong to this listing"
THIS_PLACE = "PLACE#{place_id}"  # the listing's own partition, filled in by the test


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("%%%", MALFORMED),
        ("not json", MALFORMED),
        ({"PK": "PLACE#other", "SK": "PHOTO#x"}, FOREIGN),
        ({"PK": "x", "SK": "y", "GSI1PK": "z"}, FOREIGN),
        ({"PK": THIS_PLACE, "SK": "PHOTO#x", "GSI1PK": "z"}, FOREIGN),  # this listing's, and more
        ({"PK": THIS_PLACE, "SK": "PLACE"}, FOREIGN),  # the place's own item, not a photo
        ({"PK": THIS_PLACE, "SK": 7}, FOREIGN),
        (["PK"], FOREIGN),
    ],
)
def test_forged_or_foreign_cursors_are_400(key, message):
    place = create_place()
    if isinstance(key, dict):
        key = {
            name: value.format(place_id=place["placeId"]) if value == THIS_PLACE else value
            for name, value in key.items()
        }
    cursor = (
        key
        if key == "%%%"
        else base64.urlsafe_b64encode((key if isinstance(key, str) else json.dumps(key)).encode()).decode()
    )
    status, error = call(
        "GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]}, query={"cursor": cursor}
    )
    assert (status, error["message"]) == (400, message)


@pytest.mark.parametrize("length", range(8))
def test_a_cursor_comes_back_as_the_key_it_was_made_of_whatever_its_length(length):
    """Cursors travel without base64's padding: every length of key decodes again."""
    key = {keys.PK: "PLACE#p", keys.SK: keys.PHOTO_SK_PREFIX + "x" * length}
    cursor = repository_module.encode_cursor(key)
    assert "=" not in cursor
    assert repository_module.decode_cursor(cursor, "PLACE#p", keys.PHOTO_SK_PREFIX) == key


# --- uploads --------------------------------------------------------------------------------------


def test_request_upload_returns_a_presigned_post_limited_to_key_type_and_size():
    place = create_place()
    status, form = call(
        "POST",
        "/places/{place_id}/uploads",
        path_parameters={"place_id": place["placeId"]},
        body={"contentType": "image/heic", "size": 2_182_707},
        user=OWNER,
    )
    assert status == 201
    assert form["fields"]["key"] == f"uploads/{place['placeId']}/{form['uploadId']}"
    assert form["fields"]["Content-Type"] == "image/heic"
    assert form["maxBytes"] == 2_182_707
    policy = json.loads(base64.b64decode(form["fields"]["policy"]))
    conditions = policy["conditions"]
    assert ["content-length-range", 1, 2_182_707] in conditions
    assert {"Content-Type": "image/heic"} in conditions
    assert {"key": form["fields"]["key"]} in conditions
    assert form["fields"]["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    # S3 stops taking the form when the record says it expires: a photo sent later would find the upload closed.
    expiration = datetime.fromisoformat(policy["expiration"]).timestamp()
    assert abs(expiration - form["expiresAt"]) <= 1
    status, view = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": form["uploadId"]}, user=OWNER)
    assert status == 200
    assert view["status"] == "PENDING_UPLOAD"
    assert view["photo"] is None
    # DynamoDB forgets the record with the original, unless the photo is published (which removes this).
    item = Repository().table.get_item(Key=keys.upload_key(form["uploadId"]))["Item"]
    assert int(item[keys.DELETE_AFTER]) == int(item["expiresAt"]) + limits.UNPUBLISHED_KEPT_DAYS * 86_400


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"contentType": "image/gif", "size": 10}, "contentType"),
        ({"contentType": "image/jpeg", "size": 0}, "size"),
        ({"contentType": "image/jpeg", "size": 20 * 1024 * 1024 + 1}, "size"),
        ({"contentType": "image/jpeg"}, "size"),
        ({"contentType": "image/jpeg", "size": "100"}, "size"),  # numbers are numbers, as lat and lng
        ({"contentType": "image/jpeg", "size": True}, "size"),
        ({"contentType": "image/jpeg", "size": 100.5}, "size"),
        ({"size": 10}, "contentType"),
    ],
)
def test_request_upload_rejects_bad_requests_with_400(body, field):
    place = create_place()
    status, error = call(
        "POST",
        "/places/{place_id}/uploads",
        path_parameters={"place_id": place["placeId"]},
        body=body,
        user=OWNER,
    )
    assert status == 400
    assert field in error["message"]


def test_a_size_written_with_a_decimal_point_is_taken_when_it_is_whole():
    """JSON Schema's "integer", which the API document gives `size`, takes 2881.0: so does the API."""
    status, form = request_form(create_place()["placeId"], size=2881.0)
    assert (status, form["maxBytes"]) == (201, 2881)
    assert ["content-length-range", 1, 2881] in json.loads(base64.b64decode(form["fields"]["policy"]))["conditions"]


def test_request_upload_needs_a_user_and_an_existing_place():
    place = create_place()
    body = {"contentType": "image/jpeg", "size": 10}
    status, _ = call("POST", "/places/{place_id}/uploads", path_parameters={"place_id": place["placeId"]}, body=body)
    assert status == 401
    status, error = call(
        "POST",
        "/places/{place_id}/uploads",
        path_parameters={"place_id": "missing-place"},
        body=body,
        user=OWNER,
    )
    assert status == 404
    assert "missing-place" in error["message"]


@pytest.mark.parametrize(
    ("place_type", "version", "expected"),
    [("museum", "v4", 409), ("other", "v4", 409), ("cafe", "v4", 201), ("park", "v4", 201), ("museum", "v3", 201)],
)
def test_upload_forms_only_for_places_whose_photos_the_workflow_takes(place_type, version, expected, monkeypatch):
    # Under v4 a museum photo would be uploaded, checked and then refused: the API says so before the upload.
    monkeypatch.setenv("WORKFLOW_VERSION", version)
    place = create_place(type=place_type)
    body = {"contentType": "image/jpeg", "size": 10}
    status, answer = call(
        "POST", "/places/{place_id}/uploads", path_parameters={"place_id": place["placeId"]}, body=body, user=OWNER
    )
    assert status == expected, answer
    if expected == 409:
        assert answer == {"message": f"photos are not accepted for places of type {place_type}"}
    # The place's page says so before anyone picks a photo.
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert detail["takesPhotos"] is (expected == 201)


def test_upload_status_is_for_its_owner_only():
    place = create_place()
    status, form = request_form(place["placeId"])
    params = {"upload_id": form["uploadId"]}
    assert call("GET", "/uploads/{upload_id}", path_parameters=params)[0] == 401
    status, error = call("GET", "/uploads/{upload_id}", path_parameters=params, user=STRANGER)
    assert (status, error["message"]) == (403, "this upload belongs to another user")
    status, _ = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": "0" * 32}, user=OWNER)
    assert status == 404
    status, error = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": "Not-Valid!"}, user=OWNER)
    assert status == 400
    assert "upload_id" in error["message"]


@pytest.mark.parametrize(
    ("status", "reason", "detail", "shown"),
    [
        ("REJECTED", "TOO_SMALL", "640x480 is under the 800 px minimum", "640x480 is under the 800 px minimum"),
        ("FAILED", "RuntimeError", "Traceback: table happypath-Table is gone", None),  # an internal error report
    ],
)
def test_upload_status_gives_a_rejections_detail_but_not_a_failures(status, reason, detail, shown):
    place = create_place()
    _, form = request_form(place["placeId"])
    Repository().table.update_item(
        Key=keys.upload_key(form["uploadId"]),
        UpdateExpression="SET #status = :status, reason = :reason, reasonDetail = :detail",
        ExpressionAttributeNames={"#status": "status"},
        ExpressionAttributeValues={":status": status, ":reason": reason, ":detail": detail},
    )
    code, view = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": form["uploadId"]}, user=OWNER)
    assert code == 200
    assert (view["status"], view["reason"], view["reasonDetail"]) == (status, reason, shown)


def test_upload_status_of_a_published_photo_includes_the_photo_with_urls():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    status, view = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": photo_id}, user=OWNER)
    assert status == 200
    assert view["status"] == "PROCESSED"
    assert view["photo"]["photoId"] == photo_id
    assert view["photo"]["renditions"]["scaled"]["jpeg"].endswith(f"/photos/{place['placeId']}/{photo_id}/scaled.jpg")


def test_a_published_photo_is_found_by_its_id_without_signing_in():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    status, photo = call("GET", "/photos/{photo_id}", path_parameters={"photo_id": photo_id})
    assert status == 200
    assert (photo["photoId"], photo["placeId"]) == (photo_id, place["placeId"])
    assert photo["renditions"]["scaled"]["webp"].endswith(f"/photos/{place['placeId']}/{photo_id}/scaled.webp")
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert photo == detail["photos"][0]  # the same photo as the place's page shows, no more (no owner)

    _, pending = request_form(place["placeId"])  # an upload, not (yet) a photo
    for missing in (pending["uploadId"], "nosuchphoto"):
        status, body = call("GET", "/photos/{photo_id}", path_parameters={"photo_id": missing})
        assert (status, body) == (404, {"message": f"photo {missing} not found"})
    assert call("GET", "/photos/{photo_id}", path_parameters={"photo_id": "Bad!Id"})[0] == 400

    assert call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)[0] == 204
    assert call("GET", "/photos/{photo_id}", path_parameters={"photo_id": photo_id})[0] == 404


def test_a_photo_is_published_once_and_only_from_processing():
    """A replayed event or a retried Publish step finds the photo published; an upload in another state is a
    conflict, and nothing is stored for it."""
    place = create_place()
    photo_id = published_photo(place["placeId"])
    repo = Repository()
    upload = repo.get_upload(photo_id)
    assert upload is not None
    photo = repo.get_photo(upload)
    assert photo is not None
    again = PhotoRecord(**photo.model_dump(), owner=OWNER)
    assert repo.publish_photo(again) is False
    _, form = request_form(place["placeId"])
    pending = again.model_copy(update={"photoId": form["uploadId"], "publishedAt": "2026-11-24T10:00:00.000Z"})
    with pytest.raises(ConflictError, match=f"^upload {form['uploadId']} is PENDING_UPLOAD, not PROCESSING$"):
        repo.publish_photo(pending)
    gone = pending.model_copy(update={"photoId": "0" * 32})  # its upload deleted meanwhile
    with pytest.raises(ConflictError, match=f"^upload {'0' * 32} is missing, not PROCESSING$"):
        repo.publish_photo(gone)
    set_processing(photo_id)  # a photo already stored is never overwritten, whatever its upload says
    with pytest.raises(ConflictError, match=f"^photo {photo_id} is stored already at {upload.photoSortKey}$"):
        repo.publish_photo(again.model_copy(update={"width": 1}))
    assert repo.get_photo(upload) == photo
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert [p["photoId"] for p in detail["photos"]] == [photo_id]


def test_photos_published_at_one_place_in_the_same_millisecond_are_all_kept():
    place = create_place()
    ids = {published_photo(place["placeId"], published_at="2026-11-23T10:00:00.000Z") for _ in range(2)}
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert {p["photoId"] for p in detail["photos"]} == ids


def test_a_photo_deleted_after_its_upload_was_read_is_not_found_rather_than_an_error():
    """Two deletes of one photo at once: the second reads the upload before the first removes the photo."""
    place = create_place()
    repo = Repository()
    upload = repo.get_upload(published_photo(place["placeId"]))
    assert upload is not None
    repo.delete_photo(upload)
    assert repo.get_photo(upload) is None


# --- daily quotas ---------------------------------------------------------------------------------


def _refused_for_quota(response: dict[str, Any], message: str) -> None:
    assert response["statusCode"] == 429, body_of(response)
    assert message in body_of(response)["message"]
    assert "00:00 UTC" in body_of(response)["message"]
    seconds_to_midnight = 86_400 - int(time.time()) % 86_400
    assert abs(int(response["headers"]["Retry-After"]) - seconds_to_midnight) <= 5


def test_a_person_adds_at_most_their_daily_places_and_others_are_not_held_back(monkeypatch):
    monkeypatch.setenv("DAILY_PLACES_PER_USER", "2")
    person, other = f"quota-{uuid.uuid4().hex}", f"quota-{uuid.uuid4().hex}"
    for n in range(2):
        create_place(user=person, name=f"Park {n}", lat=12.5, lng=45.5 + n / 1000)
    body = {"name": "One too many", "type": "park", "lat": 12.5, "lng": 45.6}
    _refused_for_quota(
        api.lambda_handler(http_event("POST", "/places", body=body, user=person), CONTEXT), "2 places a day"
    )
    _, near = call("GET", "/places", query={"lat": "12.5", "lng": "45.6", "radius": "100"})
    assert near["places"] == []  # the refused place was not stored
    create_place(user=other, name="Someone else's", lat=12.5, lng=45.7)
    counter = Repository().table.get_item(Key=keys.quota_key(person, time.strftime("%Y-%m-%d", time.gmtime())))["Item"]
    assert counter["places"] == 2
    # DynamoDB deletes the counter once its day is over (the table's time-to-live attribute), not before.
    assert 86_400 < int(counter[keys.DELETE_AFTER]) - time.time() <= 2 * 86_400


def test_a_person_requests_at_most_their_daily_upload_forms(monkeypatch):
    place = create_place()
    monkeypatch.setenv("DAILY_UPLOADS_PER_USER", "1")
    person = f"quota-{uuid.uuid4().hex}"
    request = {"path_parameters": {"place_id": place["placeId"]}, "body": {"contentType": "image/jpeg", "size": 1000}}
    status, form = call("POST", "/places/{place_id}/uploads", user=person, **request)
    assert status == 201, form
    response = api.lambda_handler(http_event("POST", "/places/{place_id}/uploads", user=person, **request), CONTEXT)
    _refused_for_quota(response, "1 upload form a day is the most one person may ask for")
    assert call("POST", "/places/{place_id}/uploads", user=f"quota-{uuid.uuid4().hex}", **request)[0] == 201


def _counted_put_cancelled(reason: str) -> ClientError:
    """DynamoDB cancelling a counted put (the counter update, then the put) for `reason` on the counter."""
    reasons = [{"Code": reason}, {"Code": "None"}]
    error = {"Error": {"Code": "TransactionCanceledException", "Message": f"[{reason}, None]"}}
    return ClientError(error | {"CancellationReasons": reasons}, "TransactWriteItems")  # type: ignore[arg-type]


def test_two_requests_of_one_person_at_once_both_count(monkeypatch):
    """Both update the person's counter: DynamoDB cancels one transaction (TransactionConflict), which is retried."""
    original = BaseClient._make_api_call
    conflicts = []

    def first_transaction_in_conflict(client, operation_name, params):
        if operation_name == "TransactWriteItems" and not conflicts:
            conflicts.append(params)
            raise _counted_put_cancelled("TransactionConflict")
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", first_transaction_in_conflict)
    person = f"quota-{uuid.uuid4().hex}"
    create_place(user=person)
    assert conflicts
    counter = Repository().table.get_item(Key=keys.quota_key(person, time.strftime("%Y-%m-%d", time.gmtime())))["Item"]
    assert counter["places"] == 1  # counted once


def test_an_id_already_taken_is_a_conflict_and_neither_overwritten_nor_counted():
    person = f"quota-{uuid.uuid4().hex}"
    repo = Repository()
    place = PlaceRecord(
        placeId=uuid.uuid4().hex,
        name="Hyde Park",
        type=PlaceType.PARK,
        lat=51.5073,
        lng=-0.1657,
        createdAt="2026-11-23T10:00:00.000Z",
        createdBy=person,
    )
    repo.create_place(place, per_day=5)
    with pytest.raises(ConflictError, match="already exists"):  # not the quota, not a 500
        repo.create_place(place.model_copy(update={"name": "Someone else's park"}), per_day=5)
    assert repo.get_place(place.placeId).name == "Hyde Park"  # type: ignore[union-attr]
    counter = repo.table.get_item(Key=keys.quota_key(person, time.strftime("%Y-%m-%d", time.gmtime())))["Item"]
    assert counter["places"] == 1  # the refused put and its count are one transaction


# --- my photos ------------------------------------------------------------------------------------


def test_public_answers_do_not_say_who_uploaded_or_added_what():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    _, page = call("GET", "/places/{place_id}/photos", path_parameters={"place_id": place["placeId"]})
    _, nearby = call("GET", "/places", query={"lat": "51.5073", "lng": "-0.1657"})
    assert [p["photoId"] for p in detail["photos"]] == [photo_id]
    assert OWNER not in json.dumps([detail, page, nearby])


def test_a_user_learns_which_photos_are_theirs():
    place = create_place()
    mine = [published_photo(place["placeId"], published_at=f"2026-11-2{d}T10:00:00.000Z") for d in range(2)]
    theirs = published_photo(place["placeId"], owner=STRANGER)
    _, pending = request_form(place["placeId"])
    asked = [theirs, mine[1], pending["uploadId"], "no-such-photo", mine[0], mine[1]]

    status, body = call("GET", "/photos/mine", query={"ids": ",".join(asked)}, user=OWNER)
    assert status == 200
    assert body == {"photoIds": [mine[1], mine[0]]}  # each once, in the order asked; a pending upload is no photo
    assert call("GET", "/photos/mine", query={"ids": ",".join(asked)}, user=STRANGER)[1] == {"photoIds": [theirs]}


def test_keys_dynamodb_leaves_unprocessed_are_asked_for_again(monkeypatch):
    place = create_place()
    mine = [published_photo(place["placeId"], published_at=f"2026-11-2{d}T10:00:00.000Z") for d in range(3)]
    repo = Repository()
    client = repo.table.meta.client
    real_batch_get = client.batch_get_item
    requests: list[int] = []

    def throttled(RequestItems: dict[str, Any]) -> dict[str, Any]:
        ((table, request),) = RequestItems.items()
        requests.append(len(request["Keys"]))
        if len(requests) > 1:
            return real_batch_get(RequestItems=RequestItems)
        answered = real_batch_get(RequestItems={table: request | {"Keys": request["Keys"][:1]}})
        return answered | {"UnprocessedKeys": {table: request | {"Keys": request["Keys"][1:]}}}

    monkeypatch.setattr(client, "batch_get_item", throttled)
    assert repo.published_by(OWNER, mine) == mine
    assert requests == [3, 2]


def test_asking_which_photos_are_mine_needs_a_user_and_a_valid_list():
    status, body = call("GET", "/photos/mine", query={"ids": "abc"})
    assert (status, body["message"]) == (401, "sign in required")
    for ids in ("", "abc,,def", "ABC", "abc;def", "a"):
        status, body = call("GET", "/photos/mine", query={"ids": ids}, user=OWNER)
        assert (status, body["message"]) == (
            400,
            "invalid request: ids: must be ids separated by commas, each 3 to 64 lowercase letters, digits "
            "and hyphens, not starting with a hyphen",
        ), ids
    status, body = call("GET", "/photos/mine", query={"ids": ",".join(f"id{n:03}" for n in range(101))}, user=OWNER)
    assert (status, body["message"]) == (400, "ask about at most 100 photos at a time")
    assert call("GET", "/photos/mine", user=OWNER)[0] == 400


def test_a_query_parameter_given_twice_is_refused_with_a_message_that_says_so():
    """`?ids=a&ids=b`: API Gateway joins the two in queryStringParameters, and Powertools reads them apart from
    the raw query string."""
    event = http_event("GET", "/photos/mine", query={"ids": "abc,def"}, user=OWNER)
    event["rawQueryString"] = "ids=abc&ids=def"
    response = api.lambda_handler(event, CONTEXT)
    assert (response["statusCode"], body_of(response)["errors"]) == (
        400,
        [{"field": "ids", "problem": "given more than once: give it once, the ids separated by commas"}],
    )
    # A repeated value holding commas itself: still said as given more than once, not as three times.
    event = http_event("GET", "/photos/mine", query={"ids": "abc,def,ghi"}, user=OWNER)
    event["rawQueryString"] = "ids=abc,def&ids=ghi"
    response = api.lambda_handler(event, CONTEXT)
    assert body_of(response)["errors"] == [
        {"field": "ids", "problem": "given more than once: give it once, the ids separated by commas"}
    ]
    event = http_event("GET", "/places", query={"lat": "51.5,52", "lng": "-0.1"})
    event["rawQueryString"] = "lat=51.5&lat=52&lng=-0.1"
    response = api.lambda_handler(event, CONTEXT)
    assert (response["statusCode"], body_of(response)["message"]) == (
        400,
        "invalid request: lat: given more than once: give it once",
    )


def test_a_user_may_ask_about_a_whole_page_of_photos_at_once():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    longest = [f"{n:064x}" for n in range(limits.PHOTOS_PAGE_MAX - 1)]  # ids of the longest kind
    status, body = call("GET", "/photos/mine", query={"ids": ",".join([*longest, photo_id])}, user=OWNER)
    assert (status, body) == (200, {"photoIds": [photo_id]})


# --- deleting photos ------------------------------------------------------------------------------


def newest_invalidation_paths() -> list[str]:
    """What the latest CloudFront invalidation of the distribution asked to drop."""
    cloudfront, distribution = boto3.client("cloudfront"), os.environ["DISTRIBUTION_ID"]
    newest = cloudfront.list_invalidations(DistributionId=distribution)["InvalidationList"]["Items"][-1]["Id"]
    batch = cloudfront.get_invalidation(DistributionId=distribution, Id=newest)["Invalidation"]["InvalidationBatch"]
    return batch["Paths"]["Items"]


def published_paths(place_id: str, photo_id: str) -> list[str]:
    return [f"/{key}" for key in keys.published_object_keys(place_id, photo_id, limits.RENDITIONS)]


def test_owner_deletes_a_photo_its_records_and_its_images():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    s3 = boto3.client("s3")
    distribution = os.environ["DISTRIBUTION_BUCKET"]
    prefix = keys.published_prefix(place["placeId"], photo_id)
    assert s3.list_objects_v2(Bucket=distribution, Prefix=prefix)["KeyCount"] == 4
    uploads = os.environ["UPLOAD_BUCKET"]
    originals = [keys.upload_object_key(place["placeId"], photo_id), keys.moderation_object_key(photo_id)]
    for key in originals:  # the photo as sent, and the copy moderation looked at
        s3.put_object(Bucket=uploads, Key=key, Body=b"original")

    status, body = call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)
    assert (status, body) == (204, None)
    assert s3.list_objects_v2(Bucket=distribution, Prefix=prefix)["KeyCount"] == 0
    for key in originals:
        assert s3.list_objects_v2(Bucket=uploads, Prefix=key)["KeyCount"] == 0, key
    # CloudFront drops its cached copies too (it would serve them for a year otherwise), each file by name.
    assert newest_invalidation_paths() == published_paths(place["placeId"], photo_id)
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert detail["photos"] == []
    assert call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": photo_id}, user=OWNER)[0] == 404
    status, error = call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)
    assert (status, error["message"]) == (404, f"photo {photo_id} not found")  # a photo, as the caller asked


def test_only_the_owner_can_delete_and_only_published_photos():
    place = create_place()
    photo_id = published_photo(place["placeId"])
    params = {"photo_id": photo_id}
    assert call("DELETE", "/photos/{photo_id}", path_parameters=params)[0] == 401
    status, error = call("DELETE", "/photos/{photo_id}", path_parameters=params, user=STRANGER)
    assert (status, error["message"]) == (403, "this photo belongs to another user")
    _, detail = call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
    assert [p["photoId"] for p in detail["photos"]] == [photo_id]

    _, form = request_form(place["placeId"])
    status, error = call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": form["uploadId"]}, user=OWNER)
    assert status == 409
    assert "not published" in error["message"]


def test_openapi_document_is_generated_from_the_resolver():
    document = openapi.openapi_document()
    assert set(document["paths"]) == {
        "/places",
        "/places/{place_id}",
        "/places/{place_id}/photos",
        "/places/{place_id}/uploads",
        "/uploads/{upload_id}",
        "/photos/mine",
        "/photos/{photo_id}",
    }
    assert document["paths"]["/places"]["post"]["security"] == [{"bearer": []}]
    # Imported into Postman or Swagger UI, it offers the local runtime's API, as `make dev` serves it.
    (server,) = document["servers"]
    assert server["variables"]["apiUrl"]["default"] == urls_for(Options()).api
    assert "HTTPValidationError" not in json.dumps(document)  # validation errors are 400s with an ErrorBody
    operations = [(method, op) for ops in document["paths"].values() for method, op in ops.items()]
    assert all("429" in op["responses"] for _, op in operations)  # the stage's throttling
    for status in ("429", "503"):  # when to ask again (the web app waits what it says)
        assert all("Retry-After" in op["responses"][status]["headers"] for _, op in operations)
    for status in ("413", "415"):  # JSON bodies only
        assert all((status in op["responses"]) == (method == "post") for method, op in operations)
    # Each operation lists the errors it can answer, and only those.
    errors = {
        (path, method): sorted(code for code in op["responses"] if code >= "400")
        for path, ops in document["paths"].items()
        for method, op in ops.items()
    }
    common = ["400", "429", "503"]
    assert errors == {
        ("/places", "get"): common,
        ("/places", "post"): sorted([*common, "401", "409", "413", "415", "422"]),  # 422: Idempotency-Key reused
        ("/places/{place_id}", "get"): sorted([*common, "404"]),
        ("/places/{place_id}/photos", "get"): sorted([*common, "404"]),
        ("/places/{place_id}/uploads", "post"): sorted([*common, "401", "404", "409", "413", "415", "422"]),
        ("/uploads/{upload_id}", "get"): sorted([*common, "401", "403", "404"]),
        ("/photos/mine", "get"): sorted([*common, "401"]),
        ("/photos/{photo_id}", "get"): sorted([*common, "404"]),
        ("/photos/{photo_id}", "delete"): sorted([*common, "401", "403", "404", "409"]),
    }
    # Every reference leads somewhere (code generators and validators refuse the document otherwise).
    references = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(document))
    assert references
    assert set(references) <= set(document["components"]["schemas"])


@pytest.mark.parametrize("content_type", ["text/plain", "multipart/form-data", "application/x-www-form-urlencoded"])
def test_non_json_bodies_are_415_with_a_message(content_type):
    event = http_event("POST", "/places", raw_body="{}", user=OWNER)
    event["headers"]["content-type"] = content_type
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 415
    assert "application/json" in body_of(response)["message"]


def test_a_compressed_body_is_415_naming_its_encoding():
    event = http_event("POST", "/places", raw_body=base64.b64encode(b"\x1f\x8b\x08\x00").decode(), user=OWNER)
    event |= {"isBase64Encoded": True}
    event["headers"] |= {"content-type": "application/json", "content-encoding": "gzip"}
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 415
    assert response["headers"]["Accept-Encoding"] == "identity"
    assert body_of(response)["message"] == "request bodies must be sent uncompressed, not with Content-Encoding gzip"
    place = {"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657, "allowNamesake": True}
    for none in ("identity", ""):
        event = http_event("POST", "/places", body=place, user=OWNER, headers={"Content-Encoding": none})
        assert api.lambda_handler(event, CONTEXT)["statusCode"] == 201


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded",
    ],
)
@pytest.mark.parametrize("route", ["/places", "/places/{place_id}/uploads"])
def test_an_empty_body_of_another_type_is_415_too(content_type, route):
    """Not read as the form data it claims to be: a multipart type without a boundary failed with a 500, and others
    got a 400 listing every JSON field as missing."""
    event = http_event("POST", route, path_parameters={"place_id": "p1"}, raw_body="", user=OWNER)
    event["headers"]["content-type"] = content_type
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 415, body_of(response)
    assert body_of(response)["message"].startswith("request bodies must be application/json, not ")


@pytest.mark.parametrize("content_type", ["text/plain", "application/json"])
def test_a_body_sent_with_a_get_or_delete_is_ignored_not_refused(content_type):
    """HTTP gives a GET's or a DELETE's body no meaning: the OpenAPI document lists no 415 for them either."""
    place = create_place()
    for method, route, parameters, expected in [
        ("GET", "/places/{place_id}", {"place_id": place["placeId"]}, 200),
        ("DELETE", "/photos/{photo_id}", {"photo_id": "not-there"}, 404),
    ]:
        event = http_event(method, route, path_parameters=parameters, raw_body="hello, \ud800", user=OWNER)
        event["headers"]["content-type"] = content_type
        response = api.lambda_handler(event, CONTEXT)
        assert response["statusCode"] == expected, (method, body_of(response))


@pytest.mark.parametrize("content_type", ["Application/JSON", "APPLICATION/JSON; charset=UTF-8"])
def test_a_json_media_type_is_json_in_any_case(content_type):
    """Media types are case-insensitive (RFC 9110, 8.3.1)."""
    body = {"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657, "allowNamesake": True}
    event = http_event("POST", "/places", body=body, user=OWNER)
    event["headers"]["content-type"] = content_type
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 201, body_of(response)


@pytest.mark.parametrize(
    ("raw_body", "message"),
    [
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"name": "X", ', ""),
        ("\ud800", ""),
        ('{"name": "X", "type": "park", "lat": ' + "1" * 5000 + ', "lng": 0}', "number too long"),  # > 4300 digits
    ],
    ids=["nested-too-deeply", "truncated", "lone-surrogate", "integer-too-long"],
)
def test_malformed_json_bodies_are_400_not_500(raw_body, message):
    event = http_event("POST", "/places", raw_body=raw_body, user=OWNER)
    response = api.lambda_handler(event, CONTEXT)
    assert response["statusCode"] == 400
    assert message in body_of(response)["message"]


@pytest.mark.parametrize(
    "query",
    [
        {"lat": "nan", "lng": "0"},
        {"lat": "0", "lng": "-inf"},
        {"lat": "0", "lng": "0", "radius": "nan"},
        {"lat": "0", "lng": "0", "radius": "inf"},
    ],
)
def test_a_coordinate_or_radius_that_is_not_a_number_is_called_so(query):
    status, error = call("GET", "/places", query=query)
    assert status == 400
    assert error["errors"][0]["problem"] == "Input should be a finite number"  # not "less than or equal to 90"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"lat": "1_0", "lng": "0"}, "lat"),
        ({"lat": "0", "lng": "0", "radius": "5_000"}, "radius"),
        ({"lat": "0", "lng": "0", "limit": "1_0"}, "limit"),
    ],
)
def test_a_number_with_underscores_is_refused_not_read_as_python_would(query, field):
    status, error = call("GET", "/places", query=query)
    problem = "must be a number written without underscores"
    assert (status, error) == (
        400,
        {"message": f"invalid request: {field}: {problem}", "errors": [{"field": field, "problem": problem}]},
    )


def test_a_body_that_is_not_json_is_named_as_the_body_not_a_field():
    event = http_event("POST", "/places", raw_body='{"name": "X",', user=OWNER)
    error = body_of(api.lambda_handler(event, CONTEXT))
    assert error["errors"] == [{"field": "body", "problem": "not valid JSON (at character 13)"}]


def test_a_wide_search_at_a_pole_is_refused_before_any_query_naming_the_radius_that_works(monkeypatch):
    """Near a pole a 50 km circle spans every longitude: covering it would take thousands of cells."""
    listed = []
    with monkeypatch.context() as counting:
        counting.setattr(geo.pygeohash, "geohashes_in_box", lambda *args, **kwargs: listed.append(args) or [])
        status, error = call("GET", "/places", query={"lat": "-90", "lng": "-180", "radius": "49999"})
        assert (status, error["message"]) == (400, "no search can be centred this close to a pole")
        assert "largestRadius" not in error  # no radius works there
        status, error = call("GET", "/places", query={"lat": "78.22", "lng": "15.65", "radius": "50000"})  # Svalbard
        largest = geo.largest_searchable_radius_m(78.22, 15.65, 50000)
        assert (status, error) == (
            400,
            {
                "message": f"the search area is too large this close to a pole: use a radius of at most {largest} m",
                "largestRadius": largest,  # for a client to search that instead
            },
        )
        assert listed == []  # refused from the box's size, before any cell was listed
    assert call("GET", "/places", query={"lat": "78.22", "lng": "15.65", "radius": str(largest)})[0] == 200
    status, _ = call("GET", "/places", query={"lat": "60", "lng": "10", "radius": "50000"})
    assert status == 200


def test_a_place_no_search_could_find_is_refused_and_one_just_past_that_is_found():
    """Within ~10 m of a pole no search can be centred, so a place there would be in no list, ever."""
    for lat in (90, -90, 89.99995):
        status, error = call("POST", "/places", body={"name": "Pole", "type": "park", "lat": lat, "lng": 0}, user=OWNER)
        assert (status, error["message"]) == (
            400,
            "a place this close to a pole could never be found: no search can be centred there",
        )
    station = create_place(name="Station", lat=-89.9998, lng=139.27)  # 22 m from the South Pole
    status, body = call("GET", "/places", query={"lat": "-89.9998", "lng": "139.27", "radius": "1"})
    assert status == 200
    assert [found["place"]["placeId"] for found in body["places"]] == [station["placeId"]]


def _metres_north(lat: float, metres: float) -> float:
    return lat + math.degrees(metres / geo.EARTH_RADIUS_M)


def test_a_place_already_on_the_map_is_refused_naming_it_unless_the_caller_says_it_is_another(monkeypatch):
    monkeypatch.setenv("DAILY_PLACES_PER_USER", "3")
    person = f"namesake-{uuid.uuid4().hex}"
    lat, lng = 33.0 + uuid.uuid4().int % 10_000 / 10_000, 20.0  # a spot of its own in the shared table
    cafe = create_place(user=person, name="Café Blue", type="cafe", lat=lat, lng=lng, allowNamesake=False)

    # The same name as people write it (case, accents, punctuation, spacing aside), 10 m away: refused, naming it.
    again = {"name": "cafe  BLUE!", "type": "cafe", "lat": _metres_north(lat, 10), "lng": lng}
    status, error = call("POST", "/places", body=again, user=person)
    assert status == 409
    assert error == {
        "message": f'a cafe named "Café Blue" is already on the map 10 m from here (placeId {cafe["placeId"]}): add '
        'photos to it, or send "allowNamesake": true if this is another place',
        "namesake": {"place": cafe, "distanceM": error["namesake"]["distanceM"]},
    }
    assert 9.9 < error["namesake"]["distanceM"] < 10.1
    # The refusal did not count against the day's places.
    day = time.strftime("%Y-%m-%d", time.gmtime())
    assert Repository().table.get_item(Key=keys.quota_key(person, day))["Item"]["places"] == 1

    # Another kind of place of that name, the same name a street away (a chain), or a caller who says so: added.
    create_place(user=person, name="Café Blue", type="bar", lat=lat, lng=lng, allowNamesake=False)
    create_place(user=person, name="Café Blue", type="cafe", lat=_metres_north(lat, 40), lng=lng, allowNamesake=False)
    status, error = call("POST", "/places", body=again | {"allowNamesake": True}, user=person)
    assert status == 429, error  # the namesake check let it through, and it was the day's 4th place

    # Parks are large: a namesake 250 m away is the same park; 350 m away, another.
    walker = f"namesake-{uuid.uuid4().hex}"
    park = create_place(user=walker, name="Green Park", lat=lat, lng=lng + 1, allowNamesake=False)
    status, error = call(
        "POST",
        "/places",
        body={"name": "green park", "type": "park", "lat": _metres_north(lat, 250), "lng": lng + 1},
        user=walker,
    )
    assert (status, error["namesake"]["place"]["placeId"]) == (409, park["placeId"])
    create_place(user=walker, name="green park", lat=_metres_north(lat, 350), lng=lng + 1, allowNamesake=False)
    # Only true adds a namesake: the flag is a JSON boolean.
    status, error = call(
        "POST",
        "/places",
        body={"name": "Green Park", "type": "park", "lat": lat, "lng": lng + 1, "allowNamesake": "yes"},
        user=walker,
    )
    assert (status, error["errors"][0]["field"]) == (400, "allowNamesake")


def test_a_namesake_is_found_past_any_number_of_other_places_nearer():
    # A busy square: 120 cafes between the new park and the park of that name 200 m away.
    lat, lng = 48.0 + uuid.uuid4().int % 10_000 / 10_000, -30.0  # a spot of its own in the shared table
    with Repository().table.batch_writer() as batch:
        for n in range(120):
            cafe = PlaceRecord(
                placeId=uuid.uuid4().hex,
                name=f"Cafe {n}",
                type="cafe",
                lat=_metres_north(lat, n / 2),
                lng=lng,
                createdBy="someone",
                createdAt="2026-01-01T00:00:00.000Z",
            )
            batch.put_item(Item=repository_module.place_item(cafe))
    park = create_place(name="Jardin du Square", lat=_metres_north(lat, 200), lng=lng, allowNamesake=False)
    body = {"name": "Jardin du Square", "type": "park", "lat": lat, "lng": lng}
    status, error = call("POST", "/places", body=body, user=OWNER)
    assert (status, error["namesake"]["place"]["placeId"]) == (409, park["placeId"])


def test_a_place_at_the_very_same_spot_is_named_as_here_and_near_a_pole_the_check_searches_what_it_can():
    station = create_place(name="Pole Station", lat=-89.9998, lng=10.0, allowNamesake=False)  # 22 m from the pole
    status, error = call(
        "POST", "/places", body={"name": "Pole Station", "type": "park", "lat": -89.9998, "lng": 10.0}, user=OWNER
    )
    assert status == 409
    assert error["message"].startswith('a park named "Pole Station" is already on the map here (placeId ')
    assert error["namesake"]["place"]["placeId"] == station["placeId"]


@pytest.mark.parametrize(
    ("first", "second", "same"),
    [
        ("Café Blue", "cafe blue", True),
        ("St. James's Park", "St James's  Park", True),
        ("Straße Park", "STRASSE PARK", True),
        ("Park 1", "Park 2", False),
        ("St James Park", "St James's Park", False),
        ("★★★", "★★★", True),
        ("★★★", "☆☆☆", False),
        ("東京公園", "東京公園", True),
    ],
)
def test_names_are_compared_as_people_compare_them(first, second, same):
    assert (places.comparable_name(first) == places.comparable_name(second)) is same


def test_coordinates_are_numbers_kept_to_seven_decimals():
    place = create_place(lat=-52.51044549883981, lng=4.1427853560780566e-252)
    assert (place["lat"], place["lng"]) == (-52.5104455, 0.0)
    for bad in ({"lng": False}, {"lat": "51.5"}):
        status, _ = call("POST", "/places", body={"name": "X", "type": "park", "lat": 1, "lng": 1} | bad, user=OWNER)
        assert status == 400, bad


@pytest.mark.parametrize(
    ("field", "text", "problem"),
    [
        ("name", "Caf\u00e9 \u202egnp.exe", "must not contain control or invisible characters (U+202E)"),  # bidi
        ("name", "Regent\u200bs Park", "must not contain control or invisible characters (U+200B)"),  # zero-width
        ("name", "Park\u0007", "must not contain control or invisible characters (U+0007)"),
        ("address", "1 Main St\nAnytown", "must not contain control or invisible characters (U+000A)"),
        ("name", "a" + "\u0301\u0302\u0303\u0304\u0305\u0306", "must not stack more than 4 combining marks"),
        # Joiners between the marks still stack them on one letter.
        ("name", "Z" + "\u0300\u0301\u0302\u0303\u200d" * 23, "must not stack more than 4 combining marks"),
        ("name", "a\ufdd0", "must not contain control or invisible characters (U+FDD0)"),  # noncharacters
        ("name", "Park\U0001fffe", "must not contain control or invisible characters (U+1FFFE)"),
        ("name", "Park\u2028Lane", "must not contain control or invisible characters (U+2028)"),  # line separator
        ("address", "1 Main St\u2029Anytown", "must not contain control or invisible characters (U+2029)"),
        ("name", "\ufb2c" * 41, "String should have at most 120 characters"),  # 41 characters, 123 once composed
        ("address", "\ufb2c" * 67, "String should have at most 200 characters"),
        # Names that look blank: a joiner alone or joining nothing, fillers, marks with nothing to sit on.
        ("name", "\u200d", "must not have a zero-width joiner or non-joiner (U+200D) but after a character it joins"),
        (
            "name",
            "Park" + "\u200d" * 100,
            "must not have a zero-width joiner or non-joiner (U+200D) but after a character it joins",
        ),
        (
            "name",
            "\u200cPark",
            "must not have a zero-width joiner or non-joiner (U+200C) but after a character it joins",
        ),
        ("name", "Park\U000e0067", "must not contain control or invisible characters (U+E0067)"),  # a tag alone
        (
            "name",
            "Park \u200d Lane",
            "must not have a zero-width joiner or non-joiner (U+200D) but after a character it joins",
        ),
        ("name", "\u3164", "must not contain control or invisible characters (U+3164)"),  # Hangul filler
        ("name", "Park\uffa0", "must not contain control or invisible characters (U+FFA0)"),
        ("address", "\u2800\u2800", "must have a letter, digit, punctuation or symbol to show"),  # blank Braille
        ("name", "\u0301\u0302", "must have a letter, digit, punctuation or symbol to show"),
    ],
)
def test_names_and_addresses_everyone_sees_hide_nothing(field, text, problem):
    body = {"name": "Park", "type": "park", "lat": 1, "lng": 1, field: text}
    status, error = call("POST", "/places", body=body, user=OWNER)
    assert status == 400
    assert error["errors"] == [{"field": field, "problem": problem}]


def test_names_are_stored_composed_and_emoji_keep_their_joiners():
    place = create_place(name="Cafe\u0301 \U0001f468\u200d\U0001f469\u200d\U0001f467", address="Ng\u00f4 \u0110\u1ee9c")
    assert place["name"] == "Caf\u00e9 \U0001f468\u200d\U0001f469\u200d\U0001f467"  # é as one character
    assert place["address"] == "Ng\u00f4 \u0110\u1ee9c"
    assert create_place(address="   ")["address"] is None  # blank is no address
    # Malayalam's word-final letters written the older way (letter, virama, joiner), at the end of a word.
    chillu = "\u0d15\u0d23\u0d4d\u0d23\u0d28\u0d4d\u200d"  # കണ്ണന്‍
    assert create_place(name=f"{chillu} {chillu}")["name"] == f"{chillu} {chillu}"
    braille = "\u2813\u2811\u2807\u2807\u2815\u2800\u2835"  # a Braille name with a Braille space
    assert create_place(name=braille)["name"] == braille
    persian = "\u0645\u06cc\u200c\u062e\u0627\u0646\u0647"  # می‌خانه: two letters kept apart by a non-joiner
    assert create_place(name=persian)["name"] == persian
    england = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"  # a region's flag
    assert create_place(name=f"Lord's {england}")["name"] == f"Lord's {england}"
    rainbow = "\U0001f3f3\ufe0f\u200d\U0001f308"  # a flag: emoji, variation selector, joiner, emoji
    assert create_place(name=f"Pride Park {rainbow}")["name"] == f"Pride Park {rainbow}"


def test_a_name_may_stack_as_many_combining_marks_as_allowed():
    stacked = "x\u0301\u0302\u0303\u0304"  # x has no precomposed form: four marks stay four after NFC
    assert create_place(name=f"Park {stacked}")["name"] == f"Park {stacked}"
    # Marks that open a name have no letter under them, and are counted from the first all the same.
    assert create_place(name=f"{stacked[1:]}Park")["name"] == f"{stacked[1:]}Park"


@contextmanager
def host_time_zone(monkeypatch: pytest.MonkeyPatch, zone: str) -> Iterator[None]:
    """The host's time zone set to `zone` (POSIX form: no time zone database needed), then put back."""
    with monkeypatch.context() as patch:
        patch.setenv("TZ", zone)
        time.tzset()
        try:
            yield
        finally:
            patch.undo()
            time.tzset()


def test_timestamps_are_utc_with_milliseconds_whatever_the_hosts_time_zone(monkeypatch):
    """As Step Functions writes them, so that they sort as strings: the local runtime runs on any laptop."""
    with host_time_zone(monkeypatch, "JST-9"):  # Tokyo's
        created_at = create_place()["createdAt"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", created_at), created_at


def test_a_persons_day_is_utcs_whatever_the_hosts_time_zone(monkeypatch):
    """Daily counts start again at 00:00 UTC, as a refusal says, on any laptop the local runtime runs on."""
    zone = "LINT-14" if time.gmtime().tm_hour >= 12 else "BIT12"  # a zone whose date is not UTC's now
    person = f"quota-{uuid.uuid4().hex}"
    with host_time_zone(monkeypatch, zone):
        assert time.strftime("%Y-%m-%d") != time.strftime("%Y-%m-%d", time.gmtime())
        create_place(user=person)
    counter = Repository().table.get_item(Key=keys.quota_key(person, time.strftime("%Y-%m-%d", time.gmtime())))
    assert counter["Item"]["places"] == 1


def recorded_item_reads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters of every GetItem from now on, and of each table's part of every BatchGetItem (moto's reads are
    always consistent: the request says it)."""
    original = BaseClient._make_api_call
    reads: list[dict[str, Any]] = []

    def recorded(client, operation_name, params):
        if operation_name == "GetItem":
            reads.append(params)
        if operation_name == "BatchGetItem":
            reads.extend(params["RequestItems"].values())
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", recorded)
    return reads


def test_uploads_are_read_strongly_consistent(monkeypatch):
    """An upload's status is read right after it is written (a replayed publish, the status a user polls):
    DynamoDB's default read may still return the one before. moto's reads are always consistent: the request says it."""
    place = create_place()
    _, form = request_form(place["placeId"])
    reads = recorded_item_reads(monkeypatch)
    assert Repository().get_upload(form["uploadId"]) is not None
    assert [read.get("ConsistentRead") for read in reads] == [True]


def test_a_place_and_a_photo_are_read_strongly_consistent(monkeypatch):
    """A place is opened right after it is added; a photo is read right after its upload is seen PROCESSED (the
    poll, a shared link): a default read could answer 404, or PROCESSED without the photo."""
    place = create_place()
    photo_id = published_photo(place["placeId"])
    reads = recorded_item_reads(monkeypatch)
    assert call("GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})[0] == 200
    assert call("GET", "/photos/{photo_id}", path_parameters={"photo_id": photo_id})[0] == 200
    _, upload = call("GET", "/uploads/{upload_id}", path_parameters={"upload_id": photo_id}, user=OWNER)
    assert upload["photo"]["photoId"] == photo_id
    # Which of them are the person's own (marked with a Delete button as soon as the photo shows).
    assert call("GET", "/photos/mine", query={"ids": photo_id}, user=OWNER)[1] == {"photoIds": [photo_id]}
    assert reads
    assert all(read.get("ConsistentRead") for read in reads), [read.get("Key", read.get("Keys")) for read in reads]


def test_deleting_a_photo_deletes_its_images_whatever_a_read_of_its_record_finds(monkeypatch):
    """The images' keys follow from the ids: a read that misses the photo item must not leave them public."""
    place = create_place()
    photo_id = published_photo(place["placeId"])
    monkeypatch.setattr(Repository, "get_photo", lambda self, upload: None)
    status, _ = call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)
    assert status == 204
    prefix = keys.published_prefix(place["placeId"], photo_id)
    assert boto3.client("s3").list_objects_v2(Bucket=os.environ["DISTRIBUTION_BUCKET"], Prefix=prefix)["KeyCount"] == 0
    assert newest_invalidation_paths() == published_paths(place["placeId"], photo_id)


# --- AWS failing past botocore's retries -----------------------------------------------------------------


def _failing(operation: str, error: Exception, monkeypatch: pytest.MonkeyPatch) -> None:
    original = BaseClient._make_api_call

    def make_api_call(client, operation_name, params):
        if operation_name == operation:
            raise error
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)


@pytest.mark.parametrize(
    "error",
    [
        ClientError({"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, "Query"),
        ClientError({"Error": {"Code": "InternalServerError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Query"),
        ReadTimeoutError(endpoint_url="https://dynamodb.eu-west-1.amazonaws.com"),
        IncompleteReadError(actual_bytes=10, expected_bytes=100),  # a response cut short: botocore never retried it
    ],
)
def test_a_call_aws_throttled_or_failed_past_its_retries_is_a_503_to_try_again(error, monkeypatch):
    _failing("Query", error, monkeypatch)
    response = api.lambda_handler(http_event("GET", "/places", query={"lat": "51.5", "lng": "-0.16"}), CONTEXT)
    assert (response["statusCode"], body_of(response)) == (
        503,
        {"message": "the service is busy: try again in a moment"},
    )
    assert response["headers"]["Retry-After"] == "1"


def test_a_delete_cloudfront_cannot_take_yet_is_a_503_and_the_photo_can_be_deleted_again(monkeypatch):
    """CloudFront refuses an invalidation while it works on too many (a 400 botocore does not retry): the photo's
    images are gone but its records are kept, so the caller is told to try again, and the next try completes."""
    place = create_place()
    photo_id = published_photo(place["placeId"])
    refusal = ClientError(
        {"Error": {"Code": "TooManyInvalidationsInProgress"}, "ResponseMetadata": {"HTTPStatusCode": 400}},
        "CreateInvalidation",
    )
    with monkeypatch.context() as refusing:
        _failing("CreateInvalidation", refusal, refusing)
        event = http_event("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)
        response = api.lambda_handler(event, CONTEXT)
    # Long enough for an invalidation in progress to finish, unlike a throttled call's second.
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "30")
    assert call("GET", "/photos/{photo_id}", path_parameters={"photo_id": photo_id})[0] == 200
    assert call("DELETE", "/photos/{photo_id}", path_parameters={"photo_id": photo_id}, user=OWNER)[0] == 204
    assert newest_invalidation_paths() == published_paths(place["placeId"], photo_id)
    assert call("GET", "/photos/{photo_id}", path_parameters={"photo_id": photo_id})[0] == 404


def test_an_aws_error_that_retrying_cannot_mend_stays_a_500(monkeypatch):
    _failing("Query", ClientError({"Error": {"Code": "AccessDeniedException"}}, "Query"), monkeypatch)
    with pytest.raises(ClientError, match="AccessDeniedException"):  # Lambda's error: API Gateway answers 500
        api.lambda_handler(http_event("GET", "/places", query={"lat": "51.5", "lng": "-0.16"}), CONTEXT)


def test_photos_dynamodb_keeps_leaving_unprocessed_are_a_503(monkeypatch):
    place = create_place()
    photo_id = published_photo(place["placeId"])
    original = BaseClient._make_api_call

    def nothing_processed(client, operation_name, params):
        if operation_name == "BatchGetItem":
            return {"Responses": {}, "UnprocessedKeys": params["RequestItems"]}
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", nothing_processed)
    monkeypatch.setattr(repository_module, "RETRY_BASE_S", 0.001)
    response = api.lambda_handler(http_event("GET", "/photos/mine", query={"ids": photo_id}, user=OWNER), CONTEXT)
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "1")


def test_a_transaction_dynamodb_keeps_cancelling_for_throttling_is_a_503_and_stores_nothing(monkeypatch):
    """The daily counter's transaction is tried again a few times, then given up as busy: never a silent 201."""
    original = BaseClient._make_api_call
    attempts = []

    def always_throttled(client, operation_name, params):
        if operation_name == "TransactWriteItems":
            attempts.append(params)
            raise _counted_put_cancelled("ThrottlingError")
        return original(client, operation_name, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", always_throttled)
    monkeypatch.setattr(repository_module, "RETRY_BASE_S", 0.001)
    pauses: list[float] = []
    jitter: list[tuple[float, float]] = []
    monkeypatch.setattr(repository_module, "sleep", pauses.append)
    monkeypatch.setattr(repository_module, "uniform", lambda low, high: jitter.append((low, high)) or high)
    body = {"name": "Never stored", "type": "park", "lat": -33.3, "lng": 151.3}
    response = api.lambda_handler(http_event("POST", "/places", body=body, user=OWNER), CONTEXT)
    assert (response["statusCode"], response["headers"]["Retry-After"]) == (503, "1"), body_of(response)
    assert len(attempts) == repository_module.COUNTED_PUT_ATTEMPTS
    # Between attempts, a pause that doubles each time, jittered between half and all of it.
    doubling = [0.001 * 2**attempt for attempt in range(1, repository_module.COUNTED_PUT_ATTEMPTS)]
    assert pauses == pytest.approx(doubling)
    assert set(jitter) == {(0.5, 1.0)}
    monkeypatch.setattr(BaseClient, "_make_api_call", original)
    assert call("GET", "/places", query={"lat": "-33.3", "lng": "151.3", "radius": "100"})[1] == {"places": []}


def test_a_path_no_route_takes_gets_the_gateways_not_found():
    # `/places/€€€` reaches the function on AWS (the route's {place_id} takes any segment), but no resolver
    # pattern takes it: the answer has the body every other error has, as API Gateway's own 404 does.
    status, body = call("GET", "/places/{place_id}", path_parameters={"place_id": "\u20ac\u20ac\u20ac"})
    assert (status, body) == (404, {"message": "Not Found"})
