"""The local sign-in issuer: logout redirects only to the app's own origins; the password grant's errors."""

import pytest
from werkzeug.test import Client

from happypath_local.auth import LocalIssuer

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
