"""The local sign-in issuer: logout redirects only to the app's own origins."""

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
