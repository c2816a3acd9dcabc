"""scripts/web_config.py writes a config.json the web app accepts, from a deployed stack's outputs."""

import importlib.util
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from botocore.stub import Stubber
from happypath_testkit.stacks import STACK, described_stack

from happypath_local.server import LOCAL_CLIENT_ID, Urls, local_web_config
from happypath_local.stack import translate

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("web_config", ROOT / "scripts" / "web_config.py")
assert _spec is not None
assert _spec.loader is not None
web_config = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(web_config)

COGNITO_OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
    "AuthIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
    "AuthClientId": "5t1clientid",
    "CognitoHostedUi": "https://happypath-1a2b.auth.eu-west-1.amazoncognito.com",
    "FrontendOrigin": "https://photos.example.org",
    "DistributionUrl": "https://d111.cloudfront.net",
}


def write_config(tmp_path: Path, outputs: dict[str, str], *options: str) -> dict:
    out = tmp_path / "config.json"
    with described_stack(outputs, "eu-west-1") as client:
        assert web_config.main(["--stack", STACK, "--out", str(out), *options], client=client) == 0
    return json.loads(out.read_text())


def test_a_cognito_stack_gives_the_api_the_issuer_and_a_logout_back_to_the_app(tmp_path):
    config = write_config(tmp_path, COGNITO_OUTPUTS)
    defaults = json.loads((ROOT / "frontend" / "public" / "config.json").read_text())
    assert config["apiUrl"] == COGNITO_OUTPUTS["ApiUrl"]
    assert config["auth"]["authority"] == COGNITO_OUTPUTS["AuthIssuer"]
    assert config["auth"]["clientId"] == COGNITO_OUTPUTS["AuthClientId"]
    assert config["auth"]["redirectPath"] == "/callback"
    logout = urlsplit(config["auth"]["logoutUrl"])
    assert f"{logout.scheme}://{logout.netloc}{logout.path}" == COGNITO_OUTPUTS["CognitoHostedUi"] + "/logout"
    assert parse_qs(logout.query) == {"client_id": ["5t1clientid"], "logout_uri": ["https://photos.example.org/"]}
    assert set(config) == set(defaults)  # the same keys as the local config the app is tested with
    assert config["placeTypes"] == defaults["placeTypes"]
    assert (config["map"]["center"], config["map"]["zoom"]) == (defaults["map"]["center"], defaults["map"]["zoom"])
    assert config["map"]["tileUrl"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"  # users get a real map
    assert "OpenStreetMap" in config["map"]["attribution"]


def test_other_tiles_or_none(tmp_path):
    custom = write_config(tmp_path, COGNITO_OUTPUTS, "--tile-url", "https://tiles.example/{z}/{x}/{y}.png")
    assert (custom["map"]["tileUrl"], custom["map"]["attribution"]) == ("https://tiles.example/{z}/{x}/{y}.png", "")
    plain = write_config(tmp_path, COGNITO_OUTPUTS, "--tile-url", "")
    assert (plain["map"]["tileUrl"], plain["map"]["attribution"]) == ("", "")


def test_the_web_app_s_own_tests_validate_what_it_writes(tmp_path):
    # frontend/tests/config.test.ts runs the app's config validator on this file.
    fixture = ROOT / "frontend" / "tests" / "fixtures" / "deployed-config.json"
    assert write_config(tmp_path, COGNITO_OUTPUTS) == json.loads(fixture.read_text()), (
        f"the script's output changed: update {fixture.relative_to(ROOT)} from this test's tmp_path"
    )


def test_the_attribution_given_is_kept(tmp_path):
    config = write_config(tmp_path, COGNITO_OUTPUTS, "--attribution", "Map data: OSM, tiles: us")
    assert config["map"]["attribution"] == "Map data: OSM, tiles: us"


def test_another_issuer_has_no_cognito_logout(tmp_path):
    outputs = {k: v for k, v in COGNITO_OUTPUTS.items() if k != "CognitoHostedUi"}
    outputs |= {"AuthIssuer": "https://tenant.eu.auth0.com/", "AuthClientId": "spa"}
    config = write_config(tmp_path, outputs)
    assert config["auth"]["authority"] == "https://tenant.eu.auth0.com/"
    assert "logoutUrl" not in config["auth"]  # the issuer's own end_session_endpoint is used
    assert "audience" not in config["auth"]  # its tokens name the client


def test_another_issuer_with_an_api_audience_has_the_web_app_ask_for_it(tmp_path):
    outputs = {k: v for k, v in COGNITO_OUTPUTS.items() if k != "CognitoHostedUi"}
    outputs |= {"AuthIssuer": "https://tenant.eu.auth0.com/", "AuthClientId": "spa", "AuthAudience": "https://api"}
    config = write_config(tmp_path, outputs)
    assert (config["auth"]["clientId"], config["auth"]["audience"]) == ("spa", "https://api")


def test_a_stack_without_the_outputs_is_named_not_half_written(tmp_path):
    with pytest.raises(SystemExit, match="no output AuthIssuer, AuthClientId"):
        write_config(tmp_path, {"ApiUrl": COGNITO_OUTPUTS["ApiUrl"], "FrontendOrigin": "https://x.example"})
    assert not (tmp_path / "config.json").exists()


def test_the_outputs_it_reads_are_the_template_s():
    outputs = translate(ROOT / "template.yaml", {})[0]["Outputs"]
    assert set(web_config.REQUIRED_OUTPUTS) | {"CognitoHostedUi", "AuthAudience"} <= set(outputs)
    assert outputs["CognitoHostedUi"]["Condition"] == "UseCognito"
    assert outputs["AuthAudience"]["Condition"] == "AsksForAudience"


def test_the_stack_and_region_default_to_what_the_last_deploy_saved(tmp_path):
    # As committed: sam deploy's region, the shared stack name.
    assert web_config.deployed_stack(ROOT / "samconfig.toml") == ("happy-path", "us-east-1")
    # As `sam deploy --guided` saves its answers: in the deploy section, which wins.
    saved = tmp_path / "samconfig.toml"
    saved.write_text(
        'version = 0.1\n[default.global.parameters]\nstack_name = "happy-path"\n'
        '[default.deploy.parameters]\nstack_name = "photos-prod"\nregion = "eu-west-1"\n'
    )
    assert web_config.deployed_stack(saved) == ("photos-prod", "eu-west-1")
    assert web_config.deployed_stack(tmp_path / "none.toml") == ("happy-path", None)  # then AWS's own configuration


def test_a_stack_not_in_the_region_is_named_with_the_region(tmp_path):
    client = boto3.client("cloudformation", region_name="eu-west-3")
    with Stubber(client) as stub:
        stub.add_client_error(
            "describe_stacks", "ValidationError", f"Stack with id {STACK} does not exist", 400, {"StackName": STACK}
        )
        with pytest.raises(SystemExit, match=f"no stack {STACK} in eu-west-3: .*--region"):
            web_config.main(["--stack", STACK, "--out", str(tmp_path / "config.json")], client=client)


def test_the_local_runtime_serves_what_the_same_builder_makes_for_its_own_urls():
    urls = Urls(app="http://127.0.0.1:8080", api="http://127.0.0.1:8081", s3="http://127.0.0.1:8082")
    defaults = json.loads((ROOT / "frontend" / "public" / "config.json").read_text())
    config = local_web_config(urls, None)
    assert set(config) == set(defaults)
    assert config["apiUrl"] == "http://127.0.0.1:8081"
    assert (config["auth"]["authority"], config["auth"]["clientId"]) == ("http://127.0.0.1:8080/auth", LOCAL_CLIENT_ID)
    logout = urlsplit(config["auth"]["logoutUrl"])  # the local issuer signs out as Cognito's hosted UI does
    assert f"{logout.scheme}://{logout.netloc}{logout.path}" == "http://127.0.0.1:8080/auth/logout"
    assert parse_qs(logout.query) == {"client_id": [LOCAL_CLIENT_ID], "logout_uri": ["http://127.0.0.1:8080/"]}
    assert (config["map"]["tileUrl"], config["map"]["attribution"]) == ("", "")  # no internet needed
    assert config["map"]["center"] == defaults["map"]["center"]
    assert config["placeTypes"] == defaults["placeTypes"]
    assert config["title"] == "Happy Path (local)"
    assert local_web_config(urls, ["restaurant", "cafe"])["placeTypes"] == ["restaurant", "cafe"]
    assert "audience" not in config["auth"]
    assert local_web_config(urls, None, "https://api.test")["auth"]["audience"] == "https://api.test"
