"""Inputs and results of the workflow steps. Each step writes only its own result path in the state."""

from typing import Literal

from pydantic import BaseModel, ConfigDict, model_validator

from happypath.events import UploadComplete
from happypath.limits import RenditionName
from happypath.models import RenditionFiles

# What a Moderate state asks for (its Parameters in the ASL): v4 keeps people out of restaurants, cafes and bars.
ModerationPolicy = Literal["moderation", "moderation-and-no-people"]


class StepModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class StepInput(StepModel):
    upload: UploadComplete


class ResizeInput(StepInput):
    checked: bool = False
    """Whether an earlier step decoded the whole image (v2's moderation, v3's and v4's check). v1 has none: the
    resize step then decodes it whole itself, or a JPEG damaged in its image data would be published with grey
    or noisy bands (the resizer decodes only what its reduced sizes need)."""


class Verdict(StepModel):
    """Policy outcome of a step: rejected photos are results, not errors (they are not retried)."""

    accepted: bool
    reason: str | None = None
    detail: str | None = None

    @model_validator(mode="after")
    def _rejection_is_explained(self) -> "Verdict":
        # The state machine writes reason and detail into DynamoDB as strings: neither may be missing.
        if not self.accepted and not (self.reason and self.detail):
            raise ValueError("a rejection needs a reason and a detail")
        return self


class CheckResult(Verdict):  # -> $.check
    format: str | None = None
    width: int | None = None
    height: int | None = None
    moderationKey: str | None = None


class ModerateInput(StepInput):
    policy: ModerationPolicy
    moderationKey: str | None = None  # the derivative made by the check step; made here if absent (v2)


class ModerationResult(Verdict):  # -> $.moderation
    labels: list[str] = []


class ResizeResult(Verdict):  # -> $.image
    width: int | None = None
    height: int | None = None
    renditions: dict[RenditionName, RenditionFiles] | None = None


class PublishInput(StepInput):
    image: ResizeResult


class PublishResult(StepModel):  # -> $.published
    photoId: str
    publishedAt: str
    alreadyPublished: bool


class DiscardResult(StepModel):  # -> $.discard
    published: bool  # Publish committed before its function failed: the images stay, the upload succeeded
