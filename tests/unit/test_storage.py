"""CloudFront answers moto never checks (through botocore's Stubber), and the published URLs.

Object reads, writes and deletes: test_s3_objects.py."""

import pytest
from botocore.stub import ANY, Stubber

from happypath import aws, s3_objects, storage


def test_the_cached_copies_of_a_deleted_photo_are_invalidated_file_by_file(monkeypatch):
    """CloudFront refuses a batch whose Quantity is not the number of its paths (moto does not check)."""
    monkeypatch.setenv("DISTRIBUTION_ID", "E2EXAMPLE")
    aws.reset_clients()
    paths = [f"/photos/park/photo/{name}" for name in ("tile.jpg", "tile.webp", "scaled.jpg", "scaled.webp")]
    with Stubber(aws.cloudfront()) as cloudfront:
        batch = {"Paths": {"Quantity": 4, "Items": paths}, "CallerReference": ANY}
        answer = {
            "Location": "https://cloudfront/x",
            "Invalidation": {
                "Id": "I1",
                "Status": "InProgress",
                "CreateTime": "2026-12-01T00:00:00Z",
                "InvalidationBatch": {"Paths": {"Quantity": 4}, "CallerReference": "r"},
            },
        }
        cloudfront.add_response(
            "create_invalidation", answer, {"DistributionId": "E2EXAMPLE", "InvalidationBatch": batch}
        )
        storage.forget_cached_renditions("park", "photo")
        cloudfront.assert_no_pending_responses()
    aws.reset_clients()


def upload_form(monkeypatch: pytest.MonkeyPatch) -> tuple[str, dict[str, str]]:
    """An upload form for bucket photos-up, from S3 clients made for the environment as the test set it."""
    monkeypatch.setenv("UPLOAD_BUCKET", "photos-up")
    aws.reset_clients()
    try:
        return storage.presigned_upload_form("uploads/park/u1", "image/jpeg", 1000)
    finally:
        aws.reset_clients()


@pytest.mark.parametrize(
    ("region", "host"),
    [
        ("eu-west-1", "photos-up.s3.eu-west-1.amazonaws.com"),
        ("il-central-1", "photos-up.s3.il-central-1.amazonaws.com"),  # opened in 2023: refuses the global endpoint
        ("us-east-1", "photos-up.s3.us-east-1.amazonaws.com"),
        ("cn-north-1", "photos-up.s3.cn-north-1.amazonaws.com.cn"),
    ],
)
def test_an_upload_form_is_sent_to_the_buckets_regional_endpoint_as_objects_are_read(region, host, monkeypatch):
    """botocore presigns for the global endpoint (photos-up.s3.amazonaws.com) by default: regions opened since
    2019 refuse it, and elsewhere a new bucket's form is redirected there, which a browser's preflight cannot take."""
    for name in ("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", region)
    url, fields = upload_form(monkeypatch)
    assert url == f"https://{host}/"
    assert url == s3_objects.object_url("photos-up", "")
    assert fields["x-amz-credential"].split("/")[2] == region


def test_an_upload_form_is_sent_to_the_configured_s3_endpoint_path_style(monkeypatch):
    """The local runtime's S3 endpoint (one host for every bucket)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://localhost:8082")
    url, _ = upload_form(monkeypatch)
    assert url == "http://localhost:8082/photos-up"


@pytest.mark.parametrize("configured", ["https://cdn.example", "https://cdn.example/", "https://cdn.example//"])
def test_a_published_url_has_one_slash_whatever_the_configured_url_ends_with(configured, monkeypatch):
    monkeypatch.setenv("DISTRIBUTION_URL", configured)
    assert storage.published_url("photos/p/u/tile.jpg") == "https://cdn.example/photos/p/u/tile.jpg"


@pytest.mark.parametrize("configured", [None, ""])
def test_a_setting_missing_or_empty_is_refused_by_name(configured, monkeypatch):
    """An empty variable (a template parameter left blank) is no value: a URL built on it would be relative."""
    if configured is None:
        monkeypatch.delenv("DISTRIBUTION_URL", raising=False)
    else:
        monkeypatch.setenv("DISTRIBUTION_URL", configured)
    with pytest.raises(RuntimeError, match=r"^environment variable DISTRIBUTION_URL is not set$"):
        storage.published_url("photos/p/u/tile.jpg")
