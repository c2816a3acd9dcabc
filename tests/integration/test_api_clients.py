"""What the README gives API users, run against the local runtime as they run it: the curl session (bash,
curl, jq) and the Postman collection (newman, Postman's own runner, with the local environment)."""

import json
import re
import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from happypath_testkit.runtime import ROOT, RunningApp, start_app

from happypath_local.client import LocalClient

POSTMAN = ROOT / "postman"
NEWMAN = POSTMAN / "node_modules" / ".bin" / "newman"


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("api-clients")
    app = start_app(folder / "data", folder / "server.log", "--fresh", "--no-persist")
    yield app
    assert app.stop() == 0, app.log()[-5000:]


def run_collection(
    app: RunningApp,
    photo: Path | None,
    tmp_path: Path,
    succeeds: bool = True,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> dict:
    """Runs the collection with `photo` chosen in the upload request, as a user picks a file in Postman (None:
    as it is committed, no file chosen), after `edit` (of its JSON), if any; returns newman's JSON report."""
    assert NEWMAN.exists(), "newman is not installed: run `make postman/node_modules/.installed` (make test does)"
    collection = json.loads((POSTMAN / "happy-path.postman_collection.json").read_text())
    (upload,) = [item for item in collection["item"] if item["name"].startswith("Upload the photo")]
    (file_row,) = [row for row in upload["request"]["body"]["formdata"] if row["type"] == "file"]
    if photo is not None:
        file_row["src"] = str(photo)
    if edit is not None:
        edit(collection)
    chosen = tmp_path / "collection.json"
    chosen.write_text(json.dumps(collection))
    report = tmp_path / "report.json"
    ran = subprocess.run(
        [
            str(NEWMAN),
            "run",
            str(chosen),
            "--environment",
            str(POSTMAN / "local.postman_environment.json"),
            # The local environment names the default ports; the test's app runs on free ones.
            "--env-var",
            f"apiUrl={app.api_url}",
            "--env-var",
            f"authority={app.app_url}/auth",
            "--env-var",
            f"username=postman-{uuid.uuid4().hex[:8]}@happypath.local",
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert (ran.returncode == 0) == succeeds, ran.stdout[-8000:] + ran.stderr[-2000:]
    return json.loads(report.read_text())


def test_the_collection_runs_the_whole_upload_flow_against_the_local_runtime(
    local_app: RunningApp, photos: Path, tmp_path: Path
):
    report = run_collection(local_app, photos / "jolla.jpg", tmp_path)
    run = report["run"]
    assert run["failures"] == []
    sent = [execution["item"]["name"] for execution in run["executions"]]
    collection = json.loads((POSTMAN / "happy-path.postman_collection.json").read_text())
    # Every request was sent, but the next page of a place with one photo: skipped, as there is none.
    assert set(sent) == {item["name"] for item in collection["item"]} - {"Next page of photos"}
    passed = {
        (execution["item"]["name"], assertion["assertion"])
        for execution in run["executions"]
        for assertion in execution.get("assertions", [])
        if "error" not in assertion
    }
    for step, check in [
        ("Upload the photo to storage (presigned POST)", "stored"),
        ("Upload status (poll until final)", "published (the next requests need it)"),
        ("Get a photo by its id", "the published photo, with its place"),
        ("Which photos are mine", "the published photo is mine"),
        ("Delete my photo", "deleted"),
    ]:
        assert (step, check) in passed
    assert run["stats"]["assertions"]["failed"] == 0


def test_the_collection_pages_through_a_place_s_photos_while_a_page_gives_a_cursor(
    local_app: RunningApp, photos: Path, tmp_path: Path
):
    """The flow's place has one photo, so its "Next page of photos" is skipped: here it is sent, from the cursor
    of a first page of one photo (the place has two), as a user sends it after "Get a place"."""
    client = LocalClient(local_app.app_url)
    client.sign_in(f"pages-{uuid.uuid4().hex[:8]}")
    place = client.call("POST", "/places", json={"name": "Two Photo Park", "type": "park", "lat": 51.5, "lng": -0.1})
    for name in ("jolla.jpg", "HMD_Nokia_8.3_5G.jpg"):
        assert client.wait(client.upload(place["placeId"], photos / name))["status"] == "PROCESSED"
    first = client.call("GET", f"/places/{place['placeId']}/photos", params={"limit": 1})
    assert first["nextCursor"]

    def next_page_only(collection: dict[str, Any]) -> None:
        sent = ("Sign in (local runtime only)", "Next page of photos")
        collection["item"] = [item for item in collection["item"] if item["name"] in sent]
        for variable in collection["variable"]:
            variable["value"] = {"placeId": place["placeId"], "cursor": first["nextCursor"]}.get(
                variable["key"], variable["value"]
            )

    run = run_collection(local_app, None, tmp_path, edit=next_page_only)["run"]
    assert [execution["item"]["name"] for execution in run["executions"]] == [
        "Sign in (local runtime only)",
        "Next page of photos",
    ]
    (paged,) = [execution for execution in run["executions"] if execution["item"]["name"] == "Next page of photos"]
    assert [(a["assertion"], "error" in a) for a in paged["assertions"]] == [("a page", False)]
    # The page after the first: the other photo, and no page after it.
    page = json.loads(bytes(paged["response"]["stream"]["data"]))
    assert [photo["photoId"] for photo in page["photos"]] != [first["photos"][0]["photoId"]]
    assert (len(page["photos"]), page["nextCursor"]) == (1, None)


def test_the_collection_stops_at_an_upload_storage_refused_and_says_why(local_app: RunningApp, tmp_path: Path):
    """Run with no file chosen, the upload fails: the run ends there, with the storage's reason, rather than
    asking for the status of a photo that never arrived for two minutes and failing every request after it."""
    report = run_collection(local_app, None, tmp_path, succeeds=False)
    run = report["run"]
    sent = [execution["item"]["name"] for execution in run["executions"]]
    assert sent[-1] == "Upload the photo to storage (presigned POST)", sent
    (failure,) = run["failures"]
    assert failure["error"]["test"] == "stored"
    assert "is a file chosen in the file row" in failure["error"]["message"]
    assert "<Error><Code>EntityTooSmall</Code>" in failure["error"]["message"]  # newman sends an empty file


def readme_curl_session() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Use the API with curl") :]
    return section[section.index("```bash\n") + len("```bash\n") : section.index("```\n", section.index("```bash"))]


def test_the_readme_s_curl_session_uploads_sees_and_deletes_a_photo(local_app: RunningApp):
    for tool in ("curl", "jq"):
        assert shutil.which(tool), f"{tool} is not installed (.ci/run installs it)"
    session = readme_curl_session()
    # The README names the default ports and user; the test's app runs on free ones, for a user of its own.
    session = session.replace("http://127.0.0.1:8081", local_app.api_url).replace(
        "http://127.0.0.1:8080", local_app.app_url
    )
    session = session.replace("username=alice", f"username=curl-{uuid.uuid4().hex[:8]}")
    ran = subprocess.run(
        [shutil.which("bash") or "/bin/bash", "-euo", "pipefail", "-c", session],
        cwd=ROOT,  # PHOTO is ../shared/photos/jolla.jpg
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    lines = ran.stdout.splitlines()
    assert lines.count("204") == 2, ran.stdout  # stored, then deleted
    assert '"PROCESSED"' in lines, ran.stdout  # the verdict
    tile = re.search(r'"jpeg": "(http[^"]+/tile\.jpg)"', ran.stdout)
    assert tile, ran.stdout  # the published renditions' URLs, shown before the delete
    assert f'"{tile[1].removesuffix("/tile.jpg")}/scaled.jpg"' in lines, ran.stdout  # GET /photos/{id}
    assert requests.get(tile[1], timeout=10).status_code == 404  # deleted with the photo
