"""The renditions' WebP files, written by libwebp with a pruned rate-distortion search.

libwebp's method 2 (no rate-distortion search) made one shared photo's WebPs 1.4-2.0% larger than sharp's at the
same quality; method 3 made every file smaller but took twice the time, more than the resize step's CPU goal
allows. `workflows/native/libwebp-pruned-rd.patch` makes method 3 score only the most promising luma modes
(those whose prediction alone scores best) and code chroma as method 2 does; called here through ctypes
(`workflows/native/webp_encoder.c`). On the shared photos: files 1.9% smaller than method 2's at a higher PSNR
(1.5% larger than method 3's), all smaller than sharp's, for ~1.1x method 2's time (bench/README.md).

The library is built by `make native` (for Lambda too: `sam build` ships what it built); without it `encode`
returns None and the caller encodes with Pillow's libwebp at method 2.
"""

from __future__ import annotations

import ctypes
from functools import lru_cache
from typing import Final

from PIL import Image

from happypath_workflow import native

__all__ = ["LIBRARY", "available", "encode"]

LIBRARY: Final = native.library_path("webp_encoder")
PRUNED_SEARCH: Final = 3
"""The libwebp method the patch prunes (any other is libwebp's own, which tests compare with Pillow's)."""


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL | None:
    library = native.load(LIBRARY, "Pillow's libwebp encodes WebPs instead (larger files)")
    if library is None:
        return None
    library.hp_webp_encode.argtypes = (
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_float,
        ctypes.c_int,
        ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
        ctypes.POINTER(ctypes.c_size_t),
    )
    library.hp_webp_encode.restype = ctypes.c_int
    library.hp_webp_free.argtypes = (ctypes.POINTER(ctypes.c_uint8),)
    library.hp_webp_free.restype = None
    return library


def available() -> bool:
    """Whether the native library is built (see `make native`)."""
    return _library() is not None


def encode(image: Image.Image, quality: int, *, method: int = PRUNED_SEARCH) -> bytes | None:
    """`image` as a lossy WebP file (no metadata) at `quality`, or None without the library.

    ctypes lets go of the GIL for the call, so the resize step's two threads encode at once."""
    library = _library()
    if library is None:
        return None
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    pixels = rgb.tobytes()
    output = ctypes.POINTER(ctypes.c_uint8)()
    size = ctypes.c_size_t()
    error = library.hp_webp_encode(
        pixels, rgb.width, rgb.height, rgb.width * 3, float(quality), method, ctypes.byref(output), ctypes.byref(size)
    )
    if error:
        raise OSError(f"libwebp could not encode a {rgb.width}x{rgb.height} image (error {error})")
    try:
        return ctypes.string_at(output, size.value)
    finally:
        library.hp_webp_free(output)
