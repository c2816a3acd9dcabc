"""Starting, stopping and restarting the local runtime; moderation without the models; hot reload."""

import io
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import requests
from happypath_testkit.runtime import ROOT, start_app

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


def test_handler_changes_take_effect_without_a_restart(tmp_path: Path):
    """The Invoker drops the project's modules when a source file changes; the next call imports them anew."""
    script = textwrap.dedent(
        """
        import json, os, sys, time
        from happypath_local.stack import load_stack
        from happypath_local.functions import RELOAD_CHECK_EVERY_S, Invoker
        stack = load_stack({"AuthIssuerUrl": "http://127.0.0.1:9/auth", "AuthAudience": "x"},
                           {"distribution_host": "127.0.0.1:9/cdn", "api": "http://127.0.0.1:9"})
        invoker = Invoker(stack.functions.values(), hot_reload=True)
        function = stack.functions["NotifierFunction"]
        first = invoker.handler_for(function)
        assert not invoker.reload_if_changed()
        source = sys.modules["happypath_backend.notifier"].__file__
        later = time.time() + 5
        os.utime(source, (later, later))
        time.sleep(RELOAD_CHECK_EVERY_S)  # sources are looked at twice a second at most
        assert invoker.reload_if_changed()
        assert "happypath_backend.notifier" not in sys.modules
        second = invoker.handler_for(function)
        assert second is not first
        print("reloaded")
        """
    )
    source = ROOT / "backend" / "functions" / "happypath_backend" / "notifier.py"
    before = source.stat()
    try:
        result = subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            env=os.environ | {"AWS_DEFAULT_REGION": "us-east-1"},
        )
    finally:
        os.utime(source, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "reloaded"


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
        ("v1", ["MarkProcessing", "Resize", "ResizeAccepted", "Publish", "Published"]),
        ("v2", ["MarkProcessing", "Moderate", "ModerationPassed", "Resize", "ResizeAccepted", "Publish", "Published"]),
        (
            "v3",
            [
                "MarkProcessing",
                "CheckImage",
                "ImageAccepted",
                "Moderate",
                "ModerationPassed",
                "Resize",
                "ResizeAccepted",
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
