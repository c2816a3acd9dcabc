"""Shared fixtures: the real photos, and the whole app deployed into in-process moto from template.yaml."""

import copy
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

PHOTOS = Path(__file__).resolve().parents[1].parent / "shared" / "photos"
# Powertools reads the metrics namespace when happypath.observability is imported, before any fixture runs;
# in Lambda the template sets it.
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "HappyPath")


@pytest.fixture(scope="session")
def photos() -> Path:
    if not PHOTOS.is_dir():
        pytest.fail(f"the shared test photos are missing: {PHOTOS}")
    return PHOTOS


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the tests may reach AWS: fake credentials and a fixed region for every test."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "1")
    monkeypatch.setenv("POWERTOOLS_DEV", os.environ.get("POWERTOOLS_DEV", "0"))
    from happypath import aws

    aws.reset_clients()


@pytest.fixture(autouse=True)
def _moto_configuration_kept() -> Iterator[None]:
    """A mock_aws made at import (a decorator) and started inside the session's moto leaves moto's
    configuration as it was at import when it stops: the state machines stop running for every test after it.
    This fails the test that did it, not those."""
    from moto.core.config import default_user_config

    before = copy.deepcopy(default_user_config)
    yield
    assert default_user_config == before, "moto's configuration changed: use `with mock_aws():` in the test"


@pytest.fixture(scope="session")
def app():
    """template.yaml deployed into in-process moto, real handlers, real ASL: shared by the whole run."""
    from happypath_testkit import detectors
    from happypath_testkit.runtime import GENEROUS_QUOTAS

    from happypath_local.embedded import EmbeddedApp

    os.environ["MODERATION_DETECTOR"] = detectors.SPEC
    with EmbeddedApp(
        GENEROUS_QUOTAS,
        {"distribution_host": "127.0.0.1:9/cdn", "api": "http://127.0.0.1:9"},
        stand_ins={"AuthIssuerUrl": "http://127.0.0.1:9/auth", "AuthClientId": "happypath-local"},
    ) as embedded:
        yield embedded


@pytest.fixture
def detector(app):
    from happypath_testkit import detectors

    detectors.detector.reset()
    yield detectors.detector
    detectors.detector.reset()
