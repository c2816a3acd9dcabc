"""HEIC files built or damaged on purpose: ISOBMFF boxes, and bits of a tile's HEVC data flipped with the
container left intact."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PIL import Image

from happypath_workflow import libheif

PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "photos"


@cache
def display_p3_profile() -> bytes:
    """The shared iPhone HEIC's Display P3 colour profile (opening a HEIC reads its metadata, not its image)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    with Image.open(PHOTOS / "iphone_13_pro_max.HEIC") as heic:
        return bytes(heic.info["icc_profile"])


def box(kind: bytes, body: bytes) -> bytes:
    """An ISOBMFF box: its 32-bit size, its type, its body."""
    return (8 + len(body)).to_bytes(4, "big") + kind + body


def tile_offsets(data: bytes) -> dict[int, int]:
    """Where each coded image of the primary image starts in the file, by item id."""
    with libheif.HeifImage(data) as heif:
        found = {item.item_id: data.find(item.data) for item in heif.coded_images()}
    assert all(offset > 0 for offset in found.values()), found
    return found


def with_bits_flipped(data: bytes, offset: int, length: int = 1, mask: int = 0xFF) -> bytes:
    damaged = bytearray(data)
    for position in range(offset, offset + length):
        damaged[position] ^= mask
    return bytes(damaged)


def damaged_tile(data: bytes, tile: int = 0, *, into: int = 400) -> tuple[bytes, int]:
    """The file with every bit of 8 bytes flipped `into` bytes into the data of its `tile`-th tile, and that
    tile's item id. (A single flipped bit may leave the stream valid: in a bypass-coded bin it changes one
    coefficient's sign or value, which no decoder can tell from the photo.)"""
    item_id, offset = list(tile_offsets(data).items())[tile]
    return with_bits_flipped(data, offset + into, 8), item_id
