"""The one exception type the sans-IO codecs raise for bad device input."""

from __future__ import annotations


class DeviceProtocolError(Exception):
    """A device sent something the protocol does not allow.

    ``reason`` is a short human sentence for the log; the server adds the device's IMEI and
    address. Codecs raise only this for bad input, never IndexError/struct.error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
