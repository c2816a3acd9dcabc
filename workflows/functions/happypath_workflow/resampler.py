"""The renditions' resampling, by stb_image_resize2 with Pillow's BICUBIC kernel, reading and writing Pillow's pixels.

Pillow's resampler is plain C; resampling a JPEG's reduced decode into the tile and the scaled image took 12-25%
of a render. stb_image_resize2 (`workflows/native/resampler.c`) filters in SIMD floats with the same Catmull-Rom
cubic: about three times as fast, at a slightly higher SSIM against a full-size LANCZOS reference (bench/README.md,
"Reading it"). It reads the decode and writes the new image in place, through Pillow's Arrow export (the Arrow
C data interface: a stable ABI giving the address of an image's pixels), so no copy of either is made.

The library is built by `make native` (for Lambda too: `sam build` ships what it built). `resample` returns None
where it does not apply (no library; not 8-bit RGB or grey; an image Pillow keeps in more than one block of
memory, which only very large decodes are) and the caller resamples with Pillow.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Final, NamedTuple

from PIL import Image

from happypath_workflow import native

__all__ = ["LIBRARY", "available", "resample"]

LIBRARY: Final = native.library_path("resampler")
CHANNELS: Final = {"RGB": 4, "L": 1}
"""Bytes per pixel in Pillow's memory for the modes resampled here (RGB is kept as RGBX: the padding byte is
filtered along, as one more channel, and ignored)."""
_ARROW_FORMATS: Final = {4: (b"+w:4", b"C"), 1: (b"C",)}
"""How Pillow 13 exports those modes (a fixed-size list of 4 bytes a pixel; bytes): anything else falls back."""


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
    `resize(size, BICUBIC, box=box)` does it (no box reduction first; a mean difference of about 0.2 levels from
    Pillow's, more at hard edges, where Pillow rounds its first pass to 8 bits and stb does not), or None where
    this does not apply (see the module's docstring).

    ctypes lets go of the GIL for the call, so the resize step's two threads resample at once."""
    library = _library()
    channels = CHANNELS.get(image.mode)
    if library is None or channels is None or min(size) < 1:
        return None
    source = _pixels(image, channels)
    if source is None:
        return None
    output = Image.new(image.mode, size)
    target = _pixels(output, channels)
    if target is None:
        return None
    left, top, right, bottom = box
    error = library.hp_resample(
        source.address,
        image.width,
        image.height,
        image.width * channels,
        channels,
        left,
        top,
        right,
        bottom,
        target.address,
        output.width,
        output.height,
        output.width * channels,
    )
    if error == -1:
        raise ValueError(f"cannot resample box {box} of a {image.width}x{image.height} image to {size}")
    if error:
        raise MemoryError(f"stb_image_resize2 could not resample a {image.width}x{image.height} image to {size}")
    return output


class _Pixels(NamedTuple):
    address: int
    export: tuple[object, object]  # the Arrow capsules: while they live, so do the pixels


def _pixels(image: Image.Image, channels: int) -> _Pixels | None:
    """The address of an image's first pixel, from its Arrow export (its pixels, not a copy), or None if Pillow does
    not export it as one block laid out as expected (an image of over 16 MB is kept in several).

    Written through for a new output image: Pillow exports its own memory, and nothing else holds the image yet."""
    try:
        export = image.__arrow_c_array__()
    except ValueError:  # "Image rows are not contiguous in memory."
        return None
    schema = ctypes.cast(_capsule_pointer(export[0], b"arrow_schema"), ctypes.POINTER(_ArrowSchema)).contents
    array = ctypes.cast(_capsule_pointer(export[1], b"arrow_array"), ctypes.POINTER(_ArrowArray)).contents
    formats = [schema.format]
    if schema.n_children == 1 and array.n_children == 1:  # RGB: the list's one child holds the bytes
        formats.append(schema.children[0].contents.format)
        array = array.children[0].contents
    as_expected = tuple(formats) == _ARROW_FORMATS[channels] and array.n_buffers == 2 and not array.offset
    if not as_expected or array.length != image.width * image.height * channels:
        return None
    address = array.buffers[1]
    return None if address is None else _Pixels(int(address), export)
