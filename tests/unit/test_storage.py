"""CloudFront answers moto never checks (through botocore's Stubber), and the published URLs.

Object reads, writes and deletes: test_s3_objects.py."""

import pytest
from botocore.stub import ANY, Stubber

from happypath import aws, storage


def test_the_cached_copies_of_a_deleted_photo_are_invalidated_under_one_path(monkeypatch):
    """CloudFront refuses a batch whose Quantity is not the number of its paths (moto does not check)."""
    monkeypatch.setenv("DISTRIBUTION_ID", "E2EXAMPLE")
    aws.reset_clients()
    with Stubber(aws.cloudfront()) as cloudfront:
        batch = {"Paths": {"Quantity": 1, "Items": ["/photos/park/photo/*"]}, "CallerReference": ANY}
        answer = {
            "Location": "https://cloudfront/x",
            "Invalidation": {
                "Id": "I1",
                "Status": "InProgress",
                "CreateTime": "2026-12-01T00:00:00Z",
                "InvalidationBatch": {"Paths": {"Quantity": 1}, "CallerReference": "r"},
            },
        }
        cloudfront.add_response(
            "create_invalidation", answer, {"DistributionId": "E2EXAMPLE", "InvalidationBatch": batch}
        )
        storage.forget_cached("photos/park/photo/")
        cloudfront.assert_no_pending_responses()
    aws.reset_clients()


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
