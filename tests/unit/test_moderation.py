"""Moderation verdicts from Rekognition-shaped answers, and the Rekognition adapter against botocore's Stubber."""

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    IncompleteReadError,
    NoCredentialsError,
    ParamValidationError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from botocore.stub import ANY, Stubber
from happypath_testkit.events import LambdaContext, sample

from happypath import aws
from happypath.statuses import RejectionReason
from happypath_workflow import moderation
from happypath_workflow.errors import TransientError, transient_aws_errors


def test_any_moderation_label_rejects_with_its_names():
    verdict = moderation.moderation_verdict(
        {
            "ModerationLabels": [
                {"Name": "Explicit Nudity", "Confidence": 97.0, "ParentName": ""},
                {"Name": "Nudity", "Confidence": 97.0, "ParentName": "Explicit Nudity"},
            ]
        }
    )
    assert not verdict.accepted
    assert verdict.reason == RejectionReason.INAPPROPRIATE_CONTENT
    assert verdict.detail == "flagged: Explicit Nudity, Nudity"


def test_no_moderation_label_accepts():
    assert moderation.moderation_verdict({"ModerationLabels": []}).accepted


def test_people_are_found_by_label_or_by_parent():
    direct = moderation.people_verdict({"Labels": [{"Name": "Person", "Confidence": 99, "Parents": []}]})
    assert (direct.accepted, direct.reason) == (False, RejectionReason.PEOPLE_NOT_ALLOWED)
    by_parent = moderation.people_verdict(
        {"Labels": [{"Name": "Pedestrian", "Confidence": 90, "Parents": [{"Name": "Person"}]}]}
    )
    assert not by_parent.accepted
    assert by_parent.detail == "shows: Pedestrian"


def test_food_without_people_is_accepted_and_labels_are_kept():
    verdict = moderation.people_verdict(
        {
            "Labels": [
                {"Name": "Pizza", "Confidence": 99, "Parents": [{"Name": "Food"}]},
                {"Name": "Food", "Confidence": 99},
            ]
        }
    )
    assert verdict.accepted
    assert verdict.labels == ("Food", "Pizza")


def test_rekognition_detector_sends_bytes_and_confidence():
    aws.reset_clients()
    client = aws.rekognition()
    with Stubber(client) as stubber:
        stubber.add_response(
            "detect_moderation_labels",
            {"ModerationLabels": [{"Name": "Violence", "Confidence": 88.0, "ParentName": ""}]},
            {"Image": {"Bytes": b"jpeg"}, "MinConfidence": 60.0},
        )
        stubber.add_response(
            "detect_labels",
            {"Labels": [{"Name": "Person", "Confidence": 99.0, "Instances": [], "Parents": []}]},
            {"Image": {"Bytes": b"jpeg"}, "MinConfidence": 70.0, "MaxLabels": ANY},
        )
        detector = moderation.RekognitionDetector()
        assert detector.detect_moderation_labels(b"jpeg", 60.0)["ModerationLabels"][0]["Name"] == "Violence"
        assert detector.detect_labels(b"jpeg", 70.0)["Labels"][0]["Name"] == "Person"
        stubber.assert_no_pending_responses()
    aws.reset_clients()


@pytest.mark.parametrize(
    ("code", "status", "transient"),
    [
        ("ThrottlingException", 400, True),
        ("LimitExceededException", 400, True),
        ("ProvisionedThroughputExceededException", 400, True),
        ("SlowDown", 503, True),
        ("InternalError", 500, True),
        ("ServiceUnavailable", 503, True),
        ("RequestTimeout", 400, True),
        ("AccessDenied", 403, False),
        ("InvalidImageFormatException", 400, False),
        ("ImageTooLargeException", 400, False),
    ],
)
def test_throttling_and_server_errors_become_transient_errors(code, status, transient):
    """Which errors transient_aws_errors() (around every step, see the next tests) classes as transient."""
    aws.reset_clients()
    client = aws.rekognition()
    with Stubber(client) as stubber:
        stubber.add_client_error("detect_labels", service_error_code=code, http_status_code=status)
        with pytest.raises(TransientError if transient else ClientError), transient_aws_errors():
            moderation.RekognitionDetector().detect_labels(b"jpeg", 50.0)
    aws.reset_clients()


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (EndpointConnectionError(endpoint_url="https://s3"), True),
        (ReadTimeoutError(endpoint_url="https://s3"), True),
        (ResponseStreamingError(error="connection reset"), True),  # the body was cut off while read
        (IncompleteReadError(actual_bytes=10, expected_bytes=20), True),
        (ParamValidationError(report="Bucket is missing"), False),
        (NoCredentialsError(), False),
    ],
)
def test_network_failures_become_transient_errors(error, transient):
    with pytest.raises(TransientError if transient else type(error)), transient_aws_errors():
        raise error


@pytest.mark.parametrize("step", ["check_image", "moderate", "resize", "publish", "discard_images"])
def test_every_workflow_handler_turns_throttling_into_a_transient_error(step, monkeypatch):
    from happypath_workflow import handlers, steps

    def throttled(*args, **kwargs):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "AnyCall")

    monkeypatch.setattr(steps, step, throttled)
    with pytest.raises(TransientError):
        getattr(handlers, step)(sample(f"workflow_{step}"), LambdaContext(f"happypath-{step}"))


def test_the_detector_is_chosen_by_configuration(monkeypatch):
    monkeypatch.setenv("MODERATION_DETECTOR", "rekognition")
    assert isinstance(moderation.detector(), moderation.RekognitionDetector)
    monkeypatch.setenv("MODERATION_DETECTOR", "happypath_testkit.detectors:detector")
    from happypath_testkit import detectors

    assert moderation.detector() is detectors.detector
