"""``GET /metrics``: Prometheus text format, one ``CollectorRegistry`` per bridge.

Two kinds of figures: counters fed where things happen (files and bytes stored, from the event
bus; processing times, from the store and the media workers through ``observe_processing``),
and live values read at each scrape from the parts that hold them (connections, transfers in
flight, resumes and CRC errors counted by the camera server, the MQTT outbox, the disk state).
A registry per bridge, never the global one, so several bridges can run in one process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import get_args

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from ..contract import Camera, MediaKind
from ..events import MediaCompleted
from .parts import BridgeParts

# Seconds: a photo commits in milliseconds, an H.264 variant of a clip takes tens of seconds.
PROCESSING_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
_MB = 1024 * 1024


class Metrics:
    """The bridge's metrics; ``render()`` is the ``/metrics`` body."""

    def __init__(self, parts: BridgeParts | None = None) -> None:
        self.registry = CollectorRegistry()
        self.files_received = Counter(
            "dualcam_files_received",
            "Files stored (photos and clips), by kind and camera",
            ("kind", "camera"),
            registry=self.registry,
        )
        self.bytes_received = Counter(
            "dualcam_bytes_received",
            "Bytes of the files stored (as the cameras sent them)",
            registry=self.registry,
        )
        self.processing = Histogram(
            "dualcam_media_processing_seconds",
            "Time of each processing step of a stored file (commit, remux, probe, poster, "
            "thumbnail, browser)",
            ("step",),
            buckets=PROCESSING_BUCKETS,
            registry=self.registry,
        )
        # Every series from the start, so rate() has a zero to begin with.
        for kind in get_args(MediaKind):
            for camera in get_args(Camera):
                self.files_received.labels(kind, camera)
        if parts is not None:
            self.registry.register(_LiveValues(parts))

    async def on_media(self, event: MediaCompleted) -> None:
        """A bus subscriber: a file was stored."""
        self.files_received.labels(event.kind, event.camera).inc()
        self.bytes_received.inc(event.size)

    def observe_processing(self, step: str, seconds: float) -> None:
        """How long one step took (the store's commit and remux, the media workers' jobs)."""
        self.processing.labels(step).observe(max(seconds, 0.0))

    def render(self) -> bytes:
        """The text exposition of every metric."""
        return generate_latest(self.registry)


class _LiveValues(Collector):
    """Values read from the running bridge at each scrape."""

    def __init__(self, parts: BridgeParts) -> None:
        self.parts = parts

    def collect(self) -> Iterator[Metric]:
        bridge = self.parts
        camera = bridge.camera
        active = camera.transfers_active
        yield _gauge("dualcam_transfers_active", "Files being received now", active)
        yield CounterMetricFamily(
            "dualcam_transfer_resumes",
            "Transfers a camera continued beyond packet 1 after a broken link",
            value=camera.resumes,
        )
        yield CounterMetricFamily(
            "dualcam_crc_errors",
            "Packets (or whole files) whose CRC did not match",
            value=camera.crc_errors,
        )
        cameras = len(camera.connections)
        yield _gauge("dualcam_camera_connections", "Open camera connections", cameras)
        avl = bridge.avl.server
        trackers = len(avl.connections) if bridge.config.avl.enabled else 0
        yield _gauge("dualcam_tracker_connections", "Open tracker (AVL) connections", trackers)
        mqtt = bridge.mqtt
        pending = mqtt.pending if mqtt is not None else 0
        yield _gauge("dualcam_mqtt_outbox_pending", "MQTT messages awaiting the broker", pending)
        if mqtt is not None:
            yield _gauge(
                "dualcam_mqtt_connected", "1 while the MQTT link is up", int(mqtt.connected)
            )
        disk = bridge.disk
        yield _gauge(
            "dualcam_disk_full",
            "1 while data_dir is below media.min_free_mb (new transfers wait)",
            int(disk.full),
        )
        if disk.free_mb is not None:
            yield _gauge(
                "dualcam_disk_free_bytes", "Free space of data_dir", int(disk.free_mb * _MB)
            )


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)
