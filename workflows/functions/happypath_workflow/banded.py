"""Pillow's `resize` of an image that arrives a band of rows at a time, top to bottom, and is never whole.

HEIF tiles and PNG strips are decoded a band at a time. Resizing them with Pillow meant pasting every band
into the reduced image first: 12 MB for a 12 MP HEIC (Pillow keeps RGB in 4 bytes a pixel), plus the first
resampling pass over it. Resampling is separable: a horizontal pass, then a vertical one, each rounded to 8
bits, and an output row depends only on a window of input rows. So each band goes through the horizontal
pass as it comes, and each chunk of output rows is made by the vertical pass as soon as its window of rows
is in: only a band and a few dozen resampled rows are held at a time.

The result is Pillow's `resize(size, resample, box, reducing_gap)` done horizontal pass first (its box
reduction included): the same windows and weights, computed by Pillow itself on each part. (Pillow's own call
may take the vertical pass first when that costs less: a different rounding, as good.) Pillow takes the box
as 32-bit floats, and moved to a window of rows it rounds differently: a weight's last bit can move a pixel
by one level (under 1% of them). Each chunk is cut from exactly its window, so the result does not depend on
how the image was cut into bands.
"""

from __future__ import annotations

import math
from typing import Final

from PIL import Image

__all__ = ["BandedResize"]

_SUPPORT: Final[dict[Image.Resampling, float]] = {
    Image.Resampling.BILINEAR: 1.0,
    Image.Resampling.HAMMING: 1.0,
    Image.Resampling.BICUBIC: 2.0,
    Image.Resampling.LANCZOS: 3.0,
}
"""Each filter's support radius, as Pillow's resampler (Resample.c) and `Image._get_safe_box` define it. Not BOX:
its weights jump from 1 to 0, so the last-bit difference a moved box makes can swap a whole source row."""
CHUNK_ROWS: Final = 32
"""Output rows made by one vertical pass (a Pillow call over their window of rows)."""


class BandedResize:
    """Resize `source_size` to `size` from `box` (floats, in source pixels), fed full-width bands of rows in
    order (`feed`, which returns the output rows each band completes, for the caller to paste where they go:
    a caller resizing planes makes RGB of them first). Modes RGB and L (any mode
    `reduce` and `resize` treat per channel, without premultiplied alpha)."""

    def __init__(
        self,
        source_size: tuple[int, int],
        size: tuple[int, int],
        box: tuple[float, float, float, float],
        resample: Image.Resampling,
        reducing_gap: float | None = None,
    ) -> None:
        width, height = source_size
        if resample not in _SUPPORT:
            raise ValueError(f"{resample.name} is not a filter a banded resize can reproduce")
        if not (0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height):
            raise ValueError(f"the box {box} is not inside the {width}x{height} image")
        self.size = size
        self._resample = resample
        self._source_height = height
        self._fed = 0  # source rows fed so far

        # Pillow's box reduction first (`Image.resize` with `reducing_gap`): blocks counted from the top
        # left of a box widened by the filter's support, the last ones partial.
        factor = (1, 1)
        if reducing_gap is not None:
            factor = (
                int((box[2] - box[0]) / size[0] / reducing_gap) or 1,
                int((box[3] - box[1]) / size[1] / reducing_gap) or 1,
            )
        if factor != (1, 1):
            support = _SUPPORT[resample] - 0.5
            support_x, support_y = support * (box[2] - box[0]) / size[0], support * (box[3] - box[1]) / size[1]
            reduce_box = (
                max(0, int(box[0] - support_x)),
                max(0, int(box[1] - support_y)),
                min(width, math.ceil(box[2] + support_x)),
                min(height, math.ceil(box[3] + support_y)),
            )
            box = (
                (box[0] - reduce_box[0]) / factor[0],
                (box[1] - reduce_box[1]) / factor[1],
                (box[2] - reduce_box[0]) / factor[0],
                (box[3] - reduce_box[1]) / factor[1],
            )
        else:
            reduce_box = (0, 0, width, height)
        self._factor = factor
        self._reduce_box = reduce_box
        self._pending: Image.Image | None = None  # source rows of an unfinished block of `factor[1]` rows
        self._box = box
        reduced_height = -(-(reduce_box[3] - reduce_box[1]) // factor[1])

        # Each output row's window of (reduced) input rows, as Pillow's `precompute_coeffs` finds it.
        scale = (box[3] - box[1]) / size[1]
        reach = _SUPPORT[resample] * max(scale, 1.0)
        centres = [box[1] + (row + 0.5) * scale for row in range(size[1])]
        self._scale = scale
        # With a support of a pixel or more (see _SUPPORT), each window covers its output row's box.
        self._first_row = [max(int(centre - reach + 0.5), 0) for centre in centres]
        self._end_row = [min(int(centre + reach + 0.5), reduced_height) for centre in centres]

        self._rows: Image.Image | None = None  # horizontally resampled rows [_rows_top, _rows_top + height)
        self._rows_top = 0
        self._reduced = 0  # reduced rows made so far
        self._made = 0  # output rows made so far

    def feed(self, band: Image.Image) -> list[tuple[int, Image.Image]]:
        """The next `band.height` rows of the source, full width; returns the output rows this completed, as
        (first row, rows) chunks in order."""
        top = self._fed
        if band.height == 0:
            return []
        if top + band.height > self._source_height:
            raise ValueError(f"rows past the {self._source_height} rows of the image")
        self._fed += band.height
        _, reduce_top, _, reduce_bottom = self._reduce_box
        start, stop = max(top, reduce_top), min(top + band.height, reduce_bottom)
        if start >= stop:
            return []
        if (start, stop) != (top, top + band.height):
            band = band.crop((0, start - top, band.width, stop - top))
        if self._factor == (1, 1):
            return self._take(band)
        # Box-reduce whole blocks of rows, keeping a partial one for the next band (or the end of the box).
        if self._pending is not None:
            band = _stacked(self._pending, band)
            self._pending = None
        block = self._factor[1]
        whole = band.height - band.height % block if stop < reduce_bottom else band.height
        if whole < band.height:
            self._pending = band.crop((0, whole, band.width, band.height))
        if not whole:
            return []
        left, _, right, _ = self._reduce_box
        return self._take(band.reduce(self._factor, box=(left, 0, right, whole)))

    @property
    def finished(self) -> bool:
        """Every row fed and every output row made."""
        return self._fed == self._source_height and self._made == self.size[1]

    def _take(self, reduced: Image.Image) -> list[tuple[int, Image.Image]]:
        """Resample reduced rows horizontally, then make every output row whose window is complete."""
        top = self._reduced
        self._reduced += reduced.height
        if self._made == self.size[1]:
            return []
        # Rows above the next output row's window are never needed (windows only move down).
        skip = max(0, self._first_row[self._made] - top)
        if skip >= reduced.height:
            return []
        left, _, right, _ = self._box
        horizontal = reduced.resize(
            (self.size[0], reduced.height - skip), self._resample, box=(left, skip, right, reduced.height)
        )
        if self._rows is None:
            self._rows, self._rows_top = horizontal, top + skip
        else:
            self._rows = _stacked(self._rows, horizontal)
        return self._make_rows()

    def _make_rows(self) -> list[tuple[int, Image.Image]]:
        """Make every chunk of output rows whose window of rows is in, each from exactly its window: so the
        result does not depend on how the source was cut into bands."""
        assert self._rows is not None
        width, height = self.size
        made: list[tuple[int, Image.Image]] = []
        while self._made < height:
            first, last = self._made, min(self._made + CHUNK_ROWS, height)
            top, bottom = self._first_row[first], self._end_row[last - 1]
            if bottom > self._rows_top + self._rows.height:
                break
            window = self._rows.crop((0, top - self._rows_top, width, bottom - self._rows_top))
            origin = self._box[1] - top  # the box of rows [first, last), moved to the window
            box = (
                0.0,
                max(origin + first * self._scale, 0.0),
                float(width),
                min(origin + last * self._scale, window.height),
            )
            made.append((first, window.resize((width, last - first), self._resample, box=box)))
            self._made = last
        if self._made == height:
            self._rows = None
            return made
        keep_from = self._first_row[self._made] - self._rows_top  # windows only move down
        if keep_from >= self._rows.height:
            self._rows = None
        elif keep_from > 0:
            self._rows = self._rows.crop((0, keep_from, self._rows.width, self._rows.height))
            self._rows_top += keep_from
        return made


def _stacked(upper: Image.Image, lower: Image.Image) -> Image.Image:
    stacked = Image.new(upper.mode, (upper.width, upper.height + lower.height))
    stacked.paste(upper, (0, 0))
    stacked.paste(lower, (0, upper.height))
    return stacked
