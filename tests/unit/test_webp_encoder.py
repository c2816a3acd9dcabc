"""The renditions' WebP encoder: libwebp 1.5.0 with the pruned rate-distortion search (webp_encoder.py).

Its speed and its sizes against sharp's are the benchmark's (bench/README.md); these tests keep what it writes
correct, and show that the patch is what runs: files between libwebp's method 2 and full method 3.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
    (Pillow's libwebp 1.6.0 writes the same files as this build's 1.5.0 at methods 2 and 3 unpatched)."""
    for image in jolla.values():
        ours = webp_encoder.encode(image, limits.WEBP_QUALITY)
        method_2, method_3 = pillow_webp(image, 2), pillow_webp(image, 3)

        assert ours is not None
        assert len(method_3) < len(ours) < len(method_2)
        assert psnr(image, ours) > psnr(image, method_2)


def test_grey_images_are_encoded_as_their_colour_forms_are(jolla: dict[str, Image.Image]) -> None:
    grey = jolla["tile"].convert("L")

    assert webp_encoder.encode(grey, 80) == webp_encoder.encode(grey.convert("RGB"), 80)


def test_two_threads_encode_at_once_with_the_same_results(jolla: dict[str, Image.Image]) -> None:
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
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    not_a_library = tmp_path / "_webp_encoder.so.1"
    not_a_library.write_bytes(b"\x7fELF built for something else")
    monkeypatch.setattr(webp_encoder, "LIBRARY", not_a_library)
    webp_encoder._library.cache_clear()
    try:
        with caplog.at_level(logging.WARNING):
            assert not webp_encoder.available()
        assert "_webp_encoder.so.1 not loaded, Pillow's libwebp encodes WebPs instead" in caplog.text
        tile = Image.new("RGB", (400, 400), "olive")
        assert webp_encoder.encode(tile, 80) is None
        assert imaging.render((PHOTOS / "jolla.jpg").read_bytes())["tile"].webp[8:16] == b"WEBPVP8 "
    finally:
        webp_encoder._library.cache_clear()


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
            str(NATIVE / "build_webp_encoder.py"),
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
