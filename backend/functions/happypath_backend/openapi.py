"""The API's OpenAPI document (docs/openapi.json, `make openapi`): the resolver's own, with the answers it gives
in place of Powertools' defaults."""

import json
from http import HTTPStatus
from typing import Any, Final

from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server, ServerVariable

from happypath_backend.api import app

LOCAL_API_URL: Final = "http://127.0.0.1:8081"  # the local runtime's on its default ports (a test checks)


def openapi_document() -> dict[str, Any]:
    schema = app.get_openapi_schema(
        title="Happy Path API",
        version="1.0.0",
        description="Places on a map and the photos people share of them.",
        security_schemes={"bearer": HTTPBearer(bearerFormat="JWT")},
        # Where it answers depends on the stack: tools that import the document ask for it, the local one offered.
        servers=[
            Server(
                url="{apiUrl}",
                description="The API: the stack's ApiUrl output, or the local runtime's (make dev)",
                variables={"apiUrl": ServerVariable(default=LOCAL_API_URL, description="the API's base URL")},
            )
        ],
    )
    document = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    # Validation errors are answered with 400 and ErrorBody (handle_validation_error), not Powertools' 422 (a
    # route's own 422, an Idempotency-Key reused, stays).
    for operations in document["paths"].values():
        for operation in operations.values():
            if "HTTPValidationError" in json.dumps(operation["responses"].get("422", {})):
                del operation["responses"]["422"]
            operation["responses"].get(str(int(HTTPStatus.NO_CONTENT)), {}).pop("content", None)  # no body
    # Powertools' validation-error schemas, unused once the 422s are gone (a reference to nothing is invalid).
    for unused in ("HTTPValidationError", "ResponseValidationError", "ValidationError"):
        document["components"]["schemas"].pop(unused, None)
    return document
