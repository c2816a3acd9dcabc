"""HEIF decoding tile by tile: the few libheif calls pillow-heif does not expose.

An iPhone HEIC is a grid of 512x512 HEVC tiles. pillow-heif only decodes a whole image: libheif then holds
its YCbCr planes and a 36 MB RGB copy of a 12 MP photo at once (a process peaked at ~90 MB). libheif's own
API (1.19+) decodes one tile at a time, so the resizer can box-reduce each tile and let it go
(a 12 MP HEIC then peaks at ~55 MB). The library called is the libheif inside pillow-heif's wheel,
through ctypes; pillow-heif itself is not imported (it costs ~60 ms and decodes nothing we use).

Tiles are decoded as stored (`ignore_transformations`): the container's rotation, mirroring and crop are
returned as `transformations`, in the order they apply, for the caller to apply to its small results.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final

from PIL import Image

__all__ = [
    "CodedImage",
    "Crop",
    "HeifError",
    "HeifImage",
    "HeifTile",
    "Mirror",
    "Nclx",
    "Rotation",
    "Tiling",
    "Transformation",
]

MIN_VERSION: Final = (1, 20, 2)
"""First libheif with both `heif_image_handle_decode_image_tile` (1.19) and `heif_image_get_plane_readonly2`."""

# libheif's enums (heif_image.h, heif_properties.h, heif_color.h).
_COLORSPACE_YCBCR: Final = 0
_COLORSPACE_RGB: Final = 1
_CHROMA_420: Final = 1
_CHROMA_INTERLEAVED_RGB: Final = 10
_CHROMA_INTERLEAVED_RGBA: Final = 11
_CHANNEL_INTERLEAVED: Final = 10
_CHANNELS: Final = {"Y": 0, "Cb": 1, "Cr": 2}
_ERROR_MEMORY_ALLOCATION: Final = 6  # also libheif's security limits
_MIRROR_HORIZONTAL: Final = 1  # flips left and right (`heif_transform_mirror_direction_horizontal`)


def _fourcc(code: str) -> int:
    return int.from_bytes(code.encode("ascii"), "big")


def _fourcc_text(code: int) -> str:
    return code.to_bytes(4, "big").decode("latin-1")


_DERIVED_ITEM_TYPES: Final = frozenset({"grid", "iden", "iovl", "tili"})
_MAX_DERIVATION_DEPTH: Final = 4  # libheif's own grids, overlays and identities nest a level or two
_AUX_IMAGES_OMIT_ALPHA: Final = 1 << 1  # LIBHEIF_AUX_IMAGE_FILTER_OMIT_ALPHA
_PROPERTY_ROTATION: Final = _fourcc("irot")
_PROPERTY_MIRROR: Final = _fourcc("imir")
_PROPERTY_CROP: Final = _fourcc("clap")
_ICC_PROFILE_TYPES: Final = frozenset({_fourcc("prof"), _fourcc("rICC")})


class HeifError(RuntimeError):
    """libheif refused the file or a tile; `over_limit`: an allocation or one of its security limits (image
    size, number of items...) failed, not the parsing."""

    def __init__(self, message: str, *, over_limit: bool = False) -> None:
        super().__init__(message)
        self.over_limit = over_limit


@dataclass(frozen=True)
class Tiling:
    """The tiles of the stored (untransformed) image; a single tile when it cannot be decoded in parts."""

    columns: int
    rows: int
    tile_width: int
    tile_height: int


@dataclass(frozen=True)
class Rotation:
    degrees_ccw: int  # 90, 180 or 270


@dataclass(frozen=True)
class Mirror:
    left_right: bool  # False: top and bottom are swapped


@dataclass(frozen=True)
class Crop:
    """Pixels removed from each edge of the image as it is when the crop applies."""

    left: int
    top: int
    right: int
    bottom: int


Transformation = Rotation | Mirror | Crop


@dataclass(frozen=True)
class CodedImage:
    """An image item as stored: its item type (`hvc1` for HEVC) and its coded data (for HEVC, NAL units each
    after its length)."""

    item_id: int
    codec: str
    data: bytes


@dataclass(frozen=True)
class Nclx:
    """How a tile's YCbCr is to be turned into RGB (ITU-T H.273's codes, as HEVC's VUI or a `colr` box has them)."""

    matrix_coefficients: int
    full_range: bool


class HeifImage:
    """The primary image of a HEIF file, opened by libheif without decoding anything.

    `size` is the stored size (before the transformations). `tile` may be called from several threads, but
    libheif decodes one tile at a time per context: `reopen` gives each thread its own. A context keeps the coded
    data of every tile it decoded until it is closed.
    """

    def __init__(self, data: bytes) -> None:
        self._lib = _library()
        self._data = data  # libheif reads it in place: it must outlive the context
        self._context: ctypes.c_void_p | None = self._lib.heif_context_alloc()
        self._handle = ctypes.c_void_p()
        self._options = self._lib.heif_decoding_options_alloc()  # the same for every tile
        try:
            self._options.contents.ignore_transformations = 1
            self._options.contents.convert_hdr_to_8bit = 1
            self._check(self._lib.heif_context_read_from_memory_without_copy(self._context, data, len(data), None))
            self._check(self._lib.heif_context_get_primary_image_handle(self._context, ctypes.byref(self._handle)))
            tiling = _Tiling(version=1)
            self._check(self._lib.heif_image_handle_get_image_tiling(self._handle, 0, ctypes.byref(tiling)))
            self.size = (int(tiling.image_width), int(tiling.image_height))
            self.tiling = Tiling(tiling.num_columns, tiling.num_rows, tiling.tile_width, tiling.tile_height)
            self.mode = "RGBA" if self._lib.heif_image_handle_has_alpha_channel(self._handle) else "RGB"
            self.ycbcr_420 = self.mode == "RGB" and self._coded_as_8_bit_ycbcr_420()
            self.icc_profile = self._icc_profile()
            self.transformations = self._transformations()
        except BaseException:
            self.close()
            raise

    @property
    def data(self) -> bytes:
        """The file it was opened on."""
        return self._data

    def reopen(self) -> HeifImage:
        """Another context on the same file (~0.2 ms), for decoding tiles in another thread (libheif decodes one
        tile at a time per context) or for letting go of the tiles decoded so far."""
        return HeifImage(self._data)

    def close(self) -> None:
        if self._options:
            self._lib.heif_decoding_options_free(self._options)
            self._options = None
        if self._handle:
            self._lib.heif_image_handle_release(self._handle)
            self._handle = ctypes.c_void_p()
        if self._context:
            self._lib.heif_context_free(self._context)
            self._context = None

    def __enter__(self) -> HeifImage:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def tile(self, column: int, row: int, *, planar: bool = False) -> HeifTile:
        """Decode one tile to 8-bit RGB(A), as stored; `planar`: to its Y, Cb and Cr planes as coded, with no
        colour conversion (only when `ycbcr_420`). Edge tiles may extend past `size`."""
        image = ctypes.c_void_p()
        try:
            if planar and not self.ycbcr_420:
                raise ValueError("only a tile coded as 8-bit YCbCr 4:2:0 can be decoded to its planes")
            if planar:
                colorspace, chroma = _COLORSPACE_YCBCR, _CHROMA_420
            else:
                colorspace = _COLORSPACE_RGB
                chroma = _CHROMA_INTERLEAVED_RGBA if self.mode == "RGBA" else _CHROMA_INTERLEAVED_RGB
            error = self._lib.heif_image_handle_decode_image_tile(
                self._handle, ctypes.byref(image), colorspace, chroma, self._options, column, row
            )
            self._check(error)
            return HeifTile(self._lib, image, "YCbCr" if planar else self.mode)
        except BaseException:
            if image:
                self._lib.heif_image_release(image)
            raise

    def coded_images(self) -> Iterator[CodedImage]:
        """The coded images decoding the primary image takes, as libheif finds them: its own, or those of the
        images it is derived from (a grid's tiles in rows, an overlay's or an identity's sources), then its alpha
        image's, likewise. (Not its thumbnails, depth maps or HDR gain maps: nothing here decodes those.)"""
        primary = self._lib.heif_image_handle_get_item_id(self._handle)
        for item in [primary, *self._alpha_items()]:
            yield from self._coded_images_of(item, 0)

    def _coded_images_of(self, item: int, depth: int) -> Iterator[CodedImage]:
        kind = _fourcc_text(self._lib.heif_item_get_item_type(self._context, item))
        if kind not in _DERIVED_ITEM_TYPES:
            yield self._coded_image(item, kind)
            return
        if depth == _MAX_DERIVATION_DEPTH:
            raise HeifError(f"image item {item} is derived from derived images {depth} deep")
        for source in self._references(item, "dimg"):
            yield from self._coded_images_of(source, depth + 1)

    def _references(self, item: int, kind: str) -> list[int]:
        """The items `item` refers to by references of `kind` (`iref`), in their order."""
        lib, found, index = self._lib, list[int](), 0
        while True:
            reference_kind, items = ctypes.c_uint32(), ctypes.POINTER(ctypes.c_uint32)()
            count = lib.heif_context_get_item_references(
                self._context, item, index, ctypes.byref(reference_kind), ctypes.byref(items)
            )
            if not count:  # past the last reference box
                return found
            try:
                if reference_kind.value == _fourcc(kind):
                    found.extend(items[:count])
            finally:
                lib.heif_release_item_references(self._context, ctypes.byref(items))
            index += 1

    def _alpha_items(self) -> list[int]:
        """The primary image's alpha images: its auxiliary images less those listed when alpha is left out."""
        return sorted(set(self._auxiliary_items(0)) - set(self._auxiliary_items(_AUX_IMAGES_OMIT_ALPHA)))

    def _auxiliary_items(self, aux_filter: int) -> list[int]:
        lib = self._lib
        count = lib.heif_image_handle_get_number_of_auxiliary_images(self._handle, aux_filter)
        ids = (ctypes.c_uint32 * max(count, 1))()
        count = lib.heif_image_handle_get_list_of_auxiliary_image_IDs(self._handle, aux_filter, ids, count)
        return list(ids[:count])

    def _coded_image(self, item: int, kind: str) -> CodedImage:
        lib, compression = self._lib, ctypes.c_int()
        data, size = ctypes.POINTER(ctypes.c_uint8)(), ctypes.c_size_t()
        self._check(
            lib.heif_item_get_item_data(
                self._context, item, ctypes.byref(compression), ctypes.byref(data), ctypes.byref(size)
            )
        )
        try:
            coded = ctypes.string_at(data, size.value) if size.value else b""
        finally:
            lib.heif_release_item_data(self._context, ctypes.byref(data))
        return CodedImage(item, kind, coded)

    def _check(self, error: _Error) -> None:
        if error.code:
            raise HeifError(error.text(), over_limit=error.code == _ERROR_MEMORY_ALLOCATION)

    def _coded_as_8_bit_ycbcr_420(self) -> bool:
        """Whether tiles can be handed out as their planes, as coded. Not when a `colr` box describes the colours
        as other than BT.601 full range: libheif then converts the planes to that at full size (measured: the
        planes' values change), a conversion as costly as its conversion to RGB."""
        colorspace, chroma = ctypes.c_int(), ctypes.c_int()
        error = self._lib.heif_image_handle_get_preferred_decoding_colorspace(
            self._handle, ctypes.byref(colorspace), ctypes.byref(chroma)
        )
        declared = self._declared_nclx()
        return (
            not error.code
            and (colorspace.value, chroma.value) == (_COLORSPACE_YCBCR, _CHROMA_420)
            and self._lib.heif_image_handle_get_luma_bits_per_pixel(self._handle) == 8
            and self._lib.heif_image_handle_get_chroma_bits_per_pixel(self._handle) == 8
            and (declared is None or declared in _PLANES_AS_CODED)
        )

    def _declared_nclx(self) -> Nclx | None:
        """The `colr` box's colour description; None for an ICC profile or none (an iPhone's HEIC)."""
        return _read_nclx(self._lib, self._lib.heif_image_handle_get_nclx_color_profile, self._handle)

    def _icc_profile(self) -> bytes | None:
        if self._lib.heif_image_handle_get_color_profile_type(self._handle) not in _ICC_PROFILE_TYPES:
            return None  # none, or an nclx description (taken as sRGB, as browsers mostly do)
        size = self._lib.heif_image_handle_get_raw_color_profile_size(self._handle)
        if not size:
            return None
        profile = ctypes.create_string_buffer(size)
        self._check(self._lib.heif_image_handle_get_raw_color_profile(self._handle, profile))
        return profile.raw

    def _transformations(self) -> list[Transformation]:
        item = self._lib.heif_image_handle_get_item_id(self._handle)
        count = self._lib.heif_item_get_transformation_properties(self._context, item, None, 0)
        ids = (ctypes.c_uint32 * max(count, 1))()
        count = self._lib.heif_item_get_transformation_properties(self._context, item, ids, count)
        width, height = self.size
        found: list[Transformation] = []
        for property_id in ids[:count]:
            kind = self._lib.heif_item_get_property_type(self._context, item, property_id)
            if kind == _PROPERTY_ROTATION:
                degrees = self._lib.heif_item_get_property_transform_rotation_ccw(self._context, item, property_id)
                if degrees not in (90, 180, 270):
                    continue  # 0, or -1 for an unreadable box: nothing to do
                if degrees != 180:
                    width, height = height, width
                found.append(Rotation(degrees))
            elif kind == _PROPERTY_MIRROR:
                direction = self._lib.heif_item_get_property_transform_mirror(self._context, item, property_id)
                found.append(Mirror(left_right=direction == _MIRROR_HORIZONTAL))
            elif kind == _PROPERTY_CROP:
                borders = [ctypes.c_int() for _ in range(4)]
                self._lib.heif_item_get_property_transform_crop_borders(
                    self._context, item, property_id, width, height, *(ctypes.byref(b) for b in borders)
                )
                left, top, right, bottom = (max(0, b.value) for b in borders)
                if left + right >= width or top + bottom >= height:
                    raise HeifError("the clean aperture (crop) leaves no pixels")
                width, height = width - left - right, height - top - bottom
                found.append(Crop(left, top, right, bottom))
        return found


class HeifTile:
    """A decoded tile: libheif's pixels, read through Pillow images that share its memory. `mode` is RGB or RGBA
    (interleaved, read by `rows`) or YCbCr (4:2:0 planes, read by `plane`)."""

    def __init__(self, lib: ctypes.CDLL, image: ctypes.c_void_p, mode: str) -> None:
        self._lib, self._image, self.mode = lib, image, mode
        self._pixels, self._stride, self.size = self._plane(_CHANNELS["Y"] if mode == "YCbCr" else _CHANNEL_INTERLEAVED)
        if not self._pixels or min(self.size) <= 0:
            raise HeifError("a tile decoded to no pixels")  # the caller releases the image

    def rows(self, top: int, count: int) -> Image.Image:
        """Rows [top, top + count) as a Pillow image, valid until `close`: RGBA shares libheif's memory, RGB is
        copied (Pillow keeps 4 bytes a pixel)."""
        if not self._image:
            raise ValueError("the tile is closed")
        if self.mode == "YCbCr":
            raise ValueError("a planar tile is read by its planes")
        if top < 0 or count <= 0 or top + count > self.size[1]:
            raise HeifError(f"rows {top}-{top + count} are outside the {self.size[1]} rows of the tile")
        buffer = (ctypes.c_char * (self._stride * count)).from_address(self._pixels + top * self._stride)
        size = (self.size[0], count)
        return Image.frombuffer(self.mode, size, buffer, "raw", self.mode, self._stride, 1)  # type: ignore[arg-type]

    def plane(self, name: str) -> Image.Image:
        """The Y, Cb or Cr plane of a planar tile as an L image sharing libheif's memory, valid until `close`.
        The chroma planes are half the size (4:2:0), rounded up."""
        if not self._image:
            raise ValueError("the tile is closed")
        if self.mode != "YCbCr":
            raise ValueError("only a planar tile has planes")
        pixels, stride, size = self._plane(_CHANNELS[name])
        if not pixels or min(size) <= 0:
            raise HeifError(f"a tile decoded with no {name} plane")
        buffer = (ctypes.c_char * (stride * size[1])).from_address(pixels)
        return Image.frombuffer("L", size, buffer, "raw", "L", stride, 1)  # type: ignore[arg-type]

    def nclx(self) -> Nclx | None:
        """How the tile's YCbCr turns into RGB, as libheif would convert it; None if the stream does not say."""
        return _read_nclx(self._lib, self._lib.heif_image_get_nclx_color_profile, self._image)

    def close(self) -> None:
        if self._image:
            self._lib.heif_image_release(self._image)
            self._image = ctypes.c_void_p()

    def _plane(self, channel: int) -> tuple[int, int, tuple[int, int]]:
        """A channel's pixels (address), stride and size."""
        lib, image, stride = self._lib, self._image, ctypes.c_size_t()
        pixels = lib.heif_image_get_plane_readonly2(image, channel, ctypes.byref(stride))
        return (
            pixels or 0,
            stride.value,
            (lib.heif_image_get_width(image, channel), lib.heif_image_get_height(image, channel)),
        )


# --- the library -----------------------------------------------------------------------------------------


class _Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("subcode", ctypes.c_int), ("message", ctypes.c_char_p)]

    def text(self) -> str:
        return (self.message or b"").decode("utf-8", "replace") or f"libheif error {self.code}"


class _Tiling(ctypes.Structure):
    _fields_ = [
        ("version", ctypes.c_int),
        ("num_columns", ctypes.c_uint32),
        ("num_rows", ctypes.c_uint32),
        ("tile_width", ctypes.c_uint32),
        ("tile_height", ctypes.c_uint32),
        ("image_width", ctypes.c_uint32),
        ("image_height", ctypes.c_uint32),
        ("top_offset", ctypes.c_uint32),
        ("left_offset", ctypes.c_uint32),
        ("number_of_extra_dimensions", ctypes.c_uint8),
        ("extra_dimension_size", ctypes.c_uint32 * 8),
    ]


class _NclxProfile(ctypes.Structure):
    """The leading fields of `heif_color_profile_nclx` (allocated and freed by libheif)."""

    _fields_ = [
        ("version", ctypes.c_uint8),
        ("color_primaries", ctypes.c_int),
        ("transfer_characteristics", ctypes.c_int),
        ("matrix_coefficients", ctypes.c_int),
        ("full_range_flag", ctypes.c_uint8),
    ]


def _read_nclx(lib: ctypes.CDLL, get_profile: Any, owner: ctypes.c_void_p) -> Nclx | None:
    """An image's or a handle's nclx colour description through libheif's getter for it, freed after reading."""
    profile = ctypes.POINTER(_NclxProfile)()
    if get_profile(owner, ctypes.byref(profile)).code:
        return None
    try:
        return Nclx(profile.contents.matrix_coefficients, bool(profile.contents.full_range_flag))
    finally:
        lib.heif_nclx_color_profile_free(profile)


_PLANES_AS_CODED: Final = frozenset({Nclx(6, True), Nclx(2, True)})
"""Declared colours (BT.601 full range, or unspecified) for which libheif hands out YCbCr planes unconverted."""


class _DecodingOptions(ctypes.Structure):
    """The leading fields of `heif_decoding_options` (versions 1-3). The struct is only ever allocated by
    libheif (`heif_decoding_options_alloc`, which fills its defaults), so later fields need not be known."""

    _fields_ = [
        ("version", ctypes.c_uint8),
        ("ignore_transformations", ctypes.c_uint8),
        ("start_progress", ctypes.c_void_p),
        ("on_progress", ctypes.c_void_p),
        ("end_progress", ctypes.c_void_p),
        ("progress_user_data", ctypes.c_void_p),
        ("convert_hdr_to_8bit", ctypes.c_uint8),
        ("strict_decoding", ctypes.c_uint8),
    ]


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    lib = _load()
    version = (
        lib.heif_get_version_number_major(),
        lib.heif_get_version_number_minor(),
        lib.heif_get_version_number_maintenance(),
    )
    if version < MIN_VERSION:
        found, needed = ".".join(map(str, version)), ".".join(map(str, MIN_VERSION))
        raise ImportError(f"libheif {found} is too old: tile decoding needs {needed}")
    _declare(lib)
    error = lib.heif_init(None)
    if error.code:
        raise ImportError(f"libheif did not initialise: {error.text()}")
    return lib


def _load() -> ctypes.CDLL:
    """The libheif pillow-heif's wheels carry, built with its HEVC decoder. Never a system libheif: its version
    and codecs are unknown (a libheif without libde265 would refuse every HEIC as if the photos were damaged)."""
    return sibling_library("libheif")


def sibling_library(name: str) -> ctypes.CDLL:
    """A library pillow-heif's wheels carry beside the package (Linux) or inside it (macOS): libheif, or the
    libde265 it decodes HEVC with."""
    spec = importlib.util.find_spec("pillow_heif")
    if spec is not None and spec.origin is not None:
        package = Path(spec.origin).parent
        for folder in (package.parent / "pillow_heif.libs", package / ".dylibs"):
            for candidate in sorted(folder.glob(f"{name}[-.]*")) if folder.is_dir() else []:
                try:
                    return ctypes.CDLL(str(candidate))
                except OSError as exc:
                    raise ImportError(f"{name} could not be loaded: {exc}") from exc
    # Not a HeifError: a missing library is the deployment's fault, not the upload's.
    raise ImportError(f"{name} was not found (it comes with the pillow-heif package's wheel)")


def _declare(lib: ctypes.CDLL) -> None:
    pointer, out_pointer, uint32, int_ = ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.c_uint32, ctypes.c_int
    signatures: dict[str, tuple[object, list[object]]] = {
        "heif_init": (_Error, [pointer]),
        "heif_context_alloc": (pointer, []),
        "heif_context_free": (None, [pointer]),
        "heif_context_read_from_memory_without_copy": (_Error, [pointer, ctypes.c_char_p, ctypes.c_size_t, pointer]),
        "heif_context_get_primary_image_handle": (_Error, [pointer, out_pointer]),
        "heif_image_handle_release": (None, [pointer]),
        "heif_image_handle_get_image_tiling": (_Error, [pointer, int_, ctypes.POINTER(_Tiling)]),
        "heif_image_handle_has_alpha_channel": (int_, [pointer]),
        "heif_image_handle_get_preferred_decoding_colorspace": (
            _Error,
            [pointer, ctypes.POINTER(int_), ctypes.POINTER(int_)],
        ),
        "heif_image_handle_get_luma_bits_per_pixel": (int_, [pointer]),
        "heif_image_handle_get_chroma_bits_per_pixel": (int_, [pointer]),
        "heif_image_handle_get_item_id": (uint32, [pointer]),
        "heif_context_get_item_references": (
            ctypes.c_size_t,
            [pointer, uint32, int_, ctypes.POINTER(uint32), ctypes.POINTER(ctypes.POINTER(uint32))],
        ),
        "heif_release_item_references": (None, [pointer, ctypes.POINTER(ctypes.POINTER(uint32))]),
        "heif_image_handle_get_number_of_auxiliary_images": (int_, [pointer, int_]),
        "heif_image_handle_get_list_of_auxiliary_image_IDs": (int_, [pointer, int_, ctypes.POINTER(uint32), int_]),
        "heif_item_get_item_type": (uint32, [pointer, uint32]),
        "heif_item_get_item_data": (
            _Error,
            [
                pointer,
                uint32,
                ctypes.POINTER(int_),
                ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8)),
                ctypes.POINTER(ctypes.c_size_t),
            ],
        ),
        "heif_release_item_data": (None, [pointer, ctypes.POINTER(ctypes.POINTER(ctypes.c_uint8))]),
        "heif_image_handle_get_color_profile_type": (int_, [pointer]),
        "heif_image_handle_get_raw_color_profile_size": (ctypes.c_size_t, [pointer]),
        "heif_image_handle_get_raw_color_profile": (_Error, [pointer, ctypes.c_char_p]),
        "heif_item_get_transformation_properties": (int_, [pointer, uint32, ctypes.POINTER(uint32), int_]),
        "heif_item_get_property_type": (int_, [pointer, uint32, uint32]),
        "heif_item_get_property_transform_rotation_ccw": (int_, [pointer, uint32, uint32]),
        "heif_item_get_property_transform_mirror": (int_, [pointer, uint32, uint32]),
        "heif_item_get_property_transform_crop_borders": (
            None,
            [pointer, uint32, uint32, int_, int_, *[ctypes.POINTER(int_)] * 4],
        ),
        "heif_decoding_options_alloc": (ctypes.POINTER(_DecodingOptions), []),
        "heif_decoding_options_free": (None, [ctypes.POINTER(_DecodingOptions)]),
        "heif_image_handle_decode_image_tile": (
            _Error,
            [pointer, out_pointer, int_, int_, ctypes.POINTER(_DecodingOptions), uint32, uint32],
        ),
        "heif_image_get_plane_readonly2": (ctypes.c_void_p, [pointer, int_, ctypes.POINTER(ctypes.c_size_t)]),
        "heif_image_get_width": (int_, [pointer, int_]),
        "heif_image_get_height": (int_, [pointer, int_]),
        "heif_image_release": (None, [pointer]),
        "heif_image_get_nclx_color_profile": (_Error, [pointer, ctypes.POINTER(ctypes.POINTER(_NclxProfile))]),
        "heif_image_handle_get_nclx_color_profile": (
            _Error,
            [pointer, ctypes.POINTER(ctypes.POINTER(_NclxProfile))],
        ),
        "heif_nclx_color_profile_free": (None, [ctypes.POINTER(_NclxProfile)]),
    }
    declare_functions(lib, signatures)


def declare_functions(lib: ctypes.CDLL, signatures: dict[str, tuple[object, list[object]]]) -> None:
    """Give ctypes each function's result and argument types (name: (result, arguments))."""
    for name, (result, arguments) in signatures.items():
        function = getattr(lib, name)  # AttributeError: this library lacks it
        function.restype = result
        function.argtypes = arguments
