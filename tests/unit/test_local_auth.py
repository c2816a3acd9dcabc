"""The local sign-in issuer: logout redirects only to the app's own origins; the password grant's errors; tokens
for an API audience, and the local authorizer's audience check."""

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from werkzeug.test import Client

from happypath_local.auth import LocalIssuer
from happypath_local.gateway import JwtAuthorizer, verified_claims

ORIGIN = "http://127.0.0.1:8080"


@pytest.fixture
def issuer(tmp_path):
    return LocalIssuer(f"{ORIGIN}/auth", "web", [ORIGIN], tmp_path / "key.pem")


@pytest.mark.parametrize("target", [ORIGIN, f"{ORIGIN}/", f"{ORIGIN}/places/abc?x=1"])
def test_logout_redirects_to_the_app(issuer, target):
    response = Client(issuer).get("/logout", query_string={"post_logout_redirect_uri": target})
    assert response.status_code == 302
    assert response.headers["Location"] == target


@pytest.mark.parametrize("target", [f"{ORIGIN}.evil.example/", f"{ORIGIN}@evil.example/", "https://evil.example/"])
def test_logout_refuses_other_origins(issuer, target):
    response = Client(issuer).get("/logout", query_string={"post_logout_redirect_uri": target})
    assert response.status_code == 404
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("form", "error", "says"),
    [
        ({"username": "alice"}, "invalid_request", "username and client_id are required"),
        ({"client_id": "web"}, "invalid_request", "username and client_id are required"),
        ({"username": "alice", "client_id": "nope"}, "invalid_client", "unknown client_id 'nope'"),
    ],
)
def test_the_password_grant_says_what_is_wrong(issuer, form, error, says):
    response = Client(issuer).post("/token", data={"grant_type": "password", **form})
    assert response.status_code == 400
    assert response.json == {"error": error, "error_description": says}


def test_the_password_grant_signs_in(issuer):
    response = Client(issuer).post("/token", data={"grant_type": "password", "username": "alice", "client_id": "web"})
    assert response.status_code == 200
    assert response.json["token_type"] == "Bearer"


# --- an API audience, as Auth0 issues tokens for -------------------------------------------------------------

API = "https://api.happypath.test"


class IssuerKeys:
    """The JWKS client of an authorizer, answering with the issuer's own key (no HTTP)."""

    def __init__(self, issuer: LocalIssuer) -> None:
        self.issuer = issuer

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        return jwt.PyJWK(self.issuer.jwks()["keys"][0])


def authorizer(issuer: LocalIssuer, *audience: str) -> JwtAuthorizer:
    return JwtAuthorizer(issuer.issuer_url, audience, IssuerKeys(issuer))  # type: ignore[arg-type]


def access_token(issuer: LocalIssuer, **form: str) -> str:
    response = Client(issuer).post("/token", data={"grant_type": "password", "username": "alice", **form})
    assert response.status_code == 200, response.json
    return str(response.json["access_token"])


def signed_in_by_code(issuer: LocalIssuer, **params: str) -> dict:
    """The web app's sign-in: the issuer's form posted, the code exchanged (PKCE)."""
    verifier = "v" * 50
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    query = {
        "client_id": "web",
        "redirect_uri": f"{ORIGIN}/callback",
        "response_type": "code",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    client = Client(issuer)
    page = client.get("/authorize", query_string=query)
    assert page.status_code == 200, page.text
    assert all(f'name="{name}"' in page.text for name in query)  # the form carries every parameter on
    answer = client.post("/authorize", data={**query, "username": "alice"})
    assert answer.status_code == 302, answer.text
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    form = {"client_id": "web", "redirect_uri": f"{ORIGIN}/callback", "code_verifier": verifier, "code": code}
    tokens = client.post("/token", data={"grant_type": "authorization_code", **form})
    assert tokens.status_code == 200, tokens.json
    return dict(tokens.json)


@pytest.fixture
def issuer_with_api(tmp_path):
    return LocalIssuer(f"{ORIGIN}/auth", "web", [ORIGIN], tmp_path / "key.pem", api_audience=API)


def test_a_sign_in_that_asks_for_the_api_gets_a_token_for_it_which_the_api_takes(issuer_with_api):
    tokens = signed_in_by_code(issuer_with_api, audience=API)
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert (claims["aud"], claims["client_id"]) == (API, "web")
    assert verified_claims(tokens["access_token"], authorizer(issuer_with_api, API)) is not None
    # Its userinfo answers for it too, as the issuer's own endpoint does.
    userinfo = Client(issuer_with_api).get("/userinfo", headers={"Authorization": f"Bearer {tokens['access_token']}"})
    assert userinfo.status_code == 200


def test_the_api_refuses_a_token_for_another_audience_although_its_client_id_matches(issuer_with_api):
    """API Gateway reads client_id only from a token with no aud: a token for the client is not one for the API."""
    for_the_client = signed_in_by_code(issuer_with_api)["access_token"]
    assert jwt.decode(for_the_client, options={"verify_signature": False})["aud"] == "web"
    assert verified_claims(for_the_client, authorizer(issuer_with_api, API)) is None
    assert verified_claims(for_the_client, authorizer(issuer_with_api, "web")) is not None
    for_the_api = access_token(issuer_with_api, client_id="web", audience=API)
    assert verified_claims(for_the_api, authorizer(issuer_with_api, API)) is not None
    assert verified_claims(for_the_api, authorizer(issuer_with_api, "web")) is None  # its client_id is not read


def test_a_token_with_no_aud_is_taken_by_its_client_id(issuer):
    """Cognito's access tokens carry client_id and no aud."""
    token = issuer.sign({"iss": issuer.issuer_url, "sub": "s", "exp": 2_000_000_000, "client_id": "web"})
    assert verified_claims(token, authorizer(issuer, "web")) is not None
    assert verified_claims(token, authorizer(issuer, "other")) is None


def test_an_audience_the_issuer_does_not_know_is_refused(issuer_with_api, issuer):
    response = Client(issuer).post(
        "/token", data={"grant_type": "password", "username": "alice", "client_id": "web", "audience": API}
    )
    assert response.status_code == 400
    assert response.json == {"error": "invalid_request", "error_description": f"unknown audience '{API}'"}
    query = {"client_id": "web", "redirect_uri": f"{ORIGIN}/callback", "response_type": "code", "audience": "nope"}
    assert Client(issuer_with_api).get("/authorize", query_string=query).status_code == 400
