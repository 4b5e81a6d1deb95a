"""One file in transfer: which packet comes next and whether a DATA packet's chained CRC holds.

``CameraSession`` owns the frames and the states; ``FileTransfer`` owns the per-file packet
bookkeeping it consults for every SYNC and DATA. Sans-IO and free of frames: it answers with
a ``Verdict`` and the session turns that into events and replies.

The DualCam DATA CRC (CRC-16, poly 0x8408) is chained: each packet's CRC is computed with the
previous good packet's CRC as its init, so the chain of a prefix equals the CRC of the whole
prefix. That is what makes the stored prefix itself the resume state (``resume``), and what
lets a device that resends from an earlier packet be followed without storing twice.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .crc import crc16_dualcam
from .dualcam_frames import PACKET_DATA_MAX, FileMetadata
from .errors import DeviceProtocolError


class Verdict(enum.Enum):
    """What the session does with a SYNC or DATA packet."""

    ACCEPT = "accept"  # DATA: a new packet to store; SYNC: go on receiving
    HELD = "held"  # DATA: a packet already stored, re-sent after a SYNC to an earlier one
    REJECT = "reject"  # ask for the packet again (RESUME), counting retries
    RESTART = "restart"  # the stored prefix is not this file's: start over from packet 1


# The answers of the hot path (one per DATA packet), built once.
_ACCEPTED = (Verdict.ACCEPT, "")
_HELD = (Verdict.HELD, "")


@dataclass(slots=True)
class FileTransfer:
    """The packet state of one file (``%photof`` …) on one connection."""

    file: str
    metadata: FileMetadata | None = None
    packets: int = 0
    file_crc: int = 0
    next_packet: int = 1  # the next packet we want to append
    expect: int = 1  # the packet number the next DATA carries (after SYNC)
    chain: int | None = 0  # CRC init for the next DATA; None = unknown (accept init 0)
    whole_crc: int = 0  # CRC of everything appended so far (= chain when unbroken)
    first_after_sync: bool = True
    spliced: bool = False  # continues data received in an earlier connection
    trust_splice: bool = True
    bad_in_row: int = 0

    @property
    def packets_done(self) -> int:
        return self.next_packet - 1

    @property
    def crc_ok(self) -> bool | None:
        """Does the data match the START's file CRC? (None: the device sent none.)"""
        return None if self.file_crc == 0 else self.whole_crc == self.file_crc

    def resume(self, next_packet: int, crc: int, trusted: bool) -> None:
        """Continue after ``next_packet - 1`` stored packets whose chained CRC is ``crc``."""
        if not 1 <= next_packet <= self.packets:
            next_packet, crc = 1, 0
        self.next_packet, self.chain, self.whole_crc = next_packet, crc, crc
        self.spliced = next_packet > 1
        self.trust_splice = trusted

    def restart(self) -> None:
        """Drop what is stored: the file starts over at packet 1."""
        self.next_packet, self.chain, self.whole_crc, self.spliced = 1, 0, 0, False

    def sync(self, offset: int) -> tuple[Verdict, str]:
        """The device will send from packet ``offset`` (0 = from the start)."""
        offset = offset or 1
        if offset > self.next_packet:
            # A gap would corrupt the file: insist on the packet we need.
            return Verdict.REJECT, f"SYNC to packet {offset}, wanted {self.next_packet}"
        verdict = Verdict.ACCEPT
        if offset == 1 and self.next_packet > 1:
            self.restart()
            verdict = Verdict.RESTART
        elif offset != self.next_packet:
            self.chain = None  # re-sent packets we already hold; their chain is unknown
        self.expect = offset
        self.first_after_sync = True
        return verdict, ""

    def data(self, payload: memoryview) -> tuple[Verdict, str]:
        """Check one DATA payload (data + 2-byte CRC); ``ACCEPT`` advances ``next_packet``."""
        n = len(payload) - 2
        data = payload[:n]
        sent_crc = (payload[n] << 8) | payload[n + 1]
        index = self.expect
        if index > self.packets:
            raise DeviceProtocolError(f"DATA packet {index} beyond the {self.packets} announced")
        if index < self.next_packet and self.chain is None:
            # A packet we already hold, re-sent after a SYNC to an earlier one: its chain
            # init is unknown, but its CRC is the chain for the next one.
            self.chain, self.expect, self.first_after_sync = sent_crc, index + 1, False
            return _HELD
        chain_is_whole = self.chain == self.whole_crc
        chained_ok = self.chain is not None and crc16_dualcam(data, self.chain) == sent_crc
        if not chained_ok:
            # Right after a SYNC some implementations start the chain from 0 again.
            if not (self.first_after_sync and crc16_dualcam(data) == sent_crc):
                return Verdict.REJECT, f"bad CRC on packet {index}"
            if self.spliced and not self.trust_splice and index == self.next_packet:
                # Stored prefix of unknown origin and the device does not continue it.
                self.restart()
                return Verdict.RESTART, "resumed packet does not chain"
        if index < self.packets and n != PACKET_DATA_MAX:
            return Verdict.REJECT, f"packet {index} has {n} bytes, not {PACKET_DATA_MAX}"
        self.first_after_sync = False
        self.bad_in_row = 0
        self.chain = sent_crc
        self.expect = index + 1
        if index < self.next_packet:
            return _HELD
        if chained_ok and chain_is_whole:
            self.whole_crc = sent_crc
        else:
            self.whole_crc = crc16_dualcam(data, self.whole_crc)
        self.next_packet = index + 1
        return _ACCEPTED
