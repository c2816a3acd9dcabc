"""Whether the HEVC streams of a HEIF are intact: libde265 through ctypes.

libheif decodes damaged HEVC without an error. libde265 conceals what it cannot parse (a few damaged bytes in
a phone photo come out as a smeared block) and records a warning, which libheif's decoder plugin never reads.
`find_damage` decodes each coded image of the primary image (a grid's tiles, an overlay's sources, or the
image itself, and its alpha image's likewise) in a libde265 decoder of its own, as libheif feeds it: the
parameter sets of the item's `hvcC` property, then the item's NAL units. Any warning or error is damage, and
so is no picture, or one with blocks never decoded (a slice ended early: libde265 says nothing, see
`_MarkedPlanes`).

Before anything is decoded, each sequence parameter set's picture size is read and held to the tile's size:
libde265 allocates what the stream declares, whatever the container says.

The library called is the libde265 inside pillow-heif's wheel (libheif's own decoder), found beside libheif.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from happypath_workflow.libheif import HeifImage, Tiling

__all__ = ["HevcConfiguration", "SequenceSize", "decoder_configurations", "find_damage", "sequence_size"]

MAX_PROPERTIES: Final = 65_536
"""More item properties than this is damage (libheif's own limit on a box's children)."""
MAX_CODED_MARGIN_PX: Final = 64
"""How much larger than its tile an image may be coded: HEVC codes whole coding blocks (at most 64 px) and
crops the rest away (its conformance window)."""

_NAL_SPS: Final = 33
_DISABLE_DEBLOCKING: Final = 7  # de265_param: post-filters change pixels, not what is parsed
_DISABLE_SAO: Final = 8
_ERROR_WAITING_FOR_INPUT: Final = 13
# Warnings about libde265's own threads (none are started here), not about the stream.
_THREAD_WARNINGS: Final = frozenset({1000, 1022})


class Damaged(ValueError):
    """The file's HEVC cannot be decoded as it is stored."""


@dataclass(frozen=True)
class HevcConfiguration:
    """An `hvcC` property: the size of the NAL unit lengths in the item data, and the parameter sets."""

    length_size: int
    parameter_sets: tuple[bytes, ...]


@dataclass(frozen=True)
class SequenceSize:
    """The coded picture size a sequence parameter set declares."""

    width: int
    height: int


def find_damage(heif: HeifImage, max_coded_pixels: int) -> None:
    """Decode every HEVC-coded image the primary image of `heif` is made of; raise Damaged at the first one
    that does not decode cleanly. A stream may be coded at most a coding block larger than its tile, and at
    most `max_coded_pixels` in all. Images in other codecs are left to libheif."""
    configurations = decoder_configurations(heif.data)
    for item in heif.coded_images():
        if item.codec != "hvc1":
            continue
        configuration = configurations.get(item.item_id)
        if configuration is None:
            raise Damaged(f"image item {item.item_id} has no HEVC decoder configuration (hvcC)")
        nal_units = [*configuration.parameter_sets, *_nal_units(item.data, configuration.length_size)]
        _check_sequence_sizes(nal_units, heif.tiling, max_coded_pixels, item.item_id)
        problem = _decode(nal_units)
        if problem:
            raise Damaged(f"image item {item.item_id}: {problem}")


def decoder_configurations(data: bytes) -> dict[int, HevcConfiguration]:
    """Each item's `hvcC` property, from the file's `meta` box (ipco lists the properties, ipma assigns them)."""
    meta = _child(data, 0, len(data), b"meta")
    if meta is None:
        raise Damaged("no meta box")
    iprp = _child(data, meta[0] + 4, meta[1], b"iprp")  # meta is a full box: 4 bytes of version and flags
    if iprp is None:
        return {}
    properties: list[tuple[bytes, int, int]] = []
    associations: dict[int, list[int]] = {}
    for kind, start, end in _boxes(data, *iprp):
        if kind == b"ipco":
            for found_property in _boxes(data, start, end):
                properties.append(found_property)
                if len(properties) > MAX_PROPERTIES:
                    raise Damaged(f"more than {MAX_PROPERTIES} item properties")
        elif kind == b"ipma":
            for item_id, indices in _associations(data, start, end):
                associations.setdefault(item_id, []).extend(indices)
    found: dict[int, HevcConfiguration] = {}
    for item_id, indices in associations.items():
        for index in indices:
            if index == 0:  # "no property" (ISO/IEC 23008-12)
                continue
            if index > len(properties):
                raise Damaged(f"item {item_id} names property {index} of {len(properties)}")
            kind, start, end = properties[index - 1]
            if kind == b"hvcC" and item_id not in found:
                found[item_id] = _hevc_configuration(data[start:end])
    return found


def sequence_size(sps: bytes) -> SequenceSize:
    """The picture size in a sequence parameter set NAL unit (H.265 7.3.2.2), read up to it."""
    # After the two-byte NAL unit header, which is unescaped with the rest, as libde265 reads it.
    bits = _BitReader(_rbsp(sps)[2:])
    bits.skip(4)  # sps_video_parameter_set_id
    sub_layers = bits.read(3)  # sps_max_sub_layers_minus1
    bits.skip(1)
    bits.skip(88 + 8)  # profile_tier_level: the general profile, then general_level_idc
    present = [(bits.read(1), bits.read(1)) for _ in range(sub_layers)]
    if sub_layers:
        bits.skip(2 * (8 - sub_layers))
    for profile, level in present:
        bits.skip(88 * profile + 8 * level)
    bits.exp_golomb()  # sps_seq_parameter_set_id
    if bits.exp_golomb() == 3:  # chroma_format_idc
        bits.skip(1)
    return SequenceSize(bits.exp_golomb(), bits.exp_golomb())


# --- the container ---------------------------------------------------------------------------------------


def _boxes(data: bytes, start: int, end: int) -> Iterator[tuple[bytes, int, int]]:
    """The boxes in data[start:end]: type, body start and end."""
    pos = start
    while pos < end:
        if pos + 8 > end:
            raise Damaged("a box header runs past its parent")
        size, kind, body = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8], pos + 8
        if size == 1:
            if body + 8 > end:
                raise Damaged("a box header runs past its parent")
            size, body = int.from_bytes(data[body : body + 8], "big"), body + 8
        elif size == 0:
            size = end - pos
        if kind == b"uuid":
            body += 16
        if size < body - pos or pos + size > end:
            raise Damaged(f"box {kind!r} runs past its parent")
        yield kind, body, pos + size
        pos += size


def _child(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    return next(((s, e) for k, s, e in _boxes(data, start, end) if k == kind), None)


def _associations(data: bytes, start: int, end: int) -> Iterator[tuple[int, list[int]]]:
    """An ipma box's entries: item id and its property indices (1-based into ipco)."""
    reader = _ByteReader(data, start, end)
    version, flags = reader.read(1), reader.read(3)
    id_size, index_size = (4 if version else 2), (2 if flags & 1 else 1)
    mask = (1 << (8 * index_size - 1)) - 1  # the top bit says whether the property is essential
    for _ in range(reader.read(4)):
        item_id, count = reader.read(id_size), reader.read(1)
        yield item_id, [reader.read(index_size) & mask for _ in range(count)]


def _hevc_configuration(body: bytes) -> HevcConfiguration:
    reader = _ByteReader(body, 0, len(body))
    reader.skip(21)
    length_size = (reader.read(1) & 3) + 1
    if length_size == 3:
        raise Damaged("hvcC: NAL unit lengths of 3 bytes")
    parameter_sets = []
    for _ in range(reader.read(1)):
        reader.skip(1)  # completeness and NAL unit type
        for _ in range(reader.read(2)):
            parameter_sets.append(reader.take(reader.read(2)))
    return HevcConfiguration(length_size, tuple(parameter_sets))


def _nal_units(data: bytes, length_size: int) -> Iterator[bytes]:
    reader = _ByteReader(data, 0, len(data))
    while not reader.at_end():
        yield reader.take(reader.read(length_size))


class _ByteReader:
    def __init__(self, data: bytes, start: int, end: int) -> None:
        self._data, self._pos, self._end = data, start, end

    def read(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def take(self, size: int) -> bytes:
        if self._pos + size > self._end:
            raise Damaged("a length runs past the end of its box or item")
        self._pos += size
        return self._data[self._pos - size : self._pos]

    def skip(self, size: int) -> None:
        self.take(size)

    def at_end(self) -> bool:
        return self._pos >= self._end


# --- the stream ------------------------------------------------------------------------------------------


def _rbsp(payload: bytes) -> bytes:
    """The payload without its emulation prevention bytes (00 00 03 stands for 00 00)."""
    return payload.replace(b"\x00\x00\x03", b"\x00\x00")


class _BitReader:
    def __init__(self, data: bytes) -> None:
        self._value, self._bits, self._pos = int.from_bytes(data, "big"), 8 * len(data), 0

    def read(self, count: int) -> int:
        if self._pos + count > self._bits:
            raise Damaged("a sequence parameter set ends early")
        self._pos += count
        return (self._value >> (self._bits - self._pos)) & ((1 << count) - 1)

    def skip(self, count: int) -> None:
        self.read(count)

    def exp_golomb(self) -> int:
        zeros = 0
        while not self.read(1):
            zeros += 1
            if zeros > 31:
                raise Damaged("a sequence parameter set holds an impossible value")
        return (1 << zeros) - 1 + self.read(zeros)


def _check_sequence_sizes(nal_units: list[bytes], tiling: Tiling, max_pixels: int, item_id: int) -> None:
    for nal in nal_units:
        if len(nal) < 2:
            raise Damaged(f"image item {item_id} holds an empty NAL unit")
        if (nal[0] >> 1) & 0x3F != _NAL_SPS:
            continue
        size = sequence_size(nal)
        tile_w, tile_h = tiling.tile_width, tiling.tile_height
        if not (
            0 < size.width <= tile_w + MAX_CODED_MARGIN_PX
            and 0 < size.height <= tile_h + MAX_CODED_MARGIN_PX
            and size.width * size.height <= max_pixels
        ):
            raise Damaged(f"image item {item_id} is coded at {size.width}x{size.height} for a {tile_w}x{tile_h} tile")


def _decode(nal_units: list[bytes]) -> str | None:
    """What went wrong decoding one picture from these NAL units, or None."""
    lib = _library()
    context = lib.de265_new_decoder()
    if not context:
        raise MemoryError("libde265 could not make a decoder")
    planes = _MarkedPlanes(lib)
    try:
        lib.de265_set_image_allocation_functions(context, ctypes.byref(planes.functions), None)
        lib.de265_set_parameter_bool(context, _DISABLE_DEBLOCKING, 1)
        lib.de265_set_parameter_bool(context, _DISABLE_SAO, 1)
        for nal in nal_units:
            lib.de265_push_NAL(context, nal, len(nal), 0, None)
        lib.de265_flush_data(context)
        more = ctypes.c_int(1)
        while True:
            error = lib.de265_decode(context, ctypes.byref(more))
            if planes.failure is not None:  # ours, not the stream's: never reported as damage
                raise planes.failure
            while warning := lib.de265_get_warning(context):
                if warning not in _THREAD_WARNINGS:
                    return _text(lib, warning)
            if error and error != _ERROR_WAITING_FOR_INPUT:
                return _text(lib, error)
            if picture := lib.de265_get_next_picture(context):
                return planes.undecoded(picture)
            if not more.value:
                return "no picture was decoded"
    finally:
        lib.de265_free_decoder(context)


class _ImageSpec(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_int)
        for name in ("format", "width", "height", "alignment", "crop_left", "crop_right", "crop_top", "crop_bottom")
    ]


_GET_BUFFER = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.c_void_p, ctypes.POINTER(_ImageSpec), ctypes.c_void_p, ctypes.c_void_p
)
_RELEASE_BUFFER = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p)


class _ImageAllocation(ctypes.Structure):
    _fields_ = [("get_buffer", _GET_BUFFER), ("release_buffer", _RELEASE_BUFFER)]


_FORMAT_MONO: Final = 1
_CHROMA_SUBSAMPLING: Final = {_FORMAT_MONO: (1, 1), 2: (2, 2), 3: (2, 1), 4: (1, 1)}  # de265_image_format -> x, y
_PADDING: Final = 64  # libde265's SIMD code reads a little past a plane's end (its own allocator pads 16 bytes)
_GRANULE: Final = 8  # the smallest coding block: a block is reconstructed whole, or not at all
_NOISE: Final = 4099  # bytes in the noise pattern, repeated over a plane (prime: rows never line up with it)
_CHECKED_ROWS: Final = 256  # rows compared at a time: the comparison's arrays stay small for any image


class _MarkedPlanes:
    """Picture planes libde265 decodes into, the luma plane filled with noise beforehand (a fixed pseudo-random
    pattern), so that what it never wrote can be found afterwards.

    A slice can end early without any warning: damage that decodes as its end-of-slice flag leaves every later
    block of the tile as it was. A whole 8x8 block still equal to the noise is such a block: 64 pseudo-random
    bytes are never what a decoder writes. `failure`: an allocation of ours that failed (libde265 only says
    "out of memory", which must not pass for damage).
    """

    def __init__(self, lib: ctypes.CDLL) -> None:
        self._lib = lib
        self._luma: dict[int, _Luma] = {}
        self._kept: dict[int, list[Any]] = {}
        self.failure: BaseException | None = None
        self.functions = _ImageAllocation(_GET_BUFFER(self._get_buffer), _RELEASE_BUFFER(self._release_buffer))

    def undecoded(self, picture: int) -> str | None:
        import numpy as np

        if picture not in self._luma:
            raise RuntimeError("libde265 gave a picture decoded into planes it did not ask for")
        luma = self._luma[picture]
        step = _GRANULE * luma.bytes_per_sample
        rows, used = luma.rows - luma.rows % _GRANULE, luma.used - luma.used % step
        untouched = blocks = 0
        for top in range(0, rows, _CHECKED_ROWS):
            count = min(_CHECKED_ROWS, rows - top)
            start, size = top * luma.row_bytes, count * luma.row_bytes
            band = luma.plane[start : start + size].reshape(count, luma.row_bytes)[:, :used]
            noise = _noise(start, size).reshape(count, luma.row_bytes)[:, :used]
            written = (band != noise).reshape(count // _GRANULE, _GRANULE, used // step, step).any(axis=(1, 3))
            untouched, blocks = untouched + int(np.count_nonzero(~written)), blocks + written.size
        return f"{untouched} of its {blocks} blocks were never decoded (the slice ended early)" if untouched else None

    def _get_buffer(self, _context: int, spec_pointer: Any, picture: int, _user: int) -> int:
        import numpy as np

        try:
            spec = spec_pointer.contents
            subsampling = _CHROMA_SUBSAMPLING.get(spec.format)
            if subsampling is None or spec.width <= 0 or spec.height <= 0:
                return 0
            align = max(16, spec.alignment)
            kept = self._kept.setdefault(picture, [])
            for channel in range(1 if spec.format == _FORMAT_MONO else 3):
                sub_x, sub_y = subsampling if channel else (1, 1)
                width, height = -(-spec.width // sub_x), -(-spec.height // sub_y)
                bytes_per_sample = (self._lib.de265_get_bits_per_pixel(picture, channel) + 7) // 8
                if not 1 <= bytes_per_sample <= 2:
                    return 0
                row_bytes = -(-width // align) * align * bytes_per_sample
                storage = np.empty(height * row_bytes + _PADDING + align, np.uint8)
                start = -storage.ctypes.data % align
                plane = storage[start : start + height * row_bytes]
                kept.append(storage)
                if channel == 0:
                    plane[:] = _noise(0, plane.size)
                    self._luma[picture] = _Luma(plane, height, row_bytes, width * bytes_per_sample, bytes_per_sample)
                # The public call takes the stride in bytes (libde265 keeps it in samples).
                self._lib.de265_set_image_plane(picture, channel, plane.ctypes.data, row_bytes, None)
            return 1
        except BaseException as exc:  # libde265 takes 0 as the allocation failing; the decode raises it after
            self.failure = exc
            return 0

    def _release_buffer(self, _context: int, picture: int, _user: int) -> None:
        self._kept.pop(picture, None)
        self._luma.pop(picture, None)


@dataclass(frozen=True)
class _Luma:
    """A luma plane as allocated (flat, noise-filled) and how its rows lie in it."""

    plane: Any
    rows: int
    row_bytes: int
    used: int  # bytes a row holds of the picture
    bytes_per_sample: int


def _noise(start: int, size: int) -> Any:
    """Bytes [start, start + size) of the noise a luma plane is filled with: a pattern repeated from byte 0."""
    import numpy as np

    pattern = _noise_pattern()
    return np.resize(np.roll(pattern, -(start % _NOISE)), size)


def _text(lib: ctypes.CDLL, code: int) -> str:
    return (lib.de265_get_error_text(code) or b"").decode("utf-8", "replace") or f"libde265 error {code}"


@lru_cache(maxsize=1)
def _noise_pattern() -> Any:
    import numpy as np

    return np.random.default_rng(0x48455643).integers(0, 256, _NOISE, np.uint8)


@lru_cache(maxsize=1)
def _library() -> ctypes.CDLL:
    from happypath_workflow.libheif import declare_functions, sibling_library

    lib = sibling_library("libde265")
    pointer = ctypes.c_void_p
    signatures: dict[str, tuple[object, list[object]]] = {
        "de265_init": (ctypes.c_int, []),
        "de265_new_decoder": (pointer, []),
        "de265_free_decoder": (ctypes.c_int, [pointer]),
        "de265_set_parameter_bool": (None, [pointer, ctypes.c_int, ctypes.c_int]),
        "de265_push_NAL": (ctypes.c_int, [pointer, ctypes.c_char_p, ctypes.c_int, ctypes.c_int64, pointer]),
        "de265_flush_data": (ctypes.c_int, [pointer]),
        "de265_decode": (ctypes.c_int, [pointer, ctypes.POINTER(ctypes.c_int)]),
        "de265_get_warning": (ctypes.c_int, [pointer]),
        "de265_get_next_picture": (pointer, [pointer]),
        "de265_get_error_text": (ctypes.c_char_p, [ctypes.c_int]),
        "de265_set_image_allocation_functions": (None, [pointer, ctypes.POINTER(_ImageAllocation), pointer]),
        "de265_set_image_plane": (None, [pointer, ctypes.c_int, pointer, ctypes.c_int, pointer]),
        "de265_get_bits_per_pixel": (ctypes.c_int, [pointer, ctypes.c_int]),
    }
    declare_functions(lib, signatures)
    lib.de265_init()  # reference-counted; libheif's plugin holds one too, never given back here
    return lib
