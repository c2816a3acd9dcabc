"""S3 object reads, writes and deletes over HTTPS, signed with SigV4 here: no boto3.

boto3 with an S3 client costs ~35 MB of memory, more than half the resize function's 64 MB goal for a 12 MP photo
(bench/README.md), and S3 objects are all that function needs. Every function reads, writes and deletes objects
through this module, so there is one way of doing it; presigned forms, listings and CloudFront stay with boto3.

It behaves as the project's boto3 clients do (happypath.aws): regional virtual-hosted endpoints (path-style under
AWS_ENDPOINT_URL_S3, which the local runtime sets), credentials from the environment (Lambda sets them), 1 s to
connect and 2 s per read, three attempts for what botocore retries, and failures raised as botocore's exceptions
with the codes and statuses boto3 gives, so callers and aws.is_transient treat both alike.
"""

import base64
import hashlib
import hmac
import http.client
import os
import random
import select
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final, Protocol
from urllib.parse import quote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
)

CONNECT_TIMEOUT_S: Final = 1.0
READ_TIMEOUT_S: Final = 2.0  # per socket read: S3 answers in milliseconds
MAX_ATTEMPTS: Final = 3  # the first call and two retries, as botocore's standard mode
MAX_BACKOFF_S: Final = 20.0
MAX_KEYS_PER_DELETE: Final = 1000
EMPTY_SHA256: Final = hashlib.sha256(b"").hexdigest()
_S3_NAMESPACE: Final = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class Response(Protocol):
    """What a transport answers: http.client's response, or the local runtime's."""

    status: int

    def getheader(self, name: str) -> str | None: ...

    def read(self, amt: int | None = None) -> bytes: ...

    def close(self) -> None: ...


Transport = Callable[[str, str, Mapping[str, str], bytes], Response]
"""(method, url, headers, body) -> the response, its body unread; raises OSError when the network fails."""

before_call: list[Callable[[str, dict[str, Any]], None]] = []
"""Called with each call's S3 operation and its parameters, as boto3 names them, before it is sent (the local
runtime records what each function calls, for the least-privilege test, and injects faults here)."""


# --- calls --------------------------------------------------------------------------------------------


class ObjectTooLarge(Exception):
    """The object is larger than the caller will load into memory (its body was not read)."""

    def __init__(self, size: int, max_bytes: int) -> None:
        super().__init__(f"{size} bytes is over the {max_bytes} byte limit")
        self.size = size


def get_object(bucket: str, key: str, *, max_bytes: int, if_match: str | None = None) -> bytes:
    """The object's bytes; ObjectTooLarge past max_bytes. With `if_match` (an ETag, quoted), only that version:
    another answers ClientError PreconditionFailed (412)."""
    params: dict[str, Any] = {"Bucket": bucket, "Key": key} | ({"IfMatch": if_match} if if_match else {})
    headers = {"if-match": if_match} if if_match else {}
    return _call("GetObject", params, "GET", bucket, key, headers=headers, max_bytes=max_bytes)


def put_object(bucket: str, key: str, body: bytes, *, content_type: str, cache_control: str) -> None:
    params = {"Bucket": bucket, "Key": key, "ContentType": content_type, "CacheControl": cache_control}
    headers = {"content-type": content_type, "cache-control": cache_control}
    _call("PutObject", params, "PUT", bucket, key, headers=headers, body=body)


def delete_objects(bucket: str, keys: Iterable[str]) -> list[dict[str, str]]:
    """Delete the keys (missing ones are fine), a thousand per request; the keys S3 could not delete, as boto3's
    `Errors` (Key, Code, Message): DeleteObjects answers 200 even then."""
    errors: list[dict[str, str]] = []
    every = list(keys)
    for start in range(0, len(every), MAX_KEYS_PER_DELETE):
        batch = every[start : start + MAX_KEYS_PER_DELETE]
        params = {"Bucket": bucket, "Delete": {"Objects": [{"Key": key} for key in batch], "Quiet": True}}
        listed = "".join(f"<Object><Key>{escape(key)}</Key></Object>" for key in batch)
        body = f'<Delete xmlns="{_S3_NAMESPACE[1:-1]}"><Quiet>true</Quiet>{listed}</Delete>'.encode()
        headers = {  # S3 refuses a DeleteObjects without a checksum of its body
            "content-md5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
            "content-type": "application/xml",
        }
        answer = _call("DeleteObjects", params, "POST", bucket, "", query="delete", headers=headers, body=body)
        for error in ElementTree.fromstring(answer).iter(f"{_S3_NAMESPACE}Error"):  # noqa: S314 (see _client_error)
            errors.append({name: error.findtext(f"{_S3_NAMESPACE}{name}") or "" for name in ("Key", "Code", "Message")})
    return errors


def _call(
    operation: str,
    params: dict[str, Any],
    method: str,
    bucket: str,
    key: str,
    *,
    query: str = "",
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    max_bytes: int | None = None,
) -> bytes:
    for hook in before_call:
        hook(operation, params)
    url = object_url(bucket, key) + (f"?{query}" if query else "")
    attempt = 1
    while True:
        try:
            return _attempt(operation, method, url, dict(headers or {}), body, max_bytes)
        except (BotoCoreError, ClientError) as error:
            from happypath import aws  # light until a boto3 client is made: see aws.py

            if attempt >= MAX_ATTEMPTS or not aws.is_transient(error):
                raise
        time.sleep(random.random() * min(MAX_BACKOFF_S, 2 ** (attempt - 1)))  # botocore's: full jitter
        attempt += 1


def _attempt(
    operation: str, method: str, url: str, headers: dict[str, str], body: bytes, max_bytes: int | None
) -> bytes:
    signed = sign(method, url, headers, body, _credentials(), region())
    try:
        response = transport(method, url, signed, body)
    except TimeoutError as timeout:
        raise (ConnectTimeoutError if getattr(timeout, "connecting", False) else ReadTimeoutError)(
            endpoint_url=url, error=timeout
        ) from timeout
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as closed:
        raise ConnectionClosedError(endpoint_url=url) from closed
    except OSError as failed:
        raise EndpointConnectionError(endpoint_url=url, error=failed) from failed
    try:
        length = response.getheader("content-length")
        size = int(length) if length is not None else None
        if response.status < 300 and max_bytes is not None and size is not None and size > max_bytes:
            _drop_connection(url)  # the body stays unread: the connection cannot carry another request
            raise ObjectTooLarge(size, max_bytes)
        try:
            data = response.read()
        except http.client.IncompleteRead as cut:
            _drop_connection(url)
            raise IncompleteReadError(
                actual_bytes=len(cut.partial), expected_bytes=len(cut.partial) + (cut.expected or 0)
            ) from cut
        except TimeoutError as timeout:
            _drop_connection(url)
            raise ReadTimeoutError(endpoint_url=url, error=timeout) from timeout
        except OSError as failed:
            _drop_connection(url)
            raise ConnectionClosedError(endpoint_url=url) from failed
    finally:
        response.close()
    if response.status >= 300:
        raise _client_error(operation, response.status, data, response.getheader("x-amz-request-id"))
    return data


def _client_error(operation: str, status: int, body: bytes, request_id: str | None) -> ClientError:
    """As boto3 raises it: S3's code and message from the XML body, or the status itself when there is none."""
    code, message = str(status), http.client.responses.get(status, "")
    try:  # S3's own answer; expat bounds entity expansion and ElementTree resolves no external entities
        root = ElementTree.fromstring(body) if body else None  # noqa: S314
    except ElementTree.ParseError:
        root = None
    if root is not None and root.tag.removeprefix(_S3_NAMESPACE) == "Error":
        code = root.findtext("Code") or code
        message = root.findtext("Message") or message
    metadata: dict[str, Any] = {"HTTPStatusCode": status} | ({"RequestId": request_id} if request_id else {})
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)  # type: ignore[typeddict-item]


# --- where, and as whom -------------------------------------------------------------------------------


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def object_url(bucket: str, key: str) -> str:
    """Virtual-hosted (`https://bucket.s3.region.amazonaws.com/key`), or path-style under AWS_ENDPOINT_URL_S3.

    The stack's buckets have names CloudFormation makes, never with a dot (which TLS would refuse here)."""
    path = quote(key, safe="/~")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3")
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{path}"
    name = region()
    domain = "amazonaws.com.cn" if name.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{name}.{domain}/{path}"


def _credentials() -> tuple[str, str, str | None]:
    try:
        return os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"], os.environ.get("AWS_SESSION_TOKEN")
    except KeyError as missing:
        raise RuntimeError(f"no AWS credentials: environment variable {missing} is not set") from None


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: tuple[str, str, str | None],
    region: str,
) -> dict[str, str]:
    """The headers to send: `headers` (names in lower case) and SigV4's, every one of them signed.

    S3's form of SigV4: the path is signed as sent (encoded once), and the body's SHA-256 is a header.
    """
    access_key, secret_key, token = credentials
    parts = urlsplit(url)
    now = datetime.now(UTC)
    amz_date, day = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = dict(headers) | {
        "host": parts.netloc,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
    }
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    canonical_query = "&".join(
        sorted(
            f"{quote(name, safe='-_.~')}={quote(value, safe='-_.~')}"
            for name, _, value in (pair.partition("=") for pair in parts.query.split("&") if pair)
        )
    )
    canonical_request = "\n".join(
        [
            method,
            parts.path or "/",
            canonical_query,
            "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names),
            ";".join(names),
            signed["x-amz-content-sha256"],
        ]
    )
    scope = f"{day}/{region}/s3/aws4_request"
    string_to_sign = f"AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


# --- HTTP ---------------------------------------------------------------------------------------------


@cache
def tls_context() -> ssl.SSLContext:
    """Made once: loading the system's certificates costs ~2 MB and a few milliseconds."""
    return ssl.create_default_context()


class _ConnectTimeout(TimeoutError):
    connecting = True


_connections = threading.local()  # each thread keeps one connection per host open, as a warm function should


def _kept() -> dict[tuple[str, str], http.client.HTTPConnection]:
    kept: dict[tuple[str, str], http.client.HTTPConnection] = _connections.__dict__.setdefault("by_host", {})
    return kept


def _drop_connection(url: str) -> None:
    parts = urlsplit(url)
    connection = _kept().pop((parts.scheme, parts.netloc), None)
    if connection is not None:
        connection.close()


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle kept connection has nothing to read unless the server closed it (S3 does after a while)."""
    return connection.sock is None or bool(select.select([connection.sock], [], [], 0)[0])


def _connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    kept = _kept()
    connection = kept.get((scheme, netloc))
    if connection is None or _closed_by_server(connection):
        if connection is not None:
            connection.close()
        if scheme == "https":
            connection = http.client.HTTPSConnection(netloc, timeout=CONNECT_TIMEOUT_S, context=tls_context())
        else:
            connection = http.client.HTTPConnection(netloc, timeout=CONNECT_TIMEOUT_S)
        try:
            connection.connect()
        except TimeoutError as timeout:
            raise _ConnectTimeout(str(timeout)) from timeout
        assert connection.sock is not None
        connection.sock.settimeout(READ_TIMEOUT_S)
        kept[(scheme, netloc)] = connection
    return connection


def send_https(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
    """The transport used in AWS: http.client on a kept connection (closed again when anything fails)."""
    parts = urlsplit(url)
    connection = _connection(parts.scheme, parts.netloc)
    try:
        connection.request(method, url[len(f"{parts.scheme}://{parts.netloc}") :] or "/", body or None, dict(headers))
        return connection.getresponse()
    except BaseException:
        _drop_connection(url)
        raise


transport: Transport = send_https
"""How requests reach S3 (the local runtime sends them to its own S3 endpoint, in-process)."""
