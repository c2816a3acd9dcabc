"""Image checks and renditions for the workflow: one decode per call, no AWS calls.

`inspect_image` sniffs the real format, checks the size and the integrity of an upload and makes the
small upright sRGB JPEG that moderation looks at. `render` makes the published renditions: a 400x400
tile (cover + centre crop) and a 600 px wide scaled image, each as JPEG and WebP, upright, sRGB and
without any metadata (EXIF, GPS, XMP, comments, ICC).

How the hot path stays cheap (see bench/README.md for the measurements):
- JPEG is decoded once, straight at a reduced size: libjpeg's DCT scaling (Pillow's `draft`) to the
  smallest 1/8, 1/4 or 1/2 scale that still leaves the resampler enough headroom for every output. A
  progressive JPEG at such a scale goes to `progressive_jpeg` instead: libjpeg would hold every DCT
  coefficient of it until its last scan (37 MB for 12 MP), where that decoder keeps only what the scale shows.
- Outputs are cut and resampled from that one decode (a region, as `resize(box=...)` takes it), in the
  stored orientation, by `resampler` (stb_image_resize2's SIMD resampler, Pillow's BICUBIC kernel, about
  three times as fast as Pillow's; Pillow's where it does not apply); the EXIF rotation is applied to the
  small results, and the colour transform too.
- HEIF (no reduced decode exists for HEVC) is decoded tile by tile (`libheif.py`), each tile box-reduced
  and let go at once, so the full-size image never exists; the container's rotation, mirroring and crop
  are applied to the small results too. A phone's HEIC (8-bit YCbCr 4:2:0) is reduced and resampled as its
  planes, without libheif's conversion to RGB at full size.
- PNG (no reduced decode either) is inflated and decoded a strip of rows at a time, each strip reduced and
  let go at once, for the same reason.
- HEIF, PNG and progressive JPEG are resampled a band of rows at a time (`banded.py`), so their reduced
  image is never whole either.
- Encodes (and HEIF tile decodes) run in a small thread pool when `workers > 1` (Pillow and libheif release
  the GIL).
- WebP is written by `webp_encoder`: libwebp with a pruned rate-distortion search, files smaller than
  sharp's at about 1.1x the time of libwebp's most thorough level without one (method 2).

Damage detection: Pillow hides libjpeg's corrupt-data warnings (it decodes a damaged JPEG into grey
bands without an error), so JPEG uploads are walked marker by marker before decoding: the frame and
scan headers must be consistent, the entropy-coded data may contain only stuffed bytes and restart
markers, the restart markers must come in sequence and in exactly the number the frame size implies,
and an end-of-image marker must follow. These are the conditions behind libjpeg's "Corrupt JPEG data"
warnings for missing, extra or out-of-order markers and for premature ends. PNG chunks are walked and
their CRCs checked; HEIF boxes are walked (libheif, too, decodes a truncated file without an error).
Any decoder error (truncated data, broken stream) is reported as DAMAGED too.
"""

from __future__ import annotations

import io
import itertools
import os
import re
import threading
import zlib  # what Pillow raises from its own inflates (profiles, text)
from collections.abc import Callable, Generator, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import lru_cache, partial
from typing import TYPE_CHECKING, Any, Final, NamedTuple, cast

from PIL import Image, ImageFile, JpegImagePlugin, PngImagePlugin, WebPImagePlugin
from zlib_ng import zlib_ng  # zlib's API; inflates PNG image data ~1.5x faster, CRCs ~5x

from happypath import limits
from happypath.statuses import RejectionReason
from happypath_workflow.banded import BandedResize

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from PIL import ImageCms

    from happypath_workflow.libheif import HeifImage, HeifTile, Nclx, Tiling, Transformation
    from happypath_workflow.progressive_jpeg import ReducedJpeg

__all__ = [
    "ImageInfo",
    "ImageRejected",
    "Inspection",
    "Rendition",
    "check_image_data",
    "inspect_image",
    "render",
    "rendition_images",
]

# Pillow's own decompression-bomb guard agrees with ours (it is only a backstop: sizes are checked from
# the header before Pillow allocates anything).
Image.MAX_IMAGE_PIXELS = limits.MAX_PIXELS

# --- tuning (measured with bench/resize_bench.py) -------------------------------------------------------
RESAMPLE: Final = Image.Resampling.BICUBIC
"""Resampling filter applied after the reduced decode (SSIM >= 0.99 against full-size LANCZOS). `resampler` (a JPEG's
whole decode) has the same kernel built in and never box-reduces first: this filter and `REDUCING_GAP` apply to
Pillow's resampling (the banded formats, and where `resampler` does not apply)."""
DCT_MIN_HEADROOM: Final[dict[int, float]] = {8: 2.0, 4: 1.3, 2: 1.0}
"""For each JPEG DCT scale 1/s: how much larger than an output its source region must stay after the
reduced decode. DCT scaling keeps only the lowest frequencies of each 8x8 block, so at 1/4 and 1/8 the
resampler needs some headroom to produce a sharp enough result; at 1/2 it does not."""
REDUCING_GAP: Final = 1.9
"""Box-reduce by an integer factor first while the ratio left for the resampler stays >= this (Pillow's
`reducing_gap`): for formats without DCT scaling, and for an output much smaller than the decode."""
PNG_STRIP_BYTES: Final = 1 << 18
"""Filtered PNG rows inflated and decoded at a time (see `_png_bands`), rounded to whole reduction blocks:
a 12 MP PNG peaked at 54 MB with 1 MB strips, 47 MB with these, for the same CPU."""
PNG_MAX_CHUNKS: Final = 50_000
"""More chunks than this is refused before Pillow reads any: it keeps every private chunk in a list (1.7
million empty ones, 20 MB, took 260 MB and 7 s to open). An encoder writing one IDAT per row of a
12,000-row image stays well under."""
JPEG_MAX_SCANS: Final = 100
"""More scans than this is refused (TOO_LARGE) before any is decoded: every scan of a progressive JPEG is a
pass over all of the image's blocks, so thousands of them (each refining one coefficient by one bit) cost
seconds per megapixel to decode. Encoders write 10 or so (mozjpeg's searched scripts: up to ~20)."""
JPEG_MAX_MARKERS: Final = 10_000
"""More markers (fill bytes included) outside the image data than this is refused: Pillow keeps every APPn
segment in a list (5 million empty ones, 20 MB, took 680 MB and 7 s to open) and reads fill bytes one at a
time (20 MB of them: 8 s). A JPEG's metadata, even 20 MB of it in 64 KB segments, takes a few hundred."""
HEIF_MAX_BOXES: Final = 1_000
"""More top-level boxes than this is refused (a HEIC has three or four: ftyp, meta, mdat, maybe free):
2.3 million empty ones, 20 MB, took 0.8 s to walk."""
HEIF_STRIP_ROWS: Final = 128
"""Rows of a tile libheif converted to RGB turned into Pillow pixels and reduced at a time (`_reduce_tile`)."""
HEIF_MAX_TILES: Final = 4096
"""More tiles than this is refused: each is a decoder call (a 60 MP photo in 256 px tiles has 915)."""
HEIF_MAX_TILE_PIXELS: Final = limits.MAX_PIXELS
"""A tile is decoded whole: at most what a photo at the pixel limit, stored in one piece, holds."""
HEIF_MAX_CODED_PIXELS: Final = HEIF_MAX_TILE_PIXELS + HEIF_MAX_TILE_PIXELS // 8
"""What one HEVC picture may be coded at (read from its stream before the check step decodes it): a tile at
the limit, and the coding blocks around it."""
HEIF_MAX_DECODED_PIXELS: Final = 2 * limits.MAX_PIXELS
"""All tiles together, edges past the image included (a 60 MP photo in 512 px tiles decodes 63 MP)."""
WEBP_FALLBACK_METHOD: Final = 2
"""libwebp effort (0-6) when Pillow's libwebp encodes (`webp_encoder` not built): the fastest level with its
outputs smaller than sharp's on all but one of the shared photos (methods 3-4: twice the time)."""
MODERATION_JPEG_QUALITY: Final = 85
ENTROPY_DAMAGE: Final = "corrupt JPEG scan data"
"""Detail prefix of what only the check step's full entropy decode finds: `render` (the resize step, after
the check) does not decode the entropy data a second time at full cost."""
HEVC_DAMAGE: Final = "corrupt HEVC image data"
"""Detail prefix of the damage only the check step's HEVC decode in libde265 finds (`hevc.py`): libheif, which
`render` decodes with, conceals it."""


_WHITE: Final = (255, 255, 255)
_REDUCIBLE_MODES: Final = frozenset({"RGB", "RGBA", "L", "LA"})
_ORIENTATION_TAG: Final = 0x0112
_TRANSPOSE: Final[dict[int, Image.Transpose]] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_ORIENTATION: Final[dict[Image.Transpose | None, int]] = {None: 1} | {t: o for o, t in _TRANSPOSE.items()}
_SWAPS_AXES: Final = frozenset(_TRANSPOSE[o] for o in (5, 6, 7, 8))
# (a, b, d, e) of the signed permutation matrix `_heif_geometry` folds HEIF transformations into.
_MATRIX_TRANSPOSE: Final[dict[tuple[int, int, int, int], Image.Transpose | None]] = {
    (1, 0, 0, 1): None,
    (-1, 0, 0, 1): Image.Transpose.FLIP_LEFT_RIGHT,
    (1, 0, 0, -1): Image.Transpose.FLIP_TOP_BOTTOM,
    (-1, 0, 0, -1): Image.Transpose.ROTATE_180,
    (0, 1, -1, 0): Image.Transpose.ROTATE_90,
    (0, -1, 1, 0): Image.Transpose.ROTATE_270,
    (0, 1, 1, 0): Image.Transpose.TRANSPOSE,
    (0, -1, -1, 0): Image.Transpose.TRANSVERSE,
}
_TRANSPOSE_MATRIX: Final = {t: matrix for matrix, t in _MATRIX_TRANSPOSE.items() if t is not None}
_PNG_SIGNATURE: Final = b"\x89PNG\r\n\x1a\n"
_HEVC_BRANDS: Final = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_GENERIC_HEIF_BRANDS: Final = frozenset({b"mif1", b"msf1", b"mif2"})
_OTHER_CODEC_BRANDS: Final = frozenset({b"avif", b"avis", b"avci", b"jpeg", b"j2ki", b"vvic"})


class ImageRejected(Exception):
    """The upload is not a photo the app will publish; `reason` says why, `detail` says what was found."""

    def __init__(self, reason: RejectionReason, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True)
class ImageInfo:
    format: str  # "JPEG" | "PNG" | "HEIF", sniffed from the bytes
    width: int  # upright, i.e. after EXIF orientation
    height: int
    orientation: int  # EXIF orientation applied (1 if absent or invalid); HEIF: its rotation and mirroring


@dataclass(frozen=True)
class Inspection:
    info: ImageInfo
    moderation_jpeg: bytes  # upright sRGB JPEG, `moderation_size`, no metadata


@dataclass(frozen=True)
class Rendition:
    width: int
    height: int
    jpeg: bytes  # q80 progressive, optimised, no metadata
    webp: bytes  # q80, no metadata


# --- public API ------------------------------------------------------------------------------------------


def inspect_image(data: bytes) -> Inspection:
    """Sniff the format, check dimensions and integrity, and make the moderation derivative in one decode."""
    source = _open(data)
    if isinstance(source.image, JpegImagePlugin.JpegImageFile):
        _check_jpeg_entropy(data)
    elif source.info.format == "HEIF":
        heif = cast("HeifImage", source.image)
        try:
            _check_hevc(heif)
        except BaseException:
            heif.close()
            raise
    left, top, right, bottom = source.region
    width, height = right - left, bottom - top
    plan = [_Target("moderation", source.region, moderation_size(width, height))]
    (resampled,) = _resampled(source, plan, _worker_count(None)).values()
    image = _finish(resampled(), source)
    return Inspection(info=source.info, moderation_jpeg=_encode_jpeg(image, progressive=False))


def check_image_data(data: bytes) -> None:
    """The whole-image decode `inspect_image` makes, for a workflow with no step that called it before `render`
    (which decodes only what its reduced sizes need, so it cannot see damage in a JPEG's image data)."""
    kind = _sniff(data)
    if kind == "JPEG":
        _check_jpeg_entropy(data)
    elif kind == "HEIF":
        with closing(cast("HeifImage", _open(data).image)) as heif:
            _check_hevc(heif)


def moderation_size(width: float, height: float) -> tuple[int, int]:
    """The moderation copy's size: long side MODERATION_SIDE_PX, unless that would leave the short side under
    Rekognition's minimum (a panorama up to 15:1): then the short side is that minimum. Never enlarged."""
    factor = limits.MODERATION_SIDE_PX / max(width, height)
    factor = min(1.0, max(factor, limits.REKOGNITION_MIN_SIDE_PX / min(width, height)))
    return max(1, round(width * factor)), max(1, round(height * factor))


def render(data: bytes, *, workers: int | None = None) -> dict[limits.RenditionName, Rendition]:
    """Make the tile and the scaled rendition, as JPEG and WebP, from one decode.

    `workers` is the number of threads used (the caller's included); None picks min(2, usable CPUs).
    """
    threads = _worker_count(workers)
    source, resampled = _prepare(data, threads)
    results = _finish_and_encode(resampled, source, parallel=threads > 1)
    return {name: results[name] for name in limits.RENDITIONS}


def rendition_images(data: bytes) -> dict[str, Image.Image]:
    """The tile and the scaled image exactly as `render` encodes them (for quality measurements)."""
    source, resampled = _prepare(data, 1)
    return {name: _finish(resample(), source) for name, resample in resampled.items()}


# --- opening and checking --------------------------------------------------------------------------------


class _Source(NamedTuple):
    image: ImageFile.ImageFile | HeifImage  # opened, not decoded yet
    info: ImageInfo
    region: tuple[float, float, float, float]  # what is shown, in stored full-size pixels (HEIF may crop)
    transpose: Image.Transpose | None  # from stored to upright, applied to the small results
    icc_profile: bytes | None
    png: _PngLayout | None = None  # what the chunk walk found, for decoding in strips
    progressive: bytes | None = None  # a progressive JPEG's data, for `progressive_jpeg`


def _open(data: bytes) -> _Source:
    if len(data) > limits.MAX_UPLOAD_BYTES:
        raise ImageRejected(
            RejectionReason.TOO_LARGE, f"{len(data)} bytes is over the {limits.MAX_UPLOAD_BYTES} byte limit"
        )
    kind = _sniff(data)
    image: ImageFile.ImageFile
    png: _PngLayout | None = None
    try:
        if kind == "JPEG":
            _check_jpeg(data)
            image = JpegImagePlugin.JpegImageFile(io.BytesIO(data))
        elif kind == "PNG":
            png = _check_png(data)
            image = PngImagePlugin.PngImageFile(io.BytesIO(data))
        else:
            _check_heif(data)
            return _open_heif(data)
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(RejectionReason.TOO_LARGE, str(exc)) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError) as exc:
        raise ImageRejected(RejectionReason.DAMAGED, f"unreadable {kind} header: {exc}") from None
    _check_size(*image.size)

    if png is not None and not png.streamable:
        _check_png_rows(png)
        # Pillow looks for EXIF after the image data by decoding the whole image, and swallows a decoding
        # error there, leaving an image that fails later with unrelated errors: decode first, damage mapped.
        try:
            image.load()
        except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError, TypeError) as exc:
            raise _damaged(f"the image data cannot be decoded: {exc}") from None
    try:
        # A streamable PNG's EXIF, if any, came before its image data: read without PngImageFile.getexif,
        # which decodes the whole image whenever it has no EXIF.
        exif = Image.Image.getexif(image) if png is not None and png.streamable else image.getexif()
        orientation = _valid_orientation(exif.get(_ORIENTATION_TAG))
    except Exception:  # a damaged EXIF block must not sink the photo: treat it as upright
        orientation = 1
    transpose = _TRANSPOSE.get(orientation)
    width, height = image.size
    region = (0.0, 0.0, float(width), float(height))
    if orientation >= 5:
        width, height = height, width
    icc = image.info.get("icc_profile") or None
    progressive = data if kind == "JPEG" and image.info.get("progressive") else None
    return _Source(image, ImageInfo(kind, width, height, orientation), region, transpose, icc, png, progressive)


def _sniff(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == _PNG_SIGNATURE:
        return "PNG"
    if _is_heif(data):
        return "HEIF"
    if not data:
        raise ImageRejected(RejectionReason.UNSUPPORTED_TYPE, "the upload is empty")
    raise ImageRejected(RejectionReason.UNSUPPORTED_TYPE, "not a JPEG, PNG or HEIC/HEIF image")


def _is_heif(data: bytes) -> bool:
    if len(data) < 16 or data[4:8] != b"ftyp":
        return False
    box_size = int.from_bytes(data[0:4], "big")
    if not 16 <= box_size <= min(len(data), 4096):
        return False
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, box_size - 3, 4)}
    if brands & _HEVC_BRANDS:
        return True
    return bool(brands & _GENERIC_HEIF_BRANDS) and not brands & _OTHER_CODEC_BRANDS


def _check_size(width: int, height: int) -> None:
    if max(width, height) > limits.MAX_SIDE_PX or width * height > limits.MAX_PIXELS:
        raise ImageRejected(
            RejectionReason.TOO_LARGE,
            f"{width}x{height} is over the limit ({limits.MAX_SIDE_PX} px a side, {limits.MAX_PIXELS} pixels)",
        )
    if min(width, height) < limits.MIN_SIDE_PX:
        raise ImageRejected(
            RejectionReason.TOO_SMALL,
            f"{width}x{height}: both sides must be at least {limits.MIN_SIDE_PX} px",
        )


def _valid_orientation(value: object) -> int:
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _damaged(detail: str) -> ImageRejected:
    return ImageRejected(RejectionReason.DAMAGED, detail)


# JPEG markers (ITU T.81 table B.1).
_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_DCT_SOF_MARKERS: Final = frozenset({0xC0, 0xC1, 0xC2, 0xC9, 0xCA})  # restart intervals count DCT MCUs
_SOS, _DRI, _EOI, _SOI, _TEM = 0xDA, 0xDD, 0xD9, 0xD8, 0x01
# In entropy-coded data 0xFF is followed by 0x00 (stuffing) or a restart marker, possibly after fill
# bytes (more 0xFF); anything else ends the segment. (No `\xff+` here: it would make the search 10x
# slower; runs of fill bytes are rare and handled in `_segment_end`.)
_SEGMENT_END: Final = re.compile(rb"\xff[^\x00\xd0-\xd7]")
_NOT_FILL: Final = re.compile(rb"[^\xff]")
# The same end found in one search, each run of fill bytes taken whole: 10x slower on ordinary image data,
# but linear where fill runs before stuffed zeros or restart markers are many (each one a trip through
# `_segment_end`'s loop: 19 MB of `FF FF 00` took 2.6 s). Encoders do not write those; after this many,
# the rest of the scan is searched this way.
_SEGMENT_END_PAST_FILL_RUNS: Final = re.compile(rb"(?<!\xff)\xff++[^\x00\xd0-\xd7]")
_FILL_RUNS_SKIPPED_IN_PYTHON: Final = 64
_RESTART: Final = re.compile(rb"\xff([\xd0-\xd7])")
_RESTART_CYCLE: Final = bytes(range(0xD0, 0xD8))
_RESTART_WINDOW: Final = 1 << 18


class _Frame(NamedTuple):
    width: int
    height: int
    sampling: dict[int, tuple[int, int]]  # component id -> (h, v)
    dct: bool

    def mcus(self, component_ids: list[int]) -> int:
        hmax = max(h for h, _ in self.sampling.values())
        vmax = max(v for _, v in self.sampling.values())
        if len(component_ids) == 1:  # non-interleaved scan: one block per MCU
            h, v = self.sampling[component_ids[0]]
            blocks_x = _ceil_div(_ceil_div(self.width * h, hmax), 8)
            blocks_y = _ceil_div(_ceil_div(self.height * v, vmax), 8)
            return blocks_x * blocks_y
        return _ceil_div(self.width, 8 * hmax) * _ceil_div(self.height, 8 * vmax)


def _ceil_div(numerator: int, denominator: int) -> int:
    return -(-numerator // denominator)


def _check_jpeg(data: bytes) -> None:
    """Walk the JPEG markers of the primary image; raise DAMAGED on anything libjpeg would warn about.

    The size limits are applied as soon as the frame header is read, before the scans are looked at.
    """
    size = len(data)
    pos = 2
    frame: _Frame | None = None
    restart_interval = 0
    scans = markers_read = 0
    while True:
        if pos + 1 >= size:
            raise _damaged("the data ends before the end-of-image marker (truncated)")
        if data[pos] != 0xFF:
            raise _damaged(f"unexpected data where a marker should be (byte {pos})")
        marker = data[pos + 1]
        markers_read += 1
        if markers_read > JPEG_MAX_MARKERS:
            raise _damaged(f"more than {JPEG_MAX_MARKERS} markers and fill bytes outside the image data")
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        pos += 2
        if marker == _EOI:
            if frame is None or scans == 0:
                raise _damaged("no image data before the end-of-image marker")
            return
        if marker == _TEM:
            continue
        if marker < 0xC0 or marker == _SOI or 0xD0 <= marker <= 0xD7:
            raise _damaged(f"unexpected marker 0xFF{marker:02X} at byte {pos - 2}")
        if pos + 2 > size:
            raise _damaged("the data ends inside a header (truncated)")
        length = int.from_bytes(data[pos : pos + 2], "big")
        end = pos + length
        if length < 2 or end > size:
            raise _damaged(f"marker 0xFF{marker:02X} has a bad length or is truncated")
        body = data[pos + 2 : end] if marker in _SOF_MARKERS or marker in (_SOS, _DRI) else b""
        if marker in _SOF_MARKERS:
            frame = _parse_frame(marker, body, frame)
        elif marker == _DRI:
            if length != 4:
                raise _damaged("bad restart interval header")
            restart_interval = int.from_bytes(body, "big")
        elif marker == _SOS:
            if frame is None:
                raise _damaged("image data before the frame header")
            ids = _parse_scan(body, frame)
            scans += 1
            if scans > JPEG_MAX_SCANS:
                raise ImageRejected(
                    RejectionReason.TOO_LARGE,
                    f"more than {JPEG_MAX_SCANS} scans (a photo has about 10): too costly to decode",
                )
            segment_end, follower = _segment_end(data, end)
            if follower < 0xC0 and follower != _TEM:
                raise _damaged(f"corrupt image data: stray 0xFF{follower:02X} at byte {segment_end}")
            if restart_interval and frame.dct:
                expected = _ceil_div(frame.mcus(ids), restart_interval) - 1
                if not _restart_markers_in_sequence(data, end, segment_end, expected):
                    raise _damaged(
                        f"corrupt image data in scan {scans}: the restart markers are not the {expected} "
                        "in sequence that belong"
                    )
            pos = segment_end
            continue
        pos = end


def _check_jpeg_entropy(data: bytes) -> None:
    """Decode every scan's entropy-coded data (at 1/8 scale: DC only, cheap) with libjpeg's warnings raised.

    The marker walk cannot see scan data cut short and then ended properly when there are no restart
    markers to count; libjpeg only warns ("premature end of data segment") and fills the rest with grey,
    and Pillow does not surface warnings. simplejpeg's strict mode does. Imported here, not at the top:
    only the check step pays for it (numpy, ~15-40 ms per 12 MP photo), never the resizer.
    """
    import simplejpeg

    try:
        colorspace = simplejpeg.decode_jpeg_header(data)[2]
    except ValueError:  # a sampling layout TurboJPEG's API has no name for: the marker walk and Pillow remain
        return
    try:
        output = "CMYK" if colorspace in ("CMYK", "YCCK") else "GRAY"
        simplejpeg.decode_jpeg(
            data, colorspace=output, min_width=1, min_height=1, fastdct=True, fastupsample=True, strict=True
        )
    except (ValueError, RuntimeError) as exc:
        raise _damaged(f"{ENTROPY_DAMAGE}: {exc}") from None


def _check_hevc(heif: HeifImage) -> None:
    """Decode the HEVC of every tile in a decoder that reports damage (libheif's conceals it, `hevc.py`).
    Only the check step pays for it (a second decode: ~0.3 s of CPU for a 12 MP HEIC)."""
    from happypath_workflow import hevc, libheif

    try:
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)
    except hevc.Damaged as exc:
        raise _damaged(f"{HEVC_DAMAGE}: {exc}") from None
    except libheif.HeifError as exc:  # an item's data cannot be read (libheif's tile decode would fail the same)
        if exc.over_limit:
            raise ImageRejected(RejectionReason.TOO_LARGE, f"libheif: {exc}") from None
        raise _damaged(f"the image data cannot be read: {exc}") from None
    except MemoryError:
        raise ImageRejected(RejectionReason.TOO_LARGE, "not enough memory to decode the image") from None


def _restart_markers_in_sequence(data: bytes, start: int, stop: int, expected: int) -> bool:
    """Whether the image data between `start` and `stop` holds exactly `expected` restart markers, numbered
    0-7 in turn. Compared a window at a time: a list of every marker in 20 MB of them took 900 MB."""
    sequence = (_RESTART_CYCLE * (expected // 8 + 1))[:expected]
    found = 0
    while start < stop:
        end = min(stop, start + _RESTART_WINDOW)
        if end < stop and data[end - 1] == 0xFF:  # keep fill bytes and the marker byte after them together
            after_fill = _NOT_FILL.search(data, end, stop)
            end = after_fill.end() if after_fill else stop
        markers = b"".join(_RESTART.findall(data, start, end))
        if markers != sequence[found : found + len(markers)]:
            return False
        found += len(markers)
        start = end
    return found == expected


_SCAN_UNENDED: Final = "the image data ends without an end-of-image marker (truncated)"


def _segment_end(data: bytes, pos: int) -> tuple[int, int]:
    """Where the entropy-coded data starting at `pos` ends, and the marker byte that ends it."""
    for _ in range(_FILL_RUNS_SKIPPED_IN_PYTHON):
        found = _SEGMENT_END.search(data, pos)
        if found is None:
            raise _damaged(_SCAN_UNENDED)
        start = found.start()
        after_fill = _NOT_FILL.search(data, start + 1)  # a run of fill bytes is skipped in one search
        if after_fill is None:
            raise _damaged(_SCAN_UNENDED)
        run_end = after_fill.start()
        follower = data[run_end]
        if follower != 0x00 and not 0xD0 <= follower <= 0xD7:
            return start, follower
        pos = run_end + 1  # fill bytes before a stuffed zero or a restart marker: still image data
    found = _SEGMENT_END_PAST_FILL_RUNS.search(data, pos)
    if found is None:
        raise _damaged(_SCAN_UNENDED)
    return found.start(), data[found.end() - 1]


def _parse_frame(marker: int, body: bytes, previous: _Frame | None) -> _Frame:
    if previous is not None:
        raise _damaged("more than one frame header")
    if len(body) < 6 or len(body) != 6 + 3 * body[5] or body[5] == 0:
        raise _damaged("bad frame header")
    height = int.from_bytes(body[1:3], "big")
    width = int.from_bytes(body[3:5], "big")
    if width == 0 or height == 0:
        raise _damaged(f"frame header says {width}x{height}")
    _check_size(width, height)
    sampling = {}
    for i in range(body[5]):
        component_id, factors = body[6 + 3 * i], body[7 + 3 * i]
        h, v = factors >> 4, factors & 0x0F
        if not (1 <= h <= 4 and 1 <= v <= 4):
            raise _damaged("bad sampling factors in the frame header")
        sampling[component_id] = (h, v)
    return _Frame(width, height, sampling, marker in _DCT_SOF_MARKERS)


def _parse_scan(body: bytes, frame: _Frame) -> list[int]:
    if not body or len(body) != 4 + 2 * body[0] or not 1 <= body[0] <= 4:
        raise _damaged("bad scan header")
    ids = [body[1 + 2 * i] for i in range(body[0])]
    if any(component_id not in frame.sampling for component_id in ids):
        raise _damaged("scan header names a component the frame does not have")
    return ids


_PNG_CHANNELS: Final = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # by colour type
_ADAM7_PASSES: Final = (  # (x0, y0, dx, dy) of each pass
    (0, 0, 8, 8),
    (4, 0, 8, 8),
    (0, 4, 4, 8),
    (2, 0, 4, 4),
    (0, 2, 2, 4),
    (1, 0, 2, 2),
    (0, 1, 1, 2),
)
_INFLATE_ERROR: Final = cast(type[Exception], zlib_ng.error)  # its stub types it as an instance
_INFLATE_STEP: Final = 1 << 20  # inflated a megabyte at a time: a zlib bomb never lands in memory whole
_APNG_CHUNKS: Final = frozenset({b"acTL", b"fcTL", b"fdAT"})  # an animation frame can replace or crop the image
_PNG_TRANSPARENCY_BYTES: Final = {0: range(2, 3), 2: range(6, 7), 3: range(1, 257)}  # valid tRNS sizes by colour type


class _PngLayout(NamedTuple):
    """A PNG's structure, from the chunk walk."""

    data: bytes  # the whole file
    width: int
    height: int
    header: bytes  # the IHDR chunk's data
    pixel_chunks: bytes  # the (last) PLTE and tRNS chunks, whole: what decoding a strip needs besides IHDR
    first_image_data: int  # offset of the first IDAT chunk; the others follow it
    row_bytes: int  # one filtered row, its filter-type byte included
    data_bytes: int  # what the image data must inflate to: every row (of every pass, if interlaced)
    streamable: bool  # decodable in strips, pixel for pixel as Pillow decodes it whole (see `_check_png`)


def _check_png(data: bytes) -> _PngLayout:
    """Walk the PNG chunks: one IHDR, first (size checked before anything else), CRCs valid, a palette where
    one is needed, the IDAT chunks in one run, at most one colour profile, IEND present, no more than
    `PNG_MAX_CHUNKS`. Whether the image data holds every row is checked as it is inflated: by the strips of a
    streamable PNG (`_png_strips`), by `_check_png_rows` before Pillow decodes any other.

    Streamable: 8 bits a sample, not interlaced, no animation chunks, PLTE and tRNS of valid sizes (only the
    last of each is used, as Pillow does), and nothing between the image data and IEND (Pillow reads
    chunks there, a colour profile or EXIF among them, only by decoding the image).
    """
    size = len(data)
    pos = 8
    needs_palette = False
    header = palette = transparency = b""
    first_image_data = 0
    after_image_data = has_profile = False
    streamable = True
    for chunks in itertools.count(1):
        if chunks > PNG_MAX_CHUNKS:
            raise _damaged(f"more than {PNG_MAX_CHUNKS} chunks")
        if pos + 12 > size:
            raise _damaged("the data ends before the IEND chunk (truncated)")
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > size:
            raise _damaged(f"chunk {kind!r} is truncated")
        if not header:
            if kind != b"IHDR" or length != 13:
                raise _damaged("the first chunk is not a valid IHDR")
            width = int.from_bytes(data[pos + 8 : pos + 12], "big")
            height = int.from_bytes(data[pos + 12 : pos + 16], "big")
            _check_size(width, height)
            header = data[pos + 8 : pos + 21]
            bit_depth, colour_type, interlace = data[pos + 16], data[pos + 17], data[pos + 20]
            if colour_type not in _PNG_CHANNELS or interlace > 1:
                raise _damaged("the IHDR chunk names an unknown colour type or interlace method")
            needs_palette = colour_type == 3
            streamable = bit_depth == 8 and not interlace
        elif kind == b"IHDR":
            raise _damaged("more than one IHDR chunk")
        crc = int.from_bytes(data[end - 4 : end], "big")
        if zlib_ng.crc32(memoryview(data)[pos + 4 : end - 4]) != crc:
            raise _damaged(f"chunk {kind!r} fails its CRC check")
        if kind == b"IDAT":
            if needs_palette:
                raise _damaged("an indexed-colour PNG has no palette (PLTE) before its image data")
            if after_image_data:
                raise _damaged("the image data (IDAT) is split by other chunks")
            first_image_data = first_image_data or pos
        elif kind == b"IEND":
            break
        else:
            after_image_data = bool(first_image_data)
            streamable = streamable and not after_image_data and kind not in _APNG_CHUNKS
            if kind == b"PLTE":
                needs_palette = False
                palette = data[pos:end]
                streamable = streamable and length <= 768 and length % 3 == 0
            elif kind == b"tRNS":
                transparency = data[pos:end]
                streamable = streamable and length in _PNG_TRANSPARENCY_BYTES.get(colour_type, ())
            elif kind == b"iCCP":
                # Pillow inflates every one (up to 1 MB each): 1 MB of small, highly compressed profiles costs
                # seconds of CPU, and a PNG may hold only one.
                if has_profile:
                    raise _damaged("more than one colour profile (iCCP chunk)")
                has_profile = True
        pos = end
    if not first_image_data:
        raise _damaged("the PNG has no image data (IDAT)")
    bits_per_pixel = _PNG_CHANNELS[colour_type] * bit_depth
    return _PngLayout(
        data=data,
        width=width,
        height=height,
        header=header,
        pixel_chunks=palette + transparency,
        first_image_data=first_image_data,
        row_bytes=1 + _ceil_div(width * bits_per_pixel, 8),
        data_bytes=_png_data_size(width, height, bits_per_pixel, bool(interlace)),
        streamable=streamable,
    )


def _png_image_data(layout: _PngLayout) -> Iterator[memoryview]:
    """The IDAT chunks' data, in order (the chunk walk found them in one run, with valid CRCs)."""
    data, pos = layout.data, layout.first_image_data
    while data[pos + 4 : pos + 8] == b"IDAT":
        end = pos + 12 + int.from_bytes(data[pos : pos + 4], "big")
        yield memoryview(data)[pos + 8 : end - 4]
        pos = end


def _check_png_rows(layout: _PngLayout) -> None:
    """The image data must inflate to every row the header promises: zlib can end cleanly after half of
    them, and Pillow would leave the rest of the image black."""
    inflated = _inflate_count(zlib_ng.decompressobj(), _png_image_data(layout), 0, layout.data_bytes)
    if inflated < layout.data_bytes:
        raise _damaged(f"the image data holds {inflated} of the {layout.data_bytes} bytes its rows need (truncated)")


def _png_data_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines (one filter byte per row) the image data must inflate to."""

    def rows(w: int, h: int) -> int:
        return h * (1 + _ceil_div(w * bits_per_pixel, 8)) if w and h else 0

    if not interlaced:
        return rows(width, height)
    return sum(
        rows(_ceil_div(max(0, width - x0), dx), _ceil_div(max(0, height - y0), dy)) for x0, y0, dx, dy in _ADAM7_PASSES
    )


def _inflate_count(inflater: Any, chunks: Iterable[bytes | memoryview], inflated: int, expected: int) -> int:
    """Inflate IDAT chunks, counting the bytes (not keeping them), until past what is expected or the end of
    zlib's stream (after it, each call would copy all the data it has already refused)."""
    with _zlib_errors_are_damage():
        for chunk in chunks:
            while chunk and inflated <= expected and not inflater.eof:
                inflated += len(inflater.decompress(chunk, _INFLATE_STEP))
                chunk = inflater.unconsumed_tail
            if inflated > expected or inflater.eof:
                break
    return inflated


@contextmanager
def _zlib_errors_are_damage() -> Iterator[None]:
    try:
        yield
    except _INFLATE_ERROR as exc:
        raise _damaged(f"the image data is not valid zlib data: {exc}") from None


def _check_heif(data: bytes) -> None:
    """Walk the top-level ISOBMFF boxes: they must tile the file (libheif decodes a truncated HEIC
    without an error, filling the missing tiles), and the metadata and media data must be there."""
    size = len(data)
    pos = 0
    seen = set()
    boxes = 0
    while pos < size:
        boxes += 1
        if boxes > HEIF_MAX_BOXES:
            raise _damaged(f"more than {HEIF_MAX_BOXES} top-level boxes")
        if pos + 8 > size:
            raise _damaged("the data ends inside a box header (truncated)")
        box_size = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8]
        if box_size == 1:
            if pos + 16 > size:
                raise _damaged("the data ends inside a box header (truncated)")
            box_size = int.from_bytes(data[pos + 8 : pos + 16], "big")
        elif box_size == 0:
            box_size = size - pos
        if box_size < 8 or pos + box_size > size:
            raise _damaged(f"box {kind!r} runs past the end of the data (truncated)")
        seen.add(kind)
        pos += box_size
    if not {b"meta", b"mdat"} <= seen:
        raise _damaged("no image metadata or no media data")


def _open_heif(data: bytes) -> _Source:
    """Open the primary image without decoding it. Its rotation, mirroring and crop (the container's, which
    supersede any EXIF orientation) are applied like a JPEG's EXIF orientation: to the small results."""
    from happypath_workflow import libheif  # imported when a HEIC/HEIF arrives

    try:
        heif = libheif.HeifImage(data)
    except libheif.HeifError as exc:
        if exc.over_limit:  # what the header declares is over libheif's own limits (an image size, mostly)
            raise ImageRejected(RejectionReason.TOO_LARGE, f"libheif: {exc}") from None
        raise
    try:
        _check_size(*heif.size)
        _check_heif_tiling(heif.size, heif.tiling)
        transpose, region = _heif_geometry(heif.size, heif.transformations)
        left, top, right, bottom = region
        width, height = right - left, bottom - top
        _check_size(width, height)  # what is shown after a crop
    except BaseException:
        heif.close()
        raise
    if transpose in _SWAPS_AXES:
        width, height = height, width
    info = ImageInfo("HEIF", width, height, _ORIENTATION[transpose])
    return _Source(heif, info, (float(left), float(top), float(right), float(bottom)), transpose, heif.icc_profile)


def _check_heif_tiling(size: tuple[int, int], tiling: Tiling) -> None:
    """The grid must cover the image, with no row or column of tiles wholly outside it (libheif's whole-image
    decode refuses a grid that does not cover; decoded tile by tile it would leave black bands), and what is
    decoded must stay within what a photo at the size limits costs."""
    width, height = size
    columns, rows, tile_w, tile_h = tiling.columns, tiling.rows, tiling.tile_width, tiling.tile_height
    if min(columns, rows, tile_w, tile_h) <= 0:
        raise _damaged("the image has no tiles")
    if not ((columns - 1) * tile_w < width <= columns * tile_w and (rows - 1) * tile_h < height <= rows * tile_h):
        raise _damaged(
            f"a grid of {columns}x{rows} tiles of {tile_w}x{tile_h} px does not fit a {width}x{height} image"
        )
    tiles = columns * rows
    if tiles > HEIF_MAX_TILES:
        raise ImageRejected(RejectionReason.TOO_LARGE, f"{tiles} tiles is over the {HEIF_MAX_TILES} tile limit")
    tile, total = tile_w * tile_h, tiles * tile_w * tile_h
    if tile > HEIF_MAX_TILE_PIXELS or total > HEIF_MAX_DECODED_PIXELS:
        raise ImageRejected(
            RejectionReason.TOO_LARGE,
            f"tiles of {tile_w}x{tile_h} px: {tile} pixels each, {total} in all, over the limits "
            f"({HEIF_MAX_TILE_PIXELS} and {HEIF_MAX_DECODED_PIXELS})",
        )


def _heif_geometry(
    size: tuple[int, int], transformations: list[Transformation]
) -> tuple[Image.Transpose | None, tuple[int, int, int, int]]:
    """Fold HEIF's rotations, mirrorings and crops, in their order, into one transpose of the stored image
    and the region of it that is shown (in stored pixels)."""
    from happypath_workflow.libheif import Crop, Mirror, Rotation

    # Shown (x', y') = (a x + b y + c, d x + e y + f) for stored (x, y), in continuous pixel coordinates.
    a, b, c, d, e, f = 1, 0, 0, 0, 1, 0
    width, height = size
    region = (0, 0, width, height)
    for step in transformations:
        if isinstance(step, Rotation):
            for _ in range(step.degrees_ccw // 90):  # a quarter turn anticlockwise: x' = y, y' = width - x
                a, b, c, d, e, f = d, e, f, -a, -b, width - c
                width, height = height, width
        elif isinstance(step, Mirror):
            if step.left_right:
                a, b, c = -a, -b, width - c
            else:
                d, e, f = -d, -e, height - f
        elif isinstance(step, Crop):
            kept = (step.left, step.top, width - step.right, height - step.bottom)
            # Back to stored coordinates: the matrix is a signed permutation, so its inverse is its transpose.
            xs = [a * (x - c) + d * (y - f) for x, y in ((kept[0], kept[1]), (kept[2], kept[3]))]
            ys = [b * (x - c) + e * (y - f) for x, y in ((kept[0], kept[1]), (kept[2], kept[3]))]
            region = (min(xs), min(ys), max(xs), max(ys))
            c, f = c - step.left, f - step.top
            width, height = kept[2] - kept[0], kept[3] - kept[1]
    return _MATRIX_TRANSPOSE[(a, b, d, e)], region


def _prepare(data: bytes, threads: int) -> tuple[_Source, dict[str, Callable[[], Image.Image]]]:
    source = _open(data)
    return source, _resampled(source, _rendition_plan(source), threads)


# --- decoding --------------------------------------------------------------------------------------------


class _Target(NamedTuple):
    name: str  # a rendition's, or "moderation"
    box: tuple[float, float, float, float]  # source region, in stored (not upright) full-size pixels
    size: tuple[int, int]  # output size in stored orientation


def _rendition_plan(source: _Source) -> list[_Target]:
    left, top, right, bottom = source.region
    width, height = right - left, bottom - top
    upright_w, upright_h = source.info.width, source.info.height
    scaled_h = max(1, round(limits.SCALED_WIDTH_PX * upright_h / upright_w))
    swap = source.transpose in _SWAPS_AXES
    scaled_size = (scaled_h, limits.SCALED_WIDTH_PX) if swap else (limits.SCALED_WIDTH_PX, scaled_h)
    side = min(width, height)
    tile_left, tile_top = left + (width - side) / 2, top + (height - side) / 2
    tile = (limits.TILE_SIZE_PX, limits.TILE_SIZE_PX)
    return [
        _Target("scaled", source.region, scaled_size),
        _Target("tile", (tile_left, tile_top, tile_left + side, tile_top + side), tile),
    ]


def _resampled(source: _Source, plan: list[_Target], threads: int) -> dict[str, Callable[[], Image.Image]]:
    """Decode once, as small as the plan allows, and give each target's resampled image (upright, not finished
    yet) as a call, for the caller to run on the threads it has.

    A JPEG is decoded whole at a reduced scale and each output resampled from it (`resampler`). HEIF, PNG and a
    progressive JPEG (`progressive_jpeg`, when it takes the file) are decoded a band of rows at a time, each
    band box-reduced (or, a JPEG, reduced by its DCT scale) and resampled into every output at once
    (`banded.py`), so their reduced image is never whole either.
    """
    image = source.image
    try:
        bands: Generator[_Band]
        reduced = _open_progressive(source, plan)
        if reduced is not None:
            reduction = reduced.reduction
            bands = _progressive_bands(reduced)
        elif isinstance(image, JpegImagePlugin.JpegImageFile):
            base, to_base = _decode_jpeg(image, plan)
            base = _working_mode(base, source)  # CMYK
            return {target.name: partial(_resample, base, target, to_base, source.transpose) for target in plan}
        elif not isinstance(image, ImageFile.ImageFile):  # HEIF
            reduction = _heif_reduction(image.tiling, _reduce_factor(plan))
            bands = _heif_bands(image, reduction, threads)
        else:
            reduction = _reduce_factor(plan)
            if source.png is not None and source.png.streamable:
                bands = _png_bands(source.png, reduction, source)
            else:  # decoded whole (see `_open`): one band
                image.load()
                bands = (band for band in [_reduce(image, reduction, source)])
        # Closed here, not left to the garbage collector: a HEIF's bands hold libheif contexts, and an error
        # raised while they wait would keep them alive as long as the error is.
        with closing(bands):
            try:
                resampled = _resample_bands(bands, image.size, reduction, plan, source, threads)
            finally:
                image.close()
        # A dict of images, each handed over once (popped), so it is let go as soon as its caller is done with it.
        return {name: partial(resampled.pop, name) for name in list(resampled)}
    except ImageRejected:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageRejected(RejectionReason.TOO_LARGE, str(exc)) from None
    except MemoryError:
        raise ImageRejected(RejectionReason.TOO_LARGE, "not enough memory to decode the image") from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, RuntimeError, zlib.error) as exc:
        raise _damaged(f"the image data cannot be decoded: {exc}") from None


def _open_progressive(source: _Source, plan: list[_Target]) -> ReducedJpeg | None:
    """A progressive JPEG's scans decoded by `progressive_jpeg` at the plan's DCT scale, if it takes the file
    (None: decode with libjpeg, which holds all of its coefficients; see that module)."""
    if source.progressive is None:
        return None
    scale = _dct_scale(plan)
    if scale == 1:  # every coefficient is needed: libjpeg's decode takes no more
        return None
    from happypath_workflow import progressive_jpeg  # ctypes: only for progressive JPEGs

    return progressive_jpeg.open_reduced(source.progressive, scale)


def _progressive_bands(reduced: ReducedJpeg) -> Generator[_Band]:
    to_rgb = _ycbcr_to_rgb(None)  # JFIF's YCbCr: BT.601, full range
    assert to_rgb is not None
    for planes in reduced.bands():
        if len(planes) == 3:
            y, cb, cr = planes
            yield _YCbCrBand(y, cb, cr, to_rgb)
        else:
            yield planes[0]


def _decode_jpeg(image: JpegImagePlugin.JpegImageFile, plan: list[_Target]) -> tuple[Image.Image, float]:
    """Decode at the smallest DCT scale the plan allows; return the image and the full-size -> image scale.

    The scale is exactly 1/s: a reduced decode rounds its size up, the last row and column covering what is
    left of the image, so `size / full size` would be slightly off.
    """
    width, height = image.size
    reduction = 1
    scale = _dct_scale(plan)
    if scale > 1:
        configured = image.draft(image.mode, (max(1, width // scale), max(1, height // scale)))
        if configured is not None:
            reduction = round(width / configured[1][2])
    image.load()
    return image, 1 / reduction


def _resample_bands(
    bands: Iterator[_Band],
    size: tuple[int, int],
    reduction: int,
    plan: list[_Target],
    source: _Source,
    threads: int,
) -> dict[str, Image.Image]:
    """Resample bands of the image reduced by `reduction` (of full size `size`) into every target at once.

    A band of YCbCr planes is resampled plane by plane (the same arithmetic Pillow applies to each channel of
    RGB), and each chunk of output rows made RGB as soon as its three planes are, then turned upright: no
    output is ever held as planes, nor twice. With two threads the resizes of a band are shared between them
    (Pillow releases the GIL): a HEIF's next row of tiles waits for them.
    """
    reduced_size = (_ceil_div(size[0], reduction), _ceil_div(size[1], reduction))
    resizes: dict[str, list[BandedResize]] = {}
    # Made before the first band is decoded, so that they are not placed among the decoders' passing buffers
    # (the 12 MP HEIC's peak on two threads: 63.2-64.0 MB over thirty runs, against 63.6-65.2 made after).
    mode = _working_mode(Image.new(source.image.mode, (1, 1)), source).mode  # what every band becomes
    swap = source.transpose in _SWAPS_AXES
    outputs = {target.name: Image.new(mode, target.size[::-1] if swap else target.size) for target in plan}
    for band in bands:
        if isinstance(band, _YCbCrBand):
            planes, to_rgb = [band.y, band.cb, band.cr], band.to_rgb
        else:
            planes, to_rgb = [_working_mode(band, source)], None
        del band  # not held while the next band is decoded
        if not resizes:
            for target in plan:
                box = _scaled_box(target, 1 / reduction)
                resizes[target.name] = [
                    BandedResize(reduced_size, target.size, box, RESAMPLE, REDUCING_GAP) for _ in planes
                ]
        made = _feed_all(resizes, planes, threads > 1)
        for name in resizes:
            for chunks in zip(*made[name], strict=True):
                (top, rows), *others = chunks
                if to_rgb is not None:
                    rows = Image.merge("RGB", [rows, *(chunk for _, chunk in others)]).convert("RGB", to_rgb)
                _paste_upright(outputs[name], rows, top, source.transpose)
        del planes
    if not resizes or not all(resize.finished for parts in resizes.values() for resize in parts):
        raise _damaged("the image has fewer rows than its size")
    return outputs


def _paste_upright(output: Image.Image, rows: Image.Image, top: int, transpose: Image.Transpose | None) -> None:
    """Paste rows `top`.. of an image stored as `transpose` turns upright where they go in the upright `output`.

    Each chunk of rows is turned as it comes, so no output is ever copied whole to turn it (a 1.9 MB copy of the
    scaled image for every portrait photo from a phone, at the peak of a HEIC's render)."""
    if transpose is None:
        output.paste(rows, (0, top))
        return
    a, b, d, e = _TRANSPOSE_MATRIX[transpose]  # upright (x', y') = (a x + b y + c, d x + e y + f)
    width, height = output.size[::-1] if transpose in _SWAPS_AXES else output.size
    corners = [(0, top), (width, top + rows.height)]
    left = min(a * x + b * y for x, y in corners) - min(0, a * width) - min(0, b * height)
    upper = min(d * x + e * y for x, y in corners) - min(0, d * width) - min(0, e * height)
    output.paste(rows.transpose(transpose), (left, upper))


def _feed_all(
    resizes: dict[str, list[BandedResize]], planes: list[Image.Image], parallel: bool
) -> dict[str, list[list[tuple[int, Image.Image]]]]:
    """Feed a band's planes to every target's resizes; with two threads, the first target's (the scaled image) here
    and the others' (the tile) in the pool, as `_finish_and_encode` shares them, for the same reason."""

    def feed(name: str) -> list[list[tuple[int, Image.Image]]]:
        return [resize.feed(plane) for resize, plane in zip(resizes[name], planes, strict=True)]

    made = _shared([partial(feed, name) for name in resizes], parallel)
    return dict(zip(resizes, made, strict=True))


def _reduce(image: Image.Image, reduction: int, source: _Source, top: int = 0) -> Image.Image:
    """Box-reduce rows `top` and below; palette and other modes are brought to RGB(A) or L first (`reduce`
    must not average palette indices) and RGBA is reduced with its alpha premultiplied (`reduce` does that)."""
    if image.mode not in _REDUCIBLE_MODES:
        image = _working_mode(image, source)
    box = (0, top, image.width, image.height)
    return image.reduce(reduction, box=box) if reduction > 1 else image.crop(box)


def _png_bands(layout: _PngLayout, reduction: int, source: _Source) -> Generator[Image.Image]:
    """Decode a PNG a strip of rows at a time, each given box-reduced and let go.

    Pillow decodes a PNG whole: 48 MB of pixels for a 12 MP photo before anything is reduced. Here the image
    data is inflated a strip of filtered rows at a time, and Pillow decodes each strip as a PNG of its own
    (same header, palette and transparency), led by the previous strip's last row, unfiltered, which the Up,
    Average and Paeth filters of the strip's first row refer to. So every strip's pixels are exactly the
    whole decode's, and as the strip height is a multiple of the reduction, so is the reduced image.
    Used unreduced too: the image data is then inflated once, where a whole decode needs a first inflate
    that counts the rows (`_check_png_rows`).
    """
    rows = max(1, PNG_STRIP_BYTES // (layout.row_bytes * reduction)) * reduction
    above = b""  # the row above the strip: filter type 0 ("None"), then its pixel bytes
    for top, filtered in _png_strips(layout, rows):
        strip = _png_strip(layout, above + filtered)
        above = b"\x00" + strip.crop((0, strip.height - 1, strip.width, strip.height)).tobytes()
        yield _reduce(strip, reduction, source, top=1 if top else 0)


def _png_strips(layout: _PngLayout, rows: int) -> Iterator[tuple[int, bytes]]:
    """The filtered rows, `rows` at a time, each strip with the index of its first row, inflated as needed.

    The image data after the last row is inflated too (counted, not kept), as `_check_png_rows` would: a
    corrupt block or checksum there is damage. Once zlib's stream has ended, the chunks left are not fed to it.
    """
    inflater = zlib_ng.decompressobj()
    image_data = itertools.chain(_png_image_data(layout), [memoryview(b"")])  # the empty one: what zlib holds
    buffered = bytearray()
    top = 0
    pending: bytes | memoryview = b""
    with _zlib_errors_are_damage():
        for pending in image_data:
            while top < layout.height:
                size = min(rows, layout.height - top) * layout.row_bytes
                buffered += inflater.decompress(pending, size - len(buffered))
                pending = inflater.unconsumed_tail
                if len(buffered) < size:
                    break  # this chunk's data is used up
                yield top, bytes(buffered)
                buffered.clear()
                top += rows
            if top >= layout.height or inflater.eof:
                break
    if top < layout.height:  # zlib can end cleanly before the last row
        found = top + len(buffered) // layout.row_bytes
        raise _damaged(f"the image data holds {found} of the {layout.height} rows its header promises (truncated)")
    _inflate_count(inflater, itertools.chain([pending], image_data), layout.data_bytes, layout.data_bytes)


def _png_strip(layout: _PngLayout, filtered: bytes) -> Image.Image:
    height = len(filtered) // layout.row_bytes
    header = layout.width.to_bytes(4, "big") + height.to_bytes(4, "big") + layout.header[8:]
    png = b"".join(
        (
            _PNG_SIGNATURE,
            _png_chunk(b"IHDR", header),
            layout.pixel_chunks,
            _png_chunk(b"IDAT", zlib_ng.compress(filtered, 0)),  # stored: Pillow's inflate only copies it
            _png_chunk(b"IEND", b""),
        )
    )
    strip = PngImagePlugin.PngImageFile(io.BytesIO(png))
    strip.load()
    return strip


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + kind + body + zlib_ng.crc32(kind + body).to_bytes(4, "big")


class _YCbCrBand(NamedTuple):
    """A band of a HEIF coded as 8-bit YCbCr 4:2:0, as its three planes at the reduced size (the luma reduced,
    the chroma, half the size already, reduced by half as much), and the matrix that makes RGB of them; or of
    a progressive JPEG, as `progressive_jpeg` gives its planes (each at the luma's reduced size)."""

    y: Image.Image
    cb: Image.Image
    cr: Image.Image
    to_rgb: tuple[float, ...]


_Band = Image.Image | _YCbCrBand


def _heif_bands(heif: HeifImage, reduction: int, threads: int) -> Generator[_Band]:
    """Decode tile by tile, a row of tiles at a time, each tile box-reduced into the row's band, which is given,
    then reused for the next row (valid until the next one is asked for).

    Only one decoded tile per thread and one reduced band are held at once, never the full-size image (a 12 MP
    HEIC decoded whole peaked at ~90 MB) nor the reduced one. The reduction divides the tile size
    (`_heif_reduction`), so no reduced pixel takes from two tiles: the bands are, pixel for pixel, what `reduce`
    gives on the whole image. Threads take the next tile of the row left, each with its own libheif context (a
    context decodes one tile at a time; libheif releases the GIL), a new one for each row.

    A photo coded as 8-bit YCbCr 4:2:0 (every phone's HEIC) is taken as its planes when the reduction is even:
    the luma box-reduced, the chroma (half the size) by half as much, and RGB made only from the resampled
    outputs. libheif's own conversion to RGB at full size is skipped (7% of a 12 MP HEIC's render), and so are its
    3-byte tiles and Pillow's 4-byte copies of them: ~2.5 MB less at the peak. (Not when the file declares other
    colours than BT.601 full range: libheif would convert the planes first; see `HeifImage.ycbcr_420`.)
    """
    tiling = heif.tiling
    if reduction != _heif_reduction(tiling, reduction):
        tile = f"{tiling.tile_width}x{tiling.tile_height}"
        raise ValueError(f"a reduction of {reduction} takes pixels from two {tile} tiles")
    width, height = heif.size
    band_size = (_ceil_div(width, reduction), _ceil_div(tiling.tile_height, reduction))
    decoders: list[HeifImage] = []
    first: HeifTile | None = None  # the top left tile, decoded planar to learn its colour matrix
    try:
        to_rgb = None
        if heif.ycbcr_420 and reduction % 2 == 0:
            first = heif.tile(0, 0, planar=True)
            to_rgb = _ycbcr_to_rgb(first.nclx())
            if to_rgb is None:  # a matrix libheif knows and this does not: libheif converts
                first.close()
                first = None
        # One band for every row of tiles: a new one each time left the heap a little larger each row.
        band: _Band
        if to_rgb is not None:
            y, cb, cr = (Image.new("L", band_size) for _ in range(3))
            band = _YCbCrBand(y, cb, cr, to_rgb)
        else:
            band = Image.new(heif.mode, band_size)
        for row in range(tiling.rows):
            rows = _ceil_div(min(tiling.tile_height, height - row * tiling.tile_height), reduction)
            columns = range(tiling.columns)
            if first is not None:
                decoded, first = first, None
                _reduce_tile(heif, 0, row, reduction, band, decoded)
                columns = range(1, tiling.columns)
            # A context keeps the coded data of every tile it decoded until it is freed (2.2 MB by a 12 MP HEIC's
            # last row): fresh contexts for each row, ~0.2 ms each.
            decoders = []
            for _ in range(min(threads, tiling.columns)):
                decoders.append(heif.reopen())
            _reduce_tile_row(decoders, row, columns, reduction, band)
            _close_all(decoders)
            yield band if rows == band_size[1] else _cropped(band, rows)
    finally:
        if first is not None:
            first.close()
        _close_all(decoders)


def _close_all(decoders: list[HeifImage]) -> None:
    for decoder in decoders:
        decoder.close()


def _cropped(band: _Band, rows: int) -> _Band:
    if isinstance(band, _YCbCrBand):
        y, cb, cr = (plane.crop((0, 0, plane.width, rows)) for plane in (band.y, band.cb, band.cr))
        return _YCbCrBand(y, cb, cr, band.to_rgb)
    return band.crop((0, 0, band.width, rows))


_KR_KB: Final[dict[int, tuple[float, float]]] = {
    1: (0.2126, 0.0722),  # BT.709
    2: (0.299, 0.114),  # unspecified: libheif takes BT.601
    5: (0.299, 0.114),  # BT.470 System B/G (as BT.601)
    6: (0.299, 0.114),  # BT.601
    9: (0.2627, 0.0593),  # BT.2020 non-constant luminance
}
"""Luma weights of red and blue for the YCbCr matrices handled here (ITU-T H.273 `matrix_coefficients`)."""


def _ycbcr_to_rgb(nclx: Nclx | None) -> tuple[float, ...] | None:
    """The 3x4 matrix (Pillow's `convert(matrix=)`) from 8-bit Y, Cb, Cr to R, G, B for a stream's colour
    description; None (no description) is what libheif assumes then: BT.601, full range."""
    matrix, full_range = (6, True) if nclx is None else (nclx.matrix_coefficients, nclx.full_range)
    if matrix not in _KR_KB:
        return None
    kr, kb = _KR_KB[matrix]
    kg = 1 - kr - kb
    luma, chroma, black = (1.0, 1.0, 0.0) if full_range else (255 / 219, 255 / 224, 16.0)
    rows = (
        (luma, 0.0, 2 * (1 - kr) * chroma),
        (luma, -2 * kb * (1 - kb) / kg * chroma, -2 * kr * (1 - kr) / kg * chroma),
        (luma, 2 * (1 - kb) * chroma, 0.0),
    )
    return tuple(value for y, cb, cr in rows for value in (y, cb, cr, -y * black - (cb + cr) * 128))


def _reduce_tile_row(decoders: list[HeifImage], row: int, columns: range, reduction: int, band: _Band) -> None:
    """Reduce the tiles of a row into its band, one decoder per thread."""
    cells = iter(columns)
    failed = threading.Event()

    def reduce_tiles(decoder: HeifImage) -> None:
        try:
            for column in cells:  # an iterator over a range: `next` is atomic
                if failed.is_set():
                    return
                _reduce_tile(decoder, column, row, reduction, band)
        except BaseException:
            failed.set()  # the other threads stop at their next tile
            raise

    _shared([partial(reduce_tiles, decoder) for decoder in decoders], parallel=True)


def _heif_reduction(tiling: Tiling, factor: int) -> int:
    """The largest reduction up to `factor` whose blocks never straddle two tiles: it divides the tile width
    when there is more than one column and the tile height when there is more than one row."""
    for reduction in range(max(1, factor), 1, -1):
        if (tiling.columns == 1 or tiling.tile_width % reduction == 0) and (
            tiling.rows == 1 or tiling.tile_height % reduction == 0
        ):
            return reduction
    return 1


def _reduce_tile(
    decoder: HeifImage, column: int, row: int, reduction: int, band: _Band, tile: HeifTile | None = None
) -> None:
    """Decode a tile (unless given) and box-reduce it into its place in the band."""
    tiling = decoder.tiling
    width, height = decoder.size
    left, top = column * tiling.tile_width, row * tiling.tile_height
    cell = (min(tiling.tile_width, width - left), min(tiling.tile_height, height - top))  # the grid is cut
    if tile is None:
        tile = decoder.tile(column, row, planar=isinstance(band, _YCbCrBand))
    try:
        if tile.size[0] < cell[0] or tile.size[1] < cell[1]:  # it would leave a hole
            raise _damaged(f"a tile of {tile.size[0]}x{tile.size[1]} px in a {cell[0]}x{cell[1]} px cell")
        if isinstance(band, _YCbCrBand):
            _reduce_planes(tile, cell, reduction, band, left // reduction)
            return
        step = max(1, HEIF_STRIP_ROWS // reduction) * reduction
        for strip_top in range(0, cell[1], step):
            strip = tile.rows(strip_top, min(step, cell[1] - strip_top))
            if strip.width > cell[0]:
                strip = strip.crop((0, 0, cell[0], strip.height))
            if reduction > 1:
                strip = strip.reduce(reduction)  # premultiplies alpha itself
            band.paste(strip, (left // reduction, strip_top // reduction))
    finally:
        tile.close()


def _reduce_planes(tile: HeifTile, cell: tuple[int, int], reduction: int, band: _YCbCrBand, left: int) -> None:
    """Reduce a 4:2:0 tile's planes (Pillow images over libheif's memory, not copied) into the band's."""
    chroma_cell = (_ceil_div(cell[0], 2), _ceil_div(cell[1], 2))
    for name, plane, size, factor in (
        ("Y", band.y, cell, reduction),
        ("Cb", band.cb, chroma_cell, reduction // 2),
        ("Cr", band.cr, chroma_cell, reduction // 2),
    ):
        pixels = tile.plane(name)
        if pixels.width < size[0] or pixels.height < size[1]:
            raise _damaged(f"a {name} plane of {pixels.width}x{pixels.height} px for a {size[0]}x{size[1]} px cell")
        if pixels.size != size:
            pixels = pixels.crop((0, 0, *size))
        plane.paste(pixels.reduce(factor) if factor > 1 else pixels, (left, 0))


def _dct_scale(plan: list[_Target]) -> int:
    for scale in (8, 4, 2):
        headroom = DCT_MIN_HEADROOM[scale]
        if all(_ratio(target) / scale >= headroom for target in plan):
            return scale
    return 1


def _reduce_factor(plan: list[_Target]) -> int:
    return max(1, int(min(_ratio(target) for target in plan) / REDUCING_GAP))


def _ratio(target: _Target) -> float:
    left, top, right, bottom = target.box
    return min((right - left) / target.size[0], (bottom - top) / target.size[1])


def _working_mode(image: Image.Image, source: _Source) -> Image.Image:
    """Bring any decoded mode to RGB or L (alpha flattened on white, 16-bit scaled, CMYK converted)."""
    mode = image.mode
    if mode in ("RGB", "L"):
        return image
    if mode == "1":
        return image.convert("L")
    if mode.startswith("I"):  # 16/32-bit grey: scale to 8 bits (convert("L") would clip at 255)
        return image.convert("I").point(lambda value: value * (1 / 257)).convert("L")
    if mode == "CMYK":
        return _cmyk_to_srgb(image, source.icc_profile)
    if mode == "P":
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    elif mode in ("LA", "PA", "La", "RGBa"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        flat = Image.new("RGB", image.size, _WHITE)
        flat.paste(image, mask=image.getchannel("A"))
        return flat
    return image if image.mode == "RGB" else image.convert("RGB")


def _resample(base: Image.Image, target: _Target, to_base: float, transpose: Image.Transpose | None) -> Image.Image:
    from happypath_workflow import resampler  # ctypes: only where images are resampled

    box = _scaled_box(target, to_base)
    image = resampler.resample(base, target.size, box)
    if image is None:
        image = base.resize(target.size, RESAMPLE, box=box, reducing_gap=REDUCING_GAP)
    return image if transpose is None else image.transpose(transpose)


def _scaled_box(target: _Target, scale: float) -> tuple[float, float, float, float]:
    left, top, right, bottom = target.box
    return (left * scale, top * scale, right * scale, bottom * scale)


def _finish(image: Image.Image, source: _Source) -> Image.Image:
    """sRGB, metadata-free: what every (upright) output is encoded from."""
    if source.icc_profile and image.mode in ("RGB", "L") and source.image.mode != "CMYK":
        image = _to_srgb(image, source.icc_profile)
    image.info = {}
    return image


# --- colour ----------------------------------------------------------------------------------------------


def _to_srgb(image: Image.Image, icc: bytes) -> Image.Image:
    transform = _srgb_transform(icc, image.mode)
    if transform is None:
        return image
    if image.mode == "RGB":  # RGB -> RGB works in place: no copy
        transform.apply(image, image)
        return image
    return transform.apply(image)


def _cmyk_to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    transform = _srgb_transform(icc, "CMYK") if icc else None
    # Without a profile Pillow's naive conversion is the best guess (libvips and browsers do the same).
    return transform.apply(image) if transform is not None else image.convert("RGB")


@lru_cache(maxsize=16)
def _srgb_transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached lcms transform from the embedded profile to sRGB (output mode RGB).

    None when the profile is sRGB already, does not match the pixel mode, or cannot be read (then the
    pixels are taken as sRGB, which is what a browser would do with an untagged image).
    """
    from PIL import ImageCms

    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile).lower().replace(" ", "")
        colour_space = profile.profile.xcolor_space.strip()
        if "srgb" in description or colour_space != {"L": "GRAY", "RGB": "RGB", "CMYK": "CMYK"}[mode]:
            return None
        return ImageCms.buildTransform(
            profile,
            _srgb_profile(),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            flags=ImageCms.Flags.NOCACHE,  # lcms' one-pixel cache is not thread-safe; the pool shares this
        )
    except (OSError, ValueError, TypeError, KeyError, ImageCms.PyCMSError):
        return None


@lru_cache(maxsize=1)
def _srgb_profile() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


# --- encoding --------------------------------------------------------------------------------------------


def _encode_jpeg(image: Image.Image, *, progressive: bool = True) -> bytes:
    buffer = io.BytesIO()
    quality = limits.JPEG_QUALITY if progressive else MODERATION_JPEG_QUALITY
    # 4:2:0 keeps even pure noise under the one byte per pixel that Pillow buffers for optimised output.
    image.save(
        buffer,
        JpegImagePlugin.JpegImageFile.format,
        quality=quality,
        progressive=progressive,
        optimize=True,
        subsampling=2,
    )
    return buffer.getvalue()


def _encode_webp(image: Image.Image) -> bytes:
    from happypath_workflow import webp_encoder  # ctypes: only where renditions are made

    encoded = webp_encoder.encode(image, limits.WEBP_QUALITY)
    if encoded is not None:
        return encoded
    buffer = io.BytesIO()
    image.save(buffer, WebPImagePlugin.WebPImageFile.format, quality=limits.WEBP_QUALITY, method=WEBP_FALLBACK_METHOD)
    return buffer.getvalue()


def _rendition(image: Image.Image, jpeg: bytes, webp: bytes) -> Rendition:
    return Rendition(width=image.width, height=image.height, jpeg=jpeg, webp=webp)


# --- parallel rendering ----------------------------------------------------------------------------------

_pools: dict[int, ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def _worker_count(workers: int | None) -> int:
    if workers is not None:
        return max(1, workers)
    try:
        return min(2, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return min(2, os.cpu_count() or 1)


def _pool(threads: int) -> ThreadPoolExecutor:
    from concurrent.futures import ThreadPoolExecutor  # imported on first use: it costs ~9 ms

    with _pools_lock:
        pool = _pools.get(threads)
        if pool is None:
            pool = _pools[threads] = ThreadPoolExecutor(threads, thread_name_prefix="imaging")
        return pool


def _finish_and_encode(
    resampled: dict[str, Callable[[], Image.Image]], source: _Source, *, parallel: bool
) -> dict[str, Rendition]:
    """Finish and encode every output; with two threads the tile in the pool while the caller does the scaled image
    (the larger job).

    This way round, not the other: what the pool thread allocates comes from its own malloc arena, which cannot
    reuse what the caller's thread freed (the decode's buffers), so its share is kept small. With the scaled
    image's WebP in the pool, a warm process rendering the 12 MP HEIC on two threads peaked 1-3 MB higher, for
    2-3 ms less wall time on a JPEG (bench/README.md).
    """

    def finish_and_encode(name: str) -> Rendition:
        image = _finish(resampled[name](), source)
        return _rendition(image, _encode_jpeg(image), _encode_webp(image))

    made = _shared([partial(finish_and_encode, name) for name in resampled], parallel)
    return dict(zip(resampled, made, strict=True))


def _shared[T](jobs: list[Callable[[], T]], parallel: bool) -> list[T]:
    """Run the first job on this thread and the others in the pool (all here unless `parallel`), and give their
    results in order. Every job is waited for before an error is raised, the first one's: none may still be
    reading or writing the pixels the caller shares with it when the caller goes on."""
    if not parallel or len(jobs) == 1:
        return [job() for job in jobs]
    pool = _pool(len(jobs) - 1)
    helpers = [pool.submit(job) for job in jobs[1:]]
    outcomes: list[T | BaseException] = []
    for job in [jobs[0], *(helper.result for helper in helpers)]:
        try:
            outcomes.append(job())
        except BaseException as exc:
            outcomes.append(exc)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
    return cast(list[T], outcomes)
