"""Moderation behind one small interface with Rekognition-shaped results.

The workflow asks a Detector; on AWS that is Rekognition, locally the runtime plugs in an offline one by
setting MODERATION_DETECTOR to "package.module:attribute" (a Detector instance or factory).
"""

import importlib
import os
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

from happypath import aws
from happypath.statuses import RejectionReason

PERSON_LABELS = frozenset({"Person", "Human", "People", "Man", "Woman", "Boy", "Girl", "Child", "Baby", "Face"})


class Detector(Protocol):
    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        """Same shape as Rekognition DetectModerationLabels: {"ModerationLabels": [{Name, Confidence, ...}]}"""
        ...

    def detect_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        """Same shape as Rekognition DetectLabels: {"Labels": [{Name, Confidence, Instances, Parents}]}"""
        ...


class RekognitionDetector:
    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        return dict(aws.rekognition().detect_moderation_labels(Image={"Bytes": image}, MinConfidence=min_confidence))

    def detect_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        return dict(aws.rekognition().detect_labels(Image={"Bytes": image}, MinConfidence=min_confidence, MaxLabels=50))


@cache
def _load(spec: str) -> Detector:
    if spec == "rekognition":
        return RekognitionDetector()
    module_name, _, attribute = spec.partition(":")
    target = getattr(importlib.import_module(module_name), attribute)
    return target() if isinstance(target, type) or not hasattr(target, "detect_labels") else target


def detector() -> Detector:
    return _load(os.environ.get("MODERATION_DETECTOR", "rekognition"))


@dataclass(frozen=True)
class ModerationOutcome:
    accepted: bool
    reason: RejectionReason | None = None
    detail: str | None = None
    labels: tuple[str, ...] = ()


def moderation_verdict(response: dict[str, Any]) -> ModerationOutcome:
    """Any moderation label at or above the requested confidence rejects the photo."""
    labels = tuple(sorted({label["Name"] for label in response.get("ModerationLabels", [])}))
    if labels:
        return ModerationOutcome(False, RejectionReason.INAPPROPRIATE_CONTENT, "flagged: " + ", ".join(labels), labels)
    return ModerationOutcome(True)


def people_verdict(response: dict[str, Any]) -> ModerationOutcome:
    """A person label (or a parent of one) rejects the photo; labels are kept for the record."""
    labels = tuple(sorted({label["Name"] for label in response.get("Labels", [])}))
    people = sorted(
        label["Name"]
        for label in response.get("Labels", [])
        if label["Name"] in PERSON_LABELS or any(p.get("Name") in PERSON_LABELS for p in label.get("Parents", []))
    )
    if people:
        return ModerationOutcome(False, RejectionReason.PEOPLE_NOT_ALLOWED, "shows: " + ", ".join(people), labels)
    return ModerationOutcome(True, labels=labels)
