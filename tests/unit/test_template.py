"""template.yaml, the ASL files and the code agree: routes, auth, substitutions, Retry/Catch, pins."""

import importlib
import json
import re
import shutil
import subprocess
import tomllib
import typing
from fnmatch import fnmatchcase
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from happypath_testkit.events import LambdaContext

from happypath import aws, keys, limits, s3_objects
from happypath.models import AcceptedContentType
from happypath.observability import metrics
from happypath.statuses import (
    FINAL_STATUSES,
    NO_PEOPLE_PLACE_TYPES,
    PEOPLE_WELCOME_PLACE_TYPES,
    PLACE_TYPE_REFUSAL,
    AbandonedReason,
    PlaceType,
    RejectionReason,
    UploadStatus,
)
from happypath_backend import sweeper
from happypath_backend.openapi import openapi_document
from happypath_local.stack import load_stack, translate

ROOT = Path(__file__).resolve().parents[2]
ASL_FILES = sorted((ROOT / "statemachines").glob("upload_v*.asl.json"))
LAMBDA_SERVICE_ERRORS = (
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.ClientExecutionTimeoutException",
    "Lambda.TooManyRequestsException",
)
LOCAL = {"AuthIssuerUrl": "http://127.0.0.1:9/auth", "AuthClientId": "local"}
AUTH_PARAMETERS = ("AuthIssuerUrl", "AuthClientId", "AuthAudience")
URLS = {"distribution_host": "127.0.0.1:9/cdn", "api": "http://127.0.0.1:9"}


@pytest.fixture(scope="module")
def translated():
    return translate(ROOT / "template.yaml", {})[0]


def test_http_api_routes_and_auth_match_the_resolver(translated):
    body = translated["Resources"]["HttpApi"]["Properties"]["Body"]
    template_routes = {
        (path, method.upper()): operation.get("security", [])
        for path, operations in body["paths"].items()
        for method, operation in operations.items()
    }
    document = openapi_document()
    resolver_routes = {
        (path, method.upper()): operation.get("security", [])
        for path, operations in document["paths"].items()
        for method, operation in operations.items()
    }
    assert set(template_routes) == set(resolver_routes)
    for route, security in resolver_routes.items():
        needs_auth = security == [{"bearer": []}]
        assert template_routes[route] == ([{"JwtAuthorizer": []}] if needs_auth else [{"NONE": []}]), route


def test_committed_openapi_document_is_current():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text())
    assert committed == json.loads(json.dumps(openapi_document())), "run `make openapi` and commit docs/openapi.json"


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=lambda p: p.stem)
def test_every_state_machine_is_well_formed_and_never_leaves_an_upload_behind(asl_file, translated):
    definition = json.loads(asl_file.read_text())
    states = definition["States"]
    # The version's own state machine deploys this file, with substitutions for everything it names.
    version = asl_file.name.split(".")[0].removeprefix("upload_")
    machine = translated["Resources"][f"UploadWorkflow{version.upper()}"]["Properties"]
    assert machine["DefinitionS3Location"]["Key"] == f"statemachines/{asl_file.name}"
    substitutions = set(machine["DefinitionSubstitutions"])
    used = set(re.findall(r"\$\{(\w+)\}", asl_file.read_text()))
    assert used <= substitutions, f"{asl_file.name} uses undefined substitutions {used - substitutions}"
    assert "arn:aws:" not in asl_file.read_text(), "ARNs name the stack's partition: arn:${Partition}:..."

    reachable = {definition["StartAt"]}
    frontier = [definition["StartAt"]]
    while frontier:
        state = states[frontier.pop()]
        targets = [state.get("Next"), state.get("Default")]
        targets += [c["Next"] for c in state.get("Choices", [])] + [c["Next"] for c in state.get("Catch", [])]
        for target in filter(None, targets):
            assert target in states, f"{asl_file.name}: {target} does not exist"
            if target not in reachable:
                reachable.add(target)
                frontier.append(target)
    assert reachable == set(states), f"unreachable states {set(states) - reachable}"

    for name, state in states.items():
        if state["Type"] != "Task":
            continue
        assert state.get("Retry"), f"{name} has no Retry"
        catch_all = [c for c in state.get("Catch", []) if c["ErrorEquals"] == ["States.ALL"]]
        assert catch_all, f"{name} has no Catch for States.ALL"
        # Once Resize may have written images, a failure deletes them before it is recorded.
        expected = {"RecordFailure": "Failed", "Resize": "DiscardImages", "Publish": "DiscardImages"}
        assert catch_all[0]["Next"] == expected.get(name, "RecordFailure"), name
        if state["Resource"].startswith("${"):
            assert "TransientError" in state["Retry"][0]["ErrorEquals"], name
            # The errors of Lambda's own service AWS recommends retrying for every Lambda task.
            assert set(LAMBDA_SERVICE_ERRORS) <= set(state["Retry"][0]["ErrorEquals"]), name
            assert state["TimeoutSeconds"] <= 900
        # The place was created moments before its first upload: an eventually consistent read could miss it
        # and refuse the photo as PLACE_NOT_FOUND for good.
        if state["Resource"].endswith(":dynamodb:getItem"):
            assert state["Parameters"].get("ConsistentRead") is True, name
    # ... unless Publish committed before its function failed: then the execution succeeds.
    assert states["DiscardImages"]["Next"] == "IsPublishedAfterAll"
    choice = states["IsPublishedAfterAll"]
    assert (choice["Choices"][0]["Next"], choice["Default"]) == ("Published", "RecordFailure")


def test_place_type_routing_in_the_workflow_is_what_statuses_says():
    definition = json.loads((ROOT / "statemachines" / "upload_v4.asl.json").read_text())
    routed: dict[str, set[str]] = {}
    for choice in definition["States"]["ByPlaceType"]["Choices"]:
        named = re.findall(r'"StringEquals": "(\w+)"', json.dumps(choice))
        routed.setdefault(choice["Next"], set()).update(named)
    assert routed == {
        "Moderate": set(PEOPLE_WELCOME_PLACE_TYPES),
        "ModerateWithoutPeople": set(NO_PEOPLE_PLACE_TYPES),
    }
    assert definition["States"]["ByPlaceType"]["Default"] == "RejectPlaceType"
    refusal = definition["States"]["RejectPlaceType"]["Parameters"]["detail.$"]
    assert refusal == f"States.Format('{PLACE_TYPE_REFUSAL}', $.place.Item.type.S)"  # the API's words too


@pytest.mark.parametrize("version", ["v1", "v2", "v3", "v4"])
def test_the_workflow_version_parameter_deploys_exactly_one_state_machine(version):
    stack = load_stack({"WorkflowVersion": version}, URLS, stand_ins=LOCAL)
    machines = stack.of_type("AWS::StepFunctions::StateMachine")
    assert list(machines) == [f"UploadWorkflow{version.upper()}"]
    (rule,) = stack.of_type("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["custom.happyPath"],
        "detail-type": ["uploadComplete"],
        "detail": {"bucket": [stack.physical_ids["UploadBucket"]]},  # not another stack's uploads
    }


def test_every_function_handler_imports_from_its_code_uri():
    stack = load_stack({}, URLS, stand_ins=LOCAL)
    assert len(stack.functions) == 8
    for function in stack.functions.values():
        module_name, _, attribute = function.handler.rpartition(".")
        module = importlib.import_module(module_name)
        assert callable(getattr(module, attribute)), function.handler
        assert Path(module.__file__).is_relative_to(function.code_dir), function.handler


def test_lambda_requirements_pin_what_the_project_tests_with():
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]
    runtime = {req for req in groups["runtime"] if isinstance(req, str)}
    shipped = set()
    for path in (
        "backend/shared/requirements.txt",
        "backend/functions/requirements.txt",
        "workflows/functions/requirements.txt",
    ):
        shipped |= {
            line.strip() for line in (ROOT / path).read_text().splitlines() if line.strip() and not line.startswith("#")
        }
    assert shipped == runtime


def postman_environments() -> list[dict]:
    return [json.loads(p.read_text()) for p in (ROOT / "postman").glob("*.postman_environment.json")]


def test_the_postman_collection_calls_only_routes_the_api_has():
    collection = json.loads((ROOT / "postman" / "happy-path.postman_collection.json").read_text())
    routes = {(path, method.upper()) for path, ops in openapi_document()["paths"].items() for method in ops}
    called = set()
    for item in collection["item"]:
        raw = item["request"]["url"]["raw"]
        if not raw.startswith("{{apiUrl}}"):
            continue
        path = re.sub(r"\{\{(\w+)\}\}", lambda m: "{" + re.sub(r"(?<!^)([A-Z])", r"_\1", m.group(1)).lower() + "}", raw)
        path = (
            path.removeprefix("{api_url}")
            .split("?")[0]
            .replace("{upload_id}", "{photo_id}" if "/photos/" in path else "{upload_id}")
        )
        called.add((path, item["request"]["method"]))
    assert called <= routes, called - routes
    assert {"POST", "GET", "DELETE"} <= {method for _, method in called}
    environments = postman_environments()
    assert sorted(e["name"] for e in environments) == ["Happy Path - deployed", "Happy Path - local"]


def test_every_postman_variable_a_request_uses_is_set_somewhere():
    # A variable no environment holds and no script sets (the next page's cursor once was) is sent empty.
    collection = (ROOT / "postman" / "happy-path.postman_collection.json").read_text()
    requests = json.dumps([item["request"] for item in json.loads(collection)["item"]])
    used = set(re.findall(r"\{\{(\w+)\}\}", requests))
    scripted = set(re.findall(r"collectionVariables\.set\('(\w+)'", collection))
    environments = postman_environments()
    for environment in environments:
        provided = {value["key"] for value in environment["values"]} | scripted
        assert used <= provided, f"{environment['name']}: nothing sets {used - provided}"


def test_the_deployed_postman_environment_names_outputs_the_stack_gives(translated):
    # "<Name output>" is replaced by that output's value, which is a whole URL where it starts with a scheme.
    outputs = translated["Outputs"]
    (deployed,) = [e for e in postman_environments() if e["name"] == "Happy Path - deployed"]
    named = 0
    for entry in deployed["values"]:
        for before, name in re.findall(r"(\S*?)<(\w+) output>", entry["value"]):
            named += 1
            assert name in outputs, f"{entry['key']}: the stack has no output {name}"
            value = json.dumps(outputs[name]["Value"])
            if '"https://' in value:
                assert before == "", f"{entry['key']}: {name} is already a URL, scheme and all"
    assert named >= 4


def test_the_readme_explains_every_parameter_and_names_every_output_of_the_stack(translated):
    # `sam deploy --guided` asks for every parameter; the README's "Deploy to AWS" section says what each is for.
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Deploy to AWS") : readme.index("\n## ", readme.index("## Deploy to AWS") + 1)]
    explained = section[section.index("Parameters:") : section.index("The outputs give")]
    listed = section[section.index("The outputs give") :].split("\n\n")[0]
    assert set(translated["Parameters"]) <= set(re.findall(r"`(\w+)`", explained))
    assert set(re.findall(r"`(\w+)`", listed)) == set(translated["Outputs"])


def test_the_frontend_knows_the_statuses_and_place_types_the_backend_has():
    api = (ROOT / "frontend" / "src" / "lib" / "api.ts").read_text()
    union = re.search(r"^export type UploadStatus = (.+)$", api, flags=re.MULTILINE)
    assert union
    assert set(re.findall(r"'(\w+)'", union.group(1))) == set(UploadStatus)
    upload = (ROOT / "frontend" / "src" / "lib" / "upload.ts").read_text()
    final = re.search(r"^export const FINAL_STATUSES\b.*new Set\(\[(.+)\]\)$", upload, flags=re.MULTILINE)
    assert final
    assert set(re.findall(r"'(\w+)'", final.group(1))) == FINAL_STATUSES
    words = (ROOT / "frontend" / "src" / "lib" / "format.ts").read_text()
    table = words[words.index("TYPE_LABELS") : words.index("}", words.index("TYPE_LABELS"))]
    assert set(re.findall(r"^\s+(\w+): \[", table, flags=re.MULTILINE)) == set(PlaceType)


def test_the_frontend_has_words_for_every_reason_the_backend_gives():
    words = (ROOT / "frontend" / "src" / "lib" / "reasons.ts").read_text()
    table = words[words.index("REASON_WORDS") : words.index("}", words.index("REASON_WORDS"))]
    codes = set(re.findall(r"^\s+([A-Z_]+):", table, flags=re.MULTILINE))
    backend = {*RejectionReason, UploadStatus.FAILED, UploadStatus.EXPIRED}
    assert backend <= codes, f"frontend/src/lib/reasons.ts has no words for {backend - codes}"
    # The sweeper's reasons are shown through their status's words (FAILED / EXPIRED), on purpose.
    assert not codes & set(AbandonedReason)


def test_upload_event_retries_end_before_the_sweeper_closes_the_upload(translated):
    resources = translated["Resources"]
    (notifier_config,) = [
        r["Properties"]
        for r in resources.values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig" and "Notifier" in json.dumps(r["Properties"]["FunctionName"])
    ]
    rules = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::Events::Rule"]
    rule_ages = [t["RetryPolicy"]["MaximumEventAgeInSeconds"] for rule in rules for t in rule.get("Targets", [])]
    assert rule_ages
    # The S3 event comes at the latest when the form expires; the sweeper acts ABANDONED_AFTER_SECONDS later.
    assert notifier_config["MaximumEventAgeInSeconds"] + max(rule_ages) < limits.ABANDONED_AFTER_SECONDS


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=lambda p: p.stem)
def test_state_machines_use_the_shared_statuses_reasons_and_key_names(asl_file):
    text = asl_file.read_text()
    assert set(re.findall(r'"S": "([A-Z_]+)"', text)) <= set(UploadStatus)
    assert set(re.findall(r'"reason": "([A-Z_]+)"', text)) <= set(RejectionReason)
    assert set(re.findall(r"\bGSI\w+", text)) <= {keys.EXPIRY_PK, keys.EXPIRY_SK}


def test_the_limits_users_are_told_are_the_limits_enforced():
    words = (ROOT / "frontend" / "src" / "lib" / "reasons.ts").read_text()
    assert f"at least {limits.MIN_SIDE_PX} px on each side" in words
    assert f"at most {limits.MAX_UPLOAD_BYTES // 2**20} MB and {limits.MAX_SIDE_PX:,} px on each side" in words
    readme = (ROOT / "README.md").read_text()
    assert f"under {limits.MIN_SIDE_PX} px a side" in readme
    panel = (ROOT / "frontend" / "src" / "components" / "UploadPanel.vue").read_text()
    assert f"up to {limits.MAX_UPLOAD_BYTES // 2**20} MB, at least {limits.MIN_SIDE_PX} px on each side" in panel


def test_the_frontend_checks_uploads_against_the_api_s_limits(translated):
    upload = (ROOT / "frontend" / "src" / "lib" / "upload.ts").read_text()
    assert f"MAX_UPLOAD_BYTES = {limits.MAX_UPLOAD_BYTES // 2**20} * 1024 * 1024" in upload
    api = (ROOT / "frontend" / "src" / "lib" / "api.ts").read_text()
    declared = re.search(r"export type UploadContentType = (.*)", api)
    assert declared
    assert set(re.findall(r"'([^']+)'", declared.group(1))) == set(typing.get_args(AcceptedContentType))
    # The app waits for a verdict until the sweeper must have closed the upload: the notifier stamps the deadline
    # at most its oldest event age after the photo arrived, then the deadline, then a sweep.
    (schedule,) = [r["Properties"] for r in translated["Resources"].values() if r["Type"] == "AWS::Scheduler::Schedule"]
    sweep = re.fullmatch(r"rate\((\d+) minutes\)", schedule["ScheduleExpression"])
    assert sweep
    sweep_minutes = int(sweep.group(1))
    (notifier_age,) = [
        r["Properties"]["MaximumEventAgeInSeconds"]
        for r in translated["Resources"].values()
        if r["Type"] == "AWS::Lambda::EventInvokeConfig"
        and r["Properties"]["FunctionName"] == {"Ref": "NotifierFunction"}
    ]
    parts = f"{notifier_age // 60} + {limits.PROCESSING_DEADLINE_SECONDS // 60} + {sweep_minutes} + 1"
    deadline = f"PROCESSING_DEADLINE_MS = ({parts}) * 60_000"
    assert deadline in upload


def test_the_frontend_asks_about_as_many_photos_at_once_as_the_api_takes():
    api = (ROOT / "frontend" / "src" / "lib" / "api.ts").read_text()
    assert f"export const MY_PHOTOS_PER_REQUEST = {limits.PHOTOS_PAGE_MAX}\n" in api


def test_the_image_functions_bound_glibc_memory_alike(translated):
    # The resizer's memory goal (bench/README.md) is measured with these settings: both functions that
    # decode photos must run with them.
    resources = translated["Resources"]
    settings = [
        {k: v for k, v in resources[name]["Properties"]["Environment"]["Variables"].items() if k.startswith("MALLOC_")}
        for name in ("CheckImageFunction", "ResizeFunction")
    ]
    assert settings[0] == settings[1] == {"MALLOC_ARENA_MAX": "2"}


def test_the_sweeper_leaves_a_claimed_upload_the_time_its_workflow_may_take(translated):
    # The notifier stamps the processing deadline when it sends the event; the event may then wait for the
    # rule's retries before the execution starts, which then runs until the state machine's timeout.
    rules = [r["Properties"] for r in translated["Resources"].values() if r["Type"] == "AWS::Events::Rule"]
    rule_ages = [t["RetryPolicy"]["MaximumEventAgeInSeconds"] for rule in rules for t in rule.get("Targets", [])]
    assert rule_ages
    for asl_file in ASL_FILES:
        timeout = json.loads(asl_file.read_text())["TimeoutSeconds"]
        assert max(rule_ages) + timeout < limits.PROCESSING_DEADLINE_SECONDS, asl_file.name


def _alarms(stack_resources: dict[str, typing.Any]) -> dict[str, dict[str, typing.Any]]:
    return {name: r["Properties"] for name, r in stack_resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}


@pytest.mark.parametrize("version", ["v1", "v2", "v3", "v4"])
def test_the_workflow_alarm_watches_the_state_machine_deployed(version):
    stack = load_stack({"WorkflowVersion": version}, URLS, stand_ins=LOCAL)
    alarm = _alarms(stack.resources)["UploadWorkflowFailuresAlarm"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": stack.physical_ids[f"UploadWorkflow{version.upper()}"]}
    ]


def test_every_alarm_notifies_the_alarm_topic_when_it_fires_and_when_it_clears(translated):
    alarms = _alarms(translated["Resources"])
    assert len(alarms) == 6
    for name, alarm in alarms.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}], name
        if name != "SweeperNotRunningAlarm":
            assert alarm["TreatMissingData"] == "notBreaching", name  # no traffic is not an incident


def test_a_sweeper_that_stops_running_raises_an_alarm(translated):
    """Its errors alarm sees nothing when it never runs: a missed schedule would leave uploads open unnoticed."""
    alarm = _alarms(translated["Resources"])["SweeperNotRunningAlarm"]
    schedule = translated["Resources"]["SweeperFunctionEveryFiveMinutes"]["Properties"]["ScheduleExpression"]
    runs_per_period = alarm["Period"] // (int(re.fullmatch(r"rate\((\d+) minutes\)", schedule).group(1)) * 60)
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Invocations")
    assert alarm["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": "SweeperFunction"}}]
    assert (alarm["ComparisonOperator"], alarm["Threshold"], alarm["TreatMissingData"]) == (
        "LessThanThreshold",
        1,
        "breaching",
    )
    assert runs_per_period >= 3  # one late or failed run alone does not fire it


def test_the_other_alarms_watch_this_stacks_queue_sweeper_and_api(translated):
    alarms = _alarms(translated["Resources"])
    watched = {
        name: (alarm["Namespace"], alarm["MetricName"], alarm["Dimensions"])
        for name, alarm in alarms.items()
        if name in {"SweeperErrorsAlarm", "NotifierDeadLettersAlarm", "ApiServerErrorsAlarm"}
    }
    assert watched == {
        "SweeperErrorsAlarm": ("AWS/Lambda", "Errors", [{"Name": "FunctionName", "Value": {"Ref": "SweeperFunction"}}]),
        "NotifierDeadLettersAlarm": (
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["NotifierDeadLetterQueue", "QueueName"]}}],
        ),
        # An HTTP API's metrics are 4xx/5xx by ApiId (a REST API's are 4XXError/5XXError by ApiName).
        "ApiServerErrorsAlarm": ("AWS/ApiGateway", "5xx", [{"Name": "ApiId", "Value": {"Ref": "HttpApi"}}]),
    }
    dead_letters = translated["Resources"]["NotifierFunction"]["Properties"]["DeadLetterConfig"]["TargetArn"]
    assert dead_letters == {"Fn::GetAtt": ["NotifierDeadLetterQueue", "Arn"]}  # the queue the alarm watches


def test_the_sweeper_alarm_watches_the_metric_the_sweeper_emits(monkeypatch, capsys):
    stack = load_stack({}, URLS, stand_ins=LOCAL, stack_name="second-stack")
    sweeper_env = stack.resources["SweeperFunction"]["Properties"]["Environment"]["Variables"]
    monkeypatch.setattr(metrics, "service", sweeper_env["POWERTOOLS_SERVICE_NAME"])  # as in its Lambda
    monkeypatch.setattr(metrics, "namespace", sweeper_env["POWERTOOLS_METRICS_NAMESPACE"])
    monkeypatch.setattr(sweeper, "sweep", lambda repo, now: sweeper.SweepResult(expired=1, failed=2))
    monkeypatch.setattr(sweeper, "Repository", lambda: None)
    sweeper.lambda_handler({}, LambdaContext("sweeper"))
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]

    alarm = _alarms(stack.resources)["UploadsNeverFinishedAlarm"]
    (document,) = emitted
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    # One namespace per stack: another stack's sweeper in the same account does not trip this alarm.
    assert directive["Namespace"] == alarm["Namespace"] == "HappyPath/second-stack"
    assert alarm["MetricName"] in {metric["Name"] for metric in directive["Metrics"]}
    assert document[alarm["MetricName"]] == [2.0]  # what it counts: the uploads closed FAILED
    assert directive["Dimensions"] == [[d["Name"] for d in alarm["Dimensions"]]]
    assert {d["Name"]: document[d["Name"]] for d in alarm["Dimensions"]} == {
        d["Name"]: d["Value"] for d in alarm["Dimensions"]
    }


def test_every_function_logs_to_a_group_with_a_retention(translated):
    resources = translated["Resources"]
    functions = {name: r["Properties"] for name, r in resources.items() if r["Type"] == "AWS::Lambda::Function"}
    assert len(functions) >= 8
    for name, function in functions.items():
        group = function["LoggingConfig"]["LogGroup"]["Ref"]
        assert resources[group]["Type"] == "AWS::Logs::LogGroup", name
        assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}, name
        assert function["LoggingConfig"]["LogFormat"] == "JSON", name  # Powertools' lines stay whole records
    assert translated["Parameters"]["LogRetentionDays"]["Default"] == 30


def test_every_bucket_refuses_requests_without_tls(translated):
    resources = translated["Resources"]
    buckets = {name for name, r in resources.items() if r["Type"] == "AWS::S3::Bucket"}
    assert buckets == {"UploadBucket", "DistributionBucket", "WebAppBucket"}
    for name in buckets:
        (policy,) = (
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": name}
        )
        (deny,) = (s for s in policy["Statement"] if s["Effect"] == "Deny")
        assert (deny["Principal"], deny["Action"]) == ("*", "s3:*"), name
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, name
        assert deny["Resource"] == [{"Fn::GetAtt": [name, "Arn"]}, {"Fn::Sub": f"${{{name}.Arn}}/*"}], name


def test_the_api_logs_every_request_to_a_group_with_a_retention(translated):
    resources = translated["Resources"]
    (stage,) = (r["Properties"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Stage")
    settings = stage["AccessLogSettings"]
    group = settings["DestinationArn"]["Fn::GetAtt"][0]
    assert resources[group]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    fields = json.loads(settings["Format"])  # one JSON record per request
    assert {"requestId", "route", "status", "latencyMs", "integrationError"} <= set(fields)


@pytest.mark.parametrize(
    ("parameter", "value", "must_be"),
    [
        ("FrontendOrigin", "https://photos.example.org/", "empty, or an origin"),  # CORS, Cognito: exact URLs
        ("FrontendOrigin", "https://photos.example.org/app", "empty, or an origin"),
        ("FrontendOrigin", "photos.example.org", "empty, or an origin"),
        # Cognito takes no other http:// redirect, and browsers sign in only on secure pages: refused before
        # anything is created, not by Cognito minutes into the deploy (or never, with an issuer of one's own).
        ("FrontendOrigin", "http://photos.example.org", "empty, or an origin"),
        ("FrontendOrigin", "http://192.168.1.20:8080", "empty, or an origin"),
        ("WorkflowVersion", "v5", "one of v1, v2, v3, v4"),
        ("LogRetentionDays", "10", "one of 1, 3"),
        ("ModerationMinConfidence", "101", "from 0 to 100"),
        ("ModerationMinConfidence", "high", "a number"),
        ("DailyPlacesPerUser", "0", "from 1 to inf"),
        ("AuthIssuerUrl", "tenant.eu.auth0.com", "empty, or the issuer's URL"),
        ("AuthIssuerUrl", "http://tenant.eu.auth0.com/", "empty, or the issuer's URL"),  # API Gateway: https only
        ("AlarmEmail", "ops.example.org", "empty, or an email address"),
    ],
)
def test_the_local_runtime_refuses_parameters_cloudformation_would_refuse(parameter, value, must_be):
    stand_ins = {name: local for name, local in LOCAL.items() if name != parameter}  # the value tried is given
    with pytest.raises(ValueError, match=f"{parameter}='{value}' is refused: it must be {must_be}"):
        load_stack({parameter: value}, URLS, stand_ins=stand_ins)


def test_the_local_runtime_refuses_a_parameter_the_template_does_not_have():
    with pytest.raises(ValueError, match="the template has no parameter DailyUploadsPerPerson"):
        load_stack({"DailyUploadsPerPerson": "5"}, URLS, stand_ins=LOCAL)


@pytest.mark.parametrize("origin", ["http://localhost:5173", "http://localhost", "https://photos.example.org", ""])
def test_an_origin_is_a_valid_frontend_origin(origin):
    assert load_stack({"FrontendOrigin": origin}, URLS, stand_ins=LOCAL).parameters["FrontendOrigin"] == origin


def test_the_local_runtime_runs_on_its_own_http_issuer_and_origin_whatever_host_it_serves():
    """Its issuer and origin stand in for a deployed stack's https ones (`serve --host 0.0.0.0` for a phone)."""
    stand_ins = {"AuthIssuerUrl": "http://192.168.1.20:8080/auth", "AuthClientId": "local"}
    stack = load_stack({}, URLS, stand_ins=stand_ins | {"FrontendOrigin": "http://192.168.1.20:8080"})
    assert stack.parameters["AuthIssuerUrl"] == "http://192.168.1.20:8080/auth"
    assert stack.parameters["FrontendOrigin"] == "http://192.168.1.20:8080"
    with pytest.raises(ValueError, match="the local runtime sets FrontendOrigin itself"):  # not silently replaced
        load_stack({"FrontendOrigin": "https://a.example"}, URLS, stand_ins=stand_ins | {"FrontendOrigin": "x"})
    given = {"FrontendOrigin": "http://192.168.1.20:8080"}  # given as to a deploy: checked
    with pytest.raises(ValueError, match=re.escape("FrontendOrigin='http://192.168.1.20:8080' is refused")):
        load_stack(given, URLS, stand_ins=stand_ins)


def _app_origins(stack: typing.Any) -> dict[str, list[str]]:
    """Every place the template names the web app's origin, resolved."""
    resources = stack.resources
    client = resources["UserPoolClient"]["Properties"]
    (api,) = (r["Properties"]["Body"] for r in resources.values() if r["Type"] == "AWS::ApiGatewayV2::Api")
    (upload_rule,) = resources["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    return {
        "sign-in redirect": client["CallbackURLs"],
        "sign-out redirect": client["LogoutURLs"],
        "API CORS": api["x-amazon-apigateway-cors"]["allowOrigins"],
        "upload CORS": upload_rule["AllowedOrigins"],
    }


@pytest.mark.parametrize("frontend_origin", ["", "https://photos.example.org"])
def test_the_web_app_is_on_the_stacks_distribution_unless_another_origin_is_given(frontend_origin):
    origin = frontend_origin or f"https://{URLS['distribution_host']}"
    stack = load_stack({"FrontendOrigin": frontend_origin}, URLS)  # with Cognito
    assert _app_origins(stack) == {
        "sign-in redirect": [f"{origin}/callback"],
        "sign-out redirect": [f"{origin}/"],
        "API CORS": [origin],
        "upload CORS": [origin],
    }


def test_the_web_app_signs_in_as_a_public_client_with_the_code_flow(translated):
    # A browser app keeps no secret: authorization code with PKCE (the app sends the challenge), nothing else.
    client = translated["Resources"]["UserPoolClient"]["Properties"]
    assert client["GenerateSecret"] is False
    assert client["AllowedOAuthFlows"] == ["code"]
    assert client["AllowedOAuthFlowsUserPoolClient"] is True
    assert set(client["ExplicitAuthFlows"]) == {"ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert "openid" in client["AllowedOAuthScopes"]


def test_an_email_address_signs_in_to_one_account_however_it_is_capitalised(translated):
    # Usernames are email addresses: case-sensitive (Cognito's default, fixed once the pool exists), the same
    # mailbox could sign up twice, and Alice@example.org could not sign in as alice@example.org.
    pool = translated["Resources"]["UserPool"]["Properties"]
    assert pool["UsernameAttributes"] == ["email"]
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}


def test_the_frontend_origin_output_is_the_origin_the_stack_allows(translated):
    (rule,) = translated["Resources"]["UploadBucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    assert [translated["Outputs"]["FrontendOrigin"]["Value"]] == rule["AllowedOrigins"]


def test_the_distribution_serves_the_web_app_and_the_photos_from_their_private_buckets(translated):
    resources = translated["Resources"]
    config = resources["Distribution"]["Properties"]["DistributionConfig"]
    origins = {o["Id"]: o for o in config["Origins"]}
    app, (photos,) = config["DefaultCacheBehavior"], config["CacheBehaviors"]
    assert origins[app["TargetOriginId"]]["DomainName"] == {"Fn::GetAtt": ["WebAppBucket", "RegionalDomainName"]}
    assert photos["PathPattern"] == f"{keys.PUBLISHED_PREFIX}*"
    assert origins[photos["TargetOriginId"]]["DomainName"] == {
        "Fn::GetAtt": ["DistributionBucket", "RegionalDomainName"]
    }
    for origin in origins.values():  # read through origin access control only: the buckets stay private
        assert origin["OriginAccessControlId"] == {"Fn::GetAtt": ["OriginAccessControl", "Id"]}
    (route,) = app["FunctionAssociations"]
    assert (route["EventType"], route["FunctionARN"]) == (
        "viewer-request",
        {"Fn::GetAtt": ["WebAppRoutes", "FunctionARN"]},
    )
    assert config["DefaultRootObject"] == "index.html"
    for bucket in ("WebAppBucket", "DistributionBucket"):
        (policy,) = (
            r["Properties"]["PolicyDocument"]
            for r in resources.values()
            if r["Type"] == "AWS::S3::BucketPolicy" and r["Properties"]["Bucket"] == {"Ref": bucket}
        )
        # Objects read; the bucket listable, so that a missing key is a 404 rather than a 403.
        read, listing = (s for s in policy["Statement"] if s["Effect"] == "Allow")
        assert (read["Action"], listing["Action"]) == ("s3:GetObject", "s3:ListBucket")
        assert listing["Resource"] == {"Fn::GetAtt": [bucket, "Arn"]}
        for allowed in (read, listing):
            assert allowed["Principal"] == {"Service": "cloudfront.amazonaws.com"}
            assert "${Distribution}" in allowed["Condition"]["StringEquals"]["AWS:SourceArn"]["Fn::Sub"]


@pytest.mark.parametrize(
    ("uri", "served"),
    [
        ("/", "/index.html"),
        ("/places/hyde-park-1", "/index.html"),
        ("/callback", "/index.html"),
        ("/places/", "/index.html"),
        ("/index.html", "/index.html"),
        ("/config.json", "/config.json"),
        ("/assets/index-3f9a2c.js", "/assets/index-3f9a2c.js"),
        ("/favicon.svg", "/favicon.svg"),
    ],
)
def test_the_web_apps_routes_are_answered_by_its_index_html(translated, uri, served):
    # The CloudFront Function, run by node as CloudFront's JavaScript runtime would run it.
    code = translated["Resources"]["WebAppRoutes"]["Properties"]["FunctionCode"]
    event = json.dumps({"request": {"method": "GET", "uri": uri, "querystring": {}, "headers": {}}})
    script = f"{code}\nprocess.stdout.write(JSON.stringify(handler({event})));"
    node = shutil.which("node")
    assert node, "node runs the frontend's tests too"
    result = subprocess.run([node, "-e", script], capture_output=True, text=True, check=True, timeout=30)
    assert json.loads(result.stdout)["uri"] == served


def test_cloudfront_names_fit_whatever_the_stack_is_called():
    stack_name = "a-stack-name-as-long-as-cloudformation-allows-" + "x" * 82  # 128 characters
    stack = load_stack({}, URLS, stand_ins=LOCAL, stack_name=stack_name)
    names = [
        stack.resources["WebAppRoutes"]["Properties"]["Name"],
        stack.resources["OriginAccessControl"]["Properties"]["OriginAccessControlConfig"]["Name"],
        stack.resources["WebAppHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]["Name"],
    ]
    for name in names:
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", name), name
    assert len(set(names)) == 3


def test_the_web_app_and_the_photos_are_served_with_the_security_headers(translated):
    config = translated["Resources"]["Distribution"]["Properties"]["DistributionConfig"]
    for behaviour in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behaviour["ResponseHeadersPolicyId"] == {"Ref": "WebAppHeaders"}
    headers = translated["Resources"]["WebAppHeaders"]["Properties"]["ResponseHeadersPolicyConfig"]
    policy = headers["SecurityHeadersConfig"]["ContentSecurityPolicy"]["ContentSecurityPolicy"]
    directives = {d.split()[0]: d.split()[1:] for d in policy.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]  # no inline or foreign scripts: the browser tests run under it
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]


def _rule_value(expression: typing.Any, values: dict[str, str]) -> typing.Any:
    """Evaluate the rule functions this template uses, as CloudFormation does before it creates anything."""
    if isinstance(expression, list):
        return [_rule_value(item, values) for item in expression]
    if not isinstance(expression, dict):
        return expression
    ((function, argument),) = expression.items()
    if function == "Ref":
        return values[argument]
    arguments = _rule_value(argument, values)
    match function:
        case "Fn::Not":
            return not arguments[0]
        case "Fn::And":
            return all(arguments)
        case "Fn::Equals":
            return arguments[0] == arguments[1]
        case "Fn::Contains":
            return arguments[1] in arguments[0]
    raise AssertionError(f"a rule function this test does not evaluate: {function}")


def _refused_by_rules(template: dict, values: dict[str, str]) -> list[str]:
    refused = []
    for rule in template["Rules"].values():
        if _rule_value(rule.get("RuleCondition", True), values):
            refused += [a["AssertDescription"] for a in rule["Assertions"] if not _rule_value(a["Assert"], values)]
    return refused


def test_moderating_workflows_deploy_only_where_rekognition_is(translated):
    ((regions, _region),) = [
        assertion["Assert"]["Fn::Contains"]
        for assertion in translated["Rules"]["ModerationNeedsRekognition"]["Assertions"]
    ]
    assert sorted(regions) == sorted(boto3.session.Session().get_available_regions("rekognition"))
    for region, version, refused in [
        ("us-east-1", "v4", False),
        ("eu-west-1", "v2", False),
        ("eu-west-3", "v4", True),  # Paris: no Rekognition
        ("eu-west-3", "v3", True),
        ("eu-west-3", "v1", False),  # no moderation, no Rekognition needed
    ]:
        values = {"AWS::Region": region, "WorkflowVersion": version} | dict.fromkeys(AUTH_PARAMETERS, "")
        found = _refused_by_rules(translated, values)
        assert bool(found) == refused, (region, version)
        assert all("WorkflowVersion v1" in description for description in found)


AUTH0 = "https://tenant.eu.auth0.com/"


@pytest.mark.parametrize(
    ("issuer", "client_id", "audience", "refused"),
    [
        ("", "", "", False),
        (AUTH0, "spa", "https://api.example", False),
        (AUTH0, "spa", "", False),
        (AUTH0, "", "spa", False),  # as deployed before AuthClientId: AuthAudience named the client
        (AUTH0, "", "", True),
    ],
)
def test_another_issuer_is_refused_without_its_client(translated, issuer, client_id, audience, refused):
    values = {"AWS::Region": "us-east-1", "WorkflowVersion": "v4"} | dict(
        zip(AUTH_PARAMETERS, (issuer, client_id, audience), strict=True)
    )
    found = _refused_by_rules(translated, values)
    assert bool(found) == refused
    assert all("AuthClientId" in description for description in found)


def _jwt_audience(stack) -> list[str]:
    schemes = stack.resources["HttpApi"]["Properties"]["Body"]["components"]["securitySchemes"]
    return schemes["JwtAuthorizer"]["x-amazon-apigateway-authorizer"]["jwtConfiguration"]["audience"]


@pytest.mark.parametrize(
    ("client_id", "audience", "api_requires", "asks_for"),
    [
        ("web", "", "web", None),  # tokens that name the client (Keycloak with an audience mapper)
        ("", "web", "web", None),  # as deployed before AuthClientId
        ("web", "https://api.example", "https://api.example", "https://api.example"),  # Auth0: the API's own
    ],
)
def test_another_issuer_signs_in_with_its_client_and_the_api_requires_its_audience(
    client_id, audience, api_requires, asks_for
):
    stack = load_stack({"AuthIssuerUrl": AUTH0, "AuthClientId": client_id, "AuthAudience": audience}, URLS)
    assert stack.output("AuthClientId") == "web"
    assert _jwt_audience(stack) == [api_requires]
    assert (stack.output("AuthAudience") if "AuthAudience" in stack.outputs else None) == asks_for


def test_cognito_tokens_name_the_pools_client():
    stack = load_stack({"AuthClientId": "ignored", "AuthAudience": "ignored"}, URLS)
    assert _jwt_audience(stack) == [stack.physical_ids["UserPoolClient"]] == [stack.output("AuthClientId")]
    assert "AuthAudience" not in stack.outputs


def test_a_task_waits_longer_than_its_function_may_run(translated):
    """A task that times out before its function (plus Lambda's cold start) starts a second run while the first
    still works, and reports a timeout for a step that was about to succeed."""
    resources = translated["Resources"]
    for asl_file in ASL_FILES:
        states = json.loads(asl_file.read_text())["States"]
        for name, state in states.items():
            function = re.fullmatch(r"\$\{(\w+)Arn\}", state.get("Resource", ""))
            if function:
                timeout = resources[function.group(1)]["Properties"]["Timeout"]
                assert state["TimeoutSeconds"] >= timeout + 10, (asl_file.name, name, timeout)


def worst_case_s(config: typing.Any) -> float:
    """The longest a call with a client's `config` can take before it fails: every attempt waits for its full
    connect and read timeouts, with standard retry mode's longest backoff (2^(n-1) s before retry n) between."""
    attempts = config.retries["total_max_attempts"]
    backoff = sum(2 ** (retry - 1) for retry in range(1, attempts))
    return attempts * (config.connect_timeout + config.read_timeout) + backoff


def test_every_aws_call_gives_up_before_its_function_times_out(translated, monkeypatch):
    """A call that outlasts its invocation is never retried or reported: the function just times out."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.reset_clients()
    functions = {
        name: resource["Properties"]
        for name, resource in translated["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Function"
    }
    shortest = min(properties["Timeout"] for properties in functions.values())
    for client in (aws.s3(), aws.dynamodb().meta.client, aws.events(), aws.cloudfront()):
        assert worst_case_s(client.meta.config) < shortest, client.meta.service_model.service_name
    objects = SimpleNamespace(  # S3 object calls without boto3, configured as its clients are
        retries={"total_max_attempts": s3_objects.MAX_ATTEMPTS},
        connect_timeout=s3_objects.CONNECT_TIMEOUT_S,
        read_timeout=s3_objects.READ_TIMEOUT_S,
    )
    assert worst_case_s(objects) < shortest
    # Moderation reads its image, then asks Rekognition up to twice (moderation labels, then people at a restaurant).
    moderation_timeout = functions["ModerateFunction"]["Timeout"]
    assert worst_case_s(objects) + 2 * worst_case_s(aws.rekognition().meta.config) < moderation_timeout
    aws.reset_clients()


def test_the_api_keeps_its_idempotent_answers_in_their_own_table_until_they_expire(translated):
    resources = translated["Resources"]
    table = resources["IdempotencyTable"]["Properties"]
    # Powertools' DynamoDB persistence layer: its key and expiry attributes, by default.
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    environment = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["IDEMPOTENCY_TABLE"] == {"Ref": "IdempotencyTable"}
    statements = resources["ApiFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    (allowed,) = [s for s in statements if s["Resource"] == {"Fn::GetAtt": ["IdempotencyTable", "Arn"]}]
    assert sorted(allowed["Action"]) == [
        "dynamodb:DeleteItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
    ]
    # Browsers may send the header to the API from the web app's origin.
    cors = resources["HttpApi"]["Properties"]["Body"]["x-amazon-apigateway-cors"]
    assert "idempotency-key" in cors["allowHeaders"]


def test_the_daily_quotas_reach_the_api_and_their_counters_expire(translated):
    resources = translated["Resources"]
    environment = resources["ApiFunction"]["Properties"]["Environment"]["Variables"]
    assert environment["DAILY_UPLOADS_PER_USER"] == {"Ref": "DailyUploadsPerUser"}
    assert environment["DAILY_PLACES_PER_USER"] == {"Ref": "DailyPlacesPerUser"}
    ttl = resources["Table"]["Properties"]["TimeToLiveSpecification"]
    assert ttl == {"AttributeName": keys.DELETE_AFTER, "Enabled": True}
    # An upload that was not published is forgotten as its original is.
    rules = resources["UploadBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (originals,) = [
        rule for rule in rules if rule.get("Prefix") == keys.upload_object_key("p", "u").split("/")[0] + "/"
    ]
    assert originals["ExpirationInDays"] == limits.UNPUBLISHED_KEPT_DAYS
    # The API may update the counters' items and no other (its policy's condition on the partition key).
    statements = resources["ApiFunctionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    table = {"Fn::GetAtt": ["Table", "Arn"]}
    (update,) = [s for s in statements if "dynamodb:UpdateItem" in s["Action"] and s["Resource"] == table]
    (pattern,) = update["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert fnmatchcase(keys.quota_key("a-subject", "2026-12-03")[keys.PK], pattern)  # IAM's wildcards, as fnmatch's
    assert not fnmatchcase(keys.upload_key("u1")[keys.PK], pattern)
    # It may put and delete places, their photos and uploads, and not the counters.
    (writes,) = [s for s in statements if "dynamodb:PutItem" in s["Action"] and s["Resource"] == table]
    assert sorted(writes["Action"]) == ["dynamodb:DeleteItem", "dynamodb:PutItem"]
    patterns = writes["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    written = [keys.place_key("p1")[keys.PK], keys.upload_key("u1")[keys.PK]]
    assert all(any(fnmatchcase(key, p) for p in patterns) for key in written)
    counter = keys.quota_key("a-subject", "2026-12-03")[keys.PK]
    assert not any(fnmatchcase(counter, p) for p in patterns)


LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
}


def test_every_workflow_logs_its_failures_to_a_group_with_a_retention(translated):
    resources = translated["Resources"]
    machines = {name: r for name, r in resources.items() if r["Type"] == "AWS::StepFunctions::StateMachine"}
    assert len(machines) == 4
    for name, machine in machines.items():
        logging = machine["Properties"]["LoggingConfiguration"]
        assert (logging["Level"], logging["IncludeExecutionData"]) == ("ERROR", False), name
        (destination,) = logging["Destinations"]
        assert destination["CloudWatchLogsLogGroup"]["LogGroupArn"] == {"Fn::GetAtt": ["WorkflowLogGroup", "Arn"]}
    assert resources["WorkflowLogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    statements = resources["WorkflowRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    logs = [s for s in statements if any(a.startswith("logs:") for a in s["Action"])]
    assert [(set(s["Action"]), s["Resource"]) for s in logs] == [(LOG_DELIVERY_ACTIONS, "*")]


def test_only_this_accounts_state_machines_may_take_the_workflow_role(translated):
    (statement,) = translated["Resources"]["WorkflowRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "states.amazonaws.com"}
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {"Fn::Sub": "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:stateMachine:*"}
        },
    }


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=lambda p: p.stem)
def test_resize_decodes_the_whole_image_itself_only_where_no_step_did_before(asl_file):
    # v2's moderation and v3-v4's check decode it whole (a second decode would cost every photo CPU); v1 has
    # neither, and the resizer alone decodes only what its reduced sizes need.
    states = json.loads(asl_file.read_text())["States"]
    decoded_before = "CheckImage" in states or "Moderate" in states
    assert states["Resize"]["Parameters"] == {"upload.$": "$.detail", "checked": decoded_before}
