"""Sans-IO cores of the two device protocols: bytes in, events out; no sockets, no clock.

A leaf package: it imports nothing else from ``dualcam_bridge``. The DualCam file transfer
(``filetransfer.CameraSession``) and the AVL tracker link (``avl_connection``) share one
convention, h11's: ``receive_data(data)`` returns events and ``receive_data(b"")`` reports the
peer's end-of-stream; ``next_events()`` resumes parsing after the app made a decision; every
reply goes to ``data_to_send()``; the peer's bad input raises ``DeviceProtocolError`` and the
app's misuse ``LocalProtocolError`` (``errors.py``).
"""
