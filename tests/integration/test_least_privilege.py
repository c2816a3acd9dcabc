"""Each function's IAM policy in template.yaml allows exactly what its code calls.

The local runtime records every AWS call a handler makes (as IAM actions on resources) while the real flows
run: the API, an upload through the whole workflow, a deletion, the sweeper. Every call must be allowed by
the function's policy, and every permission the policy grants must be used.
"""

import fnmatch
import json
import time
from pathlib import Path
from typing import Any

import pytest
from happypath_testkit.events import http_event, sample
from happypath_testkit.workflow import store, store_without_notification, wait_final

from happypath import keys
from happypath.models import UploadForm
from happypath.repository import Repository
from happypath.statuses import UploadStatus
from happypath_local.recorder import Call, CallRecorder

# Granted but not exercised locally, each with the reason it is needed.
EXERCISED_ELSEWHERE = {
    ("ModerateFunction", "rekognition:DetectModerationLabels", "*"): "the AWS detector: tests/unit/test_moderation.py",
    ("ModerateFunction", "rekognition:DetectLabels", "*"): "the AWS detector: tests/unit/test_moderation.py",
    ("ModerateFunction", "s3:GetObject", "/uploads/*"): "workflow v2 has no check step: it moderates the original",
    ("ResizeFunction", "s3:DeleteObject", "/photos/*"): "a rejection after an attempt that wrote images: "
    "test_workflow_branches.py",
    (
        "NotifierFunction",
        "sqs:SendMessage",
        "deadletterqueue",
    ): "Lambda's dead-letter delivery: test_workflow_branches.py",
}
IGNORED_MANAGED_POLICIES = {"AWSLambdaBasicExecutionRole", "AWSXrayWriteOnlyAccess"}


def statements(app, function_logical_id: str) -> list[dict[str, Any]]:
    function = app.stack.functions[function_logical_id]
    role = next(
        r
        for k, r in app.stack.of_type("AWS::IAM::Role").items()
        if app.stack.attributes[(k, "Arn")] == function.role_arn
    )
    managed = {arn.rsplit("/", 1)[1] for arn in role["Properties"].get("ManagedPolicyArns", [])}
    assert managed <= IGNORED_MANAGED_POLICIES, managed
    found = []
    for policy in role["Properties"].get("Policies", []):
        for statement in policy["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
            found.append({"actions": actions, "resources": resources, "leading_keys": _leading_keys(statement)})
    return found


def _leading_keys(statement: dict[str, Any]) -> list[str] | None:
    """The partition key patterns a statement's dynamodb:LeadingKeys condition allows, or None without one. The
    statements' other conditions (an S3 listing's prefix) are not checked here."""
    condition = statement.get("Condition", {}).get("ForAllValues:StringLike", {})
    return condition.get("dynamodb:LeadingKeys")


def allowed(call: Call, granted: list[dict[str, Any]]) -> bool:
    return any(
        any(fnmatch.fnmatchcase(call.action, a) for a in s["actions"])
        and any(fnmatch.fnmatchcase(call.resource, r) for r in s["resources"])
        and (
            s["leading_keys"] is None
            or (
                call.leading_key is not None
                and any(fnmatch.fnmatchcase(call.leading_key, k) for k in s["leading_keys"])
            )
        )
        for s in granted
    )


def hash_keys(app) -> dict[str, str]:
    """Each table's partition key attribute, by table name."""
    return {
        app.physical(logical_id): next(
            k["AttributeName"] for k in table["Properties"]["KeySchema"] if k["KeyType"] == "HASH"
        )
        for logical_id, table in app.stack.of_type("AWS::DynamoDB::Table").items()
    }


def api_answer(app, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
    payload, errored, _ = app.invoker.invoke("happypath-ApiFunction", http_event(method, route, **kwargs))
    assert not errored, payload
    return json.loads(payload)


def api(app, method: str, route: str, **kwargs: Any) -> dict[str, Any]:
    response = api_answer(app, method, route, **kwargs)
    return json.loads(response["body"]) if response.get("body") else {}


@pytest.fixture(scope="module")
def recorded(app, photos: Path) -> set[Call]:
    recorder = CallRecorder(hash_keys(app))
    with recorder.recording():
        api(app, "GET", "/places", query={"lat": "51.5", "lng": "-0.1"})
        place = api(app, "POST", "/places", body={"name": "P", "type": "park", "lat": 51.5, "lng": -0.1}, user="u1")
        # Under an Idempotency-Key: answered, answered again, and a refusal (whose record is deleted).
        for body in ({"name": "Q", "type": "park", "lat": 51.6, "lng": -0.1},) * 2 + (
            {"name": "P", "type": "park", "lat": 51.5, "lng": -0.1},
        ):
            api_answer(app, "POST", "/places", body=body, user="u1", headers={"Idempotency-Key": f"key-{body['name']}"})
        api(app, "GET", "/places/{place_id}", path_parameters={"place_id": place["placeId"]})
        data = (photos / "jolla.jpg").read_bytes()
        form = api(
            app,
            "POST",
            "/places/{place_id}/uploads",
            path_parameters={"place_id": place["placeId"]},
            body={"contentType": "image/jpeg", "size": len(data)},
            user="u1",
        )
        recorder.presigned_post("ApiFunction", app.physical("UploadBucket"), form["fields"]["key"])
        store(UploadForm(**form), data)
        assert wait_final(form["uploadId"]).status == UploadStatus.PROCESSED
        api(app, "GET", "/places/{place_id}/photos", path_parameters={"place_id": place["placeId"]})
        api(app, "GET", "/uploads/{upload_id}", path_parameters={"upload_id": form["uploadId"]}, user="u1")
        assert api(app, "GET", "/photos/mine", query={"ids": form["uploadId"]}, user="u1")["photoIds"]
        api(app, "DELETE", "/photos/{photo_id}", path_parameters={"photo_id": form["uploadId"]}, user="u1")
        # The failure path's clean-up, as a state machine would call it for an upload that failed after Resize.
        step_input = sample("workflow_discard_images")
        step_input["upload"] |= {"placeId": place["placeId"], "uploadId": form["uploadId"]}
        payload, errored, _ = app.invoker.invoke("happypath-DiscardImagesFunction", step_input)
        assert not errored, payload
        # An abandoned upload, a lost one and one whose workflow died while processing, for the sweeper.
        repo = Repository()
        for fate in ("abandoned", "lost", "stuck"):
            abandoned = api(
                app,
                "POST",
                "/places/{place_id}/uploads",
                path_parameters={"place_id": place["placeId"]},
                body={"contentType": "image/jpeg", "size": 10},
                user="u1",
            )
            long_ago = int(time.time()) - 3600
            repo.table.update_item(
                Key=keys.upload_key(abandoned["uploadId"]),
                UpdateExpression="SET expiresAt = :t, GSI2PK = :pk, GSI2SK = :sk, #s = :s",
                ExpressionAttributeNames={"#s": "status"},
                ExpressionAttributeValues={
                    ":t": long_ago,
                    ":pk": keys.expiry_partition(long_ago),
                    ":sk": keys.expiry_sort_key(long_ago, abandoned["uploadId"]),
                    ":s": UploadStatus.PROCESSING if fate == "stuck" else UploadStatus.PENDING_UPLOAD,
                },
            )
            if fate == "lost":
                store_without_notification(app.physical("UploadBucket"), abandoned["fields"]["key"])
        payload, errored, _ = app.invoker.invoke("happypath-SweeperFunction", {})
        assert not errored, payload
    return recorder.calls


@pytest.mark.parametrize(
    "function",
    [
        "ApiFunction",
        "NotifierFunction",
        "CheckImageFunction",
        "ModerateFunction",
        "ResizeFunction",
        "PublishFunction",
        "DiscardImagesFunction",
        "SweeperFunction",
    ],
)
def test_every_call_is_allowed_and_every_permission_is_used(app, recorded: set[Call], function: str):
    granted = statements(app, function)
    calls = {c for c in recorded if c.function == function}
    refused = sorted((c.action, c.resource) for c in calls if not allowed(c, granted))
    assert refused == [], f"{function} calls what its policy does not allow"
    unused = []
    for statement in granted:
        for action in statement["actions"]:
            for resource in statement["resources"]:
                if any((function, action) == k[:2] and resource.endswith(k[2]) for k in EXERCISED_ELSEWHERE):
                    continue
                probe = [{"actions": [action], "resources": [resource], "leading_keys": statement["leading_keys"]}]
                if not any(allowed(c, probe) for c in calls):
                    unused.append((action, resource))
    assert unused == [], f"{function} is granted permissions it never uses"


def test_the_workflow_role_allows_exactly_the_state_machine_tasks(app):
    (machine_id,) = app.stack.of_type("AWS::StepFunctions::StateMachine")
    from happypath_local.stack import state_machine_definition

    definition = json.loads(state_machine_definition(app.stack, machine_id))
    needed = set()
    table_arn = app.stack.attributes[("Table", "Arn")]
    for state in definition["States"].values():
        resource = state.get("Resource", "")
        if resource.startswith("arn:aws:states:::dynamodb:"):
            operation = resource.rsplit(":", 1)[1]
            needed.add((f"dynamodb:{operation[0].upper()}{operation[1:]}", table_arn))
        elif resource.startswith("arn:aws:lambda:"):
            needed.add(("lambda:InvokeFunction", resource))
    role = app.stack.resources["WorkflowRole"]["Properties"]
    granted = {
        (action, res)
        for policy in role["Policies"]
        for s in policy["PolicyDocument"]["Statement"]
        for action in s["Action"]
        for res in (s["Resource"] if isinstance(s["Resource"], list) else [s["Resource"]])
        if not action.startswith(("xray:", "logs:"))  # tracing, and execution logging (test_template.py)
    }
    assert needed <= granted, needed - granted
    # v4 runs every function; other versions reuse the same role, so no permission is unused in v4.
    assert granted == needed
