"""The two exceptions of the sans-IO cores, after h11's remote/local split.

``DeviceProtocolError`` is the peer's fault (h11's RemoteProtocolError): the device sent
bytes the protocol does not allow. ``LocalProtocolError`` is ours: the application called a
method the core's state does not allow (``ack()`` with nothing to ACK, ``resume()`` while no
file is offered, data fed after end-of-stream) or asked to encode something the protocol
cannot carry (a non-ASCII command, an IO value wider than 8 bytes). The first is expected
and logged; the second is a bug in the caller.
"""

from __future__ import annotations


class DeviceProtocolError(Exception):
    """A device sent something the protocol does not allow.

    ``reason`` is a short human sentence for the log; the server adds the device's IMEI and
    address. Codecs raise only this for bad input, never IndexError/struct.error.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class LocalProtocolError(Exception):
    """The application used a core or an encoder in a way the protocol does not allow."""
