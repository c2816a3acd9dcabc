"""The S3 endpoint browsers upload to: moto's S3, behind the checks real S3 makes and moto skips.

moto accepts any presigned request (tampered, expired, wrong type, too large). This middleware verifies
POST policies (signature, expiry, every condition including content-length-range, no unlisted fields) and
query-signed URLs (SigV4 signature and expiry) and answers with S3's error codes; it also applies the
bucket's CORS rules. Requests signed in the Authorization header (SDKs, the CLI) pass through.
"""

import base64
import hashlib
import hmac
import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode
from xml.sax.saxutils import escape

import boto3
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from werkzeug.formparser import parse_form_data
from werkzeug.wrappers import Request, Response

from happypath_local.stack import REGION

UNCHECKED_FIELDS = {"policy", "x-amz-signature", "file"}


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


class S3Gateway:
    def __init__(self, s3_app: Any, secrets: dict[str, str]) -> None:
        self.s3_app = s3_app
        self.secrets = secrets  # access key id -> secret key of the credentials the app signs with
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
                self._check_post_policy(environ, bucket)
            elif "X-Amz-Signature" in request.args:
                self._check_query_signature(request)
            elif "Authorization" not in request.headers:
                raise Refused(403, "AccessDenied", "Access Denied")  # the buckets block public access
        except Refused as refused:
            return self._cors(refused.response(), bucket, origin)(environ, start_response)

        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(self.s3_app(environ, capture))
        response = Response(body, status=captured["status"], headers=captured["headers"])
        return self._cors(response, bucket, origin)(environ, start_response)

    # --- POST policy ---------------------------------------------------------------------------------

    def _check_post_policy(self, environ: dict[str, Any], bucket: str) -> None:
        raw = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        environ["wsgi.input"] = io.BytesIO(raw)  # moto reads the body again
        parse_env = dict(environ, **{"wsgi.input": io.BytesIO(raw)})
        _, form, files = parse_form_data(parse_env)
        fields = {name.lower(): value for name, value in form.items()}
        upload = files.get("file")
        if upload is None:
            raise Refused(400, "InvalidArgument", "POST requires exactly one file upload per request.")
        size = len(upload.read())
        if "policy" not in fields:  # an anonymous POST: the bucket is not public
            raise Refused(403, "AccessDenied", "Access Denied")
        self._check_policy_signature(fields)
        try:
            policy = json.loads(base64.b64decode(fields["policy"]))
        except ValueError as error:
            raise Refused(400, "InvalidPolicyDocument", "Invalid Policy: Invalid JSON.") from error
        expiration = datetime.fromisoformat(policy["expiration"].replace("Z", "+00:00"))
        if expiration < datetime.now(UTC):
            raise Refused(403, "AccessDenied", "Invalid according to Policy: Policy expired.")
        values = fields | {"bucket": bucket}
        covered = {"bucket"}
        for condition in policy.get("conditions", []):
            covered |= self._check_condition(condition, values, size)
        extra = set(fields) - covered - UNCHECKED_FIELDS - {f for f in fields if f.startswith("x-ignore-")}
        if extra:
            raise Refused(
                403, "AccessDenied", f"Invalid according to Policy: Extra input fields: {', '.join(sorted(extra))}"
            )

    def _check_policy_signature(self, fields: dict[str, str]) -> None:
        if fields.get("x-amz-algorithm") != "AWS4-HMAC-SHA256":
            raise Refused(400, "InvalidArgument", "Only AWS4-HMAC-SHA256 POST policies are supported")
        try:
            access_key, date, region, service, _ = fields["x-amz-credential"].split("/")
        except (KeyError, ValueError) as error:
            raise Refused(400, "AuthorizationQueryParametersError", "malformed X-Amz-Credential") from error
        secret = self._secret(access_key)
        key = _signing_key(secret, date, region, service)
        expected = hmac.new(key, fields["policy"].encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, fields.get("x-amz-signature", "")):
            raise Refused(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
            )

    def _secret(self, access_key: str) -> str:
        secret = self.secrets.get(access_key)
        if secret is None:
            raise Refused(
                403, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records."
            )
        return secret

    @staticmethod
    def _check_condition(condition: Any, values: dict[str, str], size: int) -> set[str]:
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
        if operator == "content-length-range":
            low, high = int(args[0]), int(args[1])
            if size > high:
                raise Refused(
                    400,
                    "EntityTooLarge",
                    "Your proposed upload exceeds the maximum allowed size",
                    ProposedSize=size,
                    MaxSizeAllowed=high,
                )
            if size < low:
                raise Refused(
                    400,
                    "EntityTooSmall",
                    "Your proposed upload is smaller than the minimum allowed size",
                    ProposedSize=size,
                    MinSizeAllowed=low,
                )
            return set()
        name = args[0].lstrip("$").lower()
        actual = values.get(name, "")
        if (operator == "eq" and actual != args[1]) or (operator == "starts-with" and not actual.startswith(args[1])):
            raise failed()
        return {name}

    # --- query-signed URLs ---------------------------------------------------------------------------

    def _check_query_signature(self, request: Request) -> None:
        params = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
        try:
            access_key, _date, region, _service, _ = params["X-Amz-Credential"].split("/")
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            expires = int(params["X-Amz-Expires"])
        except (KeyError, ValueError) as error:
            raise Refused(400, "AuthorizationQueryParametersError", "malformed query signature") from error
        secret = self._secret(access_key)
        if signed_at + timedelta(seconds=expires) < datetime.now(UTC):
            raise Refused(403, "AccessDenied", "Request has expired", Expires=signed_at + timedelta(seconds=expires))
        signature = params.pop("X-Amz-Signature")
        url = f"{request.scheme}://{request.host}{request.path}?{urlencode(params)}"
        unsigned = AWSRequest(method=request.method, url=url, headers={"host": request.host})
        unsigned.context["timestamp"] = params["X-Amz-Date"]
        signer = S3SigV4QueryAuth(Credentials(access_key, secret), "s3", region, expires=expires)
        canonical = signer.canonical_request(unsigned)
        expected = signer.signature(signer.string_to_sign(unsigned, canonical), unsigned)
        if not hmac.compare_digest(expected, signature):
            raise Refused(
                403,
                "SignatureDoesNotMatch",
                "The request signature we calculated does not match the signature you provided.",
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


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = ("AWS4" + secret).encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key
