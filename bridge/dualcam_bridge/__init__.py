"""Teltonika DualCam bridge: camera file transfer, AVL, media store and MQTT."""

__version__ = "0.1.0"
