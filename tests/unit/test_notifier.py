"""The notifier: S3 ObjectCreated records -> uploadComplete events, failures raised, odd keys ignored."""

import copy
import json

import boto3
import pytest
from botocore.stub import Stubber
from happypath_testkit.events import LambdaContext, sample

from happypath import aws
from happypath.events import EVENT_SOURCE, UPLOAD_COMPLETE
from happypath_backend import notifier

PLACE_ID = "hyde-park"
UPLOAD_ID = "0f8e4a0c2b6d4f1e9a7c3b5d1e2f4a6b"


CONTEXT = LambdaContext("happypath-NotifierFunction")


def s3_event(*object_keys: str) -> dict:
    event = sample("notifier_s3_put")
    record = event["Records"][0]
    event["Records"] = []
    for key in object_keys:
        copied = copy.deepcopy(record)
        copied["s3"]["object"]["key"] = key
        event["Records"].append(copied)
    return event


@pytest.fixture
def captured_events(app):
    """A second rule on the deployed bus copies the notifier's events to a queue the test reads.

    The events name uploads that have no record, so the workflow the deployed rule starts stops at once.
    """
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(QueueName="captured-upload-events")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events = boto3.client("events")
    events.put_rule(Name="capture", EventPattern=json.dumps({"source": [EVENT_SOURCE]}))
    events.put_targets(Rule="capture", Targets=[{"Id": "queue", "Arn": queue_arn}])

    def received() -> list[dict]:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        for message in messages:
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return [json.loads(m["Body"]) for m in messages]

    yield received
    events.remove_targets(Rule="capture", Ids=["queue"])
    events.delete_rule(Name="capture")
    sqs.delete_queue(QueueUrl=queue_url)


def test_sample_event_becomes_one_upload_complete_event(captured_events):
    result = notifier.lambda_handler(sample("notifier_s3_put"), CONTEXT)
    assert result == {"published": 1}
    (event,) = captured_events()
    assert event["source"] == EVENT_SOURCE
    assert event["detail-type"] == UPLOAD_COMPLETE
    detail = event["detail"]
    assert detail["placeId"] == PLACE_ID
    assert detail["uploadId"] == UPLOAD_ID
    assert detail["bucket"] == "happypath-uploadbucket"
    assert detail["size"] == 1024
    assert detail["keys"]["upload"] == {"PK": {"S": f"UPLOAD#{UPLOAD_ID}"}, "SK": {"S": "UPLOAD"}}
    assert detail["keys"]["place"] == {"PK": {"S": f"PLACE#{PLACE_ID}"}, "SK": {"S": "PLACE"}}
    assert event["resources"] == [f"arn:aws:s3:::happypath-uploadbucket/uploads/{PLACE_ID}/{UPLOAD_ID}"]


def test_the_object_is_named_in_the_functions_own_partition(captured_events):
    china = LambdaContext("happypath-NotifierFunction")
    china.invoked_function_arn = "arn:aws-cn:lambda:cn-north-1:123456789012:function:happypath-NotifierFunction"
    notifier.lambda_handler(sample("notifier_s3_put"), china)
    (event,) = captured_events()
    assert event["resources"] == [f"arn:aws-cn:s3:::happypath-uploadbucket/uploads/{PLACE_ID}/{UPLOAD_ID}"]


def test_url_encoded_keys_are_decoded(captured_events):
    notifier.lambda_handler(s3_event(f"uploads%2F{PLACE_ID}%2F{UPLOAD_ID}"), CONTEXT)
    (event,) = captured_events()
    assert event["detail"]["key"] == f"uploads/{PLACE_ID}/{UPLOAD_ID}"


def test_objects_outside_the_upload_layout_are_ignored(captured_events):
    keys = [
        "uploads/only-one-part",
        "work/abc/moderation.jpg",
        "uploads/BAD!/x",
        f"work/uploads/{PLACE_ID}/{UPLOAD_ID}",  # the layout further down another folder is not an upload
        f"uploads/{PLACE_ID}/{UPLOAD_ID}",
    ]
    assert notifier.lambda_handler(s3_event(*keys), CONTEXT) == {"published": 1}
    assert len(captured_events()) == 1


def test_many_records_are_sent_in_batches_of_ten(captured_events, monkeypatch):
    keys = [f"uploads/{PLACE_ID}/{i:032x}" for i in range(23)]
    client = aws.events()
    put_events, batch_sizes = client.put_events, []

    def counted(**kwargs):
        batch_sizes.append(len(kwargs["Entries"]))
        return put_events(**kwargs)

    monkeypatch.setattr(client, "put_events", counted)
    assert notifier.lambda_handler(s3_event(*keys), CONTEXT) == {"published": 23}
    assert batch_sizes == [10, 10, 3]  # PutEvents takes at most ten entries
    received = []
    for _ in range(5):
        received += captured_events()
    assert sorted(e["detail"]["uploadId"] for e in received) == sorted(k.rsplit("/", 1)[1] for k in keys)


def test_refused_entries_raise_so_lambda_retries():
    aws.reset_clients()
    client = aws.events()
    with Stubber(client) as stubber:
        stubber.add_response(
            "put_events",
            {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "try again"}],
            },
        )
        with pytest.raises(notifier.PublishError, match="refused 1 of 1"):
            notifier.lambda_handler(sample("notifier_s3_put"), CONTEXT)
        stubber.assert_no_pending_responses()
    aws.reset_clients()
