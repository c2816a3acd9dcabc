"""A local OpenID Connect issuer: what Cognito's hosted UI is on AWS, for the same frontend code path.

Authorization code flow with PKCE (S256) for the browser, plus a password grant for curl and scripts
(local only). Tokens are RS256 JWTs; the API gateway checks them against this issuer's JWKS exactly as
the HTTP API's JWT authorizer does with Cognito.
"""

import base64
import hashlib
import html
import json
import secrets
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

CODE_TTL_S = 120
TOKEN_TTL_S = 3600
KEY_ID = "happypath-local-1"
USER_NAMESPACE = uuid.UUID("6f1c8a52-3f0e-4d7c-9a57-0b6b6e0b7d11")


def subject_for(username: str) -> str:
    """Stable `sub` per username, so a user keeps their photos across restarts."""
    return str(uuid.uuid5(USER_NAMESPACE, username.strip().lower()))


@dataclass(frozen=True)
class PendingCode:
    client_id: str
    redirect_uri: str
    code_challenge: str
    username: str
    scope: str
    nonce: str | None
    audience: str | None
    expires_at: float


class LocalIssuer:
    """`api_audience`: an API whose access tokens a sign-in may ask for (`audience`, as Auth0's): their `aud`
    is then that API's, not the client id."""

    def __init__(
        self,
        issuer_url: str,
        client_id: str,
        allowed_origins: list[str],
        key_path: Path | None,
        api_audience: str | None = None,
    ) -> None:
        self.issuer_url = issuer_url.rstrip("/")
        self.client_id = client_id
        self.api_audience = api_audience
        self.allowed_origins = allowed_origins
        self.private_key = self._load_or_create_key(key_path)
        self._codes: dict[str, PendingCode] = {}
        self._lock = threading.Lock()
        self.url_map = Map(
            [
                Rule("/.well-known/openid-configuration", endpoint="discovery"),
                Rule("/jwks.json", endpoint="jwks"),
                Rule("/authorize", endpoint="authorize", methods=["GET", "POST"]),
                Rule("/token", endpoint="token", methods=["POST", "OPTIONS"]),
                Rule("/userinfo", endpoint="userinfo", methods=["GET", "OPTIONS"]),
                Rule("/logout", endpoint="logout"),
            ]
        )

    @staticmethod
    def _load_or_create_key(path: Path | None) -> rsa.RSAPrivateKey:
        """The key kept at `path` (sign-ins outlive a restart), or a new one kept nowhere (`path` None)."""
        if path is not None and path.exists():
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            return key
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if path is None:
            return key
        path.parent.mkdir(parents=True, exist_ok=True)
        written = path.with_name(path.name + ".new")  # then renamed: a stop mid-write leaves no half key
        written.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        written.chmod(0o600)
        written.replace(path)
        return key

    # --- tokens ------------------------------------------------------------------------------------

    def jwks(self) -> dict[str, Any]:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {"keys": [public | {"kid": KEY_ID, "use": "sig", "alg": "RS256"}]}

    def sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": KEY_ID})

    def tokens_for(
        self,
        username: str,
        scope: str = "openid profile email",
        nonce: str | None = None,
        audience: str | None = None,
    ) -> dict[str, Any]:
        """Cognito's shape (the access token's `aud` is the client id), or, for a sign-in that asked for the API's
        `audience`, Auth0's (the access token's `aud` is the API's)."""
        now = int(time.time())
        subject = subject_for(username)
        common = {"iss": self.issuer_url, "sub": subject, "iat": now, "exp": now + TOKEN_TTL_S}
        access = common | {
            "aud": audience or self.client_id,
            "client_id": self.client_id,
            "token_use": "access",
            "scope": scope,
            "username": username,
            "jti": secrets.token_hex(8),
        }
        identity = common | {
            "aud": self.client_id,
            "token_use": "id",
            "email": username if "@" in username else f"{username}@happypath.local",
            "name": username,
            "preferred_username": username,
            **({"nonce": nonce} if nonce else {}),
        }
        return {
            "access_token": self.sign(access),
            "id_token": self.sign(identity),
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL_S,
            "scope": scope,
        }

    # --- HTTP --------------------------------------------------------------------------------------

    def discovery(self) -> dict[str, Any]:
        base = self.issuer_url
        return {
            "issuer": base,
            "authorization_endpoint": f"{base}/authorize",
            "token_endpoint": f"{base}/token",
            "userinfo_endpoint": f"{base}/userinfo",
            "jwks_uri": f"{base}/jwks.json",
            "end_session_endpoint": f"{base}/logout",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code", "password"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "scopes_supported": ["openid", "profile", "email"],
            "token_endpoint_auth_methods_supported": ["none"],
        }

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        try:
            endpoint, _ = self.url_map.bind_to_environ(environ).match()
            response = getattr(self, f"_{endpoint}")(request)
        except HTTPException as error:
            response = Response(
                json.dumps({"error": "invalid_request", "error_description": error.description}),
                status=error.code,
                mimetype="application/json",
            )
        return self._cors(request, response)(environ, start_response)

    def _cors(self, request: Request, response: Response) -> Response:
        origin = request.headers.get("Origin")
        if origin in self.allowed_origins:
            response.headers["Access-Control-Allow-Origin"] = origin
            response.headers["Access-Control-Allow-Headers"] = "authorization, content-type"
            response.headers["Vary"] = "Origin"
        return response

    def _discovery(self, request: Request) -> Response:
        return _json(self.discovery())

    def _jwks(self, request: Request) -> Response:
        return _json(self.jwks())

    def _check_client(self, params: MultiDict[str, str]) -> tuple[str, str]:
        if params.get("client_id") != self.client_id:
            raise BadRequest("unknown client_id")
        redirect_uri = params.get("redirect_uri", "")
        if not any(redirect_uri.startswith(origin + "/") for origin in self.allowed_origins):
            raise BadRequest("redirect_uri is not registered for this client")
        return self.client_id, redirect_uri

    def _check_audience(self, params: MultiDict[str, str]) -> str | None:
        audience = params.get("audience") or None
        if audience is not None and audience != self.api_audience:
            raise BadRequest(f"unknown audience {audience!r}")  # as Auth0 refuses an API it does not know
        return audience

    def _authorize(self, request: Request) -> Response:
        params = request.args if request.method == "GET" else request.form
        client_id, redirect_uri = self._check_client(params)
        audience = self._check_audience(params)
        if params.get("response_type") != "code":
            raise BadRequest("response_type must be code")
        if params.get("code_challenge_method") != "S256" or not params.get("code_challenge"):
            raise BadRequest("PKCE with code_challenge_method=S256 is required")
        if request.method == "GET":
            return Response(_sign_in_page(request.args), mimetype="text/html")
        username = (request.form.get("username") or "").strip()
        if not username:
            return Response(_sign_in_page(request.form, "Enter a user name."), status=400, mimetype="text/html")
        code = secrets.token_urlsafe(24)
        with self._lock:
            now = time.time()  # codes never exchanged would otherwise pile up
            self._codes = {key: pending for key, pending in self._codes.items() if pending.expires_at >= now}
            self._codes[code] = PendingCode(
                client_id,
                redirect_uri,
                params["code_challenge"],
                username,
                params.get("scope", "openid"),
                params.get("nonce"),
                audience,
                time.time() + CODE_TTL_S,
            )
        query = {"code": code} | ({"state": params["state"]} if params.get("state") else {})
        return redirect(f"{redirect_uri}?{urlencode(query)}", code=302)

    def _token(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status=204)
        grant = request.form.get("grant_type")
        if grant == "password":  # local convenience for curl and scripts; Cognito's hosted UI has none
            username, client_id = request.form.get("username", "").strip(), request.form.get("client_id")
            if not username or not client_id:
                return _token_error("invalid_request", "username and client_id are required")
            if client_id != self.client_id:
                return _token_error("invalid_client", f"unknown client_id {client_id!r}")
            try:
                audience = self._check_audience(request.form)
            except BadRequest as error:
                return _token_error("invalid_request", str(error.description))
            return _json(self.tokens_for(username, request.form.get("scope", "openid profile email"), None, audience))
        if grant != "authorization_code":
            return _token_error("unsupported_grant_type", f"grant_type {grant!r} is not supported")
        with self._lock:
            pending = self._codes.pop(request.form.get("code", ""), None)
        if pending is None or pending.expires_at < time.time():
            return _token_error("invalid_grant", "the code is unknown, used or expired")
        if (
            request.form.get("client_id") != pending.client_id
            or request.form.get("redirect_uri") != pending.redirect_uri
        ):
            return _token_error("invalid_grant", "client_id or redirect_uri differ from the authorization request")
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
        if not secrets.compare_digest(challenge, pending.code_challenge):
            return _token_error("invalid_grant", "code_verifier does not match the code_challenge")
        return _json(self.tokens_for(pending.username, pending.scope, pending.nonce, pending.audience))

    def _userinfo(self, request: Request) -> Response:
        if request.method == "OPTIONS":
            return Response(status=204)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        try:
            claims = jwt.decode(
                token,
                self.private_key.public_key(),
                algorithms=["RS256"],
                audience=[self.client_id, *([self.api_audience] if self.api_audience else [])],
                issuer=self.issuer_url,
            )
        except jwt.PyJWTError as error:
            return Response(
                status=401, headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{error}"'}
            )
        return _json({"sub": claims["sub"], "username": claims.get("username")})

    def _logout(self, request: Request) -> Response:
        target = request.args.get("post_logout_redirect_uri") or request.args.get("logout_uri")
        if target and any(target == origin or target.startswith(origin + "/") for origin in self.allowed_origins):
            return redirect(target, code=302)
        if target:
            raise NotFound("post_logout_redirect_uri is not registered")
        return Response("Signed out.", mimetype="text/plain")


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json", headers={"Cache-Control": "no-store"})


def _token_error(code: str, description: str) -> Response:
    return _json({"error": code, "error_description": description}, status=400)


def _sign_in_page(params: Any, error: str = "") -> str:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in params.items()
        if k != "username"
    )
    message = f'<p role="alert" class="error">{html.escape(error)}</p>' if error else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in - Happy Path (local)</title><link rel="icon" href="data:,">
<style>
body{{font-family:system-ui,sans-serif;max-width:24rem;margin:3rem auto;padding:0 1rem;color:#1a1a1a}}
label,input,button{{display:block;width:100%;font-size:1.1rem}}
input{{padding:.6rem;margin:.4rem 0 1rem;box-sizing:border-box}}
button{{padding:.7rem;background:#0b5cad;color:#fff;border:0;border-radius:.3rem}} .error{{color:#a00000}}
</style></head>
<body><main><h1>Sign in</h1>
<p>Local sign-in for development: any user name works, and the same name is the same user.</p>
{message}<form method="post">{hidden}
<label for="username">User name or email</label>
<input id="username" name="username" autocomplete="username" required autofocus>
<button type="submit">Sign in</button></form></main></body></html>"""
