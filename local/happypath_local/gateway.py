"""HTTP API emulation: routes, JWT authorizer, CORS and throttling read from the translated template.

Requests become payload-format-2.0 events for the integration's Lambda function, as API Gateway sends
them; the function's answer becomes the HTTP response.
"""

import base64
import json
import re
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import jwt
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge
from werkzeug.wrappers import Request, Response

from happypath_local.functions import Invoker
from happypath_local.stack import ACCOUNT, Stack

TEXT_TYPES = re.compile(r"^(text/|application/(json|xml|x-www-form-urlencoded)|multipart/form-data)")


@dataclass(frozen=True)
class Route:
    method: str
    path: str  # as declared: /places/{place_id}
    pattern: re.Pattern[str]
    function: str
    authorizer: str | None


@dataclass(frozen=True)
class JwtAuthorizer:
    issuer: str
    audience: tuple[str, ...]
    jwks: jwt.PyJWKClient


def verified_claims(token: str, authorizer: JwtAuthorizer) -> dict[str, Any] | None:
    """What the HTTP API JWT authorizer checks: signature (JWKS), issuer, expiry, and audience or client_id.
    The token's claims, or None when API Gateway would answer 401."""
    try:
        key = authorizer.jwks.get_signing_key_from_jwt(token)
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=["RS256"],
            issuer=authorizer.issuer,
            options={"verify_aud": False, "require": ["exp", "iss", "sub"]},
        )
    except (jwt.PyJWTError, jwt.PyJWKClientError):
        return None
    # API Gateway reads `client_id` only from a token with no `aud` (Cognito's access tokens have none).
    audiences = claims.get("aud") if "aud" in claims else claims.get("client_id")
    audiences = {audiences} if isinstance(audiences, str) else set(audiences or [])
    return claims if audiences & set(authorizer.audience) else None


class TokenBucket:
    """The stage's ThrottlingRateLimit / ThrottlingBurstLimit: over it, API Gateway answers 429."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.capacity = rate, burst
        self.tokens, self.updated = float(burst), time.monotonic()
        self.lock = threading.Lock()

    def take(self) -> bool:
        with self.lock:
            now = time.monotonic()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens < 1:
                return False
            self.tokens -= 1
            return True


def _compile(path: str) -> re.Pattern[str]:
    regex = re.sub(r"\\\{(\w+)\\\}", lambda m: f"(?P<{m.group(1)}>[^/]+)", re.escape(path))
    return re.compile(f"^{regex}$")


class ApiGateway:
    def __init__(
        self, stack: Stack, invoker: Invoker, api_logical_id: str = "HttpApi", *, throttle: bool = True
    ) -> None:
        body = stack.resources[api_logical_id]["Properties"]["Body"]
        self.invoker = invoker
        self.domain = "localhost"
        self.cors = body.get("x-amazon-apigateway-cors", {})
        self.authorizers: dict[str, JwtAuthorizer] = {}
        for name, scheme in body.get("components", {}).get("securitySchemes", {}).items():
            config = scheme["x-amazon-apigateway-authorizer"]["jwtConfiguration"]
            issuer = config["issuer"].rstrip("/")
            self.authorizers[name] = JwtAuthorizer(
                issuer=issuer,
                audience=tuple(config.get("audience", [])),
                # The issuer's discovery document names its JWKS; here it is the local issuer's.
                jwks=jwt.PyJWKClient(f"{issuer}/jwks.json", cache_keys=True, lifespan=300),
            )
        self.routes: list[Route] = []
        for path, operations in body["paths"].items():
            for method, operation in operations.items():
                uri = operation["x-amazon-apigateway-integration"]["uri"]
                function = uri.split("/functions/", 1)[1].removesuffix("/invocations")
                security = [name for entry in operation.get("security", []) for name in entry if name != "NONE"]
                self.routes.append(Route(method.upper(), path, _compile(path), function, next(iter(security), None)))
        # API Gateway takes the most specific route: GET /photos/mine before GET /photos/{photo_id}.
        self.routes.sort(key=lambda route: route.path.count("{"))
        stage: dict[str, Any] = next(iter(stack.of_type("AWS::ApiGatewayV2::Stage").values()), {"Properties": {}})
        settings = stage["Properties"].get("DefaultRouteSettings", {})
        self.throttle = (
            TokenBucket(float(settings["ThrottlingRateLimit"]), int(settings["ThrottlingBurstLimit"]))
            if throttle and "ThrottlingRateLimit" in settings
            else None
        )

    # --- WSGI --------------------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        response = self.handle(request)
        return self._with_cors(request, response)(environ, start_response)

    def handle(self, request: Request) -> Response:
        if request.method == "OPTIONS" and self.cors and request.headers.get("Access-Control-Request-Method"):
            return self._preflight(request)
        if self.throttle and not self.throttle.take():
            return _message(429, "Too Many Requests")
        # Read (and kept for the event) before any route or function runs. A chunked body declares no length:
        # it is read up to a byte past the quota (werkzeug stops at the limit without a word).
        request.max_content_length = MAX_PAYLOAD_BYTES + 1
        try:
            too_large = len(request.get_data()) > MAX_PAYLOAD_BYTES
        except RequestEntityTooLarge:  # its Content-Length says so
            too_large = True
        except BadRequest:  # cut short before its Content-Length, or chunks that are not chunks
            return _message(400, "Bad Request: the request body was cut short or is malformed")
        if too_large:
            return _message(413, "Request Entity Too Large")
        route, path_parameters = self._match(request.method, request.path)
        if route is None:
            return _message(404, "Not Found")
        claims: dict[str, Any] | None = None
        if route.authorizer:
            claims = self._authorize(request, self.authorizers[route.authorizer])
            if claims is None:
                return _message(401, "Unauthorized", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        event = self._event(request, route, path_parameters, claims)
        payload, errored, _ = self.invoker.invoke(route.function, event)
        if errored:
            return _message(500, "Internal Server Error")
        return _response(json.loads(payload))

    def _match(self, method: str, path: str) -> tuple[Route | None, dict[str, str]]:
        for route in self.routes:
            match = route.pattern.match(path)
            if match and route.method == method:
                return route, match.groupdict()
        return None, {}

    def _authorize(self, request: Request, authorizer: JwtAuthorizer) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header[:7].lower() == "bearer " else header.strip()
        return verified_claims(token, authorizer) if token else None

    def _event(
        self, request: Request, route: Route, path_parameters: dict[str, str], claims: dict[str, Any] | None
    ) -> dict[str, Any]:
        body = request.get_data()
        content_type = request.headers.get("Content-Type", "")
        is_text = not body or bool(TEXT_TYPES.match(content_type))
        if is_text:
            try:
                body.decode()
            except UnicodeDecodeError:  # declared text but not UTF-8: API Gateway passes it base64-encoded
                is_text = False
        headers: dict[str, str] = {}
        for name, value in request.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]},{value}" if key in headers else value
        query: dict[str, str] = {}
        for name, value in request.args.items(multi=True):
            query[name] = f"{query[name]},{value}" if name in query else value
        now = datetime.now(UTC)
        route_key = f"{route.method} {route.path}"
        context: dict[str, Any] = {
            "accountId": ACCOUNT,
            "apiId": "local",
            "domainName": request.host,
            "domainPrefix": request.host.split(".")[0],
            "http": {
                "method": request.method,
                "path": request.path,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "sourceIp": request.remote_addr or "127.0.0.1",
                "userAgent": request.headers.get("User-Agent", ""),
            },
            "requestId": str(uuid.uuid4()),
            "routeKey": route_key,
            "stage": "$default",
            "time": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
            "timeEpoch": int(now.timestamp() * 1000),
        }
        if claims is not None:
            scopes = str(claims.get("scope", "")).split()
            context["authorizer"] = {
                "jwt": {
                    "claims": {k: v if isinstance(v, str) else json.dumps(v) for k, v in claims.items()},
                    "scopes": scopes or None,
                }
            }
        event: dict[str, Any] = {
            "version": "2.0",
            "routeKey": route_key,
            "rawPath": request.path,
            "rawQueryString": request.query_string.decode(),
            "headers": headers,
            "requestContext": context,
            "isBase64Encoded": not is_text,
        }
        if request.cookies:
            event["cookies"] = [f"{k}={v}" for k, v in request.cookies.items()]
        if query:
            event["queryStringParameters"] = query
        if path_parameters:
            event["pathParameters"] = path_parameters
        if body:
            event["body"] = body.decode() if is_text else base64.b64encode(body).decode()
        return event

    # --- CORS --------------------------------------------------------------------------------------

    def _origin_allowed(self, origin: str | None) -> bool:
        allowed = self.cors.get("allowOrigins", [])
        return bool(origin) and ("*" in allowed or origin in allowed)

    def _preflight(self, request: Request) -> Response:
        origin = request.headers.get("Origin")
        method = request.headers.get("Access-Control-Request-Method", "").upper()
        if not self._origin_allowed(origin) or method not in [m.upper() for m in self.cors.get("allowMethods", [])]:
            return Response(status=204)  # no CORS headers: the browser refuses the request
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = ",".join(self.cors.get("allowMethods", []))
        response.headers["Access-Control-Allow-Headers"] = ",".join(self.cors.get("allowHeaders", []))
        if "maxAge" in self.cors:
            response.headers["Access-Control-Max-Age"] = str(self.cors["maxAge"])
        return response

    def _with_cors(self, request: Request, response: Response) -> Response:
        origin = request.headers.get("Origin")
        if self.cors and self._origin_allowed(origin):
            allowed = self.cors.get("allowOrigins", [])
            response.headers["Access-Control-Allow-Origin"] = "*" if "*" in allowed else str(origin)
            response.headers.add("Vary", "Origin")
            if exposed := self.cors.get("exposeHeaders"):
                response.headers["Access-Control-Expose-Headers"] = ", ".join(exposed)
        return response


MAX_PAYLOAD_BYTES = 10 * 1024 * 1024  # HTTP API's request payload quota (its 413 is not a function's answer)


def _message(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps({"message": message}), status=status, mimetype="application/json", headers=headers)


def _response(result: Any) -> Response:
    """Payload 2.0 responses: a dict with statusCode, or any other JSON value as a 200 body."""
    if not isinstance(result, dict) or "statusCode" not in result:
        return Response(json.dumps(result), status=200, mimetype="application/json")
    body = result.get("body") or ""
    data = base64.b64decode(body) if result.get("isBase64Encoded") else body.encode()
    response = Response(data, status=int(result["statusCode"]))
    response.headers.clear()
    for name, value in (result.get("headers") or {}).items():
        response.headers[name] = str(value)
    for name, values in (result.get("multiValueHeaders") or {}).items():
        for value in values:
            response.headers.add(name, str(value))
    for cookie in result.get("cookies") or []:
        response.headers.add("Set-Cookie", cookie)
    response.headers.setdefault("Content-Type", "application/json")
    return response
