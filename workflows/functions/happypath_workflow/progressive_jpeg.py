"""Progressive JPEGs decoded at a reduced scale with a fraction of libjpeg's memory.

libjpeg keeps every DCT coefficient of a progressive JPEG until its last scan, whatever the scale it decodes
at: 37 MB for a 12 MP photo at 4:2:0 (a resize process peaked at ~85 MB). `workflows/native/progressive_jpeg.c`,
called here through ctypes, keeps of each block only the lowest frequencies the reduced scale shows, plus one
bit per coefficient for the refinement scans: ~5 MB for the same photo. Each output pixel is the mean of the
full-size pixels it covers, as those frequencies give them (what libjpeg's reduced decode approximates too),
given a band of rows at a time, each component at the luma's reduced size (chroma upsampled in the DCT).

The library is built by `make native` (for Lambda too: `sam build` ships what it built); without it, or for a
file it does not take (baseline, arithmetic-coded, 12-bit, RGB or CMYK, a sampling factor of 3),
`open_reduced` returns None and the caller decodes with Pillow as before.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from PIL import Image

from happypath_workflow import native

__all__ = ["LIBRARY", "ProgressiveDamaged", "ReducedJpeg", "available", "open_reduced"]

LIBRARY: Final = native.library_path("progressive_jpeg")
BAND_ROWS: Final = 64
"""Output rows (at the reduced size) made at a time: whole MCU rows, at least one."""

_OK, _UNSUPPORTED = 0, 2  # PJ_OK, PJ_UNSUPPORTED (progressive_jpeg.h); anything else: damaged
_MAX_COMPONENTS: Final = 4  # PJ_MAX_COMPONENTS
_RGB_COMPONENT_IDS: Final = (ord("R"), ord("G"), ord("B"))
_KEPT: Final = frozenset({1, 2, 4, 8})  # coefficients kept each way: output pixels over whole input pixels
_Int4 = ctypes.c_int32 * _MAX_COMPONENTS


class _Image(ctypes.Structure):
    """`pj_image` (progressive_jpeg.c)."""

    _fields_ = (
        ("width", ctypes.c_int32),
        ("height", ctypes.c_int32),
        ("components", ctypes.c_int32),
        ("id", _Int4),
        ("h", _Int4),
        ("v", _Int4),
        ("blocks_w", _Int4),
        ("blocks_h", _Int4),
        ("mcus_w", ctypes.c_int32),
        ("mcus_h", ctypes.c_int32),
        ("hmax", ctypes.c_int32),
        ("vmax", ctypes.c_int32),
        ("jfif", ctypes.c_int32),
        ("adobe_transform", ctypes.c_int32),
        ("kx", _Int4),
        ("ky", _Int4),
        ("coef", ctypes.c_void_p * _MAX_COMPONENTS),
        ("nonzero", ctypes.c_void_p * _MAX_COMPONENTS),
        ("quant", (ctypes.c_uint16 * 64) * _MAX_COMPONENTS),
        ("scans", ctypes.c_int32),
        ("error", ctypes.c_char * 200),
    )


class ProgressiveDamaged(ValueError):
    """The file's progressive data cannot be decoded (the message says why)."""


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    library = native.load(LIBRARY, "libjpeg decodes progressive JPEGs instead (with more memory)")
    if library is None:
        return None
    buffer = (ctypes.POINTER(_Image), ctypes.c_char_p, ctypes.c_size_t)
    for name in ("pj_header", "pj_decode"):
        function = getattr(library, name)
        function.argtypes = buffer
        function.restype = ctypes.c_int
    library.pj_output.argtypes = (
        ctypes.POINTER(_Image),
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_size_t,
    )
    library.pj_output.restype = ctypes.c_int
    return library


def available() -> bool:
    """Whether the native library is built (see `make native`)."""
    return _library() is not None


@dataclass
class ReducedJpeg:
    """A progressive JPEG decoded at 1/`reduction` of its size, its planes given a band at a time by `bands`."""

    reduction: int  # 1, 2, 4 or 8
    size: tuple[int, int]  # reduced: each side rounded up, as libjpeg's scaled sizes are
    components: int  # 1 (grey) or 3 (YCbCr)
    _image: _Image
    _arrays: list[ctypes.Array[ctypes.c_int16] | ctypes.Array[ctypes.c_uint64]]  # what `_image` points into

    def bands(self, rows: int = BAND_ROWS) -> Iterator[list[Image.Image]]:
        """Each band's planes ("L", `size[0]` wide, one per component), top to bottom."""
        library = _library()
        assert library is not None  # it decoded the file
        image = self._image
        rows_per_mcu = image.vmax * 8 // self.reduction
        mcu_rows = max(1, rows // rows_per_mcu)
        stride = image.mcus_w * image.hmax * 8 // self.reduction
        width, height = self.size
        for first in range(0, image.mcus_h, mcu_rows):
            count = min(mcu_rows, image.mcus_h - first)
            band_rows = min(count * rows_per_mcu, height - first * rows_per_mcu)
            planes = []
            for component in range(self.components):
                size = stride * count * rows_per_mcu
                pixels = (ctypes.c_uint8 * size)()
                if library.pj_output(ctypes.byref(image), component, first, count, pixels, stride, size) != _OK:
                    raise RuntimeError("pj_output refused its arguments")
                plane = Image.frombuffer("L", (stride, count * rows_per_mcu), pixels, "raw", "L", 0, 1)
                planes.append(plane.crop((0, 0, width, band_rows)) if (width, band_rows) != plane.size else plane)
            yield planes


def open_reduced(data: bytes, reduction: int) -> ReducedJpeg | None:
    """Decode a progressive JPEG's scans keeping what 1/`reduction` of its size shows (1, 2, 4 or 8; at 1,
    every coefficient is kept: no memory saved, for comparing with libjpeg).

    None when the library is not built or does not take this file (then decode with Pillow); raises
    `ProgressiveDamaged` when the file's data is damaged.
    """
    library = _library()
    if library is None or reduction not in (1, 2, 4, 8):
        return None
    image = _Image()
    if not _taken(library.pj_header(ctypes.byref(image), data, len(data)), image):
        return None
    components = image.components
    if components not in (1, 3):  # CMYK and YCCK: Pillow
        return None
    rgb_ids = tuple(image.id[:3]) == _RGB_COMPONENT_IDS
    if components == 3 and not image.jfif and (image.adobe_transform == 0 or (image.adobe_transform < 0 and rgb_ids)):
        return None  # RGB, not YCbCr, as libjpeg tells them apart
    # Each component's blocks give the luma's reduced size: a chroma block twice as wide keeps twice the
    # coefficients across. An output pixel must cover whole full-size pixels (8 / kept a whole number): a
    # sampling factor of 3 is left to libjpeg.
    per_block = 8 // reduction
    arrays: list[ctypes.Array[ctypes.c_int16] | ctypes.Array[ctypes.c_uint64]] = []
    for c in range(components):
        kx, x_rest = divmod(per_block * image.hmax, image.h[c])
        ky, y_rest = divmod(per_block * image.vmax, image.v[c])
        if x_rest or y_rest or kx not in _KEPT or ky not in _KEPT:
            return None
        image.kx[c], image.ky[c] = kx, ky
        blocks = image.blocks_w[c] * image.blocks_h[c]
        coefficients = (ctypes.c_int16 * (blocks * kx * ky))()  # zeroed
        nonzero = (ctypes.c_uint64 * blocks)()
        image.coef[c] = ctypes.addressof(coefficients)
        image.nonzero[c] = ctypes.addressof(nonzero)
        arrays += (coefficients, nonzero)
    if not _taken(library.pj_decode(ctypes.byref(image), data, len(data)), image):
        return None
    size = (-(-image.width // reduction), -(-image.height // reduction))
    return ReducedJpeg(reduction, size, components, image, arrays)


def _taken(status: int, image: _Image) -> bool:
    """Whether the library took the file (False: one it does not decode); raises on damage."""
    if status == _UNSUPPORTED:
        return False
    if status != _OK:
        raise ProgressiveDamaged(image.error.decode("ascii", "replace"))
    return True
