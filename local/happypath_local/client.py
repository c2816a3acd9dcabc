"""A small client of the running local app, over HTTP only (as curl would): sign-in, API, uploads."""

import http.client
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from happypath.statuses import FINAL_STATUSES
from happypath_local.server import LOCAL_CLIENT_ID

FINAL = {status.value for status in FINAL_STATUSES}  # as the API spells them
CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".heic": "image/heic",
    ".heif": "image/heif",
}


class NotTheApp(Exception):
    """The URL given as the app's answers, but not as the local app does (another server, or no URL at all)."""


def app_json(url: str, **kwargs: Any) -> Any:
    """A JSON answer of the local app's own (its config.json, /_local/...): NotTheApp when it is not one."""
    try:
        response = requests.get(url, timeout=30, **kwargs)
        response.raise_for_status()
        return response.json()
    except (
        requests.exceptions.InvalidURL,  # no URL of any server
        requests.exceptions.MissingSchema,
        requests.exceptions.InvalidSchema,
        requests.HTTPError,  # another server's answers
        requests.JSONDecodeError,
    ):
        raise NotTheApp(url) from None


class ApiError(Exception):
    def __init__(self, status: int, body: Any) -> None:
        super().__init__(f"{status}: {_said(body)}")
        self.status, self.body = status, body


def _said(body: Any) -> Any:
    """What an error answer says, for the command line: the API's `message`, or the `<Message>` of storage's
    XML error; other bodies whole."""
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return body["message"]
    if isinstance(body, str) and (found := re.search(r"<Code>([^<]*)</Code>.*?<Message>([^<]*)</Message>", body, re.S)):
        return f"{found[1]}: {found[2]}"
    return body


QUOTA_WAIT_S = 60  # a 429 asking to wait longer is a quota, not the throttle
THROTTLE_RETRIES = 8  # 429 (the stage throttle) is retried after a growing, jittered pause, as AWS SDKs do


@dataclass
class LocalClient:
    app_url: str
    api_url: str = ""
    token: str = ""
    audience: str | None = None  # the API's, when the app's sign-in asks for one (serve --parameter AuthAudience=)
    throttle_retries: int = THROTTLE_RETRIES
    timeout_s: float = 30
    throttled: int = 0  # 429 answers retried so far (the client may be shared by threads)
    _count_lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.app_url = self.app_url.rstrip("/")
        if not self.api_url:
            config = app_json(f"{self.app_url}/config.json")
            try:
                self.api_url, self.audience = config["apiUrl"], config["auth"].get("audience")
            except (KeyError, TypeError, AttributeError):
                raise NotTheApp(self.app_url) from None

    def sign_in(self, username: str) -> str:
        response = requests.post(
            f"{self.app_url}/auth/token",
            data={"grant_type": "password", "username": username, "client_id": LOCAL_CLIENT_ID}
            | ({"audience": self.audience} if self.audience else {}),
            timeout=10,
        )
        response.raise_for_status()
        self.token = response.json()["access_token"]
        return self.token

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        headers = kwargs.pop("headers", {}) | ({"Authorization": f"Bearer {self.token}"} if self.token else {})
        url = f"{self.api_url}{path}"
        for attempt in range(self.throttle_retries + 1):
            response = requests.request(method, url, headers=headers, timeout=self.timeout_s, **kwargs)
            if response.status_code != 429 or attempt == self.throttle_retries:
                break
            if int(response.headers.get("Retry-After", "0")) > QUOTA_WAIT_S:  # a daily quota: waiting won't do
                break
            with self._count_lock:
                self.throttled += 1
            time.sleep(random.uniform(0.5, 1.0) * min(0.2 * 2**attempt, 5.0))
        body = response.json() if response.content else None
        if response.status_code >= 400:
            raise ApiError(response.status_code, body)
        return body

    def upload(self, place_id: str, photo: Path, progress: Callable[[int, int], None] | None = None) -> str:
        """Request a form from the API, then POST the file to storage as a browser does."""
        data = photo.read_bytes()
        content_type = CONTENT_TYPES.get(photo.suffix.lower(), "application/octet-stream")
        form = self.call(
            "POST",
            f"/places/{place_id}/uploads",
            json={"contentType": content_type, "size": len(data)},
        )
        status, body = post_form(form["url"], form["fields"], photo.name, content_type, data, progress)
        if status >= 300:
            raise ApiError(status, body.decode(errors="replace"))
        return str(form["uploadId"])

    def wait(self, upload_id: str, timeout_s: float = 120) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while True:
            upload: dict[str, Any] = self.call("GET", f"/uploads/{upload_id}")
            if upload["status"] in FINAL or time.monotonic() > deadline:
                return upload
            time.sleep(0.25)


def post_form(
    url: str,
    fields: dict[str, str],
    filename: str,
    content_type: str,
    data: bytes,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[int, bytes]:
    """multipart/form-data POST (fields first, file last) sent in chunks so progress can be shown."""
    boundary = uuid.uuid4().hex
    head = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    )
    head += (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    body = head + data + f"\r\n--{boundary}--\r\n".encode()
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port or 80, timeout=60)
    connection.putrequest("POST", parts.path or "/")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(body)))
    connection.endheaders()
    chunk = 256 * 1024
    for start in range(0, len(body), chunk):
        connection.send(body[start : start + chunk])
        if progress:
            progress(min(start + chunk, len(body)), len(body))
    response = connection.getresponse()
    return response.status, response.read()
