"""``GET /metrics``: Prometheus text that moves when files arrive; a registry per bridge."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from dualcam_bridge.simulator.camera import Faults, SimulatedCamera, make_captures

from ..conftest import RunningBridge
from ..mqtt.helpers import wait_until
from .conftest import IMEI, base_url, upload

TOKEN = "a-token-of-at-least-16-characters"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: aiohttp.ClientSession, b: RunningBridge, **headers: str) -> Samples:
    async with client.get(base_url(b) + "/metrics", headers=headers) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain; version=")
        text = await resp.text()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def test_metrics_move_when_files_arrive(
    start_bridge, client: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "dualcam_bridge.camera")
    async with start_bridge(media={"min_free_mb": 1}) as b:
        before = await scrape(client, b)
        for kind in ("photo", "video"):
            for camera in ("front", "rear"):
                assert value(before, "dualcam_files_received_total", kind=kind, camera=camera) == 0
        for name in ("dualcam_bytes_received_total", "dualcam_crc_errors_total"):
            assert value(before, name) == 0
        assert value(before, "dualcam_transfer_resumes_total") == 0
        assert value(before, "dualcam_camera_connections") == 0
        assert value(before, "dualcam_disk_full") == 0

        # Damaged packets and link drops: CRC errors and resumes are counted.
        faults = Faults(corrupt_rate=0.05, disconnect_after_packets=60, reconnect_delay=0.01)
        stored = await upload(b, photos=1, videos=1, faults=faults)
        await b.wait_idle()
        after = await scrape(client, b)
        assert value(after, "dualcam_files_received_total", kind="photo", camera="front") == 1
        assert value(after, "dualcam_files_received_total", kind="video", camera="front") == 1
        assert value(after, "dualcam_files_received_total", kind="video", camera="rear") == 0
        assert value(after, "dualcam_bytes_received_total") == sum(m.size for m in stored)
        logs = [r.getMessage() for r in caplog.records]
        crc_lines = sum("rejected (bad CRC" in line for line in logs)
        resume_lines = sum(": resuming " in line for line in logs)
        assert crc_lines > 0 and resume_lines > 0
        assert value(after, "dualcam_crc_errors_total") == crc_lines
        assert value(after, "dualcam_transfer_resumes_total") == resume_lines
        commit = value(after, "dualcam_media_processing_seconds_count", step="commit")
        remux = value(after, "dualcam_media_processing_seconds_count", step="remux")
        assert (commit, remux) == (2, 1)
        assert value(after, "dualcam_media_processing_seconds_sum", step="remux") > 0
        assert value(after, "dualcam_transfers_active") == 0

        # The media workers report their steps through the same hook.
        b.bridge.metrics.observe_processing("browser", 12.5)
        later = await scrape(client, b)
        assert value(later, "dualcam_media_processing_seconds_sum", step="browser") == 12.5
        bucket = "dualcam_media_processing_seconds_bucket"
        assert value(later, bucket, step="browser", le="10.0") == 0
        assert value(later, bucket, step="browser", le="30.0") == 1


async def test_live_gauges(start_bridge, client: aiohttp.ClientSession) -> None:
    async with start_bridge(media={"min_free_mb": 1}) as b:
        # A slow transfer in flight, a tracker connected.
        files = make_captures(IMEI, photos=0, videos=1)
        cam = SimulatedCamera("127.0.0.1", b.port, IMEI, files, Faults(throttle=100_000))
        task = asyncio.create_task(cam.run())
        avl_port = b.bridge.avl.port
        assert avl_port is not None
        _, tracker = await asyncio.open_connection("127.0.0.1", avl_port)
        try:
            await wait_until(lambda: b.bridge.camera.transfers_active == 1, what="a transfer")
            await wait_until(lambda: len(b.bridge.avl.server.connections) == 1, what="a tracker")
            now = await scrape(client, b)
            assert value(now, "dualcam_transfers_active") == 1
            assert value(now, "dualcam_camera_connections") == 1
            assert value(now, "dualcam_tracker_connections") == 1
            assert value(now, "dualcam_mqtt_outbox_pending") == 0  # MQTT is off here
            assert value(now, "dualcam_disk_free_bytes") > 1024 * 1024
            b.bridge.disk.min_free_mb = 1e12
            await b.bridge.disk.check()
            assert value(await scrape(client, b), "dualcam_disk_full") == 1
        finally:
            tracker.close()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def test_each_bridge_has_its_own_registry(
    start_bridge, client: aiohttp.ClientSession, tmp_path
) -> None:
    async with (
        start_bridge(media={"min_free_mb": 1}) as one,
        start_bridge(data_dir=str(tmp_path / "other"), media={"min_free_mb": 1}) as two,
    ):
        await upload(one, photos=1, videos=0)
        first, second = await scrape(client, one), await scrape(client, two)
        assert value(first, "dualcam_files_received_total", kind="photo", camera="front") == 1
        assert value(second, "dualcam_files_received_total", kind="photo", camera="front") == 0
        assert value(second, "dualcam_bytes_received_total") == 0


async def test_metrics_need_the_token_when_one_is_set(
    start_bridge, client: aiohttp.ClientSession
) -> None:
    async with start_bridge(http={"token": TOKEN}) as b:
        url = base_url(b) + "/metrics"
        async with client.get(url) as resp:
            assert resp.status == 401 and resp.headers["WWW-Authenticate"] == "Bearer"
        wrong = {"Authorization": "Bearer wrong-token-wrong-token"}
        async with client.get(url, headers=wrong) as resp:
            assert resp.status == 403
        samples = await scrape(client, b, Authorization=f"Bearer {TOKEN}")
        assert value(samples, "dualcam_disk_full") in (0, 1)
