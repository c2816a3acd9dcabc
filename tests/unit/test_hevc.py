"""The HEVC integrity check: damaged HEIC image data is found (libheif conceals it), and the container's
decoder configurations and the streams' picture sizes are read as H.265 and ISO/IEC 23008-12 lay them out."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import pytest
from happypath_testkit.heic import box, damaged_tile, tile_offsets, with_bits_flipped
from PIL import Image

from happypath.statuses import RejectionReason
from happypath_workflow import hevc, libheif
from happypath_workflow.imaging import (
    HEIF_MAX_CODED_PIXELS,
    HEVC_DAMAGE,
    ImageRejected,
    check_image_data,
    inspect_image,
    render,
)

PHOTOS = Path(__file__).parents[2].parent / "shared" / "photos"
NAL_SPS = 33


@cache
def iphone_heic() -> bytes:
    return (PHOTOS / "iphone_13_pro_max.HEIC").read_bytes()


@cache
def single_image_heic() -> bytes:
    """A HEIF whose primary image is one HEVC item, not a grid (what most encoders but phones write)."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    # 1000 px wide: libde265 is given rows padded to 1008 samples (its 16-byte alignment)
    picture = Image.open(PHOTOS / "jolla.jpg").reduce(2).crop((0, 0, 1000, 900))
    buffer = io.BytesIO()
    picture.save(buffer, "HEIF", quality=60)
    return buffer.getvalue()


def find_damage(data: bytes) -> None:
    with libheif.HeifImage(data) as heif:
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)


# --- real files ------------------------------------------------------------------------------------------


def test_every_tile_of_a_phone_heic_decodes_cleanly() -> None:
    data = iphone_heic()
    find_damage(data)
    tiles = tile_offsets(data)
    assert len(tiles) == 8 * 6  # the 4032x3024 photo in 512 px tiles
    configurations = hevc.decoder_configurations(data)
    for item_id in tiles:
        sps = [nal for nal in configurations[item_id].parameter_sets if (nal[0] >> 1) & 0x3F == NAL_SPS]
        assert [hevc.sequence_size(nal) for nal in sps] == [hevc.SequenceSize(512, 512)]
        assert configurations[item_id].length_size == 4


@pytest.mark.parametrize("tile", range(0, 48, 5))
@pytest.mark.parametrize("into", [100, 2000])
def test_damage_in_any_tile_is_found_and_the_tile_named(tile: int, into: int) -> None:
    damaged, item_id = damaged_tile(iphone_heic(), tile, into=into)
    with pytest.raises(hevc.Damaged, match=rf"^image item {item_id}: "):
        find_damage(damaged)


@pytest.mark.parametrize("tile", [5, 17, 29, 41])
def test_a_single_flipped_bit_is_found_as_a_rule(tile: int) -> None:
    """Measured: 133 of 144 single-bit flips (every tile, three bits each) are found. The others leave the
    stream valid: they change one coefficient, and no decoder can tell that from the photo."""
    offset = list(tile_offsets(iphone_heic()).values())[tile] + 1000
    with pytest.raises(hevc.Damaged):
        find_damage(with_bits_flipped(iphone_heic(), offset, mask=1 << 3))


def test_the_check_step_rejects_a_damaged_heic_which_libheif_decodes_without_an_error() -> None:
    damaged, item_id = damaged_tile(iphone_heic(), 20)
    assert set(render(damaged, workers=1)) == {"tile", "scaled"}  # concealed: a smeared block, no error
    for check in (inspect_image, check_image_data):
        with pytest.raises(ImageRejected) as rejected:
            check(damaged)
        assert rejected.value.reason == RejectionReason.DAMAGED
        assert rejected.value.detail.startswith(f"{HEVC_DAMAGE}: image item {item_id}: "), rejected.value.detail


def test_a_single_image_heif_is_checked_too() -> None:
    data = single_image_heic()
    with libheif.HeifImage(data) as heif:
        (item,) = heif.coded_images()
    assert item.codec == "hvc1"
    find_damage(data)
    offset = data.find(item.data)
    with pytest.raises(hevc.Damaged, match=rf"^image item {item.item_id}: "):
        find_damage(with_bits_flipped(data, offset + len(item.data) // 2, mask=0x04))


def test_a_slice_that_ends_early_is_found_by_the_blocks_it_left_undecoded() -> None:
    """Damage that decodes as the end-of-slice flag leaves the rest of the picture undecoded, with no warning
    from libde265: libheif hands those blocks out as they were allocated."""
    data = single_image_heic()
    with libheif.HeifImage(data) as heif:
        (item,) = heif.coded_images()
    offset, early_ends = data.find(item.data), []
    for into in range(20, 800, 7):
        try:
            find_damage(with_bits_flipped(data, offset + into, 8))
        except hevc.Damaged as damage:
            early_ends += [str(damage)] if "were never decoded (the slice ended early)" in str(damage) else []
        else:
            pytest.fail(f"damage {into} bytes into the image data was not found")
    assert early_ends, "no damage ended the slice early"


def encoded_variant(variant: str) -> bytes:
    """The 1001x899 photo crop (odd sizes: coded with padding, cropped by the conformance window) as HEIF."""
    import numpy as np
    import pillow_heif

    pillow_heif.register_heif_opener()
    picture = Image.open(PHOTOS / "jolla.jpg").reduce(2).crop((0, 0, 1001, 899))
    buffer = io.BytesIO()
    if variant == "10-bit":
        samples = (np.asarray(picture).astype("<u2") * 257).tobytes()
        pillow_heif.from_bytes(mode="RGB;16", size=picture.size, data=samples).save(buffer, quality=60)
    elif variant == "monochrome":
        picture.convert("L").save(buffer, "HEIF", quality=60)
    elif variant == "alpha":
        picture.convert("RGBA").save(buffer, "HEIF", quality=60)
    else:
        picture.save(buffer, "HEIF", quality=60, chroma={"4:2:0": 420, "4:2:2": 422, "4:4:4": 444}[variant])
    return buffer.getvalue()


@pytest.mark.parametrize("variant", ["4:2:0", "4:2:2", "4:4:4", "10-bit", "monochrome", "alpha"])
def test_every_kind_of_valid_stream_passes_and_its_damage_is_found(variant: str) -> None:
    data = encoded_variant(variant)
    inspect_image(data)
    with libheif.HeifImage(data) as heif:
        items = list(heif.coded_images())
    assert [item.codec for item in items] == ["hvc1"] * (2 if variant == "alpha" else 1)  # the alpha image's too
    for item in items:
        with pytest.raises(hevc.Damaged, match=rf"^image item {item.item_id}: "):
            find_damage(with_bits_flipped(data, data.find(item.data) + len(item.data) // 3, 8))


# --- what the decoder is given ---------------------------------------------------------------------------


IPHONE_TILING = libheif.Tiling(8, 6, 512, 512)


@dataclass
class FakeHeif:
    """The two things `find_damage` asks of an opened HEIF, chosen by the test."""

    images: list[libheif.CodedImage]
    tiling: libheif.Tiling = IPHONE_TILING
    data: bytes = field(default_factory=iphone_heic)  # where the hvcC properties are read

    def coded_images(self) -> Iterator[libheif.CodedImage]:
        return iter(self.images)


def first_tile() -> libheif.CodedImage:
    with libheif.HeifImage(iphone_heic()) as heif:
        return next(heif.coded_images())


def test_a_stream_coded_larger_than_its_tile_is_refused_before_anything_is_decoded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hevc, "_decode", lambda nal_units: pytest.fail("decoded"))
    heif = FakeHeif([first_tile()], libheif.Tiling(16, 12, 256, 256))
    with pytest.raises(hevc.Damaged, match="is coded at 512x512 for a 256x256 tile"):
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


def test_a_margin_of_one_coding_block_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hevc, "_decode", lambda nal_units: None)
    heif = FakeHeif([first_tile()], libheif.Tiling(8, 6, 512 - hevc.MAX_CODED_MARGIN_PX, 448))
    hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


def test_a_stream_coded_over_the_pixel_limit_is_refused_however_thin_its_tile(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(hevc, "_decode", lambda nal_units: pytest.fail("decoded"))
    heif = FakeHeif([first_tile()])
    with pytest.raises(hevc.Damaged, match="is coded at 512x512 for a 512x512 tile"):
        hevc.find_damage(heif, 512 * 512 - 1)  # type: ignore[arg-type]


def test_a_failed_allocation_of_the_check_is_not_taken_for_damage(monkeypatch: pytest.MonkeyPatch) -> None:
    import numpy as np

    def no_memory(*args: object, **kwargs: object) -> None:
        raise MemoryError

    monkeypatch.setattr(np, "empty", no_memory)
    with pytest.raises(MemoryError):
        find_damage(iphone_heic())
    with pytest.raises(ImageRejected) as rejected:
        check_image_data(iphone_heic())
    assert rejected.value.reason == RejectionReason.TOO_LARGE


@pytest.mark.parametrize(
    ("cut", "message"),
    [(1, "a length runs past the end"), (-1, "a length runs past the end")],
)
def test_nal_units_that_do_not_fill_the_item_exactly_are_damage(cut: int, message: str) -> None:
    tile = first_tile()
    data = tile.data[:-1] if cut == 1 else tile.data + b"\x00"  # the last length runs past / a stray byte
    heif = FakeHeif([libheif.CodedImage(tile.item_id, "hvc1", data)])
    with pytest.raises(hevc.Damaged, match=message):
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


def test_an_hevc_item_without_a_decoder_configuration_is_damage() -> None:
    heif = FakeHeif([libheif.CodedImage(999, "hvc1", first_tile().data)])
    with pytest.raises(hevc.Damaged, match="image item 999 has no HEVC decoder configuration"):
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


def test_items_of_other_codecs_are_left_to_libheif(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hevc, "_decode", lambda nal_units: pytest.fail("decoded"))
    heif = FakeHeif([libheif.CodedImage(1, "av01", b"not HEVC")])
    hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


def test_a_tile_with_no_picture_data_is_damage() -> None:
    heif = FakeHeif([libheif.CodedImage(1, "hvc1", b"")])  # only the parameter sets reach libde265
    with pytest.raises(hevc.Damaged, match="image item 1: no picture was decoded"):
        hevc.find_damage(heif, HEIF_MAX_CODED_PIXELS)  # type: ignore[arg-type]


# --- the container's properties --------------------------------------------------------------------------


def hvcc(*nal_units: bytes, length_size_minus_one: int = 3) -> bytes:
    arrays = b"".join(
        bytes([0x80 | (nal[0] >> 1) & 0x3F]) + b"\x00\x01" + len(nal).to_bytes(2, "big") + nal for nal in nal_units
    )
    return bytes(21) + bytes([0xFC | length_size_minus_one, len(nal_units)]) + arrays


def heif_file(properties: list[bytes], ipma: bytes) -> bytes:
    iprp = box(b"iprp", box(b"ipco", b"".join(properties)) + box(b"ipma", ipma))
    return box(b"ftyp", b"mif1\x00\x00\x00\x00mif1heic") + box(
        b"meta", b"\x00\x00\x00\x00" + box(b"hdlr", bytes(25)) + iprp
    )


SPS = bytes([NAL_SPS << 1, 1]) + b"sps"
ISPE = box(b"ispe", bytes(12))


def test_associations_with_long_item_ids_and_wide_indices_are_read() -> None:
    # ipma version 1: 32-bit item ids; flags bit 0: 16-bit indices, the top bit marking an essential property.
    ipma = b"\x01\x00\x00\x01" + (2).to_bytes(4, "big")
    ipma += (70000).to_bytes(4, "big") + b"\x02" + (0x8002).to_bytes(2, "big") + (1).to_bytes(2, "big")
    ipma += (70001).to_bytes(4, "big") + b"\x01" + (1).to_bytes(2, "big")
    data = heif_file([ISPE, box(b"hvcC", hvcc(SPS))], ipma)
    assert hevc.decoder_configurations(data) == {70000: hevc.HevcConfiguration(4, (SPS,))}


def test_property_index_zero_means_none() -> None:
    ipma = b"\x00\x00\x00\x00" + (1).to_bytes(4, "big") + (7).to_bytes(2, "big") + b"\x02\x00\x81"
    data = heif_file([box(b"hvcC", hvcc(SPS))], ipma)
    assert hevc.decoder_configurations(data) == {7: hevc.HevcConfiguration(4, (SPS,))}


def test_short_associations_are_read() -> None:
    ipma = b"\x00\x00\x00\x00" + (1).to_bytes(4, "big") + (7).to_bytes(2, "big") + b"\x02\x81\x02"
    data = heif_file([box(b"hvcC", hvcc(SPS, length_size_minus_one=1)), ISPE], ipma)
    assert hevc.decoder_configurations(data) == {7: hevc.HevcConfiguration(2, (SPS,))}


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (box(b"ftyp", bytes(8)), "no meta box"),
        (heif_file([ISPE], b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x07\x01\x02"), "names property 2 of 1"),
        (heif_file([box(b"hvcC", hvcc(SPS)[:-2])], b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x07\x01\x01"), "runs past"),
        (
            heif_file(
                [box(b"hvcC", hvcc(SPS, length_size_minus_one=2))], b"\x00\x00\x00\x00\x00\x00\x00\x01\x00\x07\x01\x01"
            ),
            "3 bytes",
        ),
        (heif_file([ISPE], b"\x00\x00\x00\x00\x00\x00\x00\x05"), "runs past"),  # five entries announced, none there
        (heif_file([ISPE], b"")[:-3], "runs past its parent"),
    ],
    ids=["no-meta", "index-out-of-range", "hvcC-cut-short", "3-byte-lengths", "ipma-cut-short", "file-cut-short"],
)
def test_malformed_properties_are_damage(data: bytes, message: str) -> None:
    with pytest.raises(hevc.Damaged, match=message):
        hevc.decoder_configurations(data)


# --- the sequence parameter set --------------------------------------------------------------------------


class BitWriter:
    def __init__(self) -> None:
        self.bits: list[int] = []

    def put(self, value: int, count: int) -> None:
        self.bits += [(value >> (count - 1 - i)) & 1 for i in range(count)]

    def exp_golomb(self, value: int) -> None:
        code = value + 1
        self.put(0, code.bit_length() - 1)
        self.put(code, code.bit_length())

    def nal(self, nal_type: int, temporal_id_plus1: int = 1) -> bytes:
        """The bits as a NAL unit: header, RBSP trailing bits, and emulation prevention bytes inserted over the
        whole unit, header included (as H.265 7.3.1.1 has them)."""
        bits = [*self.bits, 1]
        bits += [0] * (-len(bits) % 8)
        payload = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
        rbsp = bytes([nal_type << 1, temporal_id_plus1]) + payload
        escaped, zeros = bytearray(), 0
        for byte in rbsp:
            if zeros >= 2 and byte <= 3:
                escaped.append(3)
                zeros = 0
            escaped.append(byte)
            zeros = zeros + 1 if byte == 0 else 0
        return bytes(escaped)


def sps(
    width: int, height: int, *, sub_layers: list[tuple[int, int]], chroma_format: int, temporal_id_plus1: int = 1
) -> bytes:
    bits = BitWriter()
    bits.put(0, 4)  # sps_video_parameter_set_id
    bits.put(len(sub_layers), 3)  # sps_max_sub_layers_minus1
    bits.put(temporal_id_plus1, 1)  # sps_temporal_id_nesting_flag: 0 with the header's 0, for three zero bytes
    bits.put(0, 88)  # general profile: all zeros, so the stream needs emulation prevention bytes
    bits.put(93, 8)  # general_level_idc
    for profile, level in sub_layers:
        bits.put(profile, 1)
        bits.put(level, 1)
    if sub_layers:
        bits.put(0, 2 * (8 - len(sub_layers)))
    for profile, level in sub_layers:
        bits.put(0, 88 * profile)
        bits.put(0b1011_0101, 8 * level)
    bits.exp_golomb(0)  # sps_seq_parameter_set_id
    bits.exp_golomb(chroma_format)
    if chroma_format == 3:
        bits.put(0, 1)  # separate_colour_plane_flag
    bits.exp_golomb(width)
    bits.exp_golomb(height)
    bits.put(0, 1)  # conformance_window_flag: where the reading stops
    return bits.nal(NAL_SPS, temporal_id_plus1)


@pytest.mark.parametrize(
    ("sub_layers", "chroma_format"),
    [([], 1), ([(1, 1), (0, 1), (1, 0)], 1), ([(0, 0)], 3), ([(1, 1)] * 7, 0)],
)
@pytest.mark.parametrize("size", [(512, 512), (1, 2), (40000, 30000)])
def test_the_picture_size_is_read_past_every_sub_layer(
    size: tuple[int, int], sub_layers: list[tuple[int, int]], chroma_format: int
) -> None:
    nal = sps(*size, sub_layers=sub_layers, chroma_format=chroma_format)
    assert b"\x00\x00\x03" in nal  # the all-zero profile fields
    assert hevc.sequence_size(nal) == hevc.SequenceSize(*size)


def test_an_emulation_prevention_byte_right_after_the_header_is_removed_too() -> None:
    nal = sps(4096, 2048, sub_layers=[], chroma_format=1, temporal_id_plus1=0)
    assert nal.startswith(bytes([NAL_SPS << 1, 0, 0, 3]))  # the escape straddles the header
    assert hevc.sequence_size(nal) == hevc.SequenceSize(4096, 2048)


@pytest.mark.parametrize(
    "nal",
    [
        sps(512, 512, sub_layers=[], chroma_format=1)[:14],  # cut inside the profile
        bytes([NAL_SPS << 1, 1]) + bytes(12) + b"\x00" * 8,  # an exp-Golomb code with more than 31 leading zeros
    ],
    ids=["cut-short", "impossible-value"],
)
def test_an_unreadable_sequence_parameter_set_is_damage(nal: bytes) -> None:
    with pytest.raises(hevc.Damaged, match="sequence parameter set"):
        hevc.sequence_size(nal)


def test_too_many_properties_are_refused_as_they_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hevc, "MAX_PROPERTIES", 2)
    data = heif_file([ISPE, ISPE, ISPE], b"\x00\x00\x00\x00\x00\x00\x00\x00")
    with pytest.raises(hevc.Damaged, match="more than 2 item properties"):
        hevc.decoder_configurations(data)


def test_images_derived_from_derived_images_too_deep_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(libheif, "_MAX_DERIVATION_DEPTH", 0)  # the iPhone's grid is one level
    with pytest.raises(ImageRejected) as rejected:
        inspect_image(iphone_heic())
    assert rejected.value.reason == RejectionReason.DAMAGED
    assert "derived from derived images 0 deep" in rejected.value.detail
