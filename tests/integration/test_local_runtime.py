"""The local runtime over real HTTP only, as curl or a browser would use it.

One app is started for the module (`python -m happypath_local serve` on free ports, offline moderation);
tests sign in with the local issuer, call the API, upload real photos to the S3 endpoint and wait on the
status endpoint, then fetch what was published from the local CloudFront.
"""

import base64
import hashlib
import http.client
import io
import json
import re
import secrets
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import jwt
import pytest
import requests
import skimage
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError
from cryptography.hazmat.primitives.asymmetric import rsa
from happypath_testkit.heic import damaged_tile
from happypath_testkit.runtime import MOTO_ACCESS_KEY, MOTO_SECRET_KEY, MOTO_SESSION_TOKEN, RunningApp, start_app
from PIL import Image

from happypath_local.client import ApiError, LocalClient, post_form
from happypath_local.server import LOCAL_CLIENT_ID

FINAL = {"PROCESSED", "REJECTED", "FAILED", "EXPIRED"}


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory):
    folder = tmp_path_factory.mktemp("local-app")
    app = start_app(folder / "data", folder / "server.log", "--moderation", "offline", "--fresh")
    print(f"\nlocal runtime started in {app.startup_s:.2f} s (ports {app.port}-{app.port + 2})")
    yield app
    assert app.stop() == 0, app.log()


@pytest.fixture(scope="module")
def alice(local_app: RunningApp) -> LocalClient:
    client = LocalClient(local_app.app_url)
    client.sign_in("alice@example.com")
    return client


@pytest.fixture(scope="module")
def park(alice: LocalClient) -> dict:
    return alice.call("POST", "/places", json={"name": "Hyde Park", "type": "park", "lat": 51.5073, "lng": -0.1657})


def person_photo() -> bytes:
    """Eileen Collins (NASA, public domain) from scikit-image's wheel, enlarged past the 800 px minimum."""
    source = Path(skimage.__file__).parent / "data" / "astronaut.png"
    picture = Image.open(source).convert("RGB").resize((1024, 1024), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90)
    return out.getvalue()


def upload_bytes(client: LocalClient, place_id: str, data: bytes, content_type: str = "image/jpeg") -> str:
    form = client.call("POST", f"/places/{place_id}/uploads", json={"contentType": content_type, "size": len(data)})
    status, body = post_form(form["url"], form["fields"], "photo", content_type, data)
    assert status == 204, body
    return form["uploadId"]


# --- sign-in -----------------------------------------------------------------------------------------


def test_the_app_is_served_with_the_stack_s_security_headers(local_app: RunningApp):
    """As CloudFront adds them (WebAppHeaders), with the local API and S3 allowed to be called over http."""
    for path in ("/", "/places/some-place", "/config.json"):
        headers = requests.get(local_app.app_url + path, timeout=5).headers
        policy = {d.split()[0]: d.split()[1:] for d in headers["Content-Security-Policy"].split(";") if d.strip()}
        assert policy["script-src"] == ["'self'"], path
        assert policy["connect-src"] == ["'self'", "https:", local_app.api_url, local_app.s3_url], path
        assert (headers["X-Content-Type-Options"], headers["X-Frame-Options"]) == ("nosniff", "DENY"), path


def test_the_app_under_the_name_localhost_is_sent_to_its_origin(local_app: RunningApp):
    # Sign-in and CORS know one origin; under another name the page would load and its API calls fail.
    alias = local_app.app_url.replace("//127.0.0.1:", "//localhost:")
    assert alias != local_app.app_url
    for path in ("/", "/places/abc?x=1", "/auth/.well-known/openid-configuration"):
        answer = requests.get(alias + path, allow_redirects=False, timeout=5)
        assert answer.status_code == 308
        assert answer.headers["Location"] == local_app.app_url + path
    assert requests.get(alias + "/config.json", timeout=5).url == local_app.app_url + "/config.json"


def test_the_issuer_publishes_discovery_and_keys(local_app: RunningApp):
    discovery = requests.get(f"{local_app.app_url}/auth/.well-known/openid-configuration", timeout=5).json()
    assert discovery["issuer"] == f"{local_app.app_url}/auth"
    assert discovery["code_challenge_methods_supported"] == ["S256"]
    keys = requests.get(discovery["jwks_uri"], timeout=5).json()["keys"]
    assert keys[0]["kty"] == "RSA"
    assert keys[0]["alg"] == "RS256"


def test_browser_sign_in_is_authorization_code_with_pkce(local_app: RunningApp):
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    redirect_uri = f"{local_app.app_url}/callback"
    params = {
        "client_id": LOCAL_CLIENT_ID,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": "openid",
        "state": "xyz",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    page = requests.get(f"{local_app.app_url}/auth/authorize", params=params, timeout=5)
    assert page.status_code == 200
    assert 'name="username"' in page.text
    answer = requests.post(
        f"{local_app.app_url}/auth/authorize", data=params | {"username": "bob"}, allow_redirects=False, timeout=5
    )
    assert answer.status_code == 302
    location = urlsplit(answer.headers["Location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == redirect_uri
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    token_request = {
        "grant_type": "authorization_code",
        "code": query["code"][0],
        "client_id": LOCAL_CLIENT_ID,
        "redirect_uri": redirect_uri,
    }
    wrong = requests.post(f"{local_app.app_url}/auth/token", data=token_request | {"code_verifier": "wrong"}, timeout=5)
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    # The code was spent by the failed attempt, as OAuth requires: even the right verifier cannot use it now.
    spent = requests.post(
        f"{local_app.app_url}/auth/token", data=token_request | {"code_verifier": verifier}, timeout=5
    )
    assert (spent.status_code, spent.json()["error"]) == (400, "invalid_grant")
    answer = requests.post(
        f"{local_app.app_url}/auth/authorize", data=params | {"username": "bob"}, allow_redirects=False, timeout=5
    )
    token_request["code"] = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    tokens = requests.post(
        f"{local_app.app_url}/auth/token", data=token_request | {"code_verifier": verifier}, timeout=5
    )
    assert tokens.status_code == 200
    claims = jwt.decode(tokens.json()["access_token"], options={"verify_signature": False})
    assert claims["client_id"] == LOCAL_CLIENT_ID
    assert claims["iss"] == f"{local_app.app_url}/auth"
    bad_redirect = requests.get(
        f"{local_app.app_url}/auth/authorize", params=params | {"redirect_uri": "https://evil.example/cb"}, timeout=5
    )
    assert bad_redirect.status_code == 400


# --- places and uploads --------------------------------------------------------------------------------


def test_places_are_created_and_found_nearby(alice: LocalClient, park: dict):
    found = alice.call("GET", "/places", params={"lat": 51.5074, "lng": -0.1658, "radius": 500})
    assert park["placeId"] in [p["place"]["placeId"] for p in found["places"]]
    with pytest.raises(ApiError) as refused:
        alice.call("POST", "/places", json={"name": "", "type": "park", "lat": 0, "lng": 0})
    assert refused.value.status == 400
    assert "name" in refused.value.body["message"]


def test_a_12_megapixel_photo_is_published_and_served(
    local_app: RunningApp, alice: LocalClient, park: dict, photos: Path
):
    started = time.monotonic()
    upload_id = alice.upload(park["placeId"], photos / "42_IndexError.jpg")
    uploaded = time.monotonic()
    verdict = alice.wait(upload_id)
    published = time.monotonic()
    assert verdict["status"] == "PROCESSED", verdict
    print(f"\n12 MP photo: upload {uploaded - started:.2f} s, upload-to-PUBLISHED {published - uploaded:.2f} s")
    renditions = verdict["photo"]["renditions"]
    for name, size in (("tile", (400, 400)), ("scaled", (600, 450))):
        for fmt, pil_format in (("jpeg", "JPEG"), ("webp", "WEBP")):
            response = requests.get(renditions[name][fmt], timeout=5)
            assert response.status_code == 200
            assert response.headers["Cache-Control"].startswith("public")
            image = Image.open(io.BytesIO(response.content))
            assert (image.format, image.size) == (pil_format, size)
            assert not image.getexif()
    place = alice.call("GET", f"/places/{park['placeId']}")
    assert upload_id in [p["photoId"] for p in place["photos"]]


def test_a_12_megapixel_progressive_jpeg_is_published(alice: LocalClient, park: dict, photos: Path):
    """Editors save progressive JPEGs: the resize step decodes them with its own decoder (progressive_jpeg)."""
    with Image.open(photos / "42_IndexError.jpg") as photo:
        buffer = io.BytesIO()
        photo.save(buffer, "JPEG", quality=92, progressive=True, exif=photo.info["exif"])
    verdict = alice.wait(upload_bytes(alice, park["placeId"], buffer.getvalue(), "image/jpeg"))
    assert verdict["status"] == "PROCESSED", verdict
    scaled = requests.get(verdict["photo"]["renditions"]["scaled"]["webp"], timeout=5)
    assert Image.open(io.BytesIO(scaled.content)).size == (600, 450)


@pytest.mark.parametrize(("photo", "reason"), [("DSCN0010.jpg", "TOO_SMALL"), ("corrupted.jpg", "DAMAGED")])
def test_bad_photos_end_rejected_with_the_reason(alice: LocalClient, park: dict, photos: Path, photo: str, reason: str):
    verdict = alice.wait(alice.upload(park["placeId"], photos / photo))
    assert (verdict["status"], verdict["reason"]) == ("REJECTED", reason)
    assert verdict["reasonDetail"]
    # The workflow stamps a rejection with the state's entry time, in the same form as every other timestamp.
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", verdict["updatedAt"]), verdict["updatedAt"]
    assert verdict["updatedAt"] >= verdict["createdAt"]


def test_an_iphone_heic_photo_is_published(alice: LocalClient, park: dict, photos: Path):
    verdict = alice.wait(alice.upload(park["placeId"], photos / "iphone_13_pro_max.HEIC"))
    assert verdict["status"] == "PROCESSED", verdict


def test_an_iphone_heic_with_a_damaged_tile_is_rejected_as_damaged(alice: LocalClient, park: dict, photos: Path):
    """libheif would decode it, a smeared block and all: the check step's own HEVC decode finds the damage."""
    damaged, item_id = damaged_tile((photos / "iphone_13_pro_max.HEIC").read_bytes(), 30)
    verdict = alice.wait(upload_bytes(alice, park["placeId"], damaged, "image/heic"))
    assert (verdict["status"], verdict["reason"]) == ("REJECTED", "DAMAGED"), verdict
    assert verdict["reasonDetail"].startswith(f"corrupt HEVC image data: image item {item_id}: "), verdict


def test_a_restaurant_photo_with_people_is_rejected_by_offline_moderation(alice: LocalClient):
    restaurant = alice.call(
        "POST", "/places", json={"name": "Dishoom", "type": "restaurant", "lat": 51.5124, "lng": -0.1269}
    )
    verdict = alice.wait(upload_bytes(alice, restaurant["placeId"], person_photo()))
    assert (verdict["status"], verdict["reason"]) == ("REJECTED", "PEOPLE_NOT_ALLOWED")


def test_another_user_cannot_see_or_delete_my_upload(
    local_app: RunningApp, alice: LocalClient, park: dict, photos: Path
):
    upload_id = alice.upload(park["placeId"], photos / "Reconyx_HC500_Hyperfire.jpg")
    assert alice.wait(upload_id)["status"] == "PROCESSED"
    mallory = LocalClient(local_app.app_url)
    mallory.sign_in("mallory")
    for method, path in (("GET", f"/uploads/{upload_id}"), ("DELETE", f"/photos/{upload_id}")):
        with pytest.raises(ApiError) as refused:
            mallory.call(method, path)
        assert refused.value.status == 403
    alice.call("DELETE", f"/photos/{upload_id}")
    with pytest.raises(ApiError) as gone:
        alice.call("GET", f"/uploads/{upload_id}")
    assert gone.value.status == 404


# --- tokens -------------------------------------------------------------------------------------------


def _token(local_app: RunningApp, key=None, **overrides) -> str:
    from cryptography.hazmat.primitives import serialization

    signing_key = key or serialization.load_pem_private_key(
        (local_app.data_dir / "issuer-key.pem").read_bytes(), password=None
    )
    now = int(time.time())
    claims = {
        "iss": f"{local_app.app_url}/auth",
        "sub": "someone",
        "aud": LOCAL_CLIENT_ID,
        "client_id": LOCAL_CLIENT_ID,
        "iat": now,
        "exp": now + 600,
    } | overrides
    claims = {name: value for name, value in claims.items() if value is not None}  # None: leave the claim out
    return jwt.encode(claims, signing_key, algorithm="RS256", headers={"kid": "happypath-local-1"})


def test_forged_expired_and_misdirected_tokens_are_refused(local_app: RunningApp, park: dict):
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tokens = {
        "missing": None,
        "malformed": "not.a.jwt",
        "expired": _token(local_app, exp=int(time.time()) - 10),
        "never expiring": _token(local_app, exp=None),
        "wrongly signed": _token(local_app, key=other_key),
        "wrong issuer": _token(local_app, iss="https://issuer.example"),
        "wrong audience": _token(local_app, aud="someone-else", client_id="someone-else"),
    }
    some_id = "0" * 32
    protected = [
        ("POST", "/places", {"name": "X", "type": "park", "lat": 1, "lng": 1}),
        ("POST", f"/places/{park['placeId']}/uploads", {"contentType": "image/jpeg", "size": 10}),
        ("GET", f"/uploads/{some_id}", None),
        ("DELETE", f"/photos/{some_id}", None),
    ]
    url = f"{local_app.api_url}/places/{park['placeId']}/uploads"
    for method, path, body in protected:
        for name, token in tokens.items():
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = requests.request(method, f"{local_app.api_url}{path}", json=body, headers=headers, timeout=5)
            assert response.status_code == 401, (method, path, name)
            assert response.json() == {"message": "Unauthorized"}, (method, path, name)
    # A Cognito access token names its app client in client_id and has no aud: it is accepted too.
    for good_token in (_token(local_app), _token(local_app, aud=None)):
        good = requests.post(
            url,
            json={"contentType": "image/jpeg", "size": 10},
            headers={"Authorization": f"Bearer {good_token}"},
            timeout=5,
        )
        assert good.status_code == 201


# --- storage enforces the upload form -------------------------------------------------------------------


def _s3_error(status: int, body: bytes) -> tuple[int, str]:
    match = re.search(rb"<Code>(\w+)</Code>", body)
    return status, match.group(1).decode() if match else ""


def test_storage_refuses_tampered_expired_and_oversized_uploads(local_app: RunningApp, alice: LocalClient, park: dict):
    data = b"\xff\xd8" + b"x" * 998
    form = alice.call("POST", f"/places/{park['placeId']}/uploads", json={"contentType": "image/jpeg", "size": 1000})
    fields = form["fields"]
    # Signed with temporary credentials, as Lambda signs: the form carries their session token.
    assert fields["x-amz-security-token"] == MOTO_SESSION_TOKEN
    for token in ({}, {"x-amz-security-token": "forged"}):
        without = {k: v for k, v in fields.items() if k != "x-amz-security-token"} | token
        assert _s3_error(*post_form(form["url"], without, "a.jpg", "image/jpeg", data)) == (403, "InvalidToken")

    other_key = fields | {"key": fields["key"].rsplit("/", 1)[0] + "/someone-elses-upload"}
    assert _s3_error(*post_form(form["url"], other_key, "a.jpg", "image/jpeg", data)) == (403, "AccessDenied")
    other_type = fields | {"Content-Type": "image/png"}
    assert _s3_error(*post_form(form["url"], other_type, "a.png", "image/png", data)) == (403, "AccessDenied")
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["conditions"] = [
        c for c in policy["conditions"] if not (isinstance(c, list) and c[0] == "content-length-range")
    ]
    widened = fields | {"policy": base64.b64encode(json.dumps(policy).encode()).decode()}
    assert _s3_error(*post_form(form["url"], widened, "a.jpg", "image/jpeg", data)) == (403, "SignatureDoesNotMatch")
    extra_field = fields | {"x-amz-meta-owner": "mallory"}
    assert _s3_error(*post_form(form["url"], extra_field, "a.jpg", "image/jpeg", data)) == (403, "AccessDenied")
    assert _s3_error(*post_form(form["url"], fields, "a.jpg", "image/jpeg", data + b"!")) == (400, "EntityTooLarge")
    assert _s3_error(*post_form(form["url"], fields, "a.jpg", "image/jpeg", b"")) == (400, "EntityTooSmall")
    anonymous = {"key": fields["key"], "Content-Type": "image/jpeg"}
    assert _s3_error(*post_form(form["url"], anonymous, "a.jpg", "image/jpeg", data)) == (403, "AccessDenied")

    # A policy correctly signed with the app's own credentials, but expired.
    policy = json.loads(base64.b64decode(fields["policy"]))
    policy["expiration"] = "2020-01-01T00:00:00Z"
    encoded = base64.b64encode(json.dumps(policy).encode()).decode()
    _, date, region, service, _ = fields["x-amz-credential"].split("/")
    key = ("AWS4" + MOTO_SECRET_KEY).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac_sha256(key, part)
    expired = fields | {"policy": encoded, "x-amz-signature": hmac_sha256(key, encoded).hex()}
    assert _s3_error(*post_form(form["url"], expired, "a.jpg", "image/jpeg", data)) == (403, "AccessDenied")

    # The untouched form still works, once: S3 accepts it again until it expires, but the upload gets one verdict
    # (the second event finds it claimed).
    assert post_form(form["url"], fields, "a.jpg", "image/jpeg", data)[0] == 204
    verdict = alice.wait(form["uploadId"])
    assert verdict["status"] == "REJECTED"
    assert post_form(form["url"], fields, "a.jpg", "image/jpeg", data)[0] == 204
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        executions = requests.get(f"{local_app.app_url}/_local/executions?limit=100", timeout=30).json()["executions"]
        runs = [e for e in executions if e["uploadId"] == form["uploadId"]]
        if len(runs) == 2 and all(run["status"] != "RUNNING" for run in runs):
            break
        time.sleep(0.2)
    assert sorted(run["states"][-1] for run in runs) == ["AlreadyClaimed", "Rejected"]
    assert alice.wait(form["uploadId"]) == verdict


def _post_parts(url: str, parts: list[tuple[str, bytes]]) -> tuple[int, bytes]:
    """POST a form of exactly these parts, in this order (a part named "file" or after it carries a file)."""
    boundary = uuid.uuid4().hex
    body, file_seen = b"", False
    for name, value in parts:
        file_seen = file_seen or name == "file"
        filename = '; filename="a.jpg"\r\nContent-Type: image/jpeg' if file_seen and name in ("file", "other") else ""
        body += f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"{filename}\r\n\r\n'.encode()
        body += value + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    answer = requests.post(
        url, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}, timeout=30
    )
    return answer.status_code, answer.content


def test_storage_stores_the_key_and_file_it_checked_however_the_form_is_written(
    local_app: RunningApp, alice: LocalClient, park: dict
):
    """Fields repeated (in any case), fields and a second file after the file: the form's checks and the
    storage must read the same key and the same file, or a form could write another user's upload or a
    larger file than it allows."""
    data = b"\xff\xd8" + b"x" * 998
    form = alice.call("POST", f"/places/{park['placeId']}/uploads", json={"contentType": "image/jpeg", "size": 1000})
    fields = [(name, value.encode()) for name, value in form["fields"].items()]
    other_key = form["fields"]["key"].rsplit("/", 1)[0] + "/someone-elses-upload"
    bucket = urlsplit(form["url"]).path.strip("/") or urlsplit(form["url"]).hostname.split(".")[0]
    s3 = _s3_client(local_app, token=MOTO_SESSION_TOKEN)

    for repeated in (("key", other_key), ("KEY", other_key), ("Content-Type", "image/png")):
        status, body = _post_parts(form["url"], [(repeated[0], repeated[1].encode()), *fields, ("file", data)])
        assert _s3_error(status, body) == (400, "InvalidArgument")
        assert b"more than once" in body
    # (What follows the file fits the form's overhead: storage refuses a body far larger than the file allowed.)
    after = [("key", other_key.encode()), ("other", b"a larger file" * 20), ("file", b"a second file")]
    assert _post_parts(form["url"], [*fields, ("file", data), *after])[0] == 204  # S3 ignores what follows the file
    assert s3.get_object(Bucket=bucket, Key=form["fields"]["key"])["Body"].read() == data
    with pytest.raises(ClientError, match="NoSuchKey"):
        s3.get_object(Bucket=bucket, Key=other_key)
    # S3 takes its fields' names in any case: so does storage, and stores under the key the form gives.
    cased = [({"key": "Key", "Content-Type": "content-type"}.get(name, name), value) for name, value in fields]
    assert _post_parts(form["url"], [*cased, ("file", data[::-1])])[0] == 204
    stored = s3.get_object(Bucket=bucket, Key=form["fields"]["key"])
    assert (stored["Body"].read(), stored["ContentType"]) == (data[::-1], "image/jpeg")


def test_an_upload_larger_than_its_form_allows_is_refused_before_it_is_read(alice: LocalClient, park: dict):
    """The fields come first: from them and Content-Length, storage refuses 400 MB for a 1,000-byte form without
    reading (or holding) the file."""
    form = alice.call("POST", f"/places/{park['placeId']}/uploads", json={"contentType": "image/jpeg", "size": 1000})
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in form["fields"].items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()
    url = urlsplit(form["url"])
    connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=10)
    connection.putrequest("POST", url.path)
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + 400 * 1024 * 1024))
    connection.endheaders()
    connection.send(head)  # and no more: the answer must not wait for the rest
    response = connection.getresponse()
    assert _s3_error(response.status, response.read()) == (400, "EntityTooLarge")
    connection.close()


def _s3_client(app: RunningApp, key: str = MOTO_ACCESS_KEY, secret: str = MOTO_SECRET_KEY, token: str | None = None):
    return boto3.client(
        "s3",
        endpoint_url=app.s3_url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(signature_version="s3v4", retries={"max_attempts": 1}),
    )


def test_requests_signed_in_the_header_are_verified(local_app: RunningApp):
    """SDK and CLI requests carry their SigV4 signature in the Authorization header: S3 answers 403 to a wrong
    one, so does the local endpoint (it let every one through, and a malformed one made moto answer 500)."""
    bucket, key = "happypath-uploadbucket", "uploads/probe/header-signed"
    s3 = _s3_client(local_app, token=MOTO_SESSION_TOKEN)
    s3.put_object(Bucket=bucket, Key=key, Body=b"hello")
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"hello"

    impostors = {
        "unknown key": (_s3_client(local_app, key="nobody", token=MOTO_SESSION_TOKEN), "InvalidAccessKeyId"),
        "wrong secret": (_s3_client(local_app, secret="guessed", token=MOTO_SESSION_TOKEN), "SignatureDoesNotMatch"),
        "no session token": (_s3_client(local_app), "InvalidToken"),
        "forged token": (_s3_client(local_app, token="forged"), "InvalidToken"),
    }
    for name, (impostor, code) in impostors.items():
        calls = {
            "PUT": lambda c=impostor: c.put_object(Bucket=bucket, Key=key, Body=b"overwritten"),
            "GET": lambda c=impostor: c.get_object(Bucket=bucket, Key=key),
            "DELETE": lambda c=impostor: c.delete_object(Bucket=bucket, Key=key),
        }
        for method, call in calls.items():
            with pytest.raises(ClientError) as refused:
                call()
            error = refused.value.response
            assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (403, code), (name, method)

    url = f"{local_app.s3_url}/{bucket}/{key}"
    now = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    bogus = (
        f"AWS4-HMAC-SHA256 Credential=nobody/{now[:8]}/us-east-1/s3/aws4_request, "
        f"SignedHeaders=host;x-amz-date, Signature={'0' * 64}"
    )
    for authorization in (bogus, "AWS4-HMAC-SHA256 Credential=nobody/...", "AWS key:signature", "Bearer x"):
        for method in ("PUT", "GET", "DELETE"):
            answer = requests.request(
                method, url, data=b"x", headers={"Authorization": authorization, "X-Amz-Date": now}, timeout=5
            )
            assert answer.status_code == 403, (authorization, method, answer.text[:300])
            assert answer.headers["Content-Type"].startswith("application/xml")
            assert re.search(rb"<Code>\w+</Code>", answer.content)

    # A correctly signed request whose body was swapped on the way.
    signed = AWSRequest(
        method="PUT",
        url=url,
        data=b"signed body",
        headers={"X-Amz-Content-SHA256": hashlib.sha256(b"signed body").hexdigest()},
    )
    S3SigV4Auth(Credentials(MOTO_ACCESS_KEY, MOTO_SECRET_KEY, MOTO_SESSION_TOKEN), "s3", "us-east-1").add_auth(signed)
    swapped = requests.put(url, data=b"other body", headers=dict(signed.headers), timeout=5)
    assert _s3_error(swapped.status_code, swapped.content) == (400, "XAmzContentSHA256Mismatch")
    assert requests.put(url, data=b"signed body", headers=dict(signed.headers), timeout=5).status_code == 200

    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"signed body"  # no impostor got through
    s3.delete_object(Bucket=bucket, Key=key)


def hmac_sha256(key: bytes, message: str) -> bytes:
    import hmac

    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def test_query_signed_urls_are_checked_for_signature_and_expiry(local_app: RunningApp):
    s3 = _s3_client(local_app, token=MOTO_SESSION_TOKEN)
    bucket = "happypath-uploadbucket"
    s3.put_object(Bucket=bucket, Key="uploads/probe/object", Body=b"hello")
    params = {"Bucket": bucket, "Key": "uploads/probe/object"}
    short_lived = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=1)
    signed_at = time.monotonic()
    url = s3.generate_presigned_url("get_object", Params=params, ExpiresIn=300)
    assert requests.get(url, timeout=5).content == b"hello"
    assert requests.get(url.replace("?", "?&&", 1), timeout=5).content == b"hello"  # empty pairs are no parameters
    tampered = url.replace("uploads/probe/object", "uploads/probe/other")
    assert requests.get(tampered, timeout=5).status_code == 403
    assert requests.get(url.split("?")[0], timeout=5).status_code == 403  # no signature: the bucket is private
    time.sleep(max(0.0, signed_at + 2.5 - time.monotonic()))  # signing times are whole seconds
    expired = requests.get(short_lived, timeout=5)
    assert (expired.status_code, b"Request has expired" in expired.content) == (403, True)


def test_storage_and_api_answer_cors_preflights_for_the_app_origin(local_app: RunningApp):
    origin = local_app.app_url
    preflight = {"Origin": origin, "Access-Control-Request-Method": "POST"}
    s3 = requests.options(f"{local_app.s3_url}/happypath-uploadbucket", headers=preflight, timeout=5)
    assert (s3.status_code, s3.headers["Access-Control-Allow-Origin"]) == (200, origin)
    api = requests.options(
        f"{local_app.api_url}/places",
        headers=preflight | {"Access-Control-Request-Headers": "authorization,idempotency-key"},
        timeout=5,
    )
    assert api.headers["Access-Control-Allow-Origin"] == origin
    assert {"authorization", "idempotency-key"} <= set(api.headers["Access-Control-Allow-Headers"].split(","))
    # The web app waits what a 429 or 503 says in Retry-After: a browser shows its script only exposed headers.
    answer = requests.get(f"{local_app.api_url}/places/nope", headers={"Origin": origin}, timeout=5)
    assert answer.headers["Access-Control-Allow-Origin"] == origin
    assert "retry-after" in answer.headers["Access-Control-Expose-Headers"].lower().split(", ")
    stranger = requests.options(
        f"{local_app.s3_url}/happypath-uploadbucket", headers=preflight | {"Origin": "https://evil.example"}, timeout=5
    )
    assert "Access-Control-Allow-Origin" not in stranger.headers


def test_a_create_request_sent_again_with_its_idempotency_key_gets_the_first_answer(alice: LocalClient):
    key, name = str(uuid.uuid4()), f"Mile End Park {uuid.uuid4().hex[:6]}"
    body = {"name": name, "type": "park", "lat": 51.5190, "lng": -0.0370}
    first, again = (alice.call("POST", "/places", json=body, headers={"Idempotency-Key": key}) for _ in range(2))
    assert again == first
    near = alice.call("GET", "/places", params={"lat": 51.5190, "lng": -0.0370, "radius": 50})
    assert [p["place"]["placeId"] for p in near["places"] if p["place"]["name"] == name] == [first["placeId"]]
    form_request = {"contentType": "image/jpeg", "size": 1000}
    path, form_key = f"/places/{first['placeId']}/uploads", {"Idempotency-Key": str(uuid.uuid4())}
    form = alice.call("POST", path, json=form_request, headers=form_key)
    assert alice.call("POST", path, json=form_request, headers=form_key) == form
    with pytest.raises(ApiError) as reused:
        alice.call("POST", path, json=form_request | {"size": 2000}, headers=form_key)
    assert reused.value.status == 422


# --- the whole pipeline under a burst -----------------------------------------------------------------------


BURST_UPLOADS = 200
BURST_CLIENTS = 16  # uploading at the same time; with more, API calls queue for tens of seconds (see README)


def test_a_burst_of_200_uploads_all_reach_a_final_state(local_app: RunningApp, alice: LocalClient, photos: Path):
    """200 uploads sent by 16 clients at once through the whole pipeline, throttle kept: every one ends final.

    The client retries the API's 429 answers (the template's stage throttle: 50/s, burst 100) as an SDK would.
    """
    place = alice.call("POST", "/places", json={"name": "Green Park", "type": "park", "lat": 51.5046, "lng": -0.1428})
    sources = [photos / "Reconyx_HC500_Hyperfire.jpg", photos / "canon_hdr_NO.jpg", photos / "DSCN0010.jpg"]
    throttled_before = alice.throttled
    rss_before, _ = local_app.memory_mb()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=BURST_CLIENTS) as pool:
        upload_ids = list(
            pool.map(lambda i: alice.upload(place["placeId"], sources[i % len(sources)]), range(BURST_UPLOADS))
        )
    uploaded = time.monotonic()
    verdicts = [alice.wait(upload_id, timeout_s=600) for upload_id in upload_ids]
    finished = time.monotonic()
    statuses = [v["status"] for v in verdicts]
    lost = sum(s not in FINAL for s in statuses)
    rss, peak = local_app.memory_mb()
    print(
        f"\nburst: {BURST_UPLOADS} uploads sent in {uploaded - started:.1f} s"
        f" ({alice.throttled - throttled_before} answers of 429 retried), all final {finished - started:.1f} s"
        f" after the first; {statuses.count('PROCESSED')} PROCESSED, {statuses.count('REJECTED')} REJECTED,"
        f" lost {lost}; running stack {rss:.0f} MB resident ({(rss - rss_before) / BURST_UPLOADS:+.2f} MB per"
        f" upload), {peak:.0f} MB peak"
    )
    assert all(status in FINAL for status in statuses)
    unexpected = [
        v for v in verdicts if v["status"] == "FAILED" or (v["status"] == "REJECTED" and v["reason"] != "TOO_SMALL")
    ]
    assert unexpected == [], local_app.log()[-5000:]
    too_small = sum(1 for i in range(BURST_UPLOADS) if sources[i % len(sources)].name == "DSCN0010.jpg")
    assert statuses.count("REJECTED") == too_small  # every DSCN0010 upload, nothing else
    assert statuses.count("PROCESSED") == BURST_UPLOADS - too_small
    published, cursor = [], None
    while True:
        page = alice.call(
            "GET", f"/places/{place['placeId']}/photos", params={"limit": 100} | ({"cursor": cursor} if cursor else {})
        )
        published += page["photos"]
        if not (cursor := page.get("nextCursor")):
            break
    assert len(published) == BURST_UPLOADS - too_small
    assert len({photo["photoId"] for photo in published}) == len(published)


def test_concurrent_requests_each_keep_their_own_caller_and_status(local_app: RunningApp, alice: LocalClient):
    """Concurrent requests never see each other's event, route or caller (Powertools keeps the current event
    on a class: when one function ran invocations side by side, 13 % of answers had another's status, and
    upload forms another request's size)."""
    bob = LocalClient(local_app.app_url)
    bob.sign_in("bob@example.com")
    place = alice.call("POST", "/places", json={"name": "Soho Square", "type": "park", "lat": 51.515, "lng": -0.132})

    def request_form(i: int) -> tuple[str, LocalClient]:
        caller = alice if i % 2 else bob
        form = caller.call(
            "POST", f"/places/{place['placeId']}/uploads", json={"contentType": "image/jpeg", "size": 1000}
        )
        return form["uploadId"], caller

    with ThreadPoolExecutor(max_workers=24) as pool:
        forms = list(pool.map(request_form, range(120)))
    # Each upload belongs to the caller that asked for it: its status is for its owner only.
    for upload_id, caller in forms:
        assert caller.call("GET", f"/uploads/{upload_id}")["status"] == "PENDING_UPLOAD"
        other = bob if caller is alice else alice
        with pytest.raises(ApiError) as refused:
            other.call("GET", f"/uploads/{upload_id}")
        assert refused.value.status == 403

    def form_limit_matches(i: int) -> bool:
        size = 100_000 + i
        request = {"contentType": "image/jpeg", "size": size}
        form = alice.call("POST", f"/places/{place['placeId']}/uploads", json=request)
        policy = json.loads(base64.b64decode(form["fields"]["policy"]))
        return ["content-length-range", 1, size] in policy["conditions"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(form_limit_matches, range(200)))


def test_executions_can_be_inspected(local_app: RunningApp, alice: LocalClient, park: dict, photos: Path):
    upload_id = alice.upload(park["placeId"], photos / "jolla.jpg")
    alice.wait(upload_id)
    deadline = time.monotonic() + 30
    while True:  # the upload turns final in the Publish step, a moment before the execution ends
        executions = requests.get(f"{local_app.app_url}/_local/executions?limit=5", timeout=30).json()["executions"]
        mine = next(e for e in executions if e["uploadId"] == upload_id)
        if mine["status"] != "RUNNING" or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert 1 <= len(executions) <= 5  # no more than asked
    started = [e["startDate"] for e in executions]
    assert started == sorted(started, reverse=True)  # newest first
    assert mine["status"] == "SUCCEEDED"
    assert mine["states"][0] == "MarkProcessing"
    assert mine["states"][-1] == "Published"


def test_handler_logs_are_structured_and_labelled_by_function(
    local_app: RunningApp, alice: LocalClient, park: dict, photos: Path
):
    assert alice.wait(alice.upload(park["placeId"], photos / "jolla.jpg"))["status"] == "PROCESSED"
    records = [json.loads(line) for line in local_app.log().splitlines() if line.startswith("{")]  # all JSON
    lines = [record for record in records if "_aws" not in record]  # the others are embedded metrics
    functions = {line.get("function_name") for line in lines}
    assert {"happypath-NotifierFunction", "happypath-CheckImageFunction", "happypath-ResizeFunction"} <= functions
    assert all("level" in line and "message" in line for line in lines)
    # Every Lambda context field names the function that logged the line, not the one that ran last.
    labelled = [line for line in lines if "function_request_id" in line]
    assert len(labelled) > 10
    wrong_arn = [line for line in labelled if not line["function_arn"].endswith(f":function:{line['function_name']}")]
    assert wrong_arn == []
    functions_by_request: dict[str, set[str]] = {}
    for line in labelled:
        functions_by_request.setdefault(line["function_request_id"], set()).add(line["function_name"])
    assert all(len(names) == 1 for names in functions_by_request.values()), functions_by_request
