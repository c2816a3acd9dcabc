"""HTTP API handler: routes parse and validate, call the logic modules, and respond. Nothing else."""

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.event_handler.exceptions import NotFoundError as NoRouteError
from aws_lambda_powertools.event_handler.openapi.exceptions import (
    RequestUnsupportedContentType,
    RequestValidationError,
)
from aws_lambda_powertools.event_handler.openapi.params import Header, Path, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import AllowInfNan, BaseModel, Field

from happypath import aws, keys, limits
from happypath.errors import (
    BusyError,
    ConflictError,
    ForbiddenError,
    HappyPathError,
    IdempotencyKeyReusedError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
    RequestInProgressError,
    RetryLaterError,
    UnauthorizedError,
)
from happypath.models import (
    MyPhotos,
    NewPlace,
    Photo,
    PhotoPage,
    Place,
    PlaceDetail,
    PlaceWithDistance,
    UploadForm,
    UploadRequest,
    UploadView,
)
from happypath.observability import logger, metrics, tracer
from happypath.repository import Repository
from happypath_backend import idempotency, places, screening, uploads

app = APIGatewayHttpResolver(enable_validation=True)

SIGNED_IN: list[dict[str, list[str]]] = [{"bearer": []}]

PlaceId = Annotated[str, Path(pattern=keys.ID_PATTERN, description="Place id")]
ResourceId = Annotated[str, Path(pattern=keys.ID_PATTERN)]
Limit = Annotated[int, Query(ge=1, le=limits.PHOTOS_PAGE_MAX)]
Cursor = Annotated[str | None, Query(min_length=1, max_length=2048, description="nextCursor of the previous page")]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias=idempotency.HEADER,
        pattern=idempotency.KEY_PATTERN,
        description="A key of the client's own, new for each new request (a UUID): the request sent again with "
        "it, as after a dropped connection, is answered as the first time instead of creating another. "
        f"{idempotency.KEY_RULE}",
    ),
]
_ID = keys.ID_PATTERN.removeprefix("^").removesuffix("$")
_ID_LIST_PATTERN = rf"^{_ID}(,{_ID})*$"
PhotoIds = Annotated[
    str,
    Query(
        pattern=_ID_LIST_PATTERN,
        max_length=limits.PHOTOS_PAGE_MAX * (keys.ID_MAX_LENGTH + 1) - 1,  # the ids and their commas
        description=f"Photo ids, comma-separated (at most {limits.PHOTOS_PAGE_MAX})",
    ),
]


class Nearby(BaseModel):
    places: list[PlaceWithDistance]


class FieldProblem(BaseModel):
    field: str
    problem: str


class ErrorBody(BaseModel):
    message: str
    errors: list[FieldProblem] | None = Field(
        None, description="A request that does not validate (400): each refused field and why"
    )
    largestRadius: int | None = Field(
        None,
        description="A nearby search too wide this close to a pole (400): the largest radius, in metres, that "
        "can be searched from the same centre",
    )
    namesake: PlaceWithDistance | None = Field(
        None,
        description="A new place refused as one already on the map (409): the place of its type and name this "
        "near. Send allowNamesake true to add it all the same, as another place",
    )


_RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before asking again (a daily quota's: until 00:00 UTC; the stage's "
        "throttle sends none)",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _error_responses(*statuses: HTTPStatus) -> dict[int, Any]:
    """OpenAPI entries for errors answered with ErrorBody (429 and 503 with Retry-After)."""
    return {
        s: {"description": s.phrase, "content": {"application/json": {"model": ErrorBody}}}
        | ({"headers": _RETRY_AFTER} if s in (HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE) else {})
        for s in statuses
    }


def _success(model: type[BaseModel] | None, status: HTTPStatus = HTTPStatus.OK) -> dict[int, Any]:
    """The success entry: Powertools leaves it out once a route lists its responses."""
    if model is None:
        return {status: {"description": status.phrase}}
    return {status: {"description": status.phrase, "content": {"application/json": {"model": model}}}}


# 429: the stage's throttling answers before the function, with a body of the same shape ({"message": ...});
# adding a place or requesting an upload form past the person's daily quota too, with Retry-After.
# 503: AWS throttled or failed a call past its retries, with Retry-After.
ERRORS = _error_responses(HTTPStatus.BAD_REQUEST, HTTPStatus.TOO_MANY_REQUESTS, HTTPStatus.SERVICE_UNAVAILABLE)
NOT_FOUND = _error_responses(HTTPStatus.NOT_FOUND)
SIGNED_IN_ERRORS = ERRORS | _error_responses(HTTPStatus.UNAUTHORIZED)
OWNER_ERRORS = SIGNED_IN_ERRORS | NOT_FOUND | _error_responses(HTTPStatus.FORBIDDEN)  # someone else's upload
# Routes that take a JSON body; 413: over the HTTP API's 10 MB payload quota, answered before the function.
# 409: a namesake already on the map, or a place whose type takes no photos.
BODY_ERRORS = SIGNED_IN_ERRORS | _error_responses(
    HTTPStatus.CONFLICT, HTTPStatus.REQUEST_ENTITY_TOO_LARGE, HTTPStatus.UNSUPPORTED_MEDIA_TYPE
)
# Creating, with an Idempotency-Key: 409 (with Retry-After) while the key's first request is still being
# answered, 422 for the key sent with a different request.
CREATE_ERRORS = BODY_ERRORS | _error_responses(HTTPStatus.UNPROCESSABLE_ENTITY)
CREATE_PLACE = idempotency.Operation("create_place", Place, limits.REPEATED_PLACE_ANSWERED_SECONDS)
REQUEST_UPLOAD = idempotency.Operation("request_upload", UploadForm, limits.REPEATED_FORM_ANSWERED_SECONDS)


def repository() -> Repository:
    return Repository()


def current_user() -> str:
    """The caller's `sub`, verified by the HTTP API's JWT authorizer before the function runs."""
    claims = app.current_event.request_context.authorizer.jwt_claim or {}
    subject = claims.get("sub")
    if not subject:
        raise UnauthorizedError("sign in required")
    return str(subject)


# --- routes ------------------------------------------------------------------------------------------


@app.get("/places", summary="Places near a point, nearest first", responses=_success(Nearby) | ERRORS, tags=["places"])
def list_nearby_places(
    # AllowInfNan, not Query(allow_inf_nan=...): Powertools passes that on under a name pydantic ignores.
    lat: Annotated[float, Query(ge=-90, le=90), AllowInfNan(False)],
    lng: Annotated[float, Query(ge=-180, le=180), AllowInfNan(False)],
    radius: Annotated[
        float, Query(gt=0, le=limits.NEARBY_RADIUS_MAX_M, description="metres"), AllowInfNan(False)
    ] = 5000,
    limit: Annotated[int, Query(ge=1, le=limits.NEARBY_RESULTS_MAX)] = 50,
) -> Nearby:
    return Nearby(places=places.nearby(repository(), lat, lng, radius, limit))


@app.post(
    "/places",
    summary="Create a place",
    status_code=201,
    responses=_success(Place, HTTPStatus.CREATED) | CREATE_ERRORS,
    security=SIGNED_IN,
    tags=["places"],
)
def create_place(new_place: NewPlace, idempotency_key: IdempotencyKey = None) -> Place:
    creator = current_user()

    def create() -> Place:
        place = places.create_place(repository(), new_place, creator)
        metrics.add_metric(name="PlaceCreated", unit=MetricUnit.Count, value=1)
        return place

    return CREATE_PLACE.answer(creator, idempotency_key, new_place.model_dump(mode="json"), create, app.lambda_context)


@app.get(
    "/places/<place_id>",
    summary="A place and its newest photos",
    responses=_success(PlaceDetail) | ERRORS | NOT_FOUND,
    tags=["places"],
)
def get_place(place_id: PlaceId, limit: Limit = limits.PHOTOS_PAGE_DEFAULT, cursor: Cursor = None) -> PlaceDetail:
    return places.place_detail(repository(), place_id, limit, cursor)


@app.get(
    "/places/<place_id>/photos",
    summary="A page of a place's photos",
    responses=_success(PhotoPage) | ERRORS | NOT_FOUND,
    tags=["photos"],
)
def list_photos(place_id: PlaceId, limit: Limit = limits.PHOTOS_PAGE_DEFAULT, cursor: Cursor = None) -> PhotoPage:
    return places.photos_page(repository(), place_id, limit, cursor)


@app.post(
    "/places/<place_id>/uploads",
    summary="Request a presigned upload form for a photo of a place",
    status_code=201,
    responses=_success(UploadForm, HTTPStatus.CREATED) | CREATE_ERRORS | NOT_FOUND,
    security=SIGNED_IN,
    tags=["uploads"],
)
def request_upload(
    place_id: PlaceId, upload_request: UploadRequest, idempotency_key: IdempotencyKey = None
) -> UploadForm:
    owner = current_user()

    def request_form() -> UploadForm:
        form = uploads.request_upload(repository(), place_id, upload_request, owner)
        metrics.add_metric(name="UploadRequested", unit=MetricUnit.Count, value=1)
        return form

    request = {"placeId": place_id, **upload_request.model_dump(mode="json")}
    return REQUEST_UPLOAD.answer(owner, idempotency_key, request, request_form, app.lambda_context)


@app.get(
    "/uploads/<upload_id>",
    summary="The status of my upload",
    responses=_success(UploadView) | OWNER_ERRORS,
    security=SIGNED_IN,
    tags=["uploads"],
)
def get_upload(upload_id: ResourceId) -> UploadView:
    return uploads.upload_status(repository(), upload_id, current_user())


@app.get(
    "/photos/mine",
    summary="Which of these photos are mine (public listings do not say who uploaded what)",
    responses=_success(MyPhotos) | SIGNED_IN_ERRORS,
    security=SIGNED_IN,
    tags=["photos"],
)
def my_photos(ids: PhotoIds) -> MyPhotos:
    return MyPhotos(photoIds=uploads.published_by(repository(), current_user(), ids.split(",")))


@app.get(
    "/photos/<photo_id>",
    summary="A published photo (with its place's id), as a shared link names it",
    responses=_success(Photo) | ERRORS | NOT_FOUND,
    tags=["photos"],
)
def get_photo(photo_id: ResourceId) -> Photo:
    return places.published_photo(repository(), photo_id)


@app.delete(
    "/photos/<photo_id>",
    summary="Delete my published photo",
    status_code=204,
    responses=_success(None, HTTPStatus.NO_CONTENT) | OWNER_ERRORS | _error_responses(HTTPStatus.CONFLICT),
    security=SIGNED_IN,
    tags=["photos"],
)
def delete_photo(photo_id: ResourceId) -> Response[None]:
    uploads.delete_photo(repository(), photo_id, current_user())
    metrics.add_metric(name="PhotoDeleted", unit=MetricUnit.Count, value=1)
    return Response(status_code=204)


# --- errors: one place maps domain errors to HTTP ----------------------------------------------------

_STATUS_FOR: dict[type[HappyPathError], HTTPStatus] = {
    InvalidInputError: HTTPStatus.BAD_REQUEST,
    UnauthorizedError: HTTPStatus.UNAUTHORIZED,
    ForbiddenError: HTTPStatus.FORBIDDEN,
    NotFoundError: HTTPStatus.NOT_FOUND,
    ConflictError: HTTPStatus.CONFLICT,
    RequestInProgressError: HTTPStatus.CONFLICT,
    IdempotencyKeyReusedError: HTTPStatus.UNPROCESSABLE_ENTITY,
    QuotaExceededError: HTTPStatus.TOO_MANY_REQUESTS,
    BusyError: HTTPStatus.SERVICE_UNAVAILABLE,
}


def _error(status: HTTPStatus, message: str, **extra: Any) -> Response[dict[str, Any]]:
    return Response(status_code=status, content_type=content_types.APPLICATION_JSON, body={"message": message, **extra})


@app.exception_handler(HappyPathError)
def handle_domain_error(error: HappyPathError) -> Response[dict[str, Any]]:
    status = next((s for cls, s in _STATUS_FOR.items() if isinstance(error, cls)), HTTPStatus.BAD_REQUEST)
    response = _error(status, error.message, **error.details())
    if isinstance(error, RetryLaterError):
        response.headers["Retry-After"] = str(error.retry_after_s)
    return response


@app.exception_handler([ClientError, BotoCoreError])
def handle_aws_error(error: ClientError | BotoCoreError) -> Response[dict[str, Any]]:
    """Throttling, 5xx and network failures past botocore's retries, and refusals that say to come back later
    (aws.RETRY_LATER_CODES): the caller may try again; others are 500s."""
    if not aws.is_transient(error):
        raise error
    logger.warning("an AWS call failed, for now", extra={"error": str(error)})
    return handle_domain_error(BusyError(aws.RETRY_LATER_CODES.get(aws.client_error_code(error), 1)))


@app.not_found
def handle_no_route(_: NoRouteError) -> Response[dict[str, Any]]:
    """A path the routes' patterns do not take, such as `/places/€€€`: the answer API Gateway gives for a route
    it does not have, rather than Powertools' own body."""
    return _error(HTTPStatus.NOT_FOUND, "Not Found")


@app.exception_handler(RequestUnsupportedContentType)
def handle_unsupported_content(error: RequestUnsupportedContentType) -> Response[dict[str, Any]]:
    return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, "request bodies must be application/json")


_PATTERN_MEANS = {
    keys.ID_PATTERN: f"must be an id: {keys.ID_RULE}",
    _ID_LIST_PATTERN: f"must be ids separated by commas, each {keys.ID_RULE}",
    idempotency.KEY_PATTERN: f"must be {idempotency.KEY_RULE}",
}
"""What a pattern asks for, in words: the validator's own message would quote the regular expression."""


def _field(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":  # its location holds the character position, not a field
        return "body"
    return ".".join(str(part) for part in error.get("loc", ())[1:]) or "body"


def _problem(error: dict[str, Any]) -> str:
    if error.get("type") == "json_invalid":
        position = error.get("loc", ())[1:]
        return "not valid JSON" + (f" (at character {position[0]})" if position else "")
    if error.get("type") == "string_pattern_mismatch":
        return _PATTERN_MEANS.get(error.get("ctx", {}).get("pattern", ""), error.get("msg", ""))
    given = error.get("input")
    # `?ids=a&ids=b`: Powertools keeps both, each split at its commas too (so their count is not the repeats').
    if error.get("loc", ())[:1] == ("query",) and isinstance(given, list):
        return "given more than once: give it once" + (
            ", the ids separated by commas" if _field(error) == "ids" else ""
        )
    return str(error.get("msg", ""))


@app.exception_handler(RequestValidationError)
def handle_validation_error(error: RequestValidationError) -> Response[dict[str, Any]]:
    body = screening.invalid_request([{"field": _field(e), "problem": _problem(e)} for e in error.errors()])
    return _error(HTTPStatus.BAD_REQUEST, body["message"], errors=body["errors"])


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_HTTP)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    event = screening.without_unread_body(event)
    refused = screening.refusal(event)
    return refused if refused is not None else app.resolve(screening.with_lowercase_media_type(event), context)
