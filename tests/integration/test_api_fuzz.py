"""Schemathesis (v4) against the running local runtime: every operation of docs/openapi.json, over HTTP.

One local runtime for the module (`python -m happypath_local serve --fresh --no-persist --moderation
pass-through`). A user signs in with the local issuer; a place, a pending upload and a published photo are
made first, so that path parameters sometimes name something real (the rest of the time schemathesis's own
values are sent, valid and invalid ones: positive and negative generation, plus its coverage phase).

What must hold for every request:
- signed in: no 5xx, ever; every 4xx is a JSON object with a string `message` (API Gateway's own 401, 404
  and 429 included); every status code, content type and response body is one the document declares;
- without a token, or with a tampered one, on a protected route: exactly 401 (never 5xx, never a 2xx).
schemathesis's data acceptance checks run too; what they find is printed at the end, not failed on (the
API refuses some schema-valid requests on purpose, e.g. a wide search around a pole): see the summary.

Bounded and deterministic: MAX_EXAMPLES per operation and mode, `deterministic=True` (Hypothesis
`derandomize`), no example database. The stage throttle (50 requests/s, burst 100, from template.yaml)
answers 429 to a fast client: those requests are sent again after a pause, and counted apart.
The request count and the status distribution are printed at the end of the module (also without -s).
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
import schemathesis
from happypath_testkit.runtime import ROOT, RunningApp, start_app
from requests.structures import CaseInsensitiveDict
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi import checks as openapi_checks

from happypath_backend import idempotency
from happypath_local.client import FINAL, LocalClient

OPENAPI = ROOT / "docs" / "openapi.json"
MAX_EXAMPLES = 50
"""Per operation and generation mode (the coverage phase adds its own cases)."""
THROTTLE_RETRIES = 50

# Signed in, every response must conform to the document (the 4xx-body property is asserted directly).
CONFORMANCE_CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]
# Checks reported but not failed on.
REPORTED_CHECKS = [
    openapi_checks.negative_data_rejection,
    openapi_checks.positive_data_acceptance,
]


# --- statistics ----------------------------------------------------------------------------------------


class Stats:
    def __init__(self) -> None:
        self.statuses: dict[str, Counter[int]] = defaultdict(Counter)
        self.by_operation: dict[str, Counter[int]] = defaultdict(Counter)
        self.throttled: Counter[str] = Counter()
        self.findings: dict[str, Counter[str]] = defaultdict(Counter)
        self.examples: dict[tuple[str, str], str] = {}
        self.elapsed: dict[str, float] = defaultdict(float)

    def record(self, run: str, case: schemathesis.Case, status: int) -> None:
        self.statuses[run][status] += 1
        self.by_operation[f"{run:<13} {case.operation.label}"][status] += 1

    def finding(self, run: str, case: schemathesis.Case, check: str, detail: str) -> None:
        key = f"{case.operation.label}: {check}"
        self.findings[run][key] += 1
        self.examples.setdefault((run, key), detail)

    def report(self) -> str:
        lines = ["", "=== API fuzzing (schemathesis) against the local runtime ==="]
        for run, counter in self.statuses.items():
            total = sum(counter.values())
            shown = ", ".join(f"{status}: {count}" for status, count in sorted(counter.items()))
            lines.append(
                f"{run}: {total} requests in {self.elapsed[run]:.1f} s (+{self.throttled[run]} throttled with 429 "
                f"and sent again); status codes {shown}"
            )
        lines.append("per operation:")
        lines += [
            f"  {name:<52} {sum(c.values()):>5}  " + ", ".join(f"{s}: {n}" for s, n in sorted(c.items()))
            for name, c in sorted(self.by_operation.items())
        ]
        for run, findings in self.findings.items():
            lines.append(f"other schemathesis checks ({run}, reported, not failed on):")
            for key, count in sorted(findings.items()):
                lines.append(f"  {count:>4} x {key}")
                lines.append(f"         e.g. {self.examples[(run, key)]}")
        return "\n".join(lines)


STATS = Stats()


@pytest.fixture(scope="module", autouse=True)
def _print_summary(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    capture = request.config.pluginmanager.getplugin("capturemanager")
    if capture is None:
        print(STATS.report())
        return
    with capture.global_and_fixture_disabled():
        print(STATS.report(), flush=True)


# --- the running app and real resources ------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    folder = tmp_path_factory.mktemp("api-fuzz")
    app = start_app(folder / "data", folder / "server.log", "--fresh", "--no-persist", "--moderation", "pass-through")
    yield app
    assert app.stop() == 0, app.log()[-5000:]


@pytest.fixture(scope="module")
def alice(local_app: RunningApp) -> LocalClient:
    client = LocalClient(local_app.app_url)
    client.sign_in("fuzz-alice@example.com")
    return client


@pytest.fixture(scope="module")
def real_ids(local_app: RunningApp, alice: LocalClient, photos: Path) -> dict[str, list[str]]:
    """A place, a pending upload and published photos of this user, and another user's upload (403):
    path parameters that exist."""
    place = alice.call("POST", "/places", json={"name": "Fuzz Park", "type": "park", "lat": 51.5073, "lng": -0.1657})
    form = {"contentType": "image/jpeg", "size": 1000}
    pending = alice.call("POST", f"/places/{place['placeId']}/uploads", json=form)
    bob = LocalClient(local_app.app_url)
    bob.sign_in("fuzz-bob@example.com")
    bobs = bob.call("POST", f"/places/{place['placeId']}/uploads", json=form)
    published = []
    for _ in range(3):
        upload_id = alice.upload(place["placeId"], photos / "Reconyx_HC500_Hyperfire.jpg")
        verdict = alice.wait(upload_id, timeout_s=120)
        assert verdict["status"] in FINAL
        assert verdict["status"] == "PROCESSED", verdict
        published.append(upload_id)
    # a cursor that belongs to the place's listing (3 photos, one per page)
    cursor = alice.call("GET", f"/places/{place['placeId']}/photos", params={"limit": 1})["nextCursor"]
    assert cursor
    return {
        "place_id": [place["placeId"]],
        "upload_id": [pending["uploadId"], bobs["uploadId"], *published],
        "photo_id": [*published, bobs["uploadId"], pending["uploadId"]],
        "cursor": [cursor],
    }


def _load_schema() -> Any:
    """docs/openapi.json as committed; the runtime's URL and the token are given per call."""
    schema = schemathesis.openapi.from_path(OPENAPI)
    schema.config.update(request_timeout=30)
    schema.config.generation.update(
        max_examples=MAX_EXAMPLES,
        deterministic=True,  # Hypothesis derandomize: the same requests on every run
        database="none",
        no_shrink=True,  # report the first failing request as found: shrinking slow failures takes minutes
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        with_security_parameters=False,  # the Authorization header is set here, per test
    )
    return schema


# (schemathesis.pytest.from_fixture would load the schema from a fixture, but schemathesis 4.32.5's lazy
# loader sets `request.node._nodeid`, which pytest 9 no longer has: the schema is a static file anyway.)
schema = _load_schema()
protected = schema.include(lambda ctx: bool(ctx.operation.definition.raw.get("security")))


# --- sending --------------------------------------------------------------------------------------------

_counter = Counter[str]()


ID = re.compile(r"^[a-z0-9][a-z0-9-]{2,63}$")


def use_real_ids(case: schemathesis.Case, real_ids: dict[str, list[str]], run: str) -> None:
    """Every other case names real resources (deterministically: by a per-run counter).

    Only values that are valid already are swapped (a valid id for another valid id, a string cursor for
    a real one), so that a negative case stays negative for schemathesis's checks."""
    _counter[run] += 1
    turn = _counter[run]
    _own_idempotency_key(case, turn)
    if turn % 2:
        return
    for name, value in (case.path_parameters or {}).items():
        if name in real_ids and isinstance(value, str) and ID.match(value):
            case.path_parameters[name] = real_ids[name][turn // 2 % len(real_ids[name])]
    if isinstance(case.query, dict) and isinstance(case.query.get("cursor"), str) and turn % 4 == 0:
        case.query["cursor"] = real_ids["cursor"][0]


def _own_idempotency_key(case: schemathesis.Case, turn: int) -> None:
    """A valid Idempotency-Key made the case's own: the few keys generated ("0", "!") would otherwise recur with
    other bodies, and the API rightly refuses a key reused for another request (422), so valid creates would
    rarely run. An invalid key stays as it is (a negative case)."""
    for name, key in (case.headers or {}).items():
        valid = isinstance(key, str) and re.match(idempotency.KEY_PATTERN, key) and len(key) < 240
        if name.lower() == "idempotency-key" and valid:
            case.headers[name] = f"{key}-{turn}"


def send(case: schemathesis.Case, run: str, **kwargs: Any) -> Any:
    """Call, and call again after a pause while API Gateway's stage throttle answers 429."""
    started = time.monotonic()
    try:
        for attempt in range(THROTTLE_RETRIES):
            response = case.call(**kwargs)
            if response.status_code != 429:
                return response
            STATS.throttled[run] += 1
            time.sleep(min(0.05 * (attempt + 1), 1.0))
        return response
    finally:
        STATS.elapsed[run] += time.monotonic() - started


def json_body(response: Any) -> Any:
    try:
        return json.loads(response.content or b"")
    except ValueError:
        return None


def assert_client_error_has_a_message(response: Any) -> None:
    if 400 <= response.status_code < 500:
        body = json_body(response)
        assert isinstance(body, dict), f"{response.status_code} without a JSON object body: {response.content[:300]!r}"
        assert isinstance(body.get("message"), str), f"{response.status_code} without a message: {body}"
        assert body["message"], f"{response.status_code} with an empty message"


def report_other_checks(case: schemathesis.Case, response: Any, run: str) -> None:
    for check in REPORTED_CHECKS:
        try:
            case.validate_response(response, checks=[check])
        except FailureGroup as group:
            for failure in group.exceptions:
                title = getattr(failure, "title", type(failure).__name__)
                message = " ".join(str(getattr(failure, "message", "")).split())
                query = f"?{urlencode(case.query, doseq=True)}" if isinstance(case.query, dict) and case.query else ""
                body = f" {json.dumps(case.body)[:80]}" if isinstance(case.body, dict | list) else ""
                sent = f"{case.method} {case.formatted_path}{query}{body}"
                STATS.finding(
                    run, case, f"{check.__name__}: {title}", f"{sent} -> {response.status_code}; {message}"[:300]
                )


# --- the tests ------------------------------------------------------------------------------------------


@schema.parametrize()
def test_signed_in_no_operation_answers_5xx_and_every_4xx_says_why(
    case: schemathesis.Case, real_ids: dict[str, list[str]], alice: LocalClient
) -> None:
    use_real_ids(case, real_ids, "signed in")
    response = send(case, "signed in", base_url=alice.api_url, headers={"Authorization": f"Bearer {alice.token}"})
    STATS.record("signed in", case, response.status_code)
    case.validate_response(response, checks=CONFORMANCE_CHECKS)
    assert response.status_code < 500
    assert_client_error_has_a_message(response)
    report_other_checks(case, response, "signed in")


def tampered(token: str) -> str:
    """The same claims with one bit of the signature flipped."""
    head, claims, signature = token.split(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[len(raw) // 2] ^= 0x01
    return f"{head}.{claims}.{base64.urlsafe_b64encode(bytes(raw)).decode().rstrip('=')}"


@protected.parametrize()
def test_without_a_valid_token_protected_routes_answer_401(
    case: schemathesis.Case, real_ids: dict[str, list[str]], alice: LocalClient, local_app: RunningApp
) -> None:
    use_real_ids(case, real_ids, "no token")
    turn = _counter["no token"]
    headers = CaseInsensitiveDict(case.headers or {})
    headers.pop("Authorization", None)
    if turn % 3 == 1:
        headers["Authorization"] = f"Bearer {tampered(alice.token)}"
    elif turn % 3 == 2:
        headers["Authorization"] = "Bearer not-a-jwt"
    case.headers = headers
    response = send(case, "no token", base_url=local_app.api_url)
    STATS.record("no token", case, response.status_code)
    assert response.status_code < 500, response.content[:300]
    assert_client_error_has_a_message(response)
    # API Gateway matches the route first (an unknown path is 404 before any authorizer), then authorizes.
    assert response.status_code in (401, 404), (response.status_code, response.content[:300])
    if response.status_code == 404:
        assert json_body(response) == {"message": "Not Found"}, "a 404 from the function: auth was skipped"
    else:
        challenge = (response.headers.get("www-authenticate") or [""])[0]  # schemathesis: lower-case, lists
        assert challenge.startswith("Bearer"), response.headers


def json_line(line: str) -> dict[str, Any]:
    try:
        entry = json.loads(line)
    except ValueError:
        return {}
    return entry if isinstance(entry, dict) else {}


def test_the_runtime_logged_no_unhandled_error(local_app: RunningApp) -> None:
    """Every unhandled handler exception is logged with its traceback: list what the fuzzing caused."""
    assert sum(STATS.statuses["signed in"].values()) > 0, "the fuzzing this checks did not run first"
    log = local_app.log()
    failures = Counter(
        f"{function}: {exception}"
        for function, exception in re.findall(
            r"ERROR (happypath-\w+) failed: Traceback \(most recent call last\):\n(?:[ \t].*\n)*(\S.*)", log
        )
    )
    entries = (json_line(line) for line in log.splitlines() if line.startswith("{") and '"level"' in line)
    failures.update(
        f"{entry.get('function_name')}: {entry.get('message')}"
        for entry in entries
        if entry.get("level") in ("ERROR", "CRITICAL")
    )
    assert not failures, "\n".join(f"{count} x {failure}" for failure, count in failures.most_common())
    requests.get(f"{local_app.app_url}/_local/health", timeout=5).raise_for_status()
