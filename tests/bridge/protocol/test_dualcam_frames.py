"""Byte-exact vectors for every DualCam frame, both directions."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dualcam_bridge.protocol import dualcam_frames as fr
from dualcam_bridge.protocol.crc import crc16_dualcam, crc16_ibm
from dualcam_bridge.protocol.errors import DeviceProtocolError

VECTORS = Path(__file__).parent / "vectors"


def traccar_data_chunk() -> bytes:
    """A captured chunk (traccar's DualcamProtocolDecoderTest): one DATA frame + a partial one."""
    return bytes.fromhex((VECTORS / "traccar_dualcam_data.hex").read_text().strip())


@pytest.mark.parametrize(
    ("encoded", "expected"),
    [
        (fr.encode_init(352094082736916, 0x44000400), "000000050001403a4abaa31444000400"),
        (fr.encode_init("350612071913857", 0x04000000), "0000000500013ee13c00198104000000"),
        (fr.encode_start(17, 0), "00010006000000110000"),
        (fr.encode_start(0x12345678, 0xBEEF), "0001000612345678beef"),
        (fr.encode_sync(1), "0003000400000001"),
        (fr.encode_resume(1), "0002000400000001"),
        (fr.encode_resume(0), "0002000400000000"),
        (fr.encode_resume(258), "0002000400000102"),
        (fr.encode_file_request("%photof"), "000800072570686f746f66"),
        (fr.encode_file_request("%videor"), "0008000725766964656f72"),
        (fr.encode_metadata_request("%photor"), "000a00072570686f746f72"),
        (fr.encode_repeat_init(), "0009"),
        (fr.encode_close(), "00000000"),
        (fr.encode_status(0x11), "0005000400000011"),
        (fr.encode_data(b"\x01\x02\x03", 0xABCD), "00040005010203abcd"),
    ],
)
def test_frame_vectors(encoded: bytes, expected: str) -> None:
    assert encoded.hex() == expected


def test_crc_check_values() -> None:
    assert crc16_dualcam(b"123456789") == 0x2189
    assert crc16_ibm(b"123456789") == 0xBB3D


def test_crc_of_traccar_packet() -> None:
    chunk = traccar_data_chunk()
    cmd, length = struct.unpack_from(">HH", chunk)
    assert (cmd, length) == (fr.CMD_DATA, 0x0402)
    data, crc = chunk[4:1028], chunk[1028:1030]
    assert data[:10].hex() == "ffd8ffe000104a464946"
    assert crc16_dualcam(data) == 0x4874 == int.from_bytes(crc, "big")


def test_crc_chaining_equals_crc_of_concatenation() -> None:
    a, b = b"first packet" * 80, b"second" * 100
    assert crc16_dualcam(b, crc16_dualcam(a)) == crc16_dualcam(a + b)


def test_settings_bits_map_to_files() -> None:
    assert fr.files_in_settings(0x04000000) == ("%photof",)
    assert fr.files_in_settings(0x44000400) == ("%photof",)  # 0x40 seen on real devices
    assert fr.files_in_settings(0x3C000000) == ("%photof", "%photor", "%videof", "%videor")
    assert fr.files_in_settings(0x20000000) == ("%videor",)
    assert fr.files_in_settings(0x02000000) == ()
    assert fr.files_in_settings(0x000000FF) == ()


def test_file_id_helpers() -> None:
    assert [fr.file_camera(f) for f in fr.FILE_IDS] == ["front", "rear", "front", "rear"]
    assert [fr.file_kind(f) for f in fr.FILE_IDS] == ["photo", "photo", "video", "video"]


META_32 = (
    "01"  # version
    "10"  # file type 16 = front video
    "0000019ab697e800"  # 1764000000000 ms
    "03"  # trigger: crash
    "0014"  # 20 s
    "19"  # 25 fps
    "ff88"  # -120 min
    "404b57f972474539"  # 54.6873 (f64)
    "403947ae147ae148"  # 25.28 (f64)
)


def test_metadata_vector_32_bytes() -> None:
    meta = fr.FileMetadata.parse(bytes.fromhex(META_32))
    assert meta.version == 1 and meta.file_type == 16 and meta.trigger == 3
    assert meta.timestamp == datetime(2025, 11, 24, 16, 0, tzinfo=UTC)
    assert (meta.length_s, meta.framerate, meta.timezone_min) == (20, 25, -120)
    assert meta.latitude == pytest.approx(54.6873)
    assert meta.longitude == pytest.approx(25.28)
    assert meta.trigger_timestamp is None
    assert meta.encode().hex() == META_32
    assert fr.encode_metadata(meta).hex() == "000b0020" + META_32


def test_metadata_vector_40_bytes_with_trigger_timestamp() -> None:
    raw = bytes.fromhex(META_32 + "0000019ab697dc48")
    meta = fr.FileMetadata.parse(raw)
    assert meta.trigger_timestamp == datetime(2025, 11, 24, 15, 59, 57, tzinfo=UTC)
    assert meta.encode() == raw


def test_metadata_too_short() -> None:
    with pytest.raises(DeviceProtocolError, match="expected >= 32"):
        fr.FileMetadata.parse(bytes(31))


def test_metadata_timestamp_out_of_range() -> None:
    raw = bytearray.fromhex(META_32)
    raw[2:10] = b"\xff" * 8
    with pytest.raises(DeviceProtocolError, match="out of range"):
        fr.FileMetadata.parse(bytes(raw))
