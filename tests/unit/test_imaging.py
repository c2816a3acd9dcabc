"""The image checks and renditions, on the shared real photos and on images generated here."""

from __future__ import annotations

import io
import itertools
import struct
import subprocess
import sys
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from happypath_testkit.heic import display_p3_profile
from happypath_testkit.memory import reset_peak_rss, rss_mb
from PIL import Image, ImageCms, ImageFile

from happypath import limits
from happypath.statuses import RejectionReason
from happypath_workflow.imaging import (
    ENTROPY_DAMAGE,
    HEIF_MAX_BOXES,
    JPEG_MAX_MARKERS,
    JPEG_MAX_SCANS,
    PNG_MAX_CHUNKS,
    ImageInfo,
    ImageRejected,
    Inspection,
    Rendition,
    check_image_data,
    inspect_image,
    render,
)

PHOTOS = Path(__file__).parents[2].parent / "shared" / "photos"
ORIENTATION_SET = [f"orientation/Landscape_{n}.jpg" for n in range(9)]
GOOD_PHOTOS = [
    "42_IndexError.jpg",
    "HMD_Nokia_8.3_5G.jpg",
    "Reconyx_HC500_Hyperfire.jpg",
    "canon_hdr_NO.jpg",
    "iphone_hdr_NO.jpg",
    "jolla.jpg",
    "iphone_13_pro_max.HEIC",
    *ORIENTATION_SET,
]
# Upright sizes, read independently of the module under test (HEIC: from its `ispe` box and EXIF).
UPRIGHT = {
    "42_IndexError.jpg": (4032, 3024),
    "HMD_Nokia_8.3_5G.jpg": (4608, 1976),
    "Reconyx_HC500_Hyperfire.jpg": (2048, 1536),
    "canon_hdr_NO.jpg": (1536, 2048),
    "iphone_hdr_NO.jpg": (3264, 2448),
    "jolla.jpg": (3264, 2448),
    "iphone_13_pro_max.HEIC": (3024, 4032),
    **dict.fromkeys(ORIENTATION_SET, (1800, 1200)),
}


@cache
def photo(name: str) -> bytes:
    return (PHOTOS / name).read_bytes()


@cache
def rendered(name: str) -> dict[str, Rendition]:
    return render(photo(name), workers=1)


@cache
def inspected(name: str) -> Inspection:
    return inspect_image(photo(name))


def decode(data: bytes, expected_format: str) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    assert image.format == expected_format
    image.load()
    return image


def assert_rejected(data: bytes, reason: RejectionReason) -> ImageRejected:
    with pytest.raises(ImageRejected) as inspected_error:
        inspect_image(data)
    with pytest.raises(ImageRejected) as rendered_error:
        render(data, workers=1)
    assert inspected_error.value.reason == reason, inspected_error.value.detail
    assert rendered_error.value.reason == reason, rendered_error.value.detail
    assert inspected_error.value.detail
    return inspected_error.value


def jpeg_segments(data: bytes) -> list[int]:
    """The marker codes of a JPEG's header segments, up to the first scan."""
    markers, pos = [], 2
    while data[pos + 1] != 0xDA:
        markers.append(data[pos + 1])
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return markers


def webp_chunks(data: bytes) -> list[bytes]:
    assert data[:4] == b"RIFF"
    assert data[8:12] == b"WEBP"
    chunks, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append(data[pos : pos + 4])
        pos += 8 + size + (size & 1)
    return chunks


def assert_no_metadata(data: bytes, expected_format: str) -> None:
    image = decode(data, expected_format)
    assert not image.getexif()
    assert not {"exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop"} & set(image.info)
    if expected_format == "JPEG":
        # Only the JFIF header, tables and frame header: no APP1 (EXIF, XMP), APP2 (ICC), APP13, COM.
        assert set(jpeg_segments(data)) <= {0xE0, 0xDB, 0xC4, 0xC0, 0xC2, 0xDD}
    else:
        assert set(webp_chunks(data)) <= {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}


def small_gray(data: bytes, expected_format: str) -> np.ndarray:
    image = decode(data, expected_format).convert("L").resize((48, 32), Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float64)


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


@cache
def open_heif_with_pillow() -> None:
    """pillow-heif's Pillow plugin: the tests' own HEIF writer and whole-image reader (the resizer uses neither)."""
    import pillow_heif

    pillow_heif.register_heif_opener()


def photo_like(size: tuple[int, int] = (1000, 800)) -> Image.Image:
    """A real photo's content at a test-friendly size."""
    with Image.open(io.BytesIO(photo("Reconyx_HC500_Hyperfire.jpg"))) as source:
        source.draft("RGB", (size[0], size[1]))
        return source.convert("RGB").resize(size)


def png_bytes(width: int, height: int, bit_depth: int, colour_type: int, raw: bytes, *extra: bytes) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = b"".join(extra)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")
    )


# --- the real photos -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", GOOD_PHOTOS)
def test_good_photos_render_at_exact_sizes_as_valid_jpeg_and_webp(name: str) -> None:
    width, height = UPRIGHT[name]
    renditions = rendered(name)

    assert set(renditions) == {"tile", "scaled"}
    expected = {"tile": (400, 400), "scaled": (600, round(600 * height / width))}
    for key, rendition in renditions.items():
        assert (rendition.width, rendition.height) == expected[key]
        jpeg = decode(rendition.jpeg, "JPEG")
        webp = decode(rendition.webp, "WEBP")
        assert jpeg.size == webp.size == expected[key]
        assert jpeg.info.get("progressive") == 1
        assert jpeg.mode == webp.mode == "RGB"


@pytest.mark.parametrize("name", GOOD_PHOTOS)
def test_no_metadata_reaches_any_output(name: str) -> None:
    for rendition in rendered(name).values():
        assert_no_metadata(rendition.jpeg, "JPEG")
        assert_no_metadata(rendition.webp, "WEBP")
    assert_no_metadata(inspected(name).moderation_jpeg, "JPEG")


@pytest.mark.parametrize("name", GOOD_PHOTOS)
def test_inspection_reports_the_upright_size_and_a_small_upright_moderation_copy(name: str) -> None:
    inspection = inspected(name)
    width, height = UPRIGHT[name]

    assert inspection.info.format == ("HEIF" if name.endswith(".HEIC") else "JPEG")
    assert (inspection.info.width, inspection.info.height) == (width, height)
    moderation = decode(inspection.moderation_jpeg, "JPEG")
    assert max(moderation.size) == limits.MODERATION_SIDE_PX
    assert moderation.size == (
        (1024, round(1024 * height / width)) if width >= height else (round(1024 * width / height), 1024)
    )
    assert len(inspection.moderation_jpeg) < 5 * 1024 * 1024  # Rekognition's limit for bytes


@pytest.mark.parametrize("size", [(12_000, 800), (800, 12_000), (11_000, 800), (12_000, 1_000)])
def test_a_panorama_is_moderated_on_a_copy_rekognition_accepts(size: tuple[int, int]) -> None:
    # Scaled to a 1024 px long side, a 15:1 panorama's short side would be 68 px: Rekognition refuses
    # images under 80 px a side, and the upload ended FAILED. Its copy keeps the short side at 80 instead.
    inspection = inspect_image(encoded(photo_like(size), "JPEG", quality=70))
    moderation = decode(inspection.moderation_jpeg, "JPEG")
    short, long = sorted(moderation.size)
    assert short >= limits.REKOGNITION_MIN_SIDE_PX
    assert long == max(limits.MODERATION_SIDE_PX, round(limits.REKOGNITION_MIN_SIDE_PX * max(size) / min(size)))
    assert (moderation.width > moderation.height) == (size[0] > size[1])
    renditions = render(encoded(photo_like(size), "JPEG", quality=70))
    assert (renditions["tile"].width, renditions["tile"].height) == (400, 400)
    assert renditions["scaled"].width == limits.SCALED_WIDTH_PX


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_gps_exif_xmp_comments_and_profiles_are_stripped(fmt: str) -> None:
    with Image.open(PHOTOS / "DSCN0010.jpg") as small:
        exif = small.getexif()
        assert exif.get_ifd(0x8825)  # GPS
        exif[0x0112] = 1
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    params: dict[str, object] = {"exif": exif.tobytes(), "xmp": xmp, "icc_profile": srgb}
    if fmt == "JPEG":
        params["comment"] = b"shot at home, 12 Main St"
    data = encoded(photo_like(), fmt, **params)
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825)

    for rendition in render(data, workers=1).values():
        assert_no_metadata(rendition.jpeg, "JPEG")
        assert_no_metadata(rendition.webp, "WEBP")
        assert b"Main St" not in rendition.jpeg
    assert_no_metadata(inspect_image(data).moderation_jpeg, "JPEG")


def test_orientation_tags_are_reported_as_found() -> None:
    assert [inspected(name).info.orientation for name in ORIENTATION_SET] == [1, 1, 2, 3, 4, 5, 6, 7, 8]
    assert inspected("canon_hdr_NO.jpg").info.orientation == 6
    assert inspected("iphone_13_pro_max.HEIC").info.orientation == 6
    assert inspected("jolla.jpg").info == ImageInfo("JPEG", 3264, 2448, 1)


@cache
def as_png(name: str) -> bytes:
    """A photo saved again as PNG with its EXIF (orientation included): decoded a band of rows at a time."""
    with Image.open(PHOTOS / name) as image:
        return encoded(image, "PNG", exif=image.getexif())


@pytest.mark.parametrize("saved_as", ["JPEG", "PNG"])
@pytest.mark.parametrize("output", ["tile", "scaled", "moderation"])
def test_every_orientation_comes_out_the_same_way_up(output: str, saved_as: str) -> None:
    def thumb(name: str) -> np.ndarray:
        png = as_png(name) if saved_as == "PNG" else None
        if output == "moderation":
            inspection = inspected(name) if png is None else inspect_image(png)
            return small_gray(inspection.moderation_jpeg, "JPEG")
        renditions = rendered(name) if png is None else render(png, workers=1)
        return small_gray(renditions[output].jpeg, "JPEG")

    reference = thumb("orientation/Landscape_1.jpg")
    wrong_ways = [np.rot90(reference, 2), reference[::-1], reference[:, ::-1]]
    wrong_distance = min(np.abs(reference - wrong).mean() for wrong in wrong_ways)
    assert wrong_distance > 15  # the check can tell a wrong orientation from the right one
    for name in ORIENTATION_SET:
        assert np.abs(thumb(name) - reference).mean() < wrong_distance / 5, name


@pytest.mark.parametrize("transpose", [None, *Image.Transpose])
def test_rows_pasted_upright_a_chunk_at_a_time_make_the_whole_image_turned(transpose: Image.Transpose | None) -> None:
    from happypath_workflow import imaging

    stored = photo_like((61, 47))
    upright = stored if transpose is None else stored.transpose(transpose)
    output = Image.new("RGB", upright.size)
    top = 0
    for rows in itertools.cycle([1, 5, 13, 2]):
        rows = min(rows, stored.height - top)
        imaging._paste_upright(output, stored.crop((0, top, stored.width, top + rows)), top, transpose)
        top += rows
        if top == stored.height:
            break
    assert output.tobytes() == upright.tobytes()


def test_rotated_camera_photo_comes_out_portrait() -> None:
    renditions = rendered("canon_hdr_NO.jpg")
    assert (renditions["scaled"].width, renditions["scaled"].height) == (600, 800)
    assert decode(renditions["scaled"].webp, "WEBP").size == (600, 800)
    assert decode(inspected("canon_hdr_NO.jpg").moderation_jpeg, "JPEG").size == (768, 1024)


def test_the_small_gps_tagged_photo_is_too_small() -> None:
    assert Image.open(PHOTOS / "DSCN0010.jpg").getexif().get_ifd(0x8825)  # it does carry GPS
    assert_rejected(photo("DSCN0010.jpg"), RejectionReason.TOO_SMALL)


def test_the_damaged_jpeg_is_rejected_as_damaged_before_any_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the damage must be found before the image is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    error = assert_rejected(photo("corrupted.jpg"), RejectionReason.DAMAGED)
    assert "corrupt" in error.detail


@pytest.mark.parametrize("name", ["42_IndexError.jpg", "jolla.jpg", "iphone_13_pro_max.HEIC"])
@pytest.mark.parametrize("keep", [0.5, 0.98])
def test_truncated_uploads_are_damaged(name: str, keep: float) -> None:
    data = photo(name)
    assert_rejected(data[: int(len(data) * keep)], RejectionReason.DAMAGED)


def test_a_heif_with_more_boxes_than_any_photo_is_damaged() -> None:
    data = (PHOTOS / "iphone_13_pro_max.HEIC").read_bytes()
    boxes, pos = 0, 0
    while pos < len(data):  # its top-level boxes: ftyp, meta, mdat (the last with a 64-bit size)
        size = int.from_bytes(data[pos : pos + 4], "big")
        boxes, pos = boxes + 1, pos + (int.from_bytes(data[pos + 8 : pos + 16], "big") if size == 1 else size)
    free = b"\x00\x00\x00\x08free"
    at_the_limit = data + free * (HEIF_MAX_BOXES - boxes)
    assert inspect_image(at_the_limit).info.format == "HEIF"
    error = assert_rejected(at_the_limit + free, RejectionReason.DAMAGED)
    assert f"more than {HEIF_MAX_BOXES} top-level boxes" in error.detail


def test_heic_colours_are_converted_from_display_p3() -> None:
    open_heif_with_pillow()
    with Image.open(PHOTOS / "iphone_13_pro_max.HEIC") as original:
        assert original.info["icc_profile"]
        naive = np.asarray(original.convert("RGB").resize((400, 533)), dtype=np.float64)
    converted = np.asarray(decode(rendered("iphone_13_pro_max.HEIC")["scaled"].jpeg, "JPEG"), dtype=np.float64)
    # Display P3 -> sRGB makes colours more saturated: the result is not the untagged pixels.
    saturation = lambda pixels: (pixels.max(axis=2) - pixels.min(axis=2)).mean()  # noqa: E731
    assert saturation(converted) > saturation(naive) * 1.03


def heif_bytes(image: Image.Image, *, orientation: int = 1, tile_size: int | None = None, **params: object) -> bytes:
    """A HEIF as pillow-heif writes it: the EXIF orientation becomes the container's rotation and mirroring
    (`irot`, `imir`) over the pixels as given; `tile_size` makes a grid of tiles, as iPhones do."""
    open_heif_with_pillow()
    exif = Image.Exif()
    if orientation != 1:
        exif[0x0112] = orientation
    grid = {"tile_size": tile_size} if tile_size else {}
    return encoded(image, "HEIF", quality=60, exif=exif.tobytes(), **grid, **params)


def stitched(bands: Iterator[Any]) -> Image.Image:
    """The bands a decoder gives, one below the other, in RGB when they come as YCbCr planes."""
    from happypath_workflow import imaging

    parts = []
    for band in bands:  # copied as they come: the decoder reuses its band
        if isinstance(band, imaging._YCbCrBand):
            parts.append(Image.merge("RGB", (band.y, band.cb, band.cr)).convert("RGB", band.to_rgb))
        else:
            parts.append(band.copy())
    whole = Image.new(parts[0].mode, (parts[0].width, sum(part.height for part in parts)))
    top = 0
    for part in parts:
        whole.paste(part, (0, top))
        top += part.height
    return whole


def decoded_heif(data: bytes, reduction: int = 1) -> tuple[Any, Image.Image]:
    """The opened source and its image reduced tile by tile, whole (what the resizer never holds)."""
    from happypath_workflow import imaging
    from happypath_workflow.libheif import HeifImage

    source = imaging._open(data)
    assert isinstance(source.image, HeifImage)
    with source.image as heif:
        return source, stitched(imaging._heif_bands(heif, reduction, 1))


def libheif_whole(data: bytes) -> Image.Image:
    """The image as libheif decodes it in one piece, its transformations applied (pillow-heif's loader)."""
    open_heif_with_pillow()
    with Image.open(io.BytesIO(data)) as whole:
        whole.load()
        return whole.copy()


# pillow-heif writes an image with alpha in one piece, never as a grid. A grid is reduced by a factor that
# divides its tiles (`_heif_reduction`); an image in one piece by any.
@pytest.mark.parametrize(
    ("mode", "tile_size", "reduction"),
    [("RGB", 256, 2), ("RGB", 256, 4), ("RGB", None, 2), ("RGB", None, 3), ("RGBA", None, 3)],
)
def test_heif_reduced_tile_by_tile_equals_the_whole_image_reduced(
    mode: str, tile_size: int | None, reduction: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tiles converted to RGB by libheif (see the next test for those taken as YCbCr planes)."""
    from happypath_workflow import imaging, libheif

    monkeypatch.setattr(libheif.HeifImage, "_coded_as_8_bit_ycbcr_420", lambda self: False)

    image = photo_like((2291, 1531))  # neither the tile, the strip height nor the factor divides a side
    if mode == "RGBA":
        image.putalpha(Image.linear_gradient("L").resize(image.size))
    data = heif_bytes(image, tile_size=tile_size)
    with libheif.HeifImage(data) as heif:
        if tile_size:  # the grid is cut to the image size: the last row and column of tiles are partly outside
            assert (heif.tiling.columns, heif.tiling.rows, heif.size) == (9, 6, image.size)
            assert heif.transformations == []
        else:  # HEVC codes even sizes: the odd ones are a crop of the coded image (`clap`)
            assert (heif.tiling.columns, heif.tiling.rows, heif.size) == (1, 1, (2292, 1532))
            assert heif.transformations == [libheif.Crop(0, 0, 1, 1)]
        assert heif.mode == mode
        assert 1531 % imaging.HEIF_STRIP_ROWS
        assert 1531 % reduction
        assert 2291 % reduction
        decoded = {threads: stitched(imaging._heif_bands(heif, reduction, threads)) for threads in (1, 2, 3)}
    expected = libheif_whole(data).reduce(reduction)
    if not tile_size:  # only the blocks the crop keeps whole are comparable
        blocks = (0, 0, 2291 // reduction, 1531 // reduction)
        expected = expected.crop(blocks)
        decoded = {threads: result.crop(blocks) for threads, result in decoded.items()}
    for result in decoded.values():
        assert result.mode == expected.mode == mode
        assert result.size == expected.size
        assert result.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("source", "reduction"),
    [("iphone_13_pro_max.HEIC", 2), ("grid", 2), ("grid", 4), ("one piece", 2), ("one piece", 6)],
)
@pytest.mark.parametrize("threads", [1, 2])
def test_a_ycbcr_heif_is_reduced_from_its_planes_to_what_libheif_converts(
    source: str, reduction: int, threads: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An 8-bit 4:2:0 HEIF is reduced from its Y, Cb and Cr planes, and RGB made with the stream's matrix: the
    same colours as libheif's own conversion (which upsamples the chroma first, so edges differ a little)."""
    from happypath_workflow import imaging, libheif

    if source == "iphone_13_pro_max.HEIC":
        data = photo(source)
    else:
        data = heif_bytes(photo_like((2291, 1531)), tile_size=256 if source == "grid" else None)
    with libheif.HeifImage(data) as heif:
        assert heif.ycbcr_420
        bands = list(itertools.islice(imaging._heif_bands(heif, reduction, threads), 1))
        assert isinstance(bands[0], imaging._YCbCrBand)
        planar = stitched(imaging._heif_bands(heif, reduction, threads))
    monkeypatch.setattr(libheif.HeifImage, "_coded_as_8_bit_ycbcr_420", lambda self: False)
    with libheif.HeifImage(data) as heif:
        converted = stitched(imaging._heif_bands(heif, reduction, threads))
    assert planar.size == converted.size
    difference = np.abs(np.asarray(planar, np.int16) - np.asarray(converted, np.int16))
    assert difference.mean() < 0.5
    assert np.percentile(difference, 99) <= 4


def test_ycbcr_is_made_rgb_with_the_matrix_and_range_the_stream_names() -> None:
    from happypath_workflow import imaging
    from happypath_workflow.libheif import Nclx

    def rgb(matrix: tuple[float, ...], y: int, cb: int, cr: int) -> tuple[int, ...]:
        pixel = Image.new("RGB", (1, 1), (y, cb, cr)).convert("RGB", matrix)
        return tuple(pixel.getpixel((0, 0)))  # type: ignore[arg-type]

    bt601_full = imaging._ycbcr_to_rgb(None)  # what libheif takes when the stream says nothing
    assert bt601_full == imaging._ycbcr_to_rgb(Nclx(6, True)) == imaging._ycbcr_to_rgb(Nclx(2, True))
    assert bt601_full is not None
    assert rgb(bt601_full, 128, 128, 128) == (128, 128, 128)
    assert rgb(bt601_full, 76, 85, 255) == (254, 0, 0)  # JPEG's red
    limited = imaging._ycbcr_to_rgb(Nclx(1, False))
    assert limited is not None
    assert rgb(limited, 16, 128, 128) == (0, 0, 0)
    assert rgb(limited, 235, 128, 128) == (255, 255, 255)
    assert np.abs(np.subtract(rgb(limited, 63, 102, 240), (255, 0, 0))).max() <= 1  # BT.709 red, video range
    assert imaging._ycbcr_to_rgb(Nclx(0, True)) is None  # GBR: libheif converts
    assert imaging._ycbcr_to_rgb(Nclx(8, True)) is None  # YCgCo


def test_a_heif_whose_matrix_is_not_handled_here_is_converted_by_libheif(monkeypatch: pytest.MonkeyPatch) -> None:
    from happypath_workflow import imaging, libheif

    data = heif_bytes(photo_like((1000, 800)), tile_size=128)
    expected = render(data, workers=1)
    monkeypatch.setattr(libheif.HeifTile, "nclx", lambda self: libheif.Nclx(8, True))
    with libheif.HeifImage(data) as heif:
        assert isinstance(next(imaging._heif_bands(heif, 2, 1)), Image.Image)
    renditions = render(data, workers=1)
    for name, rendition in renditions.items():
        pixels = (np.asarray(decode(jpeg, "JPEG"), np.int16) for jpeg in (rendition.jpeg, expected[name].jpeg))
        difference = np.abs(next(pixels) - next(pixels))
        assert difference.mean() < 1.5


def test_a_heif_grid_is_reduced_by_the_largest_factor_that_divides_its_tiles() -> None:
    from happypath_workflow import imaging
    from happypath_workflow.libheif import Tiling

    grid = Tiling(8, 6, 512, 512)
    assert [imaging._heif_reduction(grid, factor) for factor in range(1, 10)] == [1, 2, 2, 4, 4, 4, 4, 8, 8]
    assert imaging._heif_reduction(Tiling(8, 6, 512, 300), 8) == 4  # 300 rows: 8 would straddle two tiles
    assert imaging._heif_reduction(Tiling(8, 1, 512, 300), 5) == 4  # one row: its height does not count
    assert imaging._heif_reduction(Tiling(1, 1, 4032, 3024), 7) == 7  # one piece: nothing to straddle
    assert imaging._heif_reduction(Tiling(3, 3, 100, 100), 3) == 2


def test_a_heif_grid_is_never_reduced_across_its_tiles() -> None:
    from happypath_workflow import imaging, libheif

    data = heif_bytes(photo_like((1000, 800)), tile_size=256)
    with libheif.HeifImage(data) as heif, pytest.raises(ValueError, match="two 256x256 tiles"):
        next(imaging._heif_bands(heif, 3, 1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_heif_rotation_and_mirroring_are_applied_like_libheif_does(orientation: int) -> None:

    image = photo_like((1024, 896))  # sides divisible by the factor: reducing and turning commute
    data = heif_bytes(image, orientation=orientation, tile_size=128)
    source, base = decoded_heif(data)
    expected = libheif_whole(data)
    assert source.info.orientation == orientation
    assert (source.info.width, source.info.height) == expected.size
    assert source.region == (0, 0, 1024, 896)
    upright = base if source.transpose is None else base.transpose(source.transpose)
    assert upright.tobytes() == expected.tobytes()


def clap_box(width: int, height: int, crop: tuple[int, int, int, int]) -> bytes:
    """A `clap` (clean aperture) property keeping (left, top, right, bottom) of a width x height image."""
    left, top, right, bottom = crop
    kept_w, kept_h = right - left, bottom - top
    # Offsets of the kept centre from the image centre, as fractions (ISO/IEC 14496-12, 12.1.4).
    horizontal = (2 * left + kept_w - width, 2)
    vertical = (2 * top + kept_h - height, 2)
    fields = (kept_w, 1, kept_h, 1, horizontal[0] & 0xFFFFFFFF, horizontal[1], vertical[0] & 0xFFFFFFFF, vertical[1])
    return struct.pack(">I4s8I", 40, b"clap", *fields)


def with_clap(data: bytes, box: bytes) -> bytes:
    """Put `box` in place of the image's ICC colour property, keeping its size (the fields are followed by
    zeros, which readers skip) so that neither an offset in the file nor a property's index moves."""
    colr = data.index(b"colrprof") - 4
    size = int.from_bytes(data[colr : colr + 4], "big")
    assert size >= len(box)
    return data[:colr] + size.to_bytes(4, "big") + box[4:] + bytes(size - len(box)) + data[colr + size :]


@pytest.mark.parametrize("orientation", [1, 6, 7])
def test_a_heif_crop_is_applied_like_libheif_does(orientation: int) -> None:

    image = photo_like((1400, 1200))
    crop = (180, 90, 1400 - 60, 1200 - 250)  # the colour property came first: the crop applies before turning
    heif = heif_bytes(image, orientation=orientation, icc_profile=display_p3_profile())
    data = with_clap(heif, clap_box(1400, 1200, crop))
    source, base = decoded_heif(data)
    expected = libheif_whole(data)
    cropped = (crop[2] - crop[0], crop[3] - crop[1])
    assert expected.size == (cropped if orientation < 5 else cropped[::-1])  # libheif did crop, then turn
    assert source.info.orientation == orientation
    assert (source.info.width, source.info.height) == expected.size
    assert source.icc_profile is None  # the profile's property was replaced by the crop
    upright = base.crop(tuple(round(v) for v in source.region))
    upright = upright if source.transpose is None else upright.transpose(source.transpose)
    assert upright.tobytes() == expected.tobytes()
    for name, rendition in render(data, workers=1).items():
        assert rendition.width == 400 if name == "tile" else 600


def test_a_heif_cropped_to_under_the_minimum_side_is_too_small() -> None:
    image = photo_like((1400, 1200))
    crop = (100, 100, 1300, 850)  # 1200 x 750 shown
    data = with_clap(heif_bytes(image, icc_profile=display_p3_profile()), clap_box(1400, 1200, crop))
    assert "1200x750" in assert_rejected(data, RejectionReason.TOO_SMALL).detail


@pytest.mark.parametrize("orientation", [1, 8])
def test_renditions_of_a_cropped_heif_show_the_cropped_region(orientation: int) -> None:
    from happypath_workflow import imaging

    image = photo_like((3200, 2800))
    crop = (300, 90, 3200 - 60, 2800 - 350)  # 2840 x 2360: box-reduced by 2 before resampling
    heif = heif_bytes(image, orientation=orientation, icc_profile=display_p3_profile())
    data = with_clap(heif, clap_box(3200, 2800, crop))
    from happypath_workflow.libheif import HeifImage

    source = imaging._open(data)
    assert isinstance(source.image, HeifImage)
    source.image.close()
    assert source.region == (300, 90, 3140, 2450)
    assert imaging._heif_reduction(source.image.tiling, imaging._reduce_factor(imaging._rendition_plan(source))) == 2
    expected = libheif_whole(data)
    side = min(expected.size)
    square = ((expected.width - side) // 2, (expected.height - side) // 2)
    lanczos = Image.Resampling.LANCZOS
    references = {
        "scaled": expected.resize((600, round(600 * expected.height / expected.width)), lanczos),
        "tile": expected.crop((*square, square[0] + side, square[1] + side)).resize((400, 400), lanczos),
    }
    for name, rendered_image in imaging.rendition_images(data).items():
        assert rendered_image.size == references[name].size
        difference = np.abs(np.asarray(rendered_image, np.int16) - np.asarray(references[name], np.int16))
        assert difference.mean() < 2.5, name  # shifted by the crop (region origin ignored): ~40


@pytest.mark.parametrize("seed", range(40))
def test_heif_transformations_fold_into_one_crop_and_transpose(seed: int) -> None:
    from happypath_workflow import imaging
    from happypath_workflow.libheif import Crop, Mirror, Rotation, Transformation

    rng = np.random.default_rng(seed)
    stored = Image.fromarray(rng.integers(0, 255, (37, 53, 3), dtype=np.uint8))
    expected, steps = stored, []
    for _ in range(rng.integers(1, 6)):
        step: Transformation
        match rng.integers(3):
            case 0:
                step = Rotation(int(rng.choice([90, 180, 270])))
                turn = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
                expected = expected.transpose(turn[step.degrees_ccw])  # Pillow's ROTATE_* turn anticlockwise
            case 1:
                step = Mirror(left_right=bool(rng.integers(2)))
                flip = Image.Transpose.FLIP_LEFT_RIGHT if step.left_right else Image.Transpose.FLIP_TOP_BOTTOM
                expected = expected.transpose(flip)
            case _:
                width, height = expected.size
                left, right = (int(v) for v in rng.integers(0, width // 4, 2))
                top, bottom = (int(v) for v in rng.integers(0, height // 4, 2))
                step = Crop(left, top, right, bottom)
                expected = expected.crop((left, top, width - right, height - bottom))
        steps.append(step)
    transpose, region = imaging._heif_geometry(stored.size, steps)
    folded = stored.crop(region)
    folded = folded if transpose is None else folded.transpose(transpose)
    assert folded.tobytes() == expected.tobytes(), steps


def with_grid_size(data: bytes, width: int, height: int) -> bytes:
    """The grid's declared output size changed (its layout is the item data kept in `idat`: version, flags,
    rows - 1, columns - 1, then width and height as 16-bit fields)."""
    grid = data.index(b"idat") + 4
    assert data[grid + 1] & 1 == 0  # 16-bit sizes
    return data[: grid + 4] + struct.pack(">HH", width, height) + data[grid + 8 :]


@pytest.mark.parametrize(
    ("width", "height"),
    [(1025, 900), (1000, 1025), (896, 900), (1000, 896)],
    ids=["a-column-short", "a-row-short", "a-column-outside", "a-row-outside"],
)
def test_a_heif_grid_that_does_not_fit_its_image_is_damaged(width: int, height: int) -> None:
    data = heif_bytes(photo_like((1000, 900)), tile_size=128)  # 8 x 8 tiles: 1024 x 1024 px
    assert inspect_image(with_grid_size(data, 1000, 900)).info.format == "HEIF"  # the helper changes nothing else
    # A grid that does not cover the image would leave black bands (libheif's whole decode refuses it); rows or
    # columns wholly outside the image would be decoded for nothing.
    assert "does not fit" in assert_rejected(with_grid_size(data, width, height), RejectionReason.DAMAGED).detail


@pytest.mark.parametrize(
    ("limit", "value", "detail"),
    [
        ("HEIF_MAX_TILES", 56, "56 tiles"),  # 8 x 7
        ("HEIF_MAX_TILE_PIXELS", 128 * 128, "16384 pixels each"),
        ("HEIF_MAX_DECODED_PIXELS", 56 * 128 * 128, "917504 in all"),
    ],
)
def test_heif_tiles_over_the_decoding_limits_are_too_large(
    limit: str, value: int, detail: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from happypath_workflow import imaging

    data = heif_bytes(photo_like((1000, 800)), tile_size=128)
    monkeypatch.setattr(imaging, limit, value - 1)
    assert detail in assert_rejected(data, RejectionReason.TOO_LARGE).detail
    monkeypatch.setattr(imaging, limit, value)
    assert inspect_image(data).info.format == "HEIF"


def test_the_decoding_limits_let_a_photo_at_the_size_limits_through_in_usual_tiles() -> None:
    from happypath_workflow import imaging
    from happypath_workflow.libheif import Tiling

    for width, height, tile in [(12_000, 5_000, 512), (7_745, 7_745, 256), (12_000, 5_000, 12_000)]:
        tiling = Tiling(-(-width // tile), -(-height // tile), tile, min(tile, height))
        imaging._check_heif_tiling((width, height), tiling)  # does not raise


@pytest.mark.parametrize("coded", [(126, 128), (128, 120)], ids=["narrower", "shorter"])
def test_a_heif_tile_smaller_than_its_cell_is_damaged(coded: tuple[int, int], monkeypatch: pytest.MonkeyPatch) -> None:
    from happypath_workflow import libheif

    data = heif_bytes(photo_like((1000, 800)), tile_size=128)
    decode_tile = libheif.HeifImage.tile

    def smaller(self: libheif.HeifImage, column: int, row: int, planar: bool = False) -> libheif.HeifTile:
        tile = decode_tile(self, column, row, planar=planar)
        if (column, row) == (3, 4):
            tile.size = coded  # as if coded smaller than the grid says (libheif does not check)
        return tile

    monkeypatch.setattr(libheif.HeifImage, "tile", smaller)
    detail = assert_rejected(data, RejectionReason.DAMAGED).detail
    assert f"{coded[0]}x{coded[1]} px in a 128x128 px cell" in detail


@pytest.mark.parametrize("claimed", [(13_000, 900), (10_000, 7_000), (60_000, 60_000)])
def test_a_heif_whose_header_claims_a_huge_image_is_too_large(claimed: tuple[int, int]) -> None:
    data = bytearray(heif_bytes(photo_like((1000, 800))))
    ispe = data.index(b"ispe")  # the image's size property: version and flags, then width and height
    assert struct.unpack(">II", data[ispe + 8 : ispe + 16]) == (1000, 800)
    data[ispe + 8 : ispe + 16] = struct.pack(">II", *claimed)
    # Refused from the header: by our limits, or by libheif's own (60,000 px a side) as it reads it.
    assert_rejected(bytes(data), RejectionReason.TOO_LARGE)


@cache
def heif_grid(decoded_as: str) -> tuple[bytes, int, int]:
    """A grid HEIF whose tiles the resizer decodes to RGB (not reduced) or to their planes (reduced by 2), with
    its number of columns and tiles."""
    if decoded_as == "rgb":
        return heif_bytes(photo_like((1000, 800)), tile_size=128), 8, 8 * 7
    return heif_bytes(photo_like((2400, 1800)), tile_size=256), 10, 10 * 8


@pytest.mark.parametrize(
    ("decoded_as", "failing", "failing_cell"),
    [
        ("rgb", "tile", (5, 2)),
        ("planes", "tile", (5, 2)),
        ("planes", "tile", (0, 0)),
        ("rgb", "context", None),
        ("planes", "context", None),
    ],
)
@pytest.mark.parametrize("workers", [1, 2, 3])
def test_when_libheif_refuses_a_tile_or_a_context_the_photo_is_damaged_and_nothing_is_left_open(
    workers: int,
    failing: str,
    decoded_as: str,
    failing_cell: tuple[int, int] | None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from happypath_workflow import libheif

    # libheif itself decodes damaged HEVC data without an error (grey or noise): its refusals are what this
    # is about, so one is injected: a tile in the middle of the grid (or the top left one, which the planes'
    # path decodes first, to learn its colour matrix), or the last decoding context of the second row of tiles
    # (after the file's own and the first row's).
    data, columns, tiles = heif_grid(decoded_as)
    still_open: set[object] = set()
    decode_tile, close_tile = libheif.HeifImage.tile, libheif.HeifTile.close
    open_image, close_image = libheif.HeifImage.__init__, libheif.HeifImage.close
    contexts = 0
    tiles_asked = 0

    def tile(self: libheif.HeifImage, column: int, row: int, planar: bool = False) -> libheif.HeifTile:
        nonlocal tiles_asked
        tiles_asked += 1
        if failing == "tile" and (column, row) == failing_cell:
            raise libheif.HeifError("Decoder plugin generated an error: Unsupported feature")
        decoded = decode_tile(self, column, row, planar=planar)
        assert planar == (decoded_as == "planes")
        still_open.add(decoded)
        return decoded

    def init(self: libheif.HeifImage, data: bytes) -> None:
        nonlocal contexts
        contexts += 1
        if failing == "context" and contexts == 1 + 2 * workers:
            raise libheif.HeifError("Memory allocation error: Unsupported feature")
        open_image(self, data)
        still_open.add(self)

    def discard(close: Callable[[Any], None]) -> Callable[[Any], None]:
        def closing(self: Any) -> None:
            still_open.discard(self)
            close(self)

        return closing

    monkeypatch.setattr(libheif.HeifImage, "tile", tile)
    monkeypatch.setattr(libheif.HeifImage, "__init__", init)
    monkeypatch.setattr(libheif.HeifTile, "close", discard(close_tile))
    monkeypatch.setattr(libheif.HeifImage, "close", discard(close_image))
    with pytest.raises(ImageRejected) as rejected:
        render(data, workers=workers)
    assert rejected.value.reason == RejectionReason.DAMAGED
    assert "Unsupported feature" in rejected.value.detail
    if failing == "context":
        assert contexts == 1 + 2 * workers
    if failing_cell is not None:  # the other threads stop at their next tile, not after all of them
        failing_index = failing_cell[1] * columns + failing_cell[0] + 1
        assert tiles_asked == failing_index if workers == 1 else failing_index <= tiles_asked < tiles
    assert not still_open


def open_libheif_contexts(monkeypatch: pytest.MonkeyPatch) -> set[object]:
    """The libheif contexts open from now on, kept up to date."""
    from happypath_workflow import libheif

    open_contexts: set[object] = set()
    open_image, close_image = libheif.HeifImage.__init__, libheif.HeifImage.close

    def init(self: libheif.HeifImage, data: bytes) -> None:
        open_image(self, data)
        open_contexts.add(self)

    def close(self: libheif.HeifImage) -> None:
        open_contexts.discard(self)
        close_image(self)

    monkeypatch.setattr(libheif.HeifImage, "__init__", init)
    monkeypatch.setattr(libheif.HeifImage, "close", close)
    return open_contexts


@pytest.mark.parametrize("decoded_as", ["rgb", "planes"])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_each_row_of_heif_tiles_is_decoded_in_contexts_of_its_own_closed_before_its_band_is_given(
    threads: int, decoded_as: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A libheif context keeps the coded data of every tile it decoded until it is freed (2.2 MB by the last row
    of a 12 MP HEIC): no context may outlive its row."""
    from happypath_workflow import imaging, libheif

    data, columns, tiles = heif_grid(decoded_as)
    rows_decoded: dict[object, set[int]] = {}
    decode_tile = libheif.HeifImage.tile

    def tile(self: libheif.HeifImage, column: int, row: int, planar: bool = False) -> libheif.HeifTile:
        rows_decoded.setdefault(self, set()).add(row)
        return decode_tile(self, column, row, planar=planar)

    monkeypatch.setattr(libheif.HeifImage, "tile", tile)
    open_contexts = open_libheif_contexts(monkeypatch)
    reduction = 2 if decoded_as == "planes" else 1
    with libheif.HeifImage(data) as heif:
        bands = 0
        for _ in imaging._heif_bands(heif, reduction, threads):
            assert open_contexts == {heif}
            bands += 1
    assert bands == tiles // columns
    assert rows_decoded.pop(heif, set()) == ({0} if decoded_as == "planes" else set())  # its colour matrix
    assert all(len(rows) == 1 for rows in rows_decoded.values())
    assert len(rows_decoded) == bands * min(threads, columns)


def test_a_heif_render_makes_its_outputs_before_it_decodes_a_tile(monkeypatch: pytest.MonkeyPatch) -> None:
    """Made first, the outputs are not placed among the decoders' passing buffers (bench/README.md)."""
    from happypath_workflow import libheif

    data, _, _ = heif_grid("planes")
    events: list[object] = []
    new, decode_tile = Image.new, libheif.HeifImage.tile

    def made(mode: str, size: tuple[int, int], *args: Any, **kwargs: Any) -> Image.Image:
        events.append(tuple(size))
        return new(mode, size, *args, **kwargs)

    def tile(self: libheif.HeifImage, column: int, row: int, planar: bool = False) -> libheif.HeifTile:
        events.append("tile")
        return decode_tile(self, column, row, planar=planar)

    monkeypatch.setattr(Image, "new", made)
    monkeypatch.setattr(libheif.HeifImage, "tile", tile)
    renditions = render(data, workers=2)
    outputs = [(rendition.width, rendition.height) for rendition in renditions.values()]
    assert sorted(outputs) == [(400, 400), (600, 450)]
    assert all(events.index(size) < events.index("tile") for size in outputs)


@pytest.mark.parametrize("plane", ["Y", "Cr"])
def test_a_heif_tile_whose_plane_is_smaller_than_its_cell_is_damaged(
    plane: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from happypath_workflow import libheif

    data, _, _ = heif_grid("planes")
    read_plane = libheif.HeifTile.plane

    def short(self: libheif.HeifTile, name: str) -> Image.Image:
        pixels = read_plane(self, name)
        return pixels.crop((0, 0, pixels.width, pixels.height - 1)) if name == plane else pixels

    monkeypatch.setattr(libheif.HeifTile, "plane", short)
    with pytest.raises(ImageRejected) as rejected:
        render(data, workers=1)  # (the moderation copy, 1024 px, is not reduced: its tiles are taken as RGB)
    assert rejected.value.reason == RejectionReason.DAMAGED
    assert f"a {plane} plane of" in rejected.value.detail


@pytest.mark.parametrize(("matrix", "full_range"), [(1, False), (6, False), (5, True), (9, True)])
def test_a_heif_declaring_other_colours_than_its_planes_is_converted_by_libheif(matrix: int, full_range: bool) -> None:
    """libheif would convert the planes to BT.601 full range at full size first: it converts to RGB instead."""
    from happypath_workflow import imaging, libheif

    data = bytearray(heif_grid("planes")[0])
    nclx = data.index(b"colrnclx") + 8  # colour primaries, transfer, matrix (16 bits each), then the range bit
    data[nclx + 4 : nclx + 6] = matrix.to_bytes(2, "big")
    data[nclx + 6] = 0x80 if full_range else 0
    with libheif.HeifImage(bytes(data)) as heif:
        assert not heif.ycbcr_420
        reduced = stitched(imaging._heif_bands(heif, 2, 2))
    assert reduced.tobytes() == libheif_whole(bytes(data)).reduce(2).tobytes()
    with libheif.HeifImage(heif_grid("planes")[0]) as heif:
        assert heif.ycbcr_420  # as written: BT.601, full range


def test_when_resampling_fails_between_bands_every_libheif_context_is_closed_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The bands' generator is closed by the resizer, not left to the garbage collector: the error raised while
    it waits refers to it (through its traceback) for as long as the error is kept."""
    from happypath_workflow import banded

    data, _, _ = heif_grid("planes")
    open_contexts = open_libheif_contexts(monkeypatch)
    feed = banded.BandedResize.feed
    fed = 0

    def failing_feed(self: banded.BandedResize, band: Image.Image) -> list[tuple[int, Image.Image]]:
        nonlocal fed
        fed += 1
        if fed == 10:  # the fourth band (six resizes a band), by the caller's thread
            raise MemoryError
        return feed(self, band)

    monkeypatch.setattr(banded.BandedResize, "feed", failing_feed)
    with pytest.raises(ImageRejected) as rejected:
        render(data, workers=2)
    assert rejected.value.reason == RejectionReason.TOO_LARGE
    assert not open_contexts  # while the error is still held


def test_a_missing_libheif_fails_the_step_instead_of_rejecting_the_upload(monkeypatch: pytest.MonkeyPatch) -> None:
    from happypath_workflow import libheif

    def not_found() -> None:
        raise ImportError("libheif was not found (it comes with the pillow-heif package)")

    monkeypatch.setattr(libheif, "_load", not_found)
    libheif._library.cache_clear()
    try:  # a deployment fault: the step fails (and is retried, then reported), the photo is not "damaged"
        with pytest.raises(ImportError, match="libheif was not found"):
            render(photo("iphone_13_pro_max.HEIC"), workers=1)
    finally:
        libheif._library.cache_clear()


def test_a_large_jpeg_is_decoded_once_at_a_reduced_scale() -> None:
    # 3264x2448 to a 600 px wide image and a tile from 2448 px: 1/4 leaves the resampler 1.36x headroom
    # (1/8 would leave 0.68x, under its 2x).
    from PIL.JpegImagePlugin import JpegImageFile

    from happypath_workflow import imaging

    source = imaging._open(photo("jolla.jpg"))
    assert isinstance(source.image, JpegImageFile)
    base, to_base = imaging._decode_jpeg(source.image, imaging._rendition_plan(source))
    assert to_base == 1 / 4
    assert base.size == (816, 612)


@pytest.mark.parametrize("source", ["canon_hdr_NO.jpg", "iphone_13_pro_max.HEIC", "png"])
def test_renditions_do_not_depend_on_the_number_of_workers(source: str) -> None:
    """Two threads share the work differently for each format (encodes; a HEIF's tiles; the banded resizes of
    HEIF and PNG): the outputs are the same bytes."""
    data = encoded(photo_like((2400, 1800)), "PNG", compress_level=1) if source == "png" else photo(source)
    assert render(data, workers=2) == render(data, workers=1) == render(data, workers=3)


# --- PNG, decoded a strip at a time ----------------------------------------------------------------------

PNG_FILTERS = (0, 1, 2, 3, 4)  # None, Sub, Up, Average, Paeth
PNG_COLOUR_TYPES = {"L": 0, "RGB": 2, "P": 3, "LA": 4, "RGBA": 6}
PNG_EXIF = b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00\x00\x00\x00\x00"
"""EXIF (big-endian TIFF) with one entry: orientation 6."""


def png_filtered(image: Image.Image) -> bytes:
    """The image's rows as PNG scanlines, row y filtered with `PNG_FILTERS[y % 5]` (PNG spec, section 9):
    the tests' own filtering, so that every filter type starts some strip."""
    samples = np.asarray(image, dtype=np.int16).reshape(image.height, -1)
    step = len(image.getbands())
    rows, above = [], np.zeros_like(samples[0])
    for y, row in enumerate(samples):
        left = np.concatenate([np.zeros(step, np.int16), row[:-step]])
        upper_left = np.concatenate([np.zeros(step, np.int16), above[:-step]])
        estimate = left + above - upper_left
        to_left, to_above, to_upper_left = (np.abs(estimate - x) for x in (left, above, upper_left))
        paeth = np.where(
            (to_left <= to_above) & (to_left <= to_upper_left),
            left,
            np.where(to_above <= to_upper_left, above, upper_left),
        )
        kind = PNG_FILTERS[y % len(PNG_FILTERS)]
        predicted = [np.zeros_like(row), left, above, (left + above) // 2, paeth][kind]
        rows.append(bytes([kind]) + ((row - predicted) % 256).astype(np.uint8).tobytes())
        above = row
    return b"".join(rows)


def png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def filtered_png(mode: str, transparency: bool, size: tuple[int, int]) -> bytes:
    image = photo_like(size)
    chunks = b""
    if mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
        palette = image.getpalette()
        assert palette is not None
        chunks += png_chunk(b"PLTE", bytes(palette[: 3 * 64]))
        if transparency:
            chunks += png_chunk(b"tRNS", bytes(range(0, 256, 4)))  # each palette entry its own alpha
    else:
        image = image.convert(mode)
        if mode in ("RGBA", "LA"):
            image.putalpha(Image.linear_gradient("L").rotate(90).resize(image.size))
        if transparency:  # the colour at the centre is transparent
            colour = image.getpixel((size[0] // 2, size[1] // 2))
            chunks += png_chunk(b"tRNS", struct.pack(">3H", *colour) if mode == "RGB" else struct.pack(">H", colour))
    data = png_bytes(*size, 8, PNG_COLOUR_TYPES[mode], png_filtered(image), chunks)
    with Image.open(io.BytesIO(data)) as whole:  # the tests' filtering is right: Pillow decodes the pixels
        assert whole.tobytes() == image.tobytes()
    return data


@pytest.mark.parametrize(
    ("mode", "transparency"),
    [
        ("RGB", False),
        ("RGBA", False),
        ("L", False),
        ("LA", False),
        ("P", False),
        ("P", True),
        ("RGB", True),
        ("L", True),
    ],
)
@pytest.mark.parametrize("reduction", [1, 2, 3])
@pytest.mark.parametrize("blocks_a_strip", [1, 4])
def test_a_png_decoded_in_strips_equals_the_whole_image_reduced(
    monkeypatch: pytest.MonkeyPatch, mode: str, transparency: bool, reduction: int, blocks_a_strip: int
) -> None:
    from happypath_workflow import imaging

    size = (1201, 803)  # neither the reduction nor the strip height divides a side
    data = filtered_png(mode, transparency, size)
    source = imaging._open(data)
    assert source.png is not None
    assert source.png.streamable
    assert source.png.row_bytes == 1 + size[0] * len(mode)
    strip_rows = reduction * blocks_a_strip
    monkeypatch.setattr(imaging, "PNG_STRIP_BYTES", source.png.row_bytes * strip_rows)
    # every filter type is the first row of some strip (and so refers to the previous strip's last row)
    assert {top % len(PNG_FILTERS) for top in range(strip_rows, size[1], strip_rows)} == set(PNG_FILTERS)

    decoded = stitched(imaging._png_bands(source.png, reduction, source))
    with Image.open(io.BytesIO(data)) as whole:
        expected = imaging._reduce(whole, reduction, source)
    assert decoded.mode == expected.mode
    assert decoded.size == expected.size == (-(-size[0] // reduction), -(-size[1] // reduction))
    assert decoded.tobytes() == expected.tobytes()


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (b"tEXt", b"Comment\x00after the pixels"),
        (b"zTXt", b"Comment\x00\x00" + zlib.compress(b"after the pixels")),
        (b"iTXt", b"Comment\x00\x00\x00\x00\x00after the pixels"),
        (b"eXIf", PNG_EXIF),
        (b"tRNS", b"\x00\x00\x00\x00\x00\x00"),  # ignored with alpha, but read (it would count without)
    ],
)
def test_a_png_renders_the_same_in_strips_as_whole(monkeypatch: pytest.MonkeyPatch, kind: bytes, body: bytes) -> None:
    """A PNG with a chunk Pillow reads after its image data is decoded whole (Pillow reads those only by
    decoding the image): both files give the same renditions, and only the first is decoded in strips."""
    from happypath_workflow import imaging

    # rotated: the EXIF before the image data is read without decoding it
    streamable = encoded(photo_like((3200, 2400)).convert("RGBA"), "PNG", exif=PNG_EXIF, compress_level=1)
    iend = streamable.rindex(b"IEND") - 4
    with_chunk_after = streamable[:iend] + png_chunk(kind, body) + streamable[iend:]
    reductions: list[int] = []
    png_bands = imaging._png_bands

    def spy(layout: Any, reduction: int, source: Any) -> Iterator[Image.Image]:
        reductions.append(reduction)
        return png_bands(layout, reduction, source)

    monkeypatch.setattr(imaging, "_png_bands", spy)
    in_strips = render(streamable, workers=1)
    assert reductions == [2]
    whole = render(with_chunk_after, workers=1)
    assert reductions == [2]
    assert in_strips == whole
    assert decode(in_strips["scaled"].jpeg, "JPEG").size == (600, 800)  # upright
    assert inspect_image(streamable).info == inspect_image(with_chunk_after).info == ImageInfo("PNG", 2400, 3200, 6)


def png_file(*chunks: bytes) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + png_chunk(b"IEND", b"")


def png_header(width: int, height: int, colour_type: int = 2, bit_depth: int = 8) -> bytes:
    return png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0))


def grey_rows(width: int, height: int, channels: int = 3) -> bytes:
    return (b"\x00" + bytes(range(256)) * (width * channels // 256) + bytes(width * channels % 256)) * height


def test_a_png_with_two_headers_is_damaged() -> None:
    idat = png_chunk(b"IDAT", zlib.compress(grey_rows(800, 800, 1)))
    data = png_file(png_header(800, 800, 0), png_header(1600, 1600, 0), idat)  # Pillow would take the second
    assert "more than one IHDR" in assert_rejected(data, RejectionReason.DAMAGED).detail


def test_a_png_whose_image_data_is_split_by_another_chunk_is_damaged() -> None:
    stream = zlib.compress(grey_rows(800, 800))
    gamma = png_chunk(b"gAMA", struct.pack(">I", 45455))
    data = png_file(png_header(800, 800), png_chunk(b"IDAT", stream[:100]), gamma, png_chunk(b"IDAT", stream[100:]))
    assert "split" in assert_rejected(data, RejectionReason.DAMAGED).detail


def icc_chunk() -> bytes:
    return png_chunk(b"iCCP", b"test\x00\x00" + zlib.compress(adobe_rgb_like_profile()))


def frame(width: int, height: int, left: int = 0, top: int = 0) -> bytes:
    return png_chunk(b"fcTL", struct.pack(">IIIIIHHBB", 0, width, height, left, top, 1, 10, 0, 0))


@pytest.mark.parametrize(
    ("before", "after", "accepted"),
    [
        (b"", png_chunk(b"gAMA", struct.pack(">I", 45455)), True),  # anything after the image data, even ignored
        (b"", b"iCCP", True),  # a colour profile Pillow applies
        (b"", png_chunk(b"prIv", b"private"), True),
        (png_chunk(b"acTL", struct.pack(">II", 1, 0)) + frame(1000, 800), b"", True),  # an animation
        (frame(400, 400, 100, 100), b"", False),  # Pillow decodes the image data into the frame: 400 px rows
        (png_chunk(b"tRNS", b"\x00\x07"), b"", False),  # an RGB transparent colour needs 6 bytes
    ],
    ids=["gAMA-after", "iCCP-after", "private-after", "APNG", "cropped-frame", "short-tRNS"],
)
def test_a_png_pillow_reads_differently_whole_is_not_decoded_in_strips(
    before: bytes, after: bytes, accepted: bool
) -> None:
    from happypath_workflow import imaging

    idat = png_chunk(b"IDAT", zlib.compress(png_filtered(photo_like((1000, 800)))))
    data = png_file(png_header(1000, 800), before, idat, icc_chunk() if after == b"iCCP" else after)
    assert not imaging._check_png(data).streamable
    assert imaging._check_png(png_file(png_header(1000, 800), idat)).streamable
    if accepted:  # decoded whole, as Pillow reads it
        assert render(data, workers=1)
    else:
        assert_rejected(data, RejectionReason.DAMAGED)


@pytest.mark.parametrize("second_after_image_data", [False, True])
def test_a_png_with_two_colour_profiles_is_damaged(second_after_image_data: bool) -> None:
    idat = png_chunk(b"IDAT", zlib.compress(grey_rows(800, 800)))
    chunks = [icc_chunk(), idat, icc_chunk()] if second_after_image_data else [icc_chunk(), icc_chunk(), idat]
    error = assert_rejected(png_file(png_header(800, 800), *chunks), RejectionReason.DAMAGED)
    assert "more than one colour profile" in error.detail


def test_a_colour_profile_after_the_image_data_is_applied() -> None:
    idat = png_chunk(b"IDAT", zlib.compress(png_filtered(Image.new("RGB", (1000, 800), (60, 170, 90)))))
    profile_first = render(png_file(png_header(1000, 800), icc_chunk(), idat), workers=1)
    assert render(png_file(png_header(1000, 800), idat, icc_chunk()), workers=1) == profile_first
    assert render(png_file(png_header(1000, 800), idat), workers=1) != profile_first  # the profile does count


def traced_peak[T](call: Callable[[], T]) -> tuple[T, int]:
    """The call's result and the peak of Python's own allocations during it (not Pillow's pixel buffers)."""
    tracemalloc.start()
    try:
        return call(), tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_many_small_chunks_cost_no_memory_per_chunk() -> None:
    from happypath_workflow import imaging

    stream = zlib.compress(grey_rows(800, 800))
    last_transparency = png_chunk(b"tRNS", struct.pack(">3H", 1, 2, 3))
    chunks = [png_header(800, 800), png_chunk(b"tRNS", bytes(6)) * 20_000, last_transparency]
    chunks += [png_chunk(b"IDAT", stream[:100]), png_chunk(b"IDAT", b"") * 25_000, png_chunk(b"IDAT", stream[100:])]
    data = png_file(*chunks)
    layout = imaging._check_png(data)
    assert layout.streamable
    assert layout.pixel_chunks == last_transparency  # only the last, as Pillow uses it: copied into every strip
    rendered, peak = traced_peak(lambda: render(data, workers=1))
    assert rendered
    assert peak < 5 * 2**20  # a list of the 25,000 image data chunks' memoryviews alone takes 7.5 MB


def test_a_png_with_more_chunks_than_any_photo_is_damaged() -> None:
    idat = png_chunk(b"IDAT", zlib.compress(grey_rows(800, 800)))
    private = png_chunk(b"prIv", b"")  # Pillow keeps every private chunk in a list
    data = png_file(png_header(800, 800), private * PNG_MAX_CHUNKS, idat)
    assert f"more than {PNG_MAX_CHUNKS} chunks" in assert_rejected(data, RejectionReason.DAMAGED).detail


def test_a_png_with_one_image_data_chunk_per_row_is_accepted() -> None:
    compressor = zlib.compressobj()
    rows = grey_rows(800, 4000, channels=1)
    row_bytes = len(rows) // 4000
    parts = [compressor.compress(rows[y * row_bytes : (y + 1) * row_bytes]) for y in range(4000)]
    parts.append(compressor.flush())
    data = png_file(png_header(800, 4000, colour_type=0), *(png_chunk(b"IDAT", part) for part in parts))
    assert inspect_image(data).info == ImageInfo("PNG", 800, 4000, 1)
    scaled = render(data, workers=1)["scaled"]
    assert (scaled.width, scaled.height) == (600, 3000)


@pytest.mark.parametrize("bits", [1, 2, 4])
def test_a_png_of_fewer_bits_a_sample_renders_as_its_8_bit_copy(bits: int) -> None:
    # Rows of packed samples are decoded whole (Pillow unpacks them): strips are cut from 8-bit rows only.
    image = photo_like((2400, 1800)).convert("P", palette=Image.Palette.ADAPTIVE, colors=2**bits)
    packed = encoded(image, "PNG", bits=bits)
    assert packed[24] == bits  # the IHDR's bit depth
    assert render(packed, workers=1) == render(encoded(image, "PNG"), workers=1)


@pytest.mark.parametrize("bit_depth", [8, 16])  # decoded in strips, and whole after counting the rows
@pytest.mark.parametrize("size", [(1000, 800), (2400, 1800)])  # render: not reduced, reduced
def test_a_png_whose_image_data_ends_before_its_last_row_is_damaged(bit_depth: int, size: tuple[int, int]) -> None:
    width, height = size
    row = b"\x00" + bytes(range(256)) * (width * 3 * bit_depth // 8 // 256) + bytes(width * 3 * bit_depth // 8 % 256)
    data = png_bytes(width, height, bit_depth, 2, row * (height - 1))  # a clean zlib stream, a row short
    error = assert_rejected(data, RejectionReason.DAMAGED)
    assert "truncated" in error.detail


def bad_checksum(stream: bytes) -> list[bytes]:
    adler = int.from_bytes(stream[-4:], "big") ^ 1
    return [stream[:-4], adler.to_bytes(4, "big")]


def bad_block_after_a_flush(stream: bytes) -> list[bytes]:
    compressor = zlib.compressobj()
    rows = zlib.decompress(stream)
    return [compressor.compress(rows) + compressor.flush(zlib.Z_SYNC_FLUSH), b"\xff" * 5]


@pytest.mark.parametrize("corrupt", [bad_checksum, bad_block_after_a_flush])
@pytest.mark.parametrize("size", [(1000, 800), (2400, 1800)])  # render: not reduced, reduced
def test_corrupt_image_data_after_the_last_row_is_damaged(
    corrupt: Callable[[bytes], list[bytes]], size: tuple[int, int]
) -> None:
    stream = zlib.compress(grey_rows(*size))
    data = png_file(png_header(*size), *(png_chunk(b"IDAT", part) for part in corrupt(stream)))
    assert "not valid zlib data" in assert_rejected(data, RejectionReason.DAMAGED).detail


def test_image_data_after_the_end_of_the_zlib_stream_is_not_inflated(monkeypatch: pytest.MonkeyPatch) -> None:
    from happypath_workflow import imaging

    # Each chunk fed to zlib after its stream has ended costs a copy of all it refused so far: quadratic time.
    pulled = 0
    walk = imaging._png_image_data

    def counted(layout: imaging._PngLayout) -> Iterator[memoryview]:
        nonlocal pulled
        for data in walk(layout):
            pulled += 1
            yield data

    monkeypatch.setattr(imaging, "_png_image_data", counted)
    ended_early = png_chunk(b"IDAT", zlib.compress(grey_rows(800, 10)))
    data = png_file(png_header(800, 800), ended_early, png_chunk(b"IDAT", bytes(12)) * 10_000)
    assert "10 of the 800 rows" in assert_rejected(data, RejectionReason.DAMAGED).detail
    assert pulled <= 2 * 2  # the first chunk and the next one, by each of inspect and render


@pytest.mark.parametrize("bad_row", [0, 1000, 1799])
def test_a_png_row_with_an_unknown_filter_type_is_damaged(bad_row: int) -> None:
    image = photo_like((2400, 1800))  # render decodes it in strips, the check step whole (less to reduce)
    row_bytes = 1 + 3 * image.width
    rows = bytearray(b"".join(b"\x00" + image.crop((0, y, image.width, y + 1)).tobytes() for y in range(image.height)))
    rows[bad_row * row_bytes] = 9  # filter types are 0-4
    error = assert_rejected(png_bytes(*image.size, 8, 2, bytes(rows)), RejectionReason.DAMAGED)
    assert "cannot be decoded" in error.detail


def test_a_heic_is_resampled_without_ever_holding_its_reduced_image(monkeypatch: pytest.MonkeyPatch) -> None:
    """The 12 MP HEIC is reduced to 2016x1512 by its tiles; every image made while rendering it is at most a
    row of tiles (2016x256) or an output, never that whole image (12 MB as Pillow keeps RGB)."""
    made: list[tuple[int, int]] = []
    new = Image.Image._new

    def recording(self: Image.Image, im: Any) -> Image.Image:
        made.append(im.size)
        return new(self, im)

    monkeypatch.setattr(Image.Image, "_new", recording)
    renditions = render(photo("iphone_13_pro_max.HEIC"), workers=2)
    assert (renditions["scaled"].width, renditions["scaled"].height) == (600, 800)
    assert (2016, 256) in made
    assert max(width * height for width, height in made) == 2016 * 256


def test_a_large_png_is_never_decoded_whole(tmp_path: Path) -> None:
    width, height = 4000, 3000  # a 12 MP photo with alpha: Pillow's whole decode alone holds 46 MB
    path = tmp_path / "photo.png"
    path.write_bytes(encoded(photo_like((width, height)).convert("RGBA"), "PNG", compress_level=1))
    code = (
        "from pathlib import Path; from happypath_testkit.memory import rss_mb; "
        "from happypath_workflow.imaging import render; "
        f"data = Path({str(path)!r}).read_bytes(); before = rss_mb()[1]; "
        "render(data, workers=1); print(rss_mb()[1] - before)"
    )
    root = Path(__file__).parents[2]
    env_path = f"{root / 'backend' / 'shared'}:{root / 'workflows' / 'functions'}:{root / 'tests'}"
    run = subprocess.run(
        [sys.executable, "-c", code], env={"PYTHONPATH": env_path}, check=True, capture_output=True, text=True
    )
    grown = float(run.stdout)
    assert grown < width * height * 4 / 2**20 / 2, grown  # MB over the process's peak before the call


# --- what is not a supported image ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: b"", id="zero-bytes"),
        pytest.param(lambda: b"Hello, this is not a photo.\n" * 100, id="text"),
        pytest.param(lambda: encoded(photo_like().convert("P"), "GIF"), id="gif"),
        pytest.param(lambda: encoded(photo_like(), "TIFF"), id="tiff"),
        pytest.param(lambda: encoded(photo_like(), "WEBP"), id="webp"),
        pytest.param(lambda: encoded(photo_like(), "BMP"), id="bmp"),
        pytest.param(lambda: b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf" + bytes(64), id="avif"),
        pytest.param(lambda: b"\xff\xd8" + bytes(100), id="jpeg-signature-only"),
    ],
)
def test_unsupported_types_are_refused(make: Callable[[], bytes]) -> None:
    assert_rejected(make(), RejectionReason.UNSUPPORTED_TYPE)


def test_an_empty_upload_is_refused_as_empty() -> None:
    assert "empty" in assert_rejected(b"", RejectionReason.UNSUPPORTED_TYPE).detail


# --- limits and bombs ------------------------------------------------------------------------------------


def test_a_decompression_bomb_is_refused_from_its_header() -> None:
    # A 2.5-gigapixel PNG in a few hundred bytes: one compressed row, the header claims 50000x50000.
    bomb = png_bytes(50_000, 50_000, 8, 2, b"\x00" + bytes(3 * 50_000))
    assert len(bomb) < 1000
    if not reset_peak_rss():
        pytest.skip("needs Linux's /proc/self/clear_refs to measure this call's own peak")
    rss_before, _ = rss_mb()
    assert_rejected(bomb, RejectionReason.TOO_LARGE)
    assert rss_mb()[1] - rss_before < 20  # MB: a decode would need 7.5 GB


@pytest.mark.parametrize("restart_marker_blocks", [0, 4])
def test_a_jpeg_whose_header_claims_a_huge_frame_is_too_large(restart_marker_blocks: int) -> None:
    # With restart markers the scans, walked with the claimed size, would not have the right number of them:
    # the size is refused from the frame header, before any scan is looked at.
    data = bytearray(encoded(photo_like(), "JPEG", restart_marker_blocks=restart_marker_blocks))
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", 60_000, 60_000)
    assert_rejected(bytes(data), RejectionReason.TOO_LARGE)


@pytest.mark.parametrize(("width", "height"), [(13_000, 900), (10_000, 7_000)])
def test_sides_and_pixel_counts_over_the_limits_are_too_large(width: int, height: int) -> None:
    assert width > limits.MAX_SIDE_PX or width * height > limits.MAX_PIXELS
    assert_rejected(png_bytes(width, height, 8, 0, b"\x00" + bytes(width)), RejectionReason.TOO_LARGE)


def test_running_out_of_memory_while_decoding_is_too_large(monkeypatch: pytest.MonkeyPatch) -> None:
    data = encoded(photo_like(), "JPEG")

    def out_of_memory(self: ImageFile.ImageFile) -> None:
        raise MemoryError

    monkeypatch.setattr(ImageFile.ImageFile, "load", out_of_memory)
    error = assert_rejected(data, RejectionReason.TOO_LARGE)
    assert "not enough memory" in error.detail


def test_uploads_over_the_byte_limit_are_too_large() -> None:
    data = encoded(photo_like(), "JPEG")
    at_the_limit = data + bytes(limits.MAX_UPLOAD_BYTES - len(data))  # data after the end of the image is ignored
    assert inspect_image(at_the_limit).info.format == "JPEG"
    assert_rejected(at_the_limit + b"\x00", RejectionReason.TOO_LARGE)


def test_pillow_bomb_guard_matches_the_pixel_limit() -> None:
    assert Image.MAX_IMAGE_PIXELS == limits.MAX_PIXELS


def test_importing_the_module_is_cheap() -> None:
    code = (
        "import sys; import happypath_workflow.imaging; "
        "assert not {'pillow_heif', 'happypath_workflow.libheif', 'ctypes', 'PIL.ImageCms'} & set(sys.modules)"
    )
    root = Path(__file__).parents[2]
    env_path = f"{root / 'backend' / 'shared'}:{root / 'workflows' / 'functions'}"
    # What it costs is measured by the benchmark (bench/README.md); here: what it must not load up front.
    subprocess.run([sys.executable, "-c", code], env={"PYTHONPATH": env_path}, check=True)


# --- damage detection on generated JPEGs -----------------------------------------------------------------


def scan_data(data: bytes) -> tuple[int, int]:
    """Start and end of the (last) entropy-coded segment of a baseline JPEG."""
    start = data.rindex(b"\xff\xda")
    start += 2 + int.from_bytes(data[start + 2 : start + 4], "big")
    return start, data.rindex(b"\xff\xd9")


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"restart_marker_blocks": 2}, id="baseline-restarts"),
        pytest.param({"restart_marker_rows": 1, "subsampling": 0}, id="baseline-444-restarts"),
        pytest.param({"restart_marker_blocks": 2, "subsampling": 1}, id="baseline-422-restarts"),
        pytest.param({"restart_marker_blocks": 3, "progressive": True}, id="progressive-restarts"),
        pytest.param(
            {"restart_marker_blocks": 3, "progressive": True, "subsampling": 1}, id="progressive-422-restarts"
        ),
        pytest.param({"progressive": True, "subsampling": 1}, id="progressive-422"),
        pytest.param({}, id="baseline"),
    ],
)
def test_generated_jpegs_of_every_layout_are_accepted(params: dict[str, object]) -> None:
    # 16n + 1 px a side: a subsampled component's side rounds up to one more 8 px block than it would down.
    for mode in ("RGB", "L", "CMYK"):
        image = photo_like((1009, 817)).convert(mode)
        data = encoded(image, "JPEG", quality=85, **params)
        assert inspect_image(data).info == ImageInfo("JPEG", 1009, 817, 1)


def test_damage_inside_a_jpegs_image_data_is_found_by_the_whole_decode_not_by_the_render() -> None:
    """Half the image data gone, the end marker put back: every marker is in place. `render` decodes only what
    its reduced sizes need and shows grey bands; `check_image_data` (for a workflow with no check step) refuses it."""
    data = encoded(photo_like(), "JPEG")
    start, end = scan_data(data)
    cut = data[: start + (end - start) // 2] + b"\xff\xd9"
    check_image_data(data)  # a sound one passes
    with pytest.raises(ImageRejected) as error:
        check_image_data(cut)
    assert (error.value.reason, error.value.detail.startswith(ENTROPY_DAMAGE)) == (RejectionReason.DAMAGED, True)
    assert render(cut, workers=1)["tile"].width == 400  # what the check step (or this check) is there for
    check_image_data(encoded(photo_like(), "PNG"))  # a PNG's data is checked by the render itself


def test_fill_bytes_and_data_after_the_end_of_image_are_accepted() -> None:
    data = encoded(photo_like(), "JPEG", restart_marker_blocks=4)
    assert data.endswith(b"\xff\xd9")
    padded = data[:-2] + b"\xff\xff\xff\xd9" + b"appended by some phone" + bytes(1000)
    assert render(padded, workers=1)["tile"].width == 400


@pytest.mark.parametrize("filler", [b"\xff\xe5\x00\x02", b"\xff"])  # empty APP5 segments, fill bytes
def test_a_jpeg_with_more_markers_than_any_photo_is_damaged(filler: bytes) -> None:
    data = encoded(photo_like(), "JPEG")
    error = assert_rejected(data[:2] + filler * JPEG_MAX_MARKERS + data[2:], RejectionReason.DAMAGED)
    assert f"more than {JPEG_MAX_MARKERS} markers" in error.detail


def test_a_jpeg_with_more_scans_than_any_encoder_writes_is_refused_before_decoding() -> None:
    from happypath_workflow import imaging

    data = encoded(photo_like(), "JPEG", progressive=True)
    scans = data.count(b"\xff\xda")
    last_scan = data[data.rindex(b"\xff\xda") : -2]
    assert 5 <= scans <= 20
    # At the limit the marker walk takes it (the repeated scan is a progression only the entropy decode refuses).
    imaging._check_jpeg(data[:-2] + last_scan * (JPEG_MAX_SCANS - scans) + b"\xff\xd9")
    error = assert_rejected(
        data[:-2] + last_scan * (JPEG_MAX_SCANS + 1 - scans) + b"\xff\xd9", RejectionReason.TOO_LARGE
    )
    assert f"more than {JPEG_MAX_SCANS} scans" in error.detail


def test_metadata_in_thousands_of_segments_is_accepted() -> None:
    data = encoded(photo_like(), "JPEG")
    markers = len(jpeg_segments(data)) + 2  # the header segments, the one scan and the end-of-image marker
    comment = b"\xff\xfe\x00\x06note"
    at_the_limit = data[:2] + comment * (JPEG_MAX_MARKERS - markers) + data[2:]
    tile = render(at_the_limit, workers=1)["tile"]
    assert (tile.width, tile.height) == (400, 400)
    error = assert_rejected(at_the_limit[:2] + comment + at_the_limit[2:], RejectionReason.DAMAGED)
    assert f"more than {JPEG_MAX_MARKERS} markers" in error.detail


def test_a_long_run_of_fill_bytes_before_a_restart_marker_is_image_data() -> None:
    data = encoded(photo_like(), "JPEG", restart_marker_blocks=4)
    restart = _restart_positions(data)[5]
    padded = data[:restart] + b"\xff" * 1_000_000 + data[restart:]
    assert inspect_image(padded).info == inspect_image(data).info
    assert render(padded, workers=1) == render(data, workers=1)
    cut_in_the_run = padded[: restart + 500_000]
    assert "truncated" in assert_rejected(cut_in_the_run, RejectionReason.DAMAGED).detail


def segment_end_or_damage(data: bytes, pos: int) -> tuple[int, int] | str:
    from happypath_workflow import imaging

    try:
        return imaging._segment_end(data, pos)
    except ImageRejected as error:
        return error.detail


@pytest.mark.parametrize("seed", range(20))
def test_the_end_of_the_image_data_is_found_alike_past_many_fill_runs(
    monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    from happypath_workflow import imaging

    pieces = [b"\x12\x34", b"\xff\x00", b"\xff\xd3", b"\xff\xff\x00", b"\xff\xff\xff\xd5", b"\xff\xff", b"\xff\xc4"]
    rng = np.random.default_rng(seed)
    data = b"".join(pieces[i] for i in rng.choice(len(pieces), size=400, p=[0.4, 0.2, 0.1, 0.1, 0.1, 0.07, 0.03]))
    for pos in (p for p in range(0, len(data), 7) if data[p - 1] != 0xFF):  # as the walk calls it: never mid-run
        searched_in_python = segment_end_or_damage(data, pos)
        monkeypatch.setattr(imaging, "_FILL_RUNS_SKIPPED_IN_PYTHON", 0)  # one regex search only
        assert segment_end_or_damage(data, pos) == searched_in_python, pos
        monkeypatch.undo()


def test_image_data_full_of_fill_runs_is_walked_to_its_end() -> None:
    from happypath_workflow import imaging

    data = encoded(photo_like(), "JPEG")
    end = scan_data(data)[1]
    padded = data[:end] + b"\xff\xff\x00" * 1_000_000 + data[end:]  # past the first 64 runs: one regex search
    imaging._check_jpeg(padded)  # the walk finds the end-of-image marker after them
    cut = padded[: end + 1_500_000]
    assert "truncated" in segment_end_or_damage(cut, scan_data(data)[0])


def _restart_positions(data: bytes) -> list[int]:
    start, end = scan_data(data)
    return [i for i in range(start, end - 1) if data[i] == 0xFF and 0xD0 <= data[i + 1] <= 0xD7]


@pytest.mark.parametrize("progressive", [False, True])
def test_missing_or_misnumbered_restart_markers_are_damage(progressive: bool) -> None:
    data = encoded(photo_like(), "JPEG", restart_marker_blocks=4, progressive=progressive)
    positions = _restart_positions(data)
    assert len(positions) > 10
    middle = positions[len(positions) // 2]

    missing = data[:middle] + data[middle + 2 :]
    renumbered = bytearray(data)
    renumbered[middle + 1] = 0xD0 + (renumbered[middle + 1] - 0xD0 + 3) % 8
    for damaged in (missing, bytes(renumbered)):
        assert "restart markers" in assert_rejected(damaged, RejectionReason.DAMAGED).detail


@pytest.mark.parametrize("fill", [0, 1, 3])
@pytest.mark.parametrize("shift", range(-4, 3))
def test_restart_markers_across_the_comparison_windows_are_all_counted(fill: int, shift: int) -> None:
    from happypath_workflow import imaging

    window = imaging._RESTART_WINDOW
    data = bytearray(b"\x11" * (3 * window))
    marker_at = [100, window + shift, window + shift + 40, 2 * window - 1 - fill, 2 * window + 7]
    for number, at in enumerate(marker_at):  # fill bytes, then the marker, possibly across a window edge
        data[at : at + fill + 2] = b"\xff" * (fill + 1) + bytes([0xD0 + number])
    data = bytes(data)
    assert imaging._restart_markers_in_sequence(data, 0, len(data), 5)
    assert not imaging._restart_markers_in_sequence(data, 0, len(data), 4)  # one too many
    assert not imaging._restart_markers_in_sequence(data, 0, len(data), 6)  # one missing
    renumbered = data.replace(b"\xff\xd3", b"\xff\xd4")
    assert not imaging._restart_markers_in_sequence(renumbered, 0, len(data), 5)


def test_megabytes_of_restart_markers_are_refused_without_listing_them() -> None:
    data = encoded(photo_like(), "JPEG", restart_marker_blocks=4)
    end_of_image = data.rindex(b"\xff\xd9")
    flooded = data[:end_of_image] + b"\xff\xd0" * 5_000_000 + data[end_of_image:]  # 10 MB
    error, peak = traced_peak(lambda: assert_rejected(flooded, RejectionReason.DAMAGED))
    assert "restart markers" in error.detail
    assert peak < 50 * 2**20  # listing them took 90 bytes a marker: 450 MB


def test_a_stray_marker_inside_the_image_data_is_damage() -> None:
    data = encoded(photo_like(), "JPEG")
    start, end = scan_data(data)
    middle = (start + end) // 2
    while data[middle] == 0xFF or data[middle - 1] == 0xFF:
        middle += 1
    damaged = data[:middle] + b"\xff\x9f" + data[middle:]
    assert "stray" in assert_rejected(damaged, RejectionReason.DAMAGED).detail


def segment(data: bytes, marker: int) -> tuple[int, int]:
    """Start (its 0xFF) and end of the first header segment with this marker."""
    start = data.index(bytes([0xFF, marker]))
    return start, start + 2 + int.from_bytes(data[start + 2 : start + 4], "big")


def without_scans(data: bytes) -> bytes:
    return data[: segment(data, 0xDA)[0]] + b"\xff\xd9"


def frame_twice(data: bytes) -> bytes:
    start, end = segment(data, 0xC0)
    return data[:end] + data[start:end] + data[end:]


def scan_before_frame(data: bytes) -> bytes:
    start, _ = segment(data, 0xC0)
    return data[:start] + data[segment(data, 0xDA)[0] :]


def long_restart_interval_header(data: bytes) -> bytes:
    start, _ = segment(data, 0xDA)
    return data[:start] + b"\xff\xdd\x00\x05\x00\x00\x04" + data[start:]


def with_bytes(marker: int, offset: int, values: bytes) -> Callable[[bytes], bytes]:
    """The bytes at `offset` into the first segment with this marker (counted from its 0xFF) set to `values`."""

    def change(data: bytes) -> bytes:
        at = segment(data, marker)[0] + offset
        return data[:at] + values + data[at + len(values) :]

    return change


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        (without_scans, "no image data before the end-of-image marker"),
        (frame_twice, "more than one frame header"),
        (scan_before_frame, "image data before the frame header"),
        (long_restart_interval_header, "bad restart interval header"),
        (lambda data: data[:2] + b"\xff\xd8" + data[2:], "unexpected marker 0xFFD8"),
        (with_bytes(0xC0, 5, b"\x00\x00"), "frame header says 1000x0"),  # the number of rows
        (with_bytes(0xC0, 11, b"\x00"), "bad sampling factors"),  # the first component's
        (with_bytes(0xC0, 11, b"\x51"), "bad sampling factors"),
        (with_bytes(0xDA, 5, b"\x09"), "names a component the frame does not have"),  # the scan's first one
    ],
    ids=[
        "no-scan",
        "two-frames",
        "scan-before-frame",
        "restart-interval-header-too-long",
        "second-start-of-image",
        "zero-rows",
        "zero-sampling",
        "sampling-over-4",
        "unknown-scan-component",
    ],
)
@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_a_jpeg_with_inconsistent_headers_is_damaged_before_any_decoding(
    damage: Callable[[bytes], bytes], detail: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = encoded(photo_like().convert(mode), "JPEG", restart_marker_blocks=2)  # restarts: the scans are counted
    assert inspect_image(data).info.format == "JPEG"

    def no_decoding(self: ImageFile.ImageFile) -> None:
        raise AssertionError("the damage must be found before the image is decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", no_decoding)
    assert detail in assert_rejected(damage(data), RejectionReason.DAMAGED).detail


def test_a_jpeg_cut_right_after_its_image_data_is_damage() -> None:
    data = encoded(photo_like(), "JPEG", progressive=True)
    assert_rejected(data[:-2], RejectionReason.DAMAGED)


def test_a_png_with_a_bad_crc_or_cut_short_is_damaged() -> None:
    data = bytearray(encoded(photo_like(), "PNG"))
    assert_rejected(bytes(data[: len(data) // 2]), RejectionReason.DAMAGED)
    data[len(data) // 2] ^= 0x55
    assert_rejected(bytes(data), RejectionReason.DAMAGED)


# --- modes and colour ------------------------------------------------------------------------------------


def pixel(image: Image.Image, xy: tuple[int, int]) -> tuple[int, ...]:
    value = image.convert("RGB").getpixel(xy)
    assert isinstance(value, tuple)
    return value


def centre_pixel(data: bytes, fmt: str) -> tuple[int, ...]:
    image = decode(data, fmt)
    return pixel(image, (image.width // 2, image.height // 2))


def assert_close(actual: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> None:
    assert all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True)), (actual, expected)


def s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def xyz(x: float, y: float, z: float) -> bytes:
    return b"XYZ " + bytes(4) + s15(x) + s15(y) + s15(z)


def gamma_curve(gamma: float) -> bytes:
    return b"curv" + bytes(4) + struct.pack(">IH", 1, round(gamma * 256)) + bytes(2)


def display_profile(colour_space: bytes, name: bytes, tags: list[tuple[bytes, bytes]]) -> bytes:
    """A minimal ICC v2 display profile: a description, the D50 white point and a copyright, then `tags`."""
    text = name + b"\x00"
    desc = b"desc" + bytes(4) + struct.pack(">I", len(text)) + text + bytes(8) + bytes(3) + bytes(67)
    desc += bytes(-len(desc) % 4)
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        *tags,
        (b"cprt", b"text" + bytes(4) + b"none\x00\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, body = b"", b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data
    size = offset + len(body)
    header = (
        struct.pack(">I", size)
        + b"lcms"
        + bytes([2, 0x10, 0, 0])
        + b"mntr"
        + colour_space
        + b"XYZ "
        + struct.pack(">6H", 2024, 1, 1, 0, 0, 0)
        + b"acsp"
        + bytes(24)
        + struct.pack(">I", 0)
        + s15(0.9642)
        + s15(1.0)
        + s15(0.8249)
        + bytes(4 + 16 + 28)
    )
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + body


def adobe_rgb_like_profile() -> bytes:
    """A matrix/TRC display profile with Adobe RGB (1998) primaries and gamma 2.2."""
    gamma = gamma_curve(2.2)
    tags = [
        (b"rXYZ", xyz(0.6097, 0.3111, 0.0195)),
        (b"gXYZ", xyz(0.2053, 0.6257, 0.0609)),
        (b"bXYZ", xyz(0.1492, 0.0632, 0.7446)),
        (b"rTRC", gamma),
        (b"gTRC", gamma),
        (b"bTRC", gamma),
    ]
    return display_profile(b"RGB ", b"Adobe RGB like test profile", tags)


def linear_grey_profile() -> bytes:
    """A grey display profile with gamma 1.0: its mid grey is much lighter in sRGB."""
    return display_profile(b"GRAY", b"Linear grey test profile", [(b"kTRC", gamma_curve(1.0))])


@pytest.mark.parametrize("profile", [adobe_rgb_like_profile, display_p3_profile], ids=["adobe-rgb-like", "display-p3"])
@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_embedded_profiles_are_converted_to_plain_srgb(profile: Callable[[], bytes], fmt: str) -> None:
    icc = profile()
    source_colour = (60, 170, 90)
    expected_image = ImageCms.profileToProfile(
        Image.new("RGB", (1, 1), source_colour),
        ImageCms.ImageCmsProfile(io.BytesIO(icc)),
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
    )
    assert expected_image is not None
    expected = pixel(expected_image, (0, 0))
    assert max(abs(a - b) for a, b in zip(expected, source_colour, strict=True)) >= 8  # the colour must move

    params = {"quality": 95} if fmt == "JPEG" else {}
    data = encoded(Image.new("RGB", (1000, 800), source_colour), fmt, icc_profile=icc, **params)
    renditions = render(data, workers=1)
    for rendition in renditions.values():
        for blob, kind in ((rendition.jpeg, "JPEG"), (rendition.webp, "WEBP")):
            assert_no_metadata(blob, kind)
            assert_close(centre_pixel(blob, kind), expected)
    assert_close(centre_pixel(inspect_image(data).moderation_jpeg, "JPEG"), expected)


def test_cmyk_jpeg_comes_out_rgb() -> None:
    data = encoded(Image.new("CMYK", (1000, 800), (0, 255, 255, 0)), "JPEG", quality=95)
    for rendition in render(data, workers=1).values():
        assert_close(centre_pixel(rendition.jpeg, "JPEG"), (255, 0, 0), tolerance=24)


def test_grayscale_jpeg_renders() -> None:
    data = encoded(photo_like().convert("L"), "JPEG")
    renditions = render(data, workers=1)
    assert decode(renditions["scaled"].webp, "WEBP").size == (600, 480)
    red, green, blue = centre_pixel(renditions["tile"].jpeg, "JPEG")
    assert abs(red - green) <= 2
    assert abs(green - blue) <= 2


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_a_grey_image_with_a_profile_is_converted_to_srgb(fmt: str) -> None:
    icc = linear_grey_profile()
    expected_image = ImageCms.profileToProfile(
        Image.new("L", (1, 1), 128),
        ImageCms.ImageCmsProfile(io.BytesIO(icc)),
        ImageCms.createProfile("sRGB"),
        renderingIntent=ImageCms.Intent.PERCEPTUAL,
        outputMode="RGB",
    )
    assert expected_image is not None
    expected = pixel(expected_image, (0, 0))
    assert min(expected) > 128 + 40  # the grey must move

    data = encoded(Image.new("L", (1000, 800), 128), fmt, icc_profile=icc)
    for rendition in render(data, workers=1).values():
        assert_close(centre_pixel(rendition.jpeg, "JPEG"), expected)
        assert_close(centre_pixel(rendition.webp, "WEBP"), expected)
    assert_close(centre_pixel(inspect_image(data).moderation_jpeg, "JPEG"), expected)


def test_16_bit_grey_png_is_scaled_not_clipped() -> None:
    width, height = 1000, 800
    row = b"\x00" + struct.pack(">H", 32768) * width
    data = png_bytes(width, height, 16, 0, row * height)
    for rendition in render(data, workers=1).values():
        assert_close(centre_pixel(rendition.jpeg, "JPEG"), (128, 128, 128), tolerance=3)


def test_16_bit_rgb_png_renders() -> None:
    width, height = 1000, 800
    row = b"\x00" + struct.pack(">HHH", 65535, 32768, 0) * width
    data = png_bytes(width, height, 16, 2, row * height)
    assert_close(centre_pixel(render(data, workers=1)["tile"].jpeg, "JPEG"), (255, 128, 0))


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_transparency_is_flattened_on_white(mode: str) -> None:
    image = Image.new("RGBA", (1000, 800), (0, 0, 0, 0))
    image.paste((200, 30, 30, 255), (0, 0, 500, 800))  # left half opaque red, right half transparent
    if mode == "LA":
        image = image.convert("LA")
    elif mode == "P":
        image = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=8)
        image.info["transparency"] = image.getpixel((999, 0))
    data = encoded(image, "PNG")
    tile = decode(render(data, workers=1)["tile"].jpeg, "JPEG").convert("RGB")
    assert_close(pixel(tile, (380, 200)), (255, 255, 255))
    left = pixel(tile, (20, 200))
    assert left != (255, 255, 255)
    assert sum(left) < 600


def test_high_entropy_content_still_encodes() -> None:
    noise = np.random.default_rng(7).integers(0, 256, (900, 1200, 3), dtype=np.uint8)
    renditions = render(encoded(Image.fromarray(noise), "PNG"), workers=1)
    assert decode(renditions["scaled"].jpeg, "JPEG").size == (600, 450)
