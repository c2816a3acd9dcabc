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
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, Final, Protocol
from urllib.parse import parse_qsl, quote, urlsplit

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
)

from happypath import settings
from happypath.observability import tracer

if TYPE_CHECKING:
    from xml.etree.ElementTree import Element

CONNECT_TIMEOUT_S: Final = 1.0
READ_TIMEOUT_S: Final = 2.0  # per socket read: S3 answers in milliseconds
MAX_ATTEMPTS: Final = 3  # the first call and two retries, as botocore's standard mode
MAX_BACKOFF_S: Final = 20.0
MAX_KEYS_PER_DELETE: Final = 1000
MAX_IDLE_CONNECTIONS: Final = 8  # per host: the resize step writes four objects at once
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
        listed = "".join(f"<Object><Key>{_xml_text(key)}</Key></Object>" for key in batch)
        body = f'<Delete xmlns="{_S3_NAMESPACE[1:-1]}"><Quiet>true</Quiet>{listed}</Delete>'.encode()
        headers = {  # S3 refuses a DeleteObjects without a checksum of its body
            "content-md5": base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode(),
            "content-type": "application/xml",
        }
        answer = _xml(_call("DeleteObjects", params, "POST", bucket, "", query="delete", headers=headers, body=body))
        if answer is None:  # an empty answer says nothing of what was deleted
            raise _client_error("DeleteObjects", 500, b"", None)
        for error in answer.iter(f"{_S3_NAMESPACE}Error"):
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
    # One X-Ray subsegment per call, as the SDK's botocore patch records one (None: no trace to add it to).
    with tracer.provider.in_subsegment("S3", namespace="aws") as subsegment:
        if subsegment is not None:
            subsegment.put_annotation("operation", operation)
            subsegment.put_annotation("bucket", bucket)
            subsegment.put_metadata("key", key)
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
    signed = sign(method, url, headers, body, credentials(), region())
    with _network_errors_as_botocore(url):
        response = transport(method, url, signed, body)
    try:
        size = _content_length(response)
        if response.status < 300 and max_bytes is not None and size is not None and size > max_bytes:
            raise ObjectTooLarge(size, max_bytes)  # its body stays unread: closing lets the connection go
        with _network_errors_as_botocore(url):
            data = response.read()
    finally:
        response.close()
    if response.status >= 300:
        raise _client_error(operation, response.status, data, response.getheader("x-amz-request-id"))
    if method != "GET" and data and _unusable_answer(data):
        # S3 can fail a write after its 200 has gone out; botocore reads that as a 500 (and retries), so does this.
        raise _client_error(operation, 500, data, response.getheader("x-amz-request-id"))
    return data


@contextmanager
def _network_errors_as_botocore(url: str) -> Iterator[None]:
    """Network failures raised as botocore raises them (it retries them all); anything else as it is."""
    try:
        yield
    except http.client.IncompleteRead as cut:
        expected = len(cut.partial) + (cut.expected or 0)
        raise IncompleteReadError(actual_bytes=len(cut.partial), expected_bytes=expected) from cut
    except TimeoutError as timeout:
        timed_out = ConnectTimeoutError if getattr(timeout, "connecting", False) else ReadTimeoutError
        raise timed_out(endpoint_url=url, error=timeout) from timeout
    except (http.client.HTTPException, ConnectionResetError, BrokenPipeError, ConnectionAbortedError) as closed:
        raise ConnectionClosedError(endpoint_url=url) from closed  # cut off, or answered with something not HTTP
    except OSError as failed:  # refused, unreachable, TLS
        raise EndpointConnectionError(endpoint_url=url, error=failed) from failed


def _content_length(response: Response) -> int | None:
    try:
        return int(response.getheader("content-length") or "")
    except ValueError:  # none, or not a number: read what comes
        return None


def _xml_text(value: str) -> str:
    """Text escaped for an XML element (xml.sax.saxutils.escape would load urllib.request with it)."""
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _xml(body: bytes) -> "Element | None":
    """S3's answer as XML; None when it is not XML (or empty)."""
    if not body:
        return None
    # Loaded here, at the first answer with a body: a write's answer is empty, so the resize function's process
    # does not hold ElementTree and its parser (~0.5 MB, bench/README.md) while it renders.
    from xml.etree import ElementTree

    try:  # S3's own answer; expat bounds entity expansion and ElementTree resolves no external entities
        return ElementTree.fromstring(body)  # noqa: S314
    except ElementTree.ParseError:
        return None


def _unusable_answer(body: bytes) -> bool:
    """A write's answer that is an error document, or not XML at all."""
    root = _xml(body)
    return root is None or root.tag == "Error"


def _client_error(operation: str, status: int, body: bytes, request_id: str | None) -> ClientError:
    """As boto3 raises it: S3's code and message from the XML body, or the status itself when there is none."""
    code, message = str(status), http.client.responses.get(status, "")
    root = _xml(body)
    if root is not None and root.tag.removeprefix(_S3_NAMESPACE) == "Error":
        code = root.findtext("Code") or code
        message = root.findtext("Message") or message
    metadata: dict[str, Any] = {"HTTPStatusCode": status} | ({"RequestId": request_id} if request_id else {})
    return ClientError({"Error": {"Code": code, "Message": message}, "ResponseMetadata": metadata}, operation)  # type: ignore[typeddict-item]


# --- where, and as whom -------------------------------------------------------------------------------


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def object_url(bucket: str, key: str) -> str:
    """Virtual-hosted (`https://bucket.s3.region.amazonaws.com/key`), or path-style under AWS_ENDPOINT_URL_S3 (or
    AWS_ENDPOINT_URL, for every service).

    The stack's buckets have names CloudFormation makes, never with a dot (which TLS would refuse here)."""
    path = quote(key, safe="/~")
    endpoint = settings.s3_endpoint_override()
    if endpoint:
        return f"{endpoint.rstrip('/')}/{bucket}/{path}"
    name = region()
    domain = "amazonaws.com.cn" if name.startswith("cn-") else "amazonaws.com"
    return f"https://{bucket}.s3.{name}.{domain}/{path}"


def credentials() -> tuple[str, str, str | None]:
    """What this process signs with: the environment's credentials (Lambda sets them for the function's role)."""
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
    signed = {name.lower(): value for name, value in headers.items()} | {
        "host": parts.netloc,
        "x-amz-date": amz_date,
        "x-amz-content-sha256": hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256,
    }
    if token:
        signed["x-amz-security-token"] = token
    names = sorted(signed)
    query = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in parse_qsl(parts.query, True)
    )
    canonical_query = "&".join(f"{name}={value}" for name, value in query)  # sorted by name, then value
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
    signature = hmac.new(signing_key(secret_key, day, region), string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


def signing_key(secret_key: str, day: str, region: str, service: str = "s3") -> bytes:
    """SigV4's key for one day, region and service, derived from the secret."""
    key = ("AWS4" + secret_key).encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


# --- HTTP ---------------------------------------------------------------------------------------------


@cache
def tls_context() -> ssl.SSLContext:
    """Made once: loading the certificates costs ~2 MB and a few milliseconds. AWS_CA_BUNDLE, as boto3 reads it."""
    return ssl.create_default_context(cafile=os.environ.get("AWS_CA_BUNDLE") or None)


class _ConnectTimeout(TimeoutError):
    connecting = True


# Idle connections, per host, shared by every thread: the resize step writes from a new pool's threads at each
# invocation, and a warm function should not pay a TLS handshake per write.
_idle: dict[tuple[str, str], list[http.client.HTTPConnection]] = {}
_idle_lock = threading.Lock()


def _closed_by_server(connection: http.client.HTTPConnection) -> bool:
    """An idle connection has nothing to read unless the server closed it (S3 does after a while)."""
    return connection.sock is None or bool(select.select([connection.sock], [], [], 0)[0])


def _take_connection(scheme: str, netloc: str) -> http.client.HTTPConnection:
    with _idle_lock:
        idle = _idle.get((scheme, netloc), [])
        while idle:
            connection = idle.pop()
            if not _closed_by_server(connection):
                return connection
            connection.close()
    if scheme == "https":
        connection = http.client.HTTPSConnection(netloc, timeout=CONNECT_TIMEOUT_S, context=tls_context())
    else:
        connection = http.client.HTTPConnection(netloc, timeout=CONNECT_TIMEOUT_S)
    try:
        connection.connect()
    except TimeoutError as timeout:
        connection.close()
        raise _ConnectTimeout(str(timeout)) from timeout
    assert connection.sock is not None
    connection.sock.settimeout(READ_TIMEOUT_S)
    return connection


def _give_back(scheme: str, netloc: str, connection: http.client.HTTPConnection) -> None:
    with _idle_lock:
        idle = _idle.setdefault((scheme, netloc), [])
        if len(idle) < MAX_IDLE_CONNECTIONS:
            idle.append(connection)
            return
    connection.close()


class _PooledResponse:
    """http.client's response; closing it gives its connection back when the answer was read to its end."""

    def __init__(self, response: http.client.HTTPResponse, release: Callable[[bool], None]) -> None:
        self._response, self._release = response, release
        self.status = response.status

    def getheader(self, name: str) -> str | None:
        return self._response.getheader(name)

    def read(self, amt: int | None = None) -> bytes:
        return self._response.read(amt)

    def close(self) -> None:
        read_to_end = self._response.isclosed()  # http.client lets go of the stream at the answer's last byte
        self._response.close()
        self._release(read_to_end and not self._response.will_close)


def send_https(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Response:
    """The transport used in AWS: http.client on a pooled connection (closed when anything goes wrong)."""
    parts = urlsplit(url)
    connection = _take_connection(parts.scheme, parts.netloc)

    def release(reusable: bool) -> None:
        if reusable:
            _give_back(parts.scheme, parts.netloc, connection)
        else:
            connection.close()

    try:
        connection.request(method, url[len(f"{parts.scheme}://{parts.netloc}") :] or "/", body or None, dict(headers))
        return _PooledResponse(connection.getresponse(), release)
    except BaseException:
        connection.close()
        raise


transport: Transport = send_https
"""How requests reach S3 (the local runtime sends them to its own S3 endpoint, in-process)."""
