"""Simulated devices for the demo, tests and benchmarks: a DualCam, a tracker and a fleet.

They speak the real protocols over real sockets (with injectable faults: dropped links, bad
CRCs, slow peers) and upload real sample JPEG/H.265 files, so everything downstream runs as
it would with hardware.
"""
