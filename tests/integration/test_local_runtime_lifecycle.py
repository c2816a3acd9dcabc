"""Starting, stopping and restarting the local runtime; moderation without the models; hot reload."""

import io
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from happypath_testkit import runtime
from happypath_testkit.runtime import ROOT, RunningApp, start_app

from happypath_local.client import LocalClient


def test_data_survives_a_restart_and_ctrl_c_stops_cleanly(tmp_path: Path, photos: Path):
    data = tmp_path / "data"
    first = start_app(data, tmp_path / "first.log", "--fresh")
    try:
        client = LocalClient(first.app_url)
        client.sign_in("carol")
        place = client.call(
            "POST", "/places", json={"name": "Holland Park", "type": "park", "lat": 51.5031, "lng": -0.2039}
        )
        upload_id = client.upload(place["placeId"], photos / "Reconyx_HC500_Hyperfire.jpg")
        verdict = client.wait(upload_id)
        assert verdict["status"] == "PROCESSED"
        tile_url = verdict["photo"]["renditions"]["tile"]["webp"]
    finally:
        assert first.stop() == 0, first.log()
    assert "Stopping: saving data" in first.log()

    second = start_app(data, tmp_path / "second.log", port=first.port)
    try:
        client = LocalClient(second.app_url)
        client.sign_in("carol")  # the same name is the same user
        again = client.call("GET", f"/places/{place['placeId']}")
        assert [p["photoId"] for p in again["photos"]] == [upload_id]
        assert client.call("GET", f"/uploads/{upload_id}")["status"] == "PROCESSED"
        assert requests.get(tile_url, timeout=5).status_code == 200
        # Restored objects were not processed a second time.
        assert requests.get(f"{second.app_url}/_local/executions", timeout=5).json()["executions"] == []
    finally:
        assert second.stop() == 0, second.log()


def test_without_the_models_moderation_is_a_named_pass_through(tmp_path: Path):
    app = start_app(tmp_path / "data", tmp_path / "server.log", "--moderation", "pass-through", "--no-persist")
    try:
        assert "Moderation PASS-THROUGH: nothing is moderated" in app.log()
        from PIL import Image

        client = LocalClient(app.app_url)
        client.sign_in("dave")
        bar = client.call(
            "POST", "/places", json={"name": "Lamb & Flag", "type": "bar", "lat": 51.5118, "lng": -0.1255}
        )
        picture = io.BytesIO()
        Image.new("RGB", (1000, 900), (120, 160, 200)).save(picture, "PNG")
        form = client.call(
            "POST",
            f"/places/{bar['placeId']}/uploads",
            json={"contentType": "image/png", "size": len(picture.getvalue())},
        )
        from happypath_local.client import post_form

        assert post_form(form["url"], form["fields"], "a.png", "image/png", picture.getvalue())[0] == 204
        assert client.wait(form["uploadId"])["status"] == "PROCESSED"
    finally:
        assert app.stop() == 0


def test_with_an_api_audience_the_api_takes_only_tokens_asked_for_it(tmp_path: Path):
    """`--parameter AuthAudience=...`: the local issuer answers as Auth0 does, and the API as API Gateway does."""
    audience = "https://api.happypath.test"
    app = start_app(
        tmp_path / "data", tmp_path / "server.log", "--no-persist", "--parameter", f"AuthAudience={audience}"
    )
    try:
        config = requests.get(f"{app.app_url}/config.json", timeout=10).json()
        assert config["auth"]["audience"] == audience  # the web app asks for it when signing in
        client = LocalClient(app.app_url)  # so do the command line's commands
        client.sign_in("erin")
        assert client.call("GET", "/photos/mine", params={"ids": "abc"}) == {"photoIds": []}
        form = {"grant_type": "password", "username": "erin", "client_id": config["auth"]["clientId"]}
        for_the_client = requests.post(f"{app.app_url}/auth/token", data=form, timeout=10).json()["access_token"]
        refused = requests.get(
            f"{app.api_url}/photos/mine",
            params={"ids": "abc"},
            headers={"Authorization": f"Bearer {for_the_client}"},
            timeout=10,
        )
        assert refused.status_code == 401  # its aud is the client, not the API
    finally:
        assert app.stop() == 0, app.log()


def test_handler_changes_take_effect_without_a_restart(tmp_path: Path):
    """Editing a handler changes what the running app answers, with no restart (on a copy of the project)."""
    project = tmp_path / "project"
    for source in ("local", "backend", "workflows", "statemachines"):
        shutil.copytree(ROOT / source, project / source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    shutil.copy(ROOT / "template.yaml", project)
    (project / "frontend" / "public").mkdir(parents=True)  # the web app's config.json: the local one is built on it
    shutil.copy(ROOT / "frontend" / "public" / "config.json", project / "frontend" / "public")
    app = start_app(
        tmp_path / "data", tmp_path / "server.log", "--no-persist", "--moderation", "pass-through", project=project
    )
    try:
        url = f"{app.api_url}/places/no-such-place"
        assert requests.get(url, timeout=30).json() == {"message": "place no-such-place not found"}
        handler = project / "backend" / "functions" / "happypath_backend" / "places.py"
        source = handler.read_text()
        assert source.count('f"place {place_id} not found"') == 2
        handler.write_text(source.replace('f"place {place_id} not found"', 'f"there is no place {place_id}"'))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = requests.get(url, timeout=30).json()
            if answer != {"message": "place no-such-place not found"}:
                break
            time.sleep(0.2)
        assert answer == {"message": "there is no place no-such-place"}
        assert "handler sources changed: reloaded" in app.log()
    finally:
        assert app.stop() == 0, app.log()
    assert not (tmp_path / "data").exists()  # --no-persist: not even the sign-in key is written


def test_uploads_in_flight_at_ctrl_c_finish_before_the_data_is_saved(tmp_path: Path, photos: Path):
    """Ctrl-C while photos are processed: the runtime stops taking requests, lets the workflows end, then saves;
    after a restart every upload is final and every published photo is listed."""
    # The offline models load on the first photo and check one photo at a time: the workflows are still
    # running when the stop begins, however fast the machine (and a cold first load may take long).
    first, place, upload_ids, code = _stopped_while_uploading(
        tmp_path, photos, "--moderation", "offline", "--stop-wait", "120"
    )
    assert code == 0, first.log()

    second = start_app(tmp_path / "data", tmp_path / "second.log", port=first.port)
    try:
        _assert_all_published(second, place["placeId"], upload_ids)
        # All had finished before the save: nothing to start again.
        assert requests.get(f"{second.app_url}/_local/executions", timeout=5).json()["executions"] == []
    finally:
        assert second.stop() == 0, second.log()
    assert re.search(r"waiting for .*workflow run", first.log()), first.log()[-3000:]  # they were in flight
    assert "Stopping: saving data" in first.log()
    assert "not waiting longer" not in first.log()


@pytest.mark.parametrize("cut_short_by", ["--stop-wait 0", "a second Ctrl-C"])
def test_uploads_a_stop_cut_short_are_processed_after_a_restart(tmp_path: Path, photos: Path, cut_short_by: str):
    """When a stop does not wait for them (`--stop-wait 0`, a second Ctrl-C, or a crash after a periodic save),
    uploads saved mid-workflow are sent through the workflow again at the next start, and published once."""
    twice = cut_short_by == "a second Ctrl-C"
    stop_wait = "600" if twice else "0"
    started = time.monotonic()
    first, place, upload_ids, code = _stopped_while_uploading(
        tmp_path, photos, "--moderation", "pass-through", "--stop-wait", stop_wait, twice=twice
    )
    assert code == 0, first.log()[-3000:]
    assert "not waiting longer" in first.log(), first.log()[-3000:]  # work was cut short
    assert time.monotonic() - started < 300  # not the 600 s wait

    second = start_app(tmp_path / "data", tmp_path / "second.log", "--moderation", "pass-through", port=first.port)
    try:
        _assert_all_published(second, place["placeId"], upload_ids)
        assert "uploads that were unfinished when the data was saved" in second.log()
    finally:
        assert second.stop() == 0, second.log()


def _stopped_while_uploading(
    tmp_path: Path, photos: Path, *options: str, twice: bool = False
) -> tuple[RunningApp, dict, list[str], int]:
    """A fresh app in tmp_path/data, stopped with Ctrl-C as soon as eight photos are uploaded at once (`twice`:
    and again once it says it waits); returns the app, its place, the upload ids and the exit code."""
    first = start_app(tmp_path / "data", tmp_path / "first.log", "--fresh", *options)
    try:
        client, place = _client_and_place(first)
        upload_ids = _upload_at_once(client, place["placeId"], photos)
        if twice:
            first.process.send_signal(signal.SIGINT)
            deadline = time.monotonic() + 60
            while "Ctrl-C again" not in first.log() and time.monotonic() < deadline:
                time.sleep(0.05)
    finally:
        code = first.stop(timeout_s=180)
    return first, place, upload_ids, code


def _client_and_place(app: RunningApp) -> tuple[LocalClient, dict]:
    client = LocalClient(app.app_url)
    client.sign_in("frank")
    place = client.call("POST", "/places", json={"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657})
    return client, place


def _upload_at_once(client: LocalClient, place_id: str, photos: Path) -> list[str]:
    sources = ["42_IndexError.jpg", "Reconyx_HC500_Hyperfire.jpg", "canon_hdr_NO.jpg", "jolla.jpg"] * 2
    with ThreadPoolExecutor(max_workers=len(sources)) as pool:
        return list(pool.map(lambda name: client.upload(place_id, photos / name), sources))


def _assert_all_published(app: RunningApp, place_id: str, upload_ids: list[str]) -> None:
    client = LocalClient(app.app_url)
    client.sign_in("frank")  # the same name is the same user
    deadline = time.monotonic() + 90
    verdicts = [client.wait(upload_id, timeout_s=max(0, deadline - time.monotonic())) for upload_id in upload_ids]
    assert [v["status"] for v in verdicts] == ["PROCESSED"] * len(upload_ids), verdicts
    listed = client.call("GET", f"/places/{place_id}/photos", params={"limit": 50})["photos"]
    assert sorted(photo["photoId"] for photo in listed) == sorted(upload_ids)  # each once
    for photo in listed:
        assert requests.get(photo["renditions"]["tile"]["webp"], timeout=5).status_code == 200


def test_a_data_folder_holding_other_files_is_refused_not_emptied(tmp_path: Path):
    (tmp_path / "notes.txt").write_text("mine")
    for fresh in ([], ["--fresh"]):
        refused = subprocess.run(
            [sys.executable, "-m", "happypath_local", "serve", "--data-dir", str(tmp_path), "--port", "9", *fresh],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            cwd=ROOT,
        )
        assert refused.returncode == 2
        assert f"--data-dir {tmp_path} holds files the local runtime did not write (notes.txt)" in refused.stderr
        assert "Traceback" not in refused.stderr + refused.stdout
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_port_taken_before_the_app_binds_it_is_a_clear_error_and_the_tests_pick_other_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    taken_base = runtime.free_port_block()
    free_base = runtime.free_port_block()
    while free_base <= taken_base + 1 < free_base + 3:  # a block of its own, clear of the taken port
        free_base = runtime.free_port_block()
    with socket.socket() as squatter:  # another program, on the block's API port
        squatter.bind(("127.0.0.1", taken_base + 1))
        squatter.listen()
        monkeypatch.setattr(runtime, "free_port_block", iter([taken_base, free_base]).__next__)
        app = start_app(tmp_path / "data", tmp_path / "server.log", "--no-persist", "--moderation", "pass-through")
        try:
            assert app.port == free_base
            assert requests.get(f"{app.app_url}/_local/health", timeout=5).ok
        finally:
            app.stop()
    # A port given is not replaced: the error names it, as a person starting the app on a taken port sees it.
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", free_base + 2))
        squatter.listen()
        with pytest.raises(RuntimeError, match=f"Port {free_base + 2} is in use by another program"):
            start_app(tmp_path / "data", tmp_path / "taken.log", "--no-persist", port=free_base)


def test_start_up_time_is_reported(tmp_path: Path):
    started = time.monotonic()
    app = start_app(tmp_path / "data", tmp_path / "server.log", "--no-persist", "--moderation", "pass-through")
    try:
        ready = time.monotonic() - started
        assert "started in" in app.log()
        print(f"\nlocal runtime: ready for requests {ready:.2f} s after launch")
    finally:
        app.stop()


@pytest.mark.parametrize(
    ("version", "states"),
    [
        ("v1", ["MarkProcessing", "Resize", "IsResizeAccepted", "Publish", "Published"]),
        (
            "v2",
            ["MarkProcessing", "Moderate", "IsModerationPassed", "Resize", "IsResizeAccepted", "Publish", "Published"],
        ),
        (
            "v3",
            [
                "MarkProcessing",
                "CheckImage",
                "IsImageAccepted",
                "Moderate",
                "IsModerationPassed",
                "Resize",
                "IsResizeAccepted",
                "Publish",
                "Published",
            ],
        ),
    ],
)
def test_earlier_workflow_versions_deploy_and_run(tmp_path: Path, photos: Path, version: str, states: list[str]):
    """The WorkflowVersion parameter swaps the business logic; the backend stays the same."""
    app = start_app(
        tmp_path / "data",
        tmp_path / "server.log",
        "--workflow",
        version,
        "--no-persist",
        "--moderation",
        "pass-through",
    )
    try:
        client = LocalClient(app.app_url)
        client.sign_in("erin")
        museum = client.call("POST", "/places", json={"name": "Tate", "type": "museum", "lat": 51.5076, "lng": -0.0994})
        accepted = client.wait(client.upload(museum["placeId"], photos / "jolla.jpg"))
        assert accepted["status"] == "PROCESSED"  # before v4, every place type takes photos
        small = client.wait(client.upload(museum["placeId"], photos / "DSCN0010.jpg"))
        assert (small["status"], small["reason"]) == (
            "REJECTED",
            "TOO_SMALL",
        )  # by the check, or by the resizer in v1/v2
        # A JPEG damaged inside its image data, every marker in place: refused by whichever step decodes it whole
        # (v3's check, v2's moderation, v1's resize), never published with grey bands.
        data = (photos / "jolla.jpg").read_bytes()
        scan = data.rindex(b"\xff\xda")
        cut = tmp_path / "cut.jpg"
        cut.write_bytes(data[: scan + (len(data) - scan) // 2] + b"\xff\xd9")
        damaged = client.wait(client.upload(museum["placeId"], cut))
        assert (damaged["status"], damaged["reason"]) == ("REJECTED", "DAMAGED")
        executions = requests.get(f"{app.app_url}/_local/executions", timeout=5).json()["executions"]
        ran = next(e for e in executions if e["uploadId"] == accepted["uploadId"])
        assert ran["states"] == states
    finally:
        assert app.stop() == 0


def test_the_command_line_seeds_places_and_uploads_with_progress(tmp_path: Path, photos: Path):
    app = start_app(tmp_path / "data", tmp_path / "server.log", "--no-persist", "--moderation", "pass-through")
    try:
        command = [sys.executable, "-m", "happypath_local"]
        seeded = subprocess.run(
            [*command, "seed", "--app", app.app_url], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
        )
        assert seeded.stdout.count("created") == 10
        again = subprocess.run(
            [*command, "seed", "--app", app.app_url], capture_output=True, text=True, timeout=120, check=True, cwd=ROOT
        )
        assert again.stdout.count("exists") == 10  # seeding twice creates nothing twice
        hyde = requests.get(f"{app.api_url}/places", params={"lat": 51.5073, "lng": -0.1657, "radius": 50}, timeout=5)
        place_id = next(p["place"]["placeId"] for p in hyde.json()["places"] if p["place"]["name"] == "Hyde Park")
        uploaded = subprocess.run(
            [
                *command,
                "upload",
                "--app",
                app.app_url,
                "--place",
                place_id,
                str(photos / "jolla.jpg"),
                str(photos / "DSCN0010.jpg"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            cwd=ROOT,
        )
        assert uploaded.returncode == 1  # one of the two was rejected
        assert "100%" in uploaded.stdout
        assert "PROCESSED" in uploaded.stdout
        assert "REJECTED TOO_SMALL" in uploaded.stdout
        listing = subprocess.run(
            [*command, "executions", "--app", app.app_url],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
            cwd=ROOT,
        )
        assert "MarkProcessing > CheckImage" in listing.stdout
    finally:
        assert app.stop() == 0
