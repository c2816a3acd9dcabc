"""The S3 endpoint browsers upload to: moto's S3, behind the checks real S3 makes and moto skips.

moto accepts any request (unsigned, tampered, expired, wrong type, too large). This middleware verifies every
request's SigV4 signature (in the Authorization header, as SDKs and the CLI sign; in the query, as presigned
URLs do; or a POST policy's, with its expiry, every condition including content-length-range and no unlisted
fields), the session token of temporary credentials, and answers with S3's error codes; it also applies the
bucket's CORS rules.
"""

import base64
import hashlib
import hmac
import json
import re
import tempfile
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import IO, Any
from urllib.parse import quote, unquote
from xml.sax.saxutils import escape

import boto3
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.http import parse_options_header
from werkzeug.sansio.multipart import Data, Epilogue, Field, File, MultipartDecoder, NeedData
from werkzeug.wrappers import Request, Response

from happypath import s3_objects
from happypath_local.stack import REGION

UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file"}
MOTO_FIELD_NAMES = {"key": "key", "content-type": "Content-Type"}  # the fields moto reads, named as it reads them
MAX_FIELDS_BYTES = 20 * 1024  # S3 refuses a POST whose fields before the file exceed 20 KB
FORM_OVERHEAD_BYTES = 1024  # the file part's headers and the closing boundary
SPOOL_IN_MEMORY_BYTES = 1024 * 1024  # request bodies beyond this wait on disk, not in memory
READ_CHUNK_BYTES = 64 * 1024
MAX_CLOCK_SKEW = timedelta(minutes=15)
UNSIGNED_PAYLOADS = ("UNSIGNED-PAYLOAD", "STREAMING-")
AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[a-z0-9-]+)/s3/aws4_request,\s*"
    r"SignedHeaders=(?P<headers>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})"
)


class Refused(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.extra = status, code, message, extra

    def response(self) -> Response:
        details = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in self.extra.items())
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{self.code}</Code><Message>{escape(self.message)}</Message>{details}"
            f"<RequestId>{uuid.uuid4().hex[:16].upper()}</RequestId></Error>"
        )
        return Response(body, status=self.status, mimetype="application/xml")


def _signature_mismatch() -> Refused:
    return Refused(
        403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided."
    )


def _check_signature(
    signer: SigV4Auth,
    request: Request,
    *,
    headers: dict[str, str],
    params: dict[str, str],
    timestamp: str,
    signature: str,
) -> None:
    """Signs the request again, as the client says it did (these headers and parameters, at this time), and
    compares: botocore's own canonical form, so the check agrees with what SDKs send."""
    unsigned = AWSRequest(
        method=request.method,
        url=f"http://{request.host}{quote(request.path, safe='/~')}",
        headers=headers,
        params=params,
    )
    unsigned.context["timestamp"] = timestamp
    canonical = signer.canonical_request(unsigned)
    expected = signer.signature(signer.string_to_sign(unsigned, canonical), unsigned)
    if not hmac.compare_digest(expected, signature):
        raise _signature_mismatch()


def _query_params(request: Request) -> dict[str, str]:
    """The query as signed: each `name=value` pair percent-decoded, empty pairs (`&&`) skipped."""
    pairs = (pair.partition("=") for pair in request.query_string.decode().split("&") if pair)
    return {unquote(name): unquote(value) for name, _, value in pairs}


def _form_part(boundary: str, name: str, filename: str | None = None, content_type: str | None = None) -> bytes:
    """The start of one multipart/form-data part, up to its content (names quoted as browsers quote them)."""

    def quoted(text: str) -> str:
        return text.replace("\\", "%5C").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")

    head = f'--{boundary}\r\nContent-Disposition: form-data; name="{quoted(name)}"'
    if filename is not None:
        head += f'; filename="{quoted(filename)}"'
    if content_type:
        head += f"\r\nContent-Type: {content_type}"
    return (head + "\r\n\r\n").encode()


def _entity_too_large(size: int, high: int) -> Refused:
    return Refused(
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed size",
        ProposedSize=size,
        MaxSizeAllowed=high,
    )


def handler_credentials() -> list[Credentials]:
    """What the handlers sign with, read at each request (moto replaces the access key while it runs)."""
    return [Credentials(*s3_objects.credentials())]


class S3Gateway:
    def __init__(self, s3_app: Any, credentials: Callable[[], Iterable[Credentials]] = handler_credentials) -> None:
        self.s3_app = s3_app
        self.signers = credentials  # those the app signs with, read at each request
        self.s3 = boto3.client("s3", region_name=REGION)

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        bucket = request.path.lstrip("/").split("/", 1)[0]
        origin = request.headers.get("Origin")
        if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(request, bucket)(environ, start_response)
        try:
            if (
                request.method == "POST"
                and request.mimetype == "multipart/form-data"
                and "/" not in request.path.strip("/")
            ):
                self._check_post(environ, request, bucket)
            elif "X-Amz-Signature" in request.args:
                self._check_query_signature(request)
            elif "Authorization" in request.headers:
                self._check_header_signature(environ, request)
            else:
                raise Refused(403, "AccessDenied", "Access Denied")  # the buckets block public access
        except Refused as refused:
            response = refused.response()
            response.headers["Connection"] = "close"  # the body may be unread: do not parse it as a request
            return self._cors(response, bucket, origin)(environ, start_response)

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.s3_app(environ, capture))
        response = Response(body, status=captured["status"], headers=captured["headers"])
        return self._cors(response, bucket, origin)(environ, start_response)

    def _credentials(self, access_key: str, token: str | None) -> Credentials:
        credentials = {c.access_key: c for c in self.signers()}.get(access_key)
        if credentials is None:
            raise Refused(
                403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
            )
        if token != credentials.token:  # temporary credentials are valid only with their session token
            raise Refused(403, "InvalidToken", "The provided token is malformed or otherwise invalid.")
        return credentials

    # --- POST policy ---------------------------------------------------------------------------------

    def _check_post(self, environ: dict[str, Any], request: Request, bucket: str) -> None:
        """Reads the form as it arrives. The fields come first: with them, the body's Content-Length tells whether
        the file can be within the policy's size before any of it is read.

        moto then gets a form written again from what was checked: each field once and the one file, nothing
        after it (S3 ignores what follows the file). moto reads a form its own way (the first of a repeated
        field, names as cased, the last file part), so the body as sent could store another key or file than
        the one checked. A field sent twice, in any case, is refused. The form is kept on disk past a megabyte."""
        try:
            total = int(environ.get("CONTENT_LENGTH") or "")
        except ValueError:
            raise Refused(411, "MissingContentLength", "You must provide the Content-Length HTTP header.") from None
        boundary = parse_options_header(request.headers.get("Content-Type"))[1].get("boundary", "")
        decoder = MultipartDecoder(boundary.encode())
        stream = environ["wsgi.input"]
        read_some = getattr(stream, "read1", stream.read)  # what has arrived, without waiting for a whole chunk
        form: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 (moto reads it)
        fields: dict[str, str] = {}  # by lower-case name, for the checks
        named: list[tuple[str, str]] = []  # as sent, for moto
        part, sent_name, value = "", "", bytearray()  # the part being read
        size_range: tuple[int, int] | None = None  # known once the fields before the file are read
        size, received, ended = 0, 0, False
        while not ended:
            chunk = read_some(min(READ_CHUNK_BYTES, total - received)) if received < total else b""
            if received < total and not chunk:
                raise Refused(400, "IncompleteBody", "The request body is shorter than its Content-Length.")
            received += len(chunk)
            try:
                decoder.receive_data(chunk or None)  # None: the body is complete
                while not isinstance(event := decoder.next_event(), NeedData):
                    if isinstance(event, Epilogue):
                        ended = True
                        break
                    if isinstance(event, Field | File) and size_range is None:
                        part, sent_name, value = event.name.lower(), event.name, bytearray()
                        if part in fields:
                            raise Refused(
                                400, "InvalidArgument", f"The form has the field {event.name} more than once."
                            )
                        if part == "file":
                            size_range = self._check_fields(fields, bucket)
                            room = total - (received - len(decoder.buffer))  # the file and the closing boundary
                            if room > size_range[1] + FORM_OVERHEAD_BYTES:
                                raise _entity_too_large(room, size_range[1])
                            for name, text in named:  # S3 takes its own fields in any case; moto, as it names them
                                name = MOTO_FIELD_NAMES.get(name.lower(), name)
                                form.write(_form_part(boundary, name) + text.encode() + b"\r\n")
                            filename = event.filename if isinstance(event, File) else "file"
                            form.write(_form_part(boundary, "file", filename, event.headers.get("Content-Type")))
                    elif isinstance(event, Data) and part == "file" and size_range is not None:
                        size += len(event.data)
                        if size > size_range[1]:
                            raise _entity_too_large(size, size_range[1])
                        form.write(event.data)
                        if not event.more_data:
                            part = "#after-the-file"  # S3 ignores what follows the file
                    elif isinstance(event, Data) and size_range is None:
                        value += event.data
                        if not event.more_data:
                            fields[part] = value.decode()
                            named.append((sent_name, fields[part]))
            except ValueError as error:  # not multipart/form-data after all
                raise Refused(
                    400, "MalformedPOSTRequest", "The body of your POST request is not well-formed multipart/form-data."
                ) from error
            if size_range is None and received - len(decoder.buffer) > MAX_FIELDS_BYTES + FORM_OVERHEAD_BYTES:
                raise Refused(
                    400,
                    "MaxPostPreDataLengthExceeded",
                    "Your POST request fields preceding the upload file were too large.",
                )
            ended = ended or not chunk
        if size_range is None:
            raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
        if size < size_range[0]:
            raise Refused(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed size",
                ProposedSize=size,
                MinSizeAllowed=size_range[0],
            )
        form.write(b"\r\n--" + boundary.encode() + b"--\r\n")
        environ["CONTENT_LENGTH"] = str(form.tell())
        form.seek(0)
        environ["wsgi.input"] = form

    def _check_fields(self, fields: dict[str, str], bucket: str) -> tuple[int, int]:
        """Signature, expiry and every condition but the size; returns content-length-range (low, high)."""
        if "policy" not in fields:  # an anonymous POST: the bucket is not public
            raise Refused(403, "AccessDenied", "Access Denied")
        self._check_policy_signature(fields)
        try:
            policy = json.loads(base64.b64decode(fields["policy"]))
            expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        except (ValueError, KeyError, TypeError) as error:
            raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from error
        if expiration < datetime.now(UTC):
            raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = fields | {"bucket": bucket}
        covered, size_range = {"bucket"}, (0, 5 * 1024**3)  # without a range, S3's largest single upload
        for condition in policy.get("conditions", []):
            if isinstance(condition, list) and condition and condition[0] == "content-length-range":
                size_range = (int(condition[1]), int(condition[2]))
            else:
                covered |= self._check_condition(condition, values)
        extra = set(fields) - covered - UNCHECKED_FIELDS - {f for f in fields if f.startswith("x-ignore-")}
        if extra:
            raise Refused(
                403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(sorted(extra))}"
            )
        return size_range

    def _check_policy_signature(self, fields: dict[str, str]) -> None:
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise Refused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 POST policies are supported")
        try:
            access_key, date, region, service, _ = fields["x-amz-credential"].split("/")
        except (KeyError, ValueError) as error:
            raise Refused(400, "AuthorizationQueryParametersError", "malformed X-Amz-Credential") from error
        secret = self._credentials(access_key, fields.get("x-amz-security-token")).secret_key
        key = s3_objects.signing_key(secret, date, region, service)
        expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
            raise _signature_mismatch()

    @staticmethod
    def _check_condition(condition: Any, values: dict[str, str]) -> set[str]:
        def failed() -> Refused:
            return Refused(
                403, "AccessDenied", f"Invalid according to Policy: Policy Condition failed: {json.dumps(condition)}"
            )

        if isinstance(condition, dict):
            ((name, expected),) = condition.items()
            if values.get(name.lower()) != expected:
                raise failed()
            return {name.lower()}
        operator, *args = condition
        name = args[0].lstrip("$").lower()
        actual = values.get(name, "")
        if (operator == "eq" and actual != args[1]) or (operator == "starts-with" and not actual.startswith(args[1])):
            raise failed()
        return {name}

    # --- requests signed in the Authorization header (SDKs, the CLI) ----------------------------------

    def _check_header_signature(self, environ: dict[str, Any], request: Request) -> None:
        match = AUTHORIZATION.fullmatch(request.headers["Authorization"].strip())
        amz_date = request.headers.get("X-Amz-Date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            signed_at = None
        if match is None or signed_at is None:
            raise Refused(403, "AccessDenied", "The authorization header is malformed or has no valid X-Amz-Date.")
        credentials = self._credentials(match["key"], request.headers.get("X-Amz-Security-Token"))
        if abs(datetime.now(UTC) - signed_at) > MAX_CLOCK_SKEW:
            raise Refused(
                403,
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        signed = match["headers"].split(";")
        if "host" not in signed or any(name not in request.headers for name in signed):
            raise _signature_mismatch()
        _check_signature(
            S3SigV4Auth(credentials, "s3", match["region"]),
            request,
            headers={name: request.headers[name] for name in signed},
            params=_query_params(request),
            timestamp=amz_date,
            signature=match["signature"],
        )
        self._check_payload_hash(
            environ, request.headers.get("X-Amz-Content-SHA256", ""), request.headers.get("Content-MD5")
        )

    @staticmethod
    def _check_payload_hash(environ: dict[str, Any], declared: str, content_md5: str | None) -> None:
        """The signature covers the body through its declared hash: the body must have that hash (and the MD5 it
        declares, if it declares one)."""
        if declared.startswith(UNSIGNED_PAYLOADS):
            return
        if not re.fullmatch(r"[0-9a-f]{64}", declared):
            raise Refused(400, "InvalidRequest", "Missing required header for this request: x-amz-content-sha256")
        stream, remaining = environ["wsgi.input"], int(environ.get("CONTENT_LENGTH") or 0)
        body: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY_BYTES)  # noqa: SIM115 (moto reads it)
        digest, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
        while remaining > 0 and (chunk := stream.read(min(READ_CHUNK_BYTES, remaining))):
            remaining -= len(chunk)
            digest.update(chunk)
            md5.update(chunk)
            body.write(chunk)
        if content_md5 is not None and not hmac.compare_digest(base64.b64encode(md5.digest()).decode(), content_md5):
            raise Refused(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        if not hmac.compare_digest(digest.hexdigest(), declared):
            raise Refused(
                400,
                "XAmzContentSHA256Mismatch",
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
            )
        body.seek(0)
        environ["wsgi.input"] = body  # moto reads the body again

    # --- query-signed URLs ---------------------------------------------------------------------------

    def _check_query_signature(self, request: Request) -> None:
        params = _query_params(request)
        try:
            access_key, _date, region, _service, _ = params["X-Amz-Credential"].split("/")
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(params["X-Amz-Expires"])
        except (KeyError, ValueError) as error:
            raise Refused(400, "AuthorizationQueryParametersError", "malformed query signature") from error
        credentials = self._credentials(access_key, params.get("X-Amz-Security-Token"))
        if signed_at + timedelta(seconds=expires) < datetime.now(UTC):
            raise Refused(403, "AccessDenied", "Request has expired", Expires=signed_at + timedelta(seconds=expires))
        signature = params.pop("X-Amz-Signature")
        _check_signature(
            S3SigV4QueryAuth(credentials, "s3", region, expires=expires),
            request,
            headers={"host": request.host},
            params=params,
            timestamp=params["X-Amz-Date"],
            signature=signature,
        )

    # --- CORS (from the bucket's own configuration) ---------------------------------------------------

    def _rules(self, bucket: str) -> list[dict[str, Any]]:
        try:
            return list(self.s3.get_bucket_cors(Bucket=bucket)["CORSRules"])  # type: ignore[arg-type]
        except Exception:  # no such bucket or no CORS configuration: no CORS headers
            return []

    def _matching_rule(self, bucket: str, origin: str | None, method: str) -> dict[str, Any] | None:
        for rule in self._rules(bucket):
            origins = rule.get("AllowedOrigins", [])
            if origin and ("*" in origins or origin in origins) and method in rule.get("AllowedMethods", []):
                return rule
        return None

    def _preflight(self, request: Request, bucket: str) -> Response:
        method = request.headers.get("Access-Control-Request-Method", "")
        rule = self._matching_rule(bucket, request.headers.get("Origin"), method)
        if rule is None:
            return Refused(403, "AccessForbidden", "CORSResponse: This CORS request is not allowed.").response()
        response = Response(status=200)
        response.headers["Access-Control-Allow-Origin"] = request.headers["Origin"]
        response.headers["Access-Control-Allow-Methods"] = ", ".join(rule["AllowedMethods"])
        requested = request.headers.get("Access-Control-Request-Headers")
        if requested:
            response.headers["Access-Control-Allow-Headers"] = requested
        if "MaxAgeSeconds" in rule:
            response.headers["Access-Control-Max-Age"] = str(rule["MaxAgeSeconds"])
        response.headers["Vary"] = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
        return response

    def _cors(self, response: Response, bucket: str, origin: str | None) -> Response:
        if origin and bucket:
            rule = self._matching_rule(bucket, origin, "POST") or self._matching_rule(bucket, origin, "GET")
            if rule is not None:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Vary"] = "Origin"
        return response
