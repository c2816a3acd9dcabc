"""The renditions' resampling, by stb_image_resize2 with Pillow's BICUBIC kernel, reading and writing Pillow's pixels.

Pillow's resampler is plain C; resampling a JPEG's reduced decode into the tile and the scaled image was a quarter
of the resize step's CPU time. stb_image_resize2 (`workflows/native/resampler.c`) filters in SIMD floats with the
same Catmull-Rom cubic: about three times as fast, at a slightly higher SSIM against a full-size LANCZOS reference
(bench/README.md). It reads the decode and writes the new image in place, through Pillow's Arrow export (the Arrow
C data interface: a stable ABI giving the address of an image's pixels), so no copy of either is made.

The library is built by `make native` (for Lambda too: `sam build` ships what it built). `resample` returns None
where it does not apply (no library; not 8-bit RGB or grey; an image Pillow keeps in more than one block of
memory, which only very large decodes are) and the caller resamples with Pillow.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Final

from PIL import Image

from happypath_workflow import native

__all__ = ["LIBRARY", "available", "resample"]

LIBRARY: Final = native.library_path("resampler")
CHANNELS: Final = {"RGB": 4, "L": 1}
"""Bytes per pixel in Pillow's memory for the modes resampled here (RGB is kept as RGBX: the padding byte is
filtered along, as one more channel, and ignored)."""


class _ArrowSchema(ctypes.Structure):
    pass


class _ArrowArray(ctypes.Structure):
    pass


# The Arrow C data interface's two structures, as its specification declares them.
_ArrowSchema._fields_ = [
    ("format", ctypes.c_char_p),
    ("name", ctypes.c_char_p),
    ("metadata", ctypes.c_char_p),
    ("flags", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowSchema))),
    ("dictionary", ctypes.POINTER(_ArrowSchema)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]
_ArrowArray._fields_ = [
    ("length", ctypes.c_int64),
    ("null_count", ctypes.c_int64),
    ("offset", ctypes.c_int64),
    ("n_buffers", ctypes.c_int64),
    ("n_children", ctypes.c_int64),
    ("buffers", ctypes.POINTER(ctypes.c_void_p)),
    ("children", ctypes.POINTER(ctypes.POINTER(_ArrowArray))),
    ("dictionary", ctypes.POINTER(_ArrowArray)),
    ("release", ctypes.c_void_p),
    ("private_data", ctypes.c_void_p),
]

_capsule_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_capsule_pointer.restype = ctypes.c_void_p
_capsule_pointer.argtypes = (ctypes.py_object, ctypes.c_char_p)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    library = native.load(LIBRARY, "Pillow resamples instead (slower)")
    if library is None:
        return None
    library.hp_resample.argtypes = (
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_double,
        ctypes.c_double,
        ctypes.c_double,
        ctypes.c_double,
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
    )
    library.hp_resample.restype = ctypes.c_int
    return library


def available() -> bool:
    """Whether the native library is built (see `make native`)."""
    return _library() is not None


def resample(image: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]) -> Image.Image | None:
    """`image`'s region `box` (pixels, may be fractional) resampled to `size`, as Pillow's
    `resize(size, BICUBIC, box=box)` does it (within a level or two; no box reduction first), or None where
    this does not apply (see the module's docstring).

    ctypes lets go of the GIL for the call, so the resize step's two threads resample at once."""
    library = _library()
    channels = CHANNELS.get(image.mode)
    if library is None or channels is None:
        return None
    output = Image.new(image.mode, size)
    try:
        exports = image.__arrow_c_array__(), output.__arrow_c_array__()
    except ValueError:  # rows in more than one block: Pillow does not export them
        return None
    left, top, right, bottom = box
    error = library.hp_resample(
        _pixels(exports[0][1]),
        image.width,
        image.height,
        image.width * channels,
        channels,
        left,
        top,
        right,
        bottom,
        _pixels(exports[1][1]),
        output.width,
        output.height,
        output.width * channels,
    )
    if error == -1:
        raise ValueError(f"cannot resample box {box} of a {image.width}x{image.height} image to {size}")
    if error:
        raise MemoryError("not enough memory to resample the image")
    return output


def _pixels(array_capsule: object) -> int:
    """The address of the first pixel of an image's Arrow export (its pixels, not a copy). An RGB image's array is
    a fixed-size list of 4 bytes per pixel whose one child holds them; a grey image's holds them itself."""
    array = ctypes.cast(_capsule_pointer(array_capsule, b"arrow_array"), ctypes.POINTER(_ArrowArray)).contents
    if array.n_children:
        array = array.children[0].contents
    address = array.buffers[1]
    if address is None or array.offset:
        raise RuntimeError("Pillow's Arrow export does not hold its pixels as expected")
    return int(address)
