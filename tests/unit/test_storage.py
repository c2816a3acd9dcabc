"""S3 answers moto never gives, through botocore's Stubber: per-key delete errors, oversized objects."""

import io

import pytest
from botocore.response import StreamingBody
from botocore.stub import ANY, Stubber

from happypath import aws, storage


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.reset_clients()
    with Stubber(aws.s3()) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()
    aws.reset_clients()


def test_a_delete_s3_answered_with_per_key_errors_is_not_taken_for_done(s3):
    """DeleteObjects answers 200 even when some keys were not deleted: those are listed under Errors."""
    s3.add_response(
        "delete_objects",
        {"Deleted": [{"Key": "a.jpg"}], "Errors": [{"Key": "b.webp", "Code": "InternalError", "Message": "retry"}]},
    )
    with pytest.raises(RuntimeError, match=r"could not delete .*'b\.webp'"):
        storage.delete_objects("bucket", ["a.jpg", "b.webp"])


def test_a_delete_of_more_keys_than_one_request_takes_is_split(s3):
    keys = [f"photos/{n}.jpg" for n in range(1500)]
    for batch in (keys[:1000], keys[1000:]):
        expected = {"Bucket": "bucket", "Delete": {"Objects": [{"Key": key} for key in batch], "Quiet": True}}
        s3.add_response("delete_objects", {}, expected)
    storage.delete_objects("bucket", keys)


class UnreadBody(io.BytesIO):
    def read(self, size: int | None = -1) -> bytes:
        raise AssertionError("the body of an object over the limit was read")


def test_an_object_over_the_limit_is_refused_without_reading_its_body(s3):
    body = UnreadBody(b"x" * 11)
    s3.add_response("get_object", {"ContentLength": 11, "Body": StreamingBody(body, 11)})
    with pytest.raises(storage.ObjectTooLarge, match="11 bytes is over the 10 byte limit"):
        storage.read_object("bucket", "key", max_bytes=10)
    assert body.closed  # the connection is let go


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
