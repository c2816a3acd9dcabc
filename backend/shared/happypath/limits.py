"""Limits shared by the API (what it lets a browser upload) and the workflow (what it accepts)."""

from typing import Final, Literal, get_args

MAX_UPLOAD_BYTES: Final = 20 * 1024 * 1024
UPLOAD_FORM_TTL_SECONDS: Final = 300
# How long a create request's answer is given again to the same Idempotency-Key: a form's for a minute, so that
# the form given again still has most of its time; a new place's for a day.
REPEATED_FORM_ANSWERED_SECONDS: Final = 60
REPEATED_PLACE_ANSWERED_SECONDS: Final = 24 * 3600
# An upload that was not published (rejected, failed, expired) is forgotten this long after its form expired,
# as S3 forgets its original (the upload bucket's ExpireOriginals rule); a published one stays with its photo.
UNPUBLISHED_KEPT_DAYS: Final = 30
# After its form expired, an upload the workflow has not claimed is closed (late S3 events get this long).
ABANDONED_AFTER_SECONDS: Final = 15 * 60
# A claimed upload must reach its final state within this (the state machine times out after 900 s).
PROCESSING_DEADLINE_SECONDS: Final = 30 * 60

MIN_SIDE_PX: Final = 800
MAX_SIDE_PX: Final = 12_000
MAX_PIXELS: Final = 60_000_000  # above any phone camera; refuses decompression bombs before decoding

# Each photo is published in two renditions: a square crop TILE_SIZE_PX a side, and the whole photo
# SCALED_WIDTH_PX wide.
RenditionName = Literal["tile", "scaled"]
RENDITIONS: Final[tuple[RenditionName, ...]] = get_args(RenditionName)
TILE_SIZE_PX: Final = 400
SCALED_WIDTH_PX: Final = 600
MODERATION_SIDE_PX: Final = 1024  # the long side of the derivative moderation sees (a JPEG)
# Rekognition's limits for an image sent as bytes, honoured by every detector (the local one included):
# a panorama's moderation copy grows past MODERATION_SIDE_PX to keep its short side at the minimum.
REKOGNITION_MAX_BYTES: Final = 5 * 1024 * 1024
REKOGNITION_MIN_SIDE_PX: Final = 80
REKOGNITION_MAX_SIDE_PX: Final = 10_000
JPEG_QUALITY: Final = 80
WEBP_QUALITY: Final = 80

PHOTOS_PAGE_DEFAULT: Final = 20
PHOTOS_PAGE_MAX: Final = 100
NEARBY_RADIUS_MAX_M: Final = 50_000
NEARBY_RESULTS_MAX: Final = 100
PLACE_NAME_MAX_CHARS: Final = 120  # as stored (composed, NFC); the web app's form says the same
PLACE_ADDRESS_MAX_CHARS: Final = 200
