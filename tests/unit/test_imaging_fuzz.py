"""Fuzzing the image checks (`inspect_image`) and the renditions (`render`) with hypothesis.

The contract for ANY bytes an uploader can send: `inspect_image` and `render` either succeed or raise
`ImageRejected` with a `RejectionReason` and a non-empty detail. Never another exception, never a hang,
never a memory spike beyond what the check function has (CheckImageFunction: 1024 MB in template.yaml).
What they accept must come out as valid images of the exact sizes: a 400x400 tile, a 600 px wide scaled
image (JPEG and WebP) and a moderation JPEG whose long side is at most 1024 px.

Inputs:
- arbitrary bytes, alone and behind each format's signature (and a HEIF box skeleton that reaches libheif);
- real photos from ../shared/photos (the small ones) and small generated JPEG/PNG/HEIC files, with random
  byte flips, sets, insertions, deletions, duplications and truncations;
- structure-aware header mutations: JPEG SOF/SOS/DRI fields and segment lengths, PNG IHDR fields (CRC kept
  valid so the mutation reaches the decoder), extra PNG chunks (iCCP/zTXt zlib bombs, eXIf, APNG), EXIF
  orientation entries with every value 0..65535 and invalid types and counts, huge EXIF/APP1 blocks and
  huge ICC profiles (APP2 chunks, iCCP);
- generated images of every mode (1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F) at sizes around the 800 px
  minimum and at the side limit, with EXIF orientation tags: these must be accepted (or TOO_SMALL /
  TOO_LARGE exactly when the limits say so), at the exact upright sizes.

Deterministic (derandomize=True, no example database) and bounded: about 45 s on a 2-core machine.
Section 8 keeps what longer random runs of these strategies found (all fixed since) as regression tests.
Add `--hypothesis-show-statistics` to see the outcome mix per test (the `event`s below).
"""

from __future__ import annotations

import faulthandler
import io
import random
import resource
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from happypath_testkit.heic import box, display_p3_profile
from happypath_testkit.memory import reset_peak_rss, rss_mb
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from PIL import Image, ImageCms

from happypath import limits
from happypath.statuses import RejectionReason
from happypath_workflow.imaging import (
    ENTROPY_DAMAGE,
    HEVC_DAMAGE,
    ImageRejected,
    Inspection,
    Rendition,
    inspect_image,
    moderation_size,
    render,
)

PHOTOS = Path(__file__).parents[2].parent / "shared" / "photos"
# Pillow warns about the damaged metadata the fuzzers make (EXIF tags past the end, invalid APNG): expected.
pytestmark = pytest.mark.filterwarnings(
    "ignore::UserWarning:PIL.TiffImagePlugin", "ignore::UserWarning:PIL.PngImagePlugin"
)

# --- bounds -----------------------------------------------------------------------------------------------

HANG_S = 60.0
"""CheckImageFunction's Timeout (template.yaml): a call still running by then would never end in Lambda, so it
is taken as hung, and faulthandler dumps every thread's stack and ends the run. A guard, not a speed target
(fuzzed inputs take ~1-100 ms, the largest allowed image ~3 s; bench/ measures speed)."""
MEMORY_BUDGET_MB = 1024 - 64
"""Peak RSS growth allowed for one call: CheckImageFunction's MemorySize (1024 MB, template.yaml) less
what a Lambda's Python process with Pillow holds before the call (~45-60 MB, see bench/README.md)."""
CHECK_REASONS = frozenset(
    {RejectionReason.UNSUPPORTED_TYPE, RejectionReason.TOO_SMALL, RejectionReason.TOO_LARGE, RejectionReason.DAMAGED}
)
"""The only reasons the image checks may give (the others belong to moderation and place rules)."""


def fuzz_settings(max_examples: int) -> settings:
    return settings(
        max_examples=max_examples,
        deadline=None,
        derandomize=True,  # same examples on every run and machine: CI is reproducible
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
            HealthCheck.filter_too_much,
        ],
    )


# --- running one call under the bounds ---------------------------------------------------------------------


_PEAK_GROWTH_MB: dict[str, float] = {}


def note(value: str) -> None:
    """A hypothesis `event` (shown by --hypothesis-show-statistics) when called inside a test."""
    if currently_in_test_context():
        event(value)


def bounded(name: str, call: Callable[[], Any]) -> tuple[Any, ImageRejected | None]:
    """Run one call with a hang watchdog and a memory budget; return (result, rejection)."""
    exact_peak = reset_peak_rss()
    rss_before, peak_before = rss_mb()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    faulthandler.dump_traceback_later(HANG_S, exit=True)
    try:
        result, rejection = call(), None
    except ImageRejected as rejected:
        result, rejection = None, rejected
    finally:
        faulthandler.cancel_dump_traceback_later()
    if exact_peak:
        growth = rss_mb()[1] - rss_before
    else:  # without clear_refs only growth above the process's previous peak can be seen
        growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - max(maxrss_before, peak_before)
    _PEAK_GROWTH_MB[name] = max(_PEAK_GROWTH_MB.get(name, 0.0), growth)
    assert growth < MEMORY_BUDGET_MB, f"{name} grew the peak RSS by {growth:.0f} MB"
    return result, rejection


def assert_proper_rejection(rejected: ImageRejected) -> None:
    assert isinstance(rejected.reason, RejectionReason), rejected.reason
    assert rejected.reason in CHECK_REASONS, rejected.reason
    assert isinstance(rejected.detail, str)
    assert rejected.detail.strip(), "a rejection must say what was found"


def sniffed(data: bytes) -> str | None:
    if data[:3] == b"\xff\xd8\xff":
        return "JPEG"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "PNG"
    return "HEIF" if data[4:8] == b"ftyp" else None


def open_output(data: bytes, fmt: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == fmt
    image.load()
    assert image.mode in ("RGB", "L"), image.mode
    assert not image.getexif(), "no EXIF in any output"
    assert "icc_profile" not in image.info, "no ICC profile in any output"
    return image


def assert_valid_inspection(inspection: Inspection, data: bytes) -> tuple[int, int]:
    info = inspection.info
    assert info.format == sniffed(data), (info.format, data[:12])
    width, height = info.width, info.height
    assert min(width, height) >= limits.MIN_SIDE_PX
    assert max(width, height) <= limits.MAX_SIDE_PX
    assert width * height <= limits.MAX_PIXELS
    assert 1 <= info.orientation <= 8
    moderation = open_output(inspection.moderation_jpeg, "JPEG")
    assert moderation.size == moderation_size(width, height), (moderation.size, (width, height))
    assert min(moderation.size) >= limits.REKOGNITION_MIN_SIDE_PX  # Rekognition's limits
    assert max(moderation.size) <= 10_000
    assert len(inspection.moderation_jpeg) < 5 * 1024 * 1024  # Rekognition's byte limit
    return width, height


def assert_valid_renditions(renditions: dict[str, Rendition], upright: tuple[int, int]) -> None:
    width, height = upright
    expected = {
        "tile": (limits.TILE_SIZE_PX, limits.TILE_SIZE_PX),
        "scaled": (limits.SCALED_WIDTH_PX, max(1, round(limits.SCALED_WIDTH_PX * height / width))),
    }
    assert list(renditions) == ["tile", "scaled"]
    for name, rendition in renditions.items():
        assert (rendition.width, rendition.height) == expected[name], (name, rendition.width, rendition.height)
        assert open_output(rendition.jpeg, "JPEG").size == expected[name]
        assert open_output(rendition.webp, "WEBP").size == expected[name]


def check_contract(data: bytes, *, workers: int | None = 1) -> tuple[Inspection | None, ImageRejected | None]:
    """The whole contract on one input: both entry points, bounded, and consistent with each other."""
    inspection, inspect_rejection = bounded("inspect_image", lambda: inspect_image(data))
    renditions, render_rejection = bounded("render", lambda: render(data, workers=workers))
    for rejection in (inspect_rejection, render_rejection):
        if rejection is not None:
            assert_proper_rejection(rejection)
    if inspection is not None:
        upright = assert_valid_inspection(inspection, data)
        # The check step accepted it: the resize step must publish it, not reject it afterwards.
        assert render_rejection is None, f"inspect_image accepted it, render refused it: {render_rejection}"
        assert_valid_renditions(renditions, upright)
        note(f"accepted {inspection.info.format}")
    elif render_rejection is None:  # only the check step decodes every scan: the resize step comes after it
        assert inspect_rejection is not None
        assert inspect_rejection.detail.startswith((ENTROPY_DAMAGE, HEVC_DAMAGE)), (
            f"refused ({inspect_rejection}), render accepted"
        )
        note("rejected DAMAGED (scan data)")
    else:
        assert inspect_rejection is not None
        assert render_rejection.reason == inspect_rejection.reason, (inspect_rejection, render_rejection)
        note(f"rejected {inspect_rejection.reason}")
    return inspection, inspect_rejection


# --- seed files: real photos and small generated images ---------------------------------------------------


@cache
def photo(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


@cache
def photo_like(size: tuple[int, int]) -> Image.Image:
    """A real photo's content (trail camera, 2048x1536) at the given size."""
    with Image.open(PHOTOS / "Reconyx_HC500_Hyperfire.jpg") as source:
        source.draft("RGB", size)
        return source.convert("RGB").resize(size, Image.Resampling.BILINEAR)


def encode(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    if fmt == "HEIF":
        _register_heif()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@cache
def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def _p_with_transparency() -> Image.Image:
    image = photo_like((816, 800)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    image.info["transparency"] = 3
    return image


def _orientation_exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "fuzz"
    return exif.tobytes()


def _with_orientation(image: Image.Image, orientation: int) -> bytes:
    return encode(image, "JPEG", quality=80, exif=_orientation_exif(orientation))


SEED_MAKERS: dict[str, Callable[[], bytes]] = {
    # real photos (the small ones)
    "DSCN0010.jpg": lambda: photo("DSCN0010.jpg"),  # 640x480, EXIF with GPS and a thumbnail: TOO_SMALL
    "Reconyx.jpg": lambda: photo("Reconyx_HC500_Hyperfire.jpg"),  # 2048x1536
    "Landscape_6.jpg": lambda: photo("orientation/Landscape_6.jpg"),  # EXIF orientation 6, JFIF, 1800x1200
    # generated, just over the minimum so that decoding them stays cheap
    "baseline-restarts.jpg": lambda: encode(photo_like((832, 808)), "JPEG", quality=80, restart_marker_blocks=3),
    "progressive-444.jpg": lambda: encode(photo_like((808, 832)), "JPEG", progressive=True, subsampling=0),
    "grey.jpg": lambda: encode(photo_like((800, 800)).convert("L"), "JPEG"),
    "cmyk.jpg": lambda: encode(photo_like((840, 800)).convert("CMYK"), "JPEG"),
    "rgb.png": lambda: encode(photo_like((816, 800)), "PNG", compress_level=1),
    "palette-trns.png": lambda: encode(_p_with_transparency(), "PNG"),
    "grey16.png": lambda: encode(
        photo_like((800, 804)).convert("L").convert("I").point(lambda v: v * 257).convert("I;16"), "PNG"
    ),
    "rgba-interlaced.png": lambda: encode(photo_like((800, 808)).convert("RGBA"), "PNG", interlace=1),
    # large enough for render to reduce it, so decoded a strip at a time
    "strips-rgb.png": lambda: encode(photo_like((2400, 1600)), "PNG", compress_level=1),
    # progressive, and large enough for render's 1/2 scale: decoded by progressive_jpeg, not libjpeg
    "progressive-420-reduced.jpg": lambda: encode(
        photo_like((1296, 1000)), "JPEG", progressive=True, restart_marker_blocks=5
    ),
    "small.heic": lambda: encode(photo_like((832, 816)), "HEIF", quality=40),
    # as iPhones write them: a grid of tiles, turned by the container (`irot`), decoded tile by tile
    "grid-rotated.heic": lambda: encode(
        photo_like((832, 816)), "HEIF", quality=40, tile_size=128, exif=_orientation_exif(6)
    ),
    "exif-le.jpg": lambda: _with_orientation(photo_like((816, 800)), 8),  # Pillow writes little-endian EXIF
}
JPEG_SEEDS = [name for name in SEED_MAKERS if name.endswith(".jpg")]
PNG_SEEDS = [name for name in SEED_MAKERS if name.endswith(".png")]


@cache
def seed(name: str) -> bytes:
    return SEED_MAKERS[name]()


def test_every_seed_is_what_it_should_be() -> None:
    """The seeds are valid files: accepted, or TOO_SMALL for DSCN0010 (so mutations start from real parsing)."""
    for name in SEED_MAKERS:
        inspection, rejection = check_contract(seed(name))
        if name == "DSCN0010.jpg":
            assert rejection is not None
            assert rejection.reason == RejectionReason.TOO_SMALL
        else:
            assert inspection is not None, (name, rejection)


# --- 1. arbitrary bytes ------------------------------------------------------------------------------------


HEADS = [
    b"",
    b"\xff\xd8\xff",
    b"\xff\xd8\xff\xe0",
    b"\xff\xd8\xff\xdb",
    b"\xff\xd8\xff\xc0\x00\x11\x08\x03\x20\x03\x20\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01",  # SOF 800x800
    b"\x89PNG\r\n\x1a\n",
    box(b"ftyp", b"heic\x00\x00\x00\x00mif1heic"),
    box(b"ftyp", b"mif1\x00\x00\x00\x00mif1"),
]


@st.composite
def heif_skeletons(draw: st.DrawFn) -> bytes:
    """ftyp + meta + mdat boxes with arbitrary contents: passes the box walk, reaches libheif."""
    brand = draw(st.sampled_from([b"heic", b"heix", b"mif1", b"hevc"]))
    ftyp = box(b"ftyp", brand + b"\x00\x00\x00\x00mif1heic")
    meta = box(b"meta", b"\x00\x00\x00\x00" + draw(st.binary(max_size=600)))
    mdat = box(b"mdat", draw(st.binary(max_size=600)))
    extra = [box(draw(st.sampled_from([b"free", b"moov", b"iinf", b"uuid"])), draw(st.binary(max_size=64)))]
    boxes = draw(st.permutations([meta, mdat, *extra]))
    return ftyp + b"".join(boxes)


@st.composite
def png_skeletons(draw: st.DrawFn) -> bytes:
    """A valid IHDR (any size, depth and colour type) then arbitrary chunks with valid CRCs."""
    width = draw(st.sampled_from([1, 799, 800, 801, 1024, 7745]))
    height = draw(st.sampled_from([1, 799, 800, 801, 1024, 7745]))
    depth = draw(st.sampled_from([1, 2, 4, 8, 16, 3, 0]))
    colour = draw(st.sampled_from([0, 2, 3, 4, 6, 1, 7]))
    interlace = draw(st.sampled_from([0, 1, 2]))
    chunks = [png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))]
    kinds = st.sampled_from([b"IDAT", b"PLTE", b"tRNS", b"iCCP", b"eXIf", b"acTL", b"fcTL", b"fdAT", b"zTXt"])
    for kind, body in draw(st.lists(st.tuples(kinds, st.binary(max_size=200)), max_size=4)):
        chunks.append(png_chunk(kind, body))
    if draw(st.booleans()):
        chunks.append(png_chunk(b"IDAT", zlib.compress(draw(st.binary(max_size=300)))))
    chunks.append(png_chunk(b"IEND", b""))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks)


@given(
    st.one_of(
        st.binary(max_size=4096),
        st.builds(lambda head, tail: head + tail, st.sampled_from(HEADS), st.binary(max_size=4096)),
        st.builds(lambda body: b"\xff\xd8" + body + b"\xff\xd9", st.binary(max_size=2048)),
        heif_skeletons(),
        png_skeletons(),
    )
)
@fuzz_settings(max_examples=400)
def test_arbitrary_bytes_are_accepted_or_rejected_with_a_reason(data: bytes) -> None:
    check_contract(data)


# --- 2. random byte mutations of real and generated files -------------------------------------------------

INTERESTING_BYTES = [0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF, 0xC0, 0xC2, 0xC4, 0xD0, 0xD7, 0xD8, 0xD9, 0xDA, 0xDB, 0xDD]
INTERESTING_INSERTS = [
    b"\xff",
    b"\xff\x00",
    b"\xff\xd9",
    b"\xff\xd8",
    b"\xff\xda",
    b"\xff\xd0",
    b"\xff\xff\xff",
    b"\xff\xc0\x00\x11\x08\xff\xff\xff\xff\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01",
    b"\xff\xdd\x00\x04\x00\x01",
    b"\x00\x00\x00\x00IEND\xaeB`\x82",
    b"IDAT",
    b"\x00\x00\x00\x08mdat",
]
INTERESTING_16 = [0, 1, 2, 7, 8, 9, 255, 256, 799, 800, 801, 1024, 4096, 12000, 12001, 0x7FFF, 0x8000, 0xFFFE, 0xFFFF]


@st.composite
def positions(draw: st.DrawFn, size: int) -> int:
    """Anywhere in the file, but often in the first KB where the headers are."""
    if size <= 1:
        return 0
    return draw(st.one_of(st.integers(0, min(size - 1, 1023)), st.integers(0, size - 1)))


@st.composite
def byte_mutations(draw: st.DrawFn, names: list[str]) -> bytes:
    name = draw(st.sampled_from(names))
    data = bytearray(seed(name))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "set16", "insert", "delete", "duplicate", "truncate"]))
        pos = draw(positions(len(data)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[pos] = draw(st.one_of(st.sampled_from(INTERESTING_BYTES), st.integers(0, 255)))
        elif op == "set16":
            data[pos : pos + 2] = struct.pack(">H", draw(st.sampled_from(INTERESTING_16)))
        elif op == "insert":
            data[pos:pos] = draw(st.one_of(st.sampled_from(INTERESTING_INSERTS), st.binary(min_size=1, max_size=32)))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "duplicate":
            start = draw(positions(len(data)))
            data[pos:pos] = data[start : start + draw(st.integers(1, 4096))]
        elif op == "truncate":
            del data[pos:]
    event(f"seed {name}")
    return bytes(data)


@given(byte_mutations(list(SEED_MAKERS)))
@fuzz_settings(max_examples=160)
def test_randomly_damaged_photos_are_accepted_or_rejected_with_a_reason(data: bytes) -> None:
    check_contract(data)


# --- 3. header field mutations -----------------------------------------------------------------------------


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, offset of 0xFF, segment length) of the header segments up to and including the first SOS."""
    segments, pos = [], 2
    while pos + 4 <= len(data) and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        segments.append((marker, pos, length))
        if marker == 0xDA:
            break
        pos += 2 + length
    return segments


DIMENSIONS_16 = st.one_of(st.sampled_from(INTERESTING_16), st.integers(0, 0xFFFF))


@st.composite
def jpeg_header_mutations(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(JPEG_SEEDS))
    data = bytearray(seed(name))
    segments = jpeg_segments(bytes(data))
    sof = next(offset for marker, offset, _ in segments if marker in (0xC0, 0xC1, 0xC2))
    sos = next(offset for marker, offset, _ in segments if marker == 0xDA)
    field = draw(
        st.sampled_from(
            [
                "sof-size",
                "sof-size",
                "sof-precision",
                "sof-components",
                "sof-sampling",
                "sof-tables",
                "sos",
                "dri",
                "length",
            ]
        )
    )
    if field == "sof-size":  # height and width of the frame: the size checks and the decoder must agree
        data[sof + 5 : sof + 9] = struct.pack(">HH", draw(DIMENSIONS_16), draw(DIMENSIONS_16))
    elif field == "sof-precision":
        data[sof + 4] = draw(st.sampled_from([0, 1, 7, 8, 12, 16, 255]))
    elif field == "sof-components":
        data[sof + 9] = draw(st.integers(0, 255))
    elif field == "sof-sampling":
        index = draw(st.integers(0, max(0, data[sof + 9] - 1)))
        data[sof + 11 + 3 * index] = draw(
            st.one_of(st.sampled_from([0x00, 0x11, 0x22, 0x44, 0x55, 0xFF]), st.integers(0, 255))
        )
    elif field == "sof-tables":
        index = draw(st.integers(0, max(0, data[sof + 9] - 1)))
        data[sof + 12 + 3 * index] = draw(st.integers(0, 255))
    elif field == "sos":  # component count, component ids, table selectors, Ss/Se/Ah/Al
        offset = sos + 4 + draw(st.integers(0, int.from_bytes(data[sos + 2 : sos + 4], "big") - 3))
        data[offset] = draw(st.integers(0, 255))
    elif field == "dri":  # a restart interval that does not match the markers in the data (or does)
        interval = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 0xFFFF]), st.integers(0, 0xFFFF)))
        data[sos:sos] = b"\xff\xdd\x00\x04" + struct.pack(">H", interval)
    else:  # any segment's length field
        _, offset, _ = draw(st.sampled_from(segments))
        data[offset + 2 : offset + 4] = struct.pack(">H", draw(DIMENSIONS_16))
    event(f"JPEG {field}")
    return bytes(data)


def png_chunk(kind: bytes, body: bytes, crc: int | None = None) -> bytes:
    checksum = zlib.crc32(kind + body) if crc is None else crc
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", checksum & 0xFFFFFFFF)


def png_chunks(data: bytes) -> list[tuple[bytes, int, int]]:
    """(type, offset, total length) of each chunk."""
    chunks, pos = [], 8
    while pos + 12 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        chunks.append((data[pos + 4 : pos + 8], pos, 12 + length))
        pos += 12 + length
    return chunks


DIMENSIONS_32 = st.one_of(
    st.sampled_from([0, 1, 799, 800, 801, 7745, 7746, 12000, 12001, 2**31 - 1, 2**31, 2**32 - 1]),
    st.integers(0, 2**32 - 1),
)


@st.composite
def png_header_mutations(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(PNG_SEEDS))
    data = seed(name)
    ihdr = bytearray(data[16:29])
    field = draw(st.sampled_from(["size", "size", "depth", "colour", "interlace", "other", "idat", "chunk"]))
    chunks = png_chunks(data)
    if field == "size":
        ihdr[0:8] = struct.pack(">II", draw(DIMENSIONS_32), draw(DIMENSIONS_32))
    elif field == "depth":
        ihdr[8] = draw(st.one_of(st.sampled_from([0, 1, 2, 4, 8, 16, 32]), st.integers(0, 255)))
    elif field == "colour":
        ihdr[9] = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 4, 5, 6, 7]), st.integers(0, 255)))
    elif field == "interlace":
        ihdr[12] = draw(st.integers(0, 255))
    elif field == "other":
        ihdr[draw(st.sampled_from([10, 11]))] = draw(st.integers(0, 255))
    rest = data[33:]
    if field == "idat":  # the image data replaced by a zlib stream of another length or content
        first = next(offset for kind, offset, _ in chunks if kind == b"IDAT")
        end = next(offset for kind, offset, _ in chunks if kind == b"IEND")
        raw = draw(st.one_of(st.binary(max_size=2048), st.builds(bytes, st.integers(0, 4_000_000))))
        rest = data[33:first] + png_chunk(b"IDAT", zlib.compress(raw, 1)) + data[end:]
    elif field == "chunk":  # a chunk inserted before the image data
        kind = draw(
            st.sampled_from(
                [
                    b"PLTE",
                    b"tRNS",
                    b"gAMA",
                    b"cHRM",
                    b"sBIT",
                    b"pHYs",
                    b"eXIf",
                    b"acTL",
                    b"fcTL",
                    b"iCCP",
                    b"zTXt",
                    b"iTXt",
                    b"tEXt",
                    b"IHDR",
                    b"IEND",
                ]
            )
        )
        body = draw(st.binary(max_size=64))
        if kind == b"acTL":  # APNG: frame and play counts
            body = struct.pack(">II", draw(st.integers(0, 2**32 - 1)), draw(st.integers(0, 3)))
        crc = None if draw(st.booleans()) else draw(st.integers(0, 2**32 - 1))
        rest = png_chunk(kind, body, crc) + rest
    fix_crc = draw(st.booleans()) or field in ("size", "depth", "colour")  # mostly reach the decoder
    header = png_chunk(b"IHDR", bytes(ihdr), None if fix_crc else int.from_bytes(data[29:33], "big"))
    event(f"PNG {field}")
    return data[:8] + header + rest


HEIF_BOXES = [b"ispe", b"ispe", b"iloc", b"pixi", b"hvcC", b"ipma", b"colr", b"iinf", b"pitm", b"ftyp", b"mdat"]
GRID_BOXES = [b"iref", b"idat", b"irot"]  # the tiles' references, the grid's layout, the rotation


@st.composite
def heif_header_mutations(draw: st.DrawFn) -> bytes:
    """Fields of the HEIC's boxes: image size (ispe), item locations (iloc), decoder config (hvcC), and in
    a grid the tile references, the grid layout and the rotation..."""
    name = draw(st.sampled_from(["small.heic", "grid-rotated.heic"]))
    data = bytearray(seed(name))
    kind = draw(st.sampled_from(HEIF_BOXES + (GRID_BOXES if name == "grid-rotated.heic" else [])))
    assert kind in data, kind
    box = data.find(kind) - 4
    size = int.from_bytes(data[box : box + 4], "big")
    if kind == b"ispe" and draw(st.booleans()):
        data[box + 12 : box + 20] = struct.pack(">II", draw(DIMENSIONS_32), draw(DIMENSIONS_32))
    else:  # one byte or one 32-bit field anywhere in the box, its size field included
        offset = box + draw(st.integers(0, min(size, 400) - 1))
        if draw(st.booleans()):
            data[offset] = draw(st.integers(0, 255))
        else:
            data[offset : offset + 4] = struct.pack(">I", draw(DIMENSIONS_32))
    event(f"{name} {kind.decode()}")
    return bytes(data)


@given(st.one_of(jpeg_header_mutations(), png_header_mutations(), heif_header_mutations()))
@fuzz_settings(max_examples=240)
def test_mutated_headers_are_accepted_or_rejected_with_a_reason(data: bytes) -> None:
    check_contract(data)


# --- 4. EXIF orientation: every value, invalid types and counts --------------------------------------------


def exif_orientation_entry(data: bytes) -> tuple[int, str]:
    """Offset of the orientation entry (tag 0x0112) in IFD0 of the first APP1 Exif segment, and byte order."""
    app1 = data.index(b"Exif\x00\x00") + 6
    order = ">" if data[app1 : app1 + 2] == b"MM" else "<"
    ifd0 = app1 + struct.unpack(order + "I", data[app1 + 4 : app1 + 8])[0]
    (count,) = struct.unpack(order + "H", data[ifd0 : ifd0 + 2])
    for index in range(count):
        entry = ifd0 + 2 + 12 * index
        if struct.unpack(order + "H", data[entry : entry + 2])[0] == 0x0112:
            return entry, order
    raise LookupError("no orientation entry")


@given(
    name=st.sampled_from(["Landscape_6.jpg", "exif-le.jpg"]),
    value=st.one_of(st.integers(0, 0xFFFF), st.integers(1, 8), st.sampled_from([0, 9, 0x0100, 0x0600, 0xFFFF])),
    kind=st.one_of(st.just(3), st.sampled_from([0, 1, 2, 4, 5, 7, 8, 9, 10, 11, 12, 13, 0xFFFF])),
    count=st.one_of(st.just(1), st.sampled_from([0, 2, 3, 4, 0x7FFF, 0x3FFFFFFF, 0xFFFFFFFF])),
)
@fuzz_settings(max_examples=100)
def test_any_exif_orientation_entry_is_handled(name: str, value: int, kind: int, count: int) -> None:
    data = bytearray(seed(name))
    entry, order = exif_orientation_entry(bytes(data))
    data[entry + 2 : entry + 12] = struct.pack(order + "HIH", kind, count, value) + b"\x00\x00"
    inspection, rejection = check_contract(bytes(data))
    assert rejection is None, rejection  # the pixels are intact: a broken tag must not sink the photo
    assert inspection is not None
    valid = kind == 3 and count == 1 and 1 <= value <= 8
    event("valid orientation" if valid else "invalid orientation entry")
    if valid:
        assert inspection.info.orientation == value
        stored = Image.open(io.BytesIO(data)).size
        assert (inspection.info.width, inspection.info.height) == (stored[::-1] if value >= 5 else stored)
    elif kind == 3 and count == 1:
        assert inspection.info.orientation == 1  # invalid values are taken as upright


# --- 5. huge EXIF/APP1 blocks and huge ICC profiles -------------------------------------------------------


@cache
def srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


@cache
def lab_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("LAB")).tobytes()


def junk(size: int, seed_value: int) -> bytes:
    return random.Random(seed_value).randbytes(size)


def jpeg_segment(marker: int, body: bytes) -> bytes:
    return bytes([0xFF, marker]) + struct.pack(">H", len(body) + 2) + body


@st.composite
def huge_exif(draw: st.DrawFn) -> bytes:
    """APP1 Exif segments: up to 64 KB each, many of them, with IFDs claiming huge counts and offsets."""
    order = draw(st.sampled_from(["<", ">"]))
    entries = draw(st.integers(0, 0xFFFF))
    shape = draw(st.sampled_from(["max-entries", "huge-counts", "junk", "nested-offsets"]))
    tiff = (b"II" if order == "<" else b"MM") + struct.pack(order + "HI", 42, 8)
    if shape == "max-entries":  # IFD0 claims up to 65535 entries, all orientation tags
        body = struct.pack(order + "H", entries) + struct.pack(order + "HHIHH", 0x0112, 3, 1, 6, 0) * min(entries, 5400)
    elif shape == "huge-counts":  # entries whose values would be gigabytes long, at offsets past the end
        count = draw(st.sampled_from([0x10000, 0x3FFFFFFF, 0xFFFFFFFF]))
        tags = [0x0112, 0x8769, 0x8825, 0x927C, 0x010F, 0x0201]
        body = struct.pack(order + "H", len(tags)) + b"".join(
            struct.pack(order + "HHII", tag, draw(st.sampled_from([1, 2, 3, 4, 7])), count, 0xFFFFFFF0) for tag in tags
        )
    elif shape == "nested-offsets":  # sub-IFD pointers that loop back to IFD0
        body = (
            struct.pack(order + "H", 3)
            + b"".join(struct.pack(order + "HHII", tag, 4, 1, 8) for tag in (0x8769, 0x8825, 0xA005))
            + struct.pack(order + "I", 8)
        )
    else:
        body = junk(draw(st.integers(0, 65_000)), entries)
    payload = (b"Exif\x00\x00" + tiff + body)[:65_533]
    copies = draw(st.sampled_from([1, 2, 16, 64]))  # up to 4 MB of APP1
    return jpeg_segment(0xE1, payload) * copies


@st.composite
def huge_icc(draw: st.DrawFn) -> bytes:
    """An ICC profile of up to 16 MB split over APP2 chunks (with consistent or broken numbering)."""
    base = draw(st.sampled_from(["srgb", "lab", "junk"]))
    size = draw(st.sampled_from([100, 65_519, 1_000_000, 4_000_000, 16_000_000]))
    profile = {"srgb": srgb_profile, "lab": lab_profile}.get(base, lambda: b"")()
    profile = (profile + junk(max(0, size - len(profile)), size))[:size]
    if draw(st.booleans()):  # the profile header's own size field says something else
        profile = struct.pack(">I", draw(st.sampled_from([0, 128, 0xFFFFFFFF]))) + profile[4:]
    pieces = [profile[i : i + 65_519] for i in range(0, len(profile), 65_519)][:255]
    numbering = draw(st.sampled_from(["right", "zero", "reversed", "count-wrong"]))
    segments = []
    for index, piece in enumerate(pieces):
        number, count = index + 1, len(pieces)
        if numbering == "zero":
            number = 0
        elif numbering == "reversed":
            number = len(pieces) - index
        elif numbering == "count-wrong":
            count = 255 - count
        segments.append(jpeg_segment(0xE2, b"ICC_PROFILE\x00" + bytes([number & 0xFF, count & 0xFF]) + piece))
    event(f"ICC {base} {size} {numbering}")
    return b"".join(segments)


@st.composite
def mutated_icc(draw: st.DrawFn) -> bytes:
    """A real non-sRGB profile with a few bytes changed: lcms parses it and builds (or refuses) a transform."""
    profile = bytearray(display_p3_profile())
    for _ in range(draw(st.integers(0, 4))):
        offset = draw(st.one_of(st.integers(0, 127 + 4 + 12 * 10), st.integers(0, len(profile) - 1)))
        if draw(st.booleans()):
            profile[offset] = draw(st.integers(0, 255))
        else:
            profile[offset : offset + 4] = struct.pack(">I", draw(DIMENSIONS_32))
    event("ICC mutated Display P3")
    return jpeg_segment(0xE2, b"ICC_PROFILE\x00\x01\x01" + bytes(profile))


@st.composite
def jpegs_with_huge_metadata(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["baseline-restarts.jpg", "grey.jpg", "cmyk.jpg", "Landscape_6.jpg"]))
    data = seed(name)
    extra = draw(st.one_of(huge_exif(), huge_icc(), mutated_icc()))
    return data[:2] + extra + data[2:]


@st.composite
def pngs_with_huge_metadata(draw: st.DrawFn) -> bytes:
    name = draw(st.sampled_from(["rgb.png", "grey16.png", "palette-trns.png"]))
    data = seed(name)
    kind = draw(st.sampled_from(["iCCP", "zTXt", "eXIf", "iTXt"]))
    size = draw(st.sampled_from([1000, 1_000_000, 20_000_000, 200_000_000]))  # decompressed sizes: zlib bombs
    if kind == "iCCP":
        body = b"icc\x00\x00" + _padded_zlib(srgb_profile() if draw(st.booleans()) else b"", size)
    elif kind == "zTXt":
        body = b"Comment\x00\x00" + _padded_zlib(b"", size)
    elif kind == "iTXt":
        body = b"XML:com.adobe.xmp\x00\x01\x00\x00\x00" + _padded_zlib(b"", size)
    else:
        body = b"MM\x00\x2a\x00\x00\x00\x08" + junk(min(size, 4_000_000), size)
    event(f"PNG {kind} {size}")
    return data[:33] + png_chunk(kind.encode(), body) + data[33:]


@cache
def _zeros_zlib(size: int) -> bytes:
    return zlib.compress(bytes(size), 9)


@cache
def _padded_zlib(head: bytes, size: int) -> bytes:
    """zlib of `head` then zeros up to `size` bytes (made once per size: 200 MB takes a second)."""
    compressor = zlib.compressobj(9)
    parts = [compressor.compress(head)]
    for start in range(len(head), size, 1 << 24):
        parts.append(compressor.compress(bytes(min(1 << 24, size - start))))
    return b"".join(parts) + compressor.flush()


@given(st.one_of(jpegs_with_huge_metadata(), pngs_with_huge_metadata()))
@fuzz_settings(max_examples=70)
def test_huge_exif_and_icc_blocks_are_bounded(data: bytes) -> None:
    assert len(data) <= limits.MAX_UPLOAD_BYTES
    check_contract(data)


# --- 6. every mode, sizes around the minimum and at the limits --------------------------------------------

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]
FORMATS = {
    "1": ["PNG", "JPEG"],
    "L": ["PNG", "JPEG", "HEIF"],
    "LA": ["PNG"],
    "P": ["PNG"],
    "RGB": ["PNG", "JPEG", "HEIF"],
    "RGBA": ["PNG", "HEIF"],
    "CMYK": ["JPEG"],
    "I;16": ["PNG"],
    # Pillow writes 32-bit int and float images to no format the app takes: as an upload they are a
    # 16-bit PNG (converted) or a TIFF (refused, UNSUPPORTED_TYPE).
    "I": ["PNG", "TIFF"],
    "F": ["PNG", "TIFF"],
}
SIDES = st.one_of(
    st.integers(800, 1300),
    st.sampled_from([800, 801, 802, 1023, 1024, 1025, 799, 798, 640, 2, 1]),
)
LONG_SIDES = st.sampled_from([2000, 4097, 11_999, 12_000, 12_001])


def pixels(mode: str, size: tuple[int, int], content: str, rng: np.random.Generator) -> Image.Image:
    if content == "solid":
        base = Image.new("RGB", size, tuple(int(v) for v in rng.integers(0, 256, 3)))
    elif content == "noise":  # a small noise tile blown up: cheap to make, hard to compress
        tile = Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
        base = tile.resize(size, Image.Resampling.NEAREST)
    else:
        base = photo_like((min(size[0], 2048), min(size[1], 2048))).resize(size, Image.Resampling.NEAREST)
    if mode in ("RGB", "L", "1", "CMYK"):
        return base.convert(mode)
    if mode in ("RGBA", "LA"):
        image = base.convert(mode)
        alpha = Image.linear_gradient("L").resize(size).point(lambda v: v if content != "solid" else 0)
        image.putalpha(alpha)
        return image
    if mode == "P":
        image = base.convert("P", palette=Image.Palette.ADAPTIVE, colors=int(rng.integers(2, 257)))
        if rng.integers(0, 2):
            image.info["transparency"] = int(rng.integers(0, 2))
        return image
    grey = base.convert("L")
    if mode == "I;16":
        return grey.convert("I").point(lambda v: v * 257).convert("I;16")
    if mode == "I":
        return grey.convert("I").point(lambda v: v * 257 - 20000)  # includes negatives: clipped as 16-bit
    return grey.convert("F").point(lambda v: v / 255.0)


def uploadable(image: Image.Image, fmt: str, orientation: int | None) -> bytes:
    params: dict[str, Any] = {}
    if orientation is not None and fmt in ("PNG", "JPEG"):
        exif = Image.Exif()
        exif[0x0112] = orientation
        params["exif"] = exif.tobytes()
    if fmt == "PNG":
        if image.mode in ("I", "F"):  # to 16 bits, as an app exporting them would (F holds 0..1)
            values = np.asarray(image, dtype=np.float64) * (65535 if image.mode == "F" else 1)
            image = Image.frombytes("I;16", image.size, np.clip(values, 0, 65535).astype("<u2").tobytes())
        return encode(image, "PNG", compress_level=1, **params)
    if fmt == "JPEG":
        return encode(image, "JPEG", quality=75, **params)
    if fmt == "HEIF":
        return encode(image, "HEIF", quality=30)
    return encode(image, "TIFF")


@st.composite
def generated_images(draw: st.DrawFn) -> tuple[bytes, str, tuple[int, int], int]:
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(FORMATS[mode]))
    if fmt == "HEIF" or draw(st.integers(0, 5)):
        size = (draw(SIDES), draw(SIDES))
    else:  # at the side limit: a long thin image (the other side small enough to stay cheap)
        long_side, short_side = draw(LONG_SIDES), draw(st.sampled_from([799, 800, 801, 900]))
        size = (long_side, short_side) if draw(st.booleans()) else (short_side, long_side)
    content = draw(st.sampled_from(["solid", "noise", "photo"]))
    orientation = draw(st.one_of(st.none(), st.integers(1, 8), st.integers(0, 0xFFFF)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    data = uploadable(pixels(mode, size, content, rng), fmt, orientation)
    exif_kept = fmt in ("PNG", "JPEG")  # (no EXIF written to HEIF: libheif applies its own transforms)
    valid_orientation = orientation if exif_kept and orientation is not None and 1 <= orientation <= 8 else 1
    event(f"{mode} as {fmt}")
    return data, fmt, size, valid_orientation


@given(generated_images(), st.sampled_from([1, 2]))
@fuzz_settings(max_examples=80)
def test_images_of_every_mode_and_size_are_accepted_exactly_when_within_the_limits(
    generated: tuple[bytes, str, tuple[int, int], int], workers: int
) -> None:
    data, fmt, (width, height), orientation = generated
    inspection, rejection = check_contract(data, workers=workers)
    if fmt == "TIFF":
        assert rejection is not None
        assert rejection.reason == RejectionReason.UNSUPPORTED_TYPE
        return
    if max(width, height) > limits.MAX_SIDE_PX or width * height > limits.MAX_PIXELS:
        assert rejection is not None
        assert rejection.reason == RejectionReason.TOO_LARGE
    elif min(width, height) < limits.MIN_SIDE_PX:
        assert rejection is not None
        assert rejection.reason == RejectionReason.TOO_SMALL
    else:
        assert rejection is None, f"{width}x{height} {fmt} refused: {rejection}"
        assert inspection is not None
        upright = (height, width) if orientation >= 5 else (width, height)
        assert inspection.info.format == ("HEIF" if fmt == "HEIF" else fmt)
        assert (inspection.info.width, inspection.info.height) == upright
        assert inspection.info.orientation == orientation


# --- 7. the largest images the limits allow: memory stays within the function's -------------------------


def png_of(width: int, height: int, depth: int, colour: int) -> bytes:
    """A PNG whose every row is zero (one zlib stream): tiny on disk, `width * height` pixels decoded."""
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[colour]
    row = b"\x00" + bytes(width * channels * depth // 8)
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    idat = _zeros_zlib(len(row) * height)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def test_the_bounds_are_the_check_functions():
    from happypath_local.stack import translate

    template, _ = translate(Path(__file__).parents[2] / "template.yaml", {})
    check = template["Resources"]["CheckImageFunction"]["Properties"]
    assert (check["Timeout"], check["MemorySize"] - 64) == (HANG_S, MEMORY_BUDGET_MB)


@pytest.mark.parametrize(
    ("width", "height", "depth", "colour"),
    [
        pytest.param(7745, 7745, 16, 0, id="60MP-grey16"),  # the mode with the longest conversion chain
        pytest.param(12_000, 5000, 8, 6, id="60MP-rgba"),
    ],
)
def test_the_largest_allowed_png_stays_within_the_memory_budget(
    width: int, height: int, depth: int, colour: int
) -> None:
    assert width * height <= limits.MAX_PIXELS
    data = png_of(width, height, depth, colour)
    _PEAK_GROWTH_MB.clear()
    inspection, rejection = check_contract(data, workers=2)
    assert rejection is None, rejection
    assert inspection is not None
    print(
        f"\n{width}x{height} depth {depth} colour {colour}: {len(data)} bytes, peak RSS growth "
        f"inspect_image {_PEAK_GROWTH_MB['inspect_image']:.0f} MB, render {_PEAK_GROWTH_MB['render']:.0f} MB"
    )


# --- 8. what the fuzzers found (each was a crash instead of DAMAGED; fixed, kept as regression tests) -------


def _png(width: int, height: int, depth: int, colour: int, interlace: int, raw: bytes, *chunks: bytes) -> bytes:
    ihdr = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace))
    return (
        b"\x89PNG\r\n\x1a\n"
        + ihdr
        + b"".join(chunks)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


ESCAPING_INPUTS = {
    # Pillow's `getexif()` decodes a whole PNG (it looks for an eXIf chunk after the image data) and
    # swallowed the decode error; the half-loaded image then failed with a TypeError. `_open` now decodes
    # a PNG first, with errors mapped to DAMAGED.
    "interlaced-png-cut-short": _png(800, 800, 8, 2, 1, b""),
    # Colour type 3 with no PLTE chunk: Pillow opened it as mode P without a palette and an assert failed
    # later; the PNG chunk walk now requires a PLTE before the image data.
    "palette-png-without-plte": _png(800, 800, 8, 3, 0, (b"\x00" + bytes(800)) * 800),
}


@pytest.mark.parametrize(
    "name",
    ["interlaced-png-cut-short", "palette-png-without-plte"],
)
def test_known_escape_damaged_pngs_are_rejected_not_crashed(name: str) -> None:
    _, rejection = check_contract(ESCAPING_INPUTS[name])
    assert rejection is not None
    assert rejection.reason == RejectionReason.DAMAGED


def _jpeg_cut_with_end_marker() -> bytes:
    data = seed("grey.jpg")  # baseline, no restart markers
    start = data.rindex(b"\xff\xda")
    cut = start + (len(data) - start) // 2
    while data[cut - 1] == 0xFF:
        cut += 1
    return data[:cut] + b"\xff\xd9"


def test_png_rows_missing_from_a_cleanly_ended_zlib_stream_are_damaged() -> None:
    # A valid zlib stream that holds 400 of the 800 rows, every CRC right: Pillow would decode the rest as black.
    _, rejection = check_contract(_png(800, 800, 8, 2, 0, (b"\x00" + bytes([200, 30, 30]) * 800) * 400))
    assert rejection is not None
    assert rejection.reason == RejectionReason.DAMAGED
    assert "truncated" in rejection.detail


ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))


@pytest.mark.parametrize("rows_kept", [1.0, 0.9])
def test_interlaced_png_data_is_counted_pass_by_pass(rows_kept: float) -> None:
    width, height, pixel = 803, 801, bytes([20, 120, 220])
    passes = [
        (-(-(height - y0) // dy), b"\x00" + pixel * -(-(width - x0) // dx)) for x0, y0, dx, dy in ADAM7
    ]  # (rows, one filtered row) per Adam7 pass
    raw = b"".join(row * rows for rows, row in passes)
    _, rejection = check_contract(_png(width, height, 8, 2, 1, raw[: int(len(raw) * rows_kept)]))
    if rows_kept == 1.0:
        assert rejection is None
    else:
        assert rejection is not None
        assert rejection.reason == RejectionReason.DAMAGED


def test_jpeg_scan_data_cut_short_then_ended_properly_is_damaged() -> None:
    # No restart markers to count: libjpeg would fill the rest with grey and only warn.
    _, rejection = check_contract(_jpeg_cut_with_end_marker())
    assert rejection is not None, "accepted: half of the published image is filler"
    assert rejection.reason == RejectionReason.DAMAGED
    assert rejection.detail.startswith(ENTROPY_DAMAGE)
    assert "premature end of data segment" in rejection.detail
