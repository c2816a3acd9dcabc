"""The S3 object client without boto3: its signatures (against botocore's and the local S3 endpoint's checks), its
answers to what moto never says (per-key delete errors, oversized objects, throttling), and its HTTP connections."""

import base64
import hashlib
import http.server
import importlib
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any, ClassVar

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
)

from happypath import aws, s3_objects, storage
from happypath_local.functions import SOURCE_PACKAGES

NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
SPECIAL_KEYS = ["photos/a b+c=d&e.jpg", "photos/ünïcødé/ø.webp", "photos/~tilde/%41/$dollar's,(x)*!;:@.jpg"]


class Answer:
    """A canned response, as http.client gives one."""

    def __init__(self, status: int, body: bytes = b"", headers: Mapping[str, str] | None = None) -> None:
        self.status, self.body = status, body
        self.headers = {"content-length": str(len(body))} | {k.lower(): v for k, v in (headers or {}).items()}
        self.reads = 0
        self.closed = False

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)

    def read(self, amt: int | None = None) -> bytes:
        self.reads += 1
        return self.body

    def close(self) -> None:
        self.closed = True


class FakeS3:
    """A transport answering from a list, keeping what was sent."""

    def __init__(self, *answers: Answer | Exception) -> None:
        self.answers = list(answers)
        self.sent: list[tuple[str, str, dict[str, str], bytes]] = []

    def __call__(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        self.sent.append((method, url, dict(headers), body))
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def s3_error(status: int, code: str) -> Answer:
    return Answer(status, f"<Error><Code>{code}</Code><Message>as S3 says it</Message></Error>".encode())


@pytest.fixture
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    slept: list[float] = []
    monkeypatch.setattr(s3_objects, "time", SimpleNamespace(sleep=slept.append))  # its pauses between attempts
    return slept


@pytest.fixture
def fake_s3(monkeypatch: pytest.MonkeyPatch, no_backoff: list[float]) -> Any:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_REGION", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)

    def install(*answers: Answer | Exception) -> FakeS3:
        fake = FakeS3(*answers)
        monkeypatch.setattr(s3_objects, "transport", fake)
        return fake

    return install


# --- signatures --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", SPECIAL_KEYS)
@pytest.mark.parametrize("token", [None, "a-session-token"])
def test_a_signature_is_botocores_for_the_same_request(key, token):
    """The canonical request as botocore's S3 signer builds it: encoded path, sorted query, every header."""
    url = s3_objects.object_url("a-bucket", key) + "?delete"
    body = b"<Delete/>"
    headers = s3_objects.sign(
        "POST", url, {"content-type": "application/xml"}, body, ("AKID", "secret", token), "eu-west-1"
    )
    ours = headers.pop("authorization")
    names = ours.split("SignedHeaders=")[1].split(",")[0]
    assert names == ";".join(sorted(headers))

    unsigned = AWSRequest(method="POST", url=url, headers=headers, data=body)
    unsigned.context["timestamp"] = headers["x-amz-date"]
    signer = S3SigV4Auth(Credentials("AKID", "secret", token), "s3", "eu-west-1")
    expected = signer.signature(signer.string_to_sign(unsigned, signer.canonical_request(unsigned)), unsigned)
    assert ours.endswith(f"Signature={expected}")
    assert ours.startswith(f"AWS4-HMAC-SHA256 Credential=AKID/{headers['x-amz-date'][:8]}/eu-west-1/s3/aws4_request, ")


def test_objects_are_addressed_as_sdks_address_them(monkeypatch):
    monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert s3_objects.object_url("b", "photos/a b.jpg") == "https://b.s3.eu-west-1.amazonaws.com/photos/a%20b.jpg"
    monkeypatch.setenv("AWS_REGION", "cn-north-1")
    assert s3_objects.object_url("b", "k") == "https://b.s3.cn-north-1.amazonaws.com.cn/k"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:7654")  # every service's, as boto3 reads it
    assert s3_objects.object_url("b", "photos/k.jpg") == "http://127.0.0.1:7654/b/photos/k.jpg"
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:4567/")  # S3's own comes first
    assert s3_objects.object_url("b", "photos/k.jpg") == "http://127.0.0.1:4567/b/photos/k.jpg"


def test_a_ca_bundle_given_as_boto3_takes_it_is_trusted(monkeypatch, tmp_path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Happy Path test CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    bundle = tmp_path / "ca.pem"
    bundle.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(bundle))
    s3_objects.tls_context.cache_clear()
    try:
        trusted = s3_objects.tls_context().get_ca_certs()
        assert [dict(entry[0] for entry in ca["subject"])["commonName"] for ca in trusted] == ["Happy Path test CA"]
    finally:
        s3_objects.tls_context.cache_clear()


def test_the_local_s3_endpoint_checks_the_signatures_and_takes_any_key(app, monkeypatch):
    """Through the local runtime's S3 endpoint (moto behind SigV4 checks): keys that need encoding round-trip,
    and a request signed with another secret is refused as real S3 refuses it."""
    bucket = app.physical("DistributionBucket")
    for key in SPECIAL_KEYS:
        storage.write_object(bucket, key, b"image " + key.encode(), "image/jpeg", "no-store")
        assert storage.read_object(bucket, key) == b"image " + key.encode()
    storage.delete_objects(bucket, SPECIAL_KEYS)
    with pytest.raises(ClientError) as gone:
        storage.read_object(bucket, SPECIAL_KEYS[0])
    assert gone.value.response["Error"]["Code"] == "NoSuchKey"
    assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404

    access_key, secret, token = s3_objects.credentials()
    monkeypatch.setattr(app.seams.s3_gateway, "signers", lambda: [Credentials(access_key, secret, token)])
    monkeypatch.setattr(s3_objects, "credentials", lambda: (access_key, "not-the-secret", token))
    with pytest.raises(ClientError) as refused:
        storage.write_object(bucket, "photos/x.jpg", b"x", "image/jpeg", "no-store")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_the_local_s3_endpoint_checks_a_declared_md5_as_s3_does(app):
    bucket = app.physical("DistributionBucket")
    body = b'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Object><Key>k</Key></Object></Delete>'
    wrong = base64.b64encode(hashlib.md5(b"another body", usedforsecurity=False).digest()).decode()
    params = {"Bucket": bucket, "Delete": {"Objects": [{"Key": "k"}]}}
    headers = {"content-md5": wrong, "content-type": "application/xml"}
    with pytest.raises(ClientError) as refused:
        s3_objects._call("DeleteObjects", params, "POST", bucket, "", query="delete", headers=headers, body=body)
    assert refused.value.response["Error"]["Code"] == "BadDigest"


def test_a_hot_reload_keeps_the_handlers_s3_calls_in_process(app, monkeypatch):
    """A hot reload imports a new s3_objects: it is pointed at the local S3 endpoint again."""
    kept = {name: module for name, module in sys.modules.items() if name.split(".")[0] in SOURCE_PACKAGES}
    monkeypatch.setattr(app.invoker, "hot_reload", True)
    monkeypatch.setattr(app.invoker, "_sources_mtime", 0.0)
    monkeypatch.setattr(app.invoker, "_last_check", float("-inf"))
    try:
        assert app.invoker.reload_if_changed()
        fresh = importlib.import_module("happypath.s3_objects")
        assert fresh is not s3_objects
        assert fresh.transport == app.seams.send_to_s3
    finally:  # the rest of the run goes on with the modules it imported
        for name in [m for m in sys.modules if m.split(".")[0] in SOURCE_PACKAGES]:
            del sys.modules[name]
        sys.modules.update(kept)


def test_a_changed_object_is_told_apart_by_its_etag(app):
    bucket = app.physical("UploadBucket")
    storage.write_object(bucket, "uploads/etag-test.jpg", b"first", "image/jpeg", "no-store")
    with pytest.raises(storage.ObjectReplaced):
        storage.read_object(bucket, "uploads/etag-test.jpg", etag="0123456789abcdef0123456789abcdef")
    storage.delete_objects(bucket, ["uploads/etag-test.jpg"])


# --- what moto never answers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "raised", "transient"),
    [
        (["InternalError"], "InternalError", True),
        (["SlowDown", "InternalError"], "SlowDown", True),
        (["InternalError", "AccessDenied"], "AccessDenied", False),  # trying again cannot delete that one
        (["RequestTimeout", "AccessDenied"], "AccessDenied", False),
        (["RequestTimeout"], "RequestTimeout", True),  # botocore's rules: a code it retries
        (["NoSuchVersion"], "NoSuchVersion", False),
    ],
)
def test_a_delete_s3_answered_with_per_key_errors_is_not_taken_for_done(fake_s3, codes, raised, transient):
    """DeleteObjects answers 200 even when some keys were not deleted: those are listed under Errors, and raised
    as a failed call is, so that a passing error is retried by the workflow and answered 503 by the API."""
    errors = "".join(
        f"<Error><Key>{n}.webp</Key><Code>{code}</Code><Message>m</Message></Error>" for n, code in enumerate(codes)
    )
    fake_s3(Answer(200, f'<DeleteResult xmlns="{NAMESPACE[1:-1]}">{errors}</DeleteResult>'.encode()))
    with pytest.raises(ClientError, match=r"could not delete .*'0\.webp'") as raised_error:
        storage.delete_objects("bucket", ["a.jpg", *(f"{n}.webp" for n in range(len(codes)))])
    assert aws.client_error_code(raised_error.value) == raised
    assert aws.is_transient(raised_error.value) is transient


def test_a_delete_of_more_keys_than_one_request_takes_is_split(fake_s3):
    keys = [f"photos/{n}&<{n}>.jpg" for n in range(1500)]
    sent = fake_s3(Answer(200, b"<DeleteResult/>"), Answer(200, b"<DeleteResult/>"))
    storage.delete_objects("bucket", keys)
    batches = []
    for method, url, headers, body in sent.sent:
        assert (method, url) == ("POST", "https://bucket.s3.eu-west-1.amazonaws.com/?delete")
        assert headers["content-md5"] == base64.b64encode(hashlib.md5(body, usedforsecurity=False).digest()).decode()
        sent_keys = ElementTree.fromstring(body).iter(f"{NAMESPACE}Key")  # noqa: S314 (the client's own request)
        batches.append([key.text for key in sent_keys])
    assert batches == [keys[:1000], keys[1000:]]


def test_an_object_over_the_limit_is_refused_without_reading_its_body(fake_s3):
    answer = Answer(200, b"x" * 11)
    fake_s3(answer)
    with pytest.raises(storage.ObjectTooLarge, match="11 bytes is over the 10 byte limit"):
        storage.read_object("bucket", "key", max_bytes=10)
    assert answer.reads == 0
    assert answer.closed  # the connection is let go


def test_throttling_and_5xx_are_retried_and_then_raised_as_boto3_raises_them(fake_s3, no_backoff):
    sent = fake_s3(s3_error(503, "SlowDown"), s3_error(500, "InternalError"), Answer(200, b"image"))
    assert storage.read_object("bucket", "key") == b"image"
    assert len(sent.sent) == 3
    assert len(no_backoff) == 2
    assert all(0 <= pause <= 2 for pause in no_backoff)

    fake_s3(*[s3_error(503, "SlowDown")] * 3)
    with pytest.raises(ClientError) as throttled:
        storage.read_object("bucket", "key")
    assert throttled.value.response["Error"] == {"Code": "SlowDown", "Message": "as S3 says it"}
    assert throttled.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503


def test_what_trying_again_cannot_mend_is_raised_at_once(fake_s3):
    sent = fake_s3(s3_error(403, "AccessDenied"))
    with pytest.raises(ClientError, match="AccessDenied"):
        storage.write_object("bucket", "key", b"x", "image/jpeg", "no-store")
    assert len(sent.sent) == 1
    fake_s3(Answer(404))  # no body (as a HEAD): the status is the code, as boto3 gives it
    with pytest.raises(ClientError) as missing:
        storage.read_object("bucket", "key")
    assert missing.value.response["Error"]["Code"] == "404"


def test_network_failures_are_retried_then_raised_as_botocore_raises_them(fake_s3):
    sent = fake_s3(ConnectionRefusedError(), TimeoutError(), Answer(200, b"ok"))
    assert storage.read_object("bucket", "key") == b"ok"
    assert len(sent.sent) == 3
    fake_s3(ConnectionRefusedError(), ConnectionRefusedError(), ConnectionRefusedError())
    with pytest.raises(EndpointConnectionError):
        storage.read_object("bucket", "key")


def test_a_put_sends_its_type_cache_control_and_body_hash(fake_s3):
    sent = fake_s3(Answer(200))
    storage.write_object("bucket", "photos/p/u/tile.webp", b"webp", "image/webp", "public, max-age=60")
    ((method, url, headers, body),) = sent.sent
    assert (method, url, body) == ("PUT", "https://bucket.s3.eu-west-1.amazonaws.com/photos/p/u/tile.webp", b"webp")
    assert headers["content-type"] == "image/webp"
    assert headers["cache-control"] == "public, max-age=60"
    signed = headers["authorization"].split("SignedHeaders=")[1].split(",")[0].split(";")
    assert {"cache-control", "content-type", "host", "x-amz-content-sha256", "x-amz-date"} <= set(signed)


# --- the HTTP connections used in AWS ------------------------------------------------------------------------


class TinyS3(http.server.BaseHTTPRequestHandler):
    """Answers every GET with the path as body, and every PUT with `put_answer`, on kept-alive HTTP/1.1
    connections."""

    protocol_version = "HTTP/1.1"
    connections: ClassVar[list[int]] = []
    delay_s = 0.0
    put_answer = b""

    def setup(self) -> None:
        super().setup()
        TinyS3.connections.append(id(self.connection))

    def do_GET(self) -> None:
        time.sleep(TinyS3.delay_s)
        body = self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(TinyS3.put_answer)))
        self.end_headers()
        self.wfile.write(TinyS3.put_answer)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def tiny_s3(monkeypatch) -> Iterator[http.server.ThreadingHTTPServer]:
    TinyS3.connections, TinyS3.delay_s, TinyS3.put_answer = [], 0.0, b""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), TinyS3)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setattr(s3_objects, "transport", s3_objects.send_https)
    monkeypatch.setattr(s3_objects, "_idle", {})
    yield server
    server.shutdown()
    server.server_close()


def test_a_connection_is_kept_for_the_next_call_and_replaced_when_unusable(tiny_s3, no_backoff):
    assert s3_objects.get_object("b", "one", max_bytes=100) == b"/b/one"
    assert s3_objects.get_object("b", "two", max_bytes=100) == b"/b/two"
    assert len(TinyS3.connections) == 1

    with pytest.raises(storage.ObjectTooLarge):  # its body is left unread: the connection goes with it
        s3_objects.get_object("b", "three", max_bytes=3)
    assert s3_objects.get_object("b", "four", max_bytes=100) == b"/b/four"
    assert len(TinyS3.connections) == 2

    for idle in s3_objects._idle.values():  # as a server closing an idle connection
        for connection in idle:
            connection.sock.shutdown(2)
    assert s3_objects.get_object("b", "five", max_bytes=100) == b"/b/five"
    assert no_backoff == []  # a connection found closed is replaced, not counted as a failed attempt


def test_a_read_that_stalls_is_given_up_and_retried(tiny_s3, monkeypatch, no_backoff):
    monkeypatch.setattr(s3_objects, "READ_TIMEOUT_S", 0.05)
    TinyS3.delay_s = 0.3
    with pytest.raises(ReadTimeoutError):
        s3_objects.get_object("b", "slow", max_bytes=100)
    assert len(no_backoff) == 2  # three attempts


def test_connections_are_shared_by_the_threads_of_later_calls(tiny_s3):
    """The resize step writes from a new pool's threads at each invocation: a warm function reuses connections."""
    for _invocation in range(3):
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: s3_objects.get_object("b", str(n), max_bytes=100), range(4)))
    assert len(TinyS3.connections) <= 4


def test_a_write_answered_200_with_an_error_document_is_retried_and_raised(tiny_s3, no_backoff):
    """S3 can fail a write after sending its 200; botocore reads such an answer as a 500, and so does this."""
    TinyS3.put_answer = b"<Error><Code>InternalError</Code><Message>We encountered an internal error</Message></Error>"
    with pytest.raises(ClientError) as failed:
        s3_objects.put_object("b", "k", b"x", content_type="image/jpeg", cache_control="no-store")
    assert failed.value.response["Error"]["Code"] == "InternalError"
    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert len(no_backoff) == 2  # three attempts


@pytest.mark.parametrize("answer", [b"HELLO\r\n\r\n", b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab", b""])
def test_an_answer_that_is_not_http_or_cut_short_is_a_network_failure(answer, monkeypatch, no_backoff):
    """Not HTTP, cut short, or no answer: retried, then raised as botocore raises it (never as http.client's)."""
    listener = socket.create_server(("127.0.0.1", 0))

    def answer_badly() -> None:
        for _attempt in range(3):
            connection, _ = listener.accept()
            connection.recv(65536)
            connection.sendall(answer)
            connection.close()

    threading.Thread(target=answer_badly, daemon=True).start()
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{listener.getsockname()[1]}")
    monkeypatch.setattr(s3_objects, "transport", s3_objects.send_https)
    monkeypatch.setattr(s3_objects, "_idle", {})
    with pytest.raises((ConnectionClosedError, IncompleteReadError)):
        s3_objects.get_object("b", "k", max_bytes=100)
    assert len(no_backoff) == 2
    listener.close()
