"""Default data feed for scripts/ha-screenshots: what a bridge with two vehicles publishes.

Publishes the contract's retained state (bridge status and info, per vehicle: info,
availability, front/rear camera state, the latest photo as raw JPEG bytes, position), then
waits for Home Assistant to be set up (the file in DUALCAM_READY_FILE appears) and publishes
what is not retained and would be lost before that: a new front photo per vehicle (transfer
progress, photo, media event) and one SOS.

Runs with the bridge's venv (paho-mqtt): `.venv/bin/python scripts/ha_screenshots/feed.py`.
Reads DUALCAM_MQTT_HOST, DUALCAM_MQTT_PORT, DUALCAM_TOPIC_PREFIX and DUALCAM_READY_FILE,
which scripts/ha-screenshots sets for every feed command.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt

from dualcam_bridge.contract import CAMERA_STATE_NAMES, SOS_TRIGGER_NAMES

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "bridge" / "dualcam_bridge" / "simulator" / "samples"

# Two vehicles around Vilnius; the first one parked in the "Depot" zone of the HA config.
VEHICLES = (
    {
        "imei": "352094087654321",
        "name": "Van 1",
        "online": True,
        "camera_states": {"front": 4, "rear": 1},
        "position": {
            "latitude": 54.6961,
            "longitude": 25.2761,
            "altitude": 118,
            "angle": 90,
            "speed": 0,
            "satellites": 14,
        },
        "sos": 3,  # crash
    },
    {
        "imei": "352094081234567",
        "name": "Van 2",
        "online": True,
        "camera_states": {"front": 2, "rear": 0},
        "position": {
            "latitude": 54.7205,
            "longitude": 25.1630,
            "altitude": 142,
            "angle": 284,
            "speed": 62,
            "satellites": 11,
        },
        "sos": None,
    },
)


def iso(moment: datetime) -> str:
    """ISO 8601 UTC with `Z`, as the contract writes timestamps."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Publisher:
    """A connected client whose publishes are all confirmed before the script goes on."""

    def __init__(self, host: str, port: int, prefix: str) -> None:
        """Connect; the bridge's Last Will marks it offline if this script dies."""
        self.prefix = prefix
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="dualcam-feed")
        self.client.will_set(f"{prefix}/bridge/status", "offline", qos=1, retain=True)
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes | str | dict, retain: bool = True) -> None:
        """Publish one message (dicts as JSON) at QoS 1 and wait for the broker's ack."""
        if isinstance(payload, dict):
            payload = json.dumps(payload)
        info = self.client.publish(f"{self.prefix}/{topic}", payload, qos=1, retain=retain)
        info.wait_for_publish(timeout=10)

    def close(self) -> None:
        """Disconnect cleanly (the will is not sent)."""
        self.client.disconnect()
        self.client.loop_stop()


def publish_state(pub: Publisher, samples: Path, now: datetime) -> None:
    """Everything a running bridge keeps retained."""
    photos = {cam: (samples / f"{cam}.jpg").read_bytes() for cam in ("front", "rear")}
    started = now - timedelta(hours=3)
    pub.publish("bridge/status", "online")
    pub.publish(
        "bridge/info",
        {
            "version": "0.1.0",
            "started_at": iso(started),
            "camera_port": 5005,
            "avl_port": 5027,
            "devices": [v["imei"] for v in VEHICLES],
        },
    )
    for n, v in enumerate(VEHICLES):
        imei = v["imei"]
        pub.publish(
            f"{imei}/info",
            {
                "imei": imei,
                "name": v["name"],
                "first_seen": iso(started - timedelta(days=12 + n)),
                "last_seen": iso(now - timedelta(seconds=5)),
                "protocol_id": 8,
            },
        )
        pub.publish(f"{imei}/availability", "online" if v["online"] else "offline")
        for cam, value in v["camera_states"].items():
            pub.publish(
                f"{imei}/camera/{cam}/state",
                {
                    "value": value,
                    "state": CAMERA_STATE_NAMES[value],
                    "timestamp": iso(now - timedelta(minutes=40)),
                },
            )
        for cam, jpeg in photos.items():
            pub.publish(f"{imei}/camera/{cam}/photo", jpeg)
        pub.publish(f"{imei}/position", {**v["position"], "timestamp": iso(now)})


def publish_photo(pub: Publisher, imei: str, cam: str, jpeg: bytes, now: datetime) -> None:
    """A photo as the bridge reports a completed upload: progress, bytes, media event."""
    file = f"%photo{cam[0]}"
    packets = (len(jpeg) + 1023) // 1024
    pub.publish(
        f"{imei}/transfer",
        {
            "file": file,
            "camera": cam,
            "kind": "photo",
            "packets_done": packets,
            "packets_total": packets,
            "bytes_per_s": 9800,
            "state": "done",
        },
        retain=False,
    )
    pub.publish(f"{imei}/camera/{cam}/photo", jpeg)
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    pub.publish(
        f"{imei}/media",
        {
            "id": f"{imei}-{cam}-photo-{stamp}",
            "imei": imei,
            "camera": cam,
            "kind": "photo",
            "mime": "image/jpeg",
            "size": len(jpeg),
            "sha256": hashlib.sha256(jpeg).hexdigest(),
            "received_at": iso(now),
            "path": f"/var/lib/dualcam/media/{imei}/{now:%Y-%m-%d}/{cam}-{stamp}.jpg",
            "url": None,
            "duration_s": None,
            "trigger": None,
        },
        retain=False,
    )


def publish_events(pub: Publisher, samples: Path, now: datetime) -> None:
    """What is not retained: a new front photo of every vehicle, an SOS where there is one."""
    jpeg = (samples / "front.jpg").read_bytes()
    for v in VEHICLES:
        publish_photo(pub, v["imei"], "front", jpeg, now)
    for v in VEHICLES:
        if v["sos"] is None:
            continue
        pub.publish(
            f"{v['imei']}/sos",
            {
                "value": v["sos"],
                "trigger": SOS_TRIGGER_NAMES[v["sos"]],
                "timestamp": iso(now),
                "position": {**v["position"], "timestamp": iso(now)},
            },
            retain=False,
        )


def wait_for_file(path: str | None, timeout: float) -> bool:
    """True once path exists (at once when no path is given), False after timeout."""
    if not path:
        return True
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def main() -> int:
    """Publish the retained state, wait until Home Assistant is ready, publish the events."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--host", default=os.environ.get("DUALCAM_MQTT_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DUALCAM_MQTT_PORT", 1883)))
    parser.add_argument("--prefix", default=os.environ.get("DUALCAM_TOPIC_PREFIX", "dualcam"))
    parser.add_argument("--samples", type=Path, default=SAMPLES, help="front.jpg and rear.jpg")
    parser.add_argument(
        "--ready-file",
        default=os.environ.get("DUALCAM_READY_FILE"),
        help="publish the events once this file exists (default: $DUALCAM_READY_FILE)",
    )
    parser.add_argument("--ready-timeout", type=float, default=300)
    args = parser.parse_args()

    pub = Publisher(args.host, args.port, args.prefix)
    try:
        publish_state(pub, args.samples, datetime.now(UTC))
        print(f"feed: retained state of {len(VEHICLES)} vehicles published", flush=True)
        if not wait_for_file(args.ready_file, args.ready_timeout):
            print(f"feed: {args.ready_file} did not appear, no events sent", file=sys.stderr)
            return 1
        publish_events(pub, args.samples, datetime.now(UTC))
        print("feed: new photos and SOS published", flush=True)
    finally:
        pub.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
