"""scripts/publish_web.py puts the built web app in the stack's bucket, the way the distribution serves it."""

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from happypath_testkit.stacks import STACK, described_stack
from moto import mock_aws

import publish_web
from happypath_local.stack import translate

ROOT = Path(__file__).resolve().parents[2]
REGION = "eu-west-1"
OUTPUTS = {
    "ApiUrl": "https://abc123.execute-api.eu-west-1.amazonaws.com",
    "AuthIssuer": "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC",
    "AuthClientId": "5t1clientid",
    "CognitoHostedUi": "https://happypath-1a2b.auth.eu-west-1.amazoncognito.com",
    "FrontendOrigin": "https://d111.cloudfront.net",
    "DistributionUrl": "https://d111.cloudfront.net",
}


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    """A build as Vite lays it out."""
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "index-3f9a2c.js").write_text("console.log('app')")
    (tmp_path / "assets" / "index-77b1e0.css").write_text("body{}")
    (tmp_path / "favicon.svg").write_text("<svg/>")
    (tmp_path / "config.json").write_text("{}")  # the local one, copied from public/ by the build
    (tmp_path / "index.html").write_text("<script src='/assets/index-3f9a2c.js'></script>")
    return tmp_path


@pytest.fixture
def bucket() -> str:
    return f"happy-path-webappbucket-{uuid.uuid4().hex[:12]}"  # other tests' moto may be running


@pytest.fixture
def s3(bucket: str) -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        yield client


def run(dist: Path, s3: Any, bucket: str, outputs: dict[str, str], *options: str) -> int:
    with described_stack(outputs | {"WebAppBucketName": bucket}, REGION) as cloudformation:
        return publish_web.main(["--stack", STACK, "--dist", str(dist), *options], cloudformation, s3)


def test_the_app_is_uploaded_with_the_stacks_config_and_the_right_caching(dist, s3, bucket):
    put: list[str] = []
    s3.meta.events.register("provide-client-params.s3.PutObject", lambda params, **_: put.append(params["Key"]))
    assert run(dist, s3, bucket, OUTPUTS) == 0
    assert put[-1] == "index.html"  # last: it never names an asset that is not there yet
    assert put[:2] == ["assets/index-3f9a2c.js", "assets/index-77b1e0.css"]
    expected = {
        "assets/index-3f9a2c.js": ("text/javascript", publish_web.IMMUTABLE),
        "assets/index-77b1e0.css": ("text/css", publish_web.IMMUTABLE),
        "favicon.svg": ("image/svg+xml", publish_web.REVALIDATE),
        "config.json": ("application/json", publish_web.REVALIDATE),
        "index.html": ("text/html", publish_web.REVALIDATE),
    }
    for key, (media_type, caching) in expected.items():
        head = s3.head_object(Bucket=bucket, Key=key)
        assert (head["ContentType"], head["CacheControl"]) == (media_type, caching), key
    config = json.loads(s3.get_object(Bucket=bucket, Key="config.json")["Body"].read())
    assert (config["apiUrl"], config["auth"]["clientId"]) == (OUTPUTS["ApiUrl"], OUTPUTS["AuthClientId"])
    assert "logout_uri=https%3A%2F%2Fd111.cloudfront.net%2F" in config["auth"]["logoutUrl"]  # back to the app
    assert json.loads((dist / "config.json").read_text()) == config


def test_files_of_an_earlier_version_stay_unless_pruned(dist, s3, bucket):
    s3.put_object(Bucket=bucket, Key="assets/index-0ld000.js", Body=b"old")  # a page still open may load it
    assert run(dist, s3, bucket, OUTPUTS) == 0
    s3.head_object(Bucket=bucket, Key="assets/index-0ld000.js")
    assert run(dist, s3, bucket, OUTPUTS, "--prune") == 0
    listed = {item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert listed == set(publish_web.files_in_order(dist))


def test_a_stack_that_expects_its_app_elsewhere_is_refused(dist, s3, bucket):
    elsewhere = OUTPUTS | {"FrontendOrigin": "https://photos.example.org"}
    with pytest.raises(SystemExit, match=r"expects its web app at https://photos\.example\.org"):
        run(dist, s3, bucket, elsewhere)
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_nothing_is_published_without_a_build(tmp_path, s3):
    with pytest.raises(SystemExit, match="build the web app first"):
        publish_web.main(["--stack", "happy-path", "--dist", str(tmp_path)], object(), s3)


def test_the_outputs_read_exist_in_the_template():
    outputs = translate(ROOT / "template.yaml", {})[0]["Outputs"]
    assert {"WebAppBucketName", "DistributionUrl", "FrontendOrigin"} <= set(outputs)
