"""CRC functions of the Teltonika protocols, built on crcmod."""

from __future__ import annotations

from collections.abc import Callable

import crcmod

# crcmod has no type stubs: give its generated functions their real signature.
_CrcFun = Callable[[bytes | bytearray | memoryview, int], int]

# DualCam DATA packets: CRC-16, reflected polynomial 0x8408 (0x1021 normal), no final XOR.
# The initial value is chained from the previous good packet, so the CRC of packet k with
# init = CRC of packet k-1 equals the CRC of packets 1..k concatenated with init 0.
_crc16_8408: _CrcFun = crcmod.mkCrcFun(0x11021, rev=True, initCrc=0, xorOut=0)

# AVL (Codec 8/8E/12/16): CRC-16/IBM, reflected polynomial 0xA001 (0x8005 normal), init 0.
_crc16_ibm: _CrcFun = crcmod.mkCrcFun(0x18005, rev=True, initCrc=0, xorOut=0)


def crc16_dualcam(data: bytes | bytearray | memoryview, init: int = 0) -> int:
    """CRC of a DualCam DATA payload, continuing from ``init``."""
    return _crc16_8408(data, init)


def crc16_ibm(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/IBM as used by the AVL codecs."""
    return _crc16_ibm(data, 0)
