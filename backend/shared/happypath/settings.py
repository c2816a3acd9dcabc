"""Configuration from the function's environment, read on use (not at import) so tests can set it."""

import os


def _required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise RuntimeError(f"environment variable {name} is not set")
    return value


def table_name() -> str:
    return _required("TABLE_NAME")


def idempotency_table() -> str:
    """The API's answers to create requests sent with an Idempotency-Key (happypath_backend.idempotency)."""
    return _required("IDEMPOTENCY_TABLE")


def upload_bucket() -> str:
    return _required("UPLOAD_BUCKET")


def distribution_bucket() -> str:
    return _required("DISTRIBUTION_BUCKET")


def distribution_url() -> str:
    """Base URL published images are served from (CloudFront on AWS), without a trailing slash."""
    return _required("DISTRIBUTION_URL").rstrip("/")


def distribution_id() -> str:
    """The CloudFront distribution in front of the distribution bucket (its cache is invalidated on delete)."""
    return _required("DISTRIBUTION_ID")


def s3_endpoint_override() -> str | None:
    """The S3 endpoint this process is pointed at instead of AWS's (the local runtime's), read as boto3 reads it:
    AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL (for every service)."""
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None


def event_bus_name() -> str:
    return _required("EVENT_BUS_NAME")


def workflow_version() -> str:
    """The upload workflow deployed with the API (template parameter WorkflowVersion: v1..v4)."""
    return _required("WORKFLOW_VERSION")


def daily_uploads_per_user() -> int:
    """Upload forms one person may request in a UTC day (template parameter DailyUploadsPerUser)."""
    return int(_required("DAILY_UPLOADS_PER_USER"))


def daily_places_per_user() -> int:
    """Places one person may add in a UTC day (template parameter DailyPlacesPerUser)."""
    return int(_required("DAILY_PLACES_PER_USER"))


def moderation_min_confidence() -> float:
    """Rekognition's MinConfidence, in percent (template parameter ModerationMinConfidence)."""
    return float(_required("MODERATION_MIN_CONFIDENCE"))
