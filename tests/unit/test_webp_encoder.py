"""The renditions' WebP encoder: libwebp 1.5.0 with the pruned rate-distortion search (webp_encoder.py).

Its speed and its sizes against sharp's are the benchmark's (bench/README.md); these tests keep what it writes
correct, and show that the patch is what runs: files between libwebp's method 2 and full method 3.
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

import numpy as np
import pytest
from PIL import Image

from happypath import limits
from happypath_workflow import imaging, webp_encoder

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "workflows" / "native"
PHOTOS = ROOT.parent / "shared" / "photos"

pytestmark = pytest.mark.skipif(not webp_encoder.available(), reason="run `make native` first")


@pytest.fixture(scope="module")
def jolla() -> dict[str, Image.Image]:
    """The photo whose WebPs libwebp's method 2 made larger than sharp's, as the resizer has it before encoding."""
    return imaging.rendition_images((PHOTOS / "jolla.jpg").read_bytes())


def pillow_webp(image: Image.Image, method: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=limits.WEBP_QUALITY, method=method)
    return buffer.getvalue()


def decoded(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "WEBP"
        return image.convert("RGB")


def psnr(original: Image.Image, data: bytes) -> float:
    error = np.asarray(original, dtype=np.float64) - np.asarray(decoded(data), dtype=np.float64)
    return float(10 * np.log10(255**2 / np.mean(error**2)))


def test_a_rendition_is_a_lossy_webp_holding_its_frame_and_nothing_else(jolla: dict[str, Image.Image]) -> None:
    tile = jolla["tile"]

    data = webp_encoder.encode(tile, limits.WEBP_QUALITY)

    assert data is not None
    assert data[:4] == b"RIFF"
    assert data[8:16] == b"WEBPVP8 "  # the simple format: no VP8X chunk, so no EXIF, ICC or XMP either
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    frame = int.from_bytes(data[16:20], "little")
    assert 20 + frame + (frame & 1) == len(data)  # one chunk
    assert decoded(data).size == tile.size
    assert psnr(tile, data) > 32


def test_the_pruned_search_writes_files_between_libwebps_methods_2_and_3(jolla: dict[str, Image.Image]) -> None:
    """Smaller than method 2's, at a higher PSNR, and larger than the full method 3's: the patch is what runs
    (unpatched, this build writes Pillow's bytes at method 3 as it does at the others, below)."""
    for image in jolla.values():
        ours = webp_encoder.encode(image, limits.WEBP_QUALITY)
        method_2, method_3 = pillow_webp(image, 2), pillow_webp(image, 3)

        assert ours is not None
        assert len(method_3) < len(ours) < len(method_2)
        assert psnr(image, ours) > psnr(image, method_2)


@pytest.mark.parametrize("method", [0, 1, 2, 4, 5, 6])
def test_at_every_other_method_this_build_writes_what_pillows_libwebp_writes(
    jolla: dict[str, Image.Image], method: int
) -> None:
    """The patch touches method 3 only; the rest is libwebp as released (1.5.0 here, 1.6.0 in Pillow's wheel: the
    same bytes), so the build, its flags and the call are checked against an independent build."""
    for image in jolla.values():
        assert webp_encoder.encode(image, limits.WEBP_QUALITY, method=method) == pillow_webp(image, method)


def test_a_grey_image_comes_out_grey(jolla: dict[str, Image.Image]) -> None:
    grey = jolla["tile"].convert("L")

    data = webp_encoder.encode(grey, 80)

    assert data is not None
    pixels = np.asarray(decoded(data), dtype=np.int16)
    assert np.abs(pixels - pixels[..., :1]).max() <= 3  # R = G = B, within the chroma's rounding
    assert np.abs(pixels[..., 0] - np.asarray(grey, dtype=np.int16)).mean() < 3


@pytest.mark.parametrize("size", [(1, 1), (17, 1), (1, 17), (37, 23), (257, 129)])
def test_sizes_that_are_not_whole_macroblocks_encode_and_decode(
    jolla: dict[str, Image.Image], size: tuple[int, int]
) -> None:
    """The encoder works in 16x16 macroblocks: edges that cut one are padded, and must be cut off again."""
    image = jolla["scaled"].crop((100, 100, 100 + size[0], 100 + size[1]))

    data = webp_encoder.encode(image, limits.WEBP_QUALITY)

    assert data is not None
    assert decoded(data).size == size
    if size[0] * size[1] > 64:  # a PSNR says little of a handful of pixels
        assert psnr(image, data) > psnr(image, pillow_webp(image, 2)) - 0.5


def test_two_threads_encode_at_once_with_the_same_results(jolla: dict[str, Image.Image]) -> None:
    assert type(webp_encoder._library()) is ctypes.CDLL  # a CDLL call lets go of the GIL (a PyDLL one would not)
    images = list(jolla.values()) * 4
    alone = [webp_encoder.encode(image, 80) for image in images]

    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(lambda image: webp_encoder.encode(image, 80), images))

    assert together == alone


def test_an_image_libwebp_refuses_is_an_error_with_libwebps_code() -> None:
    too_wide = Image.new("RGB", (16_384, 1))  # WebP's limit is 16,383 px a side

    with pytest.raises(OSError, match=r"16384x1 image \(error 5\)"):  # VP8_ENC_ERROR_BAD_DIMENSION
        webp_encoder.encode(too_wide, 80)


def test_the_resizer_writes_its_webps_with_it_and_with_pillows_libwebp_without_it(
    jolla: dict[str, Image.Image], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (PHOTOS / "jolla.jpg").read_bytes()

    renditions = imaging.render(data, workers=2)
    for name, image in jolla.items():
        assert renditions[name].webp == webp_encoder.encode(image, limits.WEBP_QUALITY)
    monkeypatch.setattr(webp_encoder, "_library", lambda: None)
    without = imaging.render(data, workers=1)

    for name, image in jolla.items():
        assert without[name].webp == pillow_webp(image, imaging.WEBP_FALLBACK_METHOD)
        assert without[name].jpeg == renditions[name].jpeg


def test_a_library_that_does_not_load_leaves_the_encoding_to_pillow(
    jolla: dict[str, Image.Image], unloadable_library: Callable[[ModuleType], None], caplog: pytest.LogCaptureFixture
) -> None:
    unloadable_library(webp_encoder)

    with caplog.at_level(logging.WARNING):
        assert not webp_encoder.available()

    assert f"{webp_encoder.LIBRARY.name} not loaded, Pillow's libwebp encodes WebPs instead" in caplog.text
    assert webp_encoder.encode(jolla["tile"], 80) is None
    rendered = imaging.render((PHOTOS / "jolla.jpg").read_bytes())["tile"]
    assert rendered.webp == pillow_webp(jolla["tile"], imaging.WEBP_FALLBACK_METHOD)


@pytest.mark.skipif(shutil.which("qemu-aarch64") is None, reason="qemu-user is not installed (.ci/run installs it)")
def test_the_arm64_build_writes_the_same_files_as_this_machines(jolla: dict[str, Image.Image], tmp_path: Path) -> None:
    """Lambda runs the arm64 library (NEON where this machine has SSE), which only qemu can run here: the encoder
    built for both with `make native`'s code and flags must write the same bytes as the library in this process."""
    scaled = jolla["scaled"]
    pixels = tmp_path / "scaled.rgb"
    pixels.write_bytes(scaled.tobytes())
    files = {}
    for machine in ("x86_64", "aarch64"):
        program = tmp_path / f"encode_file.{machine}"
        build = [
            sys.executable,
            str(NATIVE / "build_native.py"),
            "webp_encoder",
            machine,
            str(program),
            str(NATIVE / "encode_file.c"),
        ]
        subprocess.run(build, check=True, capture_output=True, timeout=600)
        run = [str(program), str(scaled.width), str(scaled.height), "80"]
        if machine != os.uname().machine:
            run.insert(0, f"qemu-{machine}")
        with pixels.open("rb") as stdin:
            files[machine] = subprocess.run(run, stdin=stdin, check=True, capture_output=True, timeout=120).stdout

    assert files["aarch64"] == files["x86_64"] == webp_encoder.encode(scaled, 80)
