"""The renditions' resampler: stb_image_resize2 with Pillow's BICUBIC kernel, in place (resampler.py).

Its speed and its SSIM against sharp's are the benchmark's (bench/README.md); these tests keep what it gives
the same as what Pillow's resampler gives, within rounding, and check where it steps aside for Pillow.
"""

from __future__ import annotations

import ctypes
import io
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from happypath_testkit.heic import display_p3_profile
from PIL import Image

from happypath_workflow import imaging, resampler

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "workflows" / "native"
PHOTOS = ROOT.parent / "shared" / "photos"

pytestmark = pytest.mark.skipif(not resampler.available(), reason="run `make native` first")

Box = tuple[float, float, float, float]


@pytest.fixture(scope="module")
def decode() -> Image.Image:
    """jolla.jpg as the resizer decodes it (1/4 scale, 816x612)."""
    image = Image.open(PHOTOS / "jolla.jpg")
    image.draft("RGB", (816, 612))
    image.load()
    assert image.size == (816, 612)
    return image


def pillow(image: Image.Image, size: tuple[int, int], box: Box) -> Image.Image:
    return image.resize(size, Image.Resampling.BICUBIC, box=box)


def ours(image: Image.Image, size: tuple[int, int], box: Box) -> Image.Image:
    resampled = resampler.resample(image, size, box)
    assert resampled is not None
    return resampled


def difference(a: Image.Image, b: Image.Image) -> np.ndarray:
    assert (a.mode, a.size) == (b.mode, b.size)
    return np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))


@pytest.mark.parametrize("mode", ["RGB", "L"])
@pytest.mark.parametrize(
    ("size", "box"),
    [
        ((600, 450), (0, 0, 816, 612)),  # the scaled image
        ((400, 400), (102, 0, 714, 612)),  # the tile
        ((400, 400), (102.5, 0.25, 714.5, 611.75)),  # a fractional box (a reduced decode's)
        ((450, 600), (0, 0, 816, 612)),  # different scales across and down
        ((1000, 750), (0, 0, 816, 612)),  # enlarging (a small photo's scaled image)
    ],
)
def test_it_resamples_a_photo_as_pillows_bicubic_does(
    decode: Image.Image, mode: str, size: tuple[int, int], box: Box
) -> None:
    image = decode.convert(mode)

    resampled = ours(image, size, box)

    assert resampled.mode == mode
    assert resampled.size == size
    diff = difference(resampled, pillow(image, size, box))
    assert diff.max() <= 2  # on a photo; noise, with hard edges everywhere, differs more (Pillow rounds its first
    assert diff.mean() < 0.25  # pass to 8 bits, stb filters in floats throughout)


def test_the_filter_reads_around_the_box_as_pillows_does() -> None:
    """A box is where the output maps to, not a crop: the kernel reaches past its edges (white here), as Pillow's."""
    image = Image.new("L", (200, 100), 0)
    image.paste(255, (100, 0, 200, 100))
    box = (20.0, 0.0, 100.0, 100.0)

    resampled = np.asarray(ours(image, (40, 50), box), dtype=np.int16)

    assert resampled[:, -1].min() > 0  # the last column sees some of the white beyond the box
    assert resampled[:, :-2].max() == 0
    assert difference(Image.fromarray(resampled.astype(np.uint8)), pillow(image, (40, 50), box)).max() <= 1


@pytest.mark.parametrize("size", [(1, 1), (7, 3), (12, 60), (60, 2)])
def test_extreme_reductions_stay_close_to_pillows(decode: Image.Image, size: tuple[int, int]) -> None:
    """Beyond the image's edges Pillow drops the kernel's taps and reweighs the rest, stb repeats the edge pixels:
    the edge outputs differ a little where the kernel is a few pixels wide, more where it is hundreds."""
    box = (0.0, 0.0, 816.0, 612.0)

    resampled = ours(decode, size, box)

    assert resampled.size == size
    diff = difference(resampled, pillow(decode, size, box))
    assert diff.max() <= 16
    assert diff.mean() < 2


def test_flat_colours_stay_exact_and_the_overshoot_at_a_hard_edge_is_clipped() -> None:
    """The cubic's negative lobes must not push a flat area off its value, and where they push past 0 or 255 (at
    a hard edge, 257.9 and -3.0 in floats) the result is clipped, not wrapped round: as Pillow's is."""
    image = Image.new("RGB", (640, 480), (12, 250, 0))
    image.paste((255, 0, 255), (0, 0, 320, 480))

    resampled = ours(image, (300, 200), (0, 0, 640, 480))

    pixels = np.asarray(resampled)
    assert (pixels[:, :140] == (255, 0, 255)).all()
    assert (pixels[:, 160:] == (12, 250, 0)).all()
    assert (pixels[:, 148] == (255, 0, 255)).all()  # 257.9 for red and blue
    assert (pixels[:, 151] == (9, 253, 0)).all()  # -3.0 for blue
    assert difference(resampled, pillow(image, (300, 200), (0, 0, 640, 480))).max() <= 1


@pytest.mark.parametrize("mode", ["RGBA", "CMYK", "I;16", "1", "P"])
def test_other_modes_are_left_to_pillow(mode: str) -> None:
    assert resampler.resample(Image.new(mode, (64, 64)), (32, 32), (0, 0, 64, 64)) is None


def test_an_image_in_more_than_one_block_of_memory_is_left_to_pillow() -> None:
    """Pillow keeps an image in blocks of at most 16 MB (by default): no Arrow export, no address, for larger ones."""
    large = Image.new("RGB", (2600, 1700))  # 17.7 MB as RGBX

    with pytest.raises(ValueError, match="not contiguous"):
        large.__arrow_c_array__()
    assert resampler.resample(large, (600, 392), (0, 0, 2600, 1700)) is None


@pytest.mark.parametrize(
    "box",
    [(-1, 0, 100, 100), (0, 0, 101, 100), (50, 0, 50, 100), (0, 60, 100, 40), (0, 0, float("nan"), 100)],
)
def test_a_box_outside_the_image_is_an_error(box: Box) -> None:
    with pytest.raises(ValueError, match="cannot resample box"):
        resampler.resample(Image.new("RGB", (100, 100)), (10, 10), box)


def test_two_threads_resample_at_once_with_the_same_results(decode: Image.Image) -> None:
    assert type(resampler._library()) is ctypes.CDLL  # a CDLL call lets go of the GIL (a PyDLL one would not)
    jobs: list[tuple[tuple[int, int], Box]] = [((600, 450), (0, 0, 816, 612)), ((400, 400), (102, 0, 714, 612))] * 4
    alone = [ours(decode, size, box).tobytes() for size, box in jobs]

    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda job: ours(decode, *job).tobytes(), jobs))

    assert together == alone


def jpeg(name: str) -> bytes:
    """A shared photo, or jolla.jpg saved again as a grey, a CMYK or a Display P3 JPEG."""
    if name in ("grey", "cmyk", "display-p3"):
        with Image.open(PHOTOS / "jolla.jpg") as image:
            converted = image.convert({"grey": "L", "cmyk": "CMYK"}.get(name, "RGB"))
            buffer = io.BytesIO()
            profile = {"icc_profile": display_p3_profile()} if name == "display-p3" else {}
            converted.save(buffer, "JPEG", quality=90, **profile)
            return buffer.getvalue()
    return (PHOTOS / name).read_bytes()


@pytest.mark.parametrize("name", ["jolla.jpg", "canon_hdr_NO.jpg", "grey", "cmyk", "display-p3"])
def test_the_resizer_resamples_a_jpeg_with_it_and_with_pillow_without_it(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every kind of JPEG decode goes through it (CMYK made RGB first), then is turned upright (canon_hdr_NO is
    stored on its side) and converted to sRGB (Display P3: in place, on the image it wrote)."""
    data = jpeg(name)
    resample = resampler.resample
    calls: list[Image.Image | None] = []

    def spy(*args: Any) -> Image.Image | None:
        calls.append(resample(*args))
        return calls[-1]

    monkeypatch.setattr(resampler, "resample", spy)

    images = imaging.rendition_images(data)

    assert len(calls) == 2
    assert all(call is not None for call in calls)
    monkeypatch.setattr(resampler, "_library", lambda: None)
    without = imaging.rendition_images(data)  # Pillow's resampler

    for output, image in images.items():
        assert (image.mode, image.size) == (without[output].mode, without[output].size)
        diff = difference(image, without[output])
        assert diff.mean() < 0.5
        assert np.percentile(diff, 99.9) <= 4


def test_a_library_that_does_not_load_leaves_the_resampling_to_pillow(
    decode: Image.Image, unloadable_library: Callable[[ModuleType], None], caplog: pytest.LogCaptureFixture
) -> None:
    unloadable_library(resampler)

    with caplog.at_level(logging.WARNING):
        assert not resampler.available()

    assert f"{resampler.LIBRARY.name} not loaded, Pillow resamples instead" in caplog.text
    assert resampler.resample(decode, (600, 450), (0, 0, 816, 612)) is None
    assert imaging.rendition_images((PHOTOS / "jolla.jpg").read_bytes())["scaled"].size == (600, 450)


@pytest.mark.skipif(shutil.which("qemu-aarch64") is None, reason="qemu-user is not installed (.ci/run installs it)")
@pytest.mark.parametrize("channels", [4, 1])
def test_the_arm64_build_resamples_to_the_same_bytes_as_this_machines(
    decode: Image.Image, tmp_path: Path, channels: int
) -> None:
    """Lambda runs the arm64 library (NEON where this machine has SSE2), which only qemu can run here: the
    resampler built for both with `make native`'s code and flags must give the bytes of the library in this
    process (RGB as Pillow keeps it, RGBX)."""
    mode, raw = ("RGB", "RGBX") if channels == 4 else ("L", "L")
    image = decode.convert(mode)
    pixels = tmp_path / "decode.raw"
    pixels.write_bytes(image.tobytes("raw", raw))
    box, size = (102.5, 0.25, 714.5, 611.75), (400, 400)
    outputs = {}
    for machine in ("x86_64", "aarch64"):
        program = tmp_path / f"resample_file.{machine}"
        build = [sys.executable, str(NATIVE / "build_native.py"), "resampler", machine, str(program)]
        subprocess.run([*build, str(NATIVE / "resample_file.c")], check=True, capture_output=True, timeout=600)
        run = [str(program), *map(str, (image.width, image.height, channels, *box, *size))]
        if machine != os.uname().machine:
            run.insert(0, f"qemu-{machine}")
        with pixels.open("rb") as stdin:
            outputs[machine] = subprocess.run(run, stdin=stdin, check=True, capture_output=True, timeout=120).stdout

    assert outputs["aarch64"] == outputs["x86_64"] == ours(image, size, box).tobytes("raw", raw)
