"""The progressive JPEG decoder (workflows/native/progressive_jpeg.c through `progressive_jpeg`), against libjpeg.

Exactness is checked where the two compute the same thing: at 1/8 scale a block's one pixel is its DC
coefficient in both, and at full size both apply the 8x8 inverse DCT to every coefficient (libjpeg in
integers, so within a level or two). At 1/2 and 1/4 the two keep different frequencies (libjpeg's reduced
inverse DCTs take some of the higher ones too), so there the images are compared as close, not equal: a
wrongly decoded coefficient would show as a block tens of levels off.
"""

from __future__ import annotations

import ctypes
import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
import simplejpeg
from PIL import Image

from happypath.statuses import RejectionReason
from happypath_workflow import imaging, progressive_jpeg
from happypath_workflow.imaging import ImageRejected
from happypath_workflow.progressive_jpeg import ProgressiveDamaged, ReducedJpeg, open_reduced

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "photos"

pytestmark = pytest.mark.skipif(not progressive_jpeg.available(), reason="run `make native` first")


def photo_like(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    with Image.open(PHOTOS / "Reconyx_HC500_Hyperfire.jpg") as source:
        source.draft("RGB", size)
        return source.convert("RGB").resize(size, Image.Resampling.BILINEAR).convert(mode)


def jpeg(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", **{"quality": 90, "progressive": True, **params})
    return buffer.getvalue()


def assembled_planes(reduced: ReducedJpeg) -> list[Image.Image]:
    """The bands put together, a plane per component."""
    planes = [Image.new("L", reduced.size) for _ in range(reduced.components)]
    top = 0
    for band in reduced.bands():
        assert len(band) == reduced.components
        for plane, rows in zip(planes, band, strict=True):
            assert rows.width == reduced.size[0]
            plane.paste(rows, (0, top))
        top += band[0].height
    assert top == reduced.size[1]
    return planes


def assembled(reduced: ReducedJpeg) -> Image.Image:
    """The bands put together, as RGB (or L for grey)."""
    planes = assembled_planes(reduced)
    return Image.merge("YCbCr", planes).convert("RGB") if reduced.components == 3 else planes[0]


def libjpeg(data: bytes, reduction: int) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.draft(image.mode, (image.width // reduction, image.height // reduction))
    image.load()
    return image


def differences(ours: Image.Image, theirs: Image.Image) -> np.ndarray:
    assert ours.size == theirs.size
    return np.abs(np.asarray(ours, dtype=np.int16) - np.asarray(theirs.convert(ours.mode), dtype=np.int16))


def psnr(difference: np.ndarray) -> float:
    mse = float(np.mean(difference.astype(np.float64) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.mark.parametrize("restarts", [0, 3])
@pytest.mark.parametrize("size", [(640, 480), (1001, 777)])
def test_at_one_eighth_each_pixel_is_the_blocks_dc_value_exactly_as_libjpeg_gives_it(
    size: tuple[int, int], restarts: int
) -> None:
    data = jpeg(photo_like(size, "L"), restart_marker_blocks=restarts)
    reduced = open_reduced(data, 8)

    assert reduced is not None
    assert reduced.size == (-(-size[0] // 8), -(-size[1] // 8))
    assert differences(assembled(reduced), libjpeg(data, 8)).max() == 0


@pytest.mark.parametrize("quality", [50, 95])
def test_at_full_size_every_coefficient_decodes_as_libjpeg_decodes_it(quality: int) -> None:
    data = jpeg(photo_like((1001, 777), "L"), quality=quality)
    reduced = open_reduced(data, 1)

    assert reduced is not None
    difference = differences(assembled(reduced), libjpeg(data, 1))
    assert difference.max() <= 2  # libjpeg's integer inverse DCT against this float one
    assert difference.mean() < 0.1


@pytest.mark.parametrize("subsampling", [0, 1, 2], ids=["4:4:4", "4:2:2", "4:2:0"])
@pytest.mark.parametrize("reduction", [2, 4, 8])
def test_colour_photos_at_reduced_scales_are_what_libjpeg_makes_of_them(subsampling: int, reduction: int) -> None:
    data = jpeg(photo_like((1001, 777)), subsampling=subsampling, restart_marker_blocks=2)
    reduced = open_reduced(data, reduction)

    assert reduced is not None
    assert reduced.components == 3
    ours, theirs = assembled(reduced), libjpeg(data, reduction)
    assert ours.size == theirs.size
    # Different reduced inverse DCTs (and libjpeg's "fancy" chroma upsampling): a few levels at edges, no more.
    assert psnr(differences(ours, theirs)) > 36


def test_bands_are_whole_mcu_rows_and_cover_the_image() -> None:
    data = jpeg(photo_like((1001, 777)), subsampling=2)
    reduced = open_reduced(data, 4)

    assert reduced is not None
    heights = [band[0].height for band in reduced.bands(rows=20)]
    assert heights[:-1] == [20] * (len(heights) - 1)  # an MCU row is 16 rows, 4 at 1/4: five of them
    assert sum(heights) == reduced.size[1] == 195


def test_what_it_does_not_take_is_left_to_libjpeg() -> None:
    photo = photo_like((640, 480))
    assert open_reduced(jpeg(photo, progressive=False), 4) is None  # baseline
    assert open_reduced(jpeg(photo.convert("CMYK")), 4) is None
    assert open_reduced(jpeg(photo), 3) is None  # no such DCT scale


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda data: data[: len(data) // 2] + b"\xff\xd9", id="cut-short"),
        pytest.param(lambda data: data[: len(data) // 2], id="no-end-marker"),
        pytest.param(lambda data: data.replace(b"\xff\xd3", b"\xff\xd5", 1), id="restart-out-of-order"),
        pytest.param(lambda data: data.replace(b"\xff\xc4", b"\xff\xfe", 1), id="huffman-table-missing"),
    ],
)
def test_damaged_data_is_an_error_never_a_guess(damage: object) -> None:
    data = jpeg(photo_like((1001, 777)), restart_marker_blocks=2)
    damaged = damage(data)  # type: ignore[operator]

    with pytest.raises(ProgressiveDamaged):
        open_reduced(damaged, 4)


_MARKER_AFTER_SCAN = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")


def segments(data: bytes) -> list[tuple[int, bytes]]:
    """A JPEG's markers after SOI, each with what follows it up to the next one (a scan: its data too)."""
    found, pos = [], 2
    while data[pos + 1] != 0xD9:
        marker, pos = data[pos + 1], pos + 2
        end = pos + int.from_bytes(data[pos : pos + 2], "big")
        if marker == 0xDA:
            match = _MARKER_AFTER_SCAN.search(data, end)
            assert match is not None
            end = match.start()
        found.append((marker, data[pos:end]))
        pos = end
    return found


def joined(found: list[tuple[int, bytes]]) -> bytes:
    return b"\xff\xd8" + b"".join(b"\xff" + bytes([marker]) + body for marker, body in found) + b"\xff\xd9"


def _fill_byte_before_a_stuffed_zero(found: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    index = next(i for i, (marker, _) in enumerate(found) if marker == 0xDA)
    body = found[index][1]
    at = body.index(b"\xff\x00", int.from_bytes(body[:2], "big"))
    return [*found[:index], (0xDA, body[:at] + b"\xff" + body[at:]), *found[index + 1 :]]


def _unused_table_selectors_out_of_range(found: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    changed = []
    for marker, body in found:
        if marker == 0xDA:
            header = bytearray(body)
            count, spectral_start = header[2], header[3 + 2 * header[2]]
            for i in range(count):  # a DC scan does not read its AC selector, an AC scan its DC one
                selectors = header[4 + 2 * i]
                header[4 + 2 * i] = (selectors & 0xF0) | 0x0F if spectral_start == 0 else 0xF0 | (selectors & 0x0F)
            body = bytes(header)
        changed.append((marker, body))
    return changed


def _unused_bad_huffman_table(found: list[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
    # AC table 3, which no scan uses: two 1-bit codes (the second one is all ones, which JPEG reserves)
    table = bytes([0x13, 2, *[0] * 15, 0x01, 0x02])
    index = next(i for i, (marker, _) in enumerate(found) if marker == 0xDA)
    return [*found[:index], (0xC4, (2 + len(table)).to_bytes(2, "big") + table), *found[index:]]


@pytest.mark.parametrize(
    "variation",
    [_fill_byte_before_a_stuffed_zero, _unused_table_selectors_out_of_range, _unused_bad_huffman_table],
    ids=["fill-byte-before-a-stuffed-zero", "unused-table-selectors-15", "unused-bad-huffman-table"],
)
def test_what_libjpeg_decodes_without_a_warning_decodes_the_same(variation: Any) -> None:
    data = jpeg(photo_like((1001, 777)), subsampling=2)
    varied = joined(variation(segments(data)))
    assert varied != data
    simplejpeg.decode_jpeg(varied, strict=True)  # libjpeg takes it without a warning: so does the check step

    original, decoded = open_reduced(data, 4), open_reduced(varied, 4)

    assert original is not None
    assert decoded is not None
    assert assembled(decoded).tobytes() == assembled(original).tobytes()


def test_an_adobe_marker_after_the_frame_header_still_says_rgb() -> None:
    """libjpeg reads the colour markers up to the first scan: RGB stays RGB, left to libjpeg."""
    rgb = jpeg(photo_like((640, 480)), keep_rgb=True)
    found = segments(rgb)
    adobe = [segment for segment in found if segment[0] == 0xEE]
    assert adobe
    moved: list[tuple[int, bytes]] = []
    for marker, body in found:
        if marker == 0xEE:
            continue
        moved.append((marker, body))
        if marker == 0xC2:
            moved += adobe

    assert open_reduced(joined(moved), 4) is None
    assert open_reduced(jpeg(photo_like((640, 480))), 4) is not None  # YCbCr (JFIF)


def test_decoding_other_data_than_the_header_was_read_from_is_refused() -> None:
    """pj_decode checks the frame against pj_header's: the caller's arrays are sized for that one."""
    library = progressive_jpeg._library()
    assert library is not None
    small, large = jpeg(photo_like((640, 480))), jpeg(photo_like((1001, 777)))
    image = progressive_jpeg._Image()
    assert library.pj_header(ctypes.byref(image), small, len(small)) == 0
    arrays = []
    for c in range(image.components):
        image.kx[c] = image.ky[c] = 1
        blocks = image.blocks_w[c] * image.blocks_h[c]
        arrays += [(ctypes.c_int16 * blocks)(), (ctypes.c_uint64 * blocks)()]
        image.coef[c], image.nonzero[c] = ctypes.addressof(arrays[-2]), ctypes.addressof(arrays[-1])

    assert library.pj_decode(ctypes.byref(image), large, len(large)) == 2  # PJ_UNSUPPORTED
    assert image.error == b"not the frame pj_header read"
    assert library.pj_decode(ctypes.byref(image), small, len(small)) == 0


def test_two_threads_decode_at_once_with_the_same_results() -> None:
    data = [jpeg(photo_like((1001, 777)), subsampling=s) for s in (0, 2)]
    expected = [assembled(r).tobytes() for r in (open_reduced(d, 4) for d in data) if r is not None]
    results: list[list[bytes]] = [[], []]

    def decode(index: int) -> None:
        for _ in range(5):
            reduced = open_reduced(data[index], 4)
            assert reduced is not None
            results[index].append(assembled(reduced).tobytes())

    threads = [threading.Thread(target=decode, args=(i,)) for i in (0, 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[expected[0]] * 5, [expected[1]] * 5]


def test_random_damage_never_crashes_the_process() -> None:
    """Thousands of mutated files, in a child process (a crash there fails this test instead of the run):
    each one decodes or is refused as damaged."""
    script = """
import io, json, random, sys
from PIL import Image
from happypath_workflow.progressive_jpeg import ProgressiveDamaged, open_reduced
with Image.open(sys.argv[1]) as source:
    source.draft("RGB", (300, 200))
    photo = source.convert("RGB").resize((300, 200))
seeds = []
for params in ({"subsampling": 2}, {"subsampling": 0, "restart_marker_blocks": 1}, {"subsampling": 1}):
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", quality=85, progressive=True, **params)
    seeds.append(buffer.getvalue())
rng = random.Random(5)
outcomes = {"decoded": 0, "damaged": 0, "not taken": 0}
for _ in range(3000):
    data = bytearray(rng.choice(seeds))
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        choice = rng.random()
        if choice < 0.6:
            data[at] = rng.randrange(256)
        elif choice < 0.8:
            del data[at : at + rng.randint(1, 64)]
        else:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    try:
        reduced = open_reduced(bytes(data), rng.choice((2, 4, 8)))
    except ProgressiveDamaged:
        outcomes["damaged"] += 1
        continue
    if reduced is None:
        outcomes["not taken"] += 1
        continue
    for _ in reduced.bands():
        pass
    outcomes["decoded"] += 1
print(json.dumps(outcomes))
"""
    completed = subprocess.run(
        [sys.executable, "-c", script, str(PHOTOS / "Reconyx_HC500_Hyperfire.jpg")],
        capture_output=True,
        text=True,
        timeout=300,
    )

    assert completed.returncode == 0, completed.stderr
    outcomes = json.loads(completed.stdout)
    assert outcomes["decoded"] > 100, outcomes
    assert outcomes["damaged"] > 100, outcomes


# --- in the resizer ---------------------------------------------------------------------------------------


def test_the_resizer_decodes_a_large_progressive_jpeg_with_it_and_a_baseline_one_without(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    photo = photo_like((2000, 1500))
    calls: list[int] = []
    original = progressive_jpeg.open_reduced

    def counted(data: bytes, reduction: int) -> ReducedJpeg | None:
        calls.append(reduction)
        return original(data, reduction)

    monkeypatch.setattr(progressive_jpeg, "open_reduced", counted)
    progressive = imaging.rendition_images(jpeg(photo))
    assert calls == [2]
    baseline = imaging.rendition_images(jpeg(photo, progressive=False))
    assert calls == [2]

    for name in ("tile", "scaled"):
        assert progressive[name].size == baseline[name].size
        # The same coefficients, decoded by each: the outputs differ only by the scaled inverse DCTs.
        assert psnr(differences(progressive[name], baseline[name])) > 38


@pytest.mark.parametrize(("mode", "orientation"), [("L", 1), ("RGB", 6)], ids=["grey", "exif-orientation-6"])
def test_grey_and_turned_progressive_jpegs_come_out_as_their_baseline_forms_do(mode: str, orientation: int) -> None:
    photo = photo_like((2000, 1500), mode)
    exif = Image.Exif()
    exif[0x0112] = orientation
    progressive = imaging.rendition_images(jpeg(photo, exif=exif.tobytes()))
    baseline = imaging.rendition_images(jpeg(photo, exif=exif.tobytes(), progressive=False))

    assert progressive["scaled"].size == baseline["scaled"].size == ((600, 800) if orientation == 6 else (600, 450))
    for name in ("tile", "scaled"):
        assert progressive[name].mode == baseline[name].mode
        assert psnr(differences(progressive[name], baseline[name])) > 38


def test_the_resizer_still_decodes_progressive_jpegs_without_the_library(monkeypatch: pytest.MonkeyPatch) -> None:
    data = jpeg(photo_like((2000, 1500)))
    with_library = imaging.rendition_images(data)
    monkeypatch.setattr(progressive_jpeg, "_library", lambda: None)

    without = imaging.rendition_images(data)

    assert psnr(differences(with_library["scaled"], without["scaled"])) > 38


def test_a_library_that_does_not_load_leaves_the_decoding_to_libjpeg(
    unloadable_library: Callable[[ModuleType], None],
) -> None:
    unloadable_library(progressive_jpeg)

    assert not progressive_jpeg.available()
    assert imaging.rendition_images(jpeg(photo_like((2000, 1500))))["scaled"].size == (600, 450)


def test_the_resizer_rejects_a_damaged_progressive_jpeg_as_damaged() -> None:
    data = jpeg(photo_like((2000, 1500)))
    cut = data[: len(data) * 2 // 3] + b"\xff\xd9"

    with pytest.raises(ImageRejected) as raised:
        imaging.render(cut)

    assert raised.value.reason == RejectionReason.DAMAGED


# --- on arm64 ---------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
NATIVE = ROOT / "workflows" / "native"


@pytest.mark.skipif(shutil.which("qemu-aarch64") is None, reason="qemu-user is not installed (.ci/run installs it)")
def test_the_arm64_build_decodes_to_the_same_pixels_as_this_machines(tmp_path: Path) -> None:
    """Lambda runs the arm64 library, which only qemu can run here: the decoder built for both (static, with
    `make native`'s code and flags) must give the same bytes, and those must be what the library gives this
    process."""
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg(photo_like((1001, 777)), subsampling=2, restart_marker_blocks=2))
    planes = {}
    for machine in ("x86_64", "aarch64"):
        program = tmp_path / f"decode_file.{machine}"
        build = [sys.executable, str(NATIVE / "build_native.py"), "progressive_jpeg", machine, str(program)]
        subprocess.run([*build, str(NATIVE / "decode_file.c")], check=True, capture_output=True, timeout=300)
        run = [str(program), str(photo), "4"]
        if machine != os.uname().machine:
            run.insert(0, f"qemu-{machine}")
        planes[machine] = subprocess.run(run, check=True, capture_output=True, timeout=120).stdout

    assert planes["aarch64"] == planes["x86_64"]
    reduced = open_reduced(photo.read_bytes(), 4)
    assert reduced is not None
    stride = -(-1001 // 16) * 16 // 4  # whole MCUs (16 px at 4:2:0), at 1/4
    rows = len(planes["x86_64"]) // 3 // stride
    whole = [Image.frombytes("L", (stride, rows), planes["x86_64"][i * stride * rows : (i + 1) * stride * rows])
             for i in range(3)]  # fmt: skip
    for plane, ours in zip(whole, assembled_planes(reduced), strict=True):
        assert plane.crop((0, 0, *reduced.size)).tobytes() == ours.tobytes()
