"""The media index is the source of truth for announcements: nothing stored goes unannounced.

A real camera upload is committed while the MQTT outbox refuses writes (read-only: SQLite's
``query_only``, the same SQLITE_READONLY a read-only filesystem gives); once the outbox is
writable again, through a bridge restart or in the same process, the media event reaches a
real subscriber exactly once. The same holds for a clip's second media event, the browser
variant's (after its original), and for a browser MP4 made only at a later start.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections import Counter

import pytest

from dualcam_bridge.events import MediaVariantReady
from dualcam_bridge.simulator.camera import SimulatedCamera, make_captures

from ..avl_fixtures import RawTracker
from ..conftest import no_tracebacks
from ..test_sos_clips import sos_record
from .contract import decode

PREFIX = "dualcam"
IMEI = "352094082736916"


def read_only(b, on: bool) -> None:
    # The publisher's own connection: what a full or read-only filesystem would refuse.
    conn = b.bridge.mqtt._conn
    assert conn is not None
    conn.execute(f"PRAGMA query_only = {'ON' if on else 'OFF'}")


def unannounced(b) -> list[str]:
    with sqlite3.connect(b.data_dir / "index.sqlite3") as db:
        return [r[0] for r in db.execute("SELECT id FROM media WHERE announced = 0")]


def media_ids(sub) -> Counter[str]:
    return Counter(decode(m)["id"] for m in sub.messages if m.topic.endswith("/media"))


async def upload(b, photos: int, seed: int) -> None:
    files = make_captures(IMEI, photos, 0)[seed:]
    result = await SimulatedCamera("127.0.0.1", b.port, IMEI, files, seed=seed).run()
    assert len(result.delivered) == len(files)


async def test_an_event_the_outbox_refused_is_announced_once_later(
    mosquitto, start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-announce"}
    async with mosquitto.collector(f"{PREFIX}/#") as sub:
        async with start_bridge(mqtt=mqtt) as b:
            await b.bridge.mqtt.wait_connected(10)
            read_only(b, True)
            await upload(b, 1, 0)
            assert len(b.bridge.store.index.all()) == 1
            (first,) = unannounced(b)
            warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
            assert len(warnings) == 1 and "cannot be written" in warnings[0].getMessage()
            assert "mqtt.sqlite3" in warnings[0].getMessage()
        # Restart: the outbox is writable again and the index says what never went out.
        async with start_bridge(mqtt=mqtt) as b:
            await sub.wait_for(lambda ms: first in media_ids(sub), what="the delayed event")
            await b.bridge.mqtt.flush(10)
            # Same process: refused at commit, taken by the retry once writable.
            read_only(b, True)
            await upload(b, 2, 1)
            (second,) = unannounced(b)
            read_only(b, False)
            await sub.wait_for(lambda ms: second in media_ids(sub), what="the second event")
            await b.bridge.mqtt.flush(10)
            await b.bridge.announcements.run_once()
            assert unannounced(b) == []
        async with start_bridge(mqtt=mqtt) as b:  # nothing is announced twice after restart
            await b.bridge.mqtt.wait_connected(10)
            await b.bridge.announcements.run_once()
            await b.bridge.mqtt.flush(10)
    assert media_ids(sub) == Counter({first: 1, second: 1})
    no_tracebacks(caplog)
    assert "MQTT outbox is writable again" in caplog.text


async def test_an_sos_the_outbox_refused_is_not_acked_and_comes_again(
    mosquitto, start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    """Nothing re-announces an SOS: its record stays un-ACKed until the outbox takes it."""
    caplog.set_level(logging.INFO)
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-sos-delay"}
    record = sos_record(0)
    async with mosquitto.collector(f"{PREFIX}/+/sos") as sub, start_bridge(mqtt=mqtt) as b:
        await b.bridge.mqtt.wait_connected(10)
        port = b.bridge.avl.port
        assert port is not None
        read_only(b, True)
        tracker = await RawTracker.connect(port, IMEI)
        with pytest.raises(ConnectionError):
            await tracker.send([record])  # dropped without an ACK
        tracker.close()
        assert not sub.messages
        read_only(b, False)
        tracker = await RawTracker.connect(port, IMEI)
        await tracker.send([record])  # the tracker's resend: now ACKed
        tracker.close()
        await sub.wait_for(lambda ms: len(ms) >= 1, what="the delayed SOS")
        await b.bridge.mqtt.flush(10)
    sos = [decode(m) for m in sub.messages]
    assert len(sos) == 1 and sos[0]["trigger"] == "crash"
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be written" in warnings[0].getMessage()
    no_tracebacks(caplog)


# -- the browser variant's event (the second media event of a clip) ------------------------


def variant_events(sub) -> Counter[tuple[str, str]]:
    return Counter(
        (decode(m)["id"], decode(m)["variant"]) for m in sub.messages if m.topic.endswith("/media")
    )


def flags(b, media_id: str) -> tuple[int, int]:
    with sqlite3.connect(b.data_dir / "index.sqlite3") as db:
        row = db.execute(
            "SELECT announced, browser_announced FROM media WHERE id = ?", (media_id,)
        ).fetchone()
    return row


async def upload_clip(b, seed: int) -> None:
    files = make_captures(IMEI, 0, seed + 1)[seed:]
    result = await SimulatedCamera("127.0.0.1", b.port, IMEI, files, seed=seed).run()
    assert len(result.delivered) == 1


async def browser_ready(b, timeout: float = 60) -> MediaVariantReady:
    async with asyncio.timeout(timeout):
        while not (ready := [e for e in b.events if isinstance(e, MediaVariantReady)]):
            b.changed.clear()
            await b.changed.wait()
    return ready[0]


async def test_a_browser_event_the_outbox_refused_is_announced_once_after_its_original(
    mosquitto, start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-browser-announce"}
    async with mosquitto.collector(f"{PREFIX}/#") as sub:
        async with start_bridge(mqtt=mqtt) as b:
            await b.bridge.mqtt.wait_connected(10)
            read_only(b, True)
            await upload_clip(b, 0)
            ready = await browser_ready(b)  # made, and refused by the outbox
            clip = ready.media.id
            assert flags(b, clip) == (0, 0)
            read_only(b, False)
            # The original goes out first, then the browser event (from the index).
            await sub.wait_for(
                lambda ms: (clip, "browser") in variant_events(sub), what="the browser event"
            )
            await b.bridge.mqtt.flush(10)
            await b.bridge.announcements.run_once()
            assert flags(b, clip) == (1, 1)
        async with start_bridge(mqtt=mqtt) as b:  # nothing is announced twice after restart
            await b.bridge.mqtt.wait_connected(10)
            await b.bridge.announcements.run_once()
            await b.bridge.derivatives.wait_idle()
            await b.bridge.mqtt.flush(10)
    assert variant_events(sub) == Counter({(clip, "original"): 1, (clip, "browser"): 1})
    order = [key for key in variant_events(sub)]  # Counter keeps the order of arrival
    assert order == [(clip, "original"), (clip, "browser")]
    browser = [decode(m) for m in sub.messages if m.topic.endswith("/media")][-1]
    assert browser["variant"] == "browser" and browser["duration_s"] == 2.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and "cannot be written" in warnings[0].getMessage()
    no_tracebacks(caplog)


async def test_a_clip_without_its_browser_mp4_gets_it_at_start_announced_once(
    mosquitto, start_bridge, caplog: pytest.LogCaptureFixture
) -> None:
    """Made with ``browser_mp4: never`` (or cut short by a crash): the next start makes it
    from the index and announces it once; later starts do neither again."""
    mqtt = {"host": "127.0.0.1", "port": mosquitto.port, "client_id": "bridge-browser-start"}
    async with mosquitto.collector(f"{PREFIX}/#") as sub:
        async with start_bridge(mqtt=mqtt, media={"browser_mp4": "never"}) as b:
            await b.bridge.mqtt.wait_connected(10)
            await upload_clip(b, 0)
            await b.wait_for_media(1)
            (clip,) = [m.id for m in b.media]
            await b.bridge.derivatives.wait_idle()
            await b.bridge.mqtt.flush(10)
            assert b.bridge.store.index.get(clip).browser_path is None
        async with start_bridge(mqtt=mqtt) as b:
            ready = await browser_ready(b)
            assert ready.media.id == clip and ready.media.browser_path.exists()
            await sub.wait_for(
                lambda ms: (clip, "browser") in variant_events(sub), what="the browser event"
            )
            await b.bridge.mqtt.flush(10)
            await b.bridge.announcements.run_once()
            assert flags(b, clip) == (1, 1)
        async with start_bridge(mqtt=mqtt) as b:
            await b.bridge.mqtt.wait_connected(10)
            await b.bridge.announcements.run_once()
            await b.bridge.derivatives.wait_idle()
            await b.bridge.mqtt.flush(10)
            assert not any(isinstance(e, MediaVariantReady) for e in b.events)
    assert variant_events(sub) == Counter({(clip, "original"): 1, (clip, "browser"): 1})
    no_tracebacks(caplog)
