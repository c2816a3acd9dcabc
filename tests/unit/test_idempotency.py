"""Idempotency-Key on the create requests: sent again, a request gets its first answer and creates nothing more."""

import threading
import time
import uuid
from typing import Any

import boto3
import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError
from happypath_testkit.events import LambdaContext, body_of, http_event
from pydantic import BaseModel

from happypath import aws, limits, settings
from happypath.errors import RequestInProgressError
from happypath.repository import Repository
from happypath_backend import api, idempotency

CONTEXT = LambdaContext("happypath-ApiFunction", 512)
PLACE = {"name": "Victoria Park", "type": "park", "lat": 51.5362, "lng": -0.0393, "allowNamesake": True}
FORM = {"contentType": "image/jpeg", "size": 1000}


class FormLike(BaseModel):
    value: str


TEST_OPERATION = idempotency.Operation("test_operation", FormLike, 60)


@pytest.fixture(autouse=True)
def _deployed(app):
    """The resources template.yaml declares, deployed into moto."""


def send(route: str, body: Any, key: str | None, user: str, **kwargs: Any) -> dict[str, Any]:
    headers = {idempotency.HEADER: key} if key is not None else {}
    return api.lambda_handler(http_event("POST", route, body=body, user=user, headers=headers, **kwargs), CONTEXT)


def places_named(name: str) -> list[str]:
    near = Repository().places_near(PLACE["lat"], PLACE["lng"], 50, 100)
    return [p.place.placeId for p in near if p.place.name == name]


def new_user() -> str:
    return f"idem-{uuid.uuid4().hex}"


def test_a_place_created_again_under_the_same_key_is_the_first_one():
    user, key, name = new_user(), str(uuid.uuid4()), f"Park {uuid.uuid4().hex[:8]}"
    first = send("/places", PLACE | {"name": name}, key, user)
    again = send("/places", PLACE | {"name": name}, key, user)
    assert (first["statusCode"], again["statusCode"]) == (201, 201)
    assert body_of(again) == body_of(first)
    assert places_named(name) == [body_of(first)["placeId"]]  # one place, not two


def test_without_a_key_or_with_a_new_one_each_request_creates():
    user, name = new_user(), f"Park {uuid.uuid4().hex[:8]}"
    created = [
        send("/places", PLACE | {"name": name}, key, user) for key in (None, None, str(uuid.uuid4()), str(uuid.uuid4()))
    ]
    assert [r["statusCode"] for r in created] == [201] * 4
    assert len(set(places_named(name))) == 4


def test_the_same_key_from_someone_else_is_their_own_request():
    key, name = str(uuid.uuid4()), f"Park {uuid.uuid4().hex[:8]}"
    mine, theirs = (send("/places", PLACE | {"name": name}, key, user) for user in (new_user(), new_user()))
    assert body_of(mine)["placeId"] != body_of(theirs)["placeId"]


def test_a_key_sent_with_a_different_request_is_refused_and_creates_nothing():
    user, key = new_user(), str(uuid.uuid4())
    first_name, second_name = (f"Park {uuid.uuid4().hex[:8]}" for _ in range(2))
    assert send("/places", PLACE | {"name": first_name}, key, user)["statusCode"] == 201
    refused = send("/places", PLACE | {"name": second_name}, key, user)
    assert refused["statusCode"] == 422
    assert body_of(refused)["message"] == (
        "this Idempotency-Key was used for a different request: use a new key for a new request"
    )
    assert places_named(second_name) == []


def test_a_refused_request_is_not_remembered_so_asked_again_it_is_answered_afresh():
    user, key, name = new_user(), str(uuid.uuid4()), f"Park {uuid.uuid4().hex[:8]}"
    namesake = PLACE | {"name": name, "allowNamesake": False}
    assert send("/places", namesake, None, user)["statusCode"] == 201
    assert send("/places", namesake, key, user)["statusCode"] == 409  # already on the map
    assert send("/places", namesake, key, user)["statusCode"] == 409  # checked again, not an error kept
    assert len(places_named(name)) == 1


def test_a_failure_is_not_remembered_either():
    caller, key = new_user(), str(uuid.uuid4())

    def fails() -> FormLike:
        raise RuntimeError("DynamoDB is having a bad day")

    with pytest.raises(RuntimeError):
        TEST_OPERATION.answer(caller, key, {}, fails, CONTEXT)
    made = TEST_OPERATION.answer(caller, key, {}, lambda: FormLike(value="made"), CONTEXT)
    assert made == FormLike(value="made")


# "k,j": a header sent twice, as API Gateway passes it on.
@pytest.mark.parametrize("key", ["", "a key with spaces", "é", "x" * 256, "k,j"])
def test_a_key_that_breaks_the_rule_or_was_sent_twice_is_a_400(key):
    response = send("/places", PLACE, key, new_user())
    assert response["statusCode"] == 400
    assert body_of(response)["errors"] == [{"field": "idempotency-key", "problem": f"must be {idempotency.KEY_RULE}"}]


def test_an_upload_form_requested_again_under_the_same_key_is_the_same_form_counted_once(monkeypatch):
    owner = new_user()
    place = body_of(send("/places", PLACE | {"name": f"Park {uuid.uuid4().hex[:8]}"}, None, owner))
    monkeypatch.setenv("DAILY_UPLOADS_PER_USER", "1")
    route, path = "/places/{place_id}/uploads", {"place_id": place["placeId"]}
    key = str(uuid.uuid4())
    first, again = (send(route, FORM, key, owner, path_parameters=path) for _ in range(2))
    assert (first["statusCode"], again["statusCode"]) == (201, 201)
    assert body_of(again) == body_of(first)  # the same upload, the same form: the quota of 1 is not used up twice
    refused = send(route, FORM | {"size": 2000}, key, owner, path_parameters=path)
    assert refused["statusCode"] == 422
    other_place = body_of(send("/places", PLACE | {"name": f"Park {uuid.uuid4().hex[:8]}"}, None, owner))
    elsewhere = send(route, FORM, key, owner, path_parameters={"place_id": other_place["placeId"]})
    assert elsewhere["statusCode"] == 422  # another place is another request
    assert send(route, FORM, str(uuid.uuid4()), owner, path_parameters=path)["statusCode"] == 429  # a new one counts


def test_a_request_still_being_answered_under_the_same_key_is_a_409_to_ask_again():
    # Called directly: one Lambda process answers one request at a time, as the resolver expects.
    caller, key = new_user(), str(uuid.uuid4())
    entered, release = threading.Event(), threading.Event()
    made = FormLike(value="first")

    def slow() -> FormLike:
        entered.set()
        release.wait(30)
        return made

    def ask(make: Any) -> FormLike:
        return TEST_OPERATION.answer(caller, key, {"n": 1}, make, CONTEXT)

    answers: list[FormLike] = []
    first = threading.Thread(target=lambda: answers.append(ask(slow)))
    first.start()
    try:
        assert entered.wait(30)
        with pytest.raises(RequestInProgressError) as meanwhile:
            ask(lambda: FormLike(value="second"))
    finally:
        release.set()
        first.join(30)
    assert meanwhile.value.retry_after_s == 2
    assert answers == [made]
    assert ask(lambda: FormLike(value="third")) == made  # then the first answer, as for any repeat


def test_the_api_answers_a_request_in_progress_with_409_and_retry_after(monkeypatch):
    def in_progress(*args: Any) -> Any:
        raise RequestInProgressError("a request with this Idempotency-Key is still being answered", retry_after_s=2)

    monkeypatch.setattr(idempotency.Operation, "answer", in_progress)
    response = send("/places", PLACE, str(uuid.uuid4()), new_user())
    assert response["statusCode"] == 409
    assert response["headers"]["Retry-After"] == "2"


def key_store_throttled(operation: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The idempotency table's `operation` throttled past botocore's retries."""
    original = BaseClient._make_api_call
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, operation)

    def make_api_call(client: BaseClient, called: str, params: dict[str, Any]) -> Any:
        if called == operation and params.get("TableName") == settings.idempotency_table():
            raise throttled
        return original(client, called, params)

    monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)


def test_the_key_store_throttled_past_its_retries_is_a_503_and_creates_nothing(monkeypatch):
    key_store_throttled("PutItem", monkeypatch)
    name = f"Park {uuid.uuid4().hex[:8]}"
    response = send("/places", PLACE | {"name": name}, str(uuid.uuid4()), new_user())
    assert response["statusCode"] == 503
    assert response["headers"]["Retry-After"] == "1"
    assert places_named(name) == []


def test_a_place_made_whose_answer_cannot_be_kept_is_answered_all_the_same(monkeypatch):
    key_store_throttled("UpdateItem", monkeypatch)  # the record's update to the answer
    name = f"Park {uuid.uuid4().hex[:8]}"
    response = send("/places", PLACE | {"name": name}, str(uuid.uuid4()), new_user())
    assert response["statusCode"] == 201  # not a 503 inviting a second place
    assert places_named(name) == [body_of(response)["placeId"]]


def test_a_refusal_whose_record_cannot_be_deleted_is_still_the_refusal(monkeypatch):
    user, name = new_user(), f"Park {uuid.uuid4().hex[:8]}"
    namesake = PLACE | {"name": name, "allowNamesake": False}
    assert send("/places", namesake, None, user)["statusCode"] == 201
    key_store_throttled("DeleteItem", monkeypatch)
    refused = send("/places", namesake, str(uuid.uuid4()), user)
    assert refused["statusCode"] == 409  # the namesake, not the store's trouble
    assert body_of(refused)["namesake"]["place"]["name"] == name


def test_requests_under_keys_add_nothing_to_the_client_they_share():
    # Each Powertools persistence layer adds a handler to its client for good: one per operation, not per request.
    def handlers() -> int:
        return len(list(aws.dynamodb_client().meta.events._emitter._handlers.prefix_search("request-created")))  # type: ignore[attr-defined]

    user = new_user()
    send("/places", PLACE | {"name": f"Park {uuid.uuid4().hex[:8]}"}, str(uuid.uuid4()), user)
    before = handlers()
    for _ in range(5):
        send("/places", PLACE | {"name": f"Park {uuid.uuid4().hex[:8]}"}, str(uuid.uuid4()), user)
    assert handlers() == before


@pytest.mark.parametrize(
    ("operation", "kept_s"),
    [
        ("create_place", limits.REPEATED_PLACE_ANSWERED_SECONDS),
        ("request_upload", limits.REPEATED_FORM_ANSWERED_SECONDS),
    ],
)
def test_the_answers_are_kept_in_their_own_table_as_long_as_they_are_given_again(operation, kept_s):
    owner, key = new_user(), str(uuid.uuid4())
    place = body_of(send("/places", PLACE | {"name": f"Park {uuid.uuid4().hex[:8]}"}, key, owner))
    path = {"place_id": place["placeId"]}
    form = body_of(send("/places/{place_id}/uploads", FORM, key, owner, path_parameters=path))
    answer_id = {"create_place": place["placeId"], "request_upload": form["uploadId"]}[operation]
    table = boto3.resource("dynamodb").Table(settings.idempotency_table())
    # This test's record: the one keeping its answer (other tests' records may expire in the same second).
    (record,) = [i for i in table.scan()["Items"] if str(i["id"]).startswith(f"{operation}#") and answer_id in str(i)]
    assert record["status"] == "COMPLETED"
    assert abs(int(record["expiration"]) - (time.time() + kept_s)) <= 5
