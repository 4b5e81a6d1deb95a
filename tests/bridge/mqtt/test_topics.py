"""Topic names and payload builders, checked against the contract's schemas (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import jsonschema
import pytest

from dualcam_bridge.events import (
    CameraStateChanged,
    MediaCompleted,
    Position,
    SosTriggered,
    TransferProgress,
)
from dualcam_bridge.http.links import MediaUrls
from dualcam_bridge.mqtt import topics as t

from . import schemas

IMEI = "356307042441013"
WHEN = datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
POS = Position(54.6872, 25.2797, 112, 90, 42, 11, WHEN)


def load(payload: bytes) -> dict:
    """Decode a JSON payload."""
    return json.loads(payload.decode("utf-8"))


def test_iso_utc_has_z_and_milliseconds() -> None:
    assert t.iso_utc(WHEN) == "2024-05-01T12:00:00.123Z"
    plus3 = timezone(timedelta(hours=3))
    assert t.iso_utc(datetime(2024, 5, 1, 15, 0, tzinfo=plus3)) == "2024-05-01T12:00:00.000Z"
    assert t.iso_utc(datetime(2024, 5, 1, 12, 0)) == "2024-05-01T12:00:00.000Z"  # naive = UTC


def test_topic_names_follow_the_contract() -> None:
    tp = t.Topics("fleet/a")
    assert tp.bridge_status == "fleet/a/bridge/status"
    assert tp.bridge_info == "fleet/a/bridge/info"
    assert tp.availability(IMEI) == f"fleet/a/{IMEI}/availability"
    assert tp.device_info(IMEI) == f"fleet/a/{IMEI}/info"
    assert tp.camera_state(IMEI, "rear") == f"fleet/a/{IMEI}/camera/rear/state"
    assert tp.photo(IMEI, "front") == f"fleet/a/{IMEI}/camera/front/photo"
    assert tp.video(IMEI, "front") == f"fleet/a/{IMEI}/camera/front/video"
    assert tp.media(IMEI) == f"fleet/a/{IMEI}/media"
    assert tp.transfer(IMEI) == f"fleet/a/{IMEI}/transfer"
    assert tp.sos(IMEI) == f"fleet/a/{IMEI}/sos"
    assert tp.position(IMEI) == f"fleet/a/{IMEI}/position"
    assert tp.command(IMEI) == f"fleet/a/{IMEI}/command"
    assert tp.command_result(IMEI) == f"fleet/a/{IMEI}/command/result"
    assert tp.command_filter == "fleet/a/+/command"
    for topic in (tp.media(IMEI), tp.command_result(IMEI), tp.photo(IMEI, "rear")):
        assert schemas.rule_for(topic, "fleet/a") is not None


@pytest.mark.parametrize(
    ("topic", "target"),
    [
        (f"dualcam/{IMEI}/command", IMEI),
        ("dualcam/bridge/command", "bridge"),
        (f"dualcam/{IMEI}/command/result", None),
        (f"other/{IMEI}/command", None),
        (f"dualcamx/{IMEI}/command", None),
    ],
)
def test_command_target(topic: str, target: str | None) -> None:
    assert t.Topics().command_target(topic) == target


def test_payloads_match_the_schemas(tmp_path: Path) -> None:
    video = MediaCompleted(
        id="abc",
        imei=IMEI,
        camera="rear",
        kind="video",
        path=tmp_path / "v.h265",
        size=10,
        sha256="0" * 64,
        received_at=WHEN,
        duration_s=10,
        trigger="crash",
        mp4_path=tmp_path / "v.mp4",
    )
    urls = MediaUrls(url="http://bridge.local:5080/media/abc/file?exp=1&sig=" + "a" * 64)
    media = load(t.media_payload(video, urls))
    jsonschema.validate(media, schemas.MEDIA)
    assert media["mime"] == "video/mp4" and media["path"].endswith("v.mp4")
    assert media["url"] == urls.url and media["variant"] == "original"
    assert media["browser_url"] is None and media["captured_at"] is None

    checks = [
        (t.bridge_info_payload("1.0", WHEN, 5028, 5027, [IMEI]), schemas.BRIDGE_INFO),
        (t.device_info_payload(IMEI, None, WHEN, WHEN, 8), schemas.DEVICE_INFO),
        (t.camera_state_payload(CameraStateChanged(IMEI, "front", 2, WHEN)), schemas.CAMERA_STATE),
        (t.position_payload(POS), schemas.POSITION),
        (t.sos_payload(SosTriggered(IMEI, 3, WHEN, POS)), schemas.SOS),
        (t.sos_payload(SosTriggered(IMEI, 0, WHEN)), schemas.SOS),
        (
            t.transfer_payload(
                TransferProgress(IMEI, "%videor", "rear", "video", 5, 90, 1234.567, "resumed")
            ),
            schemas.TRANSFER,
        ),
    ]
    for payload, schema in checks:
        jsonschema.validate(load(payload), schema)
    assert load(t.sos_payload(SosTriggered(IMEI, 3, WHEN)))["trigger"] == "crash"
    assert load(t.camera_state_payload(CameraStateChanged(IMEI, "front", 2, WHEN)))["state"] == (
        "card_mount_failed"
    )
    assert t.availability_payload(True) == b"online"
    assert t.availability_payload(False) == b"offline"


def test_payloads_are_compact_utf8_json() -> None:
    payload = t.device_info_payload(IMEI, "Vilkikas Šiauliai", WHEN, WHEN, None)
    assert "Šiauliai".encode() in payload
    assert b", " not in payload and b": " not in payload
