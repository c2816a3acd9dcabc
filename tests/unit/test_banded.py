"""BandedResize: Pillow's resize of an image fed a band of rows at a time."""

from __future__ import annotations

import random
from collections.abc import Iterable

import numpy as np
import pytest
from PIL import Image

from happypath_workflow.banded import BandedResize

Box = tuple[float, float, float, float]
Case = tuple[Image.Image, tuple[int, int], Box, Image.Resampling, float | None]
RESAMPLERS = [
    Image.Resampling.BILINEAR,
    Image.Resampling.HAMMING,
    Image.Resampling.BICUBIC,
    Image.Resampling.LANCZOS,
]


def noise(size: tuple[int, int], mode: str = "RGB") -> Image.Image:
    generator = np.random.default_rng(size[0] * 10_000 + size[1])
    shape = (size[1], size[0], 3) if mode == "RGB" else (size[1], size[0])
    # smoothed noise: some structure for the filters to work on, and every level used
    return Image.fromarray(generator.integers(0, 256, shape, dtype=np.uint8)).resize(size, Image.Resampling.BOX)


def banded(
    image: Image.Image, size: tuple[int, int], box: Box, resample: Image.Resampling, gap: float | None,
    heights: Iterable[int],
) -> Image.Image:  # fmt: skip
    resize = BandedResize(image.size, size, box, resample, reducing_gap=gap)
    return assembled(resize, image, heights)


def assembled(resize: BandedResize, image: Image.Image, heights: Iterable[int]) -> Image.Image:
    """Feed `image` in bands of `heights` rows and paste the rows each band completes where they go."""
    result = Image.new(image.mode, resize.size)
    made_rows = 0
    top = 0
    for height in heights:
        if top >= image.height:
            break
        for first, rows in resize.feed(image.crop((0, top, image.width, min(image.height, top + height)))):
            assert first == made_rows  # in order, each once
            result.paste(rows, (0, first))
            made_rows += rows.height
        top += height
    assert resize.finished
    assert made_rows == resize.size[1]
    return result


def two_passes(
    image: Image.Image, size: tuple[int, int], box: Box, resample: Image.Resampling, gap: float | None
) -> Image.Image:
    """Pillow's resize written out: its box reduction (`reducing_gap`), then the horizontal pass over every
    row, then the vertical one. (Pillow's own call picks the order of the passes by their cost.)"""
    if gap is not None:
        factor = (int((box[2] - box[0]) / size[0] / gap) or 1, int((box[3] - box[1]) / size[1] / gap) or 1)
        if factor != (1, 1):
            reduce_box = image._get_safe_box(size, resample, box)
            image = image.reduce(factor, box=reduce_box)
            box = (
                (box[0] - reduce_box[0]) / factor[0],
                (box[1] - reduce_box[1]) / factor[1],
                (box[2] - reduce_box[0]) / factor[0],
                (box[3] - reduce_box[1]) / factor[1],
            )
    horizontal = image.resize((size[0], image.height), resample, box=(box[0], 0, box[2], image.height))
    return horizontal.resize(size, resample, box=(0, box[1], size[0], box[3]))


def random_cases(count: int, seed: int) -> list[Case]:
    rng = random.Random(seed)
    cases = []
    for _ in range(count):
        width, height = rng.randint(20, 1400), rng.randint(20, 1100)
        image = noise((width, height), rng.choice(["RGB", "L"]))
        if rng.random() < 0.3:
            box: Box = (0, 0, width, height)
        else:
            left, top = rng.uniform(0, width * 0.4), rng.uniform(0, height * 0.4)
            box = (left, top, rng.uniform(left + 1, width), rng.uniform(top + 1, height))
        size = (rng.randint(1, int((box[2] - box[0]) * 1.3) + 1), rng.randint(1, int((box[3] - box[1]) * 1.3) + 1))
        cases.append((image, size, box, rng.choice(RESAMPLERS), rng.choice([None, 1.9, 3.0])))
    return cases


@pytest.mark.parametrize("case", random_cases(40, seed=1), ids=lambda case: f"{case[0].size}->{case[1]}")
def test_a_banded_resize_is_pillows_two_passes(
    case: Case,
) -> None:
    image, size, box, resample, gap = case
    expected = np.asarray(two_passes(image, size, box, resample, gap), np.int16)
    rng = random.Random(size[0])
    heights = [rng.randint(1, 300) for _ in range(image.height)]  # more than enough: the last ones are empty
    result = np.asarray(banded(image, size, box, resample, gap, heights), np.int16)
    assert result.shape == expected.shape
    difference = np.abs(result - expected)
    # Pillow takes the box as 32-bit floats: moved to each window of rows it rounds differently, which can
    # move a weight's last bit and a pixel by one level
    assert difference.max() <= 1
    assert np.count_nonzero(difference) <= max(2, difference.size // 100)


@pytest.mark.parametrize(
    ("source", "size", "box", "heights"),
    [
        ((2016, 1512), (400, 400), (252.0, 0.0, 1764.0, 1512.0), [256] * 6),  # the 12 MP HEIC's tile
        ((2016, 1512), (800, 600), (0.0, 0.0, 2016.0, 1512.0), [256] * 6),  # its scaled image, stored sideways
        ((1420, 1180), (600, 499), (0.0, 0.0, 1420.0, 1180.0), [37] * 32),  # a cropped HEIF's, fractional scale
        ((1420, 1180), (400, 400), (210.5, 0.0, 1199.5, 1180.0), [37] * 32),  # its tile: a fractional box
        ((1200, 1600), (600, 800), (0.0, 0.0, 1200.0, 1600.0), [21] * 77),  # a PNG's strips
        ((3000, 1000), (400, 400), (1000.0, 0.0, 2000.0, 1000.0), [64] * 16),  # a panorama: box-reduced first
    ],
)
def test_a_downscale_is_pillows_own_resize_up_to_rounding(
    source: tuple[int, int], size: tuple[int, int], box: Box, heights: list[int]
) -> None:
    """Against Pillow's own call (which takes the horizontal pass first here, as both sides shrink alike)."""
    image = noise(source)
    expected = image.resize(size, Image.Resampling.BICUBIC, box=box, reducing_gap=1.9)
    result = banded(image, size, box, Image.Resampling.BICUBIC, 1.9, heights)
    difference = np.abs(np.asarray(result, np.int16) - np.asarray(expected, np.int16))
    assert difference.max() <= 1
    assert np.count_nonzero(difference) < difference.size // 100


@pytest.mark.parametrize("case", random_cases(12, seed=2), ids=lambda case: f"{case[0].size}->{case[1]}")
def test_the_result_does_not_depend_on_how_the_image_is_cut_into_bands(
    case: Case,
) -> None:
    image, size, box, resample, gap = case
    whole = banded(image, size, box, resample, gap, [image.height])
    rng = random.Random(image.width)
    for heights in ([1] * image.height, [rng.randint(1, 97) for _ in range(image.height)], [7, image.height]):
        assert banded(image, size, box, resample, gap, heights).tobytes() == whole.tobytes()


def test_only_a_few_rows_are_held_between_bands() -> None:
    image = noise((2016, 1512))
    resize = BandedResize(image.size, (800, 600), (0, 0, 2016, 1512), Image.Resampling.BICUBIC, reducing_gap=1.9)
    for top in range(0, 1512, 256):
        resize.feed(image.crop((0, top, 2016, min(1512, top + 256))))
        held = resize._rows.height if resize._rows is not None else 0
        assert held < 256 + 40  # the last band's rows and what the next chunk's window reaches back for
    assert resize.finished


def test_rows_past_the_image_a_box_outside_it_and_a_discontinuous_filter_are_refused() -> None:
    image = noise((300, 200))
    resize = BandedResize(image.size, (100, 50), (0, 0, 300, 200), Image.Resampling.BICUBIC)
    made = resize.feed(image.crop((0, 0, 300, 150)))
    assert not resize.finished
    assert sum(rows.height for _, rows in made) < 50
    with pytest.raises(ValueError, match="past the 200 rows"):
        resize.feed(image.crop((0, 0, 300, 51)))
    made += resize.feed(image.crop((0, 150, 300, 200)))
    assert resize.finished
    assert [first for first, _ in made] == list(range(0, 50, 32))
    with pytest.raises(ValueError, match="not inside"):
        BandedResize(image.size, (100, 50), (0, 0, 301, 200), Image.Resampling.BICUBIC)
    with pytest.raises(ValueError, match="BOX is not a filter"):
        BandedResize(image.size, (100, 50), (0, 0, 300, 200), Image.Resampling.BOX)
