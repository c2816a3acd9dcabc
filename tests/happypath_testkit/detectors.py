"""A scriptable Rekognition-shaped detector for the moderation branches (no unsafe images in the repo)."""

from typing import Any


class ScriptedDetector:
    """Answers with whatever the test set; records what it was asked."""

    def __init__(self) -> None:
        self.moderation_labels: list[dict[str, Any]] = []
        self.labels: list[dict[str, Any]] = []
        self.calls: list[tuple[str, int]] = []

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]

    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        self.calls.append(("detect_moderation_labels", len(image)))
        return {
            "ModerationLabels": [label for label in self.moderation_labels if label["Confidence"] >= min_confidence]
        }

    def detect_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        self.calls.append(("detect_labels", len(image)))
        return {"Labels": [label for label in self.labels if label["Confidence"] >= min_confidence]}


detector = ScriptedDetector()
SPEC = "happypath_testkit.detectors:detector"
