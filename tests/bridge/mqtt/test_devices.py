"""The device table behind ``P/<imei>/info`` and ``P/bridge/info``: what changes it, and when."""

from __future__ import annotations

from pathlib import Path

from dualcam_bridge.events import SosClipLinked
from dualcam_bridge.mqtt.devices import SeenDevices
from dualcam_bridge.mqtt.outbox import open_db

from .helpers import IMEIS, Fleet


def test_first_event_of_any_kind_makes_a_device_known(tmp_path: Path, fleet: Fleet) -> None:
    devices = SeenDevices(open_db(tmp_path / "mqtt.sqlite3"))
    photo = fleet.photo(IMEIS[0])
    update = devices.track(photo)
    assert update is not None and update.new and not update.renamed
    record = update.record
    assert (record.imei, record.name, record.protocol_id) == (IMEIS[0], None, None)
    assert record.first_seen == record.last_seen == photo.received_at
    for event in (fleet.position(IMEIS[0]), fleet.sos(IMEIS[0]), fleet.photo(IMEIS[0])):
        assert devices.track(event) is None, "a known device: nothing to publish"
    assert devices.imeis == [IMEIS[0]]


def test_device_seen_always_updates_and_says_when_renamed(tmp_path: Path, fleet: Fleet) -> None:
    devices = SeenDevices(open_db(tmp_path / "mqtt.sqlite3"))
    first = devices.track(fleet.seen(IMEIS[1], name="Truck 7"))
    assert first is not None and first.new and not first.renamed
    again = devices.track(fleet.seen(IMEIS[1], name="Truck 7"))
    assert again is not None and not again.new and not again.renamed
    assert again.record.last_seen > first.record.last_seen
    assert again.record.first_seen == first.record.first_seen
    # The camera does not know the name: the tracker's stays.
    camera = devices.track(fleet.seen(IMEIS[1], name=None, protocol_id=None))
    assert camera is not None and camera.record.name == "Truck 7" and not camera.renamed
    assert camera.record.protocol_id == 8
    renamed = devices.track(fleet.seen(IMEIS[1], name="Truck 8"))
    assert renamed is not None and renamed.renamed and renamed.record.name == "Truck 8"


def test_events_without_a_time_do_not_make_a_device_known(tmp_path: Path) -> None:
    devices = SeenDevices(open_db(tmp_path / "mqtt.sqlite3"))
    link = SosClipLinked(IMEIS[2], "sos-1", "m1", "front", tmp_path / "x.h265", "din1")
    assert devices.track(link) is None
    assert devices.imeis == []


def test_the_table_survives_a_restart(tmp_path: Path, fleet: Fleet) -> None:
    path = tmp_path / "mqtt.sqlite3"
    devices = SeenDevices(open_db(path))
    devices.track(fleet.seen(IMEIS[0], name="Van"))
    devices.track(fleet.photo(IMEIS[1]))
    reopened = SeenDevices(open_db(path))
    assert reopened.imeis == sorted(IMEIS[:2])
    assert reopened.track(fleet.photo(IMEIS[1])) is None, "still known after the restart"
    update = reopened.track(fleet.seen(IMEIS[0], name=None))
    assert update is not None and not update.new and update.record.name == "Van"
